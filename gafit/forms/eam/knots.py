"""Cubic-spline EAM (``eam_spline``): phi(r), rho(r) and F(rho) are cubic splines through knots at
fixed, evenly spaced positions; the knot values are the fitted parameters (as potfit, atomicrex and
Mishin's Cu fit). Written as ``eam/alloy``; gafit evaluates the written tables as LAMMPS does, like
the analytic EAM forms.

Units: r in Å, phi and F in eV, densities in the form's own units (settings ``rho_max``: the F
table's top). Knots (settings, :data:`DEFAULT_SETTINGS`)::

    phi, rho:  r_k = rmin + k (cutoff - rmin) / (n - 1),  k = 0 .. n-1
               values at k < n-1 fitted, 0 at the cutoff with zero slope there (clamped),
               natural (zero curvature) at rmin, linear below rmin with the slope there
    F:         rho_k = k rho_max / (n - 1); F(0) = 0 (the free atom; E0 holds its energy),
               natural at both ends; LAMMPS extends F linearly beyond rho_max

The tables are linear in the knot values (a fixed basis, :func:`spline_basis`), so the parameter
derivatives (:meth:`SplineEAM.parameter_derivatives`) are exact, through LAMMPS's own splines of
the tables. Parameters per element ``X.phiK`` (phi_XX), ``X.rhoK``, ``X.FK``, and per pair of
elements ``X-Y.phiK`` (phi_XY; an element pair's rho and F knots are unused).
"""

from __future__ import annotations

import numpy as np
from scipy.interpolate import CubicSpline

from gafit.forms.base import Form, ParamSpec
from gafit.forms.eam import N_TABLE, R_START, ElementEAM
from gafit.forms.eam.grid import EAMGrid
from gafit.structures import GafitInputError

#: the default knot layout, the form's settings: the knots of phi, rho (each counting the fixed
#: one at the cutoff) and F (counting the fixed F(0) = 0), the first knot of phi and rho in Å, and
#: the F table's top density
DEFAULT_SETTINGS = {"phi_knots": 10.0, "phi_rmin": 1.8, "rho_knots": 8.0, "rho_rmin": 1.8,
                    "F_knots": 8.0, "rho_max": 50.0}
_COUNTS = ("phi_knots", "rho_knots", "F_knots")


def r_knots(rmin: float, cutoff: float, n: int) -> np.ndarray:
    """n evenly spaced knots (Å) from rmin to the cutoff."""
    return np.linspace(rmin, cutoff, n)


def spline_basis(knots: np.ndarray, x: np.ndarray, bc: str) -> np.ndarray:
    """(len(x), n) values at ``x`` of the cubic splines through unit knot values.

    ``bc`` "r": natural at the first knot and linear below it, clamped (zero slope) at the last
    knot and zero beyond it (phi and rho); "rho": natural at both ends (F)."""
    n = len(knots)
    ends = ((2, np.zeros(n)), (1, np.zeros(n))) if bc == "r" else "natural"
    s = CubicSpline(knots, np.eye(n), axis=0, bc_type=ends)
    inside = np.clip(x, knots[0], knots[-1])
    out = s(inside)
    if bc == "r":
        below = x < knots[0]
        out[below] = s(knots[0]) + (x[below] - knots[0])[:, None] * s(knots[0], 1)
        out[x > knots[-1]] = 0.0
    return out


