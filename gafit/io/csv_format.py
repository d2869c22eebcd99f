"""CSV reference files: the per-atom layout and the dimer binding-curve layout.

Per-atom layout, one row per atom: ``structure, species, x, y, z`` (Å) required; optional
``fx, fy, fz`` (eV/Å), ``energy`` (eV, total), ``cell_ax .. cell_cz`` (Å, rows are the cell
vectors a, b, c; empty = non-periodic cluster), ``stress_xx .. stress_xy`` (GPa, positive =
tensile, Voigt xx yy zz yz xz xy), ``weight`` (default 1) and ``config_type``. Per-structure
columns are repeated on every row of the structure and must agree there.

Binding-curve layout, one row per dimer: ``r`` (Å), ``energy`` (eV, total energy of the dimer)
required; optional ``species_a, species_b``, ``weight``, ``config_type`` (default ``dimer``),
``structure`` (a name).

Error messages look like ``data.csv line 14, column 'energy': <what is wrong>``; line numbers are
1-based file lines, the header is line 1.
"""

from __future__ import annotations

import csv
import difflib
import math
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
from ase import Atoms
from ase.data import atomic_numbers
from ase.io.formats import string2index

from gafit.io.atomic import atomic_write
from gafit.structures import (
    GPA_TO_EV_A3,
    GafitInputError,
    ReferenceSet,
    Structure,
    StructureError,
    cell_problem,
)

REQUIRED = ("structure", "species", "x", "y", "z")
FORCE_COLS = ("fx", "fy", "fz")
CELL_COLS = tuple(f"cell_{v}{c}" for v in "abc" for c in "xyz")
STRESS_COLS = ("stress_xx", "stress_yy", "stress_zz", "stress_yz", "stress_xz", "stress_xy")
PER_STRUCTURE = ("energy", *CELL_COLS, *STRESS_COLS, "weight", "config_type")
PER_ATOM_COLUMNS = (*REQUIRED, *FORCE_COLS, *PER_STRUCTURE)
CURVE_REQUIRED = ("r", "energy")
CURVE_COLUMNS = ("structure", "r", "energy", "species_a", "species_b", "weight", "config_type")

Row = tuple[int, dict[str, str]]  # (1-based file line, column -> stripped text)


def _printable(text: str) -> str:
    """``text`` with line breaks and other unprintable characters escaped: messages stay one line."""
    return text if text.isprintable() else repr(text)[1:-1]


def _where(path: Path, line: int | None = None, col: str | None = None) -> str:
    s = str(path)
    if line is not None:
        s += f" line {line}"
    if col is not None:
        s += f", column '{_printable(col)}'"
    return s


def _error(path: Path, line: int | None, col: str | None, msg: str) -> GafitInputError:
    return GafitInputError(f"{_where(path, line, col)}: {msg}")


# ---------------------------------------------------------------------------------- table level


def wide_encoding(head: bytes) -> str | None:
    """The wide encoding (UTF-16/32) the first bytes of a file look like, or None. Such text is not
    UTF-8 but often decodes as UTF-8 all the same: every character's other byte is a NUL."""
    boms = ((b"\xff\xfe\x00\x00", "UTF-32 little-endian"), (b"\x00\x00\xfe\xff", "UTF-32 big-endian"),
            (b"\xff\xfe", "UTF-16 little-endian"), (b"\xfe\xff", "UTF-16 big-endian"))
    for bom, name in boms:
        if head.startswith(bom):
            return f"{name} (it starts with that byte-order mark)"
    even, odd = head[0::2], head[1::2]
    if len(head) >= 4 and max(even.count(0), odd.count(0)) > 0.4 * len(odd):
        order = "big" if even.count(0) > odd.count(0) else "little"
        return f"UTF-16 {order}-endian or another wide encoding (every other byte is NUL)"
    return None


