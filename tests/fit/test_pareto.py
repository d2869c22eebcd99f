"""Multi-objective fits (``[ga] mode = "pareto"``, gafit.pareto) and ``gafit pick``.

The known front: Morse dimers whose energies come from a Morse with r0 = 2.5 Å and whose forces from
one with r0 = 2.7 Å (D0 and alpha shared and fixed). With only r0 fitted, the energy loss is
lowest at 2.5, the force loss at 2.7, each rising away from its minimum: the Pareto set is the
interval [2.5, 2.7] and nothing outside it."""

from __future__ import annotations

import random
import subprocess
import sys
import tomllib
from pathlib import Path

import numpy as np
import pytest
from ase import Atoms
from ase.calculators.singlepoint import SinglePointCalculator
from helpers import ROOT, record_pids

from gafit.config import RefineConfig, parse_config
from gafit.errors import GafitInputError
from gafit.fitting import Fit
from gafit.forms.morse import Morse
from gafit.ga import GASettings
from gafit.objective import Weights
from gafit.pareto import (
    check_settings,
    front_csv,
    knee_index,
    nondominated,
    pick_member,
    read_front,
    reference_points,
    run_nsga,
)
from gafit.potential import Potential
from gafit.potential_files import load_potential

D0, ALPHA, R0_E, R0_F = 0.8, 1.6, 2.5, 2.7


def morse_de_dr(r: float, r0: float) -> tuple[float, float]:
    """Energy (eV) and dE/dr (eV/Å) of the Morse pair at distance r."""
    e1, e2 = np.exp(-ALPHA * (r - r0)), np.exp(-2 * ALPHA * (r - r0))
    return D0 * (e2 - 2 * e1), D0 * (-2 * ALPHA * e2 + 2 * ALPHA * e1)


def inconsistent_dimers() -> list[Atoms]:
    """Dimers with energies of r0 = 2.5 Å and forces of r0 = 2.7 Å."""
    out = []
    for r in np.linspace(2.1, 3.6, 9):
        a = Atoms("Cu2", positions=[[5, 5, 5], [5 + r, 5, 5]], cell=[20, 20, 20], pbc=False)
        e, _ = morse_de_dr(r, R0_E)
        _, de = morse_de_dr(r, R0_F)
        forces = np.array([[de, 0, 0], [-de, 0, 0]])
        a.calc = SinglePointCalculator(a, energy=e, forces=forces)
        out.append(a)
    return out


def dimer_fit(seed: int = 1, generations: int = 6, population: int = 12,
              refine: RefineConfig | None = None) -> Fit:
    ga = GASettings(population=population, generations=generations, seed=seed, mode="pareto",
                    objectives=["energy", "forces"])
    params = {"Cu-Cu.D0": D0, "Cu-Cu.alpha": ALPHA, "Cu-Cu.r0": [2.0, 3.2], "Cu.E0": 0.0}
    return Fit(Potential(["Cu"], [Morse(["Cu"], 8.0)]), inconsistent_dimers(), params,
               weights=Weights(energy=1.0, forces=1.0, stress=0.0), ga=ga, refine=refine,
               check_data=False)


