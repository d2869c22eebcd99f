"""``Fit``: the one object a fit is driven by, from a config or from Python objects.

``Fit(...)`` builds the problem (the potential with the reach its bounds need, the parameter space,
the geometry tables and the objectives) and nothing else; :meth:`Fit.run_ga`, :meth:`Fit.refine`
and :meth:`Fit.finish` are the steps of :meth:`Fit.run`, which returns a :class:`FitResult`.
:meth:`Fit.from_config` builds the fit a config describes, :meth:`Fit.resume` the fit a run folder's
checkpoint describes, to continue or extend it.
"""

from __future__ import annotations

import contextlib
import dataclasses
import os
import sys
import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
from ase import Atoms

from gafit.checkpoint import (
    Checkpoint,
    _same_problem,
    check_inputs,
    load_checkpoint,
    record_inputs,
    save_checkpoint,
)
from gafit.checks import check_data as data_findings
from gafit.config import (
    ConstraintsConfig,
    DataConfig,
    DataFile,
    FitConfig,
    PotentialConfig,
    RefineConfig,
    load_config,
    parse_config,
    with_absolute_paths,
)
from gafit.evaluate import evaluate_on
from gafit.fit_data import build_potential, fit_parameters, read_data, read_files
from gafit.fit_progress import GenerationLog, RefineLog
from gafit.fit_result import SEEDED, FitResult, constraint_table, provenance, write_outputs
from gafit.forms.zbl import unseen_switches
from gafit.ga import GAHooks, GAResult, GASettings, GAState, run_ga
from gafit.geometry import check_neighbour_work
from gafit.guards import (
    e0_default,
    e0_guard,
    guard_table,
    property_stability_flags,
    stability_guard,
    stable_default,
)
from gafit.io.ase_format import frame_to_structure
from gafit.objective import Objective, Weights
from gafit.parallel import PopulationEvaluator
from gafit.parameters import ParameterSpace, build_space
from gafit.phonons.target import PhononTarget, PhononTargetConfig
from gafit.potential import Potential
from gafit.problem import check_problem
from gafit.property_crosscheck import cross_check
from gafit.property_target import PropertyTargetConfig, PropertyTargets
from gafit.smoothness import SmoothnessTerm
from gafit.stability import e0_check_of
from gafit.structures import GafitInputError, ReferenceSet, Structure
from gafit.targets import Target
from gafit.walls import wall_constraint, walls

#: what ``train`` and ``validation`` may be: a data file, several, a ReferenceSet or ASE Atoms
Data = (str | os.PathLike | ReferenceSet | Sequence[str | os.PathLike] | Sequence[Atoms]
        | Sequence[Structure])


class FitInterrupted(Exception):
    """A fit stopped by a signal (``should_stop`` said so) at a safe point."""

    def __init__(self, signal: str, generation: int | None, phase: str):
        super().__init__(f"stopped by {signal}")
        self.signal = signal
        self.generation = generation  # the last generation saved in the checkpoint (None: none)
        self.phase = phase  # "setup", "GA" or "refinement"


@dataclass
class Refined:
    """One least-squares run of :meth:`Fit.refine`: its start, its end (moved back inside the
    constraints when it left them, see :func:`feasible_end`), the loss there, and whether max_time
    cut it short."""

    start: np.ndarray  # free vector x
    x: np.ndarray
    loss: float
    stopped_by_time: bool
    origin: str = ""  # where the start came from (:meth:`Fit.labelled_starts`)
    start_loss: float = float("nan")  # the loss at ``start``


def reference_data(data: Data, where: str = "train") -> ReferenceSet:
    """``data`` as a ReferenceSet: a file path (any format :func:`gafit.io.read_reference` reads),
    several paths (concatenated in order), a ReferenceSet, or ASE Atoms whose energy, forces and
    stress come from their calculator or their info/arrays (as the extxyz reader takes them), or
    gafit Structures."""
    if isinstance(data, ReferenceSet):
        return data
    if isinstance(data, str | os.PathLike):
        return read_files([DataFile(Path(data))])
    items = list(data)
    if items and all(isinstance(a, Atoms) for a in items):
        return ReferenceSet([frame_to_structure(a, f"{where}:{k}", where)
                             for k, a in enumerate(items)], where)
    if items and all(isinstance(s, Structure) for s in items):
        return ReferenceSet(items, where)
    if all(isinstance(p, str | os.PathLike) for p in items):
        return read_files([DataFile(Path(p)) for p in items])
    raise GafitInputError(f"{where}: give a data file, a list of files, a ReferenceSet or a list "
                          "of ASE Atoms (or of gafit Structures)")


