"""Multi-objective fits (``[ga] mode = "pareto"``): a front of potentials between target groups.

Each objective is one group of the loss's terms, or several joined by "+" (``"energy+forces"``):
its value for a parameter vector is the sum of the squared weighted residuals of those groups'
blocks of :meth:`Objective.residuals` (the same numbers as :meth:`Objective.breakdown`), plus the
penalties (walls, stability, e0), which join every objective so that a breach is bad in all of
them. Loss terms that no objective names are left out of the fit.

The search is DEAP's NSGA-II (two objectives) or NSGA-III (three or more, on Das-Dennis reference
points) over the unit cube of the free parameters, with the scalar GA's operators (simulated binary
crossover and polynomial mutation, bounded) and one batched evaluation per generation. The first
front of the final population (or ``[ga] front_size`` of its members, spread along it: each costs a
least-squares run) is then refined member by member with least squares on the member's own
scalarisation: the weighted sum of the objectives with weights w_k = 1 / f_k(member) (each
objective normalised by the member's own value, so at the start every objective has an equal share
of the sum), except the front's ends (the member best in an objective), which are refined on that
objective alone so that the front reaches the single-objective optima; the non-dominated refined
members are the front. With two objectives, ``[ga] front_gap`` refines more members in the gaps
of that front (:func:`fill_gaps`). A seed decides the front; a run's checkpoint holds NSGA's state
(:class:`NSGAState`), from which it resumes exactly, and its log a row per generation with the
best value of each objective and the hypervolume of the first front (:func:`convergence_row`).

A member is picked (:func:`pick_member`) by constraints on the groups' RMSEs, then by the knee rule
among the rest: the least sum of the objectives, each normalised to [0, 1] over the whole front
(0 at its best member, 1 at its worst), i.e. the member farthest towards the ideal point from the
plane through the front's extremes.
"""

from __future__ import annotations

import csv
import io
import math
import random
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
from deap import base, creator, tools

from gafit.errors import GafitInputError
from gafit.ga import GASettings

if TYPE_CHECKING:
    from gafit.objective import Objective

MODES = ("scalar", "pareto")
#: the loss's groups an objective may name in a config (a fit's own targets may add more)
GROUPS = ("energy", "forces", "stress", "virial", "phonons", "gruneisen", "properties")
#: weight of the other objectives relative to its own in the scalarisation of a front's end
ANCHOR_TIE = 1e-6
#: penalty terms: part of every objective
PENALTIES = ("walls", "stability", "e0")
#: settings of the scalar GA that pareto mode does not support (name -> its off value)
UNSUPPORTED = {"memetic_every": 0, "subset_generations": 0, "validation_stall": None,
               "stall": None, "target_loss": None}


def objective_groups(name: str) -> list[str]:
    """The groups of one objective: ``"energy+forces"`` -> ["energy", "forces"]."""
    return [g.strip() for g in name.split("+")]


def check_settings(ga: GASettings, where: str) -> None:
    """Refuse a [ga] mode or objectives that pareto mode cannot run (one-line error naming the
    key); ``where`` names the file."""
    if ga.mode not in MODES:
        raise GafitInputError(f"{where}: [ga] mode = {ga.mode!r}: expected one of "
                              + ", ".join(repr(m) for m in MODES))
    objectives = ga.objectives
    if ga.mode == "scalar":
        for key, off in (("objectives", []), ("front_size", 0), ("front_gap", None)):
            if getattr(ga, key) != off:
                raise GafitInputError(f"{where}: [ga] {key} needs mode = \"pareto\"")
        return
    if not isinstance(objectives, list) or not all(isinstance(o, str) for o in objectives):
        raise GafitInputError(f"{where}: [ga] objectives must be a list of group names such as "
                              "[\"forces\", \"phonons\"]")
    if len(objectives) < 2:
        raise GafitInputError(f"{where}: [ga] mode = \"pareto\" needs at least two objectives, "
                              f"got {objectives!r}")
    seen: set[str] = set()
    for obj in objectives:
        for g in objective_groups(obj):
            if g not in GROUPS:
                raise GafitInputError(f"{where}: [ga] objectives: unknown group {g!r} in {obj!r}; "
                                      f"groups: {', '.join(GROUPS)}")
            if g in seen:
                raise GafitInputError(f"{where}: [ga] objectives: group {g!r} is in two "
                                      "objectives")
            seen.add(g)
    if ga.front_gap is not None and len(objectives) != 2:
        raise GafitInputError(f"{where}: [ga] front_gap needs two objectives (neighbours along "
                              f"the front), got {len(objectives)}")
    for key, off in UNSUPPORTED.items():
        if getattr(ga, key) != off:
            raise GafitInputError(f"{where}: [ga] {key} is not supported with mode = \"pareto\"")


