"""``[refine] method = "lm"``: gafit.refine.levenberg_marquardt (geodesic acceleration, delayed
gratification) on small sloppy problems with known minima, its bounds, its determinism, its budget
and its deadline, next to scipy's "trf" on the same problems."""

from __future__ import annotations

import time

import numpy as np
import pytest

from gafit.refine import METHODS, refine

T_I = np.linspace(0.0, 5.0, 40)


def two_exponentials(theta_b: np.ndarray) -> np.ndarray:
    """Residuals (B, 40) of exp(-a t) + exp(-b t) against the data of (a, b) = (1, 1.5): the
    classic sloppy model (its two rates trade off along a long narrow valley)."""
    a, b = theta_b[:, :1], theta_b[:, 1:]
    return np.exp(-a * T_I) + np.exp(-b * T_I) - (np.exp(-T_I) + np.exp(-1.5 * T_I))


def rosenbrock(x_b: np.ndarray) -> np.ndarray:
    """Rosenbrock's banana valley as two residuals per vector: minimum 0 at (1, 1)."""
    return np.stack([10.0 * (x_b[:, 1] - x_b[:, 0] ** 2), 1.0 - x_b[:, 0]], axis=1)


def rosenbrock_jacobian(x: np.ndarray) -> np.ndarray:
    return np.array([[-20.0 * x[0], 10.0], [-1.0, 0.0]])


def test_lm_reaches_the_minimum_of_a_sloppy_model() -> None:
    lower, upper = np.array([0.01, 0.01]), np.array([10.0, 10.0])
    res = refine(two_exponentials, np.array([0.3, 4.0]), lower, upper, 400, method="lm")
    assert res.loss < 1e-18
    assert np.allclose(np.sort(res.x), [1.0, 1.5], atol=1e-6)


@pytest.mark.parametrize("method", METHODS)
def test_the_banana_valley_with_an_analytic_jacobian(method: str) -> None:
    lower, upper = np.array([-5.0, -5.0]), np.array([5.0, 5.0])
    res = refine(rosenbrock, np.array([-1.2, 1.0]), lower, upper, 500,
                 analytic=rosenbrock_jacobian, method=method)
    assert np.allclose(res.x, [1.0, 1.0], atol=1e-6)
    assert res.analytic_jacobians > 0


def test_lm_stays_in_the_bounds_and_ends_on_the_active_one() -> None:
    """With x0 <= 0.5 the constrained minimum is (0.5, 0.25), loss 0.25: x0 sits on its bound
    there while x1 stays free; no residual vector is asked for outside the box."""
    lower, upper = np.array([-2.0, -2.0]), np.array([0.5, 2.0])
    asked: list[np.ndarray] = []

    def residuals(x_b: np.ndarray) -> np.ndarray:
        asked.append(x_b.copy())
        return rosenbrock(x_b)

    res = refine(residuals, np.array([-1.2, 1.0]), lower, upper, 500,
                 analytic=rosenbrock_jacobian, method="lm")
    every = np.vstack(asked)
    assert np.all(every >= lower) and np.all(every <= upper)
    assert res.x[0] == 0.5
    assert res.x[1] == pytest.approx(0.25, abs=1e-8)
    assert res.loss == pytest.approx(0.25, rel=1e-12)


def test_lm_is_deterministic_and_keeps_to_its_budget() -> None:
    lower, upper = np.array([0.01, 0.01]), np.array([10.0, 10.0])
    runs = [refine(two_exponentials, np.array([0.3, 4.0]), lower, upper, 30, method="lm")
            for _ in range(2)]
    assert np.array_equal(runs[0].x, runs[1].x)
    assert runs[0].evaluations == runs[1].evaluations
    # a forward-difference Jacobian costs n + 1 = 3 evaluations: the budget counts it so
    assert 30 - 3 <= runs[0].evaluations <= 30 + 2  # a Jacobian begun within the budget ends
    assert runs[0].message == "evaluation budget spent"


