"""The report's page: each section a function of a :class:`~gafit.fit_result.FitResult` and of
what it needs besides (:class:`Inputs`: the config, the data sets with their predictions)."""

from __future__ import annotations

import datetime
import math
import re
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from gafit.config import FitConfig
from gafit.fit_result import FitResult, run_inputs, starts_line
from gafit.io import strict_json
from gafit.potential import Potential
from gafit.report.html import (
    CSS,
    PNG_PATTERNS,
    REPORT_DIR,
    Note,
    duration,
    esc,
    finite,
    freqs,
    img,
    kv,
    num,
    short_path,
    table,
)
from gafit.report.plots import (
    PROPS,
    UNITS,
    SetData,
    _save,
    parity_points,
    plot_config_types,
    plot_convergence,
    plot_front_convergence,
    plot_parity,
    plot_phonon_points,
)
from gafit.report.uncertainty import uncertainty_section
from gafit.structures import GafitInputError, ReferenceSet, Structure

#: band paths of the dispersion plots that pass through the usual fitted points (default: "auto")
DISPERSION_PATHS = {"cF": "GXWKGL"}
SETS = ("train", "validation")


# --------------------------------------------------------------------------- reading the run folder


def _provenance_config(run_dir: Path) -> str | None:
    """The config path named in the provenance line gafit writes atop ``lammps/pair.lmp``."""
    pair = run_dir / "lammps" / "pair.lmp"
    if not pair.exists():
        return None
    for line in pair.read_text(encoding="utf-8", errors="replace").splitlines()[:5]:
        m = re.search(r"config (.+?), seed ", line)
        if m and m.group(1) != "(API)":
            return m.group(1)
    return None


def find_config(run_dir: Path, summary: dict, config: FitConfig | str | Path | None
                ) -> tuple[FitConfig | None, str, Note | None]:
    """The fit's config: given, named by summary.json, or named by the provenance line of
    ``lammps/pair.lmp`` (relative to the working folder or a parent of the run folder).

    Returns the config (or None), how it was found, and a note when it was not.
    """
    from gafit.config import load_config

    if isinstance(config, FitConfig):
        return config, "given by the caller", None
    if config is not None:
        return load_config(config), "given on the command line", None
    named = summary.get("config")
    how = "named by summary.json"
    candidates: list[Path] = []
    if named:
        candidates = [Path(named)]
    else:
        named = _provenance_config(run_dir)
        how = "named by the provenance line of lammps/pair.lmp"
        if named:
            p = Path(named)
            candidates = [p] if p.is_absolute() else [Path.cwd() / p, run_dir.parent / p,
                                                       run_dir.parent.parent / p]
    if not named:
        return None, "", Note("warning", "The fit's config is not recorded in this run folder, so the "
                              "data could not be found: run <code>gafit report RUN_DIR --config "
                              "CONFIG.toml</code> to add the parity plots.")
    for c in candidates:
        if c.is_file():
            return load_config(c), how, None
    return None, "", Note("warning", f"The fit's config <code>{esc(named)}</code> ({how}) cannot be "
                          "found any more, so the predictions could not be recomputed: run "
                          "<code>gafit report RUN_DIR --config CONFIG.toml</code>.")


def phonon_equilibrium_structures(config: FitConfig, load: Any = None) -> list[Structure]:
    """The zero-stress supercells a fit with ``equilibrium_weight`` adds to its training set
    (as :meth:`gafit.phonons.target.PhononTarget.equilibrium_structure`); ``load(pc)`` reads a
    phonon target's reference, unit cell and supercell matrix (default
    :func:`gafit.phonons.target.read_target_reference`)."""
    from gafit.phonons import new_phonopy, to_ase_atoms
    from gafit.phonons.target import read_target_reference

    out = []
    for pc in config.phonons:
        if pc.equilibrium_weight <= 0:
            continue
        _, cell, smat = (load or read_target_reference)(pc)
        atoms = to_ase_atoms(new_phonopy(cell, smat).supercell)
        atoms.pbc = True
        out.append(Structure(atoms, stress=np.zeros(6), weight=pc.equilibrium_weight,
                             config_type="phonon-equilibrium", name=f"{pc.reference}:supercell"))
    return out


# --------------------------------------------------------------------------- the data


@dataclass
class Inputs:
    """What the sections need besides the :class:`~gafit.fit_result.FitResult`: the fit's config
    (and how it was found), the data sets with their predictions, the notes shown atop the page,
    the phonon references read once, and the folder the PNGs go to."""

    out: Path
    config: FitConfig | None = None
    config_how: str = ""
    sets: dict[str, SetData] = field(default_factory=dict)
    notes: list[Note] = field(default_factory=list)
    data_note: Note | None = None  # why there are no parity plots
    phonon_refs: dict[str, Any] = field(default_factory=dict)

    def reference(self, pc: Any) -> Any:
        """A phonon target's reference, unit cell and supercell matrix, read once."""
        from gafit.phonons.target import read_target_reference

        key = repr((str(pc.reference), str(pc.structure), pc.supercell))
        if key not in self.phonon_refs:
            self.phonon_refs[key] = read_target_reference(pc)
        return self.phonon_refs[key]


