"""The result of a fit and its run folder: potential.json, lammps/, log.csv, parameters.csv,
summary.json."""

from __future__ import annotations

import csv
import dataclasses
import io
import time
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from gafit.checkpoint import CHECKPOINT, OLD_CHECKPOINT
from gafit.config import FitConfig, data_files, files_label
from gafit.fit_progress import log_csv
from gafit.ga import GAResult
from gafit.guards import guard_line, phonon_flags
from gafit.io import strict_json
from gafit.io.atomic import atomic_batch, atomic_write_text
from gafit.io.paths import output_folder, spare_inputs
from gafit.objective import UNITS, breakdown_text, shares
from gafit.parameters import ParameterSpace
from gafit.potential import Potential
from gafit.potential_files import load_potential, save_potential
from gafit.property_target import format_table
from gafit.structures import GafitInputError, GafitResultError, ReferenceSet
from gafit.walls import Wall, WallConstraint, brief, unsafe_reason


@dataclass
class FitResult:
    """What a fit found, with the figures of its summary; :meth:`save` writes its run folder and
    :meth:`load` reads one back (without the search space and the GA's population)."""

    potential: Potential
    space: ParameterSpace | None  # None when loaded from a run folder
    x: np.ndarray  # best free vector
    loss: float
    rmse: dict[str, dict[str, float]]  # per data set ("train", "validation"), per property
    ga: GAResult
    refined_loss: float | None
    elapsed: float
    log: list[dict] = field(default_factory=list)
    by_config_type: dict[str, dict[str, dict[str, float]]] = field(default_factory=dict)
    phonons: list[list[dict]] = field(default_factory=list)  # per target, per q-point
    pressed: np.ndarray | None = None  # per free parameter: -1/+1 pushed against lower/upper bound
    refine_stopped_by_time: bool = False  # max_time cut the least squares short
    walls: list[Wall] = field(default_factory=list)  # per pair channel (gafit.walls)
    # [constraints] wall: the setting, whether it held, per channel (gafit.walls.WallConstraint)
    wall_constraint: dict | None = None
    e0_check: dict | None = None  # gafit.stability.e0_plausibility on the training data
    # the loss of x split by term (energy, forces, stress, virial, walls, phonons, properties):
    # they add up to ``loss`` (Objective.breakdown)
    breakdown: dict[str, float] = field(default_factory=dict)
    # [[properties]]: per target its value, reference, tolerance, pass (PropertyTargets.table)
    properties: list[dict] = field(default_factory=list)
    # [constraints] stable and e0_range: per guard, whether it held, per channel (gafit.guards)
    guards: list[dict] = field(default_factory=list)
    # Born flags of the property structures with elastic cells (gafit.guards), guarded or not
    stability_flags: list[str] = field(default_factory=list)
    # the fitted properties measured the direct way where they disagree, and phonon targets whose
    # relaxed lattice left the tabulated range (gafit.property_crosscheck, PhononTarget.lattice_flags)
    property_checks: list[str] = field(default_factory=list)
    # the fit's config (``Fit.from_config``, or the one ``Fit`` makes of its arguments)
    config: FitConfig | None = None
    # per least-squares start: where it came from ("GA individual k", "the potential's start
    # values"), the loss there and at its end, and whether max_time cut it short
    starts: list[dict] = field(default_factory=list)
    # per data set ("train", "validation"): the geometry tables the fit built and the structures
    # they tabulate (with the phonon equilibrium cells); not saved: the report reuses them
    tables: dict[str, Any] = field(default_factory=dict, repr=False, compare=False)
    data: dict[str, ReferenceSet] = field(default_factory=dict, repr=False, compare=False)
    # read from a run folder (no space): parameters.csv rows, parameters_at_bounds and the
    # summary's config, train and weights entries
    saved: dict[str, Any] = field(default_factory=dict, repr=False)

    def at_bounds(self) -> dict[str, str]:
        """Free parameters the loss pushes against a bound: name -> "lower" or "upper"."""
        if self.space is None:
            return dict(self.saved.get("parameters_at_bounds", {}))
        if self.pressed is None:
            return {}
        return {n: "lower" if p < 0 else "upper"
                for n, p in zip(self.space.free, self.pressed, strict=True) if p}

    @property
    def parameter_rows(self) -> list[dict[str, Any]]:
        """The rows of parameters.csv: name, value, status, low, high, at_bound."""
        if self.space is None:
            return list(self.saved.get("parameters", []))
        return self.space.table(self.potential.values, self.pressed)

    def save(self, run_dir: str | Path, report: bool = False) -> Path:
        """Write the run folder ``run_dir``: potential.json, lammps/, log.csv, parameters.csv,
        summary.json (renamed into place together), and with ``report`` also report/index.html.
        Returns the folder."""
        out = Path(run_dir)
        write_outputs(self, out)
        if report:
            self.write_report(out)
        return out

    def write_report(self, run_dir: str | Path) -> Path:
        """Write ``RUN_DIR/report/index.html`` for this result saved in ``run_dir`` (on the data
        and geometry tables of the fit when it has them); returns its path."""
        from gafit.report import write_report

        return write_report(run_dir, self.config, result=self)

    @classmethod
    def load(cls, run_dir: str | Path) -> FitResult:
        """The result saved in the run folder ``run_dir`` (by :meth:`save` or ``gafit fit``)."""
        folder = Path(run_dir)
        try:
            # a summary that is not JSON is said first, whatever else the folder lacks
            try:
                summary = strict_json.loads((folder / "summary.json").read_text(encoding="utf-8"))
            except ValueError as err:  # not UTF-8, JSONDecodeError, or nested too deeply
                raise GafitInputError(f"{folder / 'summary.json'}: not valid JSON ({err})") from None
            log_text = (folder / "log.csv").read_text(encoding="utf-8")
            rows = list(csv.DictReader(io.StringIO(
                (folder / "parameters.csv").read_text(encoding="utf-8"))))
        except OSError as err:
            raise GafitInputError(f"{folder}: not a gafit run folder ({err.strerror or err}: "
                                  f"{err.filename})") from None
        potential = load_potential(folder / "potential.json")
        try:
            return cls._from_summary(summary, rows, log_text, potential)
        except KeyError as err:
            raise GafitInputError(f"{folder / 'summary.json'}: no {err.args[0]!r} entry (written "
                                  "by another version of gafit? run the fit again)") from None

    @classmethod
    def _from_summary(cls, summary: dict, rows: list[dict], log_text: str, potential: Potential
                      ) -> FitResult:
        """The result of summary.json, parameters.csv's rows and log.csv's text: the loss, RMSEs
        and GA figures must be there; entries an older gafit did not write are left empty."""
        free = [r for r in rows if r.get("status") == "fitted"]
        ga = GAResult(np.zeros(0), summary["ga_loss"], [], [], summary["generations"],
                      summary["evaluations"], summary["ga_seconds"], summary["stop_reason"])
        at_bounds = summary.get("parameters_at_bounds") or {}
        if isinstance(at_bounds, list):  # names only (gafit before 0.2)
            at_bounds = dict.fromkeys(at_bounds, "")
        return cls(potential, None, np.array([float(r["value"]) for r in free]), summary["loss"],
                   summary["rmse"], ga, summary["refined_loss"], summary["total_seconds"],
                   log=_log_rows(log_text), by_config_type=summary.get("rmse_by_config_type") or {},
                   phonons=summary.get("phonons") or [],
                   refine_stopped_by_time=bool(summary.get("refine_stopped_by_time")),
                   walls=[Wall(**{k: v for k, v in w.items() if k not in ("has_wall", "unsafe")})
                          for w in summary.get("walls") or []],
                   wall_constraint=summary.get("wall_constraint"), e0_check=summary.get("e0_check"),
                   breakdown=summary.get("loss_by_term") or {},
                   properties=summary.get("properties") or [],
                   guards=summary.get("guards") or [],
                   stability_flags=summary.get("stability_flags") or [],
                   property_checks=summary.get("property_checks") or [],
                   starts=summary.get("refine_starts") or [],
                   saved={"parameters": rows, "parameters_at_bounds": at_bounds,
                          **{k: summary.get(k) for k in ("config", "train", "weights")}})

    def summary(self) -> str:
        lines = [f"loss {self.loss:.6g} (GA {self.ga.best_loss:.6g} after {self.ga.generations} "
                 f"generations, stopped by {self.ga.stop_reason}; {self.ga.evaluations} evaluations "
                 f"in {self.ga.elapsed:.1f} s, {self.ga.evaluations / max(self.ga.elapsed, 1e-9):.0f}"
                 f"/s); total {self.elapsed:.1f} s"
                 + ("; least squares stopped at max_time" if self.refine_stopped_by_time else "")]
        if self.starts:
            lines.append(starts_line(self.starts))
        for name, row in self.rmse.items():
            parts = [f"{p} {v:.5g} {UNITS[p]}" for p, v in row.items() if np.isfinite(v)]
            lines.append(f"RMSE {name}: " + ", ".join(parts))
        if self.breakdown:
            lines.append("loss by term: " + breakdown_text(self.breakdown))
        if self.at_bounds():
            lines.append("at a bound (the loss pushes against it: widen the bound or fix the "
                         "parameter): " + ", ".join(f"{n} ({side})"
                                                    for n, side in self.at_bounds().items()))
        if self.walls:
            unsafe = [f"{w.channel}: {r}" for w in self.walls if (r := unsafe_reason(w))]
            lines.append("repulsive walls (! = unsafe): " + "; ".join(brief(w) for w in self.walls))
            lines += [f"warning: {u}" for u in unsafe]
        wc = self.wall_constraint
        if wc is not None:
            broken = [f"{c['channel']} ({c['violation']:.3g} eV)" for c in wc["channels"]
                      if not c["held"]]
            lines.append("wall constraint " + ("held" if wc["held"] else
                                               "NOT held: " + ", ".join(broken)) + ": "
                         + ", ".join(f"{c['channel']} {c['r_from']:.3f}-{c['r_to']:.3f} Å"
                                     for c in wc["channels"]))
        if self.guards:
            ok = all(g["held"] for g in self.guards)
            lines.append(("constraints held: " if ok else "constraints NOT all held: ")
                         + guard_line(self.guards))
        if self.e0_check:
            lines += self.e0_check["flags"]
        lines += self.stability_flags + phonon_flags(self.phonons)
        if self.properties:
            lines.append(format_table(self.properties))
        lines += [f"warning: {p}" for p in self.property_checks]
        return "\n".join(lines)