class Split:
    """The objectives' columns of an :class:`Objective`'s residual vector."""

    def __init__(self, objective: Objective, names: Sequence[str], where: str = "[ga] objectives"):
        self.objective, self.names = objective, list(names)
        widths = objective.residual_widths()
        start, cols_of = 0, {}
        for term, n in widths:
            cols_of.setdefault(term, []).extend(range(start, start + n))
            start += n
        penalty = [c for t in PENALTIES for c in cols_of.get(t, [])]
        self.columns: list[np.ndarray] = []
        for name in self.names:
            cols = []
            for g in objective_groups(name):
                if not cols_of.get(g):
                    have = [t for t, c in cols_of.items() if c and t not in PENALTIES]
                    raise GafitInputError(f"{where}: {g!r} is not a term of this fit's loss (no "
                                          f"data, no target or weight 0); it has: "
                                          f"{', '.join(have)}")
                cols += cols_of[g]
            self.columns.append(np.array(sorted(cols + penalty), dtype=int))
        self.groups = [g for name in self.names for g in objective_groups(name)]
        self.n_residuals = start

    def values(self, x: np.ndarray) -> np.ndarray:
        """Objective values (B, K) of free vectors x (B, n_free); inf where not finite."""
        r = self.objective.residuals(np.atleast_2d(x))
        f = np.stack([np.einsum("br,br->b", r[:, c], r[:, c]) for c in self.columns], axis=1)
        return np.where(np.isfinite(f), f, np.inf)

    def loss(self, x: np.ndarray) -> np.ndarray:
        """:meth:`values` under the name :class:`gafit.parallel.PopulationEvaluator` calls: a
        Split is what the workers evaluate."""
        return self.values(x)

    def column_scale(self, w: np.ndarray) -> np.ndarray:
        """Per residual, sqrt of the summed weights of the objectives it belongs to: the
        residuals whose squares add up to sum_k w_k f_k (0 for terms left out)."""
        s = np.zeros(self.n_residuals)
        for wk, c in zip(w, self.columns, strict=True):
            s[c] += wk
        return np.sqrt(s)


def scalarisation(f: np.ndarray) -> np.ndarray:
    """The weights (K,) of a member with objective values ``f``: 1 / f_k (floored at 1e-300 x the
    largest), normalised to sum 1."""
    f = np.maximum(np.asarray(f, float), 1e-300 * max(float(np.max(f)), 1e-300))
    w = 1.0 / f
    return w / w.sum()


def nondominated(f: np.ndarray) -> np.ndarray:
    """Mask (N,) of the rows of ``f`` (N, K) (minimised) that no other row dominates; of equal
    rows only the first is kept."""
    f = np.asarray(f, float)
    keep = np.ones(len(f), bool)
    for i in range(len(f)):
        le = np.all(f <= f[i], axis=1)
        lt = np.any(f < f[i], axis=1)
        same = np.all(f == f[i], axis=1)
        if np.any(le & lt) or np.any(same[:i]):
            keep[i] = False
    return keep


def spread(f: np.ndarray, count: int) -> np.ndarray:
    """Indices of at most ``count`` rows of a front ``f`` (N, K) spread along it: ordered by the
    first objective, evenly spaced in that order, both ends included (0: all)."""
    order = np.lexsort(f.T[::-1])
    if count <= 0 or count >= len(f):
        return order
    return order[np.unique(np.round(np.linspace(0, len(f) - 1, count)).astype(int))]