def fitted_data(result: FitResult, inp: Inputs) -> dict[str, tuple[ReferenceSet, Any]]:
    """Per data set ("train", "validation") its structures and geometry tables: those the fit
    built (``result.data`` and ``result.tables``) when the result is the fit's own, else the data
    of the fit's config (the same split and phonon equilibrium cells as the fit), read and
    tabulated once. Empty (with ``inp.data_note`` saying why) when the data cannot be had."""
    from gafit.fit_data import read_data

    if result.data and result.tables:
        return {name: (data, result.tables[name]) for name, data in result.data.items()}
    if inp.config is None:
        return {}
    try:
        train, valid = read_data(inp.config)
    except (GafitInputError, OSError) as err:
        inp.data_note = Note("error", "The data named by the config cannot be read, so the "
                             f"predictions could not be recomputed: {esc(err)}")
        return {}
    try:
        extra = phonon_equilibrium_structures(inp.config, inp.reference)
    except (GafitInputError, OSError) as err:
        extra = []
        inp.notes.append(Note("warning", f"The phonon reference cannot be read: {esc(err)}"))
    if extra:
        train = train + ReferenceSet(extra, "phonon references")
    sets = {"train": train} | ({"validation": valid} if valid is not None else {})
    try:
        return {name: (data, result.potential.build_tables(data)) for name, data in sets.items()}
    except GafitInputError as err:
        inp.data_note = Note("error", f"potential.json cannot be evaluated on the data: {esc(err)}")
        return {}


def predicted_sets(result: FitResult, inp: Inputs) -> dict[str, SetData]:
    """The data sets with the predictions of ``result.potential`` (its fitted E0) and the points of
    the parity plots, on the tables of :func:`fitted_data`; a note in ``inp.notes`` when their
    RMSEs differ from those the fit recorded."""
    from gafit.evaluate import evaluate_on
    from gafit.targets import Targets

    sets = {}
    for name, (data, tables) in fitted_data(result, inp).items():
        ev = evaluate_on(result.potential, tables, Targets(data, tables.n_atoms_s, tables.volume_s))
        sets[name] = SetData(data, ev, parity_points(data, ev))
    off = []
    for name, sd in sets.items():
        for prop, v in sd.ev.rmse.items():
            r = result.rmse.get(name, {}).get(prop)
            if finite(r) and finite(v) and abs(v - r) > 1e-6 * max(abs(r), 1e-12) + 1e-12:
                off.append(f"{name} {prop}: recorded {r:.4g}, now {v:.4g} {UNITS[prop]}")
    if off:
        inp.notes.append(Note("warning", "The recomputed RMSEs differ from those the fit "
                              "recorded (the data, the config or potential.json changed since "
                              "the fit?): " + "; ".join(esc(o) for o in off)))
    return sets


# --------------------------------------------------------------------------- the sections


def header(result: FitResult, inp: Inputs) -> str:
    """The summary: form, species, E0, config, data, weights, GA, time, loss, RMSEs, loss by term."""
    pot = result.potential.to_dict()
    saved = run_inputs(result)
    ga = result.ga
    forms = ", ".join(f"{esc(f['form'])} (cutoff {num(f.get('cutoff'), '.4g')} Å)"
                      for f in pot.get("forms", []))
    e0 = ", ".join(f"{esc(k)} {num(v, '.6f')}" for k, v in (pot.get("E0") or {}).items())
    cfg = inp.config
    rows: list[tuple[str, str]] = [
        ("Form", forms or "–"),
        ("Species", esc(", ".join(pot.get("species", []))) or "–"),
        ("E0 offsets (eV/atom)", e0 or "–"),
    ]
    if cfg is not None:
        from gafit.config import data_files

        src = esc(short_path(cfg.source)) if cfg.source else "(built in Python)"
        rows.append(("Config", f"<code>{src}</code> ({esc(inp.config_how)})"))
        d = cfg.data
        data = "train " + (", ".join(f"<code>{esc(short_path(f.path))}</code>"
                                     for f in data_files(d.train)) or "none (phonons only)")
        if data_files(d.validation):
            data += "; validation " + ", ".join(f"<code>{esc(short_path(f.path))}</code>"
                                                for f in data_files(d.validation))
        if d.drop_duplicates:
            data += "; duplicated structures dropped"
        held = []
        if d.validation_fraction > 0:
            held.append(f"{d.validation_fraction:.0%} of the training file at random "
                        f"(split_seed {d.split_seed})")
        if d.validation_config_types:
            held.append("config_types " + ", ".join(esc(t) for t in d.validation_config_types))
        if held:
            data += "; held out for validation: " + " and ".join(held)
        rows.append(("Data", data))
        if cfg.potential.start is not None:
            rows.append(("Started from", f"<code>{esc(short_path(cfg.potential.start))}</code>"))
        for k, pc in enumerate(cfg.phonons):
            rows.append((f"Phonon target {k + 1}",
                         f"<code>{esc(short_path(pc.reference))}</code>, q-points "
                         f"{esc(pc.qpoints)}, weight {num(pc.weight)} (on THz²)"
                         + (f", equilibrium weight {num(pc.equilibrium_weight)}"
                            if pc.equilibrium_weight > 0 else "")))
    elif saved.get("train"):
        files = saved["train"] if isinstance(saved["train"], list) else [saved["train"]]
        rows.append(("Training data", ", ".join(f"<code>{esc(short_path(f))}</code>"
                                                for f in files)))
    if inp.sets:
        sizes = []
        for name, sd in inp.sets.items():
            n_eq = sum(st.config_type == "phonon-equilibrium" for st in sd.data)
            eq = (f" (including {n_eq} phonon-equilibrium supercell{'s' if n_eq > 1 else ''})"
                  if n_eq else "")
            sizes.append(f"{name}: {len(sd.data)} structures, {sd.data.n_atoms} atoms{eq}")
        rows.append(("Structures", "; ".join(sizes)))
    weights = saved.get("weights") or (vars(cfg.weights) if cfg is not None else {})
    if weights:
        rows.append(("Weights", ", ".join(
            f"{esc(k)} {num(v)}" + (f" (on ({UNITS[k]})²)" if k in UNITS else "")
            for k, v in weights.items())))
    run = f"{esc(ga.generations)} generations, stopped by {esc(ga.stop_reason)}"
    if cfg is not None:
        run += f" (population {cfg.ga.population}, seed {cfg.ga.seed})"
    rows.append(("Genetic algorithm", run))
    rows.append(("Evaluations", f"{esc(ga.evaluations)} in {duration(ga.elapsed)}"
                 f" = {num(ga.evaluations / max(ga.elapsed, 1e-9), '.1f')} per second"))
    rows.append(("Total time", duration(result.elapsed)))
    loss = f"{num(result.loss, '.6g')}"
    if finite(ga.best_loss):
        loss += f" (GA {num(ga.best_loss, '.6g')}"
        loss += (f", least squares {num(result.refined_loss, '.6g')})"
                 if finite(result.refined_loss) else ")")
    rows.append(("Loss", loss))
    if result.starts:
        rows.append(("Least-squares starts", esc(starts_line(result.starts).removeprefix(
            "least squares ends: "))))
    return kv(rows) + rmse_table(result) + breakdown_table(result)


