"""MCMC ensemble with emcee's affine-invariant ensemble sampler: log-probability
-loss(x) / (2 s²) inside the fit's bounds (a flat prior there, -inf outside), with the s² of the
Fisher analysis (:meth:`Problem.noise_variance`), so the three methods' spreads compare. Each
emcee step evaluates half the walkers in one batched call of the objective (``vectorize=True``):
the same population evaluation the GA uses."""

from __future__ import annotations

import logging
import sys
import time

import numpy as np

from gafit.structures import GafitInputError
from gafit.uncertainty.ensemble import Ensemble, sample_summary
from gafit.uncertainty.fisher import column_scale, fisher_analysis
from gafit.uncertainty.problem import Problem, variance_text

#: the most free parameters MCMC is run for. The stretch move needs at least 2n walkers and its
#: autocorrelation time grows with n (Goodman & Weare 2010; Huijser et al. 2015): a chain long
#: enough for ~50 autocorrelation times then costs 1e5 and more evaluations of the whole
#: training set beyond a handful of parameters, where the Fisher or bootstrap ensemble answer in
#: a fraction of that
MAX_PARAMETERS = 8


def walkers_for(n: int) -> int:
    """Default number of walkers: 4n, at least 8, even (emcee splits them in two halves)."""
    w = max(4 * n, 8)
    return w + w % 2


def start_walkers(problem: Problem, walkers: int, rng: np.random.Generator,
                  scale: str = "noise") -> np.ndarray:
    """Walkers (W, n) in a small Gaussian ball around the optimum: 0.1 x the Fisher σ (1e-3 of
    the scale of x where the Fisher σ is not finite), inside the bounds."""
    space = problem.space
    sd = fisher_analysis(problem, scale).std
    fallback = 1e-3 * column_scale(problem.x, space.lower, space.upper)
    sd = np.where(np.isfinite(sd) & (sd > 0), 0.1 * sd, fallback)
    p0 = problem.x + rng.standard_normal((walkers, len(problem.x))) * sd
    span = space.upper - space.lower
    return np.clip(p0, space.lower + 1e-9 * span, space.upper - 1e-9 * span)


def mcmc_ensemble(problem: Problem, samples: int = 500, seed: int = 0, steps: int = 2000,
                  walkers: int | None = None, burn: int | None = None,
                  progress: bool = True, scale: str = "noise") -> Ensemble:
    """Run ``walkers`` (default :func:`walkers_for`) emcee walkers for ``steps`` steps from a
    ball around the optimum, drop the first ``burn`` steps (default half), and keep ``samples``
    members spread evenly over the rest. Seeded: the start and emcee's moves follow ``seed``.
    ``scale`` sets s² in log p = -loss/(2 s²) (:data:`gafit.uncertainty.problem.SCALES`)."""
    import emcee

    n = len(problem.x)
    if n > MAX_PARAMETERS:
        raise GafitInputError(f"uncertainty --method mcmc: {n} free parameters, more than "
                              f"{MAX_PARAMETERS} (the chain would need >1e5 evaluations to mix); "
                              "use --method fisher or bootstrap")
    walkers = walkers or walkers_for(n)
    if walkers < 2 * n or walkers % 2:
        raise GafitInputError(f"uncertainty --walkers {walkers}: need an even number >= 2 x "
                              f"{n} free parameters")
    burn = steps // 2 if burn is None else burn
    if not 0 <= burn < steps:
        raise GafitInputError(f"uncertainty --burn {burn}: need 0 <= burn < steps ({steps})")
    s2 = problem.noise_variance(scale)
    lower, upper, loss = problem.space.lower, problem.space.upper, problem.batch_loss()
    evaluated = 0

    def log_prob(xs: np.ndarray) -> np.ndarray:
        nonlocal evaluated
        out = np.full(len(xs), -np.inf)
        inside = np.all((xs > lower) & (xs < upper), axis=1)
        if inside.any():
            out[inside] = -loss(xs[inside]) / (2 * s2)
            evaluated += int(inside.sum())
        return out

    rng = np.random.default_rng(seed)
    p0 = start_walkers(problem, walkers, rng, scale)
    sampler = emcee.EnsembleSampler(walkers, n, log_prob, vectorize=True)
    # emcee draws its moves from a legacy RandomState: seed it from the same Generator
    sampler.random_state = np.random.RandomState(rng.integers(2**32)).get_state()
    t0 = time.process_time()
    sampler.run_mcmc(p0, steps, progress=progress,
                     progress_kwargs={"file": sys.stderr, "desc": "mcmc"})
    cpu = time.process_time() - t0
    chain = sampler.get_chain(discard=burn, flat=True)
    pick = np.linspace(0, len(chain) - 1, min(samples, len(chain))).round().astype(int)
    xs = chain[pick]
    quiet = logging.getLogger("emcee.autocorr")  # its warning is one of our notes below
    level, quiet.level = quiet.level, logging.ERROR
    try:
        tau = sampler.get_autocorr_time(discard=burn, quiet=True).tolist()
    except Exception:  # emcee raises when the chain is far too short to estimate it
        tau = None
    finally:
        quiet.setLevel(level)
    info = {"s2": s2, "scale": scale, "walkers": walkers, "steps": steps, "burn": burn,
            "evaluations": evaluated, "cpu_seconds": cpu,
            "acceptance": float(np.mean(sampler.acceptance_fraction)),
            "autocorrelation_steps": tau}
    summary = sample_summary(problem.names, problem.x, xs)
    summary.notes.append(f"emcee: {walkers} walkers x {steps} steps ({burn} burn-in), acceptance "
                         f"{info['acceptance']:.2f}, {evaluated} evaluations in {cpu:.2f} s CPU; "
                         f"log p = -loss/(2 s²), s² = {variance_text(scale)} = {s2:.6g}")
    if tau is not None and steps - burn < 50 * max(tau):
        summary.notes.append(f"warning: the kept chain ({steps - burn} steps) is shorter than 50 "
                             f"autocorrelation times ({max(tau):.1f} steps): raise --steps")
    return Ensemble("mcmc", seed, problem.names, problem.x, xs, summary, info, scale=scale)