def knee_index(f: np.ndarray, among: np.ndarray | None = None) -> int:
    """The knee of a front ``f`` (N, K): the least sum of objectives normalised to [0, 1] over the
    whole front; ``among`` (a mask) limits the candidates."""
    f = np.asarray(f, float)
    lo, hi = f.min(axis=0), f.max(axis=0)
    span = np.where(hi > lo, hi - lo, 1.0)
    score = ((f - lo) / span).sum(axis=1)
    if among is not None:
        score = np.where(among, score, np.inf)
    return int(np.argmin(score))


def reference_points(k: int, population: int) -> np.ndarray:
    """Das-Dennis reference points for NSGA-III: the most divisions p whose C(k + p - 1, p)
    points do not outnumber the population (at least 1)."""
    p = 1
    while math.comb(k + p, p + 1) <= population:
        p += 1
    return tools.uniform_reference_points(k, p)


def _classes(k: int) -> tuple[type, type]:
    name = f"GafitPareto{k}"
    if not hasattr(creator, name):
        creator.create(name, base.Fitness, weights=(-1.0,) * k)
        creator.create(name + "Individual", list, fitness=getattr(creator, name))
    return getattr(creator, name), getattr(creator, name + "Individual")


@dataclass
class NSGAResult:
    pop_u: np.ndarray  # (P, n) final population, unit cube
    pop_f: np.ndarray  # (P, K) its objective values
    generations: int
    evaluations: int
    elapsed: float
    stop_reason: str
    algorithm: str  # "NSGA-II" or "NSGA-III"
    reference: np.ndarray | None = None  # (K,) the hypervolume's reference point (see NSGAState)


@dataclass
class NSGAState:
    """Everything :func:`run_nsga` needs to continue exactly after a generation (plain data)."""

    pop_u: np.ndarray  # (P, n) the population, unit cube
    pop_f: np.ndarray  # (P, K) its objective values (inf: not finite)
    crowding: np.ndarray  # (P,) NSGA-II's crowding distances from the last selection (its
    # tournaments read them; a selection over the population alone would give others); 0 for III
    reference: np.ndarray  # (K,) the hypervolume's reference point (:func:`hv_reference`)
    generation: int
    evaluations: int
    rng_state: tuple  # state of the random generator that DEAP's operators use
    elapsed: float  # seconds spent before this state was saved


def hv_reference(f: np.ndarray) -> np.ndarray:
    """The fixed reference point of a run's hypervolumes: per objective, the largest finite value
    on the first front of the initial population ``f`` (P, K) (1 where none is finite)."""
    f = np.asarray(f, float)
    ok = np.all(np.isfinite(f), axis=1)
    if not ok.any():
        return np.ones(f.shape[1])
    return f[ok][nondominated(f[ok])].max(axis=0)


def log_hypervolume(f: np.ndarray, reference: np.ndarray) -> float:
    """The hypervolume (decades^K) that the rows of ``f`` (N, K) dominate below ``reference``
    (K,), both in log10 of the objective values (floored at 1e-300; rows not finite or beyond the
    reference add nothing), by moocore: it grows as the front moves down by decades in any
    objective, whatever their units."""
    import moocore

    f = np.asarray(f, float)
    f = f[np.all(np.isfinite(f), axis=1)]
    ref = np.log10(np.maximum(np.asarray(reference, float), 1e-300))
    if not len(f):
        return 0.0
    return float(moocore.hypervolume(np.log10(np.maximum(f, 1e-300)), ref=ref))


def _tournament(pop: list, k: int) -> list:
    """``k`` binary tournaments on (front rank, larger crowding distance) for NSGA-II."""
    rank = {}
    for r, front in enumerate(tools.sortNondominated(pop, len(pop))):
        for ind in front:
            rank[id(ind)] = r
    out = []
    for _ in range(k):
        a, b = random.sample(pop, 2)
        ka = (rank[id(a)], -a.fitness.crowding_dist)
        kb = (rank[id(b)], -b.fitness.crowding_dist)
        out.append(a if ka <= kb else b)
    return out


