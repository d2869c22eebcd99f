"""Hypothesis strategies for bad input: valid gafit files made by gafit's own writers, and mutations.

A malformed input starts as a VALID file (written by gafit from random small structures or
potentials, or a real file such as a LAMMPS ``.tersoff``) and is then damaged by one to three
mutations: lines deleted, duplicated or swapped, truncation at a random byte, a token replaced by
garbage, random bytes inserted (NUL, invalid UTF-8, stray quotes, line breaks), CSV columns renamed,
added or removed, or the whole file replaced by nothing or binary junk. Structured inputs (JSON, TOML)
are also mutated as trees: keys deleted, renamed or added, values replaced by values of any type.
"""

from __future__ import annotations

import copy
import csv
import datetime
import io
import math
import re
from collections.abc import Callable

import numpy as np
from ase import Atoms
from hypothesis import strategies as st

from gafit.forms import get_form
from gafit.io.csv_format import CURVE_COLUMNS, PER_ATOM_COLUMNS
from gafit.potential import Potential
from gafit.structures import ReferenceSet, Structure

SPECIES = ("Cu", "Ag", "Si", "C")

#: text that replaces a token of a valid file
GARBAGE_WORDS = (
    "", "nan", "NaN", "-nan", "inf", "-inf", "Infinity", "1e999", "-1e999", "1e308", "-0", "-0.0",
    "0", "1e-320", "-1", "x", "abc", "None", "null", "true", "false", "Å", "１２", "\u00a0", "\u200b",
    "\u2028", "\x85", "💥", "[", "]", "{", "}", '"', "'", '"unterminated', ",", "=", "#", "\\", "*",
    "1*", "0*9", "*99", "\t", "\r", "\n", "\r\n", "1,2", "a b", "9" * 400, "0." + "0" * 400 + "1",
    "9" * 5000, "1_000", "0x10", "1.2.3", "+-1", "1e", ".", "NULL", "pair_coeff", "pair_style",
    "hybrid/overlay", "X", "cu", "Xx", "Si(D)", "-", "Cu-Cu-Cu.m", "=Cu-Cu.D0", "auto",
)
GARBAGE = st.one_of(
    st.sampled_from(GARBAGE_WORDS),
    st.text(st.characters(exclude_categories=("Cs",)), max_size=12),
    st.from_regex(r"[+-]?[0-9]{1,400}(\.[0-9]{0,40})?([eE][+-]?[0-9]{1,5})?", fullmatch=True),
    st.floats().map(repr),
    st.integers().map(str),
)
RAW_BYTES = st.one_of(
    st.sampled_from([b"\x00", b"\xff", b"\xc3", b"\xe2\x82", b"\xef\xbb\xbf", b"\r", b"\n", b"\x1a",
                     b'"', b"'", b"#", b",", b"\\", b"\x00" * 40]),
    st.binary(min_size=1, max_size=16),
)

_TOKEN = re.compile(rb'[^\s,="\[\]{}:#]+')


# ------------------------------------------------------------------------------------- mutations


def _lines(data: bytes) -> list[bytes]:
    return data.splitlines(keepends=True)


def delete_line(draw, data: bytes) -> bytes:
    lines = _lines(data)
    if lines:
        del lines[draw(st.integers(0, len(lines) - 1))]
    return b"".join(lines)


def duplicate_line(draw, data: bytes) -> bytes:
    lines = _lines(data)
    if lines:
        i = draw(st.integers(0, len(lines) - 1))
        lines.insert(draw(st.integers(0, len(lines))), lines[i])
    return b"".join(lines)


def swap_lines(draw, data: bytes) -> bytes:
    lines = _lines(data)
    if len(lines) > 1:
        i, j = draw(st.integers(0, len(lines) - 1)), draw(st.integers(0, len(lines) - 1))
        lines[i], lines[j] = lines[j], lines[i]
    return b"".join(lines)


def truncate(draw, data: bytes) -> bytes:
    return data[: draw(st.integers(0, len(data)))]


def replace_token(draw, data: bytes) -> bytes:
    spans = [m.span() for m in _TOKEN.finditer(data)]
    if not spans:
        return data
    a, b = draw(st.sampled_from(spans))
    return data[:a] + draw(GARBAGE).encode("utf-8") + data[b:]


def insert_bytes(draw, data: bytes) -> bytes:
    k = draw(st.integers(0, len(data)))
    return data[:k] + draw(RAW_BYTES) + data[k:]


def empty(draw, data: bytes) -> bytes:
    return b""


def junk(draw, data: bytes) -> bytes:
    return draw(st.binary(max_size=300))


def _csv_rows(data: bytes) -> list[list[str]]:
    return [line.split(",") for line in data.decode("utf-8", "replace").splitlines()]


def _csv_bytes(rows: list[list[str]]) -> bytes:
    return "".join(",".join(r) + "\n" for r in rows).encode("utf-8")


COLUMN_NAMES = st.one_of(st.sampled_from(sorted({*PER_ATOM_COLUMNS, *CURVE_COLUMNS})), GARBAGE)