def bounds_reach(potential: Potential, space: ParameterSpace) -> list[float]:
    """Per form, the neighbour cutoff every parameter vector the bounds allow needs: the larger
    :meth:`Form.interaction_range` of the start values and of every fitted parameter at its upper
    bound (Tersoff: max R + D). Forms of a fixed cutoff keep it."""
    hi = space.upper_values()
    return [max(float(form.interaction_range(hi[None, sl])),
                float(form.interaction_range(space.values[None, sl])))
            for form, sl in zip(potential.forms, potential.form_slices(), strict=True)]


def check_cutoffs(config: FitConfig, potential: Potential, space: ParameterSpace,
                  train: ReferenceSet) -> None:
    """Refuse, before any neighbour table is built, a cutoff whose tables cannot fit in memory,
    naming the setting it came from."""
    hi = space.upper_values()
    pc = config.potential
    for form, sl in zip(potential.forms, potential.form_slices(), strict=True):
        theta = hi[sl] if (form.interaction_range(hi[sl])
                           >= form.interaction_range(space.values[sl])) else space.values[sl]
        setting = form.cutoff_setting(theta)
        if setting is not None:
            what = f"{setting} (from [potential.parameters] or the start file)"
        elif pc.cutoff is not None:
            what = "[potential] cutoff"
        else:
            what = f"the cutoff of {pc.start}" if pc.start is not None else "the default cutoff"
        check_neighbour_work(train, form.cutoff, what, triplets=form.body_order >= 3)


def subset_objective(config: FitConfig, potential: Potential, space: ParameterSpace,
                     train: ReferenceSet, n_extra: int, phonons: list[PhononTarget],
                     constraint: Any = None, properties: PropertyTargets | None = None,
                     guards: dict | None = None, terms: Sequence[Target] = ()
                     ) -> Objective | None:
    """The objective on a seeded random ``[ga] subset_fraction`` of the training structures, drawn
    within each config_type (at least one of each), plus every phonon equilibrium structure (the
    last ``n_extra``), that early generations select on; None when the subset phase is off."""
    ga = config.ga
    n_data = len(train) - n_extra
    if ga.subset_generations <= 0 or ga.subset_fraction >= 1.0 or n_data < 2:
        return None
    rng = np.random.default_rng([ga.seed, 7411])  # its own stream: the GA's draws are unchanged
    types = np.array([s.config_type for s in train.structures[:n_data]])
    picked = []
    for t in dict.fromkeys(types):
        members = np.flatnonzero(types == t)
        n_pick = max(1, round(ga.subset_fraction * len(members)))
        picked.extend(rng.choice(members, n_pick, replace=False))
    chosen = [train[int(k)] for k in sorted(picked)] + list(train.structures[n_data:])
    return Objective(potential, space, ReferenceSet(chosen, f"{train.source} (subset)"),
                     config.weights, phonons, constraint, properties, guards, terms)


def one_blas_thread() -> contextlib.AbstractContextManager:
    """BLAS on one thread while a fit runs: gafit runs in parallel over processes (``[ga]
    workers``), and BLAS threads on top only contend with them and with anything else on the
    machine (the least squares' SVD of a 33,000 x 12 Jacobian took 0.23 s with 2 OpenBLAS threads
    on a busy 2-core machine and 0.016 s with one)."""
    from threadpoolctl import threadpool_limits

    return threadpool_limits(limits=1, user_api="blas")