def breakdown_table(result: FitResult) -> str:
    """The loss split by term (:attr:`~gafit.fit_result.FitResult.breakdown`): which target
    steers the fit."""
    parts = result.breakdown
    if not parts:
        return ""
    total = sum(v for v in parts.values() if finite(v))
    weights = run_inputs(result).get("weights") or {}
    train = result.rmse.get("train", {})
    what = {"walls": "penalty of the wall constraint's breach", "phonons": "all phonon targets",
            "stability": "penalty of Born criteria and imaginary modes",
            "e0": "penalty of the form's cohesive energy outside e0_range"}
    rows = []
    for term, v in sorted(parts.items(), key=lambda item: -(item[1] if finite(item[1]) else 0)):
        share = v / total if finite(v) and total > 0 else None
        rmse = f"{num(train.get(term))} {UNITS[term]}" if finite(train.get(term)) else "–"
        w = num(weights[term]) if term in weights else esc(what.get(term, ""))
        bar = (f'<span style="display:inline-block;background:#4c78a8;height:0.7em;'
               f'width:{100 * share:.0f}px"></span> ' if share is not None else "")
        rows.append([esc(term), w, num(v, ".4g"), bar + (f"{100 * share:.1f} %" if share is not None
                                                            else "–"), rmse])
    top, top_v = max(parts.items(), key=lambda item: item[1] if finite(item[1]) else -1)
    text = (f"The parts add up to the loss ({num(total, '.6g')}). "
            f"<b>{esc(top)}</b> dominates with {100 * top_v / total:.1f} %"
            if finite(top_v) and total > 0 else "")
    if text and top_v / total > 0.9 and len(parts) > 1:
        text += ("; the other terms barely steer the fit: raise their weights if they should count")
    return ("<h3>Loss by term</h3>"
            + table(["term", "weight", "part of the loss", "share", "RMSE (train)"], rows, [2, 3, 4])
            + (f"<p>{text}.</p>" if text else ""))


def rmse_table(result: FitResult) -> str:
    """The RMSEs of the fitted potential per data set and property."""
    rmse = result.rmse
    if not rmse:
        return ""
    props = [p for p in ("energy", "forces", "stress", "virial", "phonons")
             if any(finite(r.get(p)) for r in rmse.values())]
    head = ["RMSE"] + [f"{p} ({UNITS[p]})" for p in props]
    rows = [[esc(name)] + [num(r.get(p)) for p in props] for name, r in rmse.items()]
    return "<h3>Errors of the fitted potential</h3>" + table(head, rows)


def parity(inp: Inputs) -> str:
    """Predicted vs reference energies, forces and stresses of the data sets."""
    parts = ['<h2 id="parity">Predicted vs reference</h2>']
    if not inp.sets:
        parts.append((inp.data_note or Note("warning", "No data to compare with.")).html())
        return "".join(parts)
    name = plot_parity(inp.sets, inp.out / "parity.png")
    if name is None:
        parts.append(Note("info", "The data has no reference energies, forces or stresses to "
                          "compare with.").html())
        return "".join(parts)
    which = ("training and validation sets" if "validation" in inp.sets
             else "training set (the fit had no validation data)")
    parts.append(img(name, "parity plots of energy, forces and stress",
                      "gafit (potential.json, with its fitted E0) against the reference data, "
                      f"recomputed on the fit's {which}. Energy per atom "
                      "(eV/atom), every Cartesian force component (eV/Å), every stress component "
                      "(GPa, positive = tensile, Voigt xx yy zz yz xz xy). Dashed: y = x."))
    return "".join(parts)


