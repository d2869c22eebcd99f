"""The part shared by many-body forms whose parameters are one row per ORDERED species triplet
(i, j, k) and which LAMMPS reads from a parameter file (Tersoff, Stillinger-Weber): the entries and
their naming, and the LAMMPS side, ``pair_style STYLE`` with ``pair_coeff * * FILE ELEMENTS...``,
writing the file, reading it back.

A subclass declares ``name``, ``lammps_style``, ``parameter_file_suffix``, ``params``,
``file_title`` and ``units_comment`` (for the written file's comments), ``entry_error`` (the
error on a name that is no triplet) and :meth:`TripletFileForm.lammps_rejects`; the file is read
with :mod:`gafit.forms.param_file`.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from gafit.forms.base import Form, number
from gafit.forms.param_file import Entries, entry_numbers, entry_words, read_entries
from gafit.structures import GafitInputError

if TYPE_CHECKING:
    from gafit.potential import Potential

#: what to say when the elements of the file are not all wanted
_PICK_HINT = ("; pick the elements to use as LAMMPS's pair_coeff does (--elements on the command "
              "line, [potential] species with start)")


class TripletFileForm(Form):
    """A form of one block of parameters per ordered species triplet, read by LAMMPS from a file."""

    body_order = 3
    #: the potential's name in the written file's first comment line, and in errors
    file_title = ""
    #: units of the parameters, for the comment lines of the written file
    units_comment = ""
    #: the error on a parameter name whose entry is no triplet (with an example of one)
    entry_error = "a parameter of this form belongs to an ordered species triplet"
    #: the errors of a bad file: the kind of entry; whether they name columns; a missing entry
    #: is 'no entry for MISSING_KIND E1 E2 E3'
    entry_what = "an entry"
    file_columns = True
    missing_kind = ""
    #: what sets :meth:`Form.interaction_range`, for the error of :meth:`check_reach`
    reach_text = ""

    def check_reach(self, theta: np.ndarray, cutoff: float) -> None:
        """Refuse a batch ``theta`` whose interaction range exceeds ``cutoff`` (Å), the neighbour
        cutoff its tables were built with (their pairs would be missing)."""
        need = self.interaction_range(theta) if theta.size else 0.0
        if need > cutoff:
            raise GafitInputError(
                f"{self.name}: parameters need a neighbour cutoff of {need:g} Å ({self.reach_text}) "
                f"but the tables were built with {cutoff:g} Å"
            )

    # --- parameter naming -------------------------------------------------------------------
    def entries(self) -> list[tuple[str, ...]]:
        s = self.species
        return [(a, b, c) for a in s for b in s for c in s]

    def canonical_entry(self, entry: tuple[str, ...]) -> tuple[str, ...]:
        if len(entry) != 3:
            raise ValueError(self.entry_error)
        return tuple(entry)

    def entry_index(self, a: int, b: int, c: int) -> int:
        """Entry of species indices (a, b, c)."""
        n = len(self.species)
        return (a * n + b) * n + c

    def _label(self, e: int) -> str:
        return "-".join(self.entries()[e])

    def _pair_entries(self) -> list[int]:
        """The entries (i, j, j), whose rows hold the two-body parameters of the pair i->j."""
        n = len(self.species)
        return [self.entry_index(a, b, b) for a in range(n) for b in range(n)]

    def _blocks(self, values: np.ndarray) -> np.ndarray:
        """A vector (n_params,) or batch (B, n_params) as (B, entry, parameter)."""
        return np.asarray(values, float).reshape(-1, len(self.entries()), len(self.params))

    def dimer_energy(self, values: np.ndarray, a: int, b: int
                     ) -> Callable[[np.ndarray], tuple[np.ndarray, np.ndarray]]:
        """E(r) and dE/dr (B, K), eV and eV/Å, of an isolated a-b dimer for parameter vectors
        ``values`` (B, n_params): no third atom, so the two-body terms alone, the
        :meth:`_dimer_share` of entry (a, b, b) plus that of (b, a, a)."""
        v = self._blocks(values)
        rows = [v[:, self.entry_index(a, b, b)], v[:, self.entry_index(b, a, a)]]

        def energy(r: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
            r = np.asarray(r, float)[None, :]
            e = np.zeros((len(v), r.shape[1]))
            g = np.zeros_like(e)
            for row in rows:
                de, dg = self._dimer_share(r, row)
                e += de
                g += dg
            return e, g

        return energy

    def _dimer_share(self, r: np.ndarray, row: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """The half of a dimer's energy (B, K), eV, and of its dE/dr, eV/Å, at distances ``r``
        (1, K) that the parameters ``row`` (B, parameters of one entry) of the entry (i, j, j) of
        the pair i->j give."""
        raise NotImplementedError

    @classmethod
    def example(cls, species: list[str]) -> tuple[Any, np.ndarray]:
        """The declared defaults for every triplet, the cutoff their :meth:`interaction_range`."""
        form = cls(list(species), 5.0)
        values = form.default_values()
        form.cutoff = form.interaction_range(values)
        return form, values

    # --- LAMMPS files ----------------------------------------------------------------------------
    def file_name(self) -> str:
        """Name of the parameter file written by :meth:`lammps_lines`: species joined + suffix."""
        return "".join(self.species) + str(self.parameter_file_suffix)

    def write_file(self, values: np.ndarray, path: str | Path, header: str = "") -> None:
        """Write the LAMMPS parameter file: one entry per line, full precision.

        ``header`` (e.g. a citation or how the set was made) goes first, as comment lines.
        """
        from gafit.io.atomic import atomic_write_text

        lines = [f"# {line}".rstrip() for line in header.splitlines()] + [
            f"# {self.file_title} parameters written by gafit for LAMMPS pair_style "
            f"{self.lammps_style} (units metal).",
            f"# {self.units_comment}",
            "# element1 element2 element3 " + " ".join(p.name for p in self.params),
        ]
        for ent, row in zip(self.entries(), self._blocks(values)[0], strict=True):
            lines.append(" ".join(ent) + " " + " ".join(number(x) for x in row))
        atomic_write_text(path, "\n".join(lines) + "\n")

    def lammps_lines(
        self, values: np.ndarray, outdir: Path | None = None, header: str = ""
    ) -> list[str]:
        """``pair_style STYLE`` and ``pair_coeff * * FILE SPECIES...``.

        FILE is the bare name :meth:`file_name`, written into ``outdir`` when given (with no
        ``outdir`` nothing is written). LAMMPS resolves it against its working directory, so run
        LAMMPS in the folder holding pair.lmp and the file.
        """
        name = self.file_name()
        if outdir is not None:
            self.write_file(values, Path(outdir) / name, header)
        return [f"pair_style {self.lammps_style}", f"pair_coeff * * {name} {' '.join(self.species)}"]

    #: an option of LAMMPS's pair_style that gafit does not support, named in the error
    unsupported_option = ""

    @classmethod
    def _style_options(cls, style_args: list[str], where: str) -> Callable[[np.ndarray], None]:
        """Check the words after ``pair_style STYLE``; return what they do to the values read from
        the file (a function changing them in place). Default: no options."""
        if style_args:
            such = f" (such as {cls.unsupported_option})" if cls.unsupported_option else ""
            raise GafitInputError(f"{where}: pair_style {cls.lammps_style} {' '.join(style_args)}: "
                                  f"options{such} are not supported")
        return lambda values: None

    @classmethod
    def from_lammps(
        cls, style_args: list[str], coeffs: list[tuple[int, list[str]]], species: list[str],
        where: str, base: Path | None = None,
    ) -> tuple[Form, dict[str, float]]:
        """The form and named values of ``pair_style STYLE [options]`` (:meth:`_style_options`)
        with one ``pair_coeff * * FILE ELEMENTS...`` line."""
        apply_options = cls._style_options(style_args, where)
        usage = f"expected one 'pair_coeff * * FILE' followed by {len(species)} element names"
        if len(coeffs) != 1:
            raise GafitInputError(f"{where}: {usage}, got {len(coeffs)} pair_coeff lines")
        line, args = coeffs[0]
        where = f"{where} line {line}"
        if len(args) != 3 + len(species) or args[:2] != ["*", "*"]:
            raise GafitInputError(f"{where}: pair_coeff {' '.join(args)}: {usage}")
        if "NULL" in args[3:]:
            raise GafitInputError(f"{where}: pair_coeff {' '.join(args)}: NULL elements (hybrid "
                                  "styles) are not supported")
        from gafit.lammps.files import find_potential_file

        # as LAMMPS: beside pair.lmp (LAMMPS: the working folder), else its potentials folder
        form, values = cls._load(find_potential_file(args[2], base), args[3:], species)
        apply_options(values)
        return form, dict(zip(form.parameter_names(), map(float, values), strict=True))

    @classmethod
    def read_file(
        cls, path: str | Path, elements: list[str] | None = None, species: list[str] | None = None
    ) -> Potential:
        """A potential from the form's LAMMPS parameter file, E0 = 0
        (:func:`~gafit.potential_files.load_potential` also reads the E0 and provenance of its
        comments, and finds files by name in LAMMPS's folder).

        ``elements``: the file's element names to use (default: all, in order of first appearance);
        every ordered triplet of them must be in the file. ``species``: gafit's names for them
        (default: the element names), e.g. ``elements=["Si(D)", "C"], species=["Si", "C"]``.
        The cutoff is the :meth:`interaction_range` of the entries used.
        """
        from gafit.potential import Potential

        form, values = cls._load(Path(path), elements, species)
        return Potential(form.species, [form], np.concatenate([values, np.zeros(len(form.species))]))

    @classmethod
    def lammps_rejects(cls, row: np.ndarray) -> list[str]:
        """What LAMMPS's reader rejects in one entry's row of parameters; nothing by default."""
        return []

    @classmethod
    def _entry_row(cls, path: Path, entries: Entries, key: tuple[str, ...], hint: str
                   ) -> np.ndarray:
        """The parameter row of the one entry ``key``; a missing (the error ends with ``hint``),
        duplicated or bad entry, or one LAMMPS rejects, is an error naming where it is."""
        words = entry_words(path, entries, key, hint, cls.missing_kind)
        row = entry_numbers(path, words, [p.name for p in cls.params])
        bad = cls.lammps_rejects(row)
        if bad:
            raise GafitInputError(f"{words[0].where(path)}: entry {' '.join(key)}: "
                                  + "; ".join(bad) + " (LAMMPS rejects this)")
        return row

    @classmethod
    def _load(
        cls, path: Path, elements: list[str] | None, species: list[str] | None
    ) -> tuple[Any, np.ndarray]:
        """The form of ``species`` (default: ``elements``) and its values from the entries of
        ``elements`` (default: every element of the file) of the file at ``path``."""
        entries = read_entries(path, 3, len(cls.params), cls.entry_what, cls.file_columns)
        first = entries.elements
        elements = list(first if elements is None else elements)
        species = list(elements if species is None else species)
        if len(species) != len(elements):
            raise GafitInputError(f"{path}: {len(elements)} elements {elements} but "
                                  f"{len(species)} species names {species}")
        if not elements:
            raise GafitInputError(f"{path}: no {cls.file_title} entries")
        if len(set(species)) != len(species):
            raise GafitInputError(f"{path}: species {species} lists a species twice")
        hint = _PICK_HINT if elements == first else f" (elements used: {' '.join(elements)})"
        rows = [cls._entry_row(path, entries, (a, b, c), hint)
                for a in elements for b in elements for c in elements]
        values = np.array(rows).ravel()
        form = cls(species, 1.0)
        form.cutoff = form.interaction_range(values)
        return form, values