class UnitCube:
    """The GA's view of a fit: individuals are points u of the unit cube, mapped to free vectors
    x by the space (:meth:`ParameterSpace.from_unit`, log-scaled where asked). Every u <-> x
    conversion of a fit happens here."""

    def __init__(self, space: ParameterSpace, pool: PopulationEvaluator | None = None):
        self.space, self.pool = space, pool

    def x(self, u: np.ndarray) -> np.ndarray:
        return self.space.from_unit(u)

    def u(self, x: np.ndarray) -> np.ndarray:
        return self.space.to_unit(x)

    def with_pool(self, pool: PopulationEvaluator) -> UnitCube:
        """This map evaluating on ``pool`` (the losses and least squares below need one)."""
        return UnitCube(self.space, pool)

    def loss(self, u: np.ndarray) -> np.ndarray:
        assert self.pool is not None
        return self.pool.loss(self.x(u))

    def subset_loss(self, u: np.ndarray) -> np.ndarray:
        assert self.pool is not None
        return self.pool.loss(self.x(u), subset=True)

    def refine(self, us: list[np.ndarray], max_evaluations: int, jacobian: str,
               deadline: float | None, progress: Callable[[int, int, float], None]
               ) -> list[tuple[np.ndarray, float, int]]:
        """Least squares from each of ``us``: per start its end u, loss and evaluations."""
        assert self.pool is not None
        found = self.pool.refine_all([self.x(u) for u in us], self.space.lower, self.space.upper,
                                     max_evaluations, jacobian, deadline, progress)
        return [(self.u(r.x), r.loss, r.evaluations) for r in found]


def config_of(potential: Potential, parameters: dict[str, Any] | None, weights: Weights | None,
              ga: GASettings | None, refine: RefineConfig | None,
              phonons: Sequence[PhononTargetConfig], properties: Sequence[PropertyTargetConfig],
              constraints: ConstraintsConfig | None) -> FitConfig:
    """The FitConfig of a fit made from Python objects (its data are given apart)."""
    return FitConfig(data=DataConfig(),
                     potential=PotentialConfig(form=potential.forms[0].name,
                                               species=list(potential.species),
                                               parameters=dict(parameters or {})),
                     weights=weights or Weights(), ga=ga or GASettings(),
                     refine=refine or RefineConfig(), phonons=list(phonons),
                     constraints=constraints or ConstraintsConfig(),
                     properties=list(properties))


