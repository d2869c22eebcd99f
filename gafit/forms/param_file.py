"""Reading the LAMMPS parameter files of many-body forms (``.sw``, and the like): entries of
element names then numbers, an entry's words possibly spread over several lines, ``#`` comments.

Every word keeps its line and column, so that a bad entry is a one-line error naming both.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from gafit.structures import GafitInputError

NUMBER = re.compile(r"[+-]?(\d+\.?\d*|\.\d+)([eE][+-]?\d+)?")


@dataclass(frozen=True)
class Word:
    """One word of a parameter file and where it stands (line and column from 1)."""

    text: str
    line: int
    col: int

    def where(self, path: Path) -> str:
        return f"{path} line {self.line} column {self.col}"


@dataclass
class Entries:
    """The entries of a parameter file: {element names: [words of each entry with that key]} and
    the element names in order of first appearance."""

    found: dict[tuple[str, ...], list[list[Word]]]
    elements: list[str]


def _words(raw: str, line: int) -> list[Word]:
    text = raw.split("#", 1)[0]
    return [Word(m.group(), line, m.start() + 1) for m in re.finditer(r"\S+", text)]


def read_entries(path: Path, n_names: int, n_numbers: int, what: str) -> Entries:
    """Entries of ``n_names`` element names and ``n_numbers`` numbers each (``what`` names the
    kind of entry in errors, e.g. 'a Stillinger-Weber entry'). The numbers are checked when used
    (:func:`entry_numbers`): LAMMPS reads only the entries of the elements it is given."""
    if not path.is_file():
        raise GafitInputError(f"{path}: no such file")
    n_words = n_names + n_numbers
    found: dict[tuple[str, ...], list[list[Word]]] = {}
    first: dict[str, None] = {}
    words: list[Word] = []
    text = path.read_text(encoding="utf-8", errors="replace")
    for n, raw in enumerate(text.splitlines(), 1):
        words += _words(raw, n)
        if len(words) < n_words:
            continue
        if len(words) > n_words:
            extra = words[n_words]
            raise GafitInputError(
                f"{extra.where(path)}: the entry starting on line {words[0].line} has "
                f"{len(words)} words; {what} is {n_names} element names and {n_numbers} numbers "
                f"({n_words} words)"
            )
        for w in words[:n_names]:
            if NUMBER.fullmatch(w.text):
                raise GafitInputError(f"{w.where(path)}: element name '{w.text}' is a number; an "
                                      f"entry starts with {n_names} element names")
            first.setdefault(w.text, None)
        found.setdefault(tuple(w.text for w in words[:n_names]), []).append(words)
        words = []
    if words:
        raise GafitInputError(f"{words[0].where(path)}: incomplete entry at end of file "
                              f"({len(words)} of {n_words} words)")
    return Entries(found, list(first))


def entry_words(path: Path, entries: Entries, key: tuple[str, ...], hint: str = "") -> list[Word]:
    """The words of the one entry ``key``; a missing or duplicated entry is an error."""
    hit = entries.found.get(key)
    label = " ".join(key)
    if not hit:
        raise GafitInputError(f"{path}: no entry for {label}; LAMMPS needs every ordered triplet "
                              f"of the elements used{hint}")
    if len(hit) > 1:
        raise GafitInputError(f"{hit[1][0].where(path)}: duplicate entry {label} (first on line "
                              f"{hit[0][0].line})")
    return hit[0]


def entry_numbers(path: Path, words: list[Word], names: list[str]) -> np.ndarray:
    """The numbers of an entry (the words after its element names), one per name in ``names``;
    a word that is not a finite number is an error naming it."""
    out = []
    values = words[len(words) - len(names):]
    label = " ".join(w.text for w in words[: len(words) - len(names)])
    for name, w in zip(names, values, strict=True):
        if not NUMBER.fullmatch(w.text) or not np.isfinite(float(w.text)):
            raise GafitInputError(f"{w.where(path)}: {name} '{w.text}' of entry {label} is not a "
                                  "finite number")
        out.append(float(w.text))
    return np.array(out)
