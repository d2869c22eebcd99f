"""Uncertainty of a fit (gafit.uncertainty): the Fisher / Gauss-Newton covariance against an
independent inverse and against the finite-difference curvature of the loss, undetermined
parameters, MCMC against Fisher on a near-linear problem, a seeded bootstrap, the calibration
fractions, and ``gafit uncertainty`` on a run folder."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tomllib
from pathlib import Path

import numpy as np
import pytest
from ase.build import bulk
from helpers import ROOT

from gafit.calculator import GafitCalculator
from gafit.fitting import Fit
from gafit.forms.morse import Morse
from gafit.objective import Weights
from gafit.potential import Potential
from gafit.refine import refine
from gafit.structures import GafitInputError, ReferenceSet, Structure
from gafit.uncertainty import (
    Problem,
    bootstrap_ensemble,
    fisher_analysis,
    mcmc_ensemble,
    read_ensemble,
)
from gafit.uncertainty import mcmc as mcmc_module
from gafit.uncertainty.ensemble import sample_summary
from gafit.uncertainty.fisher import fisher_of
from gafit.uncertainty.propagate import NORMAL_WITHIN, Spread, calibration

TRUE = {"Cu-Cu.D0": 0.35, "Cu-Cu.alpha": 1.4, "Cu-Cu.r0": 2.9}
BOUNDS = {"Cu-Cu.D0": [0.05, 1.5], "Cu-Cu.alpha": [0.5, 3.0], "Cu-Cu.r0": [2.0, 3.5]}
NOISE = 0.01  # eV/Å, on the synthetic forces


def morse() -> Potential:
    return Potential(["Cu"], [Morse(["Cu"], 5.0)])


def synthetic_cells(n: int = 12, seed: int = 0) -> ReferenceSet:
    """Rattled, strained fcc Cu cells labelled by a Morse potential of parameters TRUE, with
    Gaussian noise of NOISE eV/Å on the forces (the energies and stresses exact)."""
    pot = morse().with_values(np.array([TRUE[k] for k in morse().names[:3]] + [0.0]))
    rng = np.random.default_rng(seed)
    out = []
    for k in range(n):
        at = bulk("Cu", "fcc", a=3.6 + 0.05 * rng.standard_normal(), cubic=True)
        at.rattle(0.08, seed=seed * 100 + k)
        at.calc = GafitCalculator(pot)
        e, f, s = at.get_potential_energy(), at.get_forces(), at.get_stress()
        at.calc = None
        out.append(Structure(at, energy=e, forces=f + NOISE * rng.standard_normal(f.shape),
                             stress=s, name=f"cell{k}"))
    return ReferenceSet(out, "synthetic")


@pytest.fixture(scope="module")
def problem() -> Problem:
    """A Morse fit (forces only) to the synthetic cells, refined to its optimum from TRUE."""
    fit = Fit(morse(), synthetic_cells(), BOUNDS, weights=Weights(energy=0.0, forces=1.0,
                                                                  stress=0.0),
              check_data=False)
    x0 = np.array([TRUE[n] for n in fit.space.free])
    obj = fit.objective
    res = refine(obj.residuals, x0, fit.space.lower, fit.space.upper, 200, analytic=obj.jacobian)
    return Problem.from_fit(fit, res.x)


def test_linear_covariance_is_s2_times_the_inverse_normal_matrix() -> None:
    """On r = A x - y the Gauss-Newton covariance is exact: s² (AᵀA)⁻¹, s² = r·r / (m - n)."""
    rng = np.random.default_rng(1)
    a = rng.normal(size=(40, 3)) * [1.0, 1e3, 1e-2]  # columns of very different scales
    x = np.array([2.0, 0.5, -3.0])
    r = rng.normal(0, 0.1, 40)
    f = fisher_of(a, r, x, ["a", "b", "c"], 40, np.full(3, -10.0), np.full(3, 10.0))
    expected = (r @ r) / 37 * np.linalg.inv(a.T @ a)
    np.testing.assert_allclose(f.cov, expected, rtol=1e-10)
    assert f.undetermined() == {}


def test_a_parameter_the_residuals_ignore_is_named_and_has_no_finite_std() -> None:
    """A column of zeros (a parameter that enters no residual) is a null direction: infinite
    std, named undetermined; the others keep the covariance of the determined block."""
    rng = np.random.default_rng(2)
    a = np.hstack([rng.normal(size=(30, 2)), np.zeros((30, 1))])
    r = rng.normal(0, 0.1, 30)
    x = np.array([1.0, 2.0, 3.0])
    f = fisher_of(a, r, x, ["a", "b", "ghost"], 30, np.zeros(3), np.full(3, 10.0))
    assert np.isinf(f.std[2])
    assert "ghost" in f.undetermined() and "a" not in f.undetermined()
    np.testing.assert_allclose(f.cov[:2, :2], (r @ r) / 27 * np.linalg.inv(a[:, :2].T @ a[:, :2]),
                               rtol=1e-10)
    assert len(f.draw(5, 0, np.zeros(3), np.full(3, 10.0))[0]) == 5  # drawn with no spread there


def test_a_weakly_determined_combination_is_named() -> None:
    """Two nearly equal columns: their difference is barely constrained (1σ >> 100 %)."""
    rng = np.random.default_rng(3)
    c = rng.normal(size=(50, 1))
    a = np.hstack([c, c + 1e-6 * rng.normal(size=(50, 1)), rng.normal(size=(50, 1))])
    f = fisher_of(a, rng.normal(0, 0.1, 50), np.ones(3), ["p", "q", "z"], 50,
                  np.full(3, -5.0), np.full(3, 5.0))
    assert set(f.undetermined()) == {"p", "q"}
    assert abs(f.summary().corr[0, 1]) > 0.99


def test_jacobian_matches_finite_differences(problem: Problem) -> None:
    """The Jacobian the Fisher analysis uses against central differences of the residuals."""
    x = problem.x
    jac = problem.jacobian()
    for i in range(len(x)):
        h = 1e-6 * abs(x[i])
        up, down = x.copy(), x.copy()
        up[i] += h
        down[i] -= h
        fd = (problem.residuals(up) - problem.residuals(down)) / (2 * h)
        np.testing.assert_allclose(jac[:, i], fd, rtol=1e-5, atol=1e-6 * np.abs(fd).max())


def test_fisher_covariance_matches_the_curvature_of_the_loss(problem: Problem) -> None:
    """Near a zero-residual optimum (synthetic data, small noise) s² (JᵀJ)⁻¹ equals
    2 s² H⁻¹, H the Hessian of the loss taken by central finite differences."""
    x, n = problem.x, len(problem.x)
    loss = problem.batch_loss()
    h = 1e-4 * np.abs(x)
    hess = np.zeros((n, n))
    for i in range(n):
        for j in range(n):
            steps = []
            for si, sj in ((1, 1), (1, -1), (-1, 1), (-1, -1)):
                y = x.copy()
                y[i] += si * h[i]
                y[j] += sj * h[j]
                steps.append(y)
            v = loss(np.array(steps))
            hess[i, j] = (v[0] - v[1] - v[2] + v[3]) / (4 * h[i] * h[j])
    f = fisher_analysis(problem)
    np.testing.assert_allclose(f.cov, 2 * f.s2 * np.linalg.inv(hess), rtol=0.02,
                               atol=0.02 * np.outer(f.std, f.std).max())
    assert f.s2 == pytest.approx(problem.loss() / (problem.n_data() - n))


def test_fit_recovers_the_true_parameters_within_a_few_sigma(problem: Problem) -> None:
    """The synthetic data's true parameters lie within 4 Fisher σ of the optimum (a check that
    the σ have the size of the noise's effect)."""
    f = fisher_analysis(problem)
    true = np.array([TRUE[n] for n in problem.names])
    assert np.all(np.abs(problem.x - true) < 4 * f.std)