class Fit:
    """A fit of ``potential`` to ``train``: the GA over the bounds of ``parameters``, then least
    squares (see :meth:`run`).

    ``parameters`` maps parameter names to a value (fixed), ``[low, high]`` (fitted) or "=NAME"
    (tied), as ``[potential.parameters]`` of a config; parameters not named are fitted within
    their default bounds (``unspecified="free"``) or kept at the potential's values ("fixed",
    which also seeds the GA with them). ``train`` and ``validation`` take a data file, several,
    a ReferenceSet or a list of ASE Atoms. ``weights``, ``ga``, ``refine``, ``constraints``,
    ``phonons`` and ``properties`` are the config's sections as objects. ``targets`` adds loss
    terms of your own (:class:`gafit.targets.Target`) to the objective; a fit with them cannot be
    resumed (its config cannot name them).

    Building a Fit builds the problem only: :attr:`potential` (a copy of the given one whose
    forms reach as far as the bounds need; the given potential is not changed), :attr:`space`,
    :attr:`objective` with the training geometry tables, :attr:`validation_objective` and
    :attr:`subset_objective` (None when not used). ``check_data`` prints the warnings of the
    data check (``gafit check``) on ``train`` to stderr.
    """

    def __init__(self, potential: Potential, train: Data, parameters: dict[str, Any] | None = None,
                 *, weights: Weights | None = None, ga: GASettings | None = None,
                 refine: RefineConfig | None = None, validation: Data | None = None,
                 phonons: Sequence[PhononTargetConfig] = (),
                 properties: Sequence[PropertyTargetConfig] = (),
                 constraints: ConstraintsConfig | None = None, unspecified: str = "free",
                 targets: Sequence[Target] = (), config: FitConfig | None = None,
                 check_data: bool = True):
        #: when the fit's set-up began (time.time()): ``[ga] max_time`` counts from it
        self.started = time.time()
        self._t0 = time.perf_counter()
        # a checkpoint stores the config and names the data files: only a fit made from a config
        # can be resumed, so only such a fit writes one
        self.resumable = config is not None and not targets
        #: the fit's config (given by :meth:`from_config`, else made of the arguments)
        self.config = config or config_of(potential, parameters, weights, ga, refine, phonons,
                                          properties, constraints)
        cfg = self.config
        data = reference_data(train, "train")
        self.validation = reference_data(validation, "validation") if validation is not None \
            else None
        space = build_space(potential, dict(parameters or {}), unspecified=unspecified)
        self.reach = bounds_reach(potential, space)
        #: the potential fitted: the given one with the reach of the bounds
        self.potential = potential.with_reach(self.reach)
        self.space = dataclasses.replace(space, repair=self.potential.repair)
        self.cube = UnitCube(self.space)  # the GA's unit cube <-> free vectors
        self.seeded = unspecified == "fixed"  # the GA starts with the potential's own values
        check_cutoffs(cfg, self.potential, self.space, data)
        if check_data and len(data):
            for finding in data_findings(data, potential=self.potential):
                if finding.severity == "warning":
                    print(f"gafit: data check: {finding.message}", file=sys.stderr)
            if (note := unseen_switches(self.potential, self.space, data)) is not None:
                print(f"gafit: note: {note}", file=sys.stderr)
        self.data = data  # the training structures, without the phonon equilibrium cells
        self.phonon_targets = [PhononTarget.build(self.potential, pc) for pc in cfg.phonons]
        extra = [st for t in self.phonon_targets if (st := t.equilibrium_structure()) is not None]
        #: the training set of the objective: the data plus the phonon equilibrium cells
        self.train = data + ReferenceSet(extra, "phonon references") if extra else data
        # the data's shortest distances (phonon equilibrium cells are data too)
        self.constraint = wall_constraint(self.potential, self.train, cfg.constraints.wall)
        stable = stable_default(cfg.constraints.stable, cfg.properties, cfg.phonons)
        self.property_targets = (PropertyTargets.build(self.potential, cfg.properties,
                                                       elastic=stable)
                                 if cfg.properties else None)
        guards = {"stability": (stability_guard(self.property_targets, self.phonon_targets)
                                if stable else None),
                  "e0": e0_guard(self.potential, self.train,
                                 e0_default(cfg.constraints.e0_range, cfg.properties, cfg.phonons),
                                 self.property_targets)}
        smooth = SmoothnessTerm.build(self.potential, cfg.smoothness, str(cfg.source or 'config'))
        targets = [*targets, smooth] if smooth is not None else targets
        self.objective = Objective(self.potential, self.space, self.train, cfg.weights,
                                   self.phonon_targets, self.constraint, self.property_targets,
                                   guards, targets)
        check_problem(self.objective, f"{cfg.source or 'config'}: [weights]")
        self.subset_objective = subset_objective(cfg, self.potential, self.space, self.train,
                                                 len(extra), self.phonon_targets, self.constraint,
                                                 self.property_targets, guards, targets)
        if cfg.refine.jacobian == "analytic":
            missing = [f.name for f in self.potential.forms if not f.has_parameter_derivatives]
            if missing:
                raise GafitInputError(f"[refine] jacobian = 'analytic': form {', '.join(missing)} "
                                      "has no analytic parameter derivatives; use 'auto' or "
                                      "'finite-difference'")
        if self.space.n_free == 0 and len(self.space.auto_e0) == 0:
            raise GafitInputError("nothing to fit: every parameter is fixed")
        # validation with the E0 offsets solved on the training data
        self.validation_objective = (Objective(self.potential, self.space.with_free_e0(),
                                               self.validation, cfg.weights)
                                     if self.validation is not None else None)
        if cfg.ga.validation_stall and self.validation_objective is None:
            raise GafitInputError("[ga] validation_stall needs validation data ([data] validation, "
                                  "validation_fraction or validation_config_types)")
        self.ga_result: GAResult | None = None
        self.log_rows: list[dict] = []
        self._pool: PopulationEvaluator | None = None
        self._deadline: float | None = None
        self._should_stop: Callable[[], str | None] | None = None
        self._last_saved: int | None = None
        #: the checkpoint :meth:`run` continues from (set by :meth:`resume`), and its run folder
        self.checkpoint: Checkpoint | None = None
        self.run_dir: Path | None = None

    @classmethod
    def from_config(cls, config: FitConfig | dict | str | os.PathLike, check_data: bool = True
                    ) -> Fit:
        """The fit a config describes: a TOML file, its table as a dict (relative paths from the
        working folder) or a FitConfig; ``check_data`` as for :class:`Fit`."""
        started, t0 = time.time(), time.perf_counter()
        if isinstance(config, str | os.PathLike):
            config = load_config(config)
        elif isinstance(config, dict):
            config = parse_config(config)
        config = with_absolute_paths(config)  # a resumed run reads the same files from any folder
        train, valid = read_data(config)
        potential = build_potential(config, train)
        fit = cls(potential, train, fit_parameters(config.potential), validation=valid,
                  unspecified="fixed" if config.potential.start else "free", config=config,
                  check_data=check_data)
        fit.started, fit._t0 = started, t0  # set-up began with reading the data
        return fit

    @classmethod
    def resume(cls, run: str | os.PathLike | Checkpoint, generations: int | None = None,
               workers: int | None = None, scheduler: str | None = None) -> Fit:
        """The fit a run folder's ``checkpoint.npz`` describes (or a loaded :class:`Checkpoint`
        of any folder), ready to continue: :meth:`run` goes on from the checkpoint's generation,
        into the run folder unless given another one (from a Checkpoint: nowhere unless given),
        and gives the result the uninterrupted run would have given.

        ``generations`` extends the run: that many generations more than the checkpoint holds
        (a finished run too), and ``[ga] max_time`` (when set) counted again from the
        checkpoint's time. ``workers`` and ``scheduler`` (``""``: local) override ``[ga]``; they
        change the speed, never the result. The files the run started on must be unchanged
        (SHA-256); the data check of a new fit is not repeated."""
        started, t0 = time.time(), time.perf_counter()
        saved = run if isinstance(run, Checkpoint) else load_checkpoint(run)
        ga = dataclasses.replace(saved.config.ga)  # the checkpoint's own config stays as stored
        config = dataclasses.replace(saved.config, ga=ga)
        if generations is not None:  # an extension: more generations (and time) than stored
            ga.generations = saved.state.generation + generations
            if ga.max_time is not None:
                ga.max_time += saved.state.elapsed
        if workers is not None:
            ga.workers = workers
        if scheduler is not None:
            ga.scheduler = scheduler
        check_inputs(saved)
        fit = cls.from_config(config, check_data=False)
        fit.started, fit._t0 = started, t0
        fit.checkpoint = saved
        fit.run_dir = None if isinstance(run, Checkpoint) else Path(run)
        return fit

    # --- the steps ----------------------------------------------------------------------------
    @contextlib.contextmanager
    def _evaluator(self) -> Iterator[PopulationEvaluator]:
        """The process pool of ``[ga] workers`` (or the Dask cluster): the one open, else a new
        one for the length of the block."""
        if self._pool is not None:
            yield self._pool
            return
        cfg = self.config.ga
        with one_blas_thread(), PopulationEvaluator(self.objective, cfg.workers, cfg.scheduler,
                                                    self.subset_objective) as pool:
            self._pool = pool
            try:
                yield pool
            finally:
                self._pool = None

    def _stop_here(self, phase: str) -> None:
        if self._should_stop is not None and (sig := self._should_stop()):
            raise FitInterrupted(sig, self._last_saved, phase)

    def run_ga(self, resume: Checkpoint | None = None, progress: bool = True,
               checkpoint: str | os.PathLike | None = None) -> GAResult:
        """The GA over the unit cube of the space's bounds; ``resume`` continues from a
        checkpoint's state, ``checkpoint`` is a folder to save ``checkpoint.npz`` into after every
        generation (a fit made from a config only: the checkpoint stores the config, which names
        the data). Its log rows are kept in :attr:`log_rows`."""
        cfg = self.config
        if resume is not None and (resume.state.pop.ndim != 2
                                   or resume.state.pop.shape[1:] != (self.space.n_free,)):
            raise GafitInputError(f"{resume.path or 'checkpoint'}: its population does not have "
                                  f"{self.space.n_free} free parameters per individual")
        save = None
        if checkpoint is not None and self.resumable:
            inputs = resume.inputs if resume is not None else record_inputs(cfg)
            folder = Path(checkpoint)
            folder.mkdir(parents=True, exist_ok=True)

            def save(state: GAState) -> None:
                save_checkpoint(folder, Checkpoint(cfg, state, log.rows, inputs))
                self._last_saved = state.generation

        self._stop_here("setup")
        log = GenerationLog(self.objective, self.cube.x, cfg.ga.generations, not progress,
                            resume.log if resume is not None else None,
                            self.validation_objective, cfg.ga.validation_stall,
                            cfg.ga.subset_generations if self.subset_objective is not None else 0)
        self.log_rows = log.rows
        try:
            with self._evaluator() as pool:
                cube = self.cube.with_pool(pool)

                def improve(us: list[np.ndarray]) -> list[tuple[np.ndarray, float, int]]:
                    def note(k: int, evaluations: int, loss: float) -> None:
                        log.note(f"memetic step: {k + 1} of {len(us)}, {evaluations} evaluations")
                        self._stop_here("GA")

                    return cube.refine(us, cfg.ga.memetic_evaluations, cfg.refine.jacobian,
                                       self._deadline, note)

                hooks = GAHooks(
                    on_generation=log, checkpoint=save, improve=improve,
                    subset_loss=cube.subset_loss if self.subset_objective is not None else None,
                    should_stop=self._should_stop)
                self.ga_result = run_ga(
                    cube.loss, self.space.n_free, cfg.ga,
                    start_u=cube.u(self.space.start()) if self.seeded else None, hooks=hooks,
                    resume=resume.state if resume is not None else None, deadline=self._deadline)
        finally:
            log.close()
        self._stop_here("GA")
        return self.ga_result

    def refine_starts(self, ga: GAResult | None = None) -> list[np.ndarray]:
        """The free vectors least squares start from: ``[refine] starts`` distinct good GA
        individuals, and the potential's own values when the GA was seeded with them."""
        return [x for x, _ in self.labelled_starts(ga)]

    def labelled_starts(self, ga: GAResult | None = None) -> list[tuple[np.ndarray, str]]:
        """:meth:`refine_starts` with where each comes from: "GA individual k" (the k-th of the
        distinct good ones, best first) or "the potential's start values"."""
        ga = ga or self.ga_result
        if ga is None:
            raise GafitInputError("refine: run the GA first (Fit.run_ga) or give the starts")
        starts = [(self.cube.x(u), f"GA individual {k}")
                  for k, u in enumerate(ga.diverse_best(max(self.config.refine.starts, 1)), 1)]
        if self.seeded:
            starts.append((self.space.start(), SEEDED))
        return starts

    def refine(self, starts: Sequence[np.ndarray] | None = None,
               max_evaluations: int | None = None, progress: bool = True) -> list[Refined]:
        """Least squares from each of ``starts`` (free vectors; default :meth:`refine_starts`),
        at most ``max_evaluations`` each (default ``[refine] max_evaluations``)."""
        labelled = (self.labelled_starts() if starts is None
                    else [(x, f"given start {k}") for k, x in enumerate(starts, 1)])
        starts = [x for x, _ in labelled]
        bar = RefineLog(len(starts), not progress)

        def note(k: int, evaluations: int, loss: float) -> None:
            bar(k, evaluations, loss)
            self._stop_here("refinement")

        try:
            with self._evaluator() as pool:
                found = pool.refine_all(starts, self.space.lower, self.space.upper,
                                        max_evaluations or self.config.refine.max_evaluations,
                                        self.config.refine.jacobian, self._deadline, note,
                                        self.config.refine.method)
        finally:
            bar.close()
        out = []
        start_loss = self.objective.loss(np.array(starts)) if starts else []
        for (x0, origin), res, loss0 in zip(labelled, found, start_loss, strict=True):
            x, loss = feasible_end(self.objective, x0, res.x, res.loss)
            out.append(Refined(x0, x, loss, res.stopped_by_time, origin, float(loss0)))
        return out

    def finish(self, ga: GAResult | None = None, refined: Sequence[Refined] = ()) -> FitResult:
        """The result: the best of the GA's and the least squares' ends that keeps the
        constraints, with its RMSEs on the training and validation data (on the tables built
        once), the loss by term, walls, guards, phonon and property tables."""
        ga = ga or self.ga_result
        if ga is None:
            raise GafitInputError("finish: run the GA first (Fit.run_ga)")
        with one_blas_thread():
            return self._finish(ga, refined)

    def _finish(self, ga: GAResult, refined: Sequence[Refined]) -> FitResult:
        space, objective = self.space, self.objective
        x_best, loss_best = self.cube.x(ga.best_u), ga.best_loss
        refined_loss = None
        refine_cut = False
        for r in refined:
            refine_cut |= r.stopped_by_time
            if refined_loss is None or r.loss < refined_loss:
                refined_loss = r.loss
            if r.loss < loss_best:
                x_best, loss_best = r.x, r.loss
        x_best, loss_best = keep_wall(objective, ga, space, x_best, loss_best)
        theta, _ = objective.evaluate(x_best[None])
        fitted = self.potential.with_values(theta[0])
        pressed = space.pressed_bounds(x_best, objective.loss)
        sets = {"train": objective} | ({"validation": self.validation_objective}
                                       if self.validation_objective is not None else {})
        evals = {name: evaluate_on(fitted, obj.tables, obj.targets) for name, obj in sets.items()}
        rmse = {name: ev.rmse for name, ev in evals.items()}
        if self.phonon_targets:
            rmse["train"]["phonons"] = objective.rmse(x_best[None])[0]["phonons"]
        props = self.property_targets
        result = FitResult(
            fitted, space, x_best, float(loss_best), rmse, ga, refined_loss,
            time.perf_counter() - self._t0, self.log_rows,
            {name: ev.by_config_type for name, ev in evals.items()},
            [t.table(theta[0]) for t in self.phonon_targets], pressed, refine_cut,
            walls(fitted, self.train) if not fitted.check() else [],
            constraint_table(self.constraint, theta),
            properties=props.table(theta[0]) if props is not None else [],
            guards=[guard_table(g, theta[0], name) for name, g in objective.guards.items()],
            stability_flags=property_stability_flags(props, theta[0]) if props is not None else [],
            config=self.config, tables={name: obj.tables for name, obj in sets.items()},
            data={name: obj.refset for name, obj in sets.items()},
            starts=[{"origin": r.origin, "start_loss": r.start_loss, "end_loss": r.loss,
                     "stopped_by_time": r.stopped_by_time} for r in refined])
        e0_check = e0_check_of(fitted, self.train, evals["train"].energy, evals["train"].e0)
        result.e0_check = e0_check.to_dict() if e0_check is not None else None
        result.breakdown = objective.breakdown(x_best[None])[0]
        result.property_checks = [f for k, t in enumerate(self.phonon_targets, 1)
                                  for f in t.lattice_flags(theta[0], k)]
        if props is not None:
            result.property_checks += cross_check(fitted, props, result.properties)
        fitted.provenance = provenance(result, self.config)  # not the start file's: this fit's
        fitted.e0_given = True
        return result

    def run(self, out: str | os.PathLike | None = None, quiet: bool = False,
            resume: bool | Checkpoint = False,
            should_stop: Callable[[], str | None] | None = None) -> FitResult:
        """GA, least squares, result; written into the run folder ``out`` when given (with
        ``checkpoint.npz`` after every generation). BLAS runs on one thread meanwhile (the
        workers are the parallelism).

        A fit made by :meth:`resume` continues from its checkpoint, into its run folder when
        ``out`` is not given. ``resume=True`` continues from ``out/checkpoint.npz`` (a
        :class:`Checkpoint` from any folder may be given instead): its config must describe this
        fit's problem (only the GA's length, time limit and workers may differ) and the files it
        started on must be unchanged. Either way the result is the one the uninterrupted run would
        have given, and ``out`` holds the checkpoint from the start. ``should_stop()`` is asked
        at safe points; a reason it returns (e.g. "SIGINT") raises :class:`FitInterrupted` with
        the checkpoint of the last finished generation on disk.
        """
        saved: Checkpoint | None = self.checkpoint if resume is False else None
        if saved is not None and out is None:
            out = self.run_dir
        if resume is not False and not self.resumable:
            raise GafitInputError("resume: only a fit made from a config (Fit.from_config), without "
                                  "targets of its own, can be "
                                  "resumed; its checkpoint stores the config, which names the data")
        if resume is True:
            if out is None:
                raise GafitInputError("resume needs the run folder")
            saved = load_checkpoint(out)
        elif isinstance(resume, Checkpoint):
            saved = resume
        if saved is not None and saved is not self.checkpoint:
            _same_problem(self.config, saved.config)
            check_inputs(saved)
        if saved is not None and out is not None:
            # the run's folder (maybe a new one) holds its state from the start
            save_checkpoint(Path(out), Checkpoint(self.config, saved.state, saved.log,
                                                  saved.inputs))
        return self._run(out, quiet, saved, should_stop)

    def _run(self, out: str | os.PathLike | None, quiet: bool, saved: Checkpoint | None,
             should_stop: Callable[[], str | None] | None) -> FitResult:
        cfg = self.config
        if cfg.ga.mode == "pareto":  # a front of fits (gafit.pareto_fit); its knee is the result
            from gafit.pareto_fit import run_pareto

            self._should_stop = should_stop
            self._last_saved = saved.state.generation if saved is not None else None
            try:
                with one_blas_thread():
                    return run_pareto(self, out, quiet, saved, should_stop, self._stop_here,
                                      feasible_end)
            finally:
                self._should_stop = None
        ga_time = saved.state.elapsed if saved is not None else 0.0
        # max_time bounds the whole fit (setup, GA, least squares), GA time before a resume included
        self._deadline = (self.started + cfg.ga.max_time - ga_time
                          if cfg.ga.max_time is not None else None)
        self._should_stop = should_stop
        self._last_saved = saved.state.generation if saved is not None else None
        try:
            with one_blas_thread():
                with self._evaluator():
                    ga = self.run_ga(saved, not quiet, out)
                    refined = (self.refine(progress=not quiet)
                               if cfg.refine.enabled and self.space.n_free > 0 else [])
                result = self.finish(ga, refined)
        finally:
            self._deadline, self._should_stop = None, None
        if out is not None:
            write_outputs(result, Path(out))
        return result


