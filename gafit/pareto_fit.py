"""The run of a ``[ga] mode = "pareto"`` fit (:func:`run_pareto`): NSGA over the fit's objective
split into objectives, each front member refined on its own scalarisation, and the run folder
(front.csv, front.json, front.png, front/member_NN/ and the knee as the run's result). The pieces
are in :mod:`gafit.pareto`."""

from __future__ import annotations

import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np

from gafit.checkpoint import Checkpoint, record_inputs, save_checkpoint
from gafit.errors import GafitInputError
from gafit.fit_result import FitResult
from gafit.ga import GAResult
from gafit.pareto import (
    ANCHOR_TIE,
    Member,
    NSGAResult,
    NSGAState,
    Split,
    check_settings,
    convergence_row,
    fill_gaps,
    front_csv,
    front_rows,
    knee_index,
    member_weights,
    nondominated,
    plot_front,
    refine_member,
    run_nsga,
    spread,
)


def member_result(fit: Any, x: np.ndarray, nsga: NSGAResult, algorithm_note: str
                  ) -> FitResult:
    """The normal fit result of one member (as :meth:`gafit.fitting.Fit.finish` makes it)."""
    loss = float(fit.objective.loss(x[None])[0])
    u = fit.cube.u(x)
    ga = GAResult(best_u=u, best_loss=loss, hall_of_fame=[u], hall_of_fame_loss=[loss],
                  generations=nsga.generations, evaluations=nsga.evaluations,
                  elapsed=nsga.elapsed, stop_reason=f"{nsga.stop_reason} ({algorithm_note})")
    return fit.finish(ga, [])


def _refine_member(split: Split, task: tuple) -> Member:
    """:func:`gafit.pareto.refine_member` of one front member, on a worker (``split`` is the
    objective the workers hold)."""
    cube, u0, f0, max_evaluations, jacobian, deadline, weights, feasible, method = task
    return refine_member(split, cube, u0, f0, max_evaluations, jacobian, deadline, weights,
                         feasible, method)


def remove_members_beyond(out: Path, count: int) -> None:
    """Remove ``out/front/member_NN/`` with NN > ``count``: the files gafit wrote there (an
    extended run's front may have fewer members than the one it replaces), and the folders
    left empty."""
    from gafit.fit_result import earlier_run

    for folder in sorted((out / "front").glob("member_*")):
        number = folder.name.removeprefix("member_")
        if folder.is_dir() and number.isdigit() and int(number) > count:
            for path in earlier_run(folder):
                path.unlink()
            for sub in sorted((p for p in folder.rglob("*") if p.is_dir()), reverse=True):
                if not any(sub.iterdir()):
                    sub.rmdir()
            if not any(folder.iterdir()):
                folder.rmdir()


def run_pareto(fit: Any, out: str | Path | None, quiet: bool, resume: Any,
               should_stop: Callable[[], str | None] | None, stop_here: Callable[[str], None],
               feasible: Callable[..., tuple[np.ndarray, float]]) -> FitResult:
    """The pareto fit of ``fit`` (a :class:`gafit.fitting.Fit` whose config has ``[ga] mode =
    "pareto"``): NSGA, refinement of each front member, and in ``out``: front.csv, front.png,
    front.json, front/member_NN/ (each a normal run folder) and the knee member as the run's own
    result, which is returned. ``[ga] max_time`` bounds the whole fit from ``fit.started``.
    ``should_stop()`` is asked between generations, ``stop_here(phase)`` raises the fit's
    interruption when it says so; ``feasible`` is :func:`gafit.fitting.feasible_end` (passed in:
    this module sits below gafit.fitting)."""
    cfg = fit.config
    where = str(cfg.source or "config")
    check_settings(cfg.ga, where)
    if resume is not None and not isinstance(resume.state, NSGAState):
        raise GafitInputError(f"{resume.path or 'checkpoint'}: the checkpoint of a scalar fit; "
                              "a [ga] mode = \"pareto\" fit resumes from its own")
    # max_time bounds the whole fit, NSGA's time before a resume included
    before = resume.state.elapsed if resume is not None else 0.0
    deadline = (fit.started + cfg.ga.max_time - before if cfg.ga.max_time is not None else None)
    return _run_pareto(fit, Path(out) if out is not None else None, quiet, should_stop, stop_here,
                       feasible, deadline, resume)


