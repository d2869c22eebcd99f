"""Genetic algorithm (DEAP) over the unit cube of the free parameters, one batched call per generation.

Operators: simulated binary crossover and polynomial mutation (both bounded), tournament selection,
elitism and a hall of fame. All randomness comes from one seed.
"""

from __future__ import annotations

import random
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import numpy as np
from deap import base, creator, tools

if not hasattr(creator, "GafitFitness"):
    creator.create("GafitFitness", base.Fitness, weights=(-1.0,))
    creator.create("GafitIndividual", list, fitness=creator.GafitFitness)


def _within(default: float | None, low: float, high: float | None = None) -> Any:
    """A settings field with its allowed ``range`` (low, high; None: open) in the metadata."""
    return field(default=default, metadata={"range": (low, high)})


@dataclass
class GASettings:
    """[ga] settings. A field's metadata ``range`` is what a config may give (outside it the GA
    fails or misbehaves), checked by :func:`gafit.config.parse_config`."""

    population: int = _within(100, 2)
    generations: int = _within(60, 0)
    seed: int = _within(1, 0)
    crossover_prob: float = _within(0.9, 0, 1)
    mutation_prob: float = _within(0.5, 0, 1)  # chance that an offspring is mutated
    eta_crossover: float = _within(15.0, 0)
    eta_mutation: float = _within(20.0, 0)
    tournament: int = _within(3, 1)
    elite: int = _within(2, 0)
    stall: int | None = _within(None, 0)  # stop after this many generations without improvement
    target_loss: float | None = None
    max_time: float | None = _within(None, 0)  # seconds
    hall_of_fame: int = _within(10, 1)
    memetic_every: int = _within(0, 0)  # refine the best individual every this many generations (0: off)
    memetic_evaluations: int = _within(20, 1)  # least-squares iterations per memetic step
    memetic_count: int = 2  # individuals refined per memetic step (one per worker at a time)
    validation_stall: int | None = None  # stop when the validation loss has not improved for this
    # many generations (needs validation data)
    subset_fraction: float = _within(1.0, 1e-9, 1)  # early generations see this seeded fraction of
    # the structures ...
    subset_generations: int = _within(0, 0)  # ... for this many generations; elites are scored on all
    workers: int = _within(1, 1)  # processes evaluating the population (same result for any number)
    scheduler: str = ""  # Dask scheduler address (tcp://HOST:PORT): evaluate on that cluster
    mode: str = "scalar"  # "pareto": a front between objectives (gafit.pareto)
    objectives: list[str] = field(default_factory=list)  # pareto: loss groups, e.g. "forces"
    front_size: int = _within(0, 0)  # pareto: refine at most this many members along the front (0: all)
    front_gap: float | None = _within(None, 0)  # pareto: refine more members between neighbours
    # whose objective values differ by more than this fraction (two objectives)


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


@dataclass
class GAHooks:
    """What a caller plugs into :func:`run_ga`; each is optional.

    ``on_generation(gen, pop_u, losses, evaluations, elapsed)`` is called after every generation
    (returning a reason, e.g. "validation", stops the search); ``checkpoint(state)`` after every
    generation with the :class:`GAState` that ``resume`` continues from exactly.
    ``improve([u, ...]) -> [(u', loss', evaluations), ...]`` is a local search applied to the best
    ``settings.memetic_count`` individuals every ``settings.memetic_every`` generations (memetic
    mode); the improved ones replace the worst. ``subset_loss`` is the loss on a subset of the
    structures (batch (B, n) -> (B,)) that generations up to ``settings.subset_generations``
    select on. ``should_stop()`` is asked between generations; a reason it returns (e.g. "SIGINT")
    stops the search at once, after the last generation's checkpoint, without the final re-scoring
    of a subset phase.
    """

    on_generation: Callable[[int, np.ndarray, np.ndarray, int, float], str | None] | None = None
    checkpoint: Callable[[GAState], None] | None = None
    improve: Callable[[list[np.ndarray]], list[tuple[np.ndarray, float, int]]] | None = None
    subset_loss: Callable[[np.ndarray], np.ndarray] | None = None
    should_stop: Callable[[], str | None] | None = None


