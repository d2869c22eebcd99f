"""A whole fit: read data, build the potential and its parameter space, GA, refinement, outputs."""

from __future__ import annotations

import csv
import dataclasses
import io
import json
import pickle
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from gafit.checks import check_data
from gafit.config import FitConfig
from gafit.evaluate import evaluate
from gafit.forms import get_form
from gafit.ga import GAResult, GAState, run_ga
from gafit.geometry import check_neighbour_work
from gafit.io import read_reference
from gafit.io.atomic import atomic_write, atomic_write_text
from gafit.objective import UNITS, Objective
from gafit.parallel import PopulationEvaluator
from gafit.parameters import ParameterSpace, build_space
from gafit.phonon_target import PhononTarget
from gafit.potential import Potential
from gafit.structures import GafitInputError, ReferenceSet

DEFAULT_CUTOFF = 6.0  # Å, for pair forms when neither the config nor a start file gives one


@dataclass
class FitResult:
    potential: Potential
    space: ParameterSpace
    x: np.ndarray  # best free vector
    loss: float
    rmse: dict[str, dict[str, float]]  # per data set ("train", "validation"), per property
    ga: GAResult
    refined_loss: float | None
    elapsed: float
    log: list[dict] = field(default_factory=list)
    by_config_type: dict[str, dict[str, dict[str, float]]] = field(default_factory=dict)
    phonons: list[list[dict]] = field(default_factory=list)  # per target, per q-point

    def summary(self) -> str:
        lines = [f"loss {self.loss:.6g} (GA {self.ga.best_loss:.6g} after {self.ga.generations} "
                 f"generations, stopped by {self.ga.stop_reason}; {self.ga.evaluations} evaluations "
                 f"in {self.ga.elapsed:.1f} s, {self.ga.evaluations / max(self.ga.elapsed, 1e-9):.0f}"
                 f"/s); total {self.elapsed:.1f} s"]
        for name, row in self.rmse.items():
            parts = [f"{p} {v:.5g} {UNITS[p]}" for p, v in row.items() if np.isfinite(v)]
            lines.append(f"RMSE {name}: " + ", ".join(parts))
        return "\n".join(lines)


def read_data(config: FitConfig) -> tuple[ReferenceSet, ReferenceSet | None]:
    """Training and validation sets: a validation file, plus structures held out of the training
    file by config_type and by a seeded random fraction."""
    dc = config.data
    data = read_reference(dc.train)
    held: list[int] = []
    if dc.validation_config_types:
        types = set(dc.validation_config_types)
        unknown = types - {s.config_type for s in data}
        if unknown:
            raise GafitInputError(f"[data] validation_config_types: {sorted(unknown)} not in "
                                  f"{dc.train}")
        held = [k for k, s in enumerate(data) if s.config_type in types]
    rest = [k for k in range(len(data)) if k not in set(held)]
    if dc.validation_fraction > 0:
        rng = np.random.default_rng(dc.split_seed)
        n_hold = int(round(dc.validation_fraction * len(rest)))
        held += sorted(rng.choice(rest, size=n_hold, replace=False).tolist())
    train = data.subset([k for k in range(len(data)) if k not in set(held)])
    parts = [data.subset(sorted(held))] if held else []
    if dc.validation is not None:
        parts.append(read_reference(dc.validation))
    if not len(train):
        raise GafitInputError("[data]: no training structures are left after the split")
    valid = None
    for part in parts:
        valid = part if valid is None else valid + part
    return train, valid


def build_potential(config: FitConfig, train: ReferenceSet) -> Potential:
    """The potential to fit: from the start file if given, else the form's defaults."""
    pc = config.potential
    start = Potential.load(pc.start) if pc.start is not None else None
    species = pc.species or (start.species if start else train.species)
    if start is not None:
        if list(species) != start.species:
            raise GafitInputError(f"[potential] species {species} differ from those of the start "
                                  f"file {pc.start} ({start.species})")
        if pc.cutoff is not None:
            for f in start.forms:
                f.cutoff = pc.cutoff
        return start
    form = get_form(pc.form)(list(species), pc.cutoff or DEFAULT_CUTOFF)
    return Potential(list(species), [form])


def _upper_values(space: ParameterSpace) -> np.ndarray:
    """The full parameter vector with every fitted parameter at its upper bound."""
    hi = space.values.copy()
    m = space.source >= 0
    hi[m] = space.upper[space.source[m]]
    return hi[space.tie]


