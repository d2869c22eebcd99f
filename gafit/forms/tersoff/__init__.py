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

import numpy as np

from gafit.forms.base import ParamSpec, Prediction
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
from gafit.forms.triplet_file import TripletFileForm
from gafit.structures import ReferenceSet

# --------------------------------------------------------------------------- the form


class Tersoff(TripletFileForm):
    """LAMMPS ``pair_style tersoff``: one block of 14 parameters per ordered species triplet."""

    name = "tersoff"
    lammps_style = "tersoff"
    parameter_file_suffix = ".tersoff"
    file_title = "Tersoff"
    reach_text = "max R + D"
    entry_error = ("a tersoff parameter belongs to an ordered species triplet such as 'Si-Si-C' "
                   "(centre, bonded neighbour, third atom)")
    # the errors of a bad .tersoff file name lines only, as they always have
    file_columns = False
    missing_kind = "the triplet"
    unsupported_option = "shift"
    #: columns LAMMPS reads from the pair entry (i, j, j) only (never from (i, j, k), j != k)
    pair_columns: tuple[int, ...] = (N, BETA, LAM2, BIG_B, LAM1, BIG_A)
    #: columns of the repulsion that (i, j, j) and (j, i, i) must share (LAMMPS sums it over a
    #: half list with either atom as i)
    symmetric_columns: tuple[int, ...] = (BIG_A, LAM1, BIG_R, BIG_D)
    #: units of the parameters, for the comment lines of the written file
    units_comment = ("A, B in eV; lambda1, lambda2, lambda3 in 1/Angstrom; R, D in Angstrom; "
                     "others dimensionless.")
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

    # --- parameter naming (entries: TripletFileForm; the defaults are Tersoff's silicon) --------
    def interaction_range(self, values: np.ndarray) -> float:
        """Largest R + D (Å) over a batch (B, n_params) or one vector: the neighbour cutoff needed."""
        blocks = np.asarray(values, float).reshape(-1, len(self.entries()), len(self.params))
        return float(np.max(blocks[..., BIG_R] + blocks[..., BIG_D]))

    def cutoff_setting(self, values: np.ndarray) -> str:
        """The parameters that set :meth:`interaction_range` of one vector: 'A-B-C.R + A-B-C.D'."""
        blocks = np.asarray(values, float).reshape(len(self.entries()), len(self.params))
        entry = "-".join(self.entries()[int(np.argmax(blocks[:, BIG_R] + blocks[:, BIG_D]))])
        return f"{entry}.R + {entry}.D"

    def _dimer_share(self, r: np.ndarray, row: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """1/2 f_C (f_R + f_A) and its derivative: no third atom, so zeta = 0 and b = 1 (in a solid
        b < 1: the dimer is the most attractive case)."""
        col = [row[:, k, None] for k in (BIG_R, BIG_D, BIG_A, LAM1, BIG_B, LAM2)]
        fc, dfc = cutoff_fc(r.copy(), col[0], col[1])
        fr, dfr = repulsion_fr(r, col[2], col[3])
        fa, dfa = attraction_fa(r, col[4], col[5])
        return 0.5 * fc * (fr + fa), 0.5 * (dfc * (fr + fa) + fc * (dfr + dfa))

    def unused_parameters(self) -> list[str]:
        """Names that never enter the energy: n, beta, lambda2, B, lambda1, A of entries (i, j, k)
        with j != k (LAMMPS takes them from (i, j, j)). Fitting them only adds dead dimensions."""
        unused = set(self.pair_columns)
        return [f"{'-'.join(e)}.{p.name}" for e in self.entries() if e[1] != e[2]
                for k, p in enumerate(self.params) if k in unused]

    def tied_parameters(self) -> dict[str, str]:
        """{name: source} of the parameters :meth:`repair` overwrites: A, lambda1, R, D of (j, i, i)
        are copied from (i, j, j), i before j in the species list. A config may tie them instead."""
        out = {}
        for a, sa in enumerate(self.species):
            for sb in self.species[a + 1 :]:
                for k in self.symmetric_columns:
                    p = self.params[k].name
                    out[f"{sb}-{sa}-{sa}.{p}"] = f"{sa}-{sb}-{sb}.{p}"
        return out

    # --- constraints ---------------------------------------------------------------------------
    def check(self, values: np.ndarray) -> list[str]:
        """Every reason LAMMPS would reject ``values``, or that makes them unphysical/ambiguous."""
        v = np.asarray(values, float).reshape(len(self.entries()), len(self.params))
        used_2body = set(self._pair_entries())
        out: list[str] = []
        for e, ent in enumerate(self.entries()):
            out += [f"{'-'.join(ent)}.{msg}"
                    for msg in _entry_problems(v[e], e in used_2body, self.lammps_rejects(v[e]))]
            rd = v[e, BIG_R] + v[e, BIG_D]
            if rd > self.cutoff:
                out.append(f"{'-'.join(ent)}.R + D = {rd:g} Å exceeds the form's neighbour cutoff "
                           f"{self.cutoff:g} Å")
        n = len(self.species)
        for a in range(n):
            for b in range(a + 1, n):
                e1, e2 = self.entry_index(a, b, b), self.entry_index(b, a, a)
                for k in self.symmetric_columns:
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
                for k in self.symmetric_columns:
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

    def __getstate__(self) -> dict:
        """Pickled (to the workers) without the last vectors' kernel constants
        (:func:`gafit.forms.tersoff.evaluate.kernel_constants`)."""
        return {k: v for k, v in self.__dict__.items() if k != "_last_constants"}

    # --- LAMMPS files: TripletFileForm ------------------------------------------------------------
    @classmethod
    def lammps_rejects(cls, row: np.ndarray) -> list[str]:
        """What LAMMPS's read_file rejects as 'Illegal Tersoff parameter' in one entry's row."""
        return _lammps_rejects(row)


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


def _entry_problems(row: np.ndarray, two_body: bool, rejects: list[str]) -> list[str]:
    """Problems of one entry, each starting with the parameter name (prefixed by the caller), after
    ``rejects``, what LAMMPS rejects in it."""
    out = [f"{msg} (LAMMPS rejects this)" for msg in rejects]
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