def convergence_row(names: Sequence[str], gen: int, f: np.ndarray, evaluations: int,
                    elapsed: float, reference: np.ndarray) -> dict[str, Any]:
    """A pareto run's log row after generation ``gen`` (population values ``f`` (P, K)):
    evaluations, time, the size of the first front, its best value of each objective
    (``best:NAME``; None when no candidate is finite) and its :func:`log_hypervolume` against the
    run's fixed ``reference``."""
    ok = np.all(np.isfinite(f), axis=1)
    first = f[ok][nondominated(f[ok])] if ok.any() else np.empty((0, len(names)))
    row: dict[str, Any] = {"generation": gen, "evaluations": evaluations,
                           "elapsed_s": round(elapsed, 3), "first_front": len(first)}
    row |= {f"best:{n}": float(first[:, k].min()) if len(first) else None
            for k, n in enumerate(names)}
    row["hypervolume"] = log_hypervolume(first, reference)
    return row


#: ``on_generation(gen, pop_f, evaluations, elapsed, reference)`` after each generation
OnGeneration = Callable[[int, np.ndarray, int, float, np.ndarray], None]


def run_nsga(values: Callable[[np.ndarray], np.ndarray], n_free: int, k: int,
             settings: GASettings, start_u: np.ndarray | None = None,
             deadline: float | None = None, should_stop: Callable[[], str | None] | None = None,
             on_generation: OnGeneration | None = None, resume: NSGAState | None = None,
             checkpoint: Callable[[NSGAState], None] | None = None) -> NSGAResult:
    """Minimise ``k`` objectives (``values``: batch (B, n) of unit-cube vectors -> (B, k)) with
    NSGA-II (k = 2) or NSGA-III (k > 2), ``settings.population`` individuals for
    ``settings.generations`` generations (or until ``deadline``, a ``time.time()``, or
    ``settings.max_time`` s, or ``should_stop()`` gives a reason). All draws come from
    ``settings.seed``; Python's and numpy's global generators are left as they were.
    ``checkpoint(state)`` is called after every generation with the :class:`NSGAState` that
    ``resume`` continues from exactly (a resumed run ends as the uninterrupted one)."""
    t0 = time.perf_counter()
    before = resume.elapsed if resume is not None else 0.0
    _, individual = _classes(k)
    indpb = 1.0 / max(n_free, 1)
    ref = reference_points(k, settings.population) if k > 2 else None
    algorithm = "NSGA-II" if ref is None else "NSGA-III"
    saved, np_saved = random.getstate(), np.random.get_state()

    def elapsed() -> float:
        return before + time.perf_counter() - t0

    def evaluate(inds: list) -> int:
        if not inds:
            return 0
        u = np.array(inds, float).reshape(len(inds), n_free)
        state = random.getstate()
        f = np.asarray(values(u), float)
        random.setstate(state)
        for ind, row in zip(inds, f, strict=True):
            ind.fitness.values = tuple(float(v) if np.isfinite(v) else np.inf for v in row)
        return len(inds)

    def select(inds: list) -> list:
        if ref is None:
            return tools.selNSGA2(inds, settings.population)
        np.random.seed(random.getrandbits(32))  # selNSGA3 niches with numpy's global generator
        return tools.selNSGA3(inds, settings.population, ref)

    def restore(state: NSGAState) -> list:
        pop = []
        for u, f, c in zip(state.pop_u, state.pop_f, state.crowding, strict=True):
            ind = individual(float(v) for v in u)
            ind.fitness.values = tuple(float(v) for v in f)
            if ref is None:
                ind.fitness.crowding_dist = float(c)
            pop.append(ind)
        return pop

    def report(gen: int) -> None:
        pop_f = np.array([p.fitness.values for p in pop])
        if on_generation is not None:
            on_generation(gen, pop_f, evaluations, elapsed(), reference)
        if checkpoint is not None:
            crowding = [getattr(p.fitness, "crowding_dist", 0.0) if ref is None else 0.0
                        for p in pop]
            checkpoint(NSGAState(np.array(pop, float), pop_f, np.array(crowding, float),
                                 reference.copy(), gen, evaluations, random.getstate(),
                                 elapsed()))

    reason = "generations"
    try:
        if resume is None:
            gen = 0
            rng = random.Random(settings.seed)
            pop = [individual(rng.random() for _ in range(n_free))
                   for _ in range(settings.population)]
            if start_u is not None:
                pop[0] = individual(float(v) for v in np.clip(start_u, 0.0, 1.0))
            random.setstate(rng.getstate())  # DEAP's operators draw from the global generator
            evaluations = evaluate(pop)
            reference = hv_reference(np.array([p.fitness.values for p in pop]))
            pop = select(pop)
            report(0)
        else:
            if resume.pop_u.shape != (settings.population, n_free) or resume.pop_f.shape != (
                    settings.population, k):
                raise GafitInputError(f"checkpoint: its population is {resume.pop_u.shape[0]} "
                                      f"individuals of {resume.pop_u.shape[1]} free parameters "
                                      f"and {resume.pop_f.shape[1]} objectives; this fit has "
                                      f"{settings.population}, {n_free} and {k}")
            gen, evaluations = resume.generation, resume.evaluations
            reference = np.asarray(resume.reference, float)
            pop = restore(resume)
            random.setstate(resume.rng_state)
        while gen < settings.generations:
            if should_stop is not None and (sig := should_stop()):
                reason = sig
                break
            if (time.time() >= deadline if deadline is not None else
                    settings.max_time is not None and elapsed() >= settings.max_time):
                reason = "time"
                break
            gen += 1
            parents = (_tournament(pop, len(pop)) if ref is None
                       else tools.selRandom(pop, len(pop)))
            offspring = [individual(p) for p in parents]
            for a, b in zip(offspring[::2], offspring[1::2], strict=False):
                if random.random() < settings.crossover_prob:
                    tools.cxSimulatedBinaryBounded(a, b, settings.eta_crossover, 0.0, 1.0)
            for ind in offspring:
                if random.random() < settings.mutation_prob:
                    tools.mutPolynomialBounded(ind, settings.eta_mutation, 0.0, 1.0, indpb)
            evaluations += evaluate(offspring)
            pop = select(pop + offspring)
            report(gen)
    finally:
        random.setstate(saved)
        np.random.set_state(np_saved)
    return NSGAResult(np.array(pop, float), np.array([p.fitness.values for p in pop]), gen,
                      evaluations, elapsed(), reason, algorithm, reference)


