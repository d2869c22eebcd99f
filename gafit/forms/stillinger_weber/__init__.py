"""Stillinger-Weber potential, exactly LAMMPS ``pair_style sw`` (``threebody on``, the default).

Units: eV and Å. One parameter block per ORDERED species triplet (i, j, k), 11 parameters in LAMMPS
file order ``epsilon sigma a lambda gamma costheta0 A B p q tol``.

    E = sum_i sum_{j<k} phi3(r_ij, r_ik, theta_jik) + 1/2 sum_i sum_{j!=i} phi2(r_ij)
    phi2 = A eps (B (sigma/r)^p - (sigma/r)^q) exp(sigma / (r - a sigma))
    phi3 = lambda eps (cos theta_jik - costheta0)² h(r_ij) h(r_ik)
    h(r) = exp(gamma sigma / (r - a sigma))

Parameter use, as in LAMMPS: the two-body term of the pair i->j and every leg i->j of a three-body
term (eps, sigma, a, A, B, p, q for phi2; sigma, a, gamma for the leg's exponential; tol for the
neighbour cutoff) come from entry (i, j, j); the angular factor lambda eps (cos - costheta0)² of
the triplet (i; j, k) from entry (i, j, k). So sigma, a, gamma, A, B, p, q, tol of entries with
j != k are never used. tol > 0 shortens the neighbour cutoff a sigma by min(gamma, 1) sigma /
ln(min(tol, 0.01)), as LAMMPS; it is a setting, not fitted.

LAMMPS sums the two-body term over each unordered pair once with the parameters of (i, j, j) for
whichever atom it calls i, and the three-body term of (i; j, k) with entry (i, j, k) for whichever
neighbour comes first in its list; gafit sums 1/2 phi2 over ordered pairs and averages entries
(i, j, k) and (i, k, j), which is the same when (i, j, j) and (j, i, i) share their two-body
parameters and (i, j, k), (i, k, j) share lambda eps and costheta0 (the files shipped with LAMMPS
do; :meth:`StillingerWeber.check` flags others and :meth:`StillingerWeber.repair` copies them).

The package: this module holds the form (parameters, entries, check and repair, LAMMPS files);
:mod:`~gafit.forms.stillinger_weber.table` the geometry tables,
:mod:`~gafit.forms.stillinger_weber.evaluate` the physical functions and the evaluation,
:mod:`~gafit.forms.stillinger_weber.derivatives` the analytic parameter derivatives.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from gafit.forms.base import Form, ParamSpec, Prediction, number
from gafit.forms.param_file import entry_numbers, entry_words, read_entries
from gafit.forms.stillinger_weber.derivatives import sw_parameter_derivatives
from gafit.forms.stillinger_weber.evaluate import (
    BIG_A,
    BIG_B,
    COS0,
    EPS,
    GAMMA,
    LAM,
    SIGMA,
    SMALL_A,
    TOL,
    TOL_MAX,
    P,
    Q,
    evaluate,
    reach,
    two_body,
)
from gafit.forms.stillinger_weber.table import SWTable, build_table
from gafit.structures import GafitInputError, ReferenceSet

if TYPE_CHECKING:
    from gafit.potential import Potential

# columns of (i, j, j) that (j, i, i) must share: LAMMPS's two-body term and pair cutoff
TWO_BODY = (EPS, SIGMA, SMALL_A, BIG_A, BIG_B, P, Q, TOL)
# columns of (i, j, k) that (i, k, j) must share (lambda eps is what enters)
THREE_BODY = (EPS, LAM, COS0)
# columns of (i, j, k), j != k, that LAMMPS never reads (it takes them from (i, j, j), (i, k, k))
LEG_ONLY = (SIGMA, SMALL_A, GAMMA, BIG_A, BIG_B, P, Q, TOL)
# relative difference of lambda eps between (i, j, k) and (i, k, j) taken as rounding: files give
# epsilon and lambda to 7 digits each (CdTeZnSeHgS0.sw's products differ by up to 8e-7)
LE_RTOL = 2e-6


class StillingerWeber(Form):
    """LAMMPS ``pair_style sw``: one block of 11 parameters per ordered species triplet."""

    name = "sw"
    lammps_style = "sw"
    parameter_file_suffix = ".sw"
    body_order = 3
    params = (
        ParamSpec("epsilon", "eV", (0.5, 5.0), 2.1683, "energy scale", log=True, lower_limit=0.0),
        ParamSpec("sigma", "Å", (1.5, 3.0), 2.0951, "length scale", lower_limit=0.0),
        ParamSpec("a", "", (1.4, 2.2), 1.8, "cutoff a sigma, in units of sigma", lower_limit=0.0),
        ParamSpec("lambda", "", (5.0, 60.0), 21.0, "three-body strength", log=True,
                  lower_limit=0.0),
        ParamSpec("gamma", "", (0.5, 2.5), 1.2, "three-body leg decay", lower_limit=0.0),
        ParamSpec("costheta0", "", (-1.0, 1.0), -1.0 / 3.0, "preferred cos(theta)"),
        ParamSpec("A", "", (2.0, 20.0), 7.049556277, "two-body prefactor", log=True,
                  lower_limit=0.0),
        ParamSpec("B", "", (0.2, 2.0), 0.6022245584, "repulsion prefactor", log=True,
                  lower_limit=0.0),
        ParamSpec("p", "", (2.0, 8.0), 4.0, "repulsion exponent", lower_limit=0.0),
        ParamSpec("q", "", (0.0, 2.0), 0.0, "attraction exponent", lower_limit=0.0),
        ParamSpec("tol", "", (0.0, 0.01), 0.0, "LAMMPS's cutoff shortening (0: none)",
                  lower_limit=0.0, upper_limit=TOL_MAX, fittable=False),
    )

    # --- parameter naming -------------------------------------------------------------------
    def entries(self) -> list[tuple[str, ...]]:
        s = self.species
        return [(a, b, c) for a in s for b in s for c in s]

    def canonical_entry(self, entry: tuple[str, ...]) -> tuple[str, ...]:
        if len(entry) != 3:
            raise ValueError("an sw parameter belongs to an ordered species triplet such as "
                             "'Ga-N-N' (centre, neighbour j, neighbour k)")
        return tuple(entry)

    def entry_index(self, a: int, b: int, c: int) -> int:
        """Entry of species indices (a, b, c)."""
        n = len(self.species)
        return (a * n + b) * n + c

    def _label(self, e: int) -> str:
        return "-".join(self.entries()[e])

    def _pair_entries(self) -> list[int]:
        n = len(self.species)
        return [self.entry_index(a, b, b) for a in range(n) for b in range(n)]

    def _blocks(self, values: np.ndarray) -> np.ndarray:
        return np.asarray(values, float).reshape(-1, len(self.entries()), len(self.params))

    @classmethod
    def example(cls, species: list[str]) -> tuple[StillingerWeber, np.ndarray]:
        """The declared defaults (Stillinger and Weber's silicon) for every triplet, the cutoff
        their a sigma."""
        form = cls(list(species), 5.0)
        values = form.default_values()
        form.cutoff = form.interaction_range(values)
        return form, values

    def interaction_range(self, values: np.ndarray) -> float:
        """Largest a sigma (Å) of the (i, j, j) entries over a batch (B, n_params) or one vector."""
        v = self._blocks(values)[:, self._pair_entries()]
        return float(np.max(v[..., SMALL_A] * v[..., SIGMA]))

    def dimer_energy(self, values: np.ndarray, a: int, b: int
                     ) -> Callable[[np.ndarray], tuple[np.ndarray, np.ndarray]]:
        """E(r) and dE/dr (B, K), eV and eV/Å, of an isolated a-b dimer for parameter vectors
        ``values`` (B, n_params): its two-body term alone (no angle), 1/2 phi2 of entry (a, b, b)
        plus the same of (b, a, a), each within its LAMMPS cutoff."""
        v = self._blocks(values)
        rows = [v[:, self.entry_index(a, b, b)], v[:, self.entry_index(b, a, a)]]

        def energy(r: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
            r = r[None, :]
            e = np.zeros((len(v), r.shape[1]))
            g = np.zeros_like(e)
            for row in rows:
                col = {k: row[:, k, None] for k in (EPS, SIGMA, SMALL_A, GAMMA, BIG_A, BIG_B, P, Q, TOL)}
                inside = r < reach(col[SIGMA], col[SMALL_A], col[GAMMA], col[TOL])
                phi, dphi = two_body(r, col[EPS], col[SIGMA], col[SMALL_A], col[BIG_A], col[BIG_B],
                                     col[P], col[Q], inside)
                e += 0.5 * phi
                g += 0.5 * dphi
            return e, g

        return energy

    def cutoff_setting(self, values: np.ndarray) -> str:
        """The parameters that set :meth:`interaction_range` of one vector: 'A-B-B.a * A-B-B.sigma'."""
        pe = self._pair_entries()
        v = self._blocks(values)[0, pe]
        e = self._label(pe[int(np.argmax(v[:, SMALL_A] * v[:, SIGMA]))])
        return f"{e}.a * {e}.sigma"

    def unused_parameters(self) -> list[str]:
        """sigma, a, gamma, A, B, p, q, tol of entries (i, j, k) with j != k: LAMMPS takes them from
        (i, j, j) and (i, k, k)."""
        return [f"{'-'.join(e)}.{self.params[k].name}" for e in self.entries() if e[1] != e[2]
                for k in LEG_ONLY]

    def tied_parameters(self) -> dict[str, str]:
        """{name: source} of the parameters :meth:`repair` overwrites (i before j, and j before k,
        in the species list): epsilon, sigma, a, A, B, p, q, tol of (j, i, i) from (i, j, j);
        epsilon, lambda, costheta0 of (i, k, j) from (i, j, k). A config may tie them instead."""
        out = {}
        sp = self.species
        for a, sa in enumerate(sp):
            for sb in sp[a + 1 :]:
                for k in TWO_BODY:
                    p = self.params[k].name
                    out[f"{sb}-{sa}-{sa}.{p}"] = f"{sa}-{sb}-{sb}.{p}"
                for si in sp:
                    for k in THREE_BODY:
                        p = self.params[k].name
                        out[f"{si}-{sb}-{sa}.{p}"] = f"{si}-{sa}-{sb}.{p}"
        return out

    def _mirrors(self) -> list[tuple[int, int, tuple[int, ...]]]:
        """(source entry, copy entry, parameter columns) of every tie of :meth:`tied_parameters`."""
        n = len(self.species)
        out = []
        for a in range(n):
            for b in range(a + 1, n):
                out.append((self.entry_index(a, b, b), self.entry_index(b, a, a), TWO_BODY))
                for i in range(n):
                    out.append((self.entry_index(i, a, b), self.entry_index(i, b, a), THREE_BODY))
        return out

    # --- constraints ---------------------------------------------------------------------------
    def check(self, values: np.ndarray) -> list[str]:
        """Every reason LAMMPS would reject ``values``, or that makes them unphysical or dependent
        on atom order in LAMMPS."""
        v = self._blocks(values)[0]
        pair = set(self._pair_entries())
        out: list[str] = []
        for e in range(len(v)):
            label = self._label(e)
            out += [f"{label}.{msg} (LAMMPS rejects this)" for msg in _lammps_rejects(v[e])]
            if e not in pair:
                continue
            if v[e, SIGMA] == 0 or v[e, SMALL_A] == 0:
                out.append(f"{label}.a * {label}.sigma = 0: no interaction range")
            cut = v[e, SMALL_A] * v[e, SIGMA]
            if cut > self.cutoff:
                out.append(f"{label}.a * {label}.sigma = {cut:g} Å exceeds the form's neighbour "
                           f"cutoff {self.cutoff:g} Å")
        for src, dst, cols in self._mirrors():
            s, d = self._label(src), self._label(dst)
            if cols is TWO_BODY:
                for k in cols:
                    if v[src, k] != v[dst, k]:
                        p = self.params[k].name
                        out.append(f"{s}.{p} = {v[src, k]:g} differs from {d}.{p} = "
                                   f"{v[dst, k]:g}; LAMMPS's two-body term then depends on atom "
                                   "order")
                r1 = reach(*v[src, [SIGMA, SMALL_A, GAMMA, TOL]])
                r2 = reach(*v[dst, [SIGMA, SMALL_A, GAMMA, TOL]])
                if r1 != r2:
                    out.append(f"the cutoffs of {s} and {d} differ ({r1:g}, {r2:g} Å, set by tol "
                               "and gamma); LAMMPS's two-body term then depends on atom order")
            else:
                le1, le2 = v[src, LAM] * v[src, EPS], v[dst, LAM] * v[dst, EPS]
                if not np.isclose(le1, le2, rtol=LE_RTOL, atol=0.0) or v[src, COS0] != v[dst, COS0]:
                    out.append(f"{s} and {d} differ in lambda * epsilon ({le1:g}, {le2:g}) or "
                               f"costheta0 ({v[src, COS0]:g}, {v[dst, COS0]:g}); LAMMPS's "
                               "three-body term then depends on neighbour order")
        return out

    def repair(self, theta: np.ndarray) -> np.ndarray:
        """Project a batch (B, n_params) onto valid parameters, in place (also returned).

        In order: every parameter clipped to its hard limits; in the (i, j, j) entries sigma >=
        0.1 Å and a >= 0.1, then a lowered so that a sigma <= cutoff; finally the ties of
        :meth:`tied_parameters` copied (and gamma of (j, i, i) from (i, j, j) when tol > 0, since
        it then sets the cutoff). Applying it twice changes nothing.
        """
        ne, npar = len(self.entries()), len(self.params)
        v = theta.reshape(theta.shape[0], ne, npar)  # a view unless theta is not contiguous
        lim = np.array([(p.lower_limit, p.upper_limit) for p in self.params])
        np.clip(v, lim[:, 0], lim[:, 1], out=v)
        pe = self._pair_entries()
        sigma = v[:, pe, SIGMA] = np.maximum(v[:, pe, SIGMA], 0.1)
        a = np.maximum(v[:, pe, SMALL_A], 0.1)
        over = a * sigma > self.cutoff
        if over.any():
            room = self.cutoff / sigma
            room = np.where(room * sigma > self.cutoff, np.nextafter(room, 0.0), room)  # rounding
            a = np.where(over, room, a)
        v[:, pe, SMALL_A] = a
        for src, dst, cols in self._mirrors():
            for k in cols:
                v[:, dst, k] = v[:, src, k]
            if cols is TWO_BODY:
                v[:, dst, GAMMA] = np.where(v[:, src, TOL] > 0, v[:, src, GAMMA], v[:, dst, GAMMA])
        if not np.shares_memory(v, theta):
            theta[...] = v.reshape(theta.shape)
        return theta

    # --- evaluation ---------------------------------------------------------------------------
    def build_tables(self, refset: ReferenceSet) -> SWTable:
        """Neighbour pairs, triplets and their maps
        (:func:`gafit.forms.stillinger_weber.table.build_table`)."""
        return build_table(self, refset)

    def evaluate(self, theta: np.ndarray, tables: SWTable) -> Prediction:
        """Energies, forces, virials for a batch (B, n_params)
        (:func:`gafit.forms.stillinger_weber.evaluate.evaluate`)."""
        return evaluate(self, theta, tables)

    def parameter_derivatives(self, theta: np.ndarray, tables: SWTable) -> Prediction:
        """Analytic d(energy, forces, virial)/d(parameter) at one vector ``theta`` (n_params,), the
        parameter index as batch axis (see :mod:`gafit.forms.stillinger_weber.derivatives`)."""
        return sw_parameter_derivatives(self, theta, tables)

    # --- LAMMPS files ----------------------------------------------------------------------------
    def file_name(self) -> str:
        """Name of the parameter file written by :meth:`lammps_lines`: species joined + .sw."""
        return "".join(self.species) + str(self.parameter_file_suffix)

    def write_file(self, values: np.ndarray, path: str | Path, header: str = "") -> None:
        """Write a LAMMPS ``.sw`` file: one entry per line, full precision.

        ``header`` (e.g. a citation or how the set was made) goes first, as comment lines.
        """
        from gafit.io.atomic import atomic_write_text

        v = self._blocks(values)[0]
        lines = [f"# {line}".rstrip() for line in header.splitlines()] + [
            "# Stillinger-Weber parameters written by gafit for LAMMPS pair_style sw (units metal).",
            "# epsilon in eV; sigma in Angstrom; others dimensionless.",
            "# element1 element2 element3 " + " ".join(p.name for p in self.params),
        ]
        for ent, row in zip(self.entries(), v, strict=True):
            lines.append(" ".join(ent) + " " + " ".join(number(x) for x in row))
        atomic_write_text(path, "\n".join(lines) + "\n")

    def lammps_lines(
        self, values: np.ndarray, outdir: Path | None = None, header: str = ""
    ) -> list[str]:
        """``pair_style sw`` and ``pair_coeff * * FILE SPECIES...``.

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
        """The form and named values of ``pair_style sw [threebody on|off]`` with one
        ``pair_coeff * * FILE ELEMENTS...`` line; ``threebody off`` reads every lambda as 0, as
        LAMMPS does."""
        three_body = True
        if style_args:
            if len(style_args) != 2 or style_args[0] != "threebody" or style_args[1] not in (
                    "on", "off", "yes", "no", "true", "false"):
                raise GafitInputError(f"{where}: pair_style sw {' '.join(style_args)}: the only "
                                      "option is 'threebody on' or 'threebody off'")
            three_body = style_args[1] in ("on", "yes", "true")
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

        form, values = cls._load(find_potential_file(args[2], base), args[3:], species)
        if not three_body:  # as LAMMPS: every lambda read as 0
            values.reshape(-1, len(cls.params))[:, LAM] = 0.0
        return form, dict(zip(form.parameter_names(), map(float, values), strict=True))

    @classmethod
    def read_file(
        cls, path: str | Path, elements: list[str] | None = None, species: list[str] | None = None
    ) -> Potential:
        """A potential from a LAMMPS ``.sw`` file, E0 = 0
        (:func:`~gafit.potential_files.load_potential` also reads the E0 and provenance of its
        comments, and finds files by name in LAMMPS's folder).

        ``elements``: the file's element names to use (default: all, in order of first appearance);
        every ordered triplet of them must be in the file. ``species``: gafit's names for them
        (default: the element names). The cutoff is max(a sigma) over the (i, j, j) entries used.
        """
        from gafit.potential import Potential

        form, values = cls._load(Path(path), elements, species)
        return Potential(form.species, [form], np.concatenate([values, np.zeros(len(form.species))]))

    @classmethod
    def _load(
        cls, path: Path, elements: list[str] | None, species: list[str] | None
    ) -> tuple[StillingerWeber, np.ndarray]:
        entries = read_entries(path, 3, len(cls.params), "a Stillinger-Weber entry")
        first = entries.elements
        elements = list(first if elements is None else elements)
        species = list(elements if species is None else species)
        if len(species) != len(elements):
            raise GafitInputError(f"{path}: {len(elements)} elements {elements} but "
                                  f"{len(species)} species names {species}")
        if not elements:
            raise GafitInputError(f"{path}: no Stillinger-Weber entries")
        if len(set(species)) != len(species):
            raise GafitInputError(f"{path}: species {species} lists a species twice")
        hint = ("; pick the elements to use as LAMMPS's pair_coeff does (--elements on the "
                "command line, [potential] species with start)" if elements == first
                else f" (elements used: {' '.join(elements)})")
        names = [p.name for p in cls.params]
        rows = []
        for a in elements:
            for b in elements:
                for c in elements:
                    words = entry_words(path, entries, (a, b, c), hint)
                    row = entry_numbers(path, words, names)
                    bad = _lammps_rejects(row)
                    if bad:
                        raise GafitInputError(f"{words[0].where(path)}: entry {a} {b} {c}: "
                                              + "; ".join(bad) + " (LAMMPS rejects this)")
                    rows.append(row)
        v = np.array(rows)
        form = cls(species, 1.0)
        form.cutoff = form.interaction_range(v.ravel())
        return form, v.ravel()


# --------------------------------------------------------------------------- helpers


def _lammps_rejects(row: np.ndarray) -> list[str]:
    """What LAMMPS's read_file rejects as 'Illegal Stillinger-Weber parameter' for one entry:
    any parameter but costheta0 below 0."""
    return [f"{p.name} = {row[k]:g} < 0" for k, p in enumerate(StillingerWeber.params)
            if k != COS0 and row[k] < 0]