def widen_cutoffs(potential: Potential, space: ParameterSpace) -> None:
    """Give forms whose cutoff is a parameter (Tersoff's R + D) neighbour tables wide enough for
    every parameter vector the bounds allow: the geometry is built once, before the search."""
    hi = _upper_values(space)
    for form, sl in zip(potential.forms, potential.form_slices(), strict=True):
        required = getattr(form, "required_cutoff", None)
        if required is not None:
            form.cutoff = max(float(required(hi[None, sl])), float(required(space.values[None, sl])))


def check_cutoffs(config: FitConfig, potential: Potential, space: ParameterSpace,
                  train: ReferenceSet) -> None:
    """Refuse, before any neighbour table is built, a cutoff whose tables cannot fit in memory,
    naming the setting it came from."""
    hi = _upper_values(space)
    pc = config.potential
    for form, sl in zip(potential.forms, potential.form_slices(), strict=True):
        setting = getattr(form, "cutoff_setting", None)
        if setting is not None:
            theta = hi[sl] if form.required_cutoff(hi[sl]) >= form.required_cutoff(space.values[sl]) \
                else space.values[sl]
            what = f"{setting(theta)} (from [potential.parameters] or the start file)"
        elif pc.cutoff is not None:
            what = "[potential] cutoff"
        else:
            what = f"the cutoff of {pc.start}" if pc.start is not None else "the default cutoff"
        check_neighbour_work(train, form.cutoff, what, triplets=setting is not None)


class GenerationLog:
    """Per-generation rows (best and median loss, the best individual's RMSEs), with a progress
    bar on the terminal (none when ``quiet``)."""

    def __init__(self, objective: Objective, space: ParameterSpace, total: int, quiet: bool,
                 rows: list[dict] | None = None, validation: Objective | None = None,
                 validation_stall: int | None = None, subset_generations: int = 0):
        self.objective, self.space, self.total = objective, space, total
        self.subset_generations = subset_generations
        self.validation, self.validation_stall = validation, validation_stall
        self.rows: list[dict] = list(rows or [])
        self.bar = None
        if not quiet:
            from tqdm import tqdm

            self.bar = tqdm(total=total, initial=len(self.rows) and self.rows[-1]["generation"],
                            desc="GA", unit="gen", file=sys.stderr, dynamic_ncols=True,
                            mininterval=0.5)

    def __call__(self, gen: int, pop_u: np.ndarray, losses: np.ndarray, evals: int,
                 elapsed: float) -> str | None:
        best = int(np.argmin(losses))
        x = self.space.from_unit(pop_u[best])[None]
        rmse = self.objective.rmse(x)[0]
        on_subset = gen < self.subset_generations
        # in the subset phase the population's losses are on the subset: log the best one's loss
        # on all structures (its median stays a subset figure, flagged by the ``subset`` column)
        best_loss = float(self.objective.loss(x)[0]) if on_subset else float(losses[best])
        row = {"generation": gen, "evaluations": evals, "elapsed_s": round(elapsed, 3),
               "best_loss": best_loss, "median_loss": float(np.median(losses))}
        if self.subset_generations:
            row["subset"] = int(on_subset)
        row.update({f"rmse_{p}": v for p, v in rmse.items()})
        if self.validation is not None:
            # validation with the E0 offsets solved on the training data
            theta = self.objective.evaluate(x)[0]
            xv = np.hstack([x, theta[:, self.objective.space.auto_e0]])
            row["validation_loss"] = float(self.validation.loss(xv)[0])
            row.update({f"validation_rmse_{p}": v
                        for p, v in self.validation.rmse(xv)[0].items()})
        self.rows.append(row)
        if self.bar is not None:
            rm = " ".join(f"{p[0].upper()} {v:.3g}" for p, v in rmse.items() if np.isfinite(v))
            self.bar.set_postfix_str(f"best {row['best_loss']:.4g} | RMSE {rm}", refresh=False)
            self.bar.update(gen - self.bar.n)
        if self.validation is not None and self.validation_stall:
            vl = [r["validation_loss"] for r in self.rows]
            if len(vl) > self.validation_stall and min(vl[-self.validation_stall:]) >= min(
                    vl[: -self.validation_stall]):
                return "validation"
        return None

    def close(self) -> None:
        if self.bar is not None:
            self.bar.close()

    def to_csv(self) -> str:
        if not self.rows:
            return ""
        buf = io.StringIO()
        w = csv.DictWriter(buf, fieldnames=list(self.rows[0]))
        w.writeheader()
        w.writerows(self.rows)
        return buf.getvalue()


CHECKPOINT = "checkpoint.pkl"