def check_utf8_text(path: Path) -> None:
    """Raise if ``path`` looks like UTF-16/32 text, naming the encoding (a CSV or extxyz reader
    would otherwise report columns it cannot make sense of)."""
    try:
        with open(path, "rb") as f:
            head = f.read(4096)
    except OSError as e:
        raise GafitInputError(f"{path}: cannot read ({e.strerror or e})") from e
    wide = wide_encoding(head)
    if wide is not None:
        raise GafitInputError(f"{path}: not UTF-8 text: looks like {wide}; save it as UTF-8")


def _read_table(path: Path) -> tuple[list[str], list[Row]]:
    """Header (lower-cased, stripped) and the non-blank data rows of a CSV file."""
    check_utf8_text(path)
    try:
        with open(path, newline="", encoding="utf-8-sig") as f:
            reader = csv.reader(f)
            header: list[str] | None = None
            rows: list[Row] = []
            for cells in reader:
                cells = [c.strip() for c in cells]
                if not any(cells):
                    continue
                if header is None:
                    header = _check_header(path, reader.line_num, cells)
                    continue
                line = reader.line_num
                if len(cells) < len(header) or any(cells[len(header) :]):
                    raise _error(
                        path,
                        line,
                        None,
                        f"expected {len(header)} values as in the header, found {len(cells)}",
                    )
                rows.append((line, dict(zip(header, cells, strict=False))))
    except csv.Error as e:
        raise GafitInputError(f"{path}: not a valid CSV file ({e})") from e
    except UnicodeDecodeError as e:
        raise GafitInputError(f"{path}: not a UTF-8 text file ({e.reason})") from e
    except OSError as e:  # a folder, no permission, ...
        raise GafitInputError(f"{path}: cannot read ({e.strerror or e})") from e
    if header is None:
        raise GafitInputError(f"{path}: empty file (expected a CSV header line)")
    if not rows:
        raise GafitInputError(f"{path}: no data rows after the header")
    return header, rows


def _check_header(path: Path, line: int, cells: list[str]) -> list[str]:
    names = [c.lower() for c in cells]
    for i, name in enumerate(names):
        if not name:
            raise _error(path, line, None, f"column {i + 1} of the header has no name")
        if name in names[:i]:
            raise _error(path, line, cells[i], "duplicate column name")
    return names


def _check_columns(
    path: Path, header: list[str], allowed: Sequence[str], required: Sequence[str], layout: str
) -> None:
    for name in header:
        if name not in allowed:
            close = difflib.get_close_matches(name, allowed, n=1)
            hint = f" (did you mean '{close[0]}'?)" if close else ""
            raise _error(
                path,
                1,
                name,
                f"unknown column for the {layout} layout{hint}; allowed: {', '.join(allowed)}",
            )
    for name in required:
        if name not in header:
            raise _error(
                path,
                1,
                name,
                f"missing required column '{name}' ({layout} layout needs {', '.join(required)})",
            )


def _check_group(path: Path, header: list[str], group: Sequence[str]) -> bool:
    """True if all columns of ``group`` are in the header, False if none; error otherwise."""
    present = [c in header for c in group]
    if all(present):
        return True
    if any(present):
        missing = group[present.index(False)]
        raise _error(path, 1, missing, f"missing column: give all of {', '.join(group)} or none")
    return False


# ----------------------------------------------------------------------------------- cell level


