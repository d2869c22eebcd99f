"""The smoothness regularisation of spline knots (gafit.smoothness, ``[smoothness]`` of a config):
its residuals are w x the discrete second derivative of each spline (the fixed zero knots
included), the fit's objective carries them (loss, breakdown, exact Jacobian), and bad input is a
one-line error."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from helpers import demo_config

from gafit.config import parse_config, with_absolute_paths
from gafit.fitting import Fit
from gafit.forms.eam.knots import SplineEAM
from gafit.potential import Potential
from gafit.smoothness import curvature_matrix
from gafit.structures import GafitInputError

SETTINGS = {"phi_knots": 7.0, "phi_rmin": 2.0, "rho_knots": 5.0, "rho_rmin": 1.5, "F_knots": 6.0,
            "rho_max": 20.0}


def two_elements() -> Potential:
    form = SplineEAM(["Cu", "Ag"], 5.0)
    form.apply_settings(SETTINGS)
    return Potential(["Cu", "Ag"], [form])


def parabola_values(pot: Potential, curvature: dict[tuple[str, str], float]) -> np.ndarray:
    """A full vector whose knots lie on y = c (x - x0)², x0 the function's fixed zero knot (the
    cutoff for phi and rho, 0 for F), c = ``curvature[(entry, function)]`` (0 when absent)."""
    form = pot.forms[0]
    theta = np.zeros(len(pot.names))
    where = {"phi": (form.phi_r[:-1], form.cutoff), "rho": (form.rho_r[:-1], form.cutoff),
             "F": (form.f_rho[1:], 0.0)}
    for (entry, func), c in curvature.items():
        x, x0 = where[func]
        for k, xk in enumerate(x, start=1 if func == "F" else 0):
            theta[pot.names.index(f"{entry}.{func}{k}")] = c * (xk - x0) ** 2
    return theta


def test_residuals_are_the_weighted_second_derivative_of_each_function() -> None:
    """Knots on a parabola y = c (x - x0)² through the fixed zero knot: every residual of that
    function is sqrt(w h) y'' = sqrt(w h) 2c (so the squares add up to w x the integral of y''²
    over the inner knots), those of the other functions 0; a straight line through the fixed
    knot gives 0."""
    pot = two_elements()
    form = pot.forms[0]
    curv = {("Cu", "phi"): 0.7, ("Ag", "rho"): -0.2, ("Cu", "F"): 0.003, ("Cu-Ag", "phi"): 1.1}
    w = {"phi": 2.0, "rho": 0.5, "F": 3.0}
    d = curvature_matrix(pot, w)
    r = d @ parabola_values(pot, curv)
    h = {"phi": form.phi_r[1] - form.phi_r[0], "rho": form.rho_r[1] - form.rho_r[0],
         "F": form.f_rho[1] - form.f_rho[0]}
    n = {"phi": len(form.phi_r) - 2, "rho": len(form.rho_r) - 2, "F": len(form.f_rho) - 2}
    expected = []  # rows: per entry (Cu, Ag, Cu-Ag), per function in the order of w
    for entry in ("Cu", "Ag", "Cu-Ag"):
        for func in w:
            if entry == "Cu-Ag" and func != "phi":
                continue
            c = curv.get((entry, func), 0.0)
            expected.append(np.full(n[func], np.sqrt(w[func] * h[func]) * 2.0 * c))
    np.testing.assert_allclose(r, np.concatenate(expected), rtol=1e-12, atol=1e-12)
    # a line through the fixed knot: no curvature
    line = np.zeros(len(pot.names))
    for k, x in enumerate(form.phi_r[:-1]):
        line[pot.names.index(f"Ag.phi{k}")] = 0.4 * (form.cutoff - x)
    for k, x in enumerate(form.f_rho[1:], start=1):
        line[pot.names.index(f"Ag.F{k}")] = -0.1 * x
    np.testing.assert_allclose(d @ line, 0.0, atol=1e-12)


def test_a_zero_weight_adds_no_rows() -> None:
    pot = two_elements()
    assert curvature_matrix(pot, {"phi": 0.0, "rho": 0.0, "F": 0.0}).shape == (0, len(pot.names))
    form = pot.forms[0]
    assert curvature_matrix(pot, {"F": 1.0}).shape == (2 * (len(form.f_rho) - 2), len(pot.names))


def spline_fit_config(smoothness: dict) -> dict:
    table = demo_config()
    table["potential"] = {"form": "eam_spline", "cutoff": 5.0, "settings": dict(SETTINGS)}
    table["smoothness"] = smoothness
    return table


def test_the_fit_objective_carries_the_term(tmp_path: Path) -> None:
    """[smoothness] puts the term into the fit's objective: the loss the GA ranks by (streamed)
    and the breakdown include it, its share is the squares of D theta, and its rows of the least
    squares' Jacobian match central differences; resuming (the config's table) keeps the
    weights."""
    weights = {"phi": 1e-3, "rho": 1e-2, "F": 0.5}
    config = parse_config(spline_fit_config(weights), tmp_path / "fit.toml")
    assert with_absolute_paths(config).smoothness == weights
    fit = Fit(*_fit_args(config), config=config, check_data=False)
    obj = fit.objective
    rng = np.random.default_rng(0)
    # wiggly knots, none near 0 (where the central differences' relative step is too small)
    x = fit.space.start() * rng.uniform(0.9, 1.1, fit.space.n_free) + 0.02
    parts = obj.breakdown(x[None])[0]
    theta = fit.space.expand(x[None])[0]
    d = curvature_matrix(fit.potential, weights)
    assert parts["smoothness"] == pytest.approx(float(np.sum((d @ theta) ** 2)), rel=1e-12)
    assert parts["smoothness"] > 0
    assert obj.loss(x[None])[0] == pytest.approx(sum(parts.values()), rel=1e-12)
    plain = Fit(*_fit_args(config), config=parse_config(spline_fit_config({}),
                                                         tmp_path / "fit.toml"), check_data=False)
    assert obj.loss(x[None])[0] == pytest.approx(plain.objective.loss(x[None])[0]
                                                 + parts["smoothness"], rel=1e-12)
    # the least squares' rows of the term: central differences of its residuals (linear: exact)
    n = len(d)
    assert obj.residual_widths()[-1] == ("smoothness", n)
    jac = obj.jacobian(x)[-n:]
    h = 1e-3
    for k in range(len(x)):
        step = np.zeros_like(x)
        step[k] = h
        r = obj.residuals(np.vstack([x + step, x - step]))[:, -n:]
        np.testing.assert_allclose(jac[:, k], (r[0] - r[1]) / (2 * h), rtol=1e-7, atol=1e-9)
    assert np.abs(jac).max() > 0


def _fit_args(config) -> tuple:
    from gafit.fit_data import build_potential, fit_parameters, read_data

    train, _ = read_data(config)
    return build_potential(config, train), train, fit_parameters(config.potential)


@pytest.mark.parametrize(("smoothness", "message"), [
    ({"psi": 1.0}, r"fit.toml: \[smoothness\] psi: unknown key \(keys: phi, rho, F\)"),
    ({"F": -1.0}, r"fit.toml: \[smoothness\] F = -1.0: expected a number >= 0"),
    ({"rho": "lots"}, r"fit.toml: \[smoothness\] rho = 'lots': expected a number >= 0"),
])
def test_bad_smoothness_is_a_one_line_error(tmp_path: Path, smoothness: dict, message: str) -> None:
    with pytest.raises(GafitInputError, match=message):
        parse_config(spline_fit_config(smoothness), tmp_path / "fit.toml")


def test_smoothness_needs_a_spline_form(tmp_path: Path) -> None:
    """A Morse fit has no knots to smooth: a one-line error naming the config, not a silent 0."""
    table = demo_config()
    table["smoothness"] = {"phi": 1.0}
    config = parse_config(table, tmp_path / "fit.toml")
    with pytest.raises(GafitInputError, match=r"fit.toml: \[smoothness\]: the potential has no "
                                              "spline form"):
        Fit(*_fit_args(config), config=config, check_data=False)
