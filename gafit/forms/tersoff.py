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
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np
import scipy.sparse as sp

from gafit.forms.base import Form, ParamSpec, Prediction, number
from gafit.forms.pair import pair_maps
from gafit.geometry import VOIGT, index_atoms, neighbour_pairs
from gafit.structures import GafitInputError, ReferenceSet

if TYPE_CHECKING:
    from gafit.potential import Potential

# column of each parameter inside an entry's block
M, GAMMA, LAM3, C, SMALL_D, H, N, BETA, LAM2, BIG_B, BIG_R, BIG_D, LAM1, BIG_A = range(14)
#: LAMMPS clamps exp(arg) of the radial three-body term: 1e30 above, 0 below -EXP_CLAMP
EXP_CLAMP = 69.0776
#: rows x individuals per block of the evaluation loops (temporaries stay in cache)
BLOCK_ELEMENTS = 32768
_NUMBER = re.compile(r"[+-]?(\d+\.?\d*|\.\d+)([eE][+-]?\d+)?")


# --------------------------------------------------------------------------- physical functions
# All take distances/cosines as column arrays (rows, 1) and parameters as (B,) arrays, and return
# (value, derivative) of shape (rows, B).


def cutoff_fc(r: np.ndarray, big_r: np.ndarray, big_d: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """f_C(r) and df_C/dr (1/Å): 1 below R-D, 0 above R+D, 1/2 - 1/2 sin(pi/2 (r-R)/D) between."""
    x = (r - big_r) / big_d
    np.clip(x, -1.0, 1.0, out=x)
    inside = np.abs(x) < 1.0
    x *= 0.5 * np.pi
    fc = 0.5 - 0.5 * np.sin(x)
    dfc = np.cos(x)
    dfc *= -0.25 * np.pi / big_d
    dfc *= inside
    return fc, dfc


def repulsion_fr(r: np.ndarray, a: np.ndarray, lam1: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """f_R = A exp(-lambda1 r) (eV) and its r-derivative (eV/Å)."""
    fr = np.exp(r * -lam1)
    fr *= a
    return fr, fr * -lam1


def attraction_fa(r: np.ndarray, b: np.ndarray, lam2: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """f_A = -B exp(-lambda2 r) (eV) and its r-derivative (eV/Å)."""
    fa = np.exp(r * -lam2)
    fa *= -b
    return fa, fa * -lam2


def angular_g(
    cos: np.ndarray, gamma: np.ndarray, c: np.ndarray, d: np.ndarray, h: np.ndarray
) -> tuple[np.ndarray, np.ndarray]:
    """g = gamma (1 + c²/d² - c²/(d² + (h - cos)²)) and dg/dcos (dimensionless)."""
    c2, d2 = c * c, d * d
    hc = h - cos
    inv = hc * hc
    inv += d2
    np.reciprocal(inv, out=inv)
    g = inv * -c2
    g += 1.0 + c2 / d2
    g *= gamma
    dg = inv * inv
    dg *= hc
    dg *= -2.0 * c2 * gamma
    return g, dg


def radial_exp(dr: np.ndarray, lam3: np.ndarray, m: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """exp(arg), arg = (lambda3 dr)^3 (m = 3) or lambda3 dr (m = 1), dr = r_ij - r_ik (Å); and its
    derivative with respect to dr (1/Å). As LAMMPS: exp is 1e30 for arg > 69.0776, 0 below -69.0776.
    """
    t = dr * lam3
    if np.all(m == 3):
        arg = t * t * t
        darg = t * t
        darg *= 3.0 * lam3
    elif np.all(m == 1):
        arg = t
        darg = np.broadcast_to(lam3, t.shape)
    else:
        cube = m == 3
        arg = np.where(cube, t * t * t, t)
        darg = np.where(cube, 3.0 * lam3 * t * t, lam3)
    big = float(np.max(np.abs(dr), initial=0.0) * np.max(np.abs(lam3), initial=0.0))
    if big > EXP_CLAMP or big > EXP_CLAMP ** (1.0 / 3.0):  # no big**3: it overflows a float
        with np.errstate(over="ignore"):
            ex = np.exp(arg)
        ex = np.where(arg > EXP_CLAMP, 1e30, np.where(arg < -EXP_CLAMP, 0.0, ex))
    else:
        ex = np.exp(arg)
    return ex, darg * ex


def bond_order_thresholds(n: np.ndarray) -> tuple[np.ndarray, ...]:
    """LAMMPS's switch points c1 > c2 > c3 > c4 of the asymptotic branches of b(beta zeta)."""
    with np.errstate(divide="ignore", invalid="ignore", over="ignore"):
        c1 = np.where(n > 0, (2.0 * n * 1e-16) ** (-1.0 / n), 0.0)
        c2 = np.where(n > 0, (2.0 * n * 1e-8) ** (-1.0 / n), 0.0)
        c3 = np.where(n > 0, 1.0 / c2, 0.0)
        c4 = np.where(n > 0, 1.0 / c1, 0.0)
    return c1, c2, c3, c4


def bond_order(zeta: np.ndarray, beta: np.ndarray, n: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """b = (1 + (beta zeta)^n)^(-1/2n) and db/dzeta, with LAMMPS's asymptotic branches.

    With t = beta zeta, LAMMPS tests in this order: t > c1: b = t^-1/2; t > c2:
    b = (1 - t^-n/2n) t^-1/2; t < c4: b = 1; t < c3: b = 1 - t^n/2n; otherwise the full expression.
    """
    t = zeta * beta
    c1, c2, c3, c4 = bond_order_thresholds(n)
    with np.errstate(divide="ignore", invalid="ignore", over="ignore"):
        lt = np.log(t)
        tn = lt * n
        np.exp(tn, out=tn)  # t^n
        b = np.log1p(tn)
        b *= -0.5 / n
        np.exp(b, out=b)  # (1 + t^n)^(-1/2n)
        db = tn / (1.0 + tn)
        db *= b
        db /= zeta
        db *= -0.5
        # overwrite in reverse order of LAMMPS's tests, so that the first test that holds wins
        sel = t < c3
        if sel.any():
            np.copyto(b, 1.0 - tn / (2.0 * n), where=sel)
            np.copyto(db, -0.5 * beta * tn / t, where=sel)  # -beta/2 t^(n-1)
        sel = t < c4
        if sel.any():
            np.copyto(b, 1.0, where=sel)
            np.copyto(db, 0.0, where=sel)
        sel2, sel1 = t > c2, t > c1
        if sel2.any():
            rs = lt * -0.5
            np.exp(rs, out=rs)  # t^-1/2
            rs3 = rs / t  # t^-3/2
            tmn = 1.0 / tn  # t^-n
            np.copyto(b, (1.0 - tmn / (2.0 * n)) * rs, where=sel2)
            np.copyto(db, -0.5 * beta * rs3 * (1.0 - (1.0 + 0.5 / n) * tmn), where=sel2)
            if sel1.any():
                np.copyto(b, rs, where=sel1)
                np.copyto(db, -0.5 * beta * rs3, where=sel1)
    return b, db


# --------------------------------------------------------------------------- geometry tables


@dataclass
class TersoffTable:
    """Full neighbour list and triplets of a reference set, with linear maps to E, F and virial."""

    r_p: np.ndarray  # (P,) Å, pairs i->j sorted by (entry (i,j,j), r)
    cos_t: np.ndarray  # (T,) cos theta_ijk, triplets sorted by (entry (i,j,k), r_ik)
    rik_t: np.ndarray  # (T,) Å
    dr_t: np.ndarray  # (T,) r_ij - r_ik, Å
    p_t: np.ndarray  # (T,) pair ij of each triplet
    q_t: np.ndarray  # (T,) pair ik of each triplet
    pair_slices: list[tuple[int, int, int]]  # (entry, start, stop) of the pairs
    trip_slices: list[tuple[int, int, int]]  # (entry, start, stop) of the triplets
    energy_sp: sp.csr_matrix  # (S, P): per-pair energy -> structure energy
    zeta_pt: sp.csr_matrix  # (P, T): per-triplet zeta term -> zeta_ij
    radial_pq: sp.csr_matrix  # (P, 2T): [dE/dr_ij; dE/dr_ik] per triplet -> dE/dr per pair
    deriv_xq: sp.csr_matrix  # (3N + 6S, P + T): [dE/dr per pair; dE/dcos per triplet] -> F, virial
    n_atoms: int
    n_structures: int
    cutoff: float
    # evaluate keeps its large work arrays here, (4 T + 5 P) x B float64, and reuses them
    work: dict[str, np.ndarray] = field(default_factory=dict, repr=False)

    @property
    def work_per_individual(self) -> int:
        """Float64 temporaries per individual, counted as pairs + triplets (for chunking)."""
        return len(self.r_p) + len(self.cos_t)


def _triplets(i_p: np.ndarray, n_atoms: int) -> tuple[np.ndarray, np.ndarray]:
    """All (p, q) with the same centre atom and p != q, as index arrays into the pairs."""
    by_i = np.argsort(i_p, kind="stable")
    count_n = np.bincount(i_p, minlength=n_atoms)
    start_n = np.concatenate([[0], np.cumsum(count_n)[:-1]]).astype(np.int64)
    reps = count_n[i_p]
    p_rep = np.repeat(np.arange(len(i_p), dtype=np.int64), reps)
    first = np.repeat(np.cumsum(reps) - reps, reps)
    q_rep = by_i[start_n[i_p[p_rep]] + np.arange(len(p_rep)) - first]
    keep = q_rep != p_rep
    return p_rep[keep], q_rep[keep]


def _slices(entry_sorted: np.ndarray, n_entries: int) -> list[tuple[int, int, int]]:
    bounds = np.searchsorted(entry_sorted, np.arange(n_entries + 1))
    return [(e, int(bounds[e]), int(bounds[e + 1])) for e in range(n_entries)
            if bounds[e + 1] > bounds[e]]


def _blocks(r_sorted: np.ndarray, start: int, stop: int, big_r: np.ndarray, big_d: np.ndarray,
            n_cols: int) -> tuple[list[tuple[int, int, bool]], int]:
    """Row blocks (a, b, inner) of rows start:stop (sorted by distance) where f_C is not 0 for every
    individual, ``inner`` when f_C = 1 on the whole block for every individual; and the first row
    i2 from which f_C = 0 for all."""
    part = r_sorted[start:stop]
    i1 = start + int(np.searchsorted(part, np.min(big_r - big_d)))  # r < R - D for all
    i2 = start + int(np.searchsorted(part, np.max(big_r + big_d)))  # r >= R + D for all
    step = max(1, BLOCK_ELEMENTS // max(n_cols, 1))
    return ([(a, min(a + step, i1), True) for a in range(start, i1, step)]
            + [(a, min(a + step, i2), False) for a in range(i1, i2, step)]), i2


def _scratch(tab: TersoffTable, name: str, rows: int, cols: int) -> np.ndarray:
    """A (rows, cols) work array kept on the table: fresh large arrays cost a page fault per 4 kB
    on every evaluation."""
    buf = tab.work.get(name)
    if buf is None or buf.size < rows * cols:
        buf = tab.work[name] = np.empty(rows * cols)
    return buf[: rows * cols].reshape(rows, cols)


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
        idx = index_atoms(refset, self.species)
        pairs = neighbour_pairs(refset, self.cutoff, half=False,
                                what="tersoff cutoff (the largest R + D)", triplets=True)
        n_sp = len(self.species)
        spec_i = idx.species_n[pairs.i_p]
        spec_j = idx.species_n[pairs.j_p]
        ent_p = (spec_i * n_sp + spec_j) * n_sp + spec_j
        order = np.lexsort((pairs.r_p, ent_p))
        pairs = pairs.select(order)
        ent_p, spec_i, spec_j = ent_p[order], spec_i[order], spec_j[order]
        n_p, n_at, n_st = len(pairs.r_p), idx.n_atoms, idx.n_structures

        p_t, q_t = _triplets(pairs.i_p, n_at)
        ent_t = (spec_i[p_t] * n_sp + spec_j[p_t]) * n_sp + spec_j[q_t]
        order_t = np.lexsort((pairs.r_p[q_t], ent_t))
        p_t, q_t, ent_t = p_t[order_t], q_t[order_t], ent_t[order_t]
        n_t = len(p_t)

        u_pc = pairs.d_pc / pairs.r_p[:, None] if n_p else np.zeros((0, 3))
        rij, rik = pairs.r_p[p_t], pairs.r_p[q_t]
        uj, uk = u_pc[p_t], u_pc[q_t]
        cos_t = np.einsum("tc,tc->t", uj, uk)
        gj = (uk - cos_t[:, None] * uj) / rij[:, None]  # dcos/dd_ij
        gk = (uj - cos_t[:, None] * uk) / rik[:, None]  # dcos/dd_ik

        energy_sp, pair_xp = pair_maps(pairs, n_at, n_st)
        cols = np.arange(n_t)
        at_i, at_j, at_k = pairs.i_p[p_t], pairs.j_p[p_t], pairs.j_p[q_t]
        rows, vals, cc = [], [], []
        for c in range(3):
            rows += [3 * at_j + c, 3 * at_k + c, 3 * at_i + c]
            vals += [-gj[:, c], -gk[:, c], gj[:, c] + gk[:, c]]
            cc += [cols, cols, cols]
        s_t = pairs.s_p[p_t]
        for v, (a, b) in enumerate(VOIGT):
            rows.append(3 * n_at + 6 * s_t + v)
            vals.append(uj[:, a] * uk[:, b] + uk[:, a] * uj[:, b]
                        - cos_t * (uj[:, a] * uj[:, b] + uk[:, a] * uk[:, b]))
            cc.append(cols)
        cos_xt = sp.csr_matrix(
            (np.concatenate(vals), (np.concatenate(rows), np.concatenate(cc))),
            shape=(3 * n_at + 6 * n_st, n_t),
        )
        ones = np.ones(n_t)
        return TersoffTable(
            r_p=pairs.r_p,
            cos_t=cos_t,
            rik_t=rik,
            dr_t=rij - rik,
            p_t=p_t,
            q_t=q_t,
            pair_slices=_slices(ent_p, len(self.entries())),
            trip_slices=_slices(ent_t, len(self.entries())),
            energy_sp=energy_sp,
            zeta_pt=sp.csr_matrix((ones, (p_t, cols)), shape=(n_p, n_t)),
            radial_pq=sp.csr_matrix(
                (np.concatenate([ones, ones]), (np.concatenate([p_t, q_t]),
                                                np.concatenate([cols, cols + n_t]))),
                shape=(n_p, 2 * n_t),
            ),
            deriv_xq=sp.hstack([pair_xp, cos_xt], format="csr"),
            n_atoms=n_at,
            n_structures=n_st,
            cutoff=self.cutoff,
        )

    def evaluate(self, theta: np.ndarray, tables: TersoffTable) -> Prediction:
        """Energies, forces, virials for a batch (B, n_params); max R + D must be <= the cutoff.

        Work arrays are kept on ``tables`` between calls (one evaluation at a time per table).
        """
        tab = tables
        theta = np.asarray(theta, float)
        nb = theta.shape[0]
        need = self.interaction_range(theta) if theta.size else 0.0
        if need > tab.cutoff:
            raise GafitInputError(
                f"tersoff: parameters need a neighbour cutoff of {need:g} Å (max R + D) but the "
                f"tables were built with {tab.cutoff:g} Å"
            )
        par = theta.reshape(nb, len(self.entries()), len(self.params))
        n_p, n_t = len(tab.r_p), len(tab.cos_t)
        n_sp = len(self.species)

        # --- f_C(r_ij) of every pair, with the R, D of its entry (i, j, j)
        fc_pb = _scratch(tab, "fc", n_p, nb)
        dfc_pb = _scratch(tab, "dfc", n_p, nb)
        pair_blocks = []
        for e, s0, s1 in tab.pair_slices:
            q = par[:, e]
            blocks, i2 = _blocks(tab.r_p, s0, s1, q[:, BIG_R], q[:, BIG_D], nb)
            pair_blocks.append((q, blocks, i2, s1))
            fc_pb[i2:s1] = 0.0
            dfc_pb[i2:s1] = 0.0
            for a, b, inner in blocks:
                if inner:
                    fc_pb[a:b] = 1.0
                    dfc_pb[a:b] = 0.0
                else:
                    fc_pb[a:b], dfc_pb[a:b] = cutoff_fc(tab.r_p[a:b, None], q[:, BIG_R],
                                                        q[:, BIG_D])

        # --- triplets: zeta terms and their derivatives (before the factor dE/dzeta_ij)
        z_tb = _scratch(tab, "z", n_t, nb)
        rad_qb = _scratch(tab, "rad", 2 * n_t, nb)  # [d/dr_ij ; d/dr_ik] of the zeta term
        grad_qb = _scratch(tab, "grad", n_p + n_t, nb)  # [dE/dr per pair ; dE/dcos per triplet]
        dedr_pb, dcos_tb = grad_qb[:n_p], grad_qb[n_p:]
        for e, s0, s1 in tab.trip_slices:
            q = par[:, e]
            big_r, big_d = q[:, BIG_R], q[:, BIG_D]
            # f_C(r_ik) is that of pair ik when entry (i, k, k) has the same R, D as (i, j, k)
            ikk = par[:, (e // (n_sp * n_sp) * n_sp + e % n_sp) * n_sp + e % n_sp]
            same_cut = (np.array_equal(big_r, ikk[:, BIG_R])
                        and np.array_equal(big_d, ikk[:, BIG_D]))
            flat = not np.any(q[:, LAM3])  # exp term = 1
            blocks, i2 = _blocks(tab.rik_t, s0, s1, big_r, big_d, nb)
            for arr in (z_tb, dcos_tb):  # f_C(r_ik) = 0 for every individual
                arr[i2:s1] = 0.0
            rad_qb[i2:s1] = 0.0
            rad_qb[n_t + i2 : n_t + s1] = 0.0
            if flat:
                rad_qb[s0:i2] = 0.0
            for a, b, inner in blocks:
                g, dg = angular_g(tab.cos_t[a:b, None], q[:, GAMMA], q[:, C], q[:, SMALL_D],
                                  q[:, H])
                lo, hi = a + n_t, b + n_t  # rows of d/dr_ik
                if inner:  # f_C(r_ik) = 1 for every individual
                    if flat:
                        z_tb[a:b] = g
                        rad_qb[lo:hi] = 0.0
                        dcos_tb[a:b] = dg
                    else:
                        ex, dex = radial_exp(tab.dr_t[a:b, None], q[:, LAM3], q[:, M])
                        np.multiply(g, ex, out=z_tb[a:b])
                        np.multiply(g, dex, out=rad_qb[a:b])
                        np.negative(rad_qb[a:b], out=rad_qb[lo:hi])
                        np.multiply(dg, ex, out=dcos_tb[a:b])
                    continue
                if same_cut:
                    fc = np.take(fc_pb, tab.q_t[a:b], axis=0)
                    dfc = np.take(dfc_pb, tab.q_t[a:b], axis=0)
                else:
                    fc, dfc = cutoff_fc(tab.rik_t[a:b, None], big_r, big_d)
                if flat:
                    np.multiply(fc, g, out=z_tb[a:b])
                    np.multiply(dfc, g, out=rad_qb[lo:hi])
                    np.multiply(fc, dg, out=dcos_tb[a:b])
                else:
                    ex, dex = radial_exp(tab.dr_t[a:b, None], q[:, LAM3], q[:, M])
                    fg = fc * g
                    np.multiply(fg, ex, out=z_tb[a:b])
                    np.multiply(fg, dex, out=rad_qb[a:b])
                    dfc *= g
                    dfc *= ex
                    np.subtract(dfc, rad_qb[a:b], out=rad_qb[lo:hi])
                    fc *= dg
                    np.multiply(fc, ex, out=dcos_tb[a:b])
        zeta_pb = tab.zeta_pt @ z_tb

        # --- pairs: energies, dE/dr and dE/dzeta
        e_pb = _scratch(tab, "e", n_p, nb)
        w_pb = _scratch(tab, "w", n_p, nb)
        for q, blocks, i2, s1 in pair_blocks:
            for arr in (e_pb, dedr_pb, w_pb):  # f_C(r_ij) = 0 for every individual
                arr[i2:s1] = 0.0
            for a, b, inner in blocks:
                r = tab.r_p[a:b, None]
                fr, dfr = repulsion_fr(r, q[:, BIG_A], q[:, LAM1])
                fa, dfa = attraction_fa(r, q[:, BIG_B], q[:, LAM2])
                bo, dbo = bond_order(zeta_pb[a:b], q[:, BETA], q[:, N])
                np.multiply(fa, dbo, out=w_pb[a:b])  # f_A db/dzeta
                fa *= bo
                fr += fa  # f_R + b f_A
                dfa *= bo
                dfr += dfa  # d(f_R + b f_A)/dr at fixed zeta
                if inner:  # f_C = 1
                    e_pb[a:b] = fr
                    dedr_pb[a:b] = dfr
                    continue
                fc, dfc = fc_pb[a:b], dfc_pb[a:b]
                w_pb[a:b] *= fc
                np.multiply(fc, fr, out=e_pb[a:b])
                dfr *= fc
                fr *= dfc
                np.add(dfr, fr, out=dedr_pb[a:b])
        # E = 1/2 sum over ordered pairs
        e_pb *= 0.5
        dedr_pb *= 0.5
        w_pb *= 0.5

        # --- chain rule through zeta, then scatter to energies, forces and virials
        w_tb = np.take(w_pb, tab.p_t, axis=0, out=z_tb, mode="clip")  # dE/dzeta_ij per triplet
        rad_qb[:n_t] *= w_tb
        rad_qb[n_t:] *= w_tb
        dcos_tb *= w_tb
        dedr_pb += tab.radial_pq @ rad_qb
        fw = tab.deriv_xq @ grad_qb
        n3 = 3 * tab.n_atoms
        return Prediction(
            energy=np.ascontiguousarray((tab.energy_sp @ e_pb).T),
            forces=np.ascontiguousarray(fw[:n3].T),
            virial=np.ascontiguousarray(fw[n3:].T).reshape(nb, tab.n_structures, 6),
        )

    def parameter_derivatives(self, theta: np.ndarray, tables: TersoffTable) -> Prediction:
        """Analytic d(energy, forces, virial)/d(parameter) at one vector ``theta`` (n_params,), the
        parameter index as batch axis (see :mod:`gafit.forms.tersoff_params`)."""
        from gafit.forms.tersoff_params import tersoff_parameter_derivatives

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
        """A potential from a LAMMPS ``.tersoff`` file, E0 = 0 (:meth:`Potential.load` also reads
        the E0 and provenance of its comments, and finds files by name in LAMMPS's folder).

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
