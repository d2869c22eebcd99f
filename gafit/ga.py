"""Genetic algorithm (DEAP) over the unit cube of the free parameters, one batched call per generation.

Operators: simulated binary crossover and polynomial mutation (both bounded), tournament selection,
elitism and a hall of fame. All randomness comes from one seed.
"""

from __future__ import annotations

import random
import time
from collections.abc import Callable
from dataclasses import dataclass, field

import numpy as np
from deap import base, creator, tools

if not hasattr(creator, "GafitFitness"):
    creator.create("GafitFitness", base.Fitness, weights=(-1.0,))
    creator.create("GafitIndividual", list, fitness=creator.GafitFitness)


@dataclass
class GASettings:
    population: int = 100
    generations: int = 60
    seed: int = 1
    crossover_prob: float = 0.9
    mutation_prob: float = 0.5  # chance that an offspring is mutated
    eta_crossover: float = 15.0
    eta_mutation: float = 20.0
    tournament: int = 3
    elite: int = 2
    stall: int | None = None  # stop after this many generations without improvement
    target_loss: float | None = None
    max_time: float | None = None  # seconds
    hall_of_fame: int = 10
    memetic_every: int = 0  # refine the best individual every this many generations (0: off)
    memetic_evaluations: int = 20  # least-squares iterations per memetic step
    memetic_count: int = 2  # individuals refined per memetic step (one per worker at a time)
    validation_stall: int | None = None  # stop when the validation loss has not improved for this
    # many generations (needs validation data)
    subset_fraction: float = 1.0  # early generations see this seeded fraction of the structures
    subset_generations: int = 0  # ... for this many generations; elites are scored on all of them
    workers: int = 1  # processes evaluating the population (same result for any number)
    scheduler: str = ""  # Dask scheduler address (tcp://HOST:PORT): evaluate on that cluster
    mode: str = "scalar"  # "pareto": a front between objectives (gafit.pareto)
    objectives: list[str] = field(default_factory=list)  # pareto: loss groups, e.g. "forces"
    front_size: int = 0  # pareto: refine at most this many members, spread along the front (0: all)


@dataclass
class GAResult:
    best_u: np.ndarray  # best individual in the unit cube
    best_loss: float
    hall_of_fame: list[np.ndarray]  # unit-cube vectors, best first
    hall_of_fame_loss: list[float]
    generations: int
    evaluations: int
    elapsed: float
    stop_reason: str
    history: list[dict] = field(default_factory=list)
    population: np.ndarray | None = None  # final population (unit cube), with its losses
    population_loss: np.ndarray | None = None

    def diverse_best(self, count: int, min_distance: float = 0.05) -> list[np.ndarray]:
        """Up to ``count`` good individuals (hall of fame and final population, best first) that
        are at least ``min_distance`` apart in the unit cube (RMS over coordinates)."""
        cands = list(zip([h.copy() for h in self.hall_of_fame], self.hall_of_fame_loss,
                         strict=True))
        if self.population is not None and self.population_loss is not None:
            cands += list(zip(self.population, self.population_loss, strict=True))
        cands.sort(key=lambda c: c[1])
        chosen: list[np.ndarray] = []
        for u, _ in cands:
            if all(np.sqrt(np.mean((u - v) ** 2)) >= min_distance for v in chosen):
                chosen.append(u)
            if len(chosen) == count:
                break
        return chosen


@dataclass
class GAState:
    """Everything a GA needs to continue exactly where it stopped (plain data)."""

    pop: np.ndarray  # (P, n) unit cube
    pop_loss: np.ndarray
    hof: np.ndarray  # (H, n) best first
    hof_loss: np.ndarray
    generation: int
    stall: int
    best: float
    evaluations: int
    rng_state: tuple  # state of the random generator that DEAP's operators use
    elapsed: float  # seconds spent before this state was saved
    stop_request: str | None = None  # a stop asked for by on_generation (e.g. "validation")


def _individuals(u: np.ndarray, loss: np.ndarray) -> list:
    out = []
    for row, v in zip(u, loss, strict=True):
        ind = creator.GafitIndividual(float(x) for x in row)
        ind.fitness.values = (float(v),)
        out.append(ind)
    return out