@pytest.fixture(scope="module")
def dimer_run(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("front")
    dimer_fit().run(out, quiet=True)
    return out


def test_the_refined_front_is_the_known_interval(dimer_run: Path) -> None:
    rows = read_front(dimer_run / "front.csv")
    r0 = np.array([row["Cu-Cu.r0"] for row in rows])
    assert len(rows) >= 3
    assert np.all(r0 >= R0_E - 1e-6) and np.all(r0 <= R0_F + 1e-6)
    # the ends of the front, refined on their own objective, reach the single-objective optima
    assert r0.min() == pytest.approx(R0_E, abs=1e-4)
    assert r0.max() == pytest.approx(R0_F, abs=1e-4)
    f = np.array([[row["objective:energy"], row["objective:forces"]] for row in rows])
    assert nondominated(f).all()
    assert sum(row["knee"] for row in rows) == 1


def test_run_folder_has_members_plot_and_the_knee_as_result(dimer_run: Path) -> None:
    rows = read_front(dimer_run / "front.csv")
    knee = next(row for row in rows if row["knee"])
    for row in rows:
        member = dimer_run / "front" / f"member_{row['member']:02d}"
        pot = load_potential(member / "potential.json")
        assert pot.named_values()["Cu-Cu.r0"] == pytest.approx(row["Cu-Cu.r0"], rel=1e-12)
        assert (member / "lammps" / "pair.lmp").is_file()
    top = load_potential(dimer_run / "potential.json")
    assert top.named_values()["Cu-Cu.r0"] == pytest.approx(knee["Cu-Cu.r0"], rel=1e-12)
    assert (dimer_run / "front.png").stat().st_size > 1000


def test_an_earlier_front_counts_as_an_earlier_fit(dimer_run: Path, tmp_path: Path) -> None:
    """Before, front.csv and front/member_NN/ were not part of an earlier fit: --overwrite left them,
    so a new run's folder kept members of the old front."""
    import shutil

    from gafit.fit_result import prepare_run_folder

    out = tmp_path / "run"
    shutil.copytree(dimer_run, out)
    (out / "notes.txt").write_text("mine")
    with pytest.raises(GafitInputError, match="holds an earlier fit"):
        prepare_run_folder(out, [])
    for name in ("potential.json", "log.csv", "parameters.csv", "summary.json"):
        (out / name).unlink()  # only the front is left: still an earlier fit
    with pytest.raises(GafitInputError, match="front"):
        prepare_run_folder(out, [])
    prepare_run_folder(out, [], overwrite=True)
    assert sorted(p.name for p in out.iterdir()) == ["notes.txt"]


def test_front_csv_round_trip(dimer_run: Path) -> None:
    rows = read_front(dimer_run / "front.csv")
    assert read_front_text(front_csv(rows), dimer_run) == rows


def read_front_text(text: str, folder: Path) -> list[dict]:
    path = folder / "again.csv"
    path.write_text(text)
    return read_front(path)


def test_a_seed_decides_the_front() -> None:
    def front(seed: int) -> np.ndarray:
        fit = dimer_fit(seed=seed, generations=3, population=8)
        fit.config.refine.enabled = False
        return np.array([row for row in _front(fit)])

    a, b, c = front(4), front(4), front(5)
    np.testing.assert_array_equal(a, b)
    assert a.shape != c.shape or not np.array_equal(a, c)


def _front(fit: Fit) -> list[float]:
    import tempfile

    with tempfile.TemporaryDirectory() as tmp:
        fit.run(tmp, quiet=True)
        return [row["Cu-Cu.r0"] for row in read_front(Path(tmp) / "front.csv")]


def test_nsga_finds_the_segment_between_two_optima_and_leaves_the_generators_alone() -> None:
    """f1 = |u - a|², f2 = |u - b|²: the Pareto set is the segment a-b, the front
    f2 = (L - sqrt(f1))² with L = |b - a|."""
    a, b = np.array([0.2, 0.3, 0.4]), np.array([0.7, 0.6, 0.5])
    length2 = float(((b - a) ** 2).sum())

    def values(u: np.ndarray) -> np.ndarray:
        return np.stack([((u - a) ** 2).sum(1), ((u - b) ** 2).sum(1)], axis=1)

    def gaps(f: np.ndarray) -> np.ndarray:
        """Height of each point above the true front, in units of L²."""
        return (f[:, 1] - (np.sqrt(length2) - np.sqrt(np.minimum(f[:, 0], length2))) ** 2) / length2

    random.seed(11)
    np.random.seed(11)
    before = (random.random(), np.random.random())
    random.seed(11)
    np.random.seed(11)
    settings = GASettings(population=40, generations=60, seed=2)
    res = run_nsga(values, 3, 2, settings)
    assert (random.random(), np.random.random()) == before
    f = res.pop_f[nondominated(res.pop_f)]
    start = run_nsga(values, 3, 2, GASettings(population=40, generations=0, seed=2))
    assert len(f) >= 30
    assert np.median(gaps(f)) < 0.01 and gaps(f).max() < 0.1
    assert np.median(gaps(f)) < 0.1 * np.median(gaps(start.pop_f))
    # spread along the whole front: both ends within 1 % of L² of the single-objective optima
    assert f[:, 0].min() < 0.01 * length2 and f[:, 1].min() < 0.01 * length2
    assert res.algorithm == "NSGA-II"
    again = run_nsga(values, 3, 2, settings)
    np.testing.assert_array_equal(again.pop_u, res.pop_u)


def test_three_objectives_use_nsga3_on_reference_points() -> None:
    """Squared distances to three points: the Pareto set is their triangle; a point at height h
    above its plane is dominated by its projection (every objective lower by h²)."""
    c = np.eye(3) * 0.8 + 0.1
    normal = np.cross(c[1] - c[0], c[2] - c[0])
    normal /= np.linalg.norm(normal)

    def values(u: np.ndarray) -> np.ndarray:
        return np.stack([((u - ck) ** 2).sum(1) for ck in c], axis=1)

    def median_height(generations: int) -> float:
        res = run_nsga(values, 3, 3, GASettings(population=48, generations=generations, seed=3))
        assert res.algorithm == "NSGA-III"
        first = res.pop_u[nondominated(res.pop_f)]
        return float(np.median(np.abs((first - c[0]) @ normal)))

    assert median_height(100) < 0.5 * median_height(0)
    assert len(reference_points(3, 48)) <= 48 < len(reference_points(3, 49 + 100))
    settings = GASettings(population=24, generations=10, seed=3)
    np.testing.assert_array_equal(run_nsga(values, 3, 3, settings).pop_f,
                                  run_nsga(values, 3, 3, settings).pop_f)


def test_nondominated_and_knee() -> None:
    f = np.array([[0.0, 1.0], [0.1, 0.3], [0.5, 0.5], [1.0, 0.0], [0.1, 0.3]])
    assert nondominated(f).tolist() == [True, True, False, True, False]
    assert knee_index(f[[0, 1, 3]]) == 1  # farthest below the line between the extremes


def rows_of(f: np.ndarray, rmse_forces: list[float]) -> list[dict]:
    return [{"member": i + 1, "knee": 0, "objective:forces": fi[0], "objective:phonons": fi[1],
             "rmse:forces": rf, "rmse:phonons": np.sqrt(fi[1])}
            for i, (fi, rf) in enumerate(zip(f, rmse_forces, strict=True))]


def test_pick_by_limits_then_knee() -> None:
    f = np.array([[0.01, 1.0], [0.02, 0.3], [0.04, 0.2], [0.09, 0.18], [0.2, 0.01]])
    rows = rows_of(f, [0.1, 0.14, 0.2, 0.3, 0.45])
    assert pick_member(rows) == knee_index(f)
    # members 1 and 2 meet forces <= 0.15; of them member 2 has the lower normalised sum
    assert pick_member(rows, {"forces": 0.15}) == 1
    assert pick_member(rows, {"forces": 0.1}) == 0
    with pytest.raises(GafitInputError, match="no member .* meets it"):
        pick_member(rows, {"forces": 0.05})
    with pytest.raises(GafitInputError, match="no group 'stress'"):
        pick_member(rows, {"stress": 1.0})


def test_gafit_pick_cli_writes_a_normal_result(dimer_run: Path, tmp_path: Path) -> None:
    rows = read_front(dimer_run / "front.csv")
    limit = sorted(row["rmse:forces"] for row in rows)[1]  # two members meet it
    out = tmp_path / "picked"
    cmd = [sys.executable, "-m", "gafit.cli", "pick", str(dimer_run), "--max",
           f"forces={limit!r}", "--out", str(out)]
    done = subprocess.run(cmd, capture_output=True, text=True)
    assert done.returncode == 0, done.stderr
    kept = [r for r in rows if r["rmse:forces"] <= limit]
    f_all = np.array([[r["objective:energy"], r["objective:forces"]] for r in rows])
    mask = np.array([r["rmse:forces"] <= limit for r in rows])
    want = rows[knee_index(f_all, mask)]
    assert len(kept) == 2
    assert load_potential(out / "potential.json").named_values()["Cu-Cu.r0"] == pytest.approx(
        want["Cu-Cu.r0"], rel=1e-12)
    summary = tomllib_json(out / "summary.json")
    assert summary["picked"]["member"] == want["member"]
    knee = tmp_path / "knee"
    done = subprocess.run([sys.executable, "-m", "gafit.cli", "pick", str(dimer_run), "--knee",
                           "--out", str(knee)], capture_output=True, text=True)
    assert done.returncode == 0, done.stderr
    assert tomllib_json(knee / "summary.json")["picked"]["member"] == next(
        r["member"] for r in rows if r["knee"])
    bad = subprocess.run([sys.executable, "-m", "gafit.cli", "pick", str(dimer_run), "--max",
                          "forces=1e-9", "--out", str(tmp_path / "none")],
                         capture_output=True, text=True)
    assert bad.returncode == 2
    assert bad.stderr.startswith("gafit: error: --max forces=1e-09: no member")
    assert len(bad.stderr.strip().splitlines()) == 1


def tomllib_json(path: Path) -> dict:
    import json

    return json.loads(path.read_text())


@pytest.mark.parametrize(("ga", "message"), [
    ({"mode": "front"}, "mode = 'front': expected one of"),
    ({"objectives": ["forces", "energy"]}, "objectives needs mode = \"pareto\""),
    ({"front_size": 5}, "front_size needs mode = \"pareto\""),
    ({"mode": "pareto", "objectives": ["forces", "energy"], "front_size": -1}, "front_size"),
    ({"mode": "pareto", "objectives": ["forces"]}, "at least two objectives"),
    ({"mode": "pareto", "objectives": ["forces", "phonon"]}, "unknown group 'phonon'"),
    ({"mode": "pareto", "objectives": ["forces", "energy+forces"]}, "group 'forces' is in two"),
    ({"front_gap": 0.1}, "front_gap needs mode = \"pareto\""),
    ({"mode": "pareto", "objectives": ["forces", "energy", "stress"], "front_gap": 0.1},
     "front_gap needs two objectives"),
    ({"mode": "pareto", "objectives": ["forces", "energy"], "front_gap": -0.1}, "front_gap"),
    ({"mode": "pareto", "objectives": ["forces", "energy"], "memetic_every": 2},
     "memetic_every is not supported with mode = \"pareto\""),
])
def test_bad_pareto_settings_are_one_line_errors(ga: dict, message: str) -> None:
    table = tomllib.loads((ROOT / "examples" / "cu_morse.toml").read_text())
    table["data"]["train"] = str(ROOT / "data" / "Cu_EMT.extxyz")
    table["ga"] = ga
    with pytest.raises(GafitInputError, match=message.replace("(", r"\(")) as err:
        parse_config(table, Path("x.toml"))
    assert "\n" not in str(err.value) and str(err.value).startswith("x.toml: [ga]")


def test_an_objective_the_loss_lacks_is_an_error() -> None:
    fit = dimer_fit()
    fit.config.ga.objectives = ["energy", "phonons"]
    with pytest.raises(GafitInputError, match="'phonons' is not a term of this fit's loss"):
        fit.run(None, quiet=True)


def test_check_settings_accepts_a_sum_of_groups() -> None:
    check_settings(GASettings(mode="pareto", objectives=["energy+forces+stress", "phonons"]), "x")


def test_the_report_shows_the_front(dimer_run: Path, tmp_path: Path) -> None:
    import shutil

    from gafit.report import write_report

    run = tmp_path / "run"
    shutil.copytree(dimer_run, run)
    page = write_report(run).read_text(encoding="utf-8")
    assert 'id="front"' in page and 'src="front.png"' in page
    assert (run / "report" / "front.png").stat().st_size > 1000
    assert "could not be made" not in page


def test_a_signal_stops_the_run_without_writing(tmp_path: Path) -> None:
    from gafit.fitting import FitInterrupted

    asked = []

    def stop() -> str | None:
        asked.append(1)
        return "SIGINT" if len(asked) > 2 else None

    with pytest.raises(FitInterrupted) as err:
        dimer_fit().run(tmp_path / "run", quiet=True, should_stop=stop)
    assert err.value.signal == "SIGINT"
    assert not (tmp_path / "run" / "front.csv").exists()


def test_a_member_is_refined_to_the_optimum_of_its_own_weighted_sum() -> None:
    """w = 1/f(start), normalised; the refined r0 is where a fine scan puts the minimum of
    w1 f1 + w2 f2."""
    from gafit.pareto import Split, refine_member, scalarisation

    fit = dimer_fit()
    split = Split(fit.objective, ["energy", "forces"])
    u0 = fit.cube.u(np.array([2.9]))
    f0 = split.values(fit.cube.x(u0)[None])[0]
    w = scalarisation(f0)
    np.testing.assert_allclose(w, (1 / f0) / (1 / f0).sum())
    member = refine_member(split, fit.cube, u0, f0, 100, "auto", None)
    np.testing.assert_array_equal(member.weights, w)
    r0 = np.linspace(2.4, 2.8, 4001)[:, None]
    scan = split.values(r0) @ w
    assert member.x[0] == pytest.approx(r0[np.argmin(scan), 0], abs=2e-4)
    assert R0_E < member.x[0] < R0_F
    assert member.f @ w <= f0 @ w


def test_refine_method_reaches_the_members_refinement(tmp_path: Path, monkeypatch) -> None:
    """``[refine] method = "lm"`` refines a front's members with gafit's Levenberg-Marquardt
    (scipy's trf is never called), to the same optimum of the member's weighted sum."""
    import gafit.refine
    from gafit.pareto import Split, refine_member

    fit = dimer_fit()
    split = Split(fit.objective, ["energy", "forces"])
    u0 = fit.cube.u(np.array([2.9]))
    f0 = split.values(fit.cube.x(u0)[None])[0]
    trf = refine_member(split, fit.cube, u0, f0, 100, "auto", None)
    lm_calls = []
    real_lm = gafit.refine.levenberg_marquardt

    def counted(*args, **kwargs):
        lm_calls.append(1)
        return real_lm(*args, **kwargs)

    def no_trf(*args, **kwargs):
        raise AssertionError("trf called")

    monkeypatch.setattr(gafit.refine, "levenberg_marquardt", counted)
    monkeypatch.setattr(gafit.refine, "least_squares", no_trf)
    lm = refine_member(split, fit.cube, u0, f0, 100, "auto", None, method="lm")
    assert lm_calls
    assert lm.x[0] == pytest.approx(trf.x[0], abs=2e-4)
    lm_calls.clear()  # and a whole front, each member refined by lm
    dimer_fit(refine=RefineConfig(method="lm")).run(tmp_path / "run", quiet=True)
    rows = read_front(tmp_path / "run" / "front.csv")
    assert len(lm_calls) >= len(rows) >= 3
    r0 = np.array([row["Cu-Cu.r0"] for row in rows])
    assert r0.min() == pytest.approx(R0_E, abs=1e-4) and r0.max() == pytest.approx(R0_F, abs=1e-4)


def test_front_size_refines_members_spread_along_the_front(tmp_path: Path) -> None:
    from gafit.pareto import spread

    f = np.array([[3.0, 0.1], [0.0, 1.0], [1.0, 0.5], [2.0, 0.2], [4.0, 0.0]])
    assert spread(f, 3).tolist() == [1, 3, 4]
    assert spread(f, 0).tolist() == [1, 2, 3, 0, 4] == spread(f, 9).tolist()
    fit = dimer_fit()
    fit.config.ga.front_size = 3
    fit.run(tmp_path, quiet=True)
    info = tomllib_json(tmp_path / "front.json")
    assert info["refined"] == 3 < info["ga_front_size"]
    assert len(read_front(tmp_path / "front.csv")) <= 3


def test_workers_give_the_same_front(tmp_path: Path) -> None:
    def front(workers: int) -> str:
        fit = dimer_fit(generations=3, population=8)
        fit.config.ga.workers = workers
        fit.config.refine.enabled = False
        fit.run(tmp_path / str(workers), quiet=True)
        return (tmp_path / str(workers) / "front.csv").read_text()

    assert front(2) == front(1)


def test_members_are_refined_on_the_workers_with_the_serial_front(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """With [ga] workers each front member's least squares runs in a worker process, and the
    front is the one a single process refines."""
    import os

    import gafit.pareto_fit

    pids = tmp_path / "pids"
    record_pids(monkeypatch, gafit.pareto_fit, "refine_member", pids)

    def front(workers: int) -> str:
        fit = dimer_fit(generations=3, population=8)
        fit.config.ga.workers = workers
        fit.run(tmp_path / str(workers), quiet=True)
        return (tmp_path / str(workers) / "front.csv").read_text()

    serial = front(1)
    assert set(pids.read_text().split()) == {str(os.getpid())}
    pids.unlink()
    assert front(2) == serial
    ran_in = set(pids.read_text().split())
    assert ran_in and str(os.getpid()) not in ran_in


def test_the_ends_of_the_front_are_refined_on_their_own_objective() -> None:
    from gafit.pareto import ANCHOR_TIE, member_weights, scalarisation

    f = np.array([[1.0, 4.0], [2.0, 2.0], [4.0, 1.0]])
    w = member_weights(f)
    np.testing.assert_allclose(w[0], np.array([1.0, ANCHOR_TIE]) / (1 + ANCHOR_TIE))
    np.testing.assert_allclose(w[2], np.array([ANCHOR_TIE, 1.0]) / (1 + ANCHOR_TIE))
    np.testing.assert_array_equal(w[1], scalarisation(f[1]))
    np.testing.assert_array_equal(member_weights(f[:1]), [scalarisation(f[0])])


def test_no_finite_candidate_is_a_one_line_error(monkeypatch: pytest.MonkeyPatch) -> None:
    from gafit.pareto import Split

    monkeypatch.setattr(Split, "values",
                        lambda self, x: np.full((len(np.atleast_2d(x)), len(self.names)), np.inf))
    with pytest.raises(GafitInputError, match="no candidate of the final population has finite"):
        dimer_fit(generations=1, population=4).run(None, quiet=True)


# --- resume (checkpoint of NSGA's state) -------------------------------------------------------

def cu_pareto_table(generations: int) -> dict:
    """examples/cu_morse.toml as a short pareto fit between energy and forces (a config: it
    writes a checkpoint and can be resumed)."""
    table = tomllib.loads((ROOT / "examples" / "cu_morse.toml").read_text())
    table["data"] = {"train": str(ROOT / "data" / "Cu_EMT.extxyz")}
    table["ga"] = {"population": 12, "generations": generations, "seed": 3, "mode": "pareto",
                   "objectives": ["energy", "forces"]}
    table["refine"] = {"max_evaluations": 20}
    return table


@pytest.fixture(scope="module")
def cu_whole(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The uninterrupted pareto run of 5 generations."""
    out = tmp_path_factory.mktemp("cu_whole")
    Fit.from_config(cu_pareto_table(5)).run(out, quiet=True)
    return out


def without_time(log: Path) -> list[list[str]]:
    rows = [line.split(",") for line in log.read_text().splitlines()]
    k = rows[0].index("elapsed_s")
    return [r[:k] + r[k + 1:] for r in rows]


def test_a_stopped_pareto_run_resumes_to_the_uninterrupted_front(cu_whole: Path,
                                                                  tmp_path: Path) -> None:
    """Before, Fit.resume of a pareto run was an error (no checkpoint was written)."""
    from gafit.checkpoint import load_checkpoint
    from gafit.fitting import FitInterrupted
    from gafit.pareto import NSGAState

    asked = []

    def stop_after_two() -> str | None:  # asked once per generation by NSGA, then elsewhere
        asked.append(1)
        return "SIGINT" if len(asked) > 3 else None

    run = tmp_path / "run"
    with pytest.raises(FitInterrupted) as err:
        Fit.from_config(cu_pareto_table(5)).run(run, quiet=True, should_stop=stop_after_two)
    saved = load_checkpoint(run)
    assert isinstance(saved.state, NSGAState)
    assert err.value.generation == saved.state.generation == 2
    assert not (run / "front.csv").exists()
    Fit.resume(run).run(quiet=True)
    assert (run / "front.csv").read_text() == (cu_whole / "front.csv").read_text()
    assert without_time(run / "log.csv") == without_time(cu_whole / "log.csv")
    for member in sorted((cu_whole / "front").glob("member_*")):
        assert (run / "front" / member.name / "potential.json").is_file()


def test_an_extended_pareto_run_with_workers_is_the_longer_run(cu_whole: Path,
                                                               tmp_path: Path) -> None:
    """3 generations, then `gafit fit --resume --generations 2 --workers 2` give the front of 5;
    member folders of the shorter run's front beyond the new front's are removed."""
    import shutil

    text = (ROOT / "examples" / "cu_morse.toml").read_text()
    text = text.replace('"../data/Cu_EMT.extxyz"', repr(str(ROOT / "data" / "Cu_EMT.extxyz")))
    ga = text.index("[ga]")
    cfg = tmp_path / "fit.toml"
    cfg.write_text(text[:ga] + '[ga]\npopulation = 12\ngenerations = 3\nseed = 3\nmode = "pareto"\n'
                   'objectives = ["energy", "forces"]\n[refine]\nmax_evaluations = 20\n')
    assert Fit.from_config(cfg).config.ga == Fit.from_config(cu_pareto_table(3)).config.ga
    run = tmp_path / "run"
    cli = [sys.executable, "-m", "gafit.cli", "fit"]
    done = subprocess.run([*cli, str(cfg), "--out", str(run), "--quiet", "--no-report"],
                          capture_output=True, text=True)
    assert done.returncode == 0, done.stderr
    shutil.copytree(run / "front" / "member_01", run / "front" / "member_99")  # a stale member
    done = subprocess.run([*cli, "--resume", str(run), "--generations", "2", "--workers", "2",
                           "--quiet", "--no-report"], capture_output=True, text=True)
    assert done.returncode == 0, done.stderr
    assert (run / "front.csv").read_text() == (cu_whole / "front.csv").read_text()
    members = sorted(p.name for p in (run / "front").iterdir())
    assert members == sorted(p.name for p in (cu_whole / "front").iterdir())


@pytest.mark.parametrize("k", [2, 3])
def test_nsga_resumed_from_a_state_continues_exactly(k: int) -> None:
    """NSGA-II (its tournaments read the crowding distances of the last selection, which a new
    selection over the population alone would change) and NSGA-III."""
    centres = np.eye(3)[:k] * 0.8 + 0.1

    def values(u: np.ndarray) -> np.ndarray:
        return np.stack([((u - c) ** 2).sum(1) for c in centres], axis=1)

    states = []
    whole = run_nsga(values, 3, k, GASettings(population=16, generations=6, seed=5),
                     checkpoint=states.append)
    assert [s.generation for s in states] == list(range(7))
    third = states[3]
    again = run_nsga(values, 3, k, GASettings(population=16, generations=6, seed=5),
                     resume=third)
    np.testing.assert_array_equal(again.pop_u, whole.pop_u)
    np.testing.assert_array_equal(again.pop_f, whole.pop_f)
    assert (again.generations, again.evaluations) == (whole.generations, whole.evaluations)
    np.testing.assert_array_equal(again.reference, whole.reference)


def test_a_checkpoint_of_nsga_round_trips_and_must_match_the_mode(tmp_path: Path) -> None:
    from gafit.checkpoint import Checkpoint, checkpoint_bytes, parse_checkpoint

    fit = Fit.from_config(cu_pareto_table(1))
    states = []
    run_nsga(lambda u: np.stack([(u ** 2).sum(1), ((1 - u) ** 2).sum(1)], axis=1), 3, 2,
             GASettings(population=8, generations=1, seed=1), checkpoint=states.append)
    blob = checkpoint_bytes(Checkpoint(fit.config, states[-1], [{"generation": 1}], []))
    back = parse_checkpoint(blob, tmp_path / "checkpoint.npz")
    for name in ("pop_u", "pop_f", "crowding", "reference"):
        np.testing.assert_array_equal(getattr(back.state, name), getattr(states[-1], name))
    assert back.state.rng_state == states[-1].rng_state
    assert back.config.ga.objectives == ["energy", "forces"]
    scalar = Fit.from_config(tomllib.loads((ROOT / "examples" / "cu_morse.toml").read_text())
                             | {"data": {"train": str(ROOT / "data" / "Cu_EMT.extxyz")}})
    blob = checkpoint_bytes(Checkpoint(scalar.config, states[-1], [], []))
    with pytest.raises(GafitInputError, match="damaged checkpoint .*NSGA state with .*'scalar'"):
        parse_checkpoint(blob, tmp_path / "checkpoint.npz")


# --- convergence log and its plot -----------------------------------------------------------------

def test_log_hypervolume_by_hand() -> None:
    """In log10: (-2, 0) and (-1, -1) against (1, 1): 1 x 1 + 2 x 2 = 5 decades²; a dominated
    point and one beyond the reference add nothing."""
    from gafit.pareto import log_hypervolume

    f = np.array([[1e-2, 1.0], [1e-1, 1e-1]])
    ref = np.array([10.0, 10.0])
    assert log_hypervolume(f, ref) == pytest.approx(5.0, rel=1e-12)
    more = np.vstack([f, [[1.0, 1.0], [1e-3, 100.0], [np.inf, 1e-9]]])
    assert log_hypervolume(more, ref) == pytest.approx(5.0, rel=1e-12)


def test_the_pareto_log_has_each_generations_best_objectives_and_hypervolume(
        cu_whole: Path) -> None:
    from gafit.fit_result import _log_rows
    from gafit.pareto import log_hypervolume

    rows = _log_rows((cu_whole / "log.csv").read_text())
    assert [r["generation"] for r in rows] == list(range(6))
    for name in ("energy", "forces"):
        best = [r[f"best:{name}"] for r in rows]
        assert all(b <= a for a, b in zip(best, best[1:], strict=False))  # elitist: never worse
    assert rows[-1]["hypervolume"] > rows[0]["hypervolume"]
    # the last row is the final population's first front (front.json's GA front: front_size 0)
    info = tomllib_json(cu_whole / "front.json")
    ga_f = np.array(info["ga_front"])
    assert rows[-1]["first_front"] == len(ga_f)
    assert [rows[-1]["best:energy"], rows[-1]["best:forces"]] == ga_f.min(axis=0).tolist()
    assert rows[-1]["hypervolume"] == pytest.approx(
        log_hypervolume(ga_f, np.array(info["hypervolume_reference"])), rel=1e-12)
    assert rows[-1]["hypervolume"] > 0


def test_the_report_shows_a_pareto_runs_convergence(cu_whole: Path, tmp_path: Path) -> None:
    """Before, the convergence section of a pareto run said that the GA ran no generations."""
    import shutil

    from gafit.report import write_report

    run = tmp_path / "run"
    shutil.copytree(cu_whole, run)
    page = write_report(run).read_text(encoding="utf-8")
    section = page[page.index('id="convergence"'):page.index('id="parameters"')]
    assert "ran no generations" not in section and "could not be made" not in section
    assert 'src="convergence.png"' in section and "hypervolume" in section
    assert (run / "report" / "convergence.png").stat().st_size > 1000


# --- front_gap: members refined in the gaps of a two-objective front -----------------------------

def test_fill_gaps_closes_the_gaps_of_a_convex_front_and_leaves_a_concave_one() -> None:
    """A front made of a convex arc f2 = (1 - sqrt(f1))² (f1 in [0, 0.25]) and, beyond a concave
    dent, the point (1, 0): ``refine_at`` returns the exact optimum of the weighted sum over that
    front. Gaps on the arc close to the tolerance; the gap to (1, 0) has no supported point inside
    and is tried once."""
    from gafit.pareto import Member, fill_gaps, relative_gap, segment_weights

    t = np.linspace(0.0, 0.5, 20001)
    curve = np.vstack([np.stack([t ** 2, (1 - t) ** 2], axis=1), [[1.0, 0.0]]])
    calls = []

    def refine_at(start: Member, w: np.ndarray) -> Member:
        f = curve[np.argmin(curve @ w)]
        calls.append(w)
        return Member(start.u, start.x, f, w, start.f, 1)

    def member(f: list[float], w: list[float]) -> Member:
        return Member(np.zeros(1), np.zeros(1), np.array(f), np.array(w), np.array(f), 0)

    ends = [member([0.0025, 0.9025], [0.9, 0.1]), member([0.25, 0.25], [0.5, 0.5]),
            member([1.0, 0.0], [1e-6, 1.0])]
    out = fill_gaps(ends, 0.2, 50, refine_at)
    f = np.array(sorted(tuple(m.f) for m in out))
    arc = f[f[:, 0] <= 0.25]
    assert all(relative_gap(a, b) <= 0.2 for a, b in zip(arc, arc[1:], strict=False))
    assert len(calls) < 50  # it stopped: the gap before (1, 0) was tried once
    w_dent = segment_weights(np.array([0.25, 0.25]), np.array([1.0, 0.0]))
    assert sum(np.allclose(w, w_dent) for w in calls) == 1
    # each new member lies on its segment's supporting line: the optimum of those weights
    for m in out[3:]:
        assert m.f @ m.weights == pytest.approx(float(np.min(curve @ m.weights)), abs=1e-15)


def test_front_gap_refines_members_between_neighbours(tmp_path: Path) -> None:
    """The dimer front with 3 members refined from the GA and front_gap: the added members lie
    between their neighbours, each at the optimum of its own weighted sum (a fine scan)."""
    from gafit.pareto import Split

    fit = dimer_fit()
    fit.config.ga.front_size = 3
    fit.config.ga.front_gap = 0.3
    fit.run(tmp_path, quiet=True)
    info = tomllib_json(tmp_path / "front.json")
    assert info["refined"] == 3 and 1 <= info["refined_in_gaps"] <= 3
    rows = read_front(tmp_path / "front.csv")
    assert len(rows) > 3
    r0 = np.array([row["Cu-Cu.r0"] for row in rows])
    assert np.all(np.diff(r0) > 0) and r0[0] >= R0_E - 1e-6 and r0[-1] <= R0_F + 1e-6
    split = Split(fit.objective, ["energy", "forces"])
    scan = np.linspace(2.4, 2.8, 4001)[:, None]
    values = split.values(scan)
    # a member refined in a gap starts from a refined neighbour, not from the GA's front
    added = [m for m in info["members"] if m["start"] not in info["ga_front"]]
    assert added
    for m in added:
        w = np.array(m["weights"])
        assert r0[m["member"] - 1] == pytest.approx(float(scan[np.argmin(values @ w), 0]),
                                                    abs=2e-4)