@dataclass
class Member:
    """One refined front member."""

    u: np.ndarray  # unit cube
    x: np.ndarray  # free vector
    f: np.ndarray  # (K,) objective values
    weights: np.ndarray  # (K,) its scalarisation
    start_f: np.ndarray  # (K,) objective values of the GA member it was refined from
    evaluations: int


def anchor_weights(k: int, n: int) -> np.ndarray:
    """The scalarisation of a front's end (the member best in objective k of n): objective k
    alone, the others at ANCHOR_TIE of its weight (which only breaks ties), normalised."""
    w = np.full(n, ANCHOR_TIE)
    w[k] = 1.0
    return w / w.sum()


def member_weights(f: np.ndarray) -> np.ndarray:
    """The scalarisation of each member of a front ``f`` (N, K): :func:`scalarisation` of its
    values, except the member best in an objective (the first such), which gets
    :func:`anchor_weights` so that the refined front reaches each single-objective optimum."""
    w = np.array([scalarisation(row) for row in f])
    if len(f) > 1:
        for k in range(f.shape[1]):
            w[int(np.argmin(f[:, k]))] = anchor_weights(k, f.shape[1])
    return w


def refine_member(split: Split, cube: Any, u0: np.ndarray, f0: np.ndarray, max_evaluations: int,
                  jacobian: str, deadline: float | None, weights: np.ndarray | None = None,
                  feasible: Callable[..., tuple[np.ndarray, float]] | None = None,
                  method: str = "trf") -> Member:
    """Least squares (``method``, as ``[refine] method``) from GA member ``u0`` (objective
    values ``f0``) on the weighted sum of the objectives with ``weights`` (default: its own
    :func:`scalarisation`); ``feasible(objective, x0, x1, loss1)`` moves an end that leaves the
    constraints back inside them (:func:`gafit.fitting.feasible_end`)."""
    from gafit.refine import refine, wants_analytic

    obj = split.objective
    w = scalarisation(f0) if weights is None else np.asarray(weights, float)
    s = split.column_scale(w)

    def residuals(x: np.ndarray) -> np.ndarray:
        return obj.residuals(x) * s

    def analytic(x: np.ndarray) -> np.ndarray | None:
        j = obj.jacobian(x)
        return None if j is None else j * s[:, None]

    x0 = cube.x(u0)
    res = refine(residuals, x0, obj.space.lower, obj.space.upper, max_evaluations,
                 analytic=analytic if wants_analytic(jacobian, obj.potential) else None,
                 deadline=deadline, method=method)
    x = feasible(obj, x0, res.x, res.loss)[0] if feasible is not None else res.x
    u = cube.u(x)
    x = cube.x(u)  # the point its unit-cube coordinates give back, as the GA's members are
    f = split.values(x[None])[0]
    if not float(w @ f) <= float(w @ f0):  # never worse on its own scalarisation than its start
        u, x, f = np.asarray(u0, float), cube.x(u0), np.asarray(f0, float)
    return Member(u, x, f, w, np.asarray(f0, float), res.evaluations)


