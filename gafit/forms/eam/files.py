"""DYNAMO tabulated EAM files as LAMMPS reads them: ``eam/alloy`` (setfl) and ``eam/fs``.

setfl and fs: three comment lines; ``N el1 .. elN``; ``nrho drho nr dr cut``; per element a line
``Z mass ...``, F(rho) (nrho values), then its density: one table (nr values, setfl) or N tables
(fs: element I's block holds rho_IJ, the density at an atom of element J due to an I neighbour,
as LAMMPS's ``type2rhor``); then r phi(r) for I = 1..N, J = 1..I (nr values each). Numbers may
sit several to a line; each table starts on a new line.

gafit writes, after the tables (where LAMMPS stops reading), comment lines that name the analytic
form and its parameters, so that a file it wrote reads back as the fitted potential.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from gafit.forms.base import number
from gafit.structures import GafitInputError

#: comment tags of gafit's lines after the tables
FORM_TAG, PARAM_TAG, SETTINGS_TAG = "gafit form:", "gafit parameters:", "gafit settings:"


@dataclass
class EAMFile:
    """The numbers of a tabulated EAM file in setfl/fs layout."""

    kind: str  # "setfl" or "fs"
    elements: list[str]
    numbers: list[int]  # atomic numbers as written
    masses: list[float]
    nrho: int
    drho: float
    nr: int
    dr: float
    cut: float  # Å
    frho_er: np.ndarray  # (E, nrho) F(rho), eV
    rhor_sdr: np.ndarray  # (E, E, nr) density at an atom of element d due to a neighbour s
    z2r_str: np.ndarray  # (E, E, nr) r phi(r), eV Å, symmetric
    form: str | None = None  # the gafit form named after the tables
    parameters: dict[str, float] = field(default_factory=dict)
    parameter_line: int = 0
    provenance: str = ""  # how gafit made it: the comment lines after the tables before its tags
    settings: dict[str, float] = field(default_factory=dict)  # the form's (knot layout)

    def select(self, elements: list[str], where: str) -> EAMFile:
        """The tables of ``elements`` (names of the file's elements, in the order wanted)."""
        missing = [e for e in elements if e not in self.elements]
        if missing:
            raise GafitInputError(f"{where}: no element {missing[0]} in the file (it has "
                                  f"{' '.join(self.elements)})")
        k = [self.elements.index(e) for e in elements]
        return EAMFile(self.kind, list(elements), [self.numbers[i] for i in k],
                       [self.masses[i] for i in k], self.nrho, self.drho, self.nr, self.dr,
                       self.cut, self.frho_er[k], self.rhor_sdr[np.ix_(k, k)],
                       self.z2r_str[np.ix_(k, k)], self.form, self.parameters,
                       self.parameter_line, self.provenance, self.settings)


class _Lines:
    """Whole lines of a file, consumed in order, with their numbers for errors."""

    def __init__(self, path: Path, text: str) -> None:
        self.path = path
        self.lines = text.splitlines()
        self.n = 0

    def words(self, what: str) -> list[str]:
        """The words of the next line with any (comments stripped, blank lines skipped)."""
        while self.n < len(self.lines):
            self.n += 1
            words = self.lines[self.n - 1].split("#", 1)[0].split()
            if words:
                return words
        raise GafitInputError(f"{self.path}: the file ends before {what}")

    def where(self) -> str:
        return f"{self.path} line {self.n}"

    def numbers(self, count: int, what: str) -> np.ndarray:
        """``count`` numbers from as many whole lines as they take."""
        out: list[float] = []
        while len(out) < count:
            words = self.words(f"{what} is complete ({len(out)} of {count} numbers read)")
            if len(out) + len(words) > count:
                raise GafitInputError(f"{self.where()}: {len(out) + len(words) - count} numbers "
                                      f"more than {what} needs ({count})")
            for w in words:
                out.append(self.number(w, what))
        return np.array(out)

    def number(self, word: str, what: str) -> float:
        try:
            x = float(word)
        except ValueError:
            raise GafitInputError(f"{self.where()}: '{word}' in {what} is not a number") from None
        if not np.isfinite(x):
            raise GafitInputError(f"{self.where()}: {word} in {what} is not a finite number")
        return x

    def integer(self, word: str, what: str) -> int:
        try:
            return int(word)
        except ValueError:
            raise GafitInputError(f"{self.where()}: {what} '{word}' is not an integer") from None


def _grid(lines: _Lines) -> tuple[int, float, int, float, float]:
    words = lines.words("the line 'nrho drho nr dr cut'")
    if len(words) < 5:
        raise GafitInputError(f"{lines.where()}: expected 'nrho drho nr dr cut', got "
                              f"{' '.join(words)!r}")
    nrho = lines.integer(words[0], "nrho")
    drho = lines.number(words[1], "drho")
    nr = lines.integer(words[2], "nr")
    dr = lines.number(words[3], "dr")
    cut = lines.number(words[4], "cut")
    if nrho < 5 or nr < 5 or drho <= 0 or dr <= 0 or cut <= 0:
        raise GafitInputError(f"{lines.where()}: nrho and nr must be at least 5 and drho, dr, cut "
                              f"positive (got {' '.join(words[:5])})")
    return nrho, drho, nr, dr, cut


def _trailer(lines: _Lines) -> tuple[str | None, dict[str, float], int, str, dict[str, float]]:
    """The gafit form and parameters named in comment lines after the tables, the comment lines
    before gafit's E0 note or tags (the provenance), and the form's settings."""
    from gafit.lammps.files import E0_NOTE, E0_TAG

    form, params, first, settings = None, {}, 0, {}
    provenance: list[str] | None = []
    for n in range(lines.n, len(lines.lines)):
        raw = lines.lines[n].strip()
        body = raw.lstrip("#").strip()
        where = f"{lines.path} line {n + 1}"
        if body in (E0_NOTE,) or body.startswith((E0_TAG, FORM_TAG, PARAM_TAG, SETTINGS_TAG)):
            if provenance is not None:
                provenance, text = None, "\n".join(provenance)
        elif provenance is not None and raw.startswith("#"):
            provenance.append(raw[2:] if raw.startswith("# ") else raw[1:])
        if body.startswith(FORM_TAG):
            form = body[len(FORM_TAG):].strip()
        elif body.startswith((PARAM_TAG, SETTINGS_TAG)):
            is_param = body.startswith(PARAM_TAG)
            first = first or (n + 1 if is_param else 0)
            into = params if is_param else settings
            for item in body[len(PARAM_TAG if is_param else SETTINGS_TAG):].split():
                name, eq, val = item.partition("=")
                try:
                    into[name] = float(val) if eq else float("nan")
                except ValueError:
                    into[name] = float("nan")
                if not np.isfinite(into[name]):
                    raise GafitInputError(f"{where}: {'parameter' if is_param else 'setting'} "
                                          f"{item!r} is not NAME=NUMBER with a finite number")
    return (form, params, first, (text if form is not None and provenance is None else ""),
            settings)


def read_eam_file(path: Path, kind: str) -> EAMFile:
    """Read a setfl (``kind`` "setfl") or fs ("fs") file; a problem is a one-line error naming
    the file and line."""
    try:
        text = path.read_text(encoding="utf-8", errors="replace")
    except OSError as err:
        raise GafitInputError(f"{path}: cannot read ({err.strerror or err})") from None
    lines = _Lines(path, text)
    lines.n = min(3, len(lines.lines))  # three comment lines
    words = lines.words("the line 'N element1 ... elementN'")
    n_el = lines.integer(words[0], "the number of elements")
    if n_el < 1 or len(words) != n_el + 1:
        raise GafitInputError(f"{lines.where()}: expected 'N' and N element names, got "
                              f"{' '.join(words)!r}")
    elements = words[1:]
    if len(set(elements)) != n_el:
        raise GafitInputError(f"{lines.where()}: an element is named twice: {' '.join(elements)}")
    nrho, drho, nr, dr, cut = _grid(lines)
    numbers, masses = [], []
    frho = np.zeros((n_el, nrho))
    rhor = np.zeros((n_el, n_el, nr))
    for e, el in enumerate(elements):
        words = lines.words(f"the line 'Z mass' of element {el}")
        if len(words) < 2:
            raise GafitInputError(f"{lines.where()}: expected 'Z mass' for element {el}")
        numbers.append(lines.integer(words[0], f"atomic number of {el}"))
        masses.append(lines.number(words[1], f"the mass of {el}"))
        frho[e] = lines.numbers(nrho, f"F(rho) of {el}")
        if kind == "setfl":
            rhor[e, :] = lines.numbers(nr, f"rho(r) of {el}")
        else:
            for d, other in enumerate(elements):
                rhor[e, d] = lines.numbers(nr, f"rho(r) of {el} at {other}")
    z2r = np.zeros((n_el, n_el, nr))
    for a in range(n_el):
        for b in range(a + 1):
            z2r[a, b] = z2r[b, a] = lines.numbers(
                nr, f"r*phi(r) of {elements[a]}-{elements[b]}")
    form, params, first, provenance, settings = _trailer(lines)
    return EAMFile(kind, elements, numbers, masses, nrho, drho, nr, dr, cut, frho, rhor, z2r,
                   form, params, first, provenance, settings)


def _table_lines(values: np.ndarray) -> list[str]:
    return [" ".join(number(x) for x in values[k : k + 5]) for k in range(0, len(values), 5)]


def eam_file_text(data: EAMFile, header: list[str], trailer: list[str]) -> str:
    """The text of a setfl (``data.kind`` "setfl") or fs file: ``header`` (at most three lines)
    as its comment lines, ``trailer`` as comment lines after the tables."""
    if len(header) > 3:
        raise ValueError("a setfl/fs file has three comment lines")
    lines = [f"# {h}".rstrip() for h in header] + ["#"] * (3 - len(header))
    lines.append(f"{len(data.elements)} {' '.join(data.elements)}")
    lines.append(f"{data.nrho} {number(data.drho)} {data.nr} {number(data.dr)} {number(data.cut)}")
    for e in range(len(data.elements)):
        lines.append(f"{data.numbers[e]} {number(data.masses[e])} 0.0 none")
        lines += _table_lines(data.frho_er[e])
        if data.kind == "setfl":
            lines += _table_lines(data.rhor_sdr[e, 0])
        else:
            for d in range(len(data.elements)):
                lines += _table_lines(data.rhor_sdr[e, d])
    for a in range(len(data.elements)):
        for b in range(a + 1):
            lines += _table_lines(data.z2r_str[a, b])
    lines += [f"# {t}".rstrip() for t in trailer]
    return "\n".join(lines) + "\n"
