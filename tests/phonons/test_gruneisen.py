"""Mode Grüneisen parameters (gafit.gruneisen, ``gafit phonons --gruneisen``)."""

from __future__ import annotations

import csv
import json
from pathlib import Path

import numpy as np
import pytest
import yaml
from ase.build import bulk
from helpers import ROOT, SHARED_DATA
from test_phonons import cu_morse, handler_error, lammps_forces, run_cli

from gafit.gruneisen import (
    gruneisen,
    gruneisen_along,
    load_reference_volumes,
    scaled_cell,
    sort_modes,
    strained_phonopys,
)
from gafit.phonons import band_path, frequencies_at, make_phonopy, run_band
from gafit.potential_files import save_potential
from gafit.structures import GafitInputError

SHARED = SHARED_DATA
SI_GRUNEISEN = SHARED / "phonopy_Si_PBE" / "gruneisen"
#: general q-points (reduced, fcc primitive basis) where no two modes are degenerate
GENERAL_Q = [[0.1, 0.23, 0.37], [0.31, 0.12, 0.05]]


def cu_cell():
    return bulk("Cu", "fcc", a=3.61)


def need_si_gruneisen() -> Path:
    if not (SI_GRUNEISEN / "orig" / "FORCE_SETS").exists():
        pytest.skip(f"shared data not available: {SI_GRUNEISEN}")
    return SI_GRUNEISEN


def test_scaled_cell_has_the_volume_and_fractional_positions():
    atoms = bulk("Si", "diamond", a=5.43)
    out = scaled_cell(atoms, 1.03)
    assert out.get_volume() == pytest.approx(1.03 * atoms.get_volume(), rel=1e-12)
    assert np.allclose(out.get_scaled_positions(), atoms.get_scaled_positions(), atol=1e-12)


def test_gamma_is_minus_dlnw_dlnv_at_general_q():
    """phonopy's γ (from dD/dV) against the finite difference -Δln ω / Δln V of gafit's own
    frequencies at the two strained volumes, for non-degenerate modes: equal to O(s²)."""
    pot, atoms, s = cu_morse(), cu_cell(), 0.005
    ph0 = make_phonopy(pot, atoms, [3, 3, 3])
    plus, minus = strained_phonopys(pot, atoms, [3, 3, 3], s, 0.01)
    f, g = gruneisen_along(ph0, plus, minus, [np.array(GENERAL_Q)])
    fd = -np.log(frequencies_at(plus, GENERAL_Q) / frequencies_at(minus, GENERAL_Q)) / np.log(
        (1 + s) / (1 - s))
    assert np.allclose(f, frequencies_at(ph0, GENERAL_Q), atol=1e-8)
    assert np.abs(g - fd).max() < 2e-3
    assert (g > 0.5).all()  # a pair potential stiffens under compression


def test_gamma_equals_phonopy_with_lammps_forces(lammps_available):
    """The same γ from phonopy run directly on force constants from LAMMPS forces (LAMMPS judges
    gafit's forces, phonopy the derivative), at the strained cells built here independently."""
    from phonopy import Phonopy
    from phonopy.api_gruneisen import PhonopyGruneisen

    from gafit.phonons import to_ase_atoms, to_phonopy_atoms

    pot, atoms, s = cu_morse(), cu_cell(), 0.01
    ph0 = make_phonopy(pot, atoms, [2, 2, 2])
    path = band_path(ph0, "GXWKGL", npoints=7)
    res = gruneisen(pot, ph0, atoms, run_band(ph0, path), [2, 2, 2], s)

    direct = []
    for factor in (1.0, 1 + s, 1 - s):
        cell = atoms.copy()
        cell.set_cell(atoms.cell * factor ** (1 / 3), scale_atoms=True)
        ph = Phonopy(to_phonopy_atoms(cell), supercell_matrix=np.eye(3, dtype=int) * 2,
                     primitive_matrix="auto", log_level=0)
        ph.generate_displacements(distance=0.01)
        ph.forces = lammps_forces(pot)([to_ase_atoms(c) for c in ph.supercells_with_displacements])
        ph.produce_force_constants()
        ph.symmetrize_force_constants()
        direct.append(ph)
    pg = PhonopyGruneisen(*direct)
    pg.set_band_structure(path.segments)
    _, _, freq, _, gamma = pg.get_band_structure()
    f_ref, g_ref = sort_modes(np.concatenate(freq), np.concatenate(gamma))
    ok = np.abs(f_ref) > 0.1
    assert np.abs(res.frequencies - f_ref).max() < 1e-4
    assert np.abs(res.gamma[ok] - g_ref[ok]).max() < 1e-4
    assert np.isnan(res.gamma[~np.isfinite(res.gamma)]).all()