class _Search:
    """The state of one GA run (population, hall of fame, counters) and its steps. DEAP's operators
    draw from the global ``random`` generator; evaluations keep its state unchanged."""

    def __init__(self, loss: Callable[[np.ndarray], np.ndarray], n_free: int, settings: GASettings,
                 hooks: GAHooks, deadline: float | None) -> None:
        self.t0 = time.perf_counter()
        self.loss, self.n_free, self.settings, self.hooks = loss, n_free, settings, hooks
        self.deadline = deadline
        self.indpb = 1.0 / max(n_free, 1)
        self.subset_until = settings.subset_generations if hooks.subset_loss is not None else 0
        self.hof = tools.HallOfFame(settings.hall_of_fame, similar=lambda a, b: a == b)
        self.pop: list = []
        self.best, self.stall, self.gen, self.evaluations, self.before = np.inf, 0, 0, 0, 0.0
        self.stop_request: str | None = None
        self.interrupted: str | None = None

    def on_subset(self, g: int) -> bool:
        """Whether generation g selects on the subset loss."""
        return g < self.subset_until

    def elapsed(self) -> float:
        return self.before + time.perf_counter() - self.t0

    def evaluate(self, inds: list, subset: bool = False) -> int:
        """Score ``inds`` in place (non-finite losses as inf); returns how many were scored."""
        if not inds:
            return 0
        u = np.array(inds, dtype=float).reshape(len(inds), self.n_free)
        state = random.getstate()  # evaluators (e.g. Dask's client) may draw from it too
        vals = np.asarray((self.hooks.subset_loss if subset else self.loss)(u), float)
        random.setstate(state)
        for ind, v in zip(inds, vals, strict=True):
            ind.fitness.values = (float(v) if np.isfinite(v) else np.inf,)
        return len(inds)

    def score_elites(self, inds: list) -> int:
        """Hall of fame update with the best distinct individuals scored on all structures."""
        chosen = [creator.GafitIndividual(inds[i])
                  for i in _best_distinct(inds, _by_loss(inds), max(self.settings.elite, 1))]
        n = self.evaluate(chosen)
        self.hof.update(chosen)
        return n

    def initial_population(self, start_u: np.ndarray | None) -> None:
        """A seeded random population (``start_u`` first, when given), scored."""
        settings, n_free = self.settings, self.n_free
        rng = random.Random(settings.seed)
        pop = [creator.GafitIndividual(rng.random() for _ in range(n_free))
               for _ in range(settings.population)]
        if start_u is not None and settings.population > 0:
            pop[0] = creator.GafitIndividual(float(v) for v in np.clip(start_u, 0.0, 1.0))
        self.pop = pop
        if self.on_subset(0):
            self.evaluations = self.evaluate(pop, subset=True) + self.score_elites(pop)
        else:
            self.evaluations = self.evaluate(pop)
            self.hof.update(pop)
        self.best = self.hof[0].fitness.values[0]
        random.setstate(rng.getstate())  # DEAP's operators draw from the global generator

    def resume(self, state: GAState) -> None:
        self.pop = _individuals(state.pop, state.pop_loss)
        self.hof.update(_individuals(state.hof, state.hof_loss))
        self.best, self.stall, self.gen = state.best, state.stall, state.generation
        self.evaluations, self.before = state.evaluations, state.elapsed
        self.stop_request = state.stop_request
        random.setstate(state.rng_state)

    def out_of_time(self) -> bool:
        if self.deadline is not None:
            return time.time() >= self.deadline
        return self.settings.max_time is not None and self.elapsed() >= self.settings.max_time

    def stop_reason(self) -> str | None:
        """Why the search stops before another generation, or None."""
        settings = self.settings
        if self.hooks.should_stop is not None and (interrupted := self.hooks.should_stop()):
            self.interrupted = interrupted
            return interrupted
        if self.stop_request:
            return self.stop_request
        if settings.target_loss is not None and self.best <= settings.target_loss:
            return "target loss"
        if self.gen >= settings.generations:
            return "generations"
        if settings.stall is not None and self.stall >= settings.stall:
            return "stall"
        if self.out_of_time():
            return "time"
        return None

    def report(self, g: int) -> None:
        """The on_generation and checkpoint hooks after generation g."""
        losses = np.array([ind.fitness.values[0] for ind in self.pop])
        if self.hooks.on_generation is not None:
            self.stop_request = self.hooks.on_generation(g, np.array(self.pop, float), losses,
                                                         self.evaluations, self.elapsed())
        if self.hooks.checkpoint is not None:
            self.hooks.checkpoint(GAState(
                np.array(self.pop, float), losses, np.array(list(self.hof), float),
                np.array([h.fitness.values[0] for h in self.hof]), g, self.stall, self.best,
                self.evaluations, random.getstate(), self.elapsed(), self.stop_request))

    def end_subset_phase(self) -> None:
        """The population re-scored on all structures (the subset phase is over)."""
        self.evaluations += self.evaluate(self.pop)
        self.hof.update(self.pop)

    def next_generation(self) -> None:
        """Generation ``gen + 1``: elites kept, the rest bred by tournament, crossover and
        mutation, scored, optionally improved locally; hall of fame, best and stall updated."""
        settings = self.settings
        self.gen += 1
        gen = self.gen
        if self.on_subset(gen - 1) and not self.on_subset(gen):  # subset phase over: re-score all
            self.end_subset_phase()
        elite, offspring = self.breed()
        self.evaluations += self.evaluate(offspring, subset=self.on_subset(gen))
        self.pop = [creator.GafitIndividual(e) for e in elite] + offspring
        for e_new, e_old in zip(self.pop, elite, strict=False):
            e_new.fitness.values = e_old.fitness.values
        if self.hooks.improve is not None and settings.memetic_every and gen % settings.memetic_every == 0:
            self.memetic_step()
        if self.on_subset(gen):
            self.evaluations += self.score_elites(self.pop)
        else:
            self.hof.update(self.pop)
        new_best = self.hof[0].fitness.values[0]
        self.stall = 0 if new_best < self.best * (1 - 1e-9) else self.stall + 1
        self.best = new_best

    def breed(self) -> tuple[list, list]:
        """The elites of the population, and unscored offspring for the rest: tournament
        selection, simulated binary crossover and polynomial mutation (bounded to the unit cube)."""
        settings, pop = self.settings, self.pop
        elite = tools.selBest(pop, settings.elite)
        offspring = [creator.GafitIndividual(ind) for ind in
                     tools.selTournament(pop, len(pop) - len(elite), settings.tournament)]
        for a, b in zip(offspring[::2], offspring[1::2], strict=False):
            if random.random() < settings.crossover_prob:
                tools.cxSimulatedBinaryBounded(a, b, settings.eta_crossover, 0.0, 1.0)
        for ind in offspring:
            if random.random() < settings.mutation_prob:
                tools.mutPolynomialBounded(ind, settings.eta_mutation, 0.0, 1.0, self.indpb)
        return elite, offspring

    def memetic_step(self) -> None:
        """Refine the best few distinct individuals (in parallel when there are workers); each that
        improves replaces one of the worst."""
        assert self.hooks.improve is not None
        pop = self.pop
        order = _by_loss(pop)
        picked = _best_distinct(pop, order, self.settings.memetic_count)
        state = random.getstate()
        results = self.hooks.improve([np.array(pop[i], float) for i in picked])
        random.setstate(state)
        worst = order[::-1]
        for i, (u_new, l_new, n_eval) in zip(picked, results, strict=True):
            self.evaluations += n_eval
            if l_new < pop[i].fitness.values[0]:
                w = worst.pop(0)
                pop[w] = creator.GafitIndividual(float(v) for v in u_new)
                pop[w].fitness.values = (float(l_new),)

    def result(self, reason: str) -> GAResult:
        return GAResult(
            best_u=np.array(self.hof[0], float),
            best_loss=float(self.best),
            hall_of_fame=[np.array(h, float) for h in self.hof],
            hall_of_fame_loss=[h.fitness.values[0] for h in self.hof],
            generations=self.gen,
            evaluations=self.evaluations,
            elapsed=self.elapsed(),
            stop_reason=reason,
            population=np.array(self.pop, float),
            population_loss=np.array([ind.fitness.values[0] for ind in self.pop]),
        )