# --- filling the gaps of a two-objective front (``[ga] front_gap``) ---------------------------

def relative_gap(fa: np.ndarray, fb: np.ndarray) -> float:
    """The largest relative difference of the square roots of two members' objective values
    (an objective is a sum of squares: this is its RMS-like difference, as between RMSEs):
    max_k sqrt(max(a_k, b_k) / min(a_k, b_k)) - 1 (0 for equal values, inf when one is 0)."""
    lo, hi = np.minimum(fa, fb), np.maximum(fa, fb)
    with np.errstate(divide="ignore", invalid="ignore"):
        ratio = np.where(hi > lo, hi / lo, 1.0)
    return math.sqrt(float(np.max(ratio))) - 1.0


def segment_weights(fa: np.ndarray, fb: np.ndarray) -> np.ndarray:
    """The weights (sum 1) normal to the segment between two neighbours ``fa`` and ``fb`` of a
    two-objective front: both lie on one level line of the weighted sum, whose optimum on a
    front convex there lies between them."""
    w = np.abs(np.array([fa[1] - fb[1], fb[0] - fa[0]], float))
    return w / w.sum()


def gaps_to_fill(members: Sequence[Member], tolerance: float,
                 tried: set[tuple[int, int]] | None = None) -> list[tuple[Member, Member]]:
    """Neighbouring non-dominated members (in the order of the first objective) whose
    :func:`relative_gap` exceeds ``tolerance``, the largest gap first; pairs in ``tried``
    (``id`` of both) are left out."""
    f = np.array([m.f for m in members])
    front = [members[i] for i in np.flatnonzero(nondominated(f))]
    front.sort(key=lambda m: tuple(m.f))
    pairs = [(a, b) for a, b in zip(front, front[1:], strict=False)
             if relative_gap(a.f, b.f) > tolerance and (id(a), id(b)) not in (tried or set())]
    pairs.sort(key=lambda p: -relative_gap(p[0].f, p[1].f))  # stable: ties keep front order
    return pairs


def fill_gaps(members: list[Member], tolerance: float, budget: int,
              refine_at: Callable[[Member, np.ndarray], Member],
              on_member: Callable[[Member], None] | None = None) -> list[Member]:
    """``members`` with up to ``budget`` more, refined until neighbouring members of the front
    differ by at most ``tolerance`` (:func:`relative_gap`; :func:`gaps_to_fill`): in rounds,
    each gap gets one member refined (``refine_at(start, weights)``) on the weights
    :func:`segment_weights` of its ends, from its first end (already near that optimum, so the
    least squares is short). A gap is bisected once: when its member does not land between its
    ends (a gap no weighted sum reaches into: the front is not convex there), it stays."""
    members = list(members)
    tried: set[tuple[int, int]] = set()
    while budget > 0:
        pairs = gaps_to_fill(members, tolerance, tried)[:budget]
        if not pairs:
            break
        for a, b in pairs:
            tried.add((id(a), id(b)))
            members.append(refine_at(a, segment_weights(a.f, b.f)))
            budget -= 1
            if on_member is not None:
                on_member(members[-1])
    return members


