"""The least-squares problem around a fit's optimum that every uncertainty method works on: the
fit's objective (weighted residuals, loss = sum r²), its parameter space and the optimum x."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from gafit.objective import Objective
from gafit.parameters import ParameterSpace
from gafit.refine import batched_jacobian
from gafit.structures import GafitInputError

if TYPE_CHECKING:
    import gafit.fit_result
    import gafit.fitting

#: residual blocks that are penalties (zero at a feasible optimum): not data, so not counted in
#: the degrees of freedom of the noise estimate
PENALTY_TERMS = ("walls", "stability", "e0")
#: a run folder's potential must give the loss its summary records to this relative tolerance
#: (rounding only): otherwise the rebuilt problem is not the one that was fitted
LOSS_RTOL = 1e-6
#: how the residuals' variance s² that scales cov = s² (JᵀJ)⁻¹ (and the MCMC's log p) is set:
#: "noise", the misfit per degree of freedom, loss/(m - n); "model-error", loss/n (n free
#: parameters): the ensemble temperature T = 2 C0 / N_p of Frederiksen, Jacobsen, Brown & Sethna,
#: Phys. Rev. Lett. 93, 165501 (2004), with their cost C = loss/2, which spreads the ensemble so
#: that it reflects the training misfit a form cannot fit (model error), not only noise;
#: "cluster-robust" (Fisher only): the covariance is the cluster-robust (sandwich) one, each
#: training structure's residuals one cluster, which takes the scatter from the structures'
#: summed scores instead of assuming independent residuals (s² stays loss/(m - n))
SCALES = ("noise", "model-error", "cluster-robust")


def residual_variance(loss: float, m: int, n: int, scale: str = "noise") -> float:
    """s² of ``scale`` (:data:`SCALES`) for ``loss`` = sum r² over m data residuals and n free
    parameters: loss/(m - n) (noise, cluster-robust) or loss/n (model-error)."""
    if scale not in SCALES:
        raise GafitInputError(f"uncertainty --scale {scale!r}: expected one of {', '.join(SCALES)}")
    if m <= n:
        raise GafitInputError(f"uncertainty: {m} data residuals for {n} free parameters: no "
                              "degrees of freedom left to estimate the noise")
    return loss / n if scale == "model-error" else loss / (m - n)


def variance_text(scale: str) -> str:
    """How s² was set, for the notes: 'loss/(m - n)' or 'loss/n (...)'."""
    return ("loss/n (--scale model-error: T = 2 C0/N_p, Frederiksen et al., PRL 93, 165501 (2004))"
            if scale == "model-error" else "loss/(m - n)")


@dataclass
class Problem:
    """A fit's objective at its optimum ``x`` (free vector, physical units); ``fit`` is the
    :class:`gafit.fitting.Fit` it came from (its training structures, validation data and targets)."""

    fit: gafit.fitting.Fit
    x: np.ndarray
    run_dir: Path | None = None
    at_bounds: dict[str, str] | None = None  # free parameter -> "lower"/"upper" pressed

    @property
    def objective(self) -> Objective:
        return self.fit.objective

    @property
    def space(self) -> ParameterSpace:
        return self.fit.space

    @property
    def names(self) -> list[str]:
        return list(self.space.free)

    def residuals(self, x: np.ndarray) -> np.ndarray:
        """Weighted residuals (m,) at one free vector x."""
        return self.objective.residuals(np.asarray(x, float)[None])[0]

    def loss(self) -> float:
        r = self.residuals(self.x)
        return float(r @ r)

    def n_data(self) -> int:
        """Residuals that are data (training data, phonon and property targets), not penalties."""
        return sum(n for term, n in self.objective.residual_widths() if term not in PENALTY_TERMS)

    def row_structures(self) -> np.ndarray:
        """For each residual (m_total,): the training structure it belongs to, or a distinct
        negative number for a residual of no structure (penalties, phonon and property targets)."""
        data = self.objective.data
        owner = data.table.structure_of_items()
        rows = [owner[p] for p in data.used]
        n_data = sum(len(r) for r in rows)
        n_all = sum(n for _, n in self.objective.residual_widths())
        return np.concatenate(rows + [-1 - np.arange(n_all - n_data)]).astype(np.int64)

    def noise_variance(self, scale: str = "noise") -> float:
        """s² = loss / (m - n): the mean squared weighted residual per degree of freedom (m data
        residuals, n free parameters). gafit's weights are relative, not 1/σ² of a known DFT
        noise, so the scale of the residuals' noise is estimated from the misfit itself (as
        scipy's curve_fit does with absolute_sigma=False). With ``scale`` "model-error":
        loss / n (:func:`residual_variance`)."""
        return residual_variance(self.loss(), self.n_data(), len(self.x), scale)

    def jacobian(self, x: np.ndarray | None = None) -> np.ndarray:
        """d(residuals)/dx (m, n) at x (default the optimum): the objective's analytic Jacobian,
        or batched forward differences where it has none."""
        x = self.x if x is None else np.asarray(x, float)
        jac = self.objective.jacobian(x)
        if jac is None:
            jac = batched_jacobian(self.objective.residuals, self.space.lower,
                                   self.space.upper)(x)
        return jac

    def thetas(self, xs: np.ndarray) -> np.ndarray:
        """Full parameter vectors (B, n_full) of free vectors xs (B, n), the automatic E0 offsets
        solved on the training data for each."""
        return self.objective.evaluate(np.atleast_2d(xs))[0]

    def batch_loss(self) -> Callable[[np.ndarray], np.ndarray]:
        return self.objective.loss

    @classmethod
    def from_fit(cls, fit: gafit.fitting.Fit, x: np.ndarray, run_dir: Path | None = None) -> Problem:
        """The problem of ``fit`` (a :class:`gafit.fitting.Fit`) at its optimum ``x``."""
        x = np.asarray(x, float)
        if x.shape != (fit.space.n_free,):
            raise GafitInputError(f"uncertainty: x has {x.size} values for the fit's "
                                  f"{fit.space.n_free} free parameters")
        if fit.space.n_free == 0:
            raise GafitInputError("uncertainty: the fit has no free parameters")
        return cls(fit, x, run_dir)

    @classmethod
    def from_result(cls, result: gafit.fit_result.FitResult,
                    fit: gafit.fitting.Fit | None = None) -> Problem:
        """The problem of a :class:`gafit.FitResult`; ``fit`` is rebuilt from its config when
        not given (a result made from Python objects has no data files in its config: give the
        Fit)."""
        from gafit.fitting import Fit

        if fit is None:
            if result.config is None or not result.config.data.train:
                raise GafitInputError("uncertainty: this result's config names no training data; "
                                      "pass the Fit it came from")
            fit = Fit.from_config(result.config, check_data=False)
        problem = cls.from_fit(fit, free_values(fit.space, result.potential.named_values()))
        problem.at_bounds = result.at_bounds()
        return problem

    @classmethod
    def from_run(cls, run_dir: str | Path) -> Problem:
        """The problem of a run folder written by ``gafit fit``: its config (summary.json) rebuilt,
        the fitted values from potential.json."""
        from gafit.fit_result import FitResult
        from gafit.fitting import Fit

        folder = Path(run_dir)
        result = FitResult.load(folder)
        config = result.saved.get("config")
        if not config:
            raise GafitInputError(f"{folder}/summary.json: names no config file (a fit made from "
                                  "Python objects): use gafit.uncertainty with its Fit")
        if not Path(config).is_file():
            raise GafitInputError(f"{folder}/summary.json: config {config} is not there any more")
        fit = Fit.from_config(config, check_data=False)
        problem = cls.from_fit(fit, free_values(fit.space, result.potential.named_values()), folder)
        problem.at_bounds = result.at_bounds()
        loss = problem.loss()
        if not np.isclose(loss, result.loss, rtol=LOSS_RTOL, atol=0.0):
            raise GafitInputError(f"{folder}: its potential gives loss {loss:.10g} on {config} now, "
                                  f"the fit found {result.loss:.10g}: the config or its data changed "
                                  "since the fit; fit again")
        return problem


def free_values(space: ParameterSpace, values: dict[str, float]) -> np.ndarray:
    """The free vector of ``space`` from named parameter values (a fitted potential's)."""
    missing = [n for n in space.free if n not in values]
    if missing:
        raise GafitInputError(f"uncertainty: the fitted potential has no {', '.join(missing)}")
    return np.array([values[n] for n in space.free], float)