def config_types(result: FitResult, inp: Inputs) -> str:
    """The RMSEs per config_type (:attr:`~gafit.fit_result.FitResult.by_config_type`), table
    and bars."""
    parts = ['<h2 id="config-types">Errors per config_type</h2>']
    by_ct: dict[str, dict[str, dict[str, float]]] = {
        n: dict(v) for n, v in result.by_config_type.items()}
    if not by_ct and inp.sets:
        by_ct = {n: sd.ev.by_config_type for n, sd in inp.sets.items()}
    if not by_ct:
        parts.append(Note("warning", "No errors per config_type were recorded.").html())
        return "".join(parts)
    counts: dict[str, dict[str, int]] = {}
    for n, sd in inp.sets.items():
        c: dict[str, int] = {}
        for st in sd.data:
            c[st.config_type] = c.get(st.config_type, 0) + 1
        c["all"] = len(sd.data)
        counts[n] = c
    sets = [s for s in SETS if s in by_ct] + [s for s in by_ct if s not in SETS]
    groups = list(dict.fromkeys(g for s in sets for g in by_ct[s] if g != "all"))
    groups.append("all")
    props = [p for p in PROPS if any(finite(r.get(p)) for s in sets for r in by_ct[s].values())]
    head = ["config_type"]
    group_row: list[tuple[str, int]] = [("", 1)]
    if counts:
        head += list(sets)
        group_row.append(("structures", len(sets)))
    head += [s for _ in props for s in sets]
    group_row += [(f"{p} RMSE ({UNITS[p]})", len(sets)) for p in props]
    rows, classes = [], []
    for g in groups:
        row = [esc(g)]
        if counts:
            row += [str(counts.get(s, {}).get(g, 0)) for s in sets]
        row += [num(by_ct[s].get(g, {}).get(p)) for p in props for s in sets]
        rows.append(row)
        classes.append("total" if g == "all" else "")
    parts.append(table(head, rows, row_classes=classes, groups=group_row))
    png = plot_config_types(by_ct, inp.out / "config_types.png")
    if png:
        parts.append(img(png, "RMSE per config_type",
                          "RMSE per config_type, training and validation sets side by side "
                          "(“n/a”: no such structures or no such reference values in that set)."))
    return "".join(parts)


def front(run: Path, inp: Inputs) -> str:
    """The Pareto front of a ``[ga] mode = "pareto"`` run (front.csv); "" for other runs."""
    from gafit.pareto import objective_names, plot_front, read_front

    path = run / "front.csv"
    if not path.exists():
        return ""
    rows = read_front(path)
    names = objective_names(rows)
    f = np.array([[r[f"objective:{n}"] for n in names] for r in rows])
    knee = next((i for i, r in enumerate(rows) if r["knee"]), 0)
    info_path = run / "front.json"
    info = strict_json.loads(info_path.read_text(encoding="utf-8")) if info_path.exists() else {}
    ga_f = np.array(info.get("ga_front") or [], float).reshape(-1, len(names))
    plot_front(inp.out / "front.png", names, f, knee, ga_f)
    cols = [k for k in rows[0] if k.startswith(("objective:", "rmse:"))]
    body = table(["member"] + [esc(c) for c in cols],
                 [[f"{r['member']}{' (knee)' if r['knee'] else ''}"]
                  + [f"{r[c]:.4g}" for c in cols] for r in rows])
    return ('<h2 id="front">Pareto front</h2>'
            + img("front.png", "Pareto front",
                  f"The front between {', '.join(esc(n) for n in names)} (loss values; grey: the "
                  "GA's front before the least squares); the star is the knee, which the rest of "
                  "this page shows. <code>gafit pick</code> writes another member as a fit result.")
            + body)


def convergence(result: FitResult, inp: Inputs) -> str:
    """The GA's convergence (:attr:`~gafit.fit_result.FitResult.log`, log.csv)."""
    parts = ['<h2 id="convergence">Convergence of the genetic algorithm</h2>']
    log = result.log
    if any("hypervolume" in r for r in log):  # a pareto run's (gafit.pareto.convergence_row)
        return "".join(parts) + front_convergence(log, inp)
    weights = run_inputs(result).get("weights") or {}
    png = plot_convergence(log, result.loss, result.rmse.get("train", {}), weights,
                           inp.out / "convergence.png")
    if png is None:
        parts.append(Note("info", "The GA ran no generations (log.csv is empty).").html())
        return "".join(parts)
    last = log[-1]
    parts.append(img(png, "GA convergence",
                      "Top: the best and the median loss of the population per generation "
                      "(log scale); dashed: the final loss after the least-squares refinement. "
                      "Bottom: the RMSEs (training set) of each generation's best individual; "
                      f"dashed: the final values. {len(log)} generations logged, "
                      f"{esc(last.get('evaluations', '–'))} evaluations in "
                      f"{duration(last.get('elapsed_s'))}."))
    return "".join(parts)


def front_convergence(log: list[dict], inp: Inputs) -> str:
    """The convergence of a pareto run's NSGA (log.csv)."""
    png = plot_front_convergence(log, inp.out / "convergence.png")
    if png is None:
        return Note("info", "NSGA logged no objectives (log.csv).").html()
    last = log[-1]
    return img(png, "NSGA convergence",
               "Top: per generation, the best value of each objective on the population's first "
               "front (log scale): the ends of the front. Bottom: the hypervolume the first front "
               "dominates, in log10 of the objective values (decades per objective, against a "
               "fixed reference point: the worst value of each objective on the first front of "
               "the initial population); it grows while any part of the front still advances "
               "and flattens when NSGA has converged (dotted: the size of the first front). "
               "The least squares of each member come after it (the front above). "
               f"{len(log)} generations logged, {esc(last.get('evaluations', '–'))} evaluations "
               f"in {duration(last.get('elapsed_s'))}.")