def rename_column(draw, data: bytes) -> bytes:
    rows = _csv_rows(data)
    if rows and rows[0]:
        rows[0][draw(st.integers(0, len(rows[0]) - 1))] = draw(COLUMN_NAMES)
    return _csv_bytes(rows)


def drop_column(draw, data: bytes) -> bytes:
    """Remove column k from the header only, or from every line."""
    rows = _csv_rows(data)
    if not rows or not rows[0]:
        return data
    k = draw(st.integers(0, len(rows[0]) - 1))
    for r in rows[: None if draw(st.booleans()) else 1]:
        if k < len(r):
            del r[k]
    return _csv_bytes(rows)


def add_column(draw, data: bytes) -> bytes:
    """Insert a column (known name or garbage) into the header only, every line, or one data line."""
    rows = _csv_rows(data)
    if not rows:
        return data
    k = draw(st.integers(0, len(rows[0])))
    where = draw(st.sampled_from(["header", "all", "one"]))
    if where in ("header", "all"):
        rows[0].insert(k, draw(COLUMN_NAMES))
    if where == "all":
        for r in rows[1:]:
            r.insert(min(k, len(r)), draw(GARBAGE))
    if where == "one" and len(rows) > 1:
        r = rows[draw(st.integers(1, len(rows) - 1))]
        r.insert(min(k, len(r)), draw(GARBAGE))
    return _csv_bytes(rows)


Mutation = Callable[..., bytes]
GENERIC = (delete_line, duplicate_line, swap_lines, truncate, replace_token, replace_token,
           replace_token, insert_bytes, insert_bytes, empty, junk)
CSV_OPS = (rename_column, drop_column, add_column)


@st.composite
def mutated(draw, data: bytes, extra: tuple[Mutation, ...] = ()) -> bytes:
    """``data`` after one to three mutations (GENERIC, plus ``extra``)."""
    ops = GENERIC + extra
    for _ in range(draw(st.integers(1, 3))):
        data = draw(st.sampled_from(ops))(draw, data)
    return data


# ------------------------------------------------------------------------- trees (JSON and TOML)

JSON_VALUES = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats() | st.text(max_size=8)
    | st.sampled_from(["Cu", "morse", "tersoff", "buckingham", "Cu-Cu.D0", "", "nan"]),
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=6), inner, max_size=3),
    max_leaves=6,
)
TOML_SCALARS = (st.booleans() | st.integers() | st.floats() | st.text(max_size=8) | st.dates()
                | st.sampled_from(["Cu", "morse", "tersoff", "buckingham", "Cu-Cu.D0", "", "auto"]))
TOML_VALUES = st.recursive(
    TOML_SCALARS,
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=6), inner, max_size=3),
    max_leaves=6,
)


KEYS = st.text(max_size=8)


def _nodes(tree, path=()) -> list[tuple]:
    """Paths (tuples of keys/indices) of every node of a JSON-like tree, the root first."""
    out = [path]
    if isinstance(tree, dict):
        for k, v in tree.items():
            out += _nodes(v, (*path, k))
    elif isinstance(tree, list):
        for i, v in enumerate(tree):
            out += _nodes(v, (*path, i))
    return out


@st.composite
def mutated_tree(draw, tree, values=JSON_VALUES, keys=KEYS):
    """A deep copy of ``tree`` with one to three nodes deleted, replaced, renamed or added."""
    tree = copy.deepcopy(tree)
    for _ in range(draw(st.integers(1, 3))):
        path = draw(st.sampled_from(_nodes(tree)))
        if not path:
            if draw(st.integers(0, 9)) == 0:
                tree = copy.deepcopy(draw(values))  # the whole document is something else
            continue
        parent = tree
        for k in path[:-1]:
            parent = parent[k]
        key = path[-1]
        op = draw(st.sampled_from(["delete", "replace", "replace", "rename", "add"]))
        if op == "delete":
            del parent[key]
        elif op == "replace":
            parent[key] = copy.deepcopy(draw(values))
        elif op == "rename" and isinstance(parent, dict):
            parent[draw(keys)] = parent.pop(key)
        elif op == "add" and isinstance(parent, dict):
            parent[draw(keys)] = copy.deepcopy(draw(values))
        elif op == "add":
            parent.insert(key, copy.deepcopy(draw(values)))
    return tree


def _toml_string(s: str) -> str:
    out = ['"']
    for ch in s:
        if ch in '"\\':
            out.append("\\" + ch)
        elif ord(ch) < 0x20 or ord(ch) == 0x7F:
            out.append(f"\\u{ord(ch):04x}")
        else:
            out.append(ch)
    return "".join(out) + '"'


def _toml_value(v) -> str:
    if isinstance(v, bool):
        return "true" if v else "false"
    if isinstance(v, int):
        return str(v)
    if isinstance(v, float):
        if math.isnan(v):
            return "nan"
        if math.isinf(v):
            return "inf" if v > 0 else "-inf"
        return repr(v)
    if isinstance(v, str):
        return _toml_string(v)
    if isinstance(v, datetime.date):
        return v.isoformat()
    if isinstance(v, list):
        return "[" + ", ".join(_toml_value(x) for x in v) + "]"
    if isinstance(v, dict):
        return "{" + ", ".join(f"{_toml_string(str(k))} = {_toml_value(x)}" for k, x in v.items()) + "}"
    raise TypeError(f"no TOML for {v!r}")