def test_mcmc_agrees_with_fisher_on_a_near_linear_problem(problem: Problem) -> None:
    ens = mcmc_ensemble(problem, samples=2000, seed=5, steps=600, progress=False)
    f = fisher_analysis(problem)
    std = ens.samples.std(axis=0, ddof=1)
    np.testing.assert_allclose(std, f.std, rtol=0.3)
    assert np.all(np.abs(ens.samples.mean(axis=0) - problem.x) < 0.5 * f.std)
    assert ens.info["evaluations"] > 0 and ens.info["cpu_seconds"] > 0


def test_mcmc_is_seeded(problem: Problem) -> None:
    a = mcmc_ensemble(problem, samples=20, seed=7, steps=30, progress=False)
    b = mcmc_ensemble(problem, samples=20, seed=7, steps=30, progress=False)
    c = mcmc_ensemble(problem, samples=20, seed=8, steps=30, progress=False)
    np.testing.assert_array_equal(a.samples, b.samples)
    assert not np.array_equal(a.samples, c.samples)


def test_mcmc_refuses_too_many_parameters(problem: Problem, monkeypatch: pytest.MonkeyPatch
                                          ) -> None:
    monkeypatch.setattr(mcmc_module, "MAX_PARAMETERS", 2)
    with pytest.raises(GafitInputError, match="3 free parameters, more than 2"):
        mcmc_ensemble(problem, samples=10, steps=10, progress=False)