def starts_line(starts: list[dict]) -> str:
    """One line of where the least squares ended from each start (:attr:`FitResult.starts`),
    best first, with a note when the potential's own start values refined end lower than every
    GA individual refined (by more than 1e-6 relative): the GA's search did not improve on them."""
    def loss(value: float | None) -> float:
        return value if value is not None and np.isfinite(value) else np.inf

    ranked = sorted(starts, key=lambda s: loss(s["end_loss"]))
    line = "least squares ends: " + ", ".join(
        f"{s['origin']} {loss(s['end_loss']):.6g} (from {loss(s['start_loss']):.4g})"
        for s in ranked)
    ga_ends = [loss(s["end_loss"]) for s in ranked if s["origin"] != SEEDED]
    best = loss(ranked[0]["end_loss"])
    if ranked[0]["origin"] == SEEDED and ga_ends and best < min(ga_ends) - 1e-6 * abs(best):
        line += (f"; the best end is from the potential's own start values, the GA's starts "
                 f"ended higher (at best {min(ga_ends):.6g})")
    return line


#: :attr:`FitResult.starts` origin of the potential's own values (gafit.fitting.Fit.labelled_starts)
SEEDED = "the potential's start values"


def constraint_table(constraint: WallConstraint | None, theta: np.ndarray) -> dict | None:
    """The summary's ``wall_constraint``: setting, held, per channel (Å, eV); None without one."""
    if constraint is None:
        return None
    rows = constraint.table(theta)
    return {"setting": constraint.setting, "held": all(r["held"] for r in rows), "channels": rows}


