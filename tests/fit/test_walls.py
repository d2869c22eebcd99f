"""Short-range safety (gafit.walls): where each pair channel's repulsive wall ends, against
independent bisection on the analytic derivative, the forms' own energies and the data's distances."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from ase import Atoms
from ase.neighborlist import neighbor_list
from helpers import ROOT, shared_file

from gafit.cli import main
from gafit.config import load_config
from gafit.evaluate import evaluate_potential
from gafit.fit_data import read_data
from gafit.fitting import Fit
from gafit.forms.buckingham import Buckingham
from gafit.forms.morse import Morse
from gafit.io import write_reference
from gafit.potential import Potential
from gafit.potential_files import load_potential, save_potential
from gafit.report import _wall_notes
from gafit.structures import ReferenceSet, Structure
from gafit.walls import QQR2E, unsafe_reason, walls

# BKS (van Beest, Kramer, van Santen 1990): Si-O and O-O; Si-Si has no short-range term
BKS = {"Si-Si": (0.0, 1.0, 0.0), "Si-O": (18003.7572, 0.205205, 133.5381),
       "O-O": (1388.7730, 0.362319, 175.0)}
BKS_CHARGES = {"Si": 2.4, "O": -1.2}


def buckingham(params: dict[str, tuple[float, float, float]], cutoff: float = 5.5) -> Potential:
    species = ["Si", "O"]
    pot = Potential(species, [Buckingham(species, cutoff)])
    named = {f"{ch}.{p}": v for ch, vals in params.items() for p, v in zip(("A", "rho", "C"), vals,
                                                                              strict=True)}
    return pot.with_values(np.array([named.get(n, 0.0) for n in pot.names]))


def by_channel(pot: Potential, **kw) -> dict:
    return {w.channel: w for w in walls(pot, **kw)}


def bisect(f, lo: float, hi: float) -> float:
    """Plain bisection of a sign change of f on [lo, hi]."""
    flo = f(lo)
    for _ in range(200):
        mid = 0.5 * (lo + hi)
        if (f(mid) > 0) == (flo > 0):
            lo, flo = mid, f(mid)
        else:
            hi = mid
    return 0.5 * (lo + hi)


def test_bks_parameters_are_those_of_the_shared_table() -> None:
    text = shared_file("buckingham_parameters/buckingham_parameters.yaml").read_text()
    assert "Si-O: {A: 18003.7572, rho: 0.205205, C: 133.5381" in text
    assert "charges: {Si: 2.4, O: -1.2}" in text


def test_bks_si_o_wall_ends_where_the_analytic_derivative_vanishes() -> None:
    a, rho, c = BKS["Si-O"]
    w = by_channel(buckingham(BKS))["Si-O"]

    def dedr(r: float) -> float:
        return -a / rho * np.exp(-r / rho) + 6.0 * c / r**7

    r_max = bisect(dedr, 0.5, 1.5)
    assert w.r_max == pytest.approx(r_max, abs=1e-9)
    assert w.e_max == pytest.approx(a * np.exp(-r_max / rho) - c / r_max**6, rel=1e-9)
    assert w.has_wall and w.barrier > 5.0
    # with BKS's charges the bare Coulomb attraction of the pair moves the end of the wall to 1.19 Å
    qq = QQR2E * BKS_CHARGES["Si"] * BKS_CHARGES["O"]
    r_coul = bisect(lambda r: dedr(r) - qq / r**2, 0.5, 1.5)
    assert 1.19 < r_coul < 1.20
    wq = by_channel(buckingham(BKS), charges=BKS_CHARGES)["Si-O"]
    assert wq.r_max == pytest.approx(r_coul, abs=1e-9)
    assert by_channel(buckingham(BKS))["Si-Si"].inert


def test_buckingham_without_dispersion_and_morse_have_a_wall_everywhere() -> None:
    w = by_channel(buckingham({"Si-O": (1000.0, 0.3, 0.0), "O-O": (1000.0, 0.3, 0.0)}))
    for ch in ("Si-O", "O-O"):
        assert w[ch].r_max is None and w[ch].has_wall and unsafe_reason(w[ch]) is None
    pot = Potential(["Cu"], [Morse(["Cu"], 6.0)])
    pot = pot.with_values(np.array([0.34, 1.36, 2.87, 0.0]))
    cu = by_channel(pot)["Cu-Cu"]
    assert cu.r_max is None and cu.has_wall and cu.r_well == pytest.approx(2.87, abs=1e-9)
    assert cu.e_well == pytest.approx(-0.34, rel=1e-9)


def test_a_pair_that_attracts_everywhere_has_no_wall() -> None:
    w = by_channel(buckingham({"Si-O": (1.0, 0.1, 100.0)}))["Si-O"]
    assert not w.has_wall and "no repulsive wall" in unsafe_reason(w)


def test_tersoff_dimer_energy_is_what_the_form_gives_two_atoms() -> None:
    pot = load_potential("SiC.tersoff")
    from gafit.walls import channel_energies

    channels = channel_energies(pot)
    for (a, b), (_, _, fn) in channels.items():
        for r in (1.2, 1.9, 2.6):
            dimer = ReferenceSet([Structure(Atoms(f"{a}{b}", positions=[[0, 0, 0], [r, 0, 0]],
                                                  cell=[30, 30, 30], pbc=False))])
            pred, _ = evaluate_potential(pot, dimer)
            assert fn(np.array([r]))[0][0] == pytest.approx(pred[0].energy, rel=1e-12, abs=1e-12)
    assert all(w.r_max is None and w.has_wall for w in walls(pot))


def test_sw_dimer_energy_is_what_the_form_gives_two_atoms() -> None:
    """Before, a Stillinger-Weber potential had no channel at all (no wall was ever checked)."""
    pot = load_potential("GaN.sw")
    from gafit.walls import channel_energies

    channels = channel_energies(pot)
    assert set(channels) == {("Ga", "Ga"), ("Ga", "N"), ("N", "N")}
    for (a, b), (_, _, fn) in channels.items():
        for r in (1.2, 1.9, 2.6, 3.3):
            dimer = ReferenceSet([Structure(Atoms(f"{a}{b}", positions=[[0, 0, 0], [r, 0, 0]],
                                                  cell=[30, 30, 30], pbc=False))])
            pred, _ = evaluate_potential(pot, dimer)
            assert fn(np.array([r]))[0][0] == pytest.approx(pred[0].energy, rel=1e-12, abs=1e-12)
    assert all(w.r_max is None and w.has_wall for w in walls(pot))


def _write_si_o(path: Path, r_si_o: float) -> None:
    """Two SiO2-like molecules: the shortest Si-O distance is ``r_si_o``, O-O far apart."""
    st = []
    for k, r in enumerate((r_si_o, 1.6)):
        at = Atoms("SiO2", positions=[[0, 0, 0], [r, 0, 0], [-1.6, 0.0, 0.0]],
                   cell=[12, 12, 12], pbc=False)
        st.append(Structure(at, name=f"m{k}"))
    # energies and forces from a Morse that does not matter here: check reads distances only
    pot = Potential(["Si", "O"], [Morse(["Si", "O"], 5.0)])
    pred, _ = evaluate_potential(pot, ReferenceSet(st))
    write_reference(pred, path)


@pytest.mark.parametrize("r_short, warn", [(1.0, "inside the wall's end"),
                                           (1.15, "eV above E at the data's shortest"),
                                           (1.6, None)])
def test_check_potential_warns_when_the_data_reaches_the_wall_end(
        tmp_path: Path, capsys, r_short: float, warn: str | None) -> None:
    data = tmp_path / "d.extxyz"
    _write_si_o(data, r_short)
    pot = tmp_path / "bks.json"
    save_potential(buckingham(BKS), pot)
    assert main(["check", "--potential", str(pot), str(data)]) == 0
    out = capsys.readouterr().out
    walls_warn = [ln for ln in out.splitlines() if ln.startswith("warning: Si-O: the wall ends")]
    if warn is None:
        assert not walls_warn
        assert "info: repulsive walls: " in out and "r_max = 1.098 Å" in out
    else:
        assert len(walls_warn) == 1 and warn in walls_warn[0]
        assert f"shortest Si-O distance in the data {r_short:.3f} Å" in walls_warn[0]
    # without a potential file no wall check
    assert main(["check", str(data)]) == 0
    assert "wall" not in capsys.readouterr().out


def test_fit_summary_holds_the_walls(tmp_path: Path) -> None:
    config = load_config(ROOT / "examples" / "cu_morse.toml")
    config.ga.population, config.ga.generations = 16, 3
    config.refine.enabled = False
    result = Fit.from_config(config).run(tmp_path / "run", quiet=True)
    summary = json.loads((tmp_path / "run" / "summary.json").read_text())
    (cu,) = summary["walls"]
    assert cu["channel"] == "Cu-Cu" and cu["has_wall"] and cu["r_max"] is None
    train, _ = read_data(config)
    shortest = min(neighbor_list("d", s.atoms, 3.0).min() for s in train)
    assert cu["unsafe"] is None and cu["r_short"] == pytest.approx(shortest, rel=1e-12)
    assert "repulsive walls (! = unsafe): Cu-Cu wall to" in result.summary()


def test_report_warns_of_an_unsafe_channel() -> None:
    w = walls(buckingham(BKS), ReferenceSet([Structure(Atoms(
        "SiO", positions=[[0, 0, 0], [1.0, 0, 0]], cell=[10, 10, 10], pbc=False))]))
    notes = _wall_notes([x.to_dict() for x in w])
    assert len(notes) == 1 and notes[0].level == "warning"
    assert "<code>Si-O</code>" in notes[0].text and "1.098" in notes[0].text


def test_walls_of_a_potential_with_a_coulomb_form_include_its_charges() -> None:
    """BKS as Buckingham + Coulomb (q_Si = 2.4): Si-O's wall ends where the charges put it, as with
    charges passed by hand."""
    from gafit.forms.buckingham import Buckingham
    from gafit.forms.coulomb import Coulomb
    from gafit.potential import Potential
    from gafit.walls import walls

    species = ["Si", "O"]
    pot = Potential(species, [Buckingham(species, 5.5), Coulomb(species, 10.0)])
    values = pot.named_values()
    values.update({"Si-O.A": 18003.7572, "Si-O.rho": 0.205205, "Si-O.C": 133.5381,
                   "O-O.A": 1388.7730, "O-O.rho": 0.362319, "O-O.C": 175.0,
                   "Si-Si.A": 0.0, "Si-Si.rho": 0.3, "Si-Si.C": 0.0, "Si.q": 2.4, "O.q": -1.2})
    pot = pot.with_values(np.array([values[n] for n in pot.names]))
    bare = Potential(species, [pot.forms[0]], np.r_[pot.values[pot.form_slices()[0]],
                                                    pot.values[pot.e0_slice]])
    by_form = {w.channel: w.r_max for w in walls(pot)}
    by_hand = {w.channel: w.r_max for w in walls(bare, charges={"Si": 2.4, "O": -1.2})}
    assert by_form["Si-O"] == pytest.approx(by_hand["Si-O"], abs=1e-9)
    assert 1.19 < by_form["Si-O"] < 1.20


# ---------------------------------------------------------------------------- the wall constraint

#: a Buckingham "truth" whose wall ends at r_max = 1.81 Å (C large), its well at 2.89 Å
TRUTH = (3000.0, 0.33, 400.0)


def _write_no_wall_data(path: Path) -> float:
    """fcc cells (nearest neighbours 2.0-2.9 Å, rattled) with energies, forces and stresses of
    TRUTH, whose wall ends above 0.8 x their shortest distance; returns that distance (Å)."""
    from ase.build import bulk

    rng = np.random.default_rng(5)
    cells = []
    for k, nn in enumerate((2.9, 2.75, 2.6, 2.45, 2.3, 2.9, 2.6, 2.35)):
        at = bulk("Ar", "fcc", a=nn * np.sqrt(2), cubic=True)
        at.set_cell(at.cell @ (np.eye(3) + rng.normal(0, 0.02, (3, 3))), scale_atoms=True)
        at.rattle(0.06, seed=k)
        cells.append(Structure(at, name=f"c{k}"))
    pot = Potential(["Ar"], [Buckingham(["Ar"], 5.0)], np.array([*TRUTH, 0.0]))
    pred, _ = evaluate_potential(pot, ReferenceSet(cells))
    write_reference(pred, path)
    from gafit.io import read_reference

    return min(neighbor_list("d", s.atoms, 3.0).min() for s in read_reference(path))


def _no_wall_config(tmp_path: Path, wall: object) -> tuple[dict, Path]:
    data = tmp_path / "ar.extxyz"
    r_short = _write_no_wall_data(data)
    table = {"data": {"train": str(data)},
             "potential": {"form": "buckingham", "cutoff": 5.0, "parameters": {
                 "Ar-Ar.A": [500.0, 20000.0], "Ar-Ar.rho": [0.2, 0.45], "Ar-Ar.C": [0.0, 800.0]}},
             "weights": {"energy": 1.0, "forces": 1.0, "stress": 0.0},
             "ga": {"population": 40, "generations": 25, "seed": 3},
             "refine": {"starts": 2, "max_evaluations": 100},
             "constraints": {"wall": wall}}
    return table, r_short


def _no_wall_problem(tmp_path: Path) -> tuple:
    """(space, train, potential, plain objective, objective with the "data" wall constraint) of the
    no-wall Buckingham data."""
    from gafit.config import parse_config
    from gafit.fit_data import build_potential, read_data
    from gafit.objective import Objective
    from gafit.parameters import build_space
    from gafit.walls import wall_constraint

    table, _ = _no_wall_config(tmp_path, "data")
    config = parse_config(table)
    train, _ = read_data(config)
    pot = build_potential(config, train)
    space = build_space(pot, config.potential.parameters)
    plain = Objective(pot, space, train, config.weights)
    held = Objective(pot, space, train, config.weights, constraint=wall_constraint(pot, train, "data"))
    return space, train, pot, plain, held


@pytest.mark.parametrize("wall", ["data", 1.6])
def test_wall_constraint_gives_the_fit_a_wall_the_data_alone_does_not(tmp_path: Path,
                                                                       wall: object) -> None:
    from gafit.config import parse_config
    from gafit.walls import WALL_FRACTION

    table, r_short = _no_wall_config(tmp_path, "off")
    r_from = WALL_FRACTION * r_short if wall == "data" else wall
    assert 1.81 > r_from  # the truth's wall ends above the distance the constraint names
    free = Fit.from_config(parse_config(table)).run(tmp_path / "free", quiet=True)
    (w_free,) = free.walls
    assert free.wall_constraint is None
    assert w_free.r_max is not None and w_free.r_max > r_from  # the data alone: no wall there
    table["constraints"]["wall"] = wall
    held = Fit.from_config(parse_config(table)).run(tmp_path / "held", quiet=True)
    (w_held,) = held.walls
    # the constrained optimum lies on the constraint's boundary: the wall ends at r_from (to the
    # 1e-12 Å of walls.py's root finding), not above it
    assert w_held.r_max is None or w_held.r_max <= r_from + 1e-9
    summary = json.loads((tmp_path / "held" / "summary.json").read_text())
    (row,) = summary["wall_constraint"]["channels"]
    assert summary["wall_constraint"]["held"] and row["held"] and row["violation"] == 0.0
    assert row["r_from"] == pytest.approx(r_from, rel=1e-12)
    assert row["r_to"] == pytest.approx(r_short, rel=1e-12)
    assert "wall constraint held" in held.summary()
    assert held.loss > free.loss  # the wall costs accuracy on data that has none


def test_constraint_violation_measures_the_barrier_inside_the_interval() -> None:
    from gafit.walls import WallConstraint

    a, rho, c = TRUTH
    pot = Potential(["Ar"], [Buckingham(["Ar"], 5.0)], np.array([*TRUTH, 0.0]))
    con = WallConstraint(pot, [(0, 0)], ["Ar-Ar"], np.array([1.5]), np.array([2.5]), 1.5)
    theta = np.array([[*TRUTH, 0.0], [a, rho, 0.0, 0.0], [a, rho, 2000.0, 0.0]])
    v = con.violation(theta)[:, 0]
    def e(r: float, c: float) -> float:
        return a * np.exp(-r / rho) - c / r**6

    # truth: the collapse from r_max 1.81 Å down to 1.5 Å releases E(r_max) - E(1.5) (the breach
    # is the integral of the attractive slope, on a 0.005 Å grid)
    assert v[0] == pytest.approx(e(1.8097067, c) - e(1.5, c), rel=1e-3)
    assert v[1] == 0.0  # C = 0: a wall everywhere
    # C = 2000 attracts from 1.5 Å on: every attractive slope up to r_to counts
    assert v[2] == pytest.approx(e(2.5, 2000.0) - e(1.5, 2000.0), rel=1e-3)


def test_an_ionic_pair_whose_well_lies_inward_of_r_from_keeps_its_wall() -> None:
    """Henkelman MgO's Mg-O (Buckingham + bare Coulomb at +-1.7) has its pair minimum near 1.67 Å,
    inward of 0.8 x the rocksalt bond (1.68 Å) and a wall below it down to R_LOW: it attracts over
    the whole interval but has no barrier top there, so the constraint holds; the same slopes with
    the wall removed (C so large that the pair collapses) breach it."""
    from ase.build import bulk

    from gafit.walls import wall_constraint

    pot = load_potential(ROOT / "potentials" / "MgO_Henkelman_2005.json")
    cell = bulk("MgO", "rocksalt", a=4.2, cubic=True)
    con = wall_constraint(pot, ReferenceSet([Structure(cell, name="rocksalt")]), "data")
    mg_o = con.channels.index("Mg-O")
    names = list(pot.names)
    q = pot.named_values()["Mg.q"]
    a, rho = (pot.named_values()[f"Mg-O.{p}"] for p in ("A", "rho"))
    r = np.linspace(con.r_from[mg_o], con.r_to[mg_o], 50)
    slope = -a / rho * np.exp(-r / rho) + QQR2E * q * q / r**2  # C = 0 for Mg-O in this set
    assert (slope > 0).all()  # attracts across the interval: the bare well is inward of r_from
    collapse = pot.values.copy()
    collapse[names.index("Mg-O.C")] = 1e4
    v = con.violation(np.array([pot.values, collapse]))
    assert v[0, mg_o] == 0.0
    assert v[1, mg_o] > 1.0


def test_wall_config_refusals(tmp_path: Path) -> None:
    from gafit.config import parse_config
    from gafit.structures import GafitInputError
    from gafit.walls import wall_constraint

    table = {"data": {"train": "x.extxyz"}, "constraints": {"wall": -1.0}}
    with pytest.raises(GafitInputError, match=r"\[constraints\] wall = -1.0"):
        parse_config(table)
    table["constraints"] = {"wall": {"SiO": 1.0}}
    with pytest.raises(GafitInputError, match="not a species pair"):
        parse_config(table)
    table["constraints"] = {"walls": "off"}
    with pytest.raises(GafitInputError, match="unknown key 'walls'"):
        parse_config(table)
    pot = buckingham(BKS)
    with pytest.raises(GafitInputError, match="'Si-C' is not a pair"):
        wall_constraint(pot, None, {"Si-C": 1.0})
    con = wall_constraint(pot, None, {"Si-O": 1.2, "O-O": "off"})
    assert con.channels == ["Si-Si", "Si-O"] or con.channels == ["Si-O"]


def test_residuals_and_jacobian_carry_the_wall_penalty(tmp_path: Path) -> None:
    from helpers import assert_jacobian_matches_central_differences

    from gafit.objective import WALL_PENALTY

    space, _, _, plain, held = _no_wall_problem(tmp_path)
    con = held.constraint
    x = np.array([[*TRUTH], [3000.0, 0.33, 100.0]])  # the truth breaches, C = 100 does not
    r_plain, r_held = plain.residuals(x), held.residuals(x)
    breach = con.violation(space.expand(x))[:, 0]
    assert breach[0] > 0.1 and breach[1] == 0.0
    np.testing.assert_array_equal(r_held[:, :-1], r_plain)
    np.testing.assert_allclose(r_held[:, -1], WALL_PENALTY * breach, rtol=1e-15)
    np.testing.assert_allclose(held.loss(x), np.einsum("br,br->b", r_held, r_held), rtol=1e-12)
    assert_jacobian_matches_central_differences(held, x[0])


def test_report_says_whether_the_wall_constraint_held() -> None:
    from gafit.report import _constraint_notes

    row = {"channel": "Si-O", "r_from": 1.2, "r_to": 1.5, "violation": 0.0, "held": True}
    (ok,) = _constraint_notes({"setting": "data", "held": True, "channels": [row]})
    assert ok.level == "info" and "<code>Si-O</code> 1.2–1.5 Å" in ok.text
    bad = dict(row, violation=0.25, held=False)
    (warn,) = _constraint_notes({"setting": "data", "held": False, "channels": [bad]})
    assert warn.level == "warning" and "NOT held in <code>Si-O</code> (breach 0.25 eV)" in warn.text
    assert _constraint_notes(None) == []


def test_wild_vectors_with_the_constraint_score_bad_not_nan(tmp_path: Path) -> None:
    *_, obj = _no_wall_problem(tmp_path)
    x = np.array([[np.nan, 0.3, 1.0], [np.inf, 0.3, 1.0], [1e300, 1e-300, 1e300],
                  [-1e300, 0.3, -1e300], [3000.0, 0.33, 400.0]])
    loss = obj.loss(x)
    assert not np.isnan(loss).any() and (loss >= 0).all()
    r = obj.residuals(x)
    assert not np.isnan(r).any()
    np.testing.assert_allclose(np.einsum("br,br->b", r, r)[-1], loss[-1], rtol=1e-12)


def test_a_ga_winner_with_a_tiny_breach_gives_way_to_the_best_that_keeps_the_wall(
        tmp_path: Path) -> None:
    from gafit.fitting import keep_wall
    from gafit.ga import GAResult

    space, *_, obj = _no_wall_problem(tmp_path)
    x = np.array([[*TRUTH], [3000.0, 0.33, 100.0], [3000.0, 0.33, 50.0]])  # breach, keep, keep
    loss = obj.loss(x)
    u = space.to_unit(x)
    ga = GAResult(u[0], float(loss[0]), [u[0], u[2]], [float(loss[0]), float(loss[2])], 1, 3, 0.0,
                  "generations", population=u[[1]], population_loss=loss[[1]])
    best = int(np.argmin(loss[1:])) + 1
    x_kept, loss_kept = keep_wall(obj, ga, space, x[0], float(loss[0]))
    np.testing.assert_allclose(x_kept, x[best], rtol=1e-12)
    assert loss_kept == loss[best]
    # a winner that keeps the wall stays
    assert keep_wall(obj, ga, space, x[2], float(loss[2]))[1] == loss[2]
