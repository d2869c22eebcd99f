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

import numpy as np

from gafit.forms.base import ParamSpec, Prediction
from gafit.forms.stillinger_weber import kernel
from gafit.forms.stillinger_weber.derivative_kernel import fused_derivatives
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
from gafit.forms.triplet_file import TripletFileForm
from gafit.structures import GafitInputError, ReferenceSet

# columns of (i, j, j) that (j, i, i) must share: LAMMPS's two-body term and pair cutoff
TWO_BODY = (EPS, SIGMA, SMALL_A, BIG_A, BIG_B, P, Q, TOL)
# columns of (i, j, k) that (i, k, j) must share (lambda eps is what enters)
THREE_BODY = (EPS, LAM, COS0)
# columns of (i, j, k), j != k, that LAMMPS never reads (it takes them from (i, j, j), (i, k, k))
LEG_ONLY = (SIGMA, SMALL_A, GAMMA, BIG_A, BIG_B, P, Q, TOL)
# relative difference of lambda eps between (i, j, k) and (i, k, j) taken as rounding: files give
# epsilon and lambda to 7 digits each (CdTeZnSeHgS0.sw's products differ by up to 8e-7)
LE_RTOL = 2e-6


class StillingerWeber(TripletFileForm):
    """LAMMPS ``pair_style sw``: one block of 11 parameters per ordered species triplet."""

    name = "sw"
    lammps_style = "sw"
    parameter_file_suffix = ".sw"
    file_title = "Stillinger-Weber"
    reach_text = "max a sigma"
    units_comment = "epsilon in eV; sigma in Angstrom; others dimensionless."
    entry_what = "a Stillinger-Weber entry"
    entry_error = ("an sw parameter belongs to an ordered species triplet such as 'Ga-N-N' "
                   "(centre, neighbour j, neighbour k)")
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

    # --- parameter naming (entries: TripletFileForm; the defaults are Stillinger and Weber's
    # silicon) ----------------------------------------------------------------------------------
    def interaction_range(self, values: np.ndarray) -> float:
        """Largest a sigma (Å) of the (i, j, j) entries over a batch (B, n_params) or one vector."""
        v = self._blocks(values)[:, self._pair_entries()]
        return float(np.max(v[..., SMALL_A] * v[..., SIGMA]))

    def _dimer_share(self, r: np.ndarray, row: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """1/2 phi2 and its derivative, within the entry's LAMMPS cutoff (no angle in a dimer)."""
        col = {k: row[:, k, None] for k in (EPS, SIGMA, SMALL_A, GAMMA, BIG_A, BIG_B, P, Q, TOL)}
        inside = r < reach(col[SIGMA], col[SMALL_A], col[GAMMA], col[TOL])
        phi, dphi = two_body(r, col[EPS], col[SIGMA], col[SMALL_A], col[BIG_A], col[BIG_B],
                             col[P], col[Q], inside)
        return 0.5 * phi, 0.5 * dphi

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

    @property
    def auto_analytic_jacobian(self) -> bool:  # type: ignore[override]
        """Whether ``[refine] jacobian = "auto"`` takes these exact derivatives: with one species
        and numba (the compiled :mod:`gafit.forms.stillinger_weber.derivative_kernel`: on
        Si_mlearn_sw's refinement 1.6-1.8 s against 2.8-2.9 s by forward differences, loss
        0.123980614883 against 0.123980614882, ``python benchmarks/refine_share.py
        potentials/Si_mlearn_sw.toml --jacobian analytic|finite-difference``, load 2.4-3.0);
        with several species the numpy derivatives, which cost far more than forward
        differences (55 against 4.8 s there before the kernel), so not."""
        return len(self.species) == 1 and kernel.available()

    def parameter_derivatives(self, theta: np.ndarray, tables: SWTable) -> Prediction:
        """Analytic d(energy, forces, virial)/d(parameter) at one vector ``theta`` (n_params,), the
        parameter index as batch axis: with one species and numba, in one compiled pass
        (:mod:`gafit.forms.stillinger_weber.derivative_kernel`), else by
        :mod:`gafit.forms.stillinger_weber.derivatives` (the two agree to rounding)."""
        if len(self.species) > 1 or not kernel.available():
            return sw_parameter_derivatives(self, theta, tables)
        theta = np.asarray(theta, float)
        if self.interaction_range(theta) > tables.cutoff:
            return sw_parameter_derivatives(self, theta, tables)  # which raises the error
        cut = reach(theta[SIGMA], theta[SMALL_A], theta[GAMMA], theta[TOL])
        energy, forces, virial = fused_derivatives(tables.kernel, theta, cut,
                                                   tables.n_structures)
        fittable = self.fittable()[:, None]
        return Prediction(energy=energy * fittable, forces=forces * fittable,
                          virial=virial * fittable[..., None])

    # --- LAMMPS files (the rest: TripletFileForm) --------------------------------------------------
    @classmethod
    def _style_options(cls, style_args: list[str], where: str) -> Callable[[np.ndarray], None]:
        """``threebody on`` (the default) or ``threebody off``, which reads every lambda as 0, as
        LAMMPS does."""
        if not style_args:
            return lambda values: None
        if len(style_args) != 2 or style_args[0] != "threebody" or style_args[1] not in (
                "on", "off", "yes", "no", "true", "false"):
            raise GafitInputError(f"{where}: pair_style sw {' '.join(style_args)}: the only "
                                  "option is 'threebody on' or 'threebody off'")
        if style_args[1] in ("on", "yes", "true"):
            return lambda values: None

        def three_body_off(values: np.ndarray) -> None:
            values.reshape(-1, len(cls.params))[:, LAM] = 0.0

        return three_body_off

    @classmethod
    def lammps_rejects(cls, row: np.ndarray) -> list[str]:
        """What LAMMPS's read_file rejects as 'Illegal Stillinger-Weber parameter' in one entry's
        row."""
        return _lammps_rejects(row)


# --------------------------------------------------------------------------- helpers


def _lammps_rejects(row: np.ndarray) -> list[str]:
    """What LAMMPS's read_file rejects as 'Illegal Stillinger-Weber parameter' for one entry:
    any parameter but costheta0 below 0."""
    return [f"{p.name} = {row[k]:g} < 0" for k, p in enumerate(StillingerWeber.params)
            if k != COS0 and row[k] < 0]