def test_bootstrap_is_deterministic_for_a_seed_and_agrees_with_fisher(problem: Problem) -> None:
    """Same seed, same members; another seed, other members. With independent noise on every
    force (the synthetic data) resampling structures and the Gauss-Newton covariance estimate the
    same spread, to the bootstrap's sampling error (factor 2)."""
    a = bootstrap_ensemble(problem, samples=24, seed=11, progress=False)
    b = bootstrap_ensemble(problem, samples=3, seed=11, progress=False)
    c = bootstrap_ensemble(problem, samples=3, seed=12, progress=False)
    np.testing.assert_array_equal(a.samples[:3], b.samples)
    assert not np.array_equal(b.samples, c.samples)
    ratio = a.samples.std(axis=0, ddof=1) / fisher_analysis(problem).std
    assert np.all((ratio > 0.5) & (ratio < 2.0)), ratio


def test_sample_summary_interval_and_correlation() -> None:
    rng = np.random.default_rng(4)
    z = rng.standard_normal((20000, 2))
    xs = np.c_[1 + 2 * z[:, 0], 3 - 0.5 * (0.8 * z[:, 0] + 0.6 * z[:, 1])]
    s = sample_summary(["a", "b"], np.array([1.0, 3.0]), xs)
    np.testing.assert_allclose(s.std, [2.0, 0.5], rtol=0.03)
    np.testing.assert_allclose([s.lo[0], s.hi[0]], [-1.0, 3.0], atol=0.1)
    assert s.corr[0, 1] == pytest.approx(-0.8, abs=0.02)
    assert s.correlated_pairs(0.75) == [("a", "b", pytest.approx(s.corr[0, 1]))]


def test_calibration_fractions_of_normal_errors() -> None:
    """Errors drawn with the predicted σ fall within 1σ and 2σ as often as a normal's do; errors
    three times larger do not."""
    rng = np.random.default_rng(6)
    sd = rng.uniform(0.01, 0.1, 50000)
    idx = np.arange(sd.size)

    def table(scale: float) -> dict:
        err = scale * sd * rng.standard_normal(sd.size)
        return calibration(Spread({"energy": err[:1000], "forces": err},
                                  {"energy": err[:1000], "forces": err},
                                  {"energy": sd[:1000], "forces": sd},
                                  {"energy": idx[:1000], "forces": idx}))

    good = table(1.0)["forces"]
    assert good["within_1sigma"] == pytest.approx(NORMAL_WITHIN[0], abs=0.01)
    assert good["within_2sigma"] == pytest.approx(NORMAL_WITHIN[1], abs=0.01)
    assert table(3.0)["forces"]["within_1sigma"] < 0.3


def run_cli(*args: str, cwd: Path) -> subprocess.CompletedProcess:
    env = {**os.environ, "PYTHONPATH": str(ROOT) + os.pathsep + os.environ.get("PYTHONPATH", "")}
    return subprocess.run([sys.executable, "-m", "gafit.cli", *args], cwd=cwd, env=env,
                          capture_output=True, text=True, timeout=600)