def _number(path: Path, line: int, col: str, text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise _error(path, line, col, f"'{_printable(text)}' is not a number") from None
    if not math.isfinite(value):
        raise _error(path, line, col, f"'{_printable(text)}' is not a finite number")
    return value


def _optional_number(path: Path, line: int, col: str, text: str) -> float | None:
    return None if text == "" else _number(path, line, col, text)


def _group_values(path: Path, line: int, row: dict[str, str], group: Sequence[str]):
    """The floats of a column group on one row, None if all empty; error if partly empty."""
    texts = [row[c] for c in group]
    if not any(texts):
        return None
    if not all(texts):
        col = group[texts.index("")]
        raise _error(path, line, col, f"empty value: give all of {', '.join(group)} or none")
    return np.array([_number(path, line, c, t) for c, t in zip(group, texts, strict=True)])


def _symbol(path: Path, line: int, col: str, text: str) -> str:
    if text in atomic_numbers and text != "X":
        return text
    if text == "":
        raise _error(path, line, col, "empty chemical symbol")
    fixed = text.capitalize()
    hint = f" (did you mean '{fixed}'?)" if fixed in atomic_numbers and fixed != "X" else ""
    raise _error(path, line, col, f"unknown chemical symbol '{_printable(text)}'{hint}")


def _weight(path: Path, line: int, text: str) -> float:
    if text == "":
        return 1.0
    w = _number(path, line, "weight", text)
    if w < 0:
        raise _error(path, line, "weight", f"weight must be >= 0, got {text}")
    return w


# ------------------------------------------------------------------------------- per-atom layout


@dataclass
class _Pending:
    """Rows of one structure gathered while reading."""

    label: str
    first_line: int
    symbols: list[str] = field(default_factory=list)
    positions: list[np.ndarray] = field(default_factory=list)
    forces: list[np.ndarray | None] = field(default_factory=list)
    force_lines: dict[bool, int] = field(default_factory=dict)  # has forces -> first line
    seen: dict[str, tuple[int, str]] = field(default_factory=dict)  # column -> (line, text)
    values: dict[str, float | str | None] = field(default_factory=dict)


def _shown(text: str) -> str:
    return _printable(text) if text else "no value"


def _per_structure(path: Path, line: int, p: _Pending, col: str, text: str, value) -> None:
    """Record a per-structure value, or check it against the one seen first."""
    if col not in p.seen:
        p.seen[col] = (line, text)
        p.values[col] = value
        return
    first_line, first_text = p.seen[col]
    if p.values[col] != value:
        raise _error(
            path,
            line,
            col,
            f"structure '{_printable(p.label)}' has {col} {_shown(text)} here but {_shown(first_text)} "
            f"on line {first_line} (per-structure values must be equal on all its rows)",
        )


def read_per_atom_csv(path: Path, header: list[str], rows: list[Row]) -> list[Structure]:
    """Structures from the per-atom layout, in order of first appearance of their label."""
    _check_columns(path, header, PER_ATOM_COLUMNS, REQUIRED, "per-atom")
    has_f = _check_group(path, header, FORCE_COLS)
    has_cell = _check_group(path, header, CELL_COLS)
    has_stress = _check_group(path, header, STRESS_COLS)
    groups = [g for g, present in ((CELL_COLS, has_cell), (STRESS_COLS, has_stress)) if present]
    per_structure = [c for c in PER_STRUCTURE if c in header]
    pending: dict[str, _Pending] = {}
    for line, row in rows:
        label = row["structure"]
        if not label:
            raise _error(path, line, "structure", "empty structure label")
        p = pending.setdefault(label, _Pending(label, line))
        p.symbols.append(_symbol(path, line, "species", row["species"]))
        p.positions.append(np.array([_number(path, line, c, row[c]) for c in "xyz"]))
        f = _group_values(path, line, row, FORCE_COLS) if has_f else None
        p.force_lines.setdefault(f is not None, line)
        if len(p.force_lines) == 2:
            other = p.force_lines[f is None]
            have, lack = ("has", "not") if f is not None else ("has no", "has them")
            raise _error(
                path,
                line,
                "fx",
                f"structure '{_printable(label)}' {have} forces here but {lack} on line {other} "
                "(give forces for all atoms of a structure or for none)",
            )
        p.forces.append(f)
        for group in groups:
            _group_values(path, line, row, group)  # all of a group or none on each row
        for col in per_structure:
            text = row[col]
            if col == "weight":
                value = _weight(path, line, text)
            elif col == "config_type":
                value = text
            else:
                value = _optional_number(path, line, col, text)
            _per_structure(path, line, p, col, text, value)
    return [_build(path, p) for p in pending.values()]


def _build(path: Path, p: _Pending) -> Structure:
    v = p.values
    cell = None if v.get("cell_ax") is None else np.array([v[c] for c in CELL_COLS]).reshape(3, 3)
    stress = None if v.get("stress_xx") is None else np.array([v[c] for c in STRESS_COLS])
    if cell is not None and (problem := cell_problem(cell, [True] * 3)) is not None:
        raise _error(path, p.first_line, "cell_ax", f"structure '{_printable(p.label)}': {problem}")
    if stress is not None and cell is None:
        raise _error(
            path,
            p.first_line,
            "stress_xx",
            f"structure '{_printable(p.label)}' has a stress but no cell (stress needs a periodic cell)",
        )
    atoms = Atoms(
        p.symbols,
        positions=np.array(p.positions),
        cell=cell if cell is not None else np.zeros((3, 3)),
        pbc=cell is not None,
    )
    try:
        return Structure(
            atoms=atoms,
            energy=v.get("energy"),
            forces=None if p.forces[0] is None else np.array(p.forces),
            stress=None if stress is None else stress * GPA_TO_EV_A3,
            weight=v.get("weight", 1.0),
            config_type=v.get("config_type") or "default",
            name=p.label,
        )
    except StructureError as e:
        raise _error(path, p.first_line, None, f"structure '{_printable(p.label)}': {e.problem}") from None


# --------------------------------------------------------------------------- binding-curve layout


def read_binding_curve_csv(
    path: Path, header: list[str], rows: list[Row], dimer_species: Sequence[str] | None = None
) -> list[Structure]:
    """One 2-atom non-periodic Structure per row: atoms at (0,0,0) and (r,0,0) Å, energy in eV."""
    _check_columns(path, header, CURVE_COLUMNS, CURVE_REQUIRED, "binding-curve")
    has_species = _check_group(path, header, ("species_a", "species_b"))
    if dimer_species is not None and len(dimer_species) != 2:
        raise GafitInputError(f"{path}: dimer_species must be two chemical symbols")
    if not has_species and dimer_species is None:
        raise GafitInputError(
            f"{path}: a binding-curve CSV needs the species of the dimer: add columns "
            "species_a,species_b (or, in a fit config, name the one species of a homonuclear "
            "dimer: [potential] species = [\"Cu\"]; in Python: dimer_species=(a, b))"
        )
    out = []
    for i, (line, row) in enumerate(rows):
        r = _number(path, line, "r", row["r"])
        if r <= 0:
            raise _error(path, line, "r", f"r must be > 0 Å, got {row['r']}")
        if row["energy"] == "":
            raise _error(path, line, "energy", "missing energy (required for a binding curve)")
        energy = _number(path, line, "energy", row["energy"])
        pair = []
        for k, col in enumerate(("species_a", "species_b")):
            text = row.get(col, "")
            if text == "" and dimer_species is None:
                raise _error(path, line, col, "empty chemical symbol")
            pair.append(_symbol(path, line, col, text or dimer_species[k]))
        atoms = Atoms(pair, positions=[[0.0, 0.0, 0.0], [r, 0.0, 0.0]], pbc=False)
        try:
            out.append(
                Structure(
                    atoms=atoms,
                    energy=energy,
                    weight=_weight(path, line, row.get("weight", "")),
                    config_type=row.get("config_type") or "dimer",
                    name=row.get("structure") or f"{path.name}:{i}",
                )
            )
        except StructureError as e:
            raise _error(path, line, "r", f"the dimer's {e.problem}") from None
    return out


# ------------------------------------------------------------------------------------- dispatch


def select(items: list, index: str | int | slice, path: Path) -> tuple[list, list[int]]:
    """Items chosen by an ASE-style index (":", "3", "-1", "::2", int, slice), and their indices."""
    try:
        idx = string2index(index) if isinstance(index, str) else index
        positions = list(range(len(items)))
        chosen = positions[idx]
    except (ValueError, TypeError, IndexError) as e:
        raise GafitInputError(f"{path}: bad index {index!r} for {len(items)} structures") from e
    chosen = chosen if isinstance(chosen, list) else [chosen]
    return [items[i] for i in chosen], chosen


def read_csv(
    path: Path, index: str | int | slice = ":", dimer_species: Sequence[str] | None = None
) -> ReferenceSet:
    """Read a CSV reference file; the layout (per-atom or binding curve) is chosen by the header."""
    header, rows = _read_table(path)
    if "r" in header and "energy" in header and "x" not in header:
        structures = read_binding_curve_csv(path, header, rows, dimer_species)
    else:
        structures = read_per_atom_csv(path, header, rows)
    return ReferenceSet(select(structures, index, path)[0], source=str(path))


# ---------------------------------------------------------------------------------------- writing


def _fmt(x: float | None) -> str:
    return "" if x is None else repr(float(x))


def unique_labels(refset: ReferenceSet) -> list[str]:
    """Structure names made non-empty and unique (CSV rows are grouped by label)."""
    labels: list[str] = []
    used: set[str] = set()
    for i, s in enumerate(refset):
        base = s.name or f"s{i}"
        label, k = base, 1
        while label in used:
            k += 1
            label = f"{base}#{k}"
        used.add(label)
        labels.append(label)
    return labels


def write_csv(refset: ReferenceSet, path: Path) -> None:
    """Write the per-atom layout (stress in GPa); columns only for properties some structure has."""
    for s in refset:
        pbc = s.atoms.pbc
        if pbc.any() and not pbc.all():
            raise GafitInputError(
                f"{path}: structure '{_printable(s.name)}' is periodic along some axes only "
                f"(pbc={list(pbc)}); "
                "CSV holds only fully periodic structures or clusters, write .extxyz instead"
            )
        if s.stress is not None and not s.periodic:
            raise GafitInputError(
                f"{path}: structure '{_printable(s.name)}' has a stress but no periodic cell"
            )
    has_f = any(s.forces is not None for s in refset)
    has_e = any(s.energy is not None for s in refset)
    has_cell = any(s.periodic for s in refset)
    has_stress = any(s.stress is not None for s in refset)
    header = [*REQUIRED]
    header += [*FORCE_COLS] * has_f + ["energy"] * has_e + [*CELL_COLS] * has_cell
    header += [*STRESS_COLS] * has_stress + ["weight", "config_type"]

    def write(tmp: str) -> None:
        with open(tmp, "w", newline="", encoding="utf-8") as f:
            write_rows(csv.writer(f, lineterminator="\n"))

    def write_rows(w) -> None:
        w.writerow(header)
        none3 = [None] * 3
        for label, s in zip(unique_labels(refset), refset, strict=True):
            tail = [_fmt(s.energy)] if has_e else []
            if has_cell:
                cell = s.atoms.cell.array.reshape(9) if s.periodic else [None] * 9
                tail += [_fmt(c) for c in cell]
            if has_stress:
                gpa = [None] * 6 if s.stress is None else s.stress / GPA_TO_EV_A3
                tail += [_fmt(c) for c in gpa]
            tail += [_fmt(s.weight), s.config_type]
            for i, (sym, pos) in enumerate(
                zip(s.atoms.get_chemical_symbols(), s.atoms.positions, strict=True)
            ):
                f_cols = []
                if has_f:
                    f_cols = [_fmt(c) for c in (none3 if s.forces is None else s.forces[i])]
                w.writerow([label, sym, *(_fmt(c) for c in pos), *f_cols, *tail])

    atomic_write(path, write)