def _by_loss(pop: list) -> list[int]:
    """Indices of ``pop``, best (lowest loss) first; ties keep their order."""
    return sorted(range(len(pop)), key=lambda i: pop[i].fitness.values[0])


def _best_distinct(pop: list, order: list[int], count: int) -> list[int]:
    """The first ``count`` indices of ``order`` whose individuals differ from those picked before."""
    picked: list[int] = []
    for i in order:
        if all(list(pop[i]) != list(pop[j]) for j in picked):
            picked.append(i)
        if len(picked) == count:
            break
    return picked


def run_ga(
    loss: Callable[[np.ndarray], np.ndarray],
    n_free: int,
    settings: GASettings,
    start_u: np.ndarray | None = None,
    on_generation: Callable[[int, np.ndarray, np.ndarray, int, float], str | None] | None = None,
    checkpoint: Callable[[GAState], None] | None = None,
    resume: GAState | None = None,
    improve: Callable[[list[np.ndarray]], list[tuple[np.ndarray, float, int]]] | None = None,
    subset_loss: Callable[[np.ndarray], np.ndarray] | None = None,
    deadline: float | None = None,
    should_stop: Callable[[], str | None] | None = None,
) -> GAResult:
    """Minimise ``loss`` (batch of unit-cube vectors (B, n) -> (B,)) with a GA.

    ``on_generation(gen, pop_u, losses, evaluations, elapsed)`` is called after every generation
    (returning a reason, e.g. "validation", stops the search),
    ``checkpoint(state)`` after every generation with the state that ``resume`` continues from
    exactly. ``improve([u, ...]) -> [(u', loss', evaluations), ...]`` is a local search applied to
    the best ``settings.memetic_count`` individuals every ``settings.memetic_every`` generations
    (memetic mode); the improved ones replace the worst.

    With ``subset_loss`` (the loss on a subset of the structures), generations up to
    ``settings.subset_generations`` select on it; each generation's best ``settings.elite``
    individuals are scored on all structures, and only those full scores enter the hall of fame,
    the best loss and the stall count. The population is re-scored on all structures when the
    subset phase ends (or the search stops in it).

    ``deadline`` (a ``time.time()`` value, s) replaces ``settings.max_time`` as the time limit
    (a caller's budget that includes more than the GA). ``should_stop()`` is asked between
    generations; a reason it returns (e.g. "SIGINT") stops the search at once, after the last
    generation's checkpoint, without the final re-scoring of a subset phase.
    """
    t0 = time.perf_counter()
    indpb = 1.0 / max(n_free, 1)
    subset_until = settings.subset_generations if subset_loss is not None else 0

    def on_subset(g: int) -> bool:
        return g < subset_until

    def evaluate(inds: list, subset: bool = False) -> int:
        if not inds:
            return 0
        u = np.array(inds, dtype=float).reshape(len(inds), n_free)
        state = random.getstate()  # evaluators (e.g. Dask's client) may draw from it too
        vals = np.asarray((subset_loss if subset else loss)(u), float)
        random.setstate(state)
        for ind, v in zip(inds, vals, strict=True):
            ind.fitness.values = (float(v) if np.isfinite(v) else np.inf,)
        return len(inds)

    def score_elites(inds: list) -> int:
        """Hall of fame update with the best distinct individuals scored on all structures."""
        chosen = [creator.GafitIndividual(inds[i])
                  for i in _best_distinct(inds, _by_loss(inds), max(settings.elite, 1))]
        n = evaluate(chosen)
        hof.update(chosen)
        return n

    hof = tools.HallOfFame(settings.hall_of_fame, similar=lambda a, b: a == b)
    saved = random.getstate()
    if resume is None:
        rng = random.Random(settings.seed)
        pop = [creator.GafitIndividual(rng.random() for _ in range(n_free))
               for _ in range(settings.population)]
        if start_u is not None and settings.population > 0:
            pop[0] = creator.GafitIndividual(float(v) for v in np.clip(start_u, 0.0, 1.0))
        if on_subset(0):
            evaluations = evaluate(pop, subset=True) + score_elites(pop)
        else:
            evaluations = evaluate(pop)
            hof.update(pop)
        best, stall, gen, before = hof[0].fitness.values[0], 0, 0, 0.0
        random.setstate(rng.getstate())  # DEAP's operators draw from the global generator
    else:
        pop = _individuals(resume.pop, resume.pop_loss)
        hof.update(_individuals(resume.hof, resume.hof_loss))
        best, stall, gen = resume.best, resume.stall, resume.generation
        evaluations, before = resume.evaluations, resume.elapsed
        random.setstate(resume.rng_state)
    reason = "generations"
    stop_request: str | None = resume.stop_request if resume is not None else None
    interrupted: str | None = None

    def elapsed() -> float:
        return before + time.perf_counter() - t0

    def out_of_time() -> bool:
        if deadline is not None:
            return time.time() >= deadline
        return settings.max_time is not None and elapsed() >= settings.max_time

    def report(g: int) -> None:
        nonlocal stop_request
        losses = np.array([ind.fitness.values[0] for ind in pop])
        if on_generation is not None:
            stop_request = on_generation(g, np.array(pop, float), losses, evaluations, elapsed())
        if checkpoint is not None:
            checkpoint(GAState(np.array(pop, float), losses, np.array(list(hof), float),
                               np.array([h.fitness.values[0] for h in hof]), g, stall, best,
                               evaluations, random.getstate(), elapsed(), stop_request))

    try:
        if resume is None:
            report(0)
        while True:
            if should_stop is not None and (interrupted := should_stop()):
                reason = interrupted
                break
            if stop_request:
                reason = stop_request
                break
            if settings.target_loss is not None and best <= settings.target_loss:
                reason = "target loss"
                break
            if gen >= settings.generations:
                break
            if settings.stall is not None and stall >= settings.stall:
                reason = "stall"
                break
            if out_of_time():
                reason = "time"
                break
            gen += 1
            if on_subset(gen - 1) and not on_subset(gen):  # subset phase over: re-score all
                evaluations += evaluate(pop)
                hof.update(pop)
            elite = tools.selBest(pop, settings.elite)
            offspring = [creator.GafitIndividual(ind) for ind in
                         tools.selTournament(pop, len(pop) - len(elite), settings.tournament)]
            for a, b in zip(offspring[::2], offspring[1::2], strict=False):
                if random.random() < settings.crossover_prob:
                    tools.cxSimulatedBinaryBounded(a, b, settings.eta_crossover, 0.0, 1.0)
            for ind in offspring:
                if random.random() < settings.mutation_prob:
                    tools.mutPolynomialBounded(ind, settings.eta_mutation, 0.0, 1.0, indpb)
            evaluations += evaluate(offspring, subset=on_subset(gen))
            pop = [creator.GafitIndividual(e) for e in elite] + offspring
            for e_new, e_old in zip(pop, elite, strict=False):
                e_new.fitness.values = e_old.fitness.values
            if improve is not None and settings.memetic_every and gen % settings.memetic_every == 0:
                # refine the best few distinct individuals (in parallel when there are workers)
                order = _by_loss(pop)
                picked = _best_distinct(pop, order, settings.memetic_count)
                state = random.getstate()
                results = improve([np.array(pop[i], float) for i in picked])
                random.setstate(state)
                worst = order[::-1]
                for i, (u_new, l_new, n_eval) in zip(picked, results, strict=True):
                    evaluations += n_eval
                    if l_new < pop[i].fitness.values[0]:
                        w = worst.pop(0)
                        pop[w] = creator.GafitIndividual(float(v) for v in u_new)
                        pop[w].fitness.values = (float(l_new),)
            if on_subset(gen):
                evaluations += score_elites(pop)
            else:
                hof.update(pop)
            new_best = hof[0].fitness.values[0]
            stall = 0 if new_best < best * (1 - 1e-9) else stall + 1
            best = new_best
            report(gen)
        if on_subset(gen) and not interrupted:
            # stopped in the subset phase: the final population on all structures
            evaluations += evaluate(pop)
            hof.update(pop)
            best = hof[0].fitness.values[0]
    finally:
        random.setstate(saved)
    return GAResult(
        best_u=np.array(hof[0], float),
        best_loss=float(best),
        hall_of_fame=[np.array(h, float) for h in hof],
        hall_of_fame_loss=[h.fitness.values[0] for h in hof],
        generations=gen,
        evaluations=evaluations,
        elapsed=elapsed(),
        stop_reason=reason,
        population=np.array(pop, float),
        population_loss=np.array([ind.fitness.values[0] for ind in pop]),
    )