def test_lm_reports_progress_and_stops_at_the_deadline() -> None:
    lower, upper = np.array([0.01, 0.01]), np.array([10.0, 10.0])
    seen: list[tuple[int, float]] = []
    res = refine(two_exponentials, np.array([0.3, 4.0]), lower, upper, 400, method="lm",
                 deadline=time.time() - 1.0, progress=lambda n, loss: seen.append((n, loss)))
    assert res.stopped_by_time and res.evaluations == 1 and seen == [(1, res.loss)]
    start = two_exponentials(np.array([[0.3, 4.0]]))[0]
    assert res.loss == float(start @ start) and np.array_equal(res.x, [0.3, 4.0])

    class Stop(Exception):
        pass

    def stop_at_five(n: int, loss: float) -> None:
        if n >= 5:
            raise Stop

    with pytest.raises(Stop):
        refine(two_exponentials, np.array([0.3, 4.0]), lower, upper, 400, method="lm",
               progress=stop_at_five)


def test_lm_needs_fewer_jacobians_than_trf_in_the_banana_valley() -> None:
    """The point of the method (issue 17): the same minimum for fewer Jacobians in a curved
    valley, which the geodesic acceleration follows."""
    lower, upper = np.array([-5.0, -5.0]), np.array([5.0, 5.0])
    calls = {m: 0 for m in METHODS}
    out = {}
    for m in METHODS:
        def jacobian(x: np.ndarray, m: str = m) -> np.ndarray:
            calls[m] += 1
            return rosenbrock_jacobian(x)

        out[m] = refine(rosenbrock, np.array([-1.2, 1.0]), lower, upper, 1000,
                        analytic=jacobian, method=m)
        assert np.allclose(out[m].x, [1.0, 1.0], atol=1e-6)
    assert out["lm"].loss < 1e-20
    assert calls["lm"] < calls["trf"]


def test_the_config_key_chooses_the_fits_refinement(monkeypatch) -> None:
    """``[refine] method`` reaches the least squares after the GA (the memetic steps inside the GA
    stay with "trf"), here and on the workers, to the same result."""
    from helpers import ROOT

    import gafit.refine
    from gafit.config import parse_config
    from gafit.fitting import Fit

    def fit(method: str, workers: int) -> Fit:
        config = parse_config({
            "data": {"train": str(ROOT / "data" / "Cu_EMT.extxyz")},
            "potential": {"form": "morse", "species": ["Cu"], "cutoff": 6.0},
            "ga": {"population": 16, "generations": 3, "seed": 5, "workers": workers},
            "refine": {"method": method, "starts": 2, "max_evaluations": 40}})
        f = Fit.from_config(config)
        f.run_ga(progress=False)
        return f

    seen: list[int] = []
    original = gafit.refine.levenberg_marquardt

    def counted(*args, **kw):
        seen.append(1)
        return original(*args, **kw)

    monkeypatch.setattr(gafit.refine, "levenberg_marquardt", counted)
    trf = fit("trf", 1).refine(progress=False)
    assert seen == []
    here = fit("lm", 1).refine(progress=False)
    assert seen == [1, 1]
    there = fit("lm", 2).refine(progress=False)
    for a, b in zip(here, there, strict=True):
        assert np.array_equal(a.x, b.x) and a.loss == b.loss
    assert any(not np.array_equal(a.x, b.x) for a, b in zip(here, trf, strict=True))



def stiff_and_soft(x_b: np.ndarray) -> np.ndarray:
    """Two decoupled residuals whose curvatures differ by 16 decades: minimum 0 at (1, 2)."""
    return np.stack([1e6 * (x_b[:, 0] - 1.0), 1e-2 * (x_b[:, 1] - 2.0)], axis=1)


def test_lm_does_not_stop_while_its_damping_throttles_the_step() -> None:
    """The damping (scaled by the stiffest curvature) makes the soft direction's first steps so
    short that the loss barely moves; lm stopped there as if converged (C_diamond_phonon_elastic:
    9.74 against trf's 4.46). A step that changes nothing counts as convergence only once the
    damping has relaxed."""
    lower, upper = np.array([-10.0, -10.0]), np.array([10.0, 10.0])
    res = refine(stiff_and_soft, np.array([0.0, 0.0]), lower, upper, 400,
                 analytic=lambda x: np.diag([1e6, 1e-2]), method="lm")
    assert np.allclose(res.x, [1.0, 2.0], atol=1e-6)