def parameters(result: FitResult) -> str:
    """The parameters (parameters.csv) with their bounds; those at a bound highlighted."""
    parts = ['<h2 id="parameters">Parameters</h2>']
    specs = {}
    for form in result.potential.forms:
        for p in form.params:
            specs[p.name] = p
    rows, classes = [], []
    n_bound = 0
    for r in result.parameter_rows:
        name = r.get("name", "")
        pname = name.rpartition(".")[2]
        spec = specs.get(pname) if not name.endswith(".E0") or "-" in name else None
        unit = "eV/atom" if spec is None and name.endswith(".E0") else (spec.unit if spec else "")
        bound = str(r.get("at_bound", "")).strip().lower()
        at = bound in ("lower", "upper", "true")  # "true": files of gafit before 0.2
        pos = ""
        try:
            v, lo, hi = float(r["value"]), float(r["low"]), float(r["high"])
            if hi > lo:
                log = bool(spec and spec.log and lo > 0 and v > 0)
                f = (math.log(v / lo) / math.log(hi / lo)) if log else (v - lo) / (hi - lo)
                f = min(max(f, 0.0), 1.0)
                side = bound if bound in ("lower", "upper") else "lower" if f < 0.5 else "upper"
                pos = (f'<span class="bar" title="{f:.0%} of the range{" (log scale)" if log else ""}">'
                       f'<i style="left:calc({f * 100:.1f}% - 1.5px)"></i></span>'
                       f" {f:.0%}{' log' if log else ''}")
                if at:
                    pos += f' <span class="flag">⚠ {side} bound</span>'
        except (KeyError, TypeError, ValueError):
            pass
        n_bound += at
        rows.append([f"<code>{esc(name)}</code>", esc(unit), num(r.get("value"), ".8g"),
                     esc(r.get("status", "")), num(r.get("low"), ".6g"),
                     num(r.get("high"), ".6g"), pos])
        classes.append("atbound" if at else "")
    parts.append('<p><span class="legend-box"></span> <b>ended at a bound: widen it or fix '
                 f"it</b> ({n_bound} parameter{'s' if n_bound != 1 else ''} here). The bar shows "
                 "where the value lies between its bounds (on a log scale for parameters the "
                 "search explores on a log scale).</p>")
    parts.append(table(["name", "unit", "value", "status", "low", "high", "position in range"],
                        rows, num=(2, 4, 5), row_classes=classes))
    return "".join(parts)


def phonons(result: FitResult, inp: Inputs) -> str:
    """The phonon targets: frequencies at the fitted q-points
    (:attr:`~gafit.fit_result.FitResult.phonons`) and the full dispersion vs each reference."""
    targets = result.phonons
    if not targets and not (inp.config and inp.config.phonons):
        return ""
    parts = ['<h2 id="phonons">Phonons</h2>']
    if targets:
        fitted_rms: list[float | None] = [None] * len(targets)
        if len(targets) == 1:
            v = result.rmse.get("train", {}).get("phonons")
            fitted_rms[0] = float(v) if finite(v) else None
        png = plot_phonon_points(targets, fitted_rms, inp.out / "phonons_qpoints.png")
        parts.append(img(png, "phonon frequencies at the fitted q-points",
                          "Frequencies (THz) at the q-points the fit used, sorted per q-point: "
                          "gafit (circles) vs the reference (bars), both at the reference's own "
                          "geometry (the fit compares there). Γ acoustic modes are not fitted."))
        for t, rows in enumerate(targets):
            if len(targets) > 1:
                parts.append(f"<h3>Phonon target {t + 1}</h3>")
            parts += [n.html() for n in _imaginary_notes(rows)]
            parts.append(table(
                ["q-point", "RMS (THz)", "gafit (THz)", "reference (THz)"],
                [[esc(r["label"]), num(r.get("rms"), ".3f"),
                  freqs(r["gafit"]), freqs(r["reference"])] for r in rows], num=(1,)))
    parts.append(dispersion(result.potential, inp))
    return "".join(parts)


def property_targets(result: FitResult) -> str:
    """The [[properties]] targets of the fit: value at the fitted potential, reference,
    tolerance, pass or FAIL (gafit.property_target)."""
    rows = result.properties
    if not rows:
        return ""
    body = []
    for r in rows:
        flag = "pass" if r.get("pass") else "<b>FAIL</b>"
        if not r.get("in_range", True):
            flag += " (relaxed lattice outside the tabulated ±5 %)"
        rel = f" − {r['relative_to']}" if r.get("relative_to") else ""  # dE
        body.append([esc(f"{r.get('structure')} {' '.join(r.get('species') or [])}{rel}"),
                     esc(r.get("property")), esc(r.get("unit")), num(r.get("value"), ".5g"),
                     num(r.get("reference"), ".5g"), num(r.get("tolerance"), ".3g"),
                     num(r.get("weight"), ".3g"), flag, esc(r.get("citation") or "")])
    return ('<h2 id="properties">Property targets</h2><p>Each at the fitted potential\'s own '
            "relaxed lattice; elastic constants relaxed-ion except C44_unrelaxed.</p>"
            + table(["structure", "property", "unit", "value", "reference", "tolerance",
                      "weight", "result", "citation"], body, num=(3, 4, 5, 6)))