# --- the front table ------------------------------------------------------------------------

def front_rows(names: Sequence[str], groups: Sequence[str], params: Sequence[str],
               f: np.ndarray, rmse: Sequence[dict[str, float]], loss: Sequence[float],
               x: np.ndarray, knee: int) -> list[dict[str, Any]]:
    """Rows of front.csv: member, knee, each objective's value, each group's RMSE, the config's
    scalar loss, then the free parameters."""
    rows = []
    for i in range(len(f)):
        row: dict[str, Any] = {"member": i + 1, "knee": int(i == knee)}
        row |= {f"objective:{n}": float(f[i, k]) for k, n in enumerate(names)}
        row |= {f"rmse:{g}": float(rmse[i].get(g, float("nan"))) for g in groups}
        row["loss"] = float(loss[i])
        row |= {p: float(v) for p, v in zip(params, x[i], strict=True)}
        rows.append(row)
    return rows


def front_csv(rows: list[dict[str, Any]]) -> str:
    """front.csv text (numbers with 17 significant digits: they round-trip)."""
    buf = io.StringIO()
    w = csv.DictWriter(buf, fieldnames=list(rows[0]), lineterminator="\n")
    w.writeheader()
    for row in rows:
        w.writerow({k: (f"{v:.17g}" if isinstance(v, float) else v) for k, v in row.items()})
    return buf.getvalue()


def read_front(path: str | Path) -> list[dict[str, Any]]:
    """The rows of a front.csv: member and knee as int, the rest as float."""
    path = Path(path)
    if not path.is_file():
        raise GafitInputError(f"{path}: no such file (a run folder of a [ga] mode = \"pareto\" "
                              "fit has one)")
    with path.open(newline="", encoding="utf-8") as fh:
        rows = list(csv.DictReader(fh))
    if not rows or "member" not in rows[0]:
        raise GafitInputError(f"{path}: not a front table (no member column or no rows)")
    return [{k: (int(v) if k in ("member", "knee") else float(v)) for k, v in row.items()}
            for row in rows]


def objective_names(rows: list[dict[str, Any]]) -> list[str]:
    return [k.removeprefix("objective:") for k in rows[0] if k.startswith("objective:")]


def pick_member(rows: list[dict[str, Any]], limits: dict[str, float] | None = None,
                source: str = "front.csv") -> int:
    """Index of the member to take: those whose RMSE of each group in ``limits`` is at most its
    limit, then the knee (:func:`knee_index`, normalised over the whole front) among them."""
    names = objective_names(rows)
    f = np.array([[row[f"objective:{n}"] for n in names] for row in rows])
    ok = np.ones(len(rows), bool)
    for group, limit in (limits or {}).items():
        key = f"rmse:{group}"
        if key not in rows[0]:
            have = [k.removeprefix("rmse:") for k in rows[0] if k.startswith("rmse:")]
            raise GafitInputError(f"--max {group}={limit:g}: {source} has no group {group!r}; "
                                  f"it has {', '.join(have)}")
        col = np.array([row[key] for row in rows])
        if not np.any(col <= limit):
            raise GafitInputError(f"--max {group}={limit:g}: no member of {source} meets it "
                                  f"(lowest {group} RMSE {np.nanmin(col):.6g})")
        ok &= col <= limit
    if not ok.any():
        raise GafitInputError(f"--max {', '.join(f'{g}={v:g}' for g, v in limits.items())}: no "
                              f"member of {source} meets them all")
    return knee_index(f, ok)


