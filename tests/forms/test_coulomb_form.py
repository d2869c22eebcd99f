"""The Coulomb form (gafit/forms/coulomb.py): [potential] charges, neutrality, fits of charges,
export as buck/coul/long or hybrid/overlay coul/long, and gafit's agreement with LAMMPS."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from helpers import (
    assert_jacobian_matches_central_differences,
    mgo_rattled,
    mgo_rocksalt,
    mgo_small_cell,
    shared_file,
)

from gafit.config import parse_config
from gafit.evaluate import evaluate_potential
from gafit.fitting import Fit
from gafit.forms import get_form
from gafit.io import read_reference, write_reference
from gafit.lammps.files import pair_lines, write_lammps
from gafit.lammps.verify import verify
from gafit.parameters import build_space
from gafit.potential import Potential
from gafit.structures import GafitInputError, ReferenceSet, Structure

TOL = 1e-10
SPECIES = ["Mg", "O"]
#: Lewis–Catlow-like rigid-ion MgO: Mg-Mg, Mg-O, O-O (A eV, rho Å, C eV Å^6), charges, E0
MGO = {"Mg-Mg": (0.0, 0.3, 0.0), "Mg-O": (821.6, 0.3242, 0.0), "O-O": (22764.0, 0.149, 27.88)}


def mgo_potential(q_mg: float = 2.0, rc_buck: float = 6.0, rc_coul: float = 8.0,
                  e0: tuple[float, float] = (-1.0, -2.0)) -> Potential:
    buck = get_form("buckingham")(SPECIES, rc_buck)
    coul = get_form("coulomb")(SPECIES, rc_coul)
    values = [v for e in ("Mg-Mg", "Mg-O", "O-O") for v in MGO[e]] + [q_mg, -q_mg, *e0]
    return Potential(SPECIES, [buck, coul], np.array(values))


def mgo_set() -> ReferenceSet:
    return ReferenceSet([Structure(mgo_rocksalt(), name="rocksalt"),
                         Structure(mgo_rattled(1), name="rattled"),
                         Structure(mgo_rattled(3, a=4.0), name="compressed"),
                         Structure(mgo_small_cell(), name="small")])


# ---------------------------------------------------------------------------- against LAMMPS


def test_buck_coul_long_matches_lammps(lammps_available) -> None:
    report = verify(mgo_potential(), mgo_set())
    print(report.text())
    assert report.max_relative < TOL, report.text()


def test_morse_plus_coulomb_as_hybrid_overlay_matches_lammps(lammps_available) -> None:
    morse = get_form("morse")(SPECIES, 5.0)
    coul = get_form("coulomb")(SPECIES, 7.0)
    pot = Potential(SPECIES, [morse, coul], np.array(
        [0.1, 1.5, 3.0, 0.5, 1.2, 2.1, 0.05, 1.4, 3.2, 1.7, -1.7, 0.0, 0.0]))
    assert pair_lines(pot)[0] == "pair_style hybrid/overlay morse 5.0 coul/long 7.0"
    report = verify(pot, mgo_set())
    print(report.text())
    assert report.max_relative < TOL, report.text()


def test_phonopy_mgo_frames_match_lammps(lammps_available) -> None:
    frames = read_reference(shared_file("phonopy_MgO/MgO_supercells_DFT.extxyz"), ":3")
    report = verify(mgo_potential(1.7), frames)
    print(report.text())
    assert report.max_relative < TOL, report.text()


# ---------------------------------------------------------------------------- files


def test_export_lines_and_json_round_trip(tmp_path: Path) -> None:
    pot = mgo_potential(q_mg=1.9)
    text = write_lammps(pot, tmp_path).read_text()
    lines = [ln for ln in text.splitlines() if not ln.startswith("#")]
    g = pot.forms[1].g_ewald
    assert lines == ["pair_style buck/coul/long 6.0 8.0",
                     "pair_coeff 1 1 0.0 0.3 0.0", "pair_coeff 1 2 821.6 0.3242 0.0",
                     "pair_coeff 2 2 22764.0 0.149 27.88", "pair_modify table 0",
                     "kspace_style ewald 1e-12", f"kspace_modify gewald {g!r}",
                     "set type 1 charge 1.9", "set type 2 charge -1.9"]
    assert "atom_style charge" in text
    back = Potential.from_dict(pot.to_dict())
    assert [f.name for f in back.forms] == ["buckingham", "coulomb"]
    assert back.forms[1].g_ewald == g
    np.testing.assert_array_equal(back.values, pot.values)


# ---------------------------------------------------------------------------- config and fits


def synthetic_mgo(path: Path, q_mg: float) -> None:
    """Energies, forces and stresses of rattled, strained MgO cells from a known potential."""
    pot = mgo_potential(q_mg, rc_buck=5.0, rc_coul=5.0, e0=(0.0, 0.0))
    structures = [Structure(mgo_rattled(k, a=4.1 + 0.05 * k), name=f"s{k}") for k in range(4)]
    predicted, _ = evaluate_potential(pot, ReferenceSet(structures))
    write_reference(predicted, path)


def config(train: Path, charges: dict, **ga) -> dict:
    params = {f"{e}.{p}": v for e, vals in MGO.items()
              for p, v in zip(("A", "rho", "C"), vals, strict=True)}
    return {"data": {"train": str(train)},
            "potential": {"form": "buckingham", "species": SPECIES, "cutoff": 5.0,
                          "charges": charges, "parameters": params},
            "weights": {"energy": 1.0, "forces": 1.0, "stress": 1.0},
            "ga": {"population": 20, "generations": 5, "seed": 1, **ga}}


def test_fit_recovers_the_charge_with_a_neutral_species(tmp_path: Path) -> None:
    synthetic_mgo(tmp_path / "train.extxyz", q_mg=1.8)
    cfg = parse_config(config(tmp_path / "train.extxyz", {"Mg": [1.0, 2.2], "O": "neutral"}))
    result = Fit.from_config(cfg).run(tmp_path / "out", quiet=True)
    fitted = result.potential.named_values()
    assert fitted["Mg.q"] == pytest.approx(1.8, abs=1e-3)
    assert fitted["O.q"] == -fitted["Mg.q"]
    row = next(r for r in result.space.table(result.potential.values) if r["name"] == "O.q")
    assert row["status"] == "= -1 Mg.q"


def test_neutral_species_follows_a_formula_unit() -> None:
    """Mg2 O3-like cells: O's charge is -2/3 of Mg's, in the search and in the Jacobian map."""
    at = mgo_rocksalt() * (2, 1, 1)
    at.symbols[[1, 3]] = "Mg"  # a composition other than 1:1 (counts read back below)
    n_mg, n_o = at.get_chemical_symbols().count("Mg"), at.get_chemical_symbols().count("O")
    data = ReferenceSet([Structure(at, name="a"), Structure(at * (1, 1, 2), name="b")])
    cfg = parse_config(config(Path("unused.extxyz"), {"Mg": [1.0, 2.0], "O": "neutral"}))
    from gafit.fit_data import build_potential, fit_parameters

    pot = build_potential(cfg, data)
    space = build_space(pot, fit_parameters(cfg.potential))
    theta = space.expand(np.array([[1.5]]))[0]
    named = dict(zip(space.names, theta, strict=True))
    assert named["O.q"] == pytest.approx(-n_mg / n_o * 1.5, rel=1e-15)
    d = space.expansion_matrix()
    assert d[space.names.index("O.q"), 0] == pytest.approx(-n_mg / n_o, rel=1e-15)


@pytest.mark.parametrize("charges, message", [
    ({"Mg": [1.0, 2.0], "O": "neutral"}, "structure 'Mg3O' (Mg:O = 3:1) cannot be neutral"),
    ({"Mg": 2.0, "O": -2.0}, "leave structure 'Mg3O' with net charge 4 e"),
    ({"Mg": 2.0, "O": -2.0, "Zn": 1.0}, "'Zn' is not a species"),
    ({"Mg": 2.0}, "no charge for 'O'"),
])
def test_refusals_name_the_structure_or_key(charges: dict, message: str) -> None:
    from gafit.fit_data import build_potential

    odd = mgo_rocksalt()
    odd.symbols[[4]] = "Mg"  # rocksalt cell: 4 Mg then 4 O; one O becomes Mg
    odd.symbols[[5]] = "Mg"
    odd = odd[[0, 1, 2, 4]]
    data = ReferenceSet([Structure(mgo_rocksalt(), name="MgO"), Structure(odd, name="Mg3O")])
    cfg = parse_config(config(Path("unused.extxyz"), charges))
    with pytest.raises(GafitInputError, match=message.replace("(", r"\(").replace(")", r"\)")):
        build_potential(cfg, data)


@pytest.mark.parametrize("charges, message", [
    ({"Mg": [1.0, 2.0], "O": [-2.0, -1.0]}, "need one species marked \"neutral\""),
    ({"Mg": "neutral", "O": "neutral"}, "only one species can be \"neutral\""),
    ({"Mg": "two"}, "charges Mg = 'two'"),
])
def test_config_errors(charges: dict, message: str) -> None:
    with pytest.raises(GafitInputError, match=message):
        parse_config(config(Path("unused.extxyz"), charges))


def test_bks_on_zeolite_frames_matches_lammps(lammps_available) -> None:
    """BKS (from the shared parameter table) on general triclinic SOD and EDI frames."""
    yaml = pytest.importorskip("yaml")
    table = yaml.safe_load(shared_file("buckingham_parameters/buckingham_parameters.yaml")
                           .read_text(encoding="utf-8"))
    bks = next(s for s in table["parameter_sets"] if s["id"] == "SiO2_BKS_1990")
    species = ["Si", "O"]
    buck = get_form("buckingham")(species, 5.5)
    coul = get_form("coulomb")(species, 8.0)
    values = [bks["pairs"][e][p] for e in ("Si-Si", "Si-O", "O-O") for p in ("A", "rho", "C")]
    values += [bks["charges"]["Si"], bks["charges"]["O"], 0.0, 0.0]
    pot = Potential(species, [buck, coul], np.array(values, float))
    frames = (read_reference(shared_file("SiO2_zeolite_SiZEO22/sod_every10th.extxyz"), ":1")
              + read_reference(shared_file("SiO2_zeolite_SiZEO22/edi_every10th.extxyz"), ":1"))
    report = verify(pot, frames)
    print(report.text())
    assert report.max_relative < TOL, report.text()


def test_residual_jacobian_with_a_neutral_species_is_analytic_and_right(tmp_path: Path) -> None:
    """The charge of O follows from Mg's: the analytic Jacobian (through the linear map of the
    parameter space) matches central differences of the residuals."""
    from gafit.fit_data import build_potential, fit_parameters
    from gafit.objective import Objective, Weights

    synthetic_mgo(tmp_path / "train.extxyz", q_mg=1.8)
    charges = {"Mg": [1.0, 2.2], "O": "neutral"}
    cfg = parse_config(config(tmp_path / "train.extxyz", charges))
    data = read_reference(tmp_path / "train.extxyz")
    pot = build_potential(cfg, data)
    spec = {**fit_parameters(cfg.potential), "Mg-O.A": [500.0, 1500.0], "O-O.C": [10.0, 50.0]}
    space = build_space(pot, spec)
    objective = Objective(pot, space, data, Weights(1.0, 1.0, 0.5))
    x = np.array([1.6 if n == "Mg.q" else 900.0 if n == "Mg-O.A" else 30.0 for n in space.free])
    assert_jacobian_matches_central_differences(objective, x, floor=0.0)