def validation_suite(run: Path) -> str:
    """The [validate] suite run at the end of the fit (RUN_DIR/validate/validate.json, written by
    gafit.fit_validate): pass, FAIL or skipped per check, and the verdict."""
    path = run / "validate" / "validate.json"
    if not path.is_file():
        return ""
    doc = strict_json.loads(path.read_text(encoding="utf-8"))
    checks = [c for c in doc.get("checks") or [] if isinstance(c, dict)]
    body = [[esc(c.get("name")), esc(c.get("quantity")), esc(c.get("structure")),
             "<b>FAIL</b>" if c.get("status") == "FAIL" else esc(c.get("status")),
             num(c.get("value"), ".5g"), num(c.get("reference"), ".5g"), esc(c.get("unit")),
             esc(c.get("difference")), esc(c.get("tolerance")), esc(c.get("note"))]
            for c in checks]
    suite = doc.get("suite") or {}
    verdict = Note("info" if doc.get("passed") else "error", esc(doc.get("verdict")))
    return ('<h2 id="validation">Validation suite</h2>'
            f"<p>Suite <code>{esc(suite.get('name'))}</code> (<code>"
            f"{esc(short_path(suite.get('file')))}</code>) run on the fitted potential; "
            'the full page: <a href="../validate/index.html">validate/index.html</a>.</p>'
            + verdict.html()
            + table(["check", "quantity", "structure", "result", "value", "reference", "unit",
                      "difference", "tolerance", "note"], body, num=(4, 5)))

def dispersion(potential: Potential, inp: Inputs) -> str:
    """The full dispersion of ``potential`` vs each phonon reference of the config, at the
    potential's own relaxed lattice constant (cubic cells) and at the reference's."""
    if inp.config is None or not inp.config.phonons:
        return Note("info", "The full dispersion needs the fit's config (its [phonons] "
                    "reference).").html()
    from gafit.nac import parse_epsilon
    from gafit.phonons import (
        cubic_lattice_constant,
        lattice_type,
        phonon_report,
        plot_band,
    )

    parts = []
    for k, pc in enumerate(inp.config.phonons):
        try:
            ref, cell, smat = inp.reference(pc)
            cubic = lattice_type(cell)[0].startswith("c")
            a_ref = cubic_lattice_constant(cell) if cubic else None
            formula = cell.get_chemical_formula(empirical=True)
            figs = []
            variants = [(True, "relaxed")] if cubic else []
            variants.append((False, "reference"))
            for relax, tag in variants:
                try:
                    res = phonon_report(potential, cell, smat, None,
                                        path=DISPERSION_PATHS.get(lattice_type(cell)[0], "auto"),
                                        reference=ref, relax=relax, name="gafit",
                                        reference_name="reference",
                                        epsilon_inf=parse_epsilon(pc.epsilon_inf, "epsilon_inf"))
                except GafitInputError as err:
                    parts.append(Note("warning", f"Dispersion ({tag} geometry) not computed: "
                                      f"{esc(err)}").html())
                    continue
                rms = res.errors.rms if res.errors is not None else float("nan")
                if relax:
                    geo = f"gafit at its own relaxed a = {res.lattice_constant:.4f} Å"
                    cap = (f"At the potential's own relaxed lattice constant a = "
                           f"{res.lattice_constant:.4f} Å (the reference's is {a_ref:.4f} Å), "
                           f"reference frequencies at theirs. RMS difference over the path "
                           f"{rms:.3f} THz.")
                else:
                    geo = "at the reference's geometry" + (f", a = {a_ref:.4f} Å" if a_ref else "")
                    cap = (f"Both at the reference's geometry{f' (a = {a_ref:.4f} Å)' if a_ref else ''}"
                           f", where the fit compared frequencies. RMS difference over the "
                           f"path {rms:.3f} THz.")
                parts += [Note("warning", f"Dispersion ({tag} geometry): "
                               + esc(f.removeprefix("! "))).html() for f in res.imaginary.flags]
                mine = f"gafit ({res.model_nac_text})" if res.model_nac_text else "gafit"
                fig = plot_band(res.band, f"{formula}: {geo}; RMS {rms:.3f} THz",
                                res.reference_frequencies, "reference", mine)
                png = _save(fig, inp.out / f"phonons_dispersion{k + 1}_{tag}.png")
                figs.append(img(png, f"phonon dispersion, {tag} geometry", cap))
            if figs:
                parts.append(f"<h3>Dispersion vs <code>{esc(short_path(pc.reference))}</code></h3>")
                parts.append('<div class="row2">' + "".join(figs) + "</div>")
        except (GafitInputError, OSError) as err:
            parts.append(Note("warning", f"The dispersion vs {esc(short_path(pc.reference))} "
                              f"could not be computed: {esc(err)}").html())
    return "".join(parts)


