"""Uncertainty of a fit's parameters and predictions: the Fisher / Gauss-Newton covariance at the
optimum (:mod:`.fisher`), a bootstrap ensemble over structures (:mod:`.bootstrap`), an MCMC
ensemble (:mod:`.mcmc`, emcee), the ensembles' tables (:mod:`.ensemble`) and their propagation to
predictions with its calibration on held-out frames (:mod:`.propagate`)::

    problem = Problem.from_run("runs/cu")          # or Problem.from_result(result)
    ens = uncertainty(problem, "fisher")           # or "bootstrap", "mcmc"
    print(ens.text()); ens.write("runs/cu")
"""

from __future__ import annotations

from gafit.structures import GafitInputError
from gafit.uncertainty.bootstrap import bootstrap_ensemble
from gafit.uncertainty.ensemble import METHODS, Ensemble, Summary, read_ensemble
from gafit.uncertainty.fisher import Fisher, fisher_analysis, fisher_ensemble
from gafit.uncertainty.mcmc import mcmc_ensemble
from gafit.uncertainty.problem import SCALES, Problem

#: default ensemble sizes: Gaussian draws are cheap, each bootstrap member is a refit, MCMC keeps
#: that many of its chain
DEFAULT_SAMPLES = {"fisher": 200, "bootstrap": 50, "mcmc": 500}


def check_scale(method: str, scale: str) -> None:
    """GafitInputError unless ``method`` is one of :data:`METHODS` and ``scale`` one of
    :data:`SCALES` that applies to it (the bootstrap has no likelihood to scale)."""
    if method not in METHODS:
        raise GafitInputError(f"uncertainty: method {method!r}: expected one of {', '.join(METHODS)}")
    if scale not in SCALES:
        raise GafitInputError(f"uncertainty --scale {scale!r}: expected one of {', '.join(SCALES)}")
    if method == "bootstrap" and scale != "noise":
        which = "fisher" if scale == "cluster-robust" else "fisher or mcmc"
        raise GafitInputError(f"uncertainty --scale {scale}: only for --method {which} "
                              "(the bootstrap has no likelihood to scale: it refits resamples)")
    if method == "mcmc" and scale == "cluster-robust":
        raise GafitInputError("uncertainty --scale cluster-robust: only for --method fisher (a "
                              "covariance, not a likelihood the chain could sample)")


def uncertainty(problem: Problem, method: str, samples: int | None = None, seed: int = 0,
                progress: bool = True, scale: str = "noise", **options: int) -> Ensemble:
    """The ensemble of ``method`` (fisher, bootstrap or mcmc) for ``problem``; ``options`` go to
    the method (mcmc: steps, walkers, burn; bootstrap: max_evaluations). ``scale`` (fisher and
    mcmc) sets the variance of their likelihood: "noise" (loss/(m - n)) or "model-error"
    (loss/n, Frederiksen et al. 2004); "cluster-robust" (fisher) draws from the cluster-robust
    covariance (:data:`gafit.uncertainty.problem.SCALES`)."""
    check_scale(method, scale)
    n = DEFAULT_SAMPLES[method] if samples is None else samples
    if n < 2:
        raise GafitInputError(f"uncertainty --samples {n}: need at least 2")
    if method == "fisher":
        ens = fisher_ensemble(problem, n, seed, scale)
    elif method == "bootstrap":
        ens = bootstrap_ensemble(problem, n, seed, progress=progress, **options)
    else:
        ens = mcmc_ensemble(problem, n, seed, progress=progress, scale=scale, **options)
    auto = problem.space.auto_e0
    if len(auto) and len(ens.samples):
        ens.extra_names = [problem.space.names[k] for k in auto]
        ens.extra = problem.thetas(ens.samples)[:, auto]
    return ens


__all__ = ["DEFAULT_SAMPLES", "METHODS", "SCALES", "Ensemble", "Fisher", "Problem", "Summary",
           "bootstrap_ensemble", "check_scale", "fisher_analysis", "fisher_ensemble", "mcmc_ensemble",
           "read_ensemble",
           "uncertainty"]