def provenance(result: FitResult, config: FitConfig) -> str:
    """A few lines saying how a fitted potential was made (written into its parameter files)."""
    from gafit._version import __version__

    lines = [f"Fitted with gafit {__version__} on {time.strftime('%Y-%m-%d')}: "
             f"config {config.source or '(API)'}, seed {config.ga.seed}, "
             f"{result.ga.generations} GA generations + least squares, loss {result.loss:.6g}.",
             f"Training data: {files_label(config.data.train)}"]
    if config.potential.start is not None:
        lines.append(f"Started from {config.potential.start}")
    for name, row in result.rmse.items():
        lines.append(f"RMSE {name}: " + ", ".join(f"{p} {v:.4g} {UNITS[p]}" for p, v in row.items()
                                                 if np.isfinite(v)))
    return "\n".join(lines)  # the E0 offsets are written by write_lammps, machine-readable


def result_problem(result: FitResult) -> str | None:
    """Why a finished fit means nothing (a loss or an RMSE of data it has that is not finite: the
    best candidate's predictions overflow), or None when its result is usable."""
    bad = [f"{name} {prop}" for name, row in result.rmse.items() for prop, v in row.items()
           if np.isinf(v)]  # NaN: no such reference values; inf: predictions not finite
    if np.isfinite(result.loss) and not bad:
        return None
    values = ", ".join(f"{n} = {v:.4g}" for n, v in zip(result.space.free, result.x, strict=True))
    what = f"the RMSE of {', '.join(bad)} is not finite" if bad else "the loss is not finite"
    return (f"the fit found no usable potential: {what} (the predictions of the best candidate "
            f"overflow; {values}); narrow the parameter bounds")


