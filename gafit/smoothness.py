"""Smoothness regularisation of spline forms (``[smoothness]`` of a config): a curvature penalty on
the knot values of ``eam_spline`` (gafit.forms.eam.knots), as potfit and atomicrex offer, so that a
flexible spline cannot fit the training frames with wiggles between them.

For each spline function y (phi and rho per element and phi per element pair in r, F per element
in rho) with n evenly spaced knots x_k (spacing h; the fixed knots, zero at the cutoff and F(0) = 0,
included), one residual per inner knot::

    sqrt(w h) (y_{k-1} - 2 y_k + y_{k+1}) / h²,   k = 1 .. n-2

so their squares add up to w x the integral of y''² (the discrete second derivative), whatever the
knot count: w (``[smoothness] phi``, ``rho``, ``F``; 0 leaves the function free) in 1/(eV²/Å³) for
phi, 1/(density²/Å³) for rho, 1/(eV²/density³) for F. The residuals are linear in the parameters
(a fixed matrix), so least squares gets them with their exact Jacobian, the GA in every loss, and
the fit's loss breakdown reports their share as "smoothness".
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np

from gafit.potential import Potential
from gafit.structures import GafitInputError
from gafit.targets import Evaluation, Linearisation, Target

#: the spline functions a [smoothness] weight may name
FUNCTIONS = ("phi", "rho", "F")


def parse_smoothness(table: Any, path: str) -> dict[str, float]:
    """``[smoothness]``: a weight >= 0 per function of :data:`FUNCTIONS` (absent: 0)."""
    if not isinstance(table, dict):
        raise GafitInputError(f"{path}: [smoothness] must be a table such as {{phi = 1e-4}}")
    out = {}
    for key, v in table.items():
        if key not in FUNCTIONS:
            raise GafitInputError(f"{path}: [smoothness] {key}: unknown key (keys: "
                                  f"{', '.join(FUNCTIONS)})")
        if isinstance(v, bool) or not isinstance(v, int | float) or not math.isfinite(v) or v < 0:
            raise GafitInputError(f"{path}: [smoothness] {key} = {v!r}: expected a number >= 0")
        out[key] = float(v)
    return out


def _second_differences(n: int, h: float) -> np.ndarray:
    """(n-2, n) rows of (y_{k-1} - 2 y_k + y_{k+1}) / h² sqrt(h), k = 1 .. n-2."""
    d = np.zeros((n - 2, n))
    k = np.arange(n - 2)
    d[k, k], d[k, k + 1], d[k, k + 2] = 1.0, -2.0, 1.0
    return d * (math.sqrt(h) / (h * h))


def curvature_matrix(potential: Potential, weights: dict[str, float], where: str = "config"
                     ) -> np.ndarray:
    """(n_rows, n_full) matrix D whose product with a full parameter vector gives the smoothness
    residuals (module docstring) of every ``eam_spline`` form of ``potential``; the fixed zero
    knots add columns of nothing. GafitInputError (naming ``where``) when a weight is set and no
    form has knots."""
    from gafit.forms.eam.knots import SplineEAM

    weights = {k: w for k, w in weights.items() if w > 0}
    splines = [f for f in potential.forms if isinstance(f, SplineEAM)]
    if weights and not splines:
        raise GafitInputError(f"{where}: [smoothness]: the potential has no spline form (eam_spline) whose "
                              "knots it could smooth")
    column = {name: k for k, name in enumerate(potential.names)}
    rows = [np.zeros((0, len(potential.names)))]
    for form in splines:
        layout = {"phi": (form.phi_r, range(form.n_phi), 0),  # knot k -> parameter k; cutoff: 0
                  "rho": (form.rho_r, range(form.n_rho), 0),
                  "F": (form.f_rho, range(1, form.n_f + 1), 1)}  # F(0) = 0 fixed
        for entry in form.entries():
            for func, w in weights.items():
                if len(entry) == 2 and func != "phi":
                    continue  # an element pair has phi knots only
                knots, numbers, first = layout[func]
                d = _second_differences(len(knots), float(knots[1] - knots[0])) * math.sqrt(w)
                block = np.zeros((len(d), len(potential.names)))
                for j, k in enumerate(numbers):
                    block[:, column[f"{'-'.join(entry)}.{func}{k}"]] = d[:, first + j]
                rows.append(block)
    return np.vstack(rows)


class SmoothnessTerm(Target):
    """The smoothness residuals D theta (one term "smoothness"), exact Jacobian D dtheta/dx."""

    streams = True

    def __init__(self, matrix: np.ndarray):
        self.matrix = matrix

    @classmethod
    def build(cls, potential: Potential, weights: dict[str, float], where: str = "config"
              ) -> SmoothnessTerm | None:
        """The term of ``[smoothness]`` weights, or None when every weight is 0."""
        d = curvature_matrix(potential, weights, where)
        return cls(d) if len(d) else None

    def widths(self) -> list[tuple[str, int]]:
        return [("smoothness", len(self.matrix))]

    def residuals(self, at: Evaluation) -> np.ndarray:
        return at.theta @ self.matrix.T

    def jacobian(self, at: Linearisation) -> np.ndarray:
        return self.matrix @ at.dtheta
