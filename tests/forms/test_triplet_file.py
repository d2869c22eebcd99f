"""TripletFileForm, the one base of the forms with a parameter row per ordered species triplet and a
LAMMPS parameter file (Tersoff, Tersoff/ZBL, Stillinger-Weber), and the parameter-file reader they
share (gafit.forms.param_file)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from ase import Atoms

from gafit.evaluate import evaluate_potential
from gafit.forms.param_file import entry_numbers, entry_words, read_entries
from gafit.forms.stillinger_weber import StillingerWeber
from gafit.forms.tersoff import Tersoff
from gafit.forms.tersoff.zbl import TersoffZBL
from gafit.potential import Potential
from gafit.structures import GafitInputError, ReferenceSet, Structure

FORMS = [Tersoff, TersoffZBL, StillingerWeber]


@pytest.mark.parametrize("cls", FORMS, ids=lambda c: c.name)
def test_written_file_reads_back_through_pair_coeff(tmp_path: Path, cls) -> None:
    """write_file / lammps_lines / from_lammps / read_file of each form: the same values, the
    file's comments name the form's title and style, and pair_coeff's element map is applied."""
    form, values = cls.example(["Si", "C"])
    values = values * np.random.default_rng(1).uniform(0.9, 1.1, values.size)
    form.repair(values[None, :])
    form.cutoff = form.interaction_range(values)
    lines = form.lammps_lines(values, tmp_path, header="made by a test")
    assert lines == [f"pair_style {cls.lammps_style}",
                     f"pair_coeff * * SiC{cls.parameter_file_suffix} Si C"]
    text = (tmp_path / form.file_name()).read_text()
    assert text.startswith(f"# made by a test\n# {cls.file_title} parameters written by gafit for "
                           f"LAMMPS pair_style {cls.lammps_style} (units metal).\n")
    back = cls.read_file(tmp_path / form.file_name())
    np.testing.assert_array_equal(back.values[: form.n_params], values)
    # LAMMPS's map: atom type 1 uses the file's C entries, type 2 its Si entries
    swapped, named = cls.from_lammps([], [(2, ["*", "*", form.file_name(), "C", "Si"])],
                                     ["A", "B"], "pair.lmp", base=tmp_path)
    assert swapped.species == ["A", "B"]
    assert named["B-A-A.A"] == values[form.parameter_names().index("Si-C-C.A")]


@pytest.mark.parametrize(("cls", "message"), [
    (Tersoff, "pair.lmp: pair_style tersoff shift 0.1: options (such as shift) are not supported"),
    (TersoffZBL, "pair.lmp: pair_style tersoff/zbl shift 0.1: options (such as shift) are not "
                 "supported"),
    (StillingerWeber, "pair.lmp: pair_style sw shift 0.1: the only option is 'threebody on' or "
                      "'threebody off'"),
])
def test_pair_style_options_are_each_forms_own(cls, message: str) -> None:
    with pytest.raises(GafitInputError) as err:
        cls.from_lammps(["shift", "0.1"], [], ["Si"], "pair.lmp")
    assert str(err.value) == message


@pytest.mark.parametrize("cls", FORMS, ids=lambda c: c.name)
def test_dimer_energy_is_what_the_form_gives_two_atoms(cls) -> None:
    """The shared dimer_energy (entries (a, b, b) and (b, a, a)) against the form's own evaluation
    of two atoms, for every species pair, at distances across the interaction range."""
    form, values = cls.example(["Si", "C"])
    values = values * np.random.default_rng(2).uniform(0.9, 1.1, values.size)
    form.repair(values[None, :])
    form.cutoff = form.interaction_range(values)
    pot = Potential(form.species, [form], np.concatenate([values, np.zeros(2)]))
    for a, sa in enumerate(form.species):
        for b, sb in enumerate(form.species):
            fn = form.dimer_energy(values[None, :], a, b)
            for r in np.linspace(0.5, form.cutoff * 0.999, 7):
                dimer = ReferenceSet([Structure(Atoms(f"{sa}{sb}", positions=[[0, 0, 0], [r, 0, 0]],
                                                      cell=[30, 30, 30], pbc=False))])
                pred, _ = evaluate_potential(pot, dimer)
                assert fn(np.array([r]))[0][0, 0] == pytest.approx(pred[0].energy, rel=1e-12,
                                                                   abs=1e-12)


ENTRY = "# x\nSi Si Si 1.0 2x0\n"


@pytest.mark.parametrize(("columns", "where"), [(True, "x.f line 2 column 14: "),
                                                (False, "x.f line 2: ")])
def test_param_file_errors_name_the_column_or_the_line_only(tmp_path: Path, columns: bool,
                                                            where: str) -> None:
    """sw's errors name line and column; .tersoff's have always named the line only."""
    path = tmp_path / "x.f"
    path.write_text(ENTRY)
    entries = read_entries(path, 3, 2, "an entry", columns)
    words = entry_words(path, entries, ("Si", "Si", "Si"))
    with pytest.raises(GafitInputError) as err:
        entry_numbers(path, words, ["p", "q"])
    assert str(err.value) == f"{path.parent / where}q '2x0' of entry Si Si Si is not a finite number"
    path.write_text(ENTRY + ENTRY)
    entries = read_entries(path, 3, 2, "an entry", columns)
    with pytest.raises(GafitInputError) as err:
        entry_words(path, entries, ("Si", "Si", "Si"))
    start = where.replace("line 2", "line 4").replace("column 14", "column 1")
    assert str(err.value) == f"{path.parent / start}duplicate entry Si Si Si (first on line 2)"


@pytest.mark.parametrize(("kind", "said"), [("", "no entry for Si Si C;"),
                                            ("the triplet", "no entry for the triplet Si Si C;")])
def test_missing_entry_names_its_kind(tmp_path: Path, kind: str, said: str) -> None:
    path = tmp_path / "x.f"
    path.write_text(ENTRY)
    entries = read_entries(path, 3, 2, "an entry")
    with pytest.raises(GafitInputError, match=f"{path}: {said} LAMMPS needs every ordered"):
        entry_words(path, entries, ("Si", "Si", "C"), kind=kind)