def lammps_files(run: Path) -> str:
    """The files of RUN_DIR/lammps/, copied into the page."""
    folder = run / "lammps"
    if not folder.is_dir():
        return ""
    parts = ['<h2 id="lammps">LAMMPS files</h2>',
             "<p>As written in <code>lammps/</code> of the run folder (copied here so the page "
             "stands alone). gafit's energy = LAMMPS potential energy + Σ E0 over the atoms.</p>"]
    for f in sorted(folder.iterdir()):
        if f.is_file() and f.stat().st_size < 200_000:
            text = f.read_text(encoding="utf-8", errors="replace")
            parts.append(f"<details><summary><code>{esc(f.name)}</code></summary>"
                         f"<pre>{esc(text)}</pre></details>")
    return "".join(parts)


# --------------------------------------------------------------------------- the page


def top_notes(result: FitResult) -> list[Note]:
    """The warnings atop the page: parameters at a bound, unsafe walls, the wall constraint and
    the guards, Born and E0 flags."""
    notes = []
    sides = result.at_bounds()
    if sides:
        notes.append(Note("warning", f"{len(sides)} parameter"
                          f"{'s' if len(sides) != 1 else ''} ended at a bound that the "
                          "loss pushes against (" + ", ".join(
                              f"<code>{esc(n)}</code>" + (f" {esc(s)}" if s else "")
                              for n, s in sides.items())
                          + '): widen it or fix it; see <a href="#parameters">'
                          "Parameters</a>."))
    notes += _wall_notes([w.to_dict() for w in result.walls])
    notes += _constraint_notes(result.wall_constraint)
    notes += _guard_notes(result.guards)
    notes += _flag_notes(result.stability_flags)
    notes += _flag_notes((result.e0_check or {}).get("flags"))
    return notes


def page(result: FitResult, run: Path, inp: Inputs) -> str:
    """The HTML page of ``result`` saved in the run folder ``run``; each section that fails says
    so in the page."""
    from gafit._version import __version__

    inp.out.mkdir(parents=True, exist_ok=True)
    steps: list[tuple[str, Callable[[], str]]] = [
        ("front", lambda: front(run, inp)),
        ("parity", lambda: parity(inp)),
        ("config_types", lambda: config_types(result, inp)),
        ("convergence", lambda: convergence(result, inp)),
        ("parameters", lambda: parameters(result)),
        ("uncertainty", lambda: uncertainty_section(run, inp.out)),
        ("phonons", lambda: phonons(result, inp)),
        ("property_targets", lambda: property_targets(result)),
        ("validation_suite", lambda: validation_suite(run)),
        ("lammps_files", lambda: lammps_files(run)),
    ]
    sections = []
    for name, make in steps:
        try:
            sections.append(make())
        except Exception as err:  # a report says what failed rather than failing
            title = name.replace("_", " ")
            sections.append(f"<h2>{esc(title.capitalize())}</h2>" + Note(
                "error", f"This section could not be made: {esc(type(err).__name__)}: "
                f"{esc(err)}").html())
    summary = header(result, inp)
    notes = inp.notes + top_notes(result)
    if inp.data_note is not None and inp.data_note not in notes:
        notes.append(inp.data_note)
    pot = result.potential.to_dict()
    species = ", ".join(pot.get("species", []))
    forms = " + ".join(f.get("form", "?") for f in pot.get("forms", []))
    nav = [("front", "Pareto front")] if 'id="front"' in "".join(sections) else []
    nav += [("summary", "Summary"), ("parity", "Predicted vs reference"),
           ("config-types", "Per config_type"), ("convergence", "Convergence"),
           ("parameters", "Parameters")]
    if 'id="uncertainty"' in "".join(sections):
        nav.append(("uncertainty", "Uncertainty"))
    if 'id="phonons"' in "".join(sections):
        nav.append(("phonons", "Phonons"))
    if 'id="properties"' in "".join(sections):
        nav.append(("properties", "Property targets"))
    if 'id="validation"' in "".join(sections):
        nav.append(("validation", "Validation suite"))
    if 'id="lammps"' in "".join(sections):
        nav.append(("lammps", "LAMMPS files"))
    now = datetime.datetime.now().strftime("%Y-%m-%d %H:%M")
    title = f"gafit fit: {forms} for {species}"
    return "\n".join([
        "<!DOCTYPE html>",
        '<html lang="en"><head><meta charset="utf-8">',
        '<meta name="viewport" content="width=device-width, initial-scale=1">',
        f"<title>{esc(title)} ({esc(run.name)})</title>",
        f"<style>{CSS}</style></head><body><main>",
        f"<h1>{esc(title)}</h1>",
        f'<p class="sub">Run folder <code>{esc(short_path(run))}</code> · report made '
        f"{now} by gafit {__version__}</p>",
        "<nav>" + "".join(f'<a href="#{i}">{t}</a>' for i, t in nav) + "</nav>",
        "".join(n.html() for n in notes),
        '<h2 id="summary">Summary</h2>',
        summary,
        *sections,
        "<footer>Units: energy per atom in eV/atom, forces in eV/Å, stress in GPa (positive = "
        "tensile), phonon frequencies in THz. Made by <code>gafit report</code>.</footer>",
        "</main></body></html>",
    ])


def inputs_of(result: FitResult, run: Path, config: FitConfig | str | Path | None) -> Inputs:
    """The config of the fit of ``result`` (see :func:`find_config`) and its data sets with
    their predictions."""
    inp = Inputs(run / REPORT_DIR)
    try:
        inp.config, inp.config_how, inp.data_note = find_config(run, run_inputs(result), config)
    except GafitInputError as err:
        if config is not None:  # the caller named it: a wrong config is the caller's error
            raise
        inp.data_note = Note("error", f"The config recorded in the run folder could not be read: "
                             f"{esc(err)}")
    if inp.config is not None or (result.data and result.tables):
        inp.sets = predicted_sets(result, inp)
    return inp