def _run_pareto(fit: Any, out: Path | None, quiet: bool,
                should_stop: Callable[[], str | None] | None, stop_here: Callable[[str], None],
                feasible: Callable[..., tuple[np.ndarray, float]], deadline: float | None,
                resume: Checkpoint | None) -> FitResult:
    from gafit.fit_result import write_outputs
    from gafit.io import strict_json
    from gafit.io.atomic import atomic_write_text

    cfg = fit.config
    where = str(cfg.source or "config")
    split = Split(fit.objective, cfg.ga.objectives, f"{where}: [ga] objectives")
    cube = fit.cube

    def note(text: str) -> None:
        if not quiet:
            print(f"pareto: {text}", file=sys.stderr, flush=True)

    # per generation: the best value of each objective on the first front and its hypervolume
    # (log.csv; the report's convergence plot), kept in the checkpoint
    rows: list[dict] = list(resume.log) if resume is not None else []

    def progress(gen: int, f: np.ndarray, evaluations: int, elapsed: float,
                 reference: np.ndarray) -> None:
        row = convergence_row(split.names, gen, f, evaluations, elapsed, reference)
        rows.append(row)
        best = ", ".join(f"{n} {row[f'best:{n}']:.4g}" for n in split.names
                         if row[f"best:{n}"] is not None)
        note(f"generation {gen}/{cfg.ga.generations}: {row['first_front']} on the first front, "
             f"best {best}, hypervolume {row['hypervolume']:.4g} decades^{len(split.names)}; "
             f"{evaluations} evaluations")

    save = None
    if out is not None and fit.resumable:  # the checkpoint stores the config, which names the data
        inputs = resume.inputs if resume is not None else record_inputs(cfg)
        out.mkdir(parents=True, exist_ok=True)

        def save(state: NSGAState) -> None:
            save_checkpoint(out, Checkpoint(cfg, state, rows, inputs))
            fit._last_saved = state.generation

    from gafit.parallel import PopulationEvaluator

    stop_here("setup")
    # the GA's evaluations, and below the members' least squares, on [ga] workers (or the Dask
    # cluster); neither depends on how the work is split
    with PopulationEvaluator(split, cfg.ga.workers, cfg.ga.scheduler) as pool:
        nsga = run_nsga(lambda u: pool.loss(cube.x(u)), fit.space.n_free, len(split.names),
                        cfg.ga, cube.u(fit.space.start()) if fit.seeded else None,
                        deadline, should_stop, progress,
                        resume.state if resume is not None else None, save)
    fit.log_rows = rows  # each member's log.csv: the run's generations
    stop_here("GA")  # the checkpoint of the last generation is on disk
    first = nondominated(nsga.pop_f) & np.all(np.isfinite(nsga.pop_f), axis=1)
    starts_u, starts_f = nsga.pop_u[first], nsga.pop_f[first]
    if not len(starts_u):
        raise GafitInputError(f"{where}: no candidate of the final population has finite "
                              f"objectives ({', '.join(split.names)}): check the bounds")
    picked = spread(starts_f, cfg.ga.front_size)  # [ga] front_size: the members to refine
    starts_u, starts_f = starts_u[picked], starts_f[picked]
    weights = member_weights(starts_f)
    stop_here("refinement")
    if cfg.refine.enabled:
        tasks = [(cube, u0, f0, cfg.refine.max_evaluations, cfg.refine.jacobian, deadline, w,
                  feasible, cfg.refine.method)
                 for u0, f0, w in zip(starts_u, starts_f, weights, strict=True)]
        members: list[Member] = []
        with PopulationEvaluator(split, cfg.ga.workers, cfg.ga.scheduler) as pool:
            for i, member in enumerate(pool.each(_refine_member, tasks)):
                members.append(member)
                note(f"refined member {i + 1} of {len(starts_u)}: "
                     + ", ".join(f"{n} {a:.4g} -> {b:.4g}" for n, a, b in
                                 zip(split.names, starts_f[i], member.f, strict=True)))
                stop_here("refinement")
    else:
        members = [Member(u0, cube.x(u0), f0, w, f0, 0)
                   for u0, f0, w in zip(starts_u, starts_f, weights, strict=True)]
    n_ga_members = len(members)
    if cfg.ga.front_gap is not None and cfg.refine.enabled:
        def refine_at(start: Member, w: np.ndarray) -> Member:
            stop_here("refinement")
            return refine_member(split, cube, start.u, start.f, cfg.refine.max_evaluations,
                                 cfg.refine.jacobian, deadline, w, feasible, cfg.refine.method)

        members = fill_gaps(members, cfg.ga.front_gap, n_ga_members, refine_at, lambda m: note(
            "refined a member in a gap of the front: " + ", ".join(
                f"{n} {v:.4g}" for n, v in zip(split.names, m.f, strict=True))))
    f_all = np.array([m.f for m in members])
    refine_evaluations = sum(m.evaluations for m in members)
    keep = nondominated(f_all)
    members = [m for m, k in zip(members, keep, strict=True) if k]
    members.sort(key=lambda m: tuple(m.f))
    f = np.array([m.f for m in members])
    x = np.array([m.x for m in members])
    knee = knee_index(f)
    rmse = fit.objective.rmse(x)
    loss = fit.objective.loss(x)
    rows = front_rows(split.names, split.groups, fit.space.free, f, rmse, loss, x, knee)
    results = [member_result(fit, m.x, nsga, nsga.algorithm) for m in members]
    if out is not None:
        write_outputs(results[knee], out)
        for i, res in enumerate(results):
            write_outputs(res, out / "front" / f"member_{i + 1:02d}")
        remove_members_beyond(out, len(results))  # of an earlier front (before a resume)
        atomic_write_text(out / "front.csv", front_csv(rows))
        info = {"objectives": split.names, "algorithm": nsga.algorithm, "seed": cfg.ga.seed,
                "population": cfg.ga.population, "generations": nsga.generations,
                "stop_reason": nsga.stop_reason, "evaluations": nsga.evaluations,
                "ga_seconds": nsga.elapsed,
                "hypervolume_reference": (nsga.reference.tolist()
                                          if nsga.reference is not None else None),
                "refine_evaluations": refine_evaluations,
                "ga_front_size": int(first.sum()), "refined": len(starts_u),
                "refined_in_gaps": len(f_all) - n_ga_members, "front_gap": cfg.ga.front_gap,
                "front_size": len(members),
                "dropped_dominated_after_refinement": int((~keep).sum()),
                "knee_member": knee + 1,
                "scalarisation": "w_k = 1/f_k(GA member), normalised to sum 1; the member best in "
                                 f"objective k: objective k alone (others at {ANCHOR_TIE:g}); a "
                                 "member refined in a gap (front_gap): weights normal to the "
                                 "segment between its two neighbours",
                "knee_rule": "least sum of objectives normalised to [0, 1] over the front",
                "ga_front": starts_f.tolist(),
                "members": [{"member": i + 1, "objectives": m.f.tolist(),
                             "weights": m.weights.tolist(), "start": m.start_f.tolist(),
                             "evaluations": m.evaluations} for i, m in enumerate(members)]}
        atomic_write_text(out / "front.json", strict_json.dumps(info, indent=2) + "\n")
        plot_front(out / "front.png", split.names, f, knee, starts_f)
        note(f"{len(members)} members ({nsga.algorithm}, {nsga.evaluations} evaluations); wrote "
             f"{out}/front.csv, front.png, front.json, front/member_NN/; the run's own result "
             f"is the knee, member {knee + 1} (gafit pick {out} chooses another)")
    return results[knee]