def check_result(result: FitResult) -> None:
    """Raise :class:`GafitResultError` when :func:`result_problem` finds one."""
    problem = result_problem(result)
    if problem is not None:
        raise GafitResultError(problem)


#: files ``gafit fit`` writes into its run folder, besides lammps/, report/, validate/ ([validate]:
#: gafit.fit_validate) and the checkpoint
RUN_FILES = ("potential.json", "log.csv", "parameters.csv", "summary.json")
#: what a Pareto fit adds: the front's table, settings and plot, and a run folder per member in
#: front/member_NN/
FRONT_FILES = ("front.csv", "front.json", "front.png")
FRONT_DIR = "front"


def earlier_run(folder: Path) -> list[Path]:
    """The files of an earlier ``gafit fit`` in ``folder``: its outputs, checkpoint, the LAMMPS
    files its lammps/pair.lmp names, its report/ page with the plots, its validate/ suite run and
    a Pareto fit's front files and member folders."""
    from gafit.fit_validate import earlier_files
    from gafit.lammps.files import parameter_files
    from gafit.report.html import PNG_PATTERNS, REPORT_DIR

    files = [folder / n for n in (*RUN_FILES, CHECKPOINT, OLD_CHECKPOINT) if (folder / n).is_file()]
    pair = folder / "lammps" / "pair.lmp"
    if pair.is_file():
        names = parameter_files(pair.read_text(encoding="utf-8", errors="replace").splitlines())
        files += [pair] + [pair.parent / n for n in names if (pair.parent / n).is_file()]
    report = folder / REPORT_DIR
    if (report / "index.html").is_file():
        files += [report / "index.html"] + sorted(p for pattern in PNG_PATTERNS
                                                  for p in report.glob(pattern))
    files += [folder / n for n in FRONT_FILES if (folder / n).is_file()]
    for member in sorted((folder / FRONT_DIR).glob("member_*")):
        if member.is_dir():
            files += earlier_run(member)
    return files + earlier_files(folder)


def prepare_run_folder(path: str | Path, inputs: Iterable[str | Path | None],
                       overwrite: bool = False) -> Path:
    """Check ``gafit fit --out`` before the fit: a folder that can be written, holding no earlier
    fit (with ``overwrite``: whose files are removed now, other files left alone), and no output
    that would replace one of the fit's ``inputs``."""
    out = output_folder(path)
    earlier = earlier_run(out) if out.is_dir() else []
    if earlier and not overwrite:
        names = ", ".join(str(p.relative_to(out)) for p in earlier[:4])
        more = f" and {len(earlier) - 4} more" if len(earlier) > 4 else ""
        raise GafitInputError(f"--out {out}: holds an earlier fit ({names}{more}); choose another "
                              f"--out, continue a stopped fit with --resume {out}, or replace it "
                              "with --overwrite")
    from gafit.fit_validate import VALIDATE_DIR, VALIDATE_FILES, remove_empty_folders

    spare_inputs([*earlier, *(out / n for n in RUN_FILES),
                  *(out / VALIDATE_DIR / n for n in VALIDATE_FILES)], inputs)
    for p in earlier:
        p.unlink()
    members = sorted((out / FRONT_DIR).glob("member_*/lammps")) + sorted((out / FRONT_DIR).glob("member_*"))
    for sub in [*members, out / FRONT_DIR, out / "lammps", out / "report"]:
        if sub.is_dir() and not any(sub.iterdir()):
            sub.rmdir()
    remove_empty_folders(out)
    return out