def feasible_end(objective: Objective, x0: np.ndarray, x1: np.ndarray, loss1: float
                 ) -> tuple[np.ndarray, float]:
    """The least squares' end ``x1`` (loss ``loss1``) if it keeps the constraints (the wall and
    the guards); else, when its start ``x0`` keeps them, the point nearest x1 on the segment x0-x1
    that keeps them (bisection), so that a refinement never trades a wall or stability for a lower
    loss. The penalty residuals make the least squares stay inside almost always; this makes it
    certain."""
    if objective.constraint is None and not objective.guards:
        return x1, loss1

    def held(x: np.ndarray) -> bool:
        return not np.any(objective.penalty(objective.space.expand(x[None])) > 0.0)

    if held(x1) or not held(x0):
        return x1, loss1
    lo, hi = 0.0, 1.0  # held at lo, not at hi
    for _ in range(50):
        mid = 0.5 * (lo + hi)
        if held(x0 + mid * (x1 - x0)):
            lo = mid
        else:
            hi = mid
    x = x0 + lo * (x1 - x0)
    return x, float(objective.loss(x[None])[0])


def keep_wall(objective: Objective, ga: GAResult, space: ParameterSpace, x: np.ndarray,
              loss: float) -> tuple[np.ndarray, float]:
    """``x`` (loss ``loss``) if it keeps the constraints (the wall and the guards), else the
    lowest-loss individual of the GA's hall of fame and final population that keeps them (a
    penalty can let a candidate with a breach of a few µeV win by a hair), else ``x`` (the summary
    then says it did not hold)."""
    if ((objective.constraint is None and not objective.guards)
            or not np.any(objective.penalty(space.expand(x[None])) > 0.0)):
        return x, loss
    cands = list(zip(ga.hall_of_fame, ga.hall_of_fame_loss, strict=True))
    if ga.population is not None and ga.population_loss is not None:
        cands += list(zip(ga.population, ga.population_loss, strict=True))
    if not cands:
        return x, loss
    cands.sort(key=lambda c_: c_[1])
    xs = np.array([UnitCube(space).x(u) for u, _ in cands])
    with np.errstate(invalid="ignore"):
        held = ~np.any(~(objective.penalty(space.expand(xs)) <= 0.0), axis=1)
    if held.any():
        k = int(np.argmax(held))
        return xs[k], float(cands[k][1])
    return x, loss