def test_cli_writes_the_ensemble_table_and_calibration(tmp_path: Path) -> None:
    """gafit fit (short) then gafit uncertainty --method fisher and bootstrap on its run folder:
    the CSV (free parameters then the E0 offsets), JSON with method and seed, the table, and the
    calibration on the fit's validation set."""
    table = tomllib.loads((ROOT / "examples" / "cu_morse.toml").read_text())
    table["data"] = {"train": str(ROOT / "data" / "Cu_EMT.extxyz"), "validation_fraction": 0.3}
    table["ga"] = {"population": 12, "generations": 3, "seed": 3}
    table["refine"] = {"starts": 1, "max_evaluations": 40}
    lines = [f'[{k}]\n' + "".join(f'"{kk}" = {json.dumps(vv)}\n' for kk, vv in v.items())
             for k, v in table.items() if k != "potential"]
    pot = table["potential"]
    lines.append(f'[potential]\nform = "morse"\nspecies = ["Cu"]\ncutoff = {pot["cutoff"]}\n')
    lines.append("[potential.parameters]\n" + "".join(
        f'"{k}" = {json.dumps(v)}\n' for k, v in pot["parameters"].items()))
    config = tmp_path / "cu.toml"
    config.write_text("".join(lines))
    run = tmp_path / "run"
    done = run_cli("fit", str(config), "--out", str(run), cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    out = run_cli("uncertainty", str(run), "--method", "fisher", "--seed", "4", "--quiet",
                  cwd=tmp_path)
    assert out.returncode == 0, out.stderr
    assert "fisher: 200 members, seed 4" in out.stdout
    assert "calibration on the fit's validation set: forces" in out.stdout
    names, values = read_ensemble(run / "uncertainty" / "ensemble_fisher.csv")
    assert names == ["Cu-Cu.D0", "Cu-Cu.alpha", "Cu-Cu.r0", "Cu.E0"] and values.shape == (200, 4)
    meta = json.loads((run / "uncertainty" / "ensemble_fisher.json").read_text())
    assert meta["method"] == "fisher" and meta["seed"] == 4
    assert set(meta["info"]["calibration"]) >= {"energy", "forces"}
    assert (run / "uncertainty" / "table_fisher.txt").read_text().startswith("fisher: 200")
    boot = run_cli("uncertainty", str(run), "--method", "bootstrap", "--samples", "4", "--quiet",
                   cwd=tmp_path)
    assert boot.returncode == 0, boot.stderr
    assert read_ensemble(run / "uncertainty" / "ensemble_bootstrap.csv")[1].shape == (4, 4)
    ens = str(run / "uncertainty" / "ensemble_fisher.csv")
    ev = run_cli("evaluate", str(run / "potential.json"), str(ROOT / "data" / "Cu_EMT.extxyz"),
                 "--ensemble", ens, cwd=tmp_path)
    assert ev.returncode == 0, ev.stderr
    assert "(200 members)" in ev.stdout and "calibration on data: forces" in ev.stdout
    props = run_cli("properties", str(run / "potential.json"), "--structure", "fcc",
                    "--ensemble", ens, "--members", "3", cwd=tmp_path)
    assert props.returncode == 0, props.stderr
    assert "(3 members)" in props.stdout and "C44" in props.stdout.split("ensemble spread")[1]
    config.write_text(config.read_text().replace('"stress" = 0.1', '"stress" = 0.3'))
    changed = run_cli("uncertainty", str(run), cwd=tmp_path)
    assert changed.returncode == 2 and "the config or its data changed since the fit" in changed.stderr
    bad = run_cli("uncertainty", str(tmp_path), cwd=tmp_path)
    assert bad.returncode == 2 and bad.stderr.startswith("gafit: error: ")
    assert len(bad.stderr.strip().splitlines()) == 1


def test_prediction_spread_against_the_calculator_of_each_member() -> None:
    """The ensemble's force spread and the potential's errors equal those of ASE's calculator run
    on each member's potential (E0 from the member's own column)."""
    from gafit.uncertainty.propagate import member_thetas, prediction_spread

    data = synthetic_cells(3, seed=9)
    pot = morse().with_values(np.array([0.3, 1.5, 2.8, -1.0]))
    names = ["Cu-Cu.r0", "Cu.E0"]
    values = np.array([[2.80, -1.0], [2.86, -1.2], [2.75, -0.9]])
    spread = prediction_spread(pot, member_thetas(pot, names, values), data)
    forces, energies = [], []
    for row in values:
        member = pot.with_values(np.array([0.3, 1.5, row[0], row[1]]))
        f, e = [], []
        for s in data:
            at = s.atoms.copy()
            at.calc = GafitCalculator(member)
            f.append(at.get_forces().ravel())
            e.append(at.get_potential_energy() / len(at))
        forces.append(np.concatenate(f))
        energies.append(e)
    np.testing.assert_allclose(spread.std["forces"], np.std(forces, axis=0, ddof=1), rtol=1e-8,
                               atol=1e-12)
    np.testing.assert_allclose(spread.std["energy"], np.std(energies, axis=0, ddof=1),
                               rtol=1e-8)
    own = []
    for s in data:
        at = s.atoms.copy()
        at.calc = GafitCalculator(pot)
        own.append(at.get_forces().ravel() - s.forces.ravel())
    np.testing.assert_allclose(spread.error["forces"], np.concatenate(own), atol=1e-10)
    with pytest.raises(GafitInputError, match="Cu-Cu.nope is not one of the potential's"):
        member_thetas(pot, ["Cu-Cu.nope"], values[:, :1])


def test_cluster_robust_covariance_matches_the_scatter_of_refits() -> None:
    """Residuals that share an error per cluster (a structure's forces share its model error):
    the Gauss-Newton std, which assumes independent residuals, is too small; the cluster-robust
    std matches the scatter of least-squares estimates over many noise draws (linear model, so
    the estimates are exact lstsq solutions)."""
    rng = np.random.default_rng(8)
    g, k = 80, 10
    groups = np.repeat(np.arange(g), k)
    a = np.c_[np.ones(g * k), rng.normal(size=g)[groups] + 0.3 * rng.normal(size=g * k)]
    x_true = np.array([1.0, 2.0])
    estimates, robust, plain = [], [], []
    for _ in range(300):
        e = 0.1 * rng.normal(size=g)[groups] + 0.02 * rng.normal(size=g * k)
        y = a @ x_true + e
        x = np.linalg.lstsq(a, y, rcond=None)[0]
        f = fisher_of(a, a @ x - y, x, ["c", "s"], g * k, np.full(2, -10.0), np.full(2, 10.0),
                      groups)
        estimates.append(x)
        robust.append(f.robust_std)
        plain.append(f.std)
    scatter = np.std(estimates, axis=0, ddof=1)
    np.testing.assert_allclose(np.sqrt(np.mean(np.square(robust), axis=0)), scatter, rtol=0.15)
    assert np.all(np.mean(plain, axis=0) < 0.5 * scatter)


def test_parameters_pressed_against_a_bound_are_held_there() -> None:
    """A parameter held at its bound gets no spread; the others have the covariance of the
    problem with it fixed (its column removed), and the draws keep it at its value."""
    rng = np.random.default_rng(9)
    a = rng.normal(size=(40, 3)) + np.c_[np.zeros(40), 0.5 * rng.normal(size=40), np.zeros(40)]
    r = rng.normal(0, 0.1, 40)
    x = np.array([1.0, 2.0, 5.0])
    held = np.array([False, False, True])
    f = fisher_of(a, r, x, ["a", "b", "at_bound"], 40, np.zeros(3), np.array([10.0, 10.0, 5.0]),
                  held=held)
    np.testing.assert_allclose(f.cov[:2, :2], (r @ r) / 38 * np.linalg.inv(a[:, :2].T @ a[:, :2]),
                               rtol=1e-10)
    assert f.std[2] == 0 and np.all(f.cov[2] == 0)
    draws, _ = f.draw(50, 1, np.zeros(3), np.array([10.0, 10.0, 5.0]))
    assert len(draws) == 50 and np.all(draws[:, 2] == 5.0) and np.all(draws[:, :2].std(axis=0) > 0)
    assert "at_bound" in f.summary().notes[0]


def test_problem_from_a_fit_result_in_python() -> None:
    """A FitResult of a Fit made from Python objects: its Problem (with the Fit) sits at the
    result's optimum with the result's loss, and the ensemble carries the E0 offsets solved per
    member; without the Fit it says what to pass."""
    from gafit.ga import GASettings
    from gafit.uncertainty import uncertainty

    fit = Fit(morse(), synthetic_cells(6, seed=3), BOUNDS, weights=Weights(energy=1.0, forces=1.0,
                                                                           stress=0.0),
              ga=GASettings(population=8, generations=2, seed=2), check_data=False)
    result = fit.run(quiet=True)
    problem = Problem.from_result(result, fit)
    np.testing.assert_allclose(problem.x, result.x, rtol=1e-12)
    assert problem.loss() == pytest.approx(result.loss, rel=1e-9)
    ens = uncertainty(problem, "fisher", samples=5, seed=0)
    assert ens.extra_names == ["Cu.E0"] and ens.extra.shape == (5, 1)
    assert np.ptp(ens.extra[:, 0]) > 0  # solved for each member, not the optimum's copied
    with pytest.raises(GafitInputError, match="names no training data; pass the Fit"):
        Problem.from_result(result)


@pytest.mark.parametrize("scale", ["noise", "model-error"])
def test_ensemble_raises_the_loss_by_what_its_scale_says(scale: str) -> None:
    """Frederiksen et al. (PRL 93, 165501 (2004)): at T = 2 C0/N_p the ensemble's mean loss
    increase over the optimum equals the optimum's loss C0 (here loss = 2C), so the members
    spread as far as the training misfit; the plain ensemble raises it by n s² = n loss/(m - n).
    Checked on the losses of the drawn members of a linear model r = A x - y."""
    rng = np.random.default_rng(21)
    m, n = 60, 3
    a = rng.normal(size=(m, n))
    y = a @ np.array([1.0, -2.0, 0.5]) + 0.3 * np.sin(np.arange(m))  # a misfit the model lacks
    x = np.linalg.lstsq(a, y, rcond=None)[0]
    r0 = a @ x - y
    f = fisher_of(a, r0, x, ["a", "b", "c"], m, np.full(n, -50.0), np.full(n, 50.0), scale=scale)
    members, _ = f.draw(8000, 3, np.full(n, -50.0), np.full(n, 50.0))
    rise = np.mean(np.sum((members @ a.T - y) ** 2, axis=1)) - r0 @ r0
    expected = r0 @ r0 if scale == "model-error" else n * (r0 @ r0) / (m - n)
    assert rise == pytest.approx(expected, rel=0.05)
    assert f.s2 == pytest.approx((r0 @ r0) / (n if scale == "model-error" else m - n))


def test_model_error_scale_for_mcmc_and_fisher_and_its_files(problem: Problem, tmp_path: Path
                                                             ) -> None:
    """--scale model-error: MCMC samples log p = -loss/(2 s²) with the same s² = loss/n as the
    Fisher ensemble; their spreads agree (the chain long enough: ~140 steps of autocorrelation
    at this width), and the chain's mean loss rise is the optimum's loss (Frederiksen's
    criterion; the chain follows the loss, so no Gaussian is assumed); the ensembles are
    written beside the plain ones."""
    from gafit.uncertainty import uncertainty

    fisher = uncertainty(problem, "fisher", 50, seed=1, progress=False, scale="model-error")
    chain = uncertainty(problem, "mcmc", 3000, seed=5, progress=False, scale="model-error",
                        steps=3000)
    assert fisher.info["s2"] == pytest.approx(problem.loss() / len(problem.x))
    loss = problem.batch_loss()(fisher.samples)
    assert fisher.info["loss_rise_ratio"] == pytest.approx(
        (loss.mean() - problem.loss()) / problem.loss(), rel=1e-9)
    assert chain.info["s2"] == pytest.approx(fisher.info["s2"])
    np.testing.assert_allclose(chain.samples.std(axis=0, ddof=1), fisher.summary.std, rtol=0.3)
    rise = problem.batch_loss()(chain.samples).mean() - problem.loss()
    assert rise == pytest.approx(problem.loss(), rel=0.25)
    plain = fisher_analysis(problem)
    widen = np.sqrt((problem.n_data() - len(problem.x)) / len(problem.x))
    np.testing.assert_allclose(fisher.summary.std, widen * plain.std, rtol=1e-10)
    paths = fisher.write(tmp_path)
    assert [p.name for p in paths] == ["ensemble_fisher_model-error.csv",
                                       "ensemble_fisher_model-error.json",
                                       "table_fisher_model-error.txt"]
    assert json.loads(paths[1].read_text())["scale"] == "model-error"
    assert "(--scale model-error)" in paths[2].read_text().splitlines()[0]
    with pytest.raises(GafitInputError, match="only for --method fisher or mcmc"):
        uncertainty(problem, "bootstrap", 3, scale="model-error")


def test_cli_refuses_a_scale_the_bootstrap_has_not(tmp_path: Path) -> None:
    """Told in one line before any run folder is read."""
    out = run_cli("uncertainty", str(tmp_path / "none"), "--method", "bootstrap", "--scale",
                  "model-error", cwd=tmp_path)
    assert out.returncode == 2
    assert out.stderr.strip() == ("gafit: error: uncertainty --scale model-error: only for --method "
                                  "fisher or mcmc (the bootstrap has no likelihood to scale: it "
                                  "refits resamples)")


def test_every_parameter_held_at_a_bound_gives_an_ensemble_without_spread() -> None:
    """All free parameters pressed against bounds (a fit whose bounds are all too tight): the
    analysis has nothing left to spread (it failed with an IndexError on the empty SVD)."""
    rng = np.random.default_rng(5)
    a = rng.normal(size=(20, 2))
    x = np.array([1.0, 2.0])
    f = fisher_of(a, rng.normal(0, 0.1, 20), x, ["a", "b"], 20, np.zeros(2), np.full(2, 2.0),
                  np.arange(20) // 4, held=np.array([True, True]))
    np.testing.assert_array_equal(f.std, [0.0, 0.0])
    assert "held at the bound" in f.summary().table()
    members, rejected = f.draw(4, 0, np.zeros(2), np.full(2, 2.0))
    np.testing.assert_array_equal(members, np.repeat(x[None], 4, axis=0))
    assert rejected == 0


def test_cluster_robust_scale_draws_from_the_sandwich() -> None:
    """--scale cluster-robust: the ensemble's covariance is the cluster-robust one (its members'
    sample covariance too); MCMC and the bootstrap refuse it."""
    rng = np.random.default_rng(9)
    g, k = 30, 8
    groups = np.repeat(np.arange(g), k)
    a = np.c_[np.ones(g * k), rng.normal(size=g)[groups] + 0.3 * rng.normal(size=g * k)]
    r = 0.1 * rng.normal(size=g)[groups] + 0.02 * rng.normal(size=g * k)
    x = np.array([1.0, 2.0])
    lo, hi = np.full(2, -50.0), np.full(2, 50.0)
    plain = fisher_of(a, r, x, ["c", "s"], g * k, lo, hi, groups)
    robust = fisher_of(a, r, x, ["c", "s"], g * k, lo, hi, groups, scale="cluster-robust")
    np.testing.assert_allclose(robust.cov, plain.robust, rtol=1e-12)
    assert np.all(robust.std > 1.5 * plain.std)  # the shared errors widen it
    members, _ = robust.draw(40000, 1, lo, hi)
    np.testing.assert_allclose(np.cov(members.T), plain.robust, rtol=0.05,
                               atol=0.05 * np.abs(plain.robust).max())
    from gafit.uncertainty import check_scale

    for method in ("mcmc", "bootstrap"):
        with pytest.raises(GafitInputError, match="only for --method fisher"):
            check_scale(method, "cluster-robust")