def test_sort_modes_orders_degenerate_partners_by_gamma():
    f = np.array([[3.0, 1.0, 1.0 + 1e-6, 2.0]])
    g = np.array([[0.3, 0.9, -0.5, 0.1]])
    fs, gs = sort_modes(f, g)
    assert np.allclose(fs, [[1.0, 1.0, 2.0, 3.0]], atol=1e-5)
    assert gs.tolist() == [[-0.5, 0.9, 0.1, 0.3]]


def test_dft_reference_gamma_matches_its_three_volumes_frequencies():
    """phonopy's γ on the DFT force sets against -Δln ω / Δln V of the frequencies tabulated in
    each volume's dft_phonon_frequencies.yaml (derived separately, see PROVENANCE.md)."""
    folder = need_si_gruneisen()
    r0, rp, rm = load_reference_volumes(folder)
    points = {}
    for v in ("plus", "minus"):
        data = yaml.safe_load((folder / v / "dft_phonon_frequencies.yaml").read_text())
        points[v] = {p["name"]: (p["q_reduced_primitive"], np.array(p["frequencies_THz"]))
                     for p in data["points"]}
    dlnv = np.log(rp.phonopy.primitive.volume / rm.phonopy.primitive.volume)
    for name in ("X", "L", "W"):
        q = points["plus"][name][0]
        _, g = gruneisen_along(r0.phonopy, rp.phonopy, rm.phonopy, [np.array([q])])
        fd = -np.log(points["plus"][name][1] / points["minus"][name][1]) / dlnv
        # degenerate partners share γ here (the perturbation keeps the point's symmetry)
        assert np.abs(np.sort(g[0]) - np.sort(fd)).max() < 0.02, name
    _, g = gruneisen_along(r0.phonopy, rp.phonopy, rm.phonopy, [np.array([[0.5, 0.0, 0.5]])])
    assert g[0, 0] < -1  # the TA mode at X softens under compression (PBE Si)


def test_reference_folder_errors(tmp_path):
    with pytest.raises(GafitInputError, match="no subfolder 'orig'"):
        load_reference_volumes(tmp_path)
    with pytest.raises(GafitInputError, match="not a folder"):
        load_reference_volumes(tmp_path / "nothing")


def test_reference_volumes_in_the_wrong_order_are_refused(tmp_path):
    folder = need_si_gruneisen()
    for mine, theirs in (("orig", "orig"), ("plus", "minus"), ("minus", "plus")):
        (tmp_path / mine).symlink_to(folder / theirs, target_is_directory=True)
    with pytest.raises(GafitInputError, match="need plus > orig > minus"):
        load_reference_volumes(tmp_path)


def test_cli_strain_out_of_range_is_one_line(tmp_path):
    msg = handler_error(["x.json", "--structure", "fcc", "--supercell", "2", "2", "2",
                         "--gruneisen", "0.5", "--out", str(tmp_path)])
    assert "--gruneisen 0.5" in msg
    assert not any(tmp_path.iterdir())


def test_cli_refuses_another_crystals_reference_before_any_work(tmp_path):
    folder = need_si_gruneisen()
    pot = tmp_path / "cu.json"
    save_potential(cu_morse(), pot)
    out = tmp_path / "out"
    msg = handler_error([str(pot), "--structure", "fcc:3.61", "--supercell", "2", "2", "2",
                         "--gruneisen-reference", str(folder), "--out", str(out)])
    assert "not the same crystal" in msg and "Si" in msg and "Cu" in msg
    assert not out.exists() or not any(out.iterdir())


def test_cli_writes_gruneisen_files_and_compares_with_dft(tmp_path, capsys):
    folder = need_si_gruneisen()
    pot_file = ROOT / "potentials" / "Si_Tersoff_1988.tersoff"
    out = tmp_path / "out"
    assert run_cli(["phonons", str(pot_file), "--structure", "diamond", "--supercell", "2", "2", "2",
                    "--npoints", "11", "--gruneisen-reference", str(folder), "--out", str(out)]) == 0
    text = capsys.readouterr().out
    assert "mode Grüneisen parameters" in text and "γ error over the path" in text
    for name in ("gruneisen.csv", "gruneisen.png", "gruneisen.pdf", "gruneisen.json"):
        assert (out / name).stat().st_size > 0
    summary = json.loads((out / "gruneisen.json").read_text())
    assert summary["volume_strain"] == 0.01
    assert summary["reference_volume_strain"] == pytest.approx(0.01, abs=2e-4)
    with open(out / "gruneisen.csv", newline="") as fh:
        rows = [r for r in csv.reader(line for line in fh if not line.startswith("#"))]
    header, body = rows[0], rows[1:]
    assert header[-1] == "ref_gamma6" and len(body) == 5 * 11
    # the table's RMS is the RMS of the CSV's columns
    g = np.array([[float(x) if x else np.nan for x in r[13:19]] for r in body])
    r = np.array([[float(x) if x else np.nan for x in r[19:25]] for r in body])
    d = (g - r)[np.isfinite(g - r)]
    assert summary["rms_error"] == pytest.approx(np.sqrt(np.mean(d**2)), rel=1e-4)
