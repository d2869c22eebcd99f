"""Reading pair.lmp files with coul/long (gafit/lammps/files.py read_pair_lmp): gafit's own
buck/coul/long and hybrid/overlay files read back as the same potential, a hand-written file with
another gewald is read with that g, and settings gafit cannot reproduce exactly are refused."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from helpers import mgo_rattled, mgo_rocksalt, mgo_small_cell
from test_coulomb_form import SPECIES, mgo_potential

from gafit.cli import main
from gafit.coulomb import choose_g_ewald
from gafit.evaluate import predict
from gafit.forms import get_form
from gafit.forms.coulomb import EWALD_PRECISION
from gafit.io import write_reference
from gafit.lammps.files import pair_lines, read_pair_lmp, write_lammps
from gafit.lammps.runner import lammps_compute
from gafit.lammps.verify import verify
from gafit.potential import Potential
from gafit.potential_files import load_potential, save_potential
from gafit.structures import GafitInputError, ReferenceSet, Structure

TOL = 1e-10
#: a gewald (1/Å) that is not the one gafit derives from the 8 Å cutoff
HAND_G = 0.45

HAND_WRITTEN = """\
# Rigid-ion MgO, typed in by hand
pair_style buck/coul/long 6.0 8.0
pair_coeff * * 0.0 0.3 0.0
pair_coeff 1 2 821.6 0.3242 0.0 6.0
pair_coeff 2 2 22764.0 0.149 27.88
pair_modify table 0
kspace_style ewald 1e-12
kspace_modify gewald {g}
set type 1 charge 2.0
set type 2 charge -2.0
"""


def mgo_cells() -> ReferenceSet:
    """Rattled and strained rocksalt MgO cells (no reference values needed to compare codes)."""
    return ReferenceSet([Structure(mgo_rattled(1), name="rattled"),
                         Structure(mgo_rattled(3, a=4.0), name="compressed"),
                         Structure(mgo_small_cell(), name="small")])


def write_data(path: Path) -> Path:
    """An extxyz of MgO cells with energies and forces, for ``gafit evaluate``."""
    structures = []
    for k, at in enumerate([mgo_rocksalt(), mgo_rattled(5)]):
        n = len(at)
        structures.append(Structure(at, energy=-10.0 * n, forces=np.zeros((n, 3)), name=f"s{k}"))
    write_reference(ReferenceSet(structures, "mgo"), path)
    return path


def hand_file(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "pair.lmp"
    path.write_text(text)
    return path


# ---------------------------------------------------------------------------- round trips


def test_gafit_buck_coul_long_reads_back_identical(tmp_path: Path) -> None:
    pot = mgo_potential(q_mg=1.7, rc_buck=5.5, rc_coul=7.5)
    path = write_lammps(pot, tmp_path)
    assert "pair_style buck/coul/long 5.5 7.5" in path.read_text()
    back = read_pair_lmp(path)
    assert back.to_dict() == pot.to_dict()
    assert back.forms[1].g_ewald == pot.forms[1].g_ewald
    assert back.forms[1].fixed_g_ewald is None


def test_gafit_hybrid_overlay_with_coul_long_reads_back_identical(tmp_path: Path) -> None:
    morse = get_form("morse")(SPECIES, 5.0)
    coul = get_form("coulomb")(SPECIES, 7.0)
    pot = Potential(SPECIES, [morse, coul], np.array(
        [0.1, 1.5, 3.0, 0.5, 1.2, 2.1, 0.05, 1.4, 3.2, 1.7, -1.7, -0.5, 0.25]))
    path = write_lammps(pot, tmp_path)
    assert "pair_style hybrid/overlay morse 5.0 coul/long 7.0" in path.read_text()
    assert read_pair_lmp(path).to_dict() == pot.to_dict()


def test_fixed_g_is_saved_written_and_read_back(tmp_path: Path) -> None:
    pot = mgo_potential()
    pot.forms[1].fixed_g_ewald = HAND_G
    assert f"kspace_modify gewald {HAND_G}" in pair_lines(pot)
    save_potential(pot, tmp_path / "potential.json")
    loaded = load_potential(tmp_path / "potential.json")
    assert loaded.to_dict() == pot.to_dict() and loaded.forms[1].g_ewald == HAND_G
    back = read_pair_lmp(write_lammps(pot, tmp_path / "lmp"))
    assert back.forms[1].fixed_g_ewald == HAND_G and back.to_dict() == pot.to_dict()
    assert back.select(["O", "Mg"]).forms[1].g_ewald == HAND_G


def test_read_buck_coul_long_matches_lammps(tmp_path: Path, lammps_available) -> None:
    back = read_pair_lmp(write_lammps(mgo_potential(), tmp_path))
    report = verify(back, mgo_cells())
    print(report.text())
    assert report.max_relative < TOL, report.text()


# ---------------------------------------------------------------------------- hand-written


def test_hand_written_file_with_another_gewald(tmp_path: Path, lammps_available) -> None:
    text = HAND_WRITTEN.format(g=HAND_G)
    assert HAND_G != choose_g_ewald(8.0, EWALD_PRECISION)
    path = hand_file(tmp_path, text)
    pot = read_pair_lmp(path, ["Mg", "O"])
    assert pot.forms[1].g_ewald == HAND_G
    assert pot.named_values()["Mg-O.A"] == 821.6 and pot.named_values()["O.q"] == -2.0
    cells = mgo_cells()
    report = verify(pot, cells)
    assert report.max_relative < TOL, report.text()
    # gafit against LAMMPS running the hand-written lines themselves
    energy, forces, _ = predict(pot, cells)
    start = 0
    for k, st in enumerate(cells):
        e_l, f_l, _ = lammps_compute(st.atoms, SPECIES, text.splitlines(), atom_style="charge")
        assert abs(energy[k] - e_l) < TOL * abs(e_l)
        f = forces[start : start + st.n_atoms]
        assert np.abs(f - f_l).max() < TOL * np.abs(f_l).max()
        start += st.n_atoms


def test_cli_evaluates_a_hand_written_file_with_species(tmp_path: Path, capsys) -> None:
    path = hand_file(tmp_path, HAND_WRITTEN.format(g=HAND_G))
    data = write_data(tmp_path / "data.extxyz")
    assert main(["evaluate", str(path), str(data), "--species", "Mg O"]) == 0
    # without the species the atom types are unknown
    assert main(["evaluate", str(path), str(data)]) == 2
    assert "--elements" in capsys.readouterr().err


# ---------------------------------------------------------------------------- refusals


@pytest.mark.parametrize(("edit", "message"), [
    (("pair_modify table 0\n", ""), "line 2: .*add 'pair_modify table 0'$"),
    (("kspace_modify gewald 0.45\n", ""), r"line 2: .*add 'kspace_modify gewald 0\.65"),
    (("pair_modify table 0\nkspace_style ewald 1e-12\nkspace_modify gewald 0.45\n", ""),
     "add 'pair_modify table 0' and 'kspace_style ewald 1e-12' and 'kspace_modify gewald"),
    (("kspace_style ewald 1e-12", "kspace_style pppm 1e-6"),
     "line 7: gafit reproduces only kspace_style ewald, not 'pppm 1e-6'; change it to "
     "'kspace_style ewald 1e-12'"),
    (("kspace_style ewald 1e-12", "kspace_style msm 1e-6"), "line 7: .*not 'msm 1e-6'"),
    (("kspace_style ewald 1e-12", "kspace_style ewald/disp 1e-12"), "line 7: .*ewald/disp"),
    (("kspace_style ewald 1e-12", "kspace_style ewald 1e-5"),
     "line 7: kspace_style ewald 1e-5 truncates"),
    (("kspace_modify gewald 0.45", "kspace_modify gewald 0"), "line 8: gewald must be a positive number"),
    (("pair_modify table 0", "pair_modify table 12"), "line 6: .*only 'pair_modify table 0'"),
    (("set type 2 charge -2.0\n", ""),
     r"no 'set type 2 charge Q' line: the charge of type 2 \(O\) is unknown"),
])
def test_refusals_are_one_line_through_the_cli(tmp_path: Path, capsys, edit, message) -> None:
    text = HAND_WRITTEN.format(g=HAND_G)
    assert edit[0] in text
    path = hand_file(tmp_path, text.replace(edit[0], edit[1]))
    data = write_data(tmp_path / "data.extxyz")
    with pytest.raises(GafitInputError, match=message):
        read_pair_lmp(path, ["Mg", "O"])
    assert main(["evaluate", str(path), str(data), "--species", "Mg O"]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and err.startswith(f"gafit: error: {path}"), err


def test_kspace_lines_without_coul_long_are_refused(tmp_path: Path) -> None:
    path = hand_file(tmp_path, "pair_style buck 6.0\npair_coeff * * 1.0 0.3 0.0\n"
                               "kspace_style ewald 1e-12\n")
    with pytest.raises(GafitInputError, match="line 3: kspace_style is read only with a coul/long"):
        read_pair_lmp(path, ["Mg", "O"])
