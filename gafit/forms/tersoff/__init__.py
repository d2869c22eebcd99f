"""Tersoff bond-order potential, exactly LAMMPS ``pair_style tersoff`` (without ``shift``).

Units: eV and Å. One parameter block per ORDERED species triplet (i, j, k), 14 parameters in LAMMPS
file order ``m gamma lambda3 c d costheta0 n beta lambda2 B R D lambda1 A``.

    E = 1/2 sum_i sum_{j!=i} f_C(r_ij) [f_R(r_ij) + b_ij f_A(r_ij)]
    zeta_ij = sum_{k!=i,j} f_C(r_ik) g(theta_ijk) exp[(lambda3 (r_ij - r_ik))^m]

Parameter use, as in LAMMPS: the two-body terms of the ordered pair i->j (A, lambda1, B, lambda2, the
R, D of f_C(r_ij)) and the bond order (beta, n) come from entry (i, j, j); the three-body terms of
neighbour k in zeta_ij (m, gamma, lambda3, c, d, costheta0 and the R, D of f_C(r_ik)) from entry
(i, j, k). So n, beta, lambda2, B, lambda1, A of entries with j != k are never used.

LAMMPS sums the repulsion over a half list with the parameters of (i, j, j) for whichever atom it
calls i; gafit sums 1/2 f_C f_R over the full list, which is the same when (i, j, j) and (j, i, i)
share A, lambda1, R and D (all files shipped with LAMMPS do; :meth:`Tersoff.check` flags others and
:meth:`Tersoff.repair` copies them).

Geometry is built once (:meth:`Tersoff.build_tables`): a full neighbour list of ordered pairs p = i->j
(an image of an atom is a different neighbour), triplets t = (pair ij, pair ik) with ik != ij, and
sparse maps from per-pair dE/dr and per-triplet dE/dcos(theta) to energies, forces and virials.
Per-pair arrays end in ``_p``, per-triplet ``_t``; batched arrays are laid out rows x individuals
(``_pb``, ``_tb``) so that each entry's rows form one contiguous block.

The package: this module holds the form (parameters, entries, check and repair, LAMMPS files);
:mod:`~gafit.forms.tersoff.table` the geometry tables, :mod:`~gafit.forms.tersoff.evaluate` the
physical functions and the evaluation loops, :mod:`~gafit.forms.tersoff.derivatives` the analytic
parameter derivatives.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from gafit.forms.base import Form, ParamSpec, Prediction, number
from gafit.forms.tersoff.derivatives import tersoff_parameter_derivatives
from gafit.forms.tersoff.evaluate import (
    BETA,
    BIG_A,
    BIG_B,
    BIG_D,
    BIG_R,
    GAMMA,
    LAM1,
    LAM2,
    SMALL_D,
    C,
    M,
    N,
    attraction_fa,
    cutoff_fc,
    evaluate,
    repulsion_fr,
)
from gafit.forms.tersoff.table import TersoffTable, build_table
from gafit.structures import GafitInputError, ReferenceSet

if TYPE_CHECKING:
    from gafit.potential import Potential

_NUMBER = re.compile(r"[+-]?(\d+\.?\d*|\.\d+)([eE][+-]?\d+)?")


# --------------------------------------------------------------------------- the form


class Tersoff(Form):
    """LAMMPS ``pair_style tersoff``: one block of 14 parameters per ordered species triplet."""

    name = "tersoff"
    lammps_style = "tersoff"
    parameter_file_suffix = ".tersoff"
    body_order = 3
    params = (
        ParamSpec("m", "", (1.0, 3.0), 3.0, "exponent of the radial three-body term (1 or 3)",
                  lower_limit=1.0, upper_limit=3.0, fittable=False),
        ParamSpec("gamma", "", (0.01, 2.0), 1.0, "angular prefactor", log=True, lower_limit=0.0),
        ParamSpec("lambda3", "1/Å", (0.0, 3.0), 0.0, "radial three-body decay"),
        ParamSpec("c", "", (0.1, 2e5), 1.0039e5, "angular strength", log=True, lower_limit=0.0),
        ParamSpec("d", "", (0.1, 50.0), 16.217, "angular width", log=True, lower_limit=0.0),
        ParamSpec("costheta0", "", (-1.0, 1.0), -0.59825, "preferred cos(theta) (h)"),
        ParamSpec("n", "", (0.1, 30.0), 0.78734, "bond-order exponent", log=True, lower_limit=0.0),
        ParamSpec("beta", "", (1e-8, 1.0), 1.1e-6, "bond-order prefactor", log=True,
                  lower_limit=0.0),
        ParamSpec("lambda2", "1/Å", (0.5, 4.0), 1.7322, "attraction decay", lower_limit=0.0),
        ParamSpec("B", "eV", (10.0, 2000.0), 471.18, "attraction prefactor", log=True,
                  lower_limit=0.0),
        ParamSpec("R", "Å", (1.0, 4.0), 2.85, "cutoff centre", lower_limit=0.0),
        ParamSpec("D", "Å", (0.05, 0.5), 0.15, "cutoff half width", lower_limit=0.0),
        ParamSpec("lambda1", "1/Å", (1.0, 5.0), 2.4799, "repulsion decay", lower_limit=0.0),
        ParamSpec("A", "eV", (100.0, 1e4), 1830.8, "repulsion prefactor", log=True,
                  lower_limit=0.0),
    )

    # --- parameter naming -------------------------------------------------------------------
    def entries(self) -> list[tuple[str, ...]]:
        s = self.species
        return [(a, b, c) for a in s for b in s for c in s]

    def canonical_entry(self, entry: tuple[str, ...]) -> tuple[str, ...]:
        if len(entry) != 3:
            raise ValueError("a tersoff parameter belongs to an ordered species triplet such as "
                             "'Si-Si-C' (centre, bonded neighbour, third atom)")
        return tuple(entry)

    def entry_index(self, a: int, b: int, c: int) -> int:
        """Entry of species indices (a, b, c)."""
        n = len(self.species)
        return (a * n + b) * n + c

    @classmethod
    def example(cls, species: list[str]) -> tuple[Tersoff, np.ndarray]:
        """The declared defaults (Tersoff's silicon) for every triplet, the cutoff their R + D."""
        form = cls(list(species), 5.0)
        values = form.default_values()
        form.cutoff = form.interaction_range(values)
        return form, values

    def interaction_range(self, values: np.ndarray) -> float:
        """Largest R + D (Å) over a batch (B, n_params) or one vector: the neighbour cutoff needed."""
        blocks = np.asarray(values, float).reshape(-1, len(self.entries()), len(self.params))
        return float(np.max(blocks[..., BIG_R] + blocks[..., BIG_D]))

    def cutoff_setting(self, values: np.ndarray) -> str:
        """The parameters that set :meth:`interaction_range` of one vector: 'A-B-C.R + A-B-C.D'."""
        blocks = np.asarray(values, float).reshape(len(self.entries()), len(self.params))
        entry = "-".join(self.entries()[int(np.argmax(blocks[:, BIG_R] + blocks[:, BIG_D]))])
        return f"{entry}.R + {entry}.D"

    def dimer_energy(self, values: np.ndarray, a: int, b: int
                     ) -> Callable[[np.ndarray], tuple[np.ndarray, np.ndarray]]:
        """E(r) and dE/dr (B, K), eV and eV/Å, of an isolated a-b dimer for parameter vectors
        ``values`` (B, n_params): no third atom, so zeta = 0 and b = 1 (in a solid b < 1: the dimer is
        the most attractive case), E = 1/2 f_C (f_R + f_A) from entry (a, b, b) plus the same from
        (b, a, a)."""
        v = np.asarray(values, float).reshape(len(values), len(self.entries()), len(self.params))
        rows = [v[:, self.entry_index(a, b, b)], v[:, self.entry_index(b, a, a)]]

        def energy(r: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
            r = r[None, :]
            e = np.zeros((len(v), r.shape[1]))
            g = np.zeros_like(e)
            for row in rows:
                col = [row[:, k, None] for k in (BIG_R, BIG_D, BIG_A, LAM1, BIG_B, LAM2)]
                fc, dfc = cutoff_fc(r.copy(), col[0], col[1])
                fr, dfr = repulsion_fr(r, col[2], col[3])
                fa, dfa = attraction_fa(r, col[4], col[5])
                e += 0.5 * fc * (fr + fa)
                g += 0.5 * (dfc * (fr + fa) + fc * (dfr + dfa))
            return e, g

        return energy

    def unused_parameters(self) -> list[str]:
        """Names that never enter the energy: n, beta, lambda2, B, lambda1, A of entries (i, j, k)
        with j != k (LAMMPS takes them from (i, j, j)). Fitting them only adds dead dimensions."""
        unused = {N, BETA, LAM2, BIG_B, LAM1, BIG_A}
        return [f"{'-'.join(e)}.{p.name}" for e in self.entries() if e[1] != e[2]
                for k, p in enumerate(self.params) if k in unused]

    def tied_parameters(self) -> dict[str, str]:
        """{name: source} of the parameters :meth:`repair` overwrites: A, lambda1, R, D of (j, i, i)
        are copied from (i, j, j), i before j in the species list. A config may tie them instead."""
        out = {}
        for a, sa in enumerate(self.species):
            for sb in self.species[a + 1 :]:
                for k in (BIG_A, LAM1, BIG_R, BIG_D):
                    p = self.params[k].name
                    out[f"{sb}-{sa}-{sa}.{p}"] = f"{sa}-{sb}-{sb}.{p}"
        return out

    def _pair_entries(self) -> list[int]:
        n = len(self.species)
        return [self.entry_index(a, b, b) for a in range(n) for b in range(n)]

    # --- constraints ---------------------------------------------------------------------------
    def check(self, values: np.ndarray) -> list[str]:
        """Every reason LAMMPS would reject ``values``, or that makes them unphysical/ambiguous."""
        v = np.asarray(values, float).reshape(len(self.entries()), len(self.params))
        used_2body = set(self._pair_entries())
        out: list[str] = []
        for e, ent in enumerate(self.entries()):
            out += [f"{'-'.join(ent)}.{msg}" for msg in _entry_problems(v[e], e in used_2body)]
            rd = v[e, BIG_R] + v[e, BIG_D]
            if rd > self.cutoff:
                out.append(f"{'-'.join(ent)}.R + D = {rd:g} Å exceeds the form's neighbour cutoff "
                           f"{self.cutoff:g} Å")
        n = len(self.species)
        for a in range(n):
            for b in range(a + 1, n):
                e1, e2 = self.entry_index(a, b, b), self.entry_index(b, a, a)
                for k in (BIG_A, LAM1, BIG_R, BIG_D):
                    if v[e1, k] != v[e2, k]:
                        s1 = "-".join(self.entries()[e1])
                        s2 = "-".join(self.entries()[e2])
                        p = self.params[k].name
                        out.append(f"{s1}.{p} = {v[e1, k]:g} differs from {s2}.{p} = {v[e2, k]:g}; "
                                   "LAMMPS's repulsion then depends on atom order")
        return out

    def repair(self, theta: np.ndarray) -> np.ndarray:
        """Project a batch (B, n_params) onto valid parameters, in place (also returned).

        In order: m -> 3 if m >= 2 else 1; every parameter clipped to its hard limits; d >= 1e-6;
        n >= 1e-6 in the (i, j, j) entries that use it; R clipped to [0.1, cutoff - 0.002] Å, D to
        [0.001, 0.99 R] Å, then lowered to cutoff - R where R + D > cutoff; finally A, lambda1,
        R, D of (j, i, i) are copied from (i, j, j) for i before j in the species list, so that
        LAMMPS's repulsion does not depend on atom order. Applying it twice changes nothing.
        """
        ne, npar = len(self.entries()), len(self.params)
        v = theta.reshape(theta.shape[0], ne, npar)  # a view unless theta is not contiguous
        v[..., M] = np.where(v[..., M] >= 2.0, 3.0, 1.0)
        lim = np.array([(p.lower_limit, p.upper_limit) for p in self.params])
        np.clip(v, lim[:, 0], lim[:, 1], out=v)
        v[..., SMALL_D] = np.maximum(v[..., SMALL_D], 1e-6)
        pe = self._pair_entries()
        v[:, pe, N] = np.maximum(v[:, pe, N], 1e-6)
        cut = self.cutoff
        big_r = v[..., BIG_R] = np.clip(v[..., BIG_R], 0.1, cut - 2e-3)
        big_d = v[..., BIG_D] = np.clip(v[..., BIG_D], 1e-3, 0.99 * big_r)
        over = big_r + big_d > cut
        if over.any():
            room = cut - big_r
            room = np.where(big_r + room > cut, room - np.spacing(cut), room)  # rounding
            v[..., BIG_D] = np.where(over, room, big_d)
        n = len(self.species)
        for a in range(n):
            for b in range(a + 1, n):
                e1, e2 = self.entry_index(a, b, b), self.entry_index(b, a, a)
                for k in (BIG_A, LAM1, BIG_R, BIG_D):
                    v[:, e2, k] = v[:, e1, k]
        if not np.shares_memory(v, theta):
            theta[...] = v.reshape(theta.shape)
        return theta

    # --- evaluation ---------------------------------------------------------------------------
    def build_tables(self, refset: ReferenceSet) -> TersoffTable:
        """Neighbour pairs, triplets and their maps (:func:`gafit.forms.tersoff.table.build_table`)."""
        return build_table(self, refset)

    def evaluate(self, theta: np.ndarray, tables: TersoffTable) -> Prediction:
        """Energies, forces, virials for a batch (B, n_params); max R + D must be <= the cutoff.

        Work arrays are kept on ``tables`` between calls (one evaluation at a time per table);
        the loops are :func:`gafit.forms.tersoff.evaluate.evaluate`.
        """
        return evaluate(self, theta, tables)

    def parameter_derivatives(self, theta: np.ndarray, tables: TersoffTable) -> Prediction:
        """Analytic d(energy, forces, virial)/d(parameter) at one vector ``theta`` (n_params,), the
        parameter index as batch axis (see :mod:`gafit.forms.tersoff.derivatives`)."""
        return tersoff_parameter_derivatives(self, theta, tables)

    # --- LAMMPS files ----------------------------------------------------------------------------
    def file_name(self) -> str:
        """Name of the parameter file written by :meth:`lammps_lines`: species joined + .tersoff."""
        return "".join(self.species) + str(self.parameter_file_suffix)

    def write_file(self, values: np.ndarray, path: str | Path, header: str = "") -> None:
        """Write a LAMMPS ``.tersoff`` file: one entry per line, full precision.

        ``header`` (e.g. a citation or how the set was made) goes first, as comment lines.
        """
        from gafit.io.atomic import atomic_write_text

        v = np.asarray(values, float).reshape(len(self.entries()), len(self.params))
        lines = [f"# {line}".rstrip() for line in header.splitlines()] + [
            "# Tersoff parameters written by gafit for LAMMPS pair_style tersoff (units metal).",
            "# A, B in eV; lambda1, lambda2, lambda3 in 1/Angstrom; R, D in Angstrom; others "
            "dimensionless.",
            "# element1 element2 element3 " + " ".join(p.name for p in self.params),
        ]
        for ent, row in zip(self.entries(), v, strict=True):
            lines.append(" ".join(ent) + " " + " ".join(number(x) for x in row))
        atomic_write_text(path, "\n".join(lines) + "\n")

    def lammps_lines(
        self, values: np.ndarray, outdir: Path | None = None, header: str = ""
    ) -> list[str]:
        """``pair_style tersoff`` and ``pair_coeff * * FILE SPECIES...``.

        FILE is the bare name :meth:`file_name`, written into ``outdir`` when given (with no
        ``outdir`` nothing is written). LAMMPS resolves it against its working directory, so run
        LAMMPS in the folder holding pair.lmp and the file.
        """
        name = self.file_name()
        if outdir is not None:
            self.write_file(values, Path(outdir) / name, header)
        return [f"pair_style {self.lammps_style}", f"pair_coeff * * {name} {' '.join(self.species)}"]

    @classmethod
    def from_lammps(
        cls, style_args: list[str], coeffs: list[tuple[int, list[str]]], species: list[str],
        where: str, base: Path | None = None,
    ) -> tuple[Form, dict[str, float]]:
        if style_args:
            raise GafitInputError(f"{where}: pair_style tersoff {' '.join(style_args)}: options "
                                  "(such as shift) are not supported")
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
        return form, dict(zip(form.parameter_names(), map(float, values), strict=True))

    @classmethod
    def read_file(
        cls, path: str | Path, elements: list[str] | None = None, species: list[str] | None = None
    ) -> Potential:
        """A potential from a LAMMPS ``.tersoff`` file, E0 = 0
        (:func:`~gafit.potential_files.load_potential` also reads the E0 and provenance of its
        comments, and finds files by name in LAMMPS's folder).

        ``elements``: the file's element names to use (default: all, in order of first appearance);
        every ordered triplet of them must be in the file. ``species``: gafit's names for them
        (default: the element names), e.g. ``elements=["Si(D)", "C"], species=["Si", "C"]``.
        The cutoff is max(R + D) over the entries used.
        """
        from gafit.potential import Potential

        form, values = cls._load(Path(path), elements, species)
        return Potential(form.species, [form], np.concatenate([values, np.zeros(len(form.species))]))

    @classmethod
    def _load(
        cls, path: Path, elements: list[str] | None, species: list[str] | None
    ) -> tuple[Tersoff, np.ndarray]:
        found, first = _parse_entries(path)
        elements = list(first if elements is None else elements)
        species = list(elements if species is None else species)
        if len(species) != len(elements):
            raise GafitInputError(f"{path}: {len(elements)} elements {elements} but "
                                  f"{len(species)} species names {species}")
        if not elements:
            raise GafitInputError(f"{path}: no Tersoff entries")
        if len(set(species)) != len(species):
            raise GafitInputError(f"{path}: species {species} lists a species twice")
        values = []
        for a in elements:
            for b in elements:
                for c in elements:
                    hit = found.get((a, b, c))
                    if not hit:
                        hint = ("; pick the elements to use as LAMMPS's pair_coeff does "
                                "(--elements on the command line, [potential] species with start)"
                                if elements == first else f" (elements used: {' '.join(elements)})")
                        raise GafitInputError(
                            f"{path}: no entry for the triplet {a} {b} {c}; LAMMPS needs "
                            f"every ordered triplet of the elements used{hint}"
                        )
                    if len(hit) > 1:
                        raise GafitInputError(
                            f"{path} line {hit[1][1]}: duplicate entry {a} {b} {c} "
                            f"(first on line {hit[0][1]})"
                        )
                    words, line = hit[0]
                    row = []
                    for p, w in zip(cls.params, words[3:], strict=True):
                        if not _NUMBER.fullmatch(w[0]) or not np.isfinite(float(w[0])):
                            raise GafitInputError(f"{path} line {w[1]}: {p.name} '{w[0]}' of "
                                                  f"entry {a} {b} {c} is not a finite number")
                        row.append(float(w[0]))
                    bad = _lammps_rejects(np.array(row))
                    if bad:
                        raise GafitInputError(f"{path} line {line}: entry {a} {b} {c}: "
                                              + "; ".join(bad) + " (LAMMPS rejects this)")
                    values.append(row)
        v = np.array(values)
        form = cls(species, float(np.max(v[:, BIG_R] + v[:, BIG_D])))
        return form, v.ravel()


# --------------------------------------------------------------------------- helpers


def _lammps_rejects(row: np.ndarray) -> list[str]:
    """What LAMMPS's read_file rejects as 'Illegal Tersoff parameter' for one entry."""
    names = [p.name for p in Tersoff.params]
    out = [f"{names[k]} = {row[k]:g} < 0"
           for k in (C, SMALL_D, N, BETA, LAM2, BIG_B, BIG_R, BIG_D, LAM1, BIG_A, GAMMA) if row[k] < 0]
    if row[BIG_D] > row[BIG_R]:
        out.append(f"D = {row[BIG_D]:g} > R = {row[BIG_R]:g}")
    if row[M] not in (1.0, 3.0):
        out.append(f"m = {row[M]:g} is not 1 or 3")
    return out


def _entry_problems(row: np.ndarray, two_body: bool) -> list[str]:
    """Problems of one entry, each starting with the parameter name (prefixed by the caller)."""
    out = [f"{msg} (LAMMPS rejects this)" for msg in _lammps_rejects(row)]
    if row[BIG_D] == row[BIG_R] and row[BIG_R] > 0:
        out.append(f"D = {row[BIG_D]:g} must be smaller than R = {row[BIG_R]:g}")
    if row[SMALL_D] == 0:
        out.append("d = 0 makes the angular term g undefined")
    if row[BIG_R] == 0:
        out.append("R = 0: no interaction range")
    if row[BIG_D] == 0:
        out.append("D = 0 makes the cutoff function discontinuous")
    if two_body and row[N] == 0:
        out.append("n = 0 makes the bond order undefined")
    return out


def _parse_entries(
    path: Path,
) -> tuple[dict[tuple[str, str, str], list[tuple[list[tuple[str, int]], int]]], list[str]]:
    """Entries of a .tersoff file: {(e1, e2, e3): [(words with line numbers, first line)]} and the
    element names in order of first appearance. Words of an entry may span lines (as LAMMPS)."""
    if not path.is_file():
        raise GafitInputError(f"{path}: no such file")
    found: dict[tuple[str, str, str], list[tuple[list[tuple[str, int]], int]]] = {}
    first: dict[str, None] = {}
    words: list[tuple[str, int]] = []
    start = 0
    text = path.read_text(encoding="utf-8", errors="replace")
    for n, raw in enumerate(text.splitlines(), 1):
        new = [(w, n) for w in raw.split("#", 1)[0].split()]
        if not new:
            continue
        if not words:
            start = n
        words += new
        if len(words) < 17:
            continue
        if len(words) > 17:
            raise GafitInputError(
                f"{path} line {n}: the entry starting on line {start} has {len(words)} words; a "
                "Tersoff entry is 3 element names and 14 numbers (17 words)"
            )
        key = (words[0][0], words[1][0], words[2][0])
        for el in key:
            if _NUMBER.fullmatch(el):
                raise GafitInputError(f"{path} line {start}: element name '{el}' is a number; "
                                      "an entry starts with 3 element names")
            first.setdefault(el, None)
        found.setdefault(key, []).append((words, start))
        words = []
    if words:
        raise GafitInputError(f"{path} line {start}: incomplete entry at end of file ({len(words)} "
                              "of 17 words)")
    return found, list(first)