def run_ga(
    loss: Callable[[np.ndarray], np.ndarray],
    n_free: int,
    settings: GASettings,
    start_u: np.ndarray | None = None,
    hooks: GAHooks | None = None,
    resume: GAState | None = None,
    deadline: float | None = None,
) -> GAResult:
    """Minimise ``loss`` (batch of unit-cube vectors (B, n) -> (B,)) with a GA.

    ``hooks`` (:class:`GAHooks`): progress and checkpoint callbacks, a local search (memetic mode),
    a subset loss and a stop request. With a subset loss, generations up to
    ``settings.subset_generations`` select on it; each generation's best ``settings.elite``
    individuals are scored on all structures, and only those full scores enter the hall of fame,
    the best loss and the stall count. The population is re-scored on all structures when the
    subset phase ends (or the search stops in it). ``resume`` continues from a checkpoint's state.

    ``deadline`` (a ``time.time()`` value, s) replaces ``settings.max_time`` as the time limit
    (a caller's budget that includes more than the GA).
    """
    search = _Search(loss, n_free, settings, hooks or GAHooks(), deadline)
    saved = random.getstate()
    if resume is None:
        search.initial_population(start_u)
    else:
        search.resume(resume)
    try:
        if resume is None:
            search.report(0)
        while (reason := search.stop_reason()) is None:
            search.next_generation()
            search.report(search.gen)
        if search.on_subset(search.gen) and not search.interrupted:
            # stopped in the subset phase: the final population on all structures
            search.end_subset_phase()
            search.best = search.hof[0].fitness.values[0]
    finally:
        random.setstate(saved)
    return search.result(reason)