def save_checkpoint(out: Path, config: FitConfig, state: GAState, rows: list[dict]) -> None:
    """The GA's state after a generation, written atomically (a kill never leaves half a file)."""
    blob = pickle.dumps({"version": 1, "config": config, "ga": state, "log": rows})
    atomic_write(out / CHECKPOINT, lambda tmp: Path(tmp).write_bytes(blob))


def load_checkpoint(run_dir: str | Path) -> dict:
    path = Path(run_dir) / CHECKPOINT
    if not path.exists():
        raise GafitInputError(f"{run_dir}: no {CHECKPOINT} to resume from")
    try:
        data = pickle.loads(path.read_bytes())
    except Exception as err:  # a foreign or damaged file
        raise GafitInputError(f"{path}: not a gafit checkpoint ({err})") from None
    if not isinstance(data, dict) or data.get("version") != 1:
        raise GafitInputError(f"{path}: not a gafit checkpoint of this version")
    return data


def subset_objective(config: FitConfig, potential: Potential, space: ParameterSpace,
                     train: ReferenceSet, n_extra: int, phonons: list[PhononTarget]
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
                     config.weights, phonons)


def run_fit(config: FitConfig, out: str | Path | None = None, quiet: bool = False,
            resume: bool = False) -> FitResult:
    """Run the fit described by ``config``; write results into ``out`` when given.

    With ``resume`` the GA continues from ``out/checkpoint.pkl`` (the config stored there is used)
    and ends exactly as the uninterrupted run would have.
    """
    from threadpoolctl import threadpool_limits

    with threadpool_limits(limits=1, user_api="blas"):  # see gafit/__init__.py
        return _run_fit(config, out, quiet, resume)


def _run_fit(config: FitConfig, out: str | Path | None, quiet: bool, resume: bool) -> FitResult:
    t0 = time.perf_counter()
    saved = None
    if resume:
        if out is None:
            raise GafitInputError("resume needs the run folder")
        saved = load_checkpoint(out)
        config = saved["config"]
    train, valid = read_data(config)
    potential = build_potential(config, train)
    space = build_space(potential, config.potential.parameters,
                        unspecified="fixed" if config.potential.start else "free")
    widen_cutoffs(potential, space)
    check_cutoffs(config, potential, space, train)
    if not resume:
        for finding in check_data(train, potential=potential):
            if finding.severity == "warning":
                print(f"gafit: data check: {finding.message}", file=sys.stderr)
    phonons = [PhononTarget.build(potential, pc) for pc in config.phonons]
    extra = [st for t in phonons if (st := t.equilibrium_structure()) is not None]
    if extra:
        train = train + ReferenceSet(extra, "phonon references")
    objective = Objective(potential, space, train, config.weights, phonons)
    subset = subset_objective(config, potential, space, train, len(extra), phonons)
    if config.refine.jacobian == "analytic":
        missing = [f.name for f in potential.forms if not f.has_parameter_derivatives]
        if missing or phonons:
            why = (f"form {', '.join(missing)} has no analytic parameter derivatives" if missing
                   else "phonon targets have no analytic derivatives")
            raise GafitInputError(f"[refine] jacobian = 'analytic': {why}; use 'auto' or "
                                  "'finite-difference'")
    if space.n_free == 0 and len(space.auto_e0) == 0:
        raise GafitInputError("nothing to fit: every parameter is fixed")

    vobjective = (Objective(potential, space.with_free_e0(), valid, config.weights)
                  if valid is not None else None)
    if config.ga.validation_stall and vobjective is None:
        raise GafitInputError("[ga] validation_stall needs validation data ([data] validation, "
                              "validation_fraction or validation_config_types)")
    log = GenerationLog(objective, space, config.ga.generations, quiet,
                        saved["log"] if saved else None, vobjective, config.ga.validation_stall,
                        config.ga.subset_generations if subset is not None else 0)
    checkpoint = None
    if out is not None:
        Path(out).mkdir(parents=True, exist_ok=True)

        def checkpoint(state: GAState) -> None:
            save_checkpoint(Path(out), config, state, log.rows)

    def improve(us: list[np.ndarray]) -> list[tuple[np.ndarray, float, int]]:
        found = pool.refine_all([space.from_unit(u) for u in us], space.lower, space.upper,
                                config.ga.memetic_evaluations, config.refine.jacobian)
        return [(space.to_unit(r.x), r.loss, r.evaluations) for r in found]

    refined_loss = None
    try:
        with PopulationEvaluator(objective, config.ga.workers, config.ga.scheduler,
                                 subset) as pool:
            ga = run_ga(lambda u: pool.loss(space.from_unit(u)), space.n_free, config.ga,
                        start_u=space.to_unit(space.start()) if config.potential.start else None,
                        on_generation=log, checkpoint=checkpoint,
                        resume=saved["ga"] if saved else None, improve=improve,
                        subset_loss=(lambda u: pool.loss(space.from_unit(u), subset=True))
                        if subset is not None else None)
            x_best, loss_best = space.from_unit(ga.best_u), ga.best_loss
            if config.refine.enabled and space.n_free > 0:
                starts = [space.from_unit(u) for u in
                          ga.diverse_best(max(config.refine.starts, 1))]
                if config.potential.start is not None:
                    starts.append(space.start())  # the start file's own values
                for res in pool.refine_all(starts, space.lower, space.upper,
                                           config.refine.max_evaluations, config.refine.jacobian):
                    if refined_loss is None or res.loss < refined_loss:
                        refined_loss = res.loss
                    if res.loss < loss_best:
                        x_best, loss_best = res.x, res.loss
    finally:
        log.close()
    theta, _ = objective.evaluate(x_best[None])
    fitted = potential.with_values(theta[0])
    sets = {"train": train} | ({"validation": valid} if valid is not None else {})
    evals = {name: evaluate(fitted, data) for name, data in sets.items()}
    rmse = {name: ev.rmse for name, ev in evals.items()}
    if phonons:
        rmse["train"]["phonons"] = objective.rmse(x_best[None])[0]["phonons"]
    result = FitResult(fitted, space, x_best, float(loss_best), rmse, ga, refined_loss,
                       time.perf_counter() - t0, log.rows,
                       {name: ev.by_config_type for name, ev in evals.items()},
                       [t.table(theta[0]) for t in phonons])
    if out is not None:
        write_outputs(result, Path(out), log, config)
    return result