class SplineEAM(ElementEAM):
    """EAM whose phi(r), rho(r) and F(rho) are cubic splines through fitted knot values
    (module docstring); one block per element (its phi, rho and F knots) and one per pair of
    elements (phi knots), written as ``eam/alloy``."""

    name = "eam_spline"

    def __init__(self, species: list[str], cutoff: float) -> None:
        self._settings = dict(DEFAULT_SETTINGS)
        super().__init__(species, cutoff)  # sets the cutoff, which lays the knots out

    @property
    def cutoff(self) -> float:
        """The cutoff (Å): the last knot of phi and rho; setting it lays the knots out again."""
        return self._cutoff

    @cutoff.setter
    def cutoff(self, value: float) -> None:
        self._cutoff = float(value)
        self._layout()

    # --- settings and parameters -------------------------------------------------------------
    def settings(self) -> dict[str, float]:
        """The knot layout (:data:`DEFAULT_SETTINGS`), saved with the potential."""
        return dict(self._settings)

    def apply_settings(self, settings: dict[str, float]) -> None:
        """Set the knot layout: counts at least 3 (whole numbers), 0 < rmin < cutoff, rho_max > 0."""
        unknown = sorted(set(settings) - set(DEFAULT_SETTINGS))
        if unknown:
            raise GafitInputError(f"{self.name}: unknown setting {unknown[0]!r} (settings: "
                                  f"{', '.join(DEFAULT_SETTINGS)})")
        new = {**self._settings, **{k: float(v) for k, v in settings.items()}}
        for k in _COUNTS:
            if new[k] != int(new[k]) or new[k] < 3:
                raise GafitInputError(f"{self.name}: setting {k} = {new[k]:g}: expected a whole "
                                      "number of knots, at least 3")
        if not new["rho_max"] > 0.0:
            raise GafitInputError(f"{self.name}: setting rho_max = {new['rho_max']:g}: expected "
                                  "a positive density")
        old, self._settings = self._settings, new
        try:
            self._layout()
        except GafitInputError:
            self._settings = old
            raise

    def _layout(self) -> None:
        """Knots, parameter specs and table bases of the current settings and cutoff."""
        st = self._settings
        for k in ("phi_rmin", "rho_rmin"):
            if not 0.0 < st[k] < self.cutoff:
                raise GafitInputError(f"{self.name}: setting {k} = {st[k]:g} Å: expected above "
                                      f"0 and below the cutoff {self.cutoff:g} Å")
        n_phi, n_rho, n_f = (int(st[k]) for k in _COUNTS)
        self.phi_r = r_knots(st["phi_rmin"], self.cutoff, n_phi)
        self.rho_r = r_knots(st["rho_rmin"], self.cutoff, n_rho)
        self.f_rho = np.linspace(0.0, st["rho_max"], n_f)
        phi0, rho0, f0 = _default_functions(self.cutoff, st["phi_rmin"], st["rho_max"])
        self.params = (
            tuple(ParamSpec(f"phi{k}", "eV", (-3.0, 5.0), float(phi0(r)),
                            f"phi at r = {r:.4g} Å") for k, r in enumerate(self.phi_r[:-1]))
            + tuple(ParamSpec(f"rho{k}", "density", (0.0, 10.0), float(rho0(r)),
                              f"density at r = {r:.4g} Å") for k, r in enumerate(self.rho_r[:-1]))
            + tuple(ParamSpec(f"F{k}", "eV", (-10.0, 5.0), float(f0(x)),
                              f"F at rho = {x:.4g}") for k, x in enumerate(self.f_rho) if k))
        self.n_phi, self.n_rho, self.n_f = n_phi - 1, n_rho - 1, n_f - 1
        nr, dr = self.r_grid()
        r = np.maximum(np.arange(nr) * dr, R_START)
        r[-1] = self.cutoff  # the last table point is the cutoff itself, not its rounding
        self._phi_xk = spline_basis(self.phi_r, r, "r")[:, :-1]  # (nr, n_phi) phi
        self._z2r_xk = r[:, None] * self._phi_xk  # r phi, as the table
        self._rho_xk = spline_basis(self.rho_r, r, "r")[:, :-1]
        rho = np.arange(N_TABLE) * (st["rho_max"] / (N_TABLE - 1))
        self._f_xk = spline_basis(self.f_rho, rho, "rho")[:, 1:]  # F(0) = 0
        self._unit_tables: EAMGrid | None = None  # the tables of unit knot values, when made

    def entries(self) -> list[tuple[str, ...]]:
        n = len(self.species)
        return [(s,) for s in self.species] + [(self.species[a], self.species[b])
                                               for a in range(n) for b in range(a + 1, n)]

    def canonical_entry(self, entry: tuple[str, ...]) -> tuple[str, ...]:
        if len(entry) == 2 and entry[0] == entry[1]:
            return entry[:1]
        if len(entry) not in (1, 2):
            raise ValueError(f"{self.name} parameters belong to an element (e.g. 'Cu.phi0') or a "
                             f"pair of elements ('Cu-Ag.phi0'), not {'-'.join(entry)}")
        return tuple(sorted(entry, key=self.species.index))

    def unused_parameters(self) -> list[str]:
        """The rho and F knots of the element pairs (only phi has a cross term)."""
        return [f"{'-'.join(e)}.{p.name}" for e in self.entries() if len(e) == 2
                for p in self.params if not p.name.startswith("phi")]

    @classmethod
    def example(cls, species: list[str]) -> tuple[Form, np.ndarray]:
        """The default knots for each element, scaled by 1 + 0.1 k for the k-th, a 5 Å cutoff."""
        form = cls(list(species), 5.0)
        base = form.default_values().reshape(len(form.entries()), -1)
        rows = [base[k] * (1.0 + 0.1 * k) for k in range(len(base))]
        return form, np.concatenate(rows)

    # --- tables ----------------------------------------------------------------------------------
    def _blocks(self, theta: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """(phi (B, entries, n_phi), rho (B, entries, n_rho), F (B, entries, n_f)) knot values."""
        v = theta.reshape(theta.shape[0], len(self.entries()), len(self.params))
        a, b = self.n_phi, self.n_phi + self.n_rho
        return v[..., :a], v[..., a:b], v[..., b:]

    def grid(self, theta: np.ndarray) -> EAMGrid:
        n_b, n_e = theta.shape[0], len(self.species)
        phi, rho, f = self._blocks(theta)
        nr, dr = self.r_grid()
        z2r = np.empty((n_b, n_e, n_e, nr))
        for k, e in enumerate(self.entries()):
            s, t = (self.species.index(x) for x in (e * 2)[:2])
            z2r[:, s, t] = z2r[:, t, s] = phi[:, k] @ self._z2r_xk.T
        rho_ber = rho[:, :n_e] @ self._rho_xk.T
        rhor = np.broadcast_to(rho_ber[:, :, None], (n_b, n_e, n_e, nr))
        frho = f[:, :n_e] @ self._f_xk.T
        drho_b = np.full(n_b, self._settings["rho_max"] / (N_TABLE - 1))
        return EAMGrid(nr, dr, N_TABLE, drho_b, frho, rhor, z2r)

    def knot_values(self, grid: EAMGrid) -> np.ndarray:
        """(n_params,) knot values whose splines follow another EAM's tables (one individual on
        this form's r grid and species; an eam/alloy density: the first row of ``rhor_bsdr``) in
        the least-squares sense on the table points from the first knot to the cutoff (phi, rho)
        and over this form's F table (F, less the other's F(0), the free atom's energy, which E0
        takes). A start for a spline fit from a fitted or published EAM."""
        nr, dr = self.r_grid()
        if (grid.nr, grid.dr) != (nr, dr):
            raise ValueError(f"tables on r grid ({grid.nr}, {grid.dr}), expected ({nr}, {dr})")
        r = np.arange(nr) * dr
        rho = np.arange(N_TABLE) * (self._settings["rho_max"] / (N_TABLE - 1))
        theirs = np.arange(grid.nrho) * float(grid.drho_b[0])

        def fit(basis: np.ndarray, rows: np.ndarray, target: np.ndarray) -> np.ndarray:
            return np.linalg.lstsq(basis[rows], target[rows], rcond=None)[0]

        rows = []
        for e in self.entries():
            s, t = (self.species.index(x) for x in (e * 2)[:2])
            phi = fit(self._phi_xk, r >= self.phi_r[0], grid.z2r_bstr[0, s, t] / np.maximum(r, dr))
            if len(e) == 2:
                rows.append(np.concatenate([phi, np.zeros(self.n_rho + self.n_f)]))
                continue
            dens = fit(self._rho_xk, r >= self.rho_r[0], grid.rhor_bsdr[0, s, 0])
            frho = np.interp(rho, theirs, grid.frho_ber[0, s]) - grid.frho_ber[0, s, 0]
            rows.append(np.concatenate([phi, dens, fit(self._f_xk, rho >= 0.0, frho)]))
        return np.concatenate(rows)

    def __getstate__(self) -> dict:
        """Pickled (to the workers) without the unit tables, which are remade on demand."""
        return {**super().__getstate__(), "_unit_tables": None}

    # --- parameter derivatives -------------------------------------------------------------------
    def table_derivatives(self, theta: np.ndarray) -> tuple[EAMGrid, EAMGrid, None]:
        """The tables of ``theta`` (n_params,) and of each unit knot value: the tables are linear
        in the knot values, so these are their exact derivatives (drho is fixed)."""
        theta = np.asarray(theta, float)
        if self._unit_tables is None:  # the same for every vector: made once per knot layout
            self._unit_tables = self.grid(np.eye(len(theta)))
        return self.grid(theta[None]), self._unit_tables, None


def _default_functions(cutoff: float, rmin: float, rho_max: float):
    """Copper-like phi(r), rho(r), F(rho) for the default knot values: a Morse pair, an
    exponential density (about 16 at fcc Cu's equilibrium, of the order of Zhou's Cu) and
    -0.75 sqrt(rho), phi and rho taken to zero at the cutoff."""
    def cut(r: float) -> float:
        return ((cutoff - r) / (cutoff - rmin)) ** 2

    def phi(r: float) -> float:
        x = np.exp(-1.6 * (r - 2.6))
        return 0.15 * (x * x - 2.0 * x) * cut(r)

    def rho(r: float) -> float:
        return 2.0 * np.exp(-2.0 * (r - 2.55)) * cut(r)

    def f(x: float) -> float:
        return -0.75 * np.sqrt(x)

    return phi, rho, f