def _log_rows(text: str) -> list[dict]:
    """log.csv's rows with numbers as numbers (empty cells dropped)."""
    def number(v: str) -> float | int:
        f = float(v)
        return int(f) if v.lstrip("-").isdigit() else f

    return [{k: number(v) for k, v in row.items() if v != ""}
            for row in csv.DictReader(io.StringIO(text))]


def write_outputs(result: FitResult, out: Path) -> None:
    """potential.json, lammps/pair.lmp, log.csv, parameters.csv and summary.json in ``out``, renamed
    into place together (a full disk leaves the files that were there before as they were)."""
    with atomic_batch():
        _write_outputs(result, out)


def run_inputs(result: FitResult) -> dict[str, Any]:
    """The summary's config, train and weights entries (paths resolved)."""
    config = result.config
    if config is None:
        return {k: result.saved.get(k) for k in ("config", "train", "weights")}
    return {"config": str(Path(config.source).resolve()) if config.source else None,
            "train": [str(Path(f.path).resolve()) for f in data_files(config.data.train)],
            "weights": dataclasses.asdict(config.weights)}


def _write_outputs(result: FitResult, out: Path) -> None:
    from gafit.lammps.files import write_lammps

    out.mkdir(parents=True, exist_ok=True)
    save_potential(result.potential, out / "potential.json")  # with its provenance, kept by gafit export
    write_lammps(result.potential, out / "lammps")
    atomic_write_text(out / "log.csv", log_csv(result.log))
    rows = result.parameter_rows
    buf = io.StringIO()
    w = csv.DictWriter(buf, fieldnames=["name", "value", "status", "low", "high", "at_bound"])
    w.writeheader()
    w.writerows(rows)
    atomic_write_text(out / "parameters.csv", buf.getvalue())
    summary = {
        **run_inputs(result),
        "loss": result.loss,
        "loss_by_term": result.breakdown,  # adds up to loss (to rounding)
        "loss_shares": shares(result.breakdown),
        "ga_loss": result.ga.best_loss,
        "refined_loss": result.refined_loss,
        "refine_starts": result.starts,  # per start: origin, start_loss, end_loss, stopped_by_time
        "rmse": result.rmse,
        "units": UNITS,
        "generations": result.ga.generations,
        "stop_reason": result.ga.stop_reason,
        "refine_stopped_by_time": result.refine_stopped_by_time,
        "evaluations": result.ga.evaluations,
        "ga_seconds": result.ga.elapsed,
        "evaluations_per_second": result.ga.evaluations / max(result.ga.elapsed, 1e-9),
        "total_seconds": result.elapsed,
        "parameters_at_bounds": result.at_bounds(),  # name -> "lower" | "upper"
        "rmse_by_config_type": result.by_config_type,
        "phonons": result.phonons,
        "problem": result_problem(result),
        "walls": [w.to_dict() for w in result.walls],  # per pair channel, Å and eV (gafit.walls)
        "wall_constraint": result.wall_constraint,  # [constraints] wall: held?, per channel
        "e0_check": result.e0_check,  # plausibility of E0 (gafit.stability.e0_plausibility)
        "guards": result.guards,  # [constraints] stable, e0_range: held?, per channel (gafit.guards)
        "stability_flags": result.stability_flags,  # Born flags of the property structures
        "properties": result.properties,  # [[properties]]: value, reference, tolerance, pass
        # fitted properties that the direct measurement does not confirm; phonon lattice range
        "property_checks": result.property_checks,
    }
    # strict JSON: null where a value is NaN (no reference values of that property) or infinite
    atomic_write_text(out / "summary.json", strict_json.dumps(summary, indent=2) + "\n")