def _wall_notes(walls: list[dict]) -> list[Note]:
    """A warning per pair channel that summary.json's ``walls`` marks unsafe (gafit.walls)."""
    out = []
    for w in walls:
        if not isinstance(w, dict) or not w.get("unsafe"):
            continue
        where = (f". The wall ends at r_max = {num(w.get('r_max'))} Å (E = {num(w.get('e_max'))} eV, "
                 f"barrier {num(w.get('barrier'))} eV above the well)" if w.get("has_wall") else "")
        data = (f"; the shortest {esc(w.get('channel'))} distance in the training data is "
                f"{num(w.get('r_short'))} Å" if w.get("r_short") is not None else "")
        out.append(Note("warning", f"No safe repulsive wall in the <code>{esc(w.get('channel'))}"
                        f"</code> channel: {esc(w['unsafe'])}{where}{data}. MD that pushes such "
                        "pairs closer than the data did can collapse them."))
    return out


def _constraint_notes(wc: object) -> list[Note]:
    """summary.json's ``wall_constraint``: an info line when it held, a warning naming the channels
    it did not hold in (gafit.walls.WallConstraint)."""
    if not isinstance(wc, dict) or not isinstance(wc.get("channels"), list):
        return []
    rows = [c for c in wc["channels"] if isinstance(c, dict)]
    spans = ", ".join(f"<code>{esc(c.get('channel'))}</code> {num(c.get('r_from'))}–"
                      f"{num(c.get('r_to'))} Å" for c in rows)
    if wc.get("held"):
        return [Note("info", f"Wall constraint held: every constrained channel repels from the "
                     f"named distance up to the data's shortest distance ({spans}).")]
    broken = ", ".join(f"<code>{esc(c.get('channel'))}</code> (breach {num(c.get('violation'))} eV)"
                       for c in rows if not c.get("held"))
    return [Note("warning", f"Wall constraint NOT held in {broken}: the search found no candidate "
                 f"that keeps the wall ({spans}); widen the bounds or lower the distance.")]


def _guard_notes(guards: object) -> list[Note]:
    """summary.json's ``guards`` ([constraints] stable, e0_range; gafit.guards): an info line when
    they held, a warning naming the channels that did not."""
    if not isinstance(guards, list) or not guards:
        return []
    from gafit.guards import guard_line

    rows = [g for g in guards if isinstance(g, dict) and isinstance(g.get("channels"), list)]
    if all(g.get("held") for g in rows):
        return [Note("info", "Stability constraints held: " + esc(guard_line(rows)) + ".")]
    return [Note("warning", "Stability constraints NOT all held: " + esc(guard_line(rows))
                 + ": the search found no candidate that keeps them; see gafit.guards.")]


def _imaginary_notes(rows: list[dict]) -> list[Note]:
    """A warning when gafit's frequencies at a phonon target's q-points (summary.json) hold imaginary
    modes (gafit.stability.imaginary_modes; Γ's acoustic modes excepted)."""
    from gafit.phonons import canonical_label
    from gafit.stability import imaginary_modes

    try:
        labels = [canonical_label(r.get("label", "")) for r in rows]
        freq = np.array([r["gafit"] for r in rows], float)
        res = imaginary_modes(freq, [lab == "Γ" for lab in labels], labels)
    except (KeyError, TypeError, ValueError):
        return []
    return [Note("warning", "At the fitted q-points (reference geometry): " + esc(f.removeprefix("! ")))
            for f in res.flags]


def _flag_notes(flags: object) -> list[Note]:
    """A warning per '! ...' flag of gafit.stability."""
    if not isinstance(flags, list):
        return []
    return [Note("warning", esc(str(f).removeprefix("! "))) for f in flags]


def write_report(run_dir: str | Path, config: FitConfig | str | Path | None = None,
                 result: FitResult | None = None) -> Path:
    """Write ``RUN_DIR/report/index.html`` (and its PNGs beside it) for a fit's run folder.

    ``result`` is the fit's :class:`~gafit.fit_result.FitResult` (by default
    ``FitResult.load(run_dir)``); the result of a fit just run brings the data and geometry tables
    the fit built, so nothing is tabulated again. Otherwise the predictions are recomputed on the
    data of ``config``, the fit's config (a :class:`~gafit.config.FitConfig` or a TOML path; by
    default the one named in ``summary.json`` or in the provenance line of ``lammps/pair.lmp``).
    Without a config or its data the page says so and leaves the parity plots out. Returns the
    page's path.
    """
    from gafit.io.atomic import atomic_batch, atomic_write_text
    from gafit.io.paths import output_folder

    run = Path(run_dir)
    if result is None:
        result = FitResult.load(run)
    inp = inputs_of(result, run, config)
    output_folder(inp.out, "report")
    path = inp.out / "index.html"
    old = {p for pattern in PNG_PATTERNS for p in inp.out.glob(pattern)}
    # all files of the page are renamed into place together: a full disk leaves the old page whole
    with atomic_batch() as written:
        atomic_write_text(path, page(result, run, inp))
    for stale in old - {target for _, target in written}:  # plots the new page does not have
        stale.unlink(missing_ok=True)
    return path