def provenance(result: FitResult, config: FitConfig) -> str:
    """A few lines saying how a fitted potential was made (written into its parameter files)."""
    import gafit

    lines = [f"Fitted with gafit {gafit.__version__} on {time.strftime('%Y-%m-%d')}: "
             f"config {config.source or '(API)'}, seed {config.ga.seed}, "
             f"{result.ga.generations} GA generations + least squares, loss {result.loss:.6g}.",
             f"Training data: {config.data.train}"]
    for name, row in result.rmse.items():
        lines.append(f"RMSE {name}: " + ", ".join(f"{p} {v:.4g} {UNITS[p]}" for p, v in row.items()
                                                 if np.isfinite(v)))
    e0 = ", ".join(f"{s} {v:.10g}" for s, v in zip(result.potential.species,
                   result.potential.values[result.potential.e0_slice], strict=True))
    lines.append(f"Energy offsets E0 (eV/atom, not applied by LAMMPS): {e0}")
    return "\n".join(lines)


def write_outputs(result: FitResult, out: Path, log: GenerationLog, config: FitConfig) -> None:
    """potential.json, lammps/pair.lmp, log.csv, parameters.csv and summary.json in ``out``."""
    from gafit.lammps.files import write_lammps

    out.mkdir(parents=True, exist_ok=True)
    result.potential.save(out / "potential.json")
    write_lammps(result.potential, out / "lammps", provenance(result, config))
    atomic_write_text(out / "log.csv", log.to_csv())
    rows = result.space.table(result.potential.values)
    buf = io.StringIO()
    w = csv.DictWriter(buf, fieldnames=["name", "value", "status", "low", "high", "at_bound"])
    w.writeheader()
    w.writerows(rows)
    atomic_write_text(out / "parameters.csv", buf.getvalue())
    summary = {
        "config": str(Path(config.source).resolve()) if config.source else None,
        "train": str(Path(config.data.train).resolve()),
        "weights": dataclasses.asdict(config.weights),
        "loss": result.loss,
        "ga_loss": result.ga.best_loss,
        "refined_loss": result.refined_loss,
        "rmse": result.rmse,
        "units": UNITS,
        "generations": result.ga.generations,
        "stop_reason": result.ga.stop_reason,
        "evaluations": result.ga.evaluations,
        "ga_seconds": result.ga.elapsed,
        "evaluations_per_second": result.ga.evaluations / max(result.ga.elapsed, 1e-9),
        "total_seconds": result.elapsed,
        "parameters_at_bounds": [r["name"] for r in rows if r.get("at_bound")],
        "rmse_by_config_type": result.by_config_type,
        "phonons": result.phonons,
    }
    atomic_write_text(out / "summary.json", json.dumps(summary, indent=2) + "\n")