def toml_dumps(table: dict) -> str:
    """A TOML document for ``table`` (every nested table inline)."""
    return "".join(f"{_toml_string(str(k))} = {_toml_value(v)}\n" for k, v in table.items())


# ----------------------------------------------------------------------------- valid inputs

JITTER = st.floats(0.0, 0.2, allow_nan=False)
VALUE = st.floats(-50.0, 50.0, allow_nan=False)
LABELS = st.sampled_from(["default", "bulk", "a b", "x,y", 'q"t', "Å-ü", "dimer", "#1"])


@st.composite
def reference_sets(draw, max_structures: int = 3, max_atoms: int = 4, partial_pbc: bool = False
                   ) -> ReferenceSet:
    """Random small structures with random (optional) energy, forces, stress, weight, labels."""
    out = []
    for k in range(draw(st.integers(1, max_structures))):
        n = draw(st.integers(1, max_atoms))
        symbols = draw(st.lists(st.sampled_from(SPECIES), min_size=n, max_size=n))
        # distinct points of a 4x4x4 grid, moved by less than a fifth of its spacing: no two atoms
        # (or images) closer than gafit's MIN_DISTANCE
        grid = np.array(draw(st.lists(st.tuples(*[st.integers(0, 3)] * 3), min_size=n, max_size=n,
                                      unique=True)), float)
        grid += np.array(draw(st.lists(JITTER, min_size=3 * n, max_size=3 * n))).reshape(n, 3)
        periodic = draw(st.booleans())
        cell = np.zeros((3, 3))
        pos = grid * 3.0 - 6.0
        if periodic:
            cell = np.diag(draw(st.lists(st.floats(3.0, 9.0), min_size=3, max_size=3)))
            cell += np.array(draw(st.lists(st.floats(-0.5, 0.5), min_size=9, max_size=9))).reshape(3, 3)
            pos = grid / 4 @ cell
        pbc = periodic
        if periodic and partial_pbc and draw(st.booleans()):
            pbc = [True, True, False]
        atoms = Atoms(symbols, positions=pos, cell=cell, pbc=pbc)
        forces = draw(st.none() | st.lists(VALUE, min_size=3 * n, max_size=3 * n))
        stress = draw(st.none() | st.lists(VALUE, min_size=6, max_size=6)) if periodic else None
        out.append(Structure(
            atoms,
            energy=draw(st.none() | VALUE),
            forces=None if forces is None else np.array(forces).reshape(n, 3),
            stress=None if stress is None else np.array(stress) * 0.01,
            weight=draw(st.floats(0.0, 5.0)),
            config_type=draw(LABELS),
            name=draw(st.sampled_from(["", f"s{k}", "s", "name with space", "n,m", "ü"])),
        ))
    return ReferenceSet(out, "hypothesis")


@st.composite
def binding_curve_csv(draw) -> bytes:
    """A valid binding-curve CSV: r, energy, species_a, species_b and optional columns, any order."""
    cols = ["r", "energy", "species_a", "species_b"]
    cols += draw(st.lists(st.sampled_from(["structure", "weight", "config_type"]), unique=True))
    cols = draw(st.permutations(cols))
    makers = {
        "r": st.floats(0.5, 8.0).map(repr),
        "energy": VALUE.map(repr),
        "species_a": st.sampled_from(SPECIES),
        "species_b": st.sampled_from(SPECIES),
        "structure": st.sampled_from(["", "d1", "d 2", "ü"]),
        "weight": st.just("") | st.floats(0.0, 3.0).map(repr),
        "config_type": st.just("") | LABELS,
    }
    buf = io.StringIO()
    w = csv.writer(buf, lineterminator="\n")
    w.writerow(cols)
    for _ in range(draw(st.integers(1, 6))):
        w.writerow([draw(makers[c]) for c in cols])
    return buf.getvalue().encode("utf-8")


@st.composite
def potentials(draw, forms=("morse", "buckingham", "tersoff"), max_species: int = 2) -> Potential:
    """A random valid potential of one form: values inside the form's default bounds."""
    form_cls = get_form(draw(st.sampled_from(forms)))
    species = draw(st.lists(st.sampled_from(SPECIES), min_size=1, max_size=max_species, unique=True))
    form = form_cls(species, draw(st.floats(3.0, 7.0)))
    b = form.default_bounds()
    u = np.array(draw(st.lists(st.floats(0.0, 1.0), min_size=form.n_params, max_size=form.n_params)))
    values = form.repair((b[:, 0] + u * (b[:, 1] - b[:, 0]))[None].copy())[0]
    e0 = draw(st.lists(VALUE, min_size=len(species), max_size=len(species)))
    return Potential(species, [form], np.concatenate([values, e0]))
