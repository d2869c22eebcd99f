"""Bootstrap ensemble over structures: each member resamples the training structures with
replacement (a structure drawn c times counts c times: its weight is multiplied by c), and refits
from the optimum with the least squares the fit uses (:func:`gafit.refine.refine`, analytic
Jacobian where the potential has one). Phonon equilibrium cells, phonon and property targets and
the constraints are kept as they are: only the data structures are resampled."""

from __future__ import annotations

import dataclasses
import sys
import time

import numpy as np

from gafit.objective import Objective
from gafit.refine import refine
from gafit.structures import ReferenceSet
from gafit.targets import Penalties, PhononTerm, PropertyTerm
from gafit.uncertainty.ensemble import Ensemble, sample_summary
from gafit.uncertainty.problem import Problem

#: least-squares evaluations per member (from the optimum a few steps usually suffice)
MAX_EVALUATIONS = 100


def resample_counts(n_structures: int, rng: np.random.Generator) -> np.ndarray:
    """How often each of ``n_structures`` is drawn in one bootstrap sample (they add up to it)."""
    return rng.multinomial(n_structures, np.full(n_structures, 1.0 / n_structures))


def resampled(data: ReferenceSet, counts: np.ndarray) -> ReferenceSet:
    """The structures drawn at least once, each weight multiplied by how often it was drawn."""
    return ReferenceSet([dataclasses.replace(s, weight=s.weight * int(c))
                         for s, c in zip(data, counts, strict=True) if c > 0], data.source)


def member_objective(problem: Problem, counts: np.ndarray) -> Objective:
    """The fit's objective on a resample of its training structures (``counts`` per structure)."""
    fit, obj = problem.fit, problem.objective
    data = resampled(fit.data, counts)
    extra = fit.train.structures[len(fit.data):]  # the phonon equilibrium cells, kept
    train = data + ReferenceSet(list(extra), "phonon references") if len(extra) else data
    added = [t for t in obj.terms[1:] if not isinstance(t, Penalties | PhononTerm | PropertyTerm)]
    return Objective(obj.potential, obj.space, train, obj.weights, obj.phonons, obj.constraint,
                     obj.properties, obj.guards, added)


def bootstrap_ensemble(problem: Problem, samples: int = 50, seed: int = 0,
                       max_evaluations: int = MAX_EVALUATIONS, progress: bool = True) -> Ensemble:
    """``samples`` bootstrap members (refits on resampled structures), seeded by ``seed``; a
    progress bar on stderr unless ``progress`` is False."""
    rng = np.random.default_rng(seed)
    n_s = len(problem.fit.data)
    space = problem.space
    members, losses, evaluations = [], [], 0
    t0 = time.process_time()
    bar = None
    if progress:
        from tqdm import tqdm

        bar = tqdm(total=samples, desc="bootstrap", unit="fit", file=sys.stderr,
                   dynamic_ncols=True, mininterval=0.5)
    try:
        for _ in range(samples):
            obj = member_objective(problem, resample_counts(n_s, rng))
            res = refine(obj.residuals, problem.x.copy(), space.lower, space.upper,
                         max_evaluations, analytic=obj.jacobian)
            members.append(res.x)
            losses.append(res.loss)
            evaluations += res.evaluations
            if bar is not None:
                bar.update()
    finally:
        if bar is not None:
            bar.close()
    xs = np.array(members)
    info = {"structures": n_s, "max_evaluations": max_evaluations, "evaluations": evaluations,
            "cpu_seconds": time.process_time() - t0, "member_losses": losses}
    return Ensemble("bootstrap", seed, problem.names, problem.x, xs,
                    sample_summary(problem.names, problem.x, xs), info)