def plot_front(path: Path, names: Sequence[str], f: np.ndarray, knee: int,
               ga_f: np.ndarray | None = None) -> None:
    """front.png: the front's objective values (2-D, or pairwise for more), the knee marked and
    the GA's first front before refinement in grey."""
    from matplotlib.figure import Figure  # no pyplot: the caller's backend is left alone
    from matplotlib.ticker import NullFormatter

    from gafit.io.atomic import atomic_write

    k = len(names)
    pairs = [(a, b) for a in range(k) for b in range(a + 1, k)]
    cols = min(len(pairs), 3)
    rows = math.ceil(len(pairs) / cols)
    fig = Figure(figsize=(4.5 * cols, 4.0 * rows))
    for n, (a, b) in enumerate(pairs, 1):
        ax = fig.add_subplot(rows, cols, n)
        if ga_f is not None and len(ga_f):
            ax.scatter(ga_f[:, a], ga_f[:, b], s=10, c="0.7", label="GA front (before refinement)")
        order = np.argsort(f[:, a])
        # a line only for two objectives: a projection of a larger front is no curve
        ax.plot(f[order, a], f[order, b], "o-" if k == 2 else "o", ms=4, label="front (refined)")
        ax.plot(f[knee, a], f[knee, b], "r*", ms=12, label="knee")
        ax.set_xlabel(f"{names[a]} (loss)")
        ax.set_ylabel(f"{names[b]} (loss)")
        ax.set_xscale("log")
        ax.set_yscale("log")
        for axis in (ax.xaxis, ax.yaxis):  # minor labels of a short log axis overlap
            axis.set_minor_formatter(NullFormatter())
        if n == 1:
            ax.legend(fontsize=7)
    fig.tight_layout()
    atomic_write(path, lambda tmp: fig.savefig(tmp, dpi=100, format="png"))


def parse_limits(items: Sequence[str]) -> dict[str, float]:
    """``["forces=0.2", ...]`` -> {"forces": 0.2}: RMSE limits per group (the group's units)."""
    limits = {}
    for item in items:
        group, sep, value = item.partition("=")
        try:
            limit = float(value) if sep else float("nan")
        except ValueError:
            limit = float("nan")
        if not group.strip() or not math.isfinite(limit):
            raise GafitInputError(f"--max {item}: expected GROUP=NUMBER, e.g. forces=0.2")
        limits[group.strip()] = limit
    return limits


def pick(run_dir: str | Path, out: str | Path, limits: dict[str, float] | None = None,
         member: int | None = None, overwrite: bool = False) -> dict[str, Any]:
    """Copy one member of the front of ``run_dir`` (``member``, numbered from 1, or the one
    :func:`pick_member` picks under ``limits``) into ``out`` as a normal fit result
    (potential.json, lammps/, log.csv, parameters.csv, summary.json, the summary with a
    ``picked`` entry saying how); returns its front.csv row."""
    import shutil

    from gafit.io import strict_json
    from gafit.io.atomic import atomic_batch, atomic_write, atomic_write_text

    run_dir, out = Path(run_dir), Path(out)
    source = run_dir / "front.csv"
    rows = read_front(source)
    if member is not None:
        if limits:
            raise GafitInputError("--member and --max: give one of them")
        if not 1 <= member <= len(rows):
            raise GafitInputError(f"--member {member}: {source} has members 1 to {len(rows)}")
        k, rule = member - 1, f"member {member}"
    else:
        k = pick_member(rows, limits, str(source))
        rule = ("knee (least sum of objectives normalised to [0, 1] over the front)"
                + (" among the members with " + ", ".join(f"{g} RMSE <= {v:g}"
                                                         for g, v in limits.items())
                   if limits else ""))
    folder = run_dir / "front" / f"member_{rows[k]['member']:02d}"
    if not (folder / "summary.json").is_file():
        raise GafitInputError(f"{folder}: missing (the run folder is incomplete)")
    if out.exists() and any(out.iterdir()) and not overwrite:
        raise GafitInputError(f"--out {out}: exists and is not empty (give --overwrite)")
    summary = strict_json.loads((folder / "summary.json").read_text(encoding="utf-8"))
    summary["picked"] = {"run": str(run_dir.resolve()), "member": rows[k]["member"], "rule": rule,
                         "objectives": {n: rows[k][f"objective:{n}"]
                                        for n in objective_names(rows)}}
    with atomic_batch():
        for src in sorted(folder.rglob("*")):
            if src.is_file() and src.name != "summary.json":
                dst = out / src.relative_to(folder)
                atomic_write(dst, lambda tmp, src=src: shutil.copyfile(src, tmp))
        atomic_write_text(out / "summary.json", strict_json.dumps(summary, indent=2) + "\n")
    return rows[k]
