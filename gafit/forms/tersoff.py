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
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np
import scipy.sparse as sp

from gafit.forms.base import Form, ParamSpec, Prediction
from gafit.forms.pair import pair_maps
from gafit.geometry import VOIGT, index_atoms, neighbour_pairs
from gafit.structures import GafitInputError, ReferenceSet

if TYPE_CHECKING:
    from gafit.potential import Potential

# column of each parameter inside an entry's block
M, GAMMA, LAM3, C, D, H, N, BETA, LAM2, BB, R, DD, LAM1, AA = range(14)
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
    if max(big, big**3) > EXP_CLAMP:
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

    With t = beta zeta: t > c1: t^-1/2; t > c2: (1 - t^-n/2n) t^-1/2; t < c4: 1; t < c3:
    1 - t^n/2n (tested in that order); otherwise the full expression.
    """
    t = zeta * beta
    c1, c2, c3, c4 = bond_order_thresholds(n)
    with np.errstate(divide="ignore", invalid="ignore", over="ignore"):
        tn = np.log(t)
        tn *= n
        np.exp(tn, out=tn)  # t^n
        b = np.log1p(tn)
        b *= -0.5 / n
        np.exp(b, out=b)  # (1 + t^n)^(-1/2n)
        db = tn / (1.0 + tn)
        db *= b
        db /= zeta
        db *= -0.5
    nb = np.broadcast_to(n, t.shape)
    bb = np.broadcast_to(beta, t.shape)
    # overwrite in reverse order of LAMMPS's tests, so the first test that holds wins
    for sel, kind in ((t < c3, 3), (t < c4, 4), (t > c2, 2), (t > c1, 1)):
        if not sel.any():
            continue
        ts, ns, bs = t[sel], nb[sel], bb[sel]
        if kind == 1:
            b[sel] = 1.0 / np.sqrt(ts)
            db[sel] = bs * -0.5 * ts**-1.5
        elif kind == 2:
            tmn = ts**-ns
            b[sel] = (1.0 - tmn / (2.0 * ns)) / np.sqrt(ts)
            db[sel] = bs * (-0.5 * ts**-1.5 * (1.0 - (1.0 + 1.0 / (2.0 * ns)) * tmn))
        elif kind == 4:
            b[sel] = 1.0
            db[sel] = 0.0
        else:
            b[sel] = 1.0 - ts**ns / (2.0 * ns)
            db[sel] = -0.5 * bs * ts ** (ns - 1.0)
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
    pair_slices: list[tuple[int, int, int]]  # (entry, start, stop) of the pairs
    trip_slices: list[tuple[int, int, int]]  # (entry, start, stop) of the triplets
    energy_sp: sp.csr_matrix  # (S, P): per-pair energy -> structure energy
    zeta_pt: sp.csr_matrix  # (P, T): per-triplet zeta term -> zeta_ij
    radial_pq: sp.csr_matrix  # (P, 2T): [dE/dr_ij; dE/dr_ik] per triplet -> dE/dr per pair
    deriv_xq: sp.csr_matrix  # (3N + 6S, P + T): [dE/dr per pair; dE/dcos per triplet] -> F, virial
    n_atoms: int
    n_structures: int
    cutoff: float


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


def _blocks(start: int, stop: int, n_cols: int) -> list[tuple[int, int]]:
    step = max(1, BLOCK_ELEMENTS // max(n_cols, 1))
    return [(a, min(a + step, stop)) for a in range(start, stop, step)]


# --------------------------------------------------------------------------- the form


class Tersoff(Form):
    """LAMMPS ``pair_style tersoff``: one block of 14 parameters per ordered species triplet."""

    name = "tersoff"
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

    def required_cutoff(self, theta: np.ndarray) -> float:
        """Largest R + D (Å) over a batch (B, n_params) or one vector: the neighbour cutoff needed."""
        blocks = np.asarray(theta, float).reshape(-1, len(self.entries()), len(self.params))
        return float(np.max(blocks[..., R] + blocks[..., DD]))

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
            rd = v[e, R] + v[e, DD]
            if rd > self.cutoff:
                out.append(f"{'-'.join(ent)}.R + D = {rd:g} Å exceeds the form's neighbour cutoff "
                           f"{self.cutoff:g} Å")
        n = len(self.species)
        for a in range(n):
            for b in range(a + 1, n):
                e1, e2 = self.entry_index(a, b, b), self.entry_index(b, a, a)
                for k in (AA, LAM1, R, DD):
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
        n >= 1e-6 in the (i, j, j) entries that use it; R >= 0.1 Å; 1e-3 Å <= D <= 0.99 R; R and D
        scaled down together where R + D exceeds the cutoff; finally A, lambda1, R, D of (j, i, i)
        are copied from (i, j, j) for i before j in the species list, so that LAMMPS's repulsion
        does not depend on atom order.
        """
        ne, npar = len(self.entries()), len(self.params)
        v = theta.reshape(theta.shape[0], ne, npar)  # a view: edits go into theta
        v[..., M] = np.where(v[..., M] >= 2.0, 3.0, 1.0)
        lim = np.array([(p.lower_limit, p.upper_limit) for p in self.params])
        np.clip(v, lim[:, 0], lim[:, 1], out=v)
        v[..., D] = np.maximum(v[..., D], 1e-6)
        pe = self._pair_entries()
        v[:, pe, N] = np.maximum(v[:, pe, N], 1e-6)
        v[..., R] = np.maximum(v[..., R], 0.1)
        v[..., DD] = np.clip(v[..., DD], 1e-3, 0.99 * v[..., R])
        scale = np.minimum(1.0, self.cutoff / (v[..., R] + v[..., DD]))
        v[..., R] *= scale
        v[..., DD] *= scale
        n = len(self.species)
        for a in range(n):
            for b in range(a + 1, n):
                e1, e2 = self.entry_index(a, b, b), self.entry_index(b, a, a)
                for k in (AA, LAM1, R, DD):
                    v[:, e2, k] = v[:, e1, k]
        return theta

    # --- evaluation ---------------------------------------------------------------------------
    def build_tables(self, refset: ReferenceSet) -> TersoffTable:
        idx = index_atoms(refset, self.species)
        pairs = neighbour_pairs(refset, self.cutoff, half=False)
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
        tab = tables
        theta = np.asarray(theta, float)
        nb = theta.shape[0]
        need = self.required_cutoff(theta) if theta.size else 0.0
        if need > tab.cutoff:
            raise GafitInputError(
                f"tersoff: parameters need a neighbour cutoff of {need:g} Å (max R + D) but the "
                f"tables were built with {tab.cutoff:g} Å"
            )
        par = theta.reshape(nb, len(self.entries()), len(self.params))
        n_p, n_t = len(tab.r_p), len(tab.cos_t)

        # --- triplets: zeta terms and their derivatives (before the factor dE/dzeta_ij)
        z_tb = np.zeros((n_t, nb))
        rad_qb = np.zeros((2 * n_t, nb))  # [d/dr_ij ; d/dr_ik] of the zeta term
        grad_qb = np.zeros((n_p + n_t, nb))  # [dE/dr per pair ; dE/dcos per triplet]
        dcos_tb = grad_qb[n_p:]
        for e, s0, s1 in tab.trip_slices:
            q = par[:, e]
            big_r, big_d = q[:, R], q[:, DD]
            i1 = s0 + int(np.searchsorted(tab.rik_t[s0:s1], np.min(big_r - big_d)))
            i2 = s0 + int(np.searchsorted(tab.rik_t[s0:s1], np.max(big_r + big_d)))
            flat = not np.any(q[:, LAM3])
            for a, b in _blocks(s0, i2, nb):
                g, dg = angular_g(tab.cos_t[a:b, None], q[:, GAMMA], q[:, C], q[:, D], q[:, H])
                lo, hi = a + n_t, b + n_t  # rows of d/dr_ik
                if b <= i1:  # f_C(r_ik) = 1 for every individual
                    if flat:
                        z_tb[a:b] = g
                        dcos_tb[a:b] = dg
                    else:
                        ex, dex = radial_exp(tab.dr_t[a:b, None], q[:, LAM3], q[:, M])
                        np.multiply(g, ex, out=z_tb[a:b])
                        np.multiply(g, dex, out=rad_qb[a:b])
                        np.negative(rad_qb[a:b], out=rad_qb[lo:hi])
                        np.multiply(dg, ex, out=dcos_tb[a:b])
                    continue
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
        e_pb = np.zeros((n_p, nb))
        dedr_pb = grad_qb[:n_p]
        w_pb = np.zeros((n_p, nb))
        for e, s0, s1 in tab.pair_slices:
            q = par[:, e]
            big_r, big_d = q[:, R], q[:, DD]
            i2 = s0 + int(np.searchsorted(tab.r_p[s0:s1], np.max(big_r + big_d)))
            for a, b in _blocks(s0, i2, nb):
                r = tab.r_p[a:b, None]
                fc, dfc = cutoff_fc(r, big_r, big_d)
                fr, dfr = repulsion_fr(r, q[:, AA], q[:, LAM1])
                fa, dfa = attraction_fa(r, q[:, BB], q[:, LAM2])
                bo, dbo = bond_order(zeta_pb[a:b], q[:, BETA], q[:, N])
                np.multiply(fa, dbo, out=w_pb[a:b])
                w_pb[a:b] *= fc  # f_C f_A db/dzeta
                fa *= bo
                fr += fa  # f_R + b f_A
                dfa *= bo
                dfr += dfa  # d(f_R + b f_A)/dr at fixed zeta
                np.multiply(fc, fr, out=e_pb[a:b])
                dfr *= fc
                dfc *= fr
                np.add(dfr, dfc, out=dedr_pb[a:b])
        # E = 1/2 sum over ordered pairs
        e_pb *= 0.5
        dedr_pb *= 0.5
        w_pb *= 0.5

        # --- chain rule through zeta, then scatter to energies, forces and virials
        w_tb = np.take(w_pb, tab.p_t, axis=0)
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

    # --- LAMMPS files ----------------------------------------------------------------------------
    def file_name(self) -> str:
        """Name of the parameter file written by :meth:`lammps_lines`: species joined + .tersoff."""
        return "".join(self.species) + ".tersoff"

    def write_file(self, values: np.ndarray, path: str | Path) -> None:
        """Write a LAMMPS ``.tersoff`` file: one entry per line, full precision."""
        from gafit.io.atomic import atomic_write_text

        v = np.asarray(values, float).reshape(len(self.entries()), len(self.params))
        lines = [
            "# Tersoff parameters written by gafit for LAMMPS pair_style tersoff (units metal).",
            "# A, B in eV; lambda1, lambda2, lambda3 in 1/Angstrom; R, D in Angstrom; others "
            "dimensionless.",
            "# element1 element2 element3 " + " ".join(p.name for p in self.params),
        ]
        for ent, row in zip(self.entries(), v, strict=True):
            lines.append(" ".join(ent) + " " + " ".join(f"{x:.17g}" for x in row))
        atomic_write_text(path, "\n".join(lines) + "\n")

    def lammps_lines(self, values: np.ndarray, outdir: Path | None = None) -> list[str]:
        """``pair_style tersoff`` and ``pair_coeff * * FILE SPECIES...``.

        FILE is the bare name :meth:`file_name`, written into ``outdir`` when given (with no
        ``outdir`` nothing is written). LAMMPS resolves it against its working directory, so run
        LAMMPS in the folder holding pair.lmp and the file.
        """
        name = self.file_name()
        if outdir is not None:
            self.write_file(values, Path(outdir) / name)
        return ["pair_style tersoff", f"pair_coeff * * {name} {' '.join(self.species)}"]

    @classmethod
    def from_lammps(
        cls, style_args: list[str], coeffs: list[list[str]], species: list[str], where: str,
        base: Path | None = None,
    ) -> tuple[Form, dict[str, float]]:
        if style_args:
            raise GafitInputError(f"{where}: pair_style tersoff {' '.join(style_args)}: options "
                                  "(such as shift) are not supported")
        usage = f"expected one 'pair_coeff * * FILE' followed by {len(species)} element names"
        if len(coeffs) != 1:
            raise GafitInputError(f"{where}: {usage}, got {len(coeffs)} pair_coeff lines")
        args = coeffs[0]
        if len(args) != 3 + len(species) or args[:2] != ["*", "*"]:
            raise GafitInputError(f"{where}: pair_coeff {' '.join(args)}: {usage}")
        if "NULL" in args[3:]:
            raise GafitInputError(f"{where}: pair_coeff {' '.join(args)}: NULL elements (hybrid "
                                  "styles) are not supported")
        path = Path(args[2])
        if not path.is_absolute() and base is not None:
            path = Path(base) / path
        form, values = cls._load(path, args[3:], species)
        return form, dict(zip(form.parameter_names(), map(float, values), strict=True))

    @classmethod
    def read_file(
        cls, path: str | Path, elements: list[str] | None = None, species: list[str] | None = None
    ) -> Potential:
        """A potential (E0 = 0) from a LAMMPS ``.tersoff`` file.

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
                        hint = "" if elements == first else f" (elements used: {' '.join(elements)})"
                        raise GafitInputError(
                            f"{path}: no entry for the triplet {a} {b} {c}{hint}; LAMMPS needs "
                            "every ordered triplet of the elements used"
                        )
                    if len(hit) > 1:
                        raise GafitInputError(
                            f"{path} line {hit[1][1]}: duplicate entry {a} {b} {c} "
                            f"(first on line {hit[0][1]})"
                        )
                    words, line = hit[0]
                    row = []
                    for p, w in zip(cls.params, words[3:], strict=True):
                        if not _NUMBER.fullmatch(w[0]):
                            raise GafitInputError(f"{path} line {w[1]}: {p.name} '{w[0]}' of "
                                                  f"entry {a} {b} {c} is not a number")
                        row.append(float(w[0]))
                    bad = _lammps_rejects(np.array(row))
                    if bad:
                        raise GafitInputError(f"{path} line {line}: entry {a} {b} {c}: "
                                              + "; ".join(bad) + " (LAMMPS rejects this)")
                    values.append(row)
        v = np.array(values)
        form = cls(species, float(np.max(v[:, R] + v[:, DD])))
        return form, v.ravel()


# --------------------------------------------------------------------------- helpers


def _lammps_rejects(row: np.ndarray) -> list[str]:
    """What LAMMPS's read_file rejects as 'Illegal Tersoff parameter' for one entry."""
    names = [p.name for p in Tersoff.params]
    out = [f"{names[k]} = {row[k]:g} < 0" for k in (C, D, N, BETA, LAM2, BB, R, DD, LAM1, AA, GAMMA)
           if row[k] < 0]
    if row[DD] > row[R]:
        out.append(f"D = {row[DD]:g} > R = {row[R]:g}")
    if row[M] not in (1.0, 3.0):
        out.append(f"m = {row[M]:g} is not 1 or 3")
    return out


def _entry_problems(row: np.ndarray, two_body: bool) -> list[str]:
    """Problems of one entry, each starting with the parameter name (prefixed by the caller)."""
    out = [f"{msg} (LAMMPS rejects this)" for msg in _lammps_rejects(row)]
    if row[DD] == row[R] and row[R] > 0:
        out.append(f"D = {row[DD]:g} must be smaller than R = {row[R]:g}")
    if row[D] == 0:
        out.append("d = 0 makes the angular term g undefined")
    if row[R] == 0:
        out.append("R = 0: no interaction range")
    if row[DD] == 0:
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
