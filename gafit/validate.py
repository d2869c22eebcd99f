"""``gafit validate``: is a potential usable? A suite of checks, each passing or failing against a
cited reference value and a tolerance.

A suite is a TOML file (built-in ones in ``gafit/suites/``, copy and extend them)::

    [suite]
    name = "Si"
    description = "diamond Si against experiment"

    [[check]]
    name = "a"                 # optional, shown in the table
    quantity = "a"             # a property of gafit.properties (a, E, B, C11, ...), E_coh, phonons or md
    structure = "diamond"      # a lattice name or a structure file (relative to the suite file)
    species = ["Si"]           # for a lattice name (default: the potential's species)
    a = 5.43                   # start lattice constant of a lattice name, Å
    reference = 5.431          # in the quantity's unit (gafit.properties.QUANTITIES)
    rel_tol = 0.01             # pass when |value - reference| <= rel_tol |reference| or <= abs_tol
    citation = "..."

``quantity = "phonons"``: ``reference`` is a phonopy data set or frequency file, ``abs_tol`` the largest
RMS error over the band path (THz). ``quantity = "md"``: LAMMPS MD with the exported files
(:func:`gafit.md.run_md`), passing when no atom is lost, nothing collapses and the NVE drift is at most
``max_drift`` (eV/atom/ps). ``quantity = "ev"``: the potential's E(V) on DFT frames of one crystal
scaled uniformly (``reference`` a structure file, ``index`` an ASE selection), RMS after the best
constant shift at most ``abs_tol`` (eV/atom), a0 and B within ``a_rel_tol``/``B_rel_tol``
(:mod:`gafit.ev_curve`). ``quantity = "melt_quench"``: melt, quench and anneal in LAMMPS
(:mod:`gafit.melt_quench`); the mean coordination within ``cutoff`` against ``reference``. Paths
starting ``data:`` are looked up in the shared data folder (``--data``, default ``../shared/data``); a
check whose data is absent is skipped, and says so. Every
channel's repulsive wall (:mod:`gafit.walls`) is checked as well.

Units: Å, eV/atom, GPa, THz, K, ps.
"""

from __future__ import annotations

import csv
import io
import math
import sys
import time
from collections.abc import Callable, Mapping
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from ase import Atoms

from gafit.potential import Potential
from gafit.structures import GafitInputError, GafitResultError
from gafit.suite import (
    E_COH,
    Check,
    Suite,
    _melt_quench_settings,
    builtin_suites,
    find_suite,
    load_suite,
    parse_suite,
)

__all__ = ["Check", "Outcome", "Suite", "builtin_suites", "find_suite", "load_suite", "parse_suite",
           "run_suite", "write_outputs"]

#: where ``data:`` paths are looked up when --data is not given: these, relative to the working
#: directory, then to the folder holding the gafit repository
DATA_DIRS = ("../shared/data",)


@dataclass
class Outcome:
    """The result of one check: status 'pass', 'FAIL' or 'skipped' (its data is absent)."""

    name: str
    quantity: str
    structure: str
    status: str
    value: float | None = None
    reference: float | None = None
    unit: str = ""
    difference: str = ""
    tolerance: str = ""
    citation: str = ""
    note: str = ""
    details: dict[str, Any] = field(default_factory=dict)
    seconds: float | None = None  # wall clock of the check: kept apart from the results it does not decide

    @property
    def failed(self) -> bool:
        return self.status == "FAIL"


# --------------------------------------------------------------------------- paths


def data_dirs(data: str | Path | None) -> list[Path]:
    """Folders searched for ``data:`` paths."""
    if data is not None:
        return [Path(data)]
    repo = Path(__file__).resolve().parents[1]
    return [Path(d) for d in DATA_DIRS] + [(repo / d).resolve() for d in DATA_DIRS]


def resolve(text: str, suite: Suite, data: str | Path | None) -> Path | None:
    """The file of a suite path: ``data:REL`` in the data folder (None when absent), otherwise
    relative to the suite file."""
    if text.startswith("data:"):
        rel = text[len("data:"):].lstrip("/")
        return next((d / rel for d in data_dirs(data) if (d / rel).exists()), None)
    p = Path(text)
    return p if p.is_absolute() else suite.source.parent / p


def _is_path(text: str) -> bool:
    from gafit.crystals import LATTICES

    return text.startswith("data:") or text.partition(":")[0].lower() not in LATTICES


# --------------------------------------------------------------------------- evaluation


Progress = Callable[[int, int, Check], None]


def run_suite(potential: Potential, suite: Suite, out: Path | None = None, data: str | Path | None = None,
              progress: Progress | None = None, md_progress: Callable[[Any, int], None] | None = None
              ) -> list[Outcome]:
    """Evaluate every check of ``suite`` on ``potential``, then its pair walls. ``out`` holds the
    phonon files; ``progress(k, n, check)`` is called before each check, ``md_progress(sample,
    total_steps)`` during MD (:func:`gafit.md.run_md`)."""
    cache: dict[tuple, dict[str, Any]] = {}
    seen: list[Atoms] = []  # every crystal checked: its shortest distances judge the walls
    outcomes = []
    for k, check in enumerate(suite.checks):
        if progress is not None:
            progress(k, len(suite.checks), check)
        start = time.perf_counter()
        outcome = _run_check(potential, suite, check, out, data, cache, seen, md_progress)
        outcome.seconds = round(time.perf_counter() - start, 2)
        outcomes.append(outcome)
    outcomes += wall_outcomes(potential, seen)
    return outcomes


class SuiteProgress:
    """Progress of a suite run on stderr: a line per check ('[k/n] name (quantity)') and a tqdm bar
    during an MD check; nothing when ``quiet``. Pass ``check`` and ``md`` to
    :func:`gafit.validate.run_suite`, and call ``close`` after it."""

    def __init__(self, quiet: bool):
        self.quiet = quiet
        self.bar: Any = None  # the tqdm bar of the MD check running

    def check(self, k: int, n: int, check: Any) -> None:
        self.close()
        if not self.quiet:
            print(f"[{k + 1}/{n}] {check.name} ({check.quantity})", file=sys.stderr, flush=True)

    def md(self, sample: Any, total: int) -> None:
        if self.quiet:
            return
        if self.bar is None:
            from tqdm import tqdm

            self.bar = tqdm(total=total, desc="md", unit="step", file=sys.stderr, leave=False)
        self.bar.update(sample.step - self.bar.n)
        self.bar.set_postfix_str(f"{sample.ensemble} T {sample.temperature:.0f} K, "
                                 f"d_min {sample.min_distance:.2f} Å, atoms {sample.n_atoms}")

    def close(self) -> None:
        if self.bar is not None:
            self.bar.close()
            self.bar = None


def _structure(check: Check, suite: Suite, potential: Potential, data: str | Path | None
               ) -> tuple[Atoms | None, str]:
    """The check's crystal (None when its data file is absent) and a label for the table."""
    from gafit.crystals import read_crystal

    text = check.structure
    assert text is not None
    where = f"suite {suite.source}: check '{check.name}': structure"
    if _is_path(text):
        path = resolve(text, suite, data)
        if path is None:
            return None, text
        return read_crystal(str(path), where=where), text
    species = check.species or potential.species
    label = f"{text} {''.join(species)}" + (f" a={check.a:g}" if check.a else "")
    return read_crystal(text, species, check.a, where=where), label


def _outcome(check: Check, label: str, note: str = "", **kw: Any) -> Outcome:
    """An outcome of ``check``; ``note`` comes first, then the suite's own note."""
    return Outcome(check.name, check.quantity, label, citation=check.citation,
                   note="; ".join(x for x in (note, check.note) if x), **kw)


def _no_species(check: Check, label: str, atoms: Atoms, potential: Potential) -> Outcome | None:
    """A skipped outcome when the crystal holds species the potential lacks (a suite for several
    systems run on a potential for some of them)."""
    missing = sorted(set(atoms.get_chemical_symbols()) - set(potential.species))
    if not missing:
        return None
    return _outcome(check, label, status="skipped", note=f"the potential has no {' '.join(missing)}")


def _run_check(potential: Potential, suite: Suite, check: Check, out: Path | None,
               data: str | Path | None, cache: dict, seen: list[Atoms],
               md_progress: Callable[[Any, int], None] | None = None) -> Outcome:
    if check.kind == "phonons":
        return _phonon_check(potential, suite, check, out, data, seen)
    if check.kind == "ev":
        return _ev_check(potential, suite, check, out, data, seen)
    missing = sorted(set(check.species or []) - set(potential.species))
    if missing:  # before building: a lattice name may need the missing species' lattice constant
        return _outcome(check, check.structure or "", status="skipped",
                        note=f"the potential has no {' '.join(missing)}")
    atoms, label = _structure(check, suite, potential, data)
    if atoms is None:
        return _outcome(check, label, status="skipped",
                        note=f"data absent: {check.structure} (looked in "
                             f"{', '.join(map(str, data_dirs(data)))})")
    skipped = _no_species(check, label, atoms, potential)
    if skipped is not None:
        return skipped
    seen.append(atoms)
    if check.kind == "md":
        return _md_check(potential, check, atoms, label, md_progress)
    if check.kind == "melt_quench":
        return _melt_quench_check(potential, check, atoms, label, out, md_progress)
    key = (label, check.structure, tuple(check.species or ()), check.a)
    try:
        if key not in cache:
            from gafit.properties import properties

            cache[key] = properties(potential, atoms)
    except (GafitInputError, GafitResultError) as err:  # e.g. a relaxation that runs away
        cache[key] = {"error": str(err)}
    props = cache[key]
    if "error" in props:
        return _outcome(check, label, status="FAIL", note=f"not computed: {props['error']}")
    return _compare(check, label, props, atoms)


def _compare(check: Check, label: str, props: Mapping[str, Any], atoms: Atoms) -> Outcome:
    from gafit.properties import QUANTITIES, cohesive_energy

    if check.quantity == E_COH:
        value, unit = cohesive_energy(props, atoms), "eV/atom"
    else:
        value, unit = props.get(check.quantity), QUANTITIES[check.quantity][0]
    ref = float(check.reference)  # type: ignore[arg-type]
    if value is None:
        return _outcome(check, label, status="FAIL", reference=ref, unit=unit,
                        note=f"{check.quantity} is not computed for this crystal ({props.get('spacegroup')})")
    value = float(value)
    diff = value - ref
    limit = max(check.abs_tol or 0.0, (check.rel_tol or 0.0) * abs(ref))
    rel = f" ({100 * diff / abs(ref):+.2f} %)" if ref else ""
    tol = " or ".join(t for t in (f"{100 * check.rel_tol:g} %" if check.rel_tol else "",
                                  f"{check.abs_tol:g} {unit}" if check.abs_tol else "") if t)
    return _outcome(check, label, status="pass" if abs(diff) <= limit else "FAIL", value=value,
                    reference=ref, unit=unit, difference=f"{diff:+.4g}{rel}", tolerance=tol,
                    details={"spacegroup": props.get("spacegroup")})


def _md_check(potential: Potential, check: Check, atoms: Atoms, label: str,
              progress: Callable[[Any, int], None] | None = None) -> Outcome:
    from gafit.md import MDSettings, run_md

    settings = MDSettings(temperature=float(check.temperature or 0), time=float(check.time or 0),
                          seed=check.seed, timestep=check.timestep, nve_time=check.nve_time,
                          tdamp=check.tdamp, supercell=tuple(check.supercell or (1, 1, 1)))
    res = run_md(potential, atoms, settings, progress)
    failures = list(res.failures)
    if check.max_drift is not None and check.nve_time and not res.failures:  # else NVE did not run
        if not math.isfinite(res.drift) or abs(res.drift) > check.max_drift:
            failures.append(f"NVE drift {res.drift:.3g} eV/atom/ps beyond {check.max_drift:g}")
    tol = "no lost atoms, no collapse" + (f", |drift| <= {check.max_drift:g} eV/atom/ps"
                                          if check.max_drift is not None else "")
    how = (f"{res.n_atoms} atoms, {check.temperature:g} K NVT {check.time:g} ps"
           + (f" + NVE {check.nve_time:g} ps" if check.nve_time else "") + f", seed {check.seed}; "
           f"lost {res.lost_atoms}, shortest distance {res.min_distance:.3f} Å")
    if math.isfinite(res.temperature_mean):
        how += f", T mean {res.temperature_mean:.0f} K"
    if math.isfinite(res.drift) and len(failures) == len(res.failures):  # else a failure names it
        how += f", NVE drift {res.drift:.3g} eV/atom/ps"
    note = "; ".join([how, *failures] + ([check.note] if check.note else []))
    value = res.temperature_mean if math.isfinite(res.temperature_mean) else None
    return Outcome(check.name, "md", label, "FAIL" if failures else "pass", value=value,
                   reference=float(check.temperature or 0), unit="K (T reached)", tolerance=tol,
                   citation=check.citation, note=note, details=res.to_dict() | {"samples": None})


def _phonon_check(potential: Potential, suite: Suite, check: Check, out: Path | None,
                  data: str | Path | None, seen: list[Atoms]) -> Outcome:
    from gafit.phonons import load_reference, phonon_report, reference_supercell, to_ase_atoms

    ref_text = str(check.reference)
    ref_path = resolve(ref_text, suite, data)
    label = check.structure or ref_text
    if ref_path is None:
        return _outcome(check, label, status="skipped", unit="THz",
                        note=f"data absent: {ref_text} (looked in {', '.join(map(str, data_dirs(data)))})")
    if check.structure is not None:
        atoms, label = _structure(check, suite, potential, data)
        if atoms is None:
            return _outcome(check, label, status="skipped", note=f"data absent: {check.structure}")
    reference = load_reference(ref_path)
    if check.structure is None:
        if reference.phonopy is None:
            raise GafitInputError(f"suite {suite.source}: check '{check.name}': 'structure' is required "
                                  f"with a frequency-file reference ({ref_text})")
        atoms = to_ase_atoms(reference.phonopy.unitcell)
    if check.supercell is not None:
        supercell: Any = check.supercell
    elif reference.phonopy is not None:
        supercell = reference_supercell(atoms, reference.phonopy, check.structure is not None)
    else:
        raise GafitInputError(f"suite {suite.source}: check '{check.name}': 'supercell' is required "
                              f"with a frequency-file reference ({ref_text})")
    skipped = _no_species(check, label, atoms, potential)
    if skipped is not None:
        return skipped
    seen.append(atoms)
    folder = None if out is None else out / "phonons" / _slug(check.name)
    eps = 1.0 if check.epsilon_inf is None else check.epsilon_inf
    try:
        res = phonon_report(potential, atoms, supercell, folder, path=check.path, reference=reference,
                            name="potential", epsilon_inf=eps)
    except (GafitInputError, GafitResultError) as err:  # e.g. a relaxation that runs away
        return _outcome(check, label, status="FAIL", unit="THz (RMS error)", note=f"not computed: {err}")
    assert res.errors is not None
    rms = float(res.errors.rms)
    worst = max(res.errors.rows[1:], key=lambda r: r.rms, default=None)
    note = f"RMS over the path; worst point {worst.point} {worst.rms:.3f} THz" if worst else ""
    return _outcome(check, label, status="pass" if rms <= float(check.abs_tol or 0) else "FAIL",
                    value=rms, unit="THz (RMS error)",
                    tolerance=f"{check.abs_tol:g} THz",
                    note=note, details={"files": [str(f) for f in res.files],
                             "rms_error_THz": {r.point: r.rms for r in res.errors.rows}})


def _save_plot(fig: Any, path: Path, dpi: int = 150) -> str:
    from gafit.io.atomic import atomic_write

    path.parent.mkdir(parents=True, exist_ok=True)
    atomic_write(path, lambda tmp: fig.savefig(tmp, dpi=dpi, format="png"))
    return str(path)


def _read_frames(path: Path, index: str, where: str) -> list[Atoms]:
    import ase.io

    try:
        frames = ase.io.read(path, index=index)
    except Exception as err:  # ASE raises many kinds: a bad index, an unreadable file
        msg = str(err).strip().splitlines()[0] if str(err).strip() else type(err).__name__
        raise GafitInputError(f"{where} {path} index {index!r}: cannot read it ({msg})") from None
    return frames if isinstance(frames, list) else [frames]


def _ev_check(potential: Potential, suite: Suite, check: Check, out: Path | None,
              data: str | Path | None, seen: list[Atoms]) -> Outcome:
    """E(V) on the reference's DFT cells (:mod:`gafit.ev_curve`), RMS after a constant shift."""
    from gafit.ev_curve import compare_ev, plot_ev

    ref_text = str(check.reference)
    label = f"{ref_text} [{check.index}]"
    path = resolve(ref_text, suite, data)
    if path is None:
        return _outcome(check, label, status="skipped", unit="eV/atom (RMS)",
                        note=f"data absent: {ref_text} (looked in {', '.join(map(str, data_dirs(data)))})")
    where = f"suite {suite.source}: check '{check.name}': reference"
    frames = _read_frames(path, check.index, where)
    skipped = _no_species(check, label, frames[0], potential)
    if skipped is not None:
        return skipped
    ev = compare_ev(potential, frames, where)
    seen.extend([frames[0], frames[-1]] if len(frames) > 1 else frames)
    failures = [] if ev.rms <= float(check.abs_tol or 0) else [f"RMS {ev.rms:.4g} eV/atom"]
    parts = [f"{len(frames)} cells, V {ev.volumes[0]:.2f}-{ev.volumes[-1]:.2f} Å³/atom; potential "
             f"shifted by {ev.shift:+.4f} eV/atom (the mean difference)"]
    for key, tol, unit in (("a0", check.a_rel_tol, "Å"), ("B", check.B_rel_tol, "GPa")):
        mine, theirs = ev.eos_potential.get(key), ev.eos_dft.get(key)
        if mine is not None and theirs is not None:
            rel = (mine - theirs) / theirs
            parts.append(f"{key} {mine:.4g} vs DFT {theirs:.4g} {unit} ({100 * rel:+.1f} %)")
            if tol is not None and abs(rel) > tol:
                failures.append(f"{key} off by {100 * rel:+.1f} % (tolerance {100 * tol:g} %)")
        elif tol is not None:
            failures.append(f"{key}: no minimum of the {'DFT' if theirs is None else 'potential'} "
                            "curve inside the volumes")
    files = []
    if out is not None:
        fig = plot_ev(ev, f"{check.name}: {label}")
        files.append(_save_plot(fig, out / "ev" / f"{_slug(check.name)}.png"))
    tol = " and ".join([f"RMS <= {check.abs_tol:g} eV/atom"]
                       + [f"{k} within {100 * t:g} %" for k, t in (("a0", check.a_rel_tol),
                                                                     ("B", check.B_rel_tol)) if t])
    return _outcome(check, label, "; ".join(parts + failures), status="FAIL" if failures else "pass",
                    value=ev.rms, unit="eV/atom (RMS)", tolerance=tol,
                    details={"files": files} | ev.to_dict())


def _melt_quench_check(potential: Potential, check: Check, atoms: Atoms, label: str, out: Path | None,
                       progress: Callable[[Any, int], None] | None = None) -> Outcome:
    """Melt, quench, anneal in LAMMPS (:mod:`gafit.melt_quench`); the mean coordination against
    ``reference``."""
    from gafit.melt_quench import melt_quench, plot_rdf

    settings = _melt_quench_settings(check)
    res = melt_quench(potential, atoms, settings, progress)
    ref = float(check.reference)  # type: ignore[arg-type]
    failures = list(res.failures)
    how = (f"{res.n_atoms} atoms at {res.density:.3f} g/cm³: {settings.melt_temperature:g} K "
           f"{settings.melt_time:g} ps, quench to {settings.final_temperature:g} K in "
           f"{settings.quench_time:g} ps, anneal {settings.anneal_time:g} ps (seed {settings.seed}); "
           f"melt MSD {res.melt_msd:.3g} Å²")
    value = None
    diff = ""
    if math.isfinite(res.coordination_mean):
        value = res.coordination_mean
        limit = max(check.abs_tol or 0.0, (check.rel_tol or 0.0) * abs(ref))
        diff = f"{value - ref:+.3g}"
        how += (f"; coordination (r < {settings.cutoff:g} Å) mean {value:.3f}, 4-fold "
                f"{100 * res.fourfold:.1f} %")
        if not failures and abs(value - ref) > limit:
            failures.append(f"mean coordination {value:.3f} vs {ref:g}")
    files = []
    if out is not None and res.g:
        fig = plot_rdf(res, f"{check.name}: {label}", ref)
        files.append(_save_plot(fig, out / "melt_quench" / f"{_slug(check.name)}.png"))
    tol = " or ".join(t for t in (f"{check.abs_tol:g}" if check.abs_tol else "",
                                  f"{100 * check.rel_tol:g} %" if check.rel_tol else "") if t)
    return _outcome(check, label, "; ".join([how, *failures]), status="FAIL" if failures else "pass",
                    value=value, reference=ref, unit="neighbours (mean)", difference=diff,
                    tolerance=tol + "; melts, no lost atoms, no collapse",
                    details={"files": files} | res.to_dict())


def _slug(text: str) -> str:
    return "".join(ch if ch.isalnum() or ch in "-_." else "_" for ch in text) or "check"


def wall_outcomes(potential: Potential, crystals: list[Atoms] | None = None) -> list[Outcome]:
    """One row per pair channel: does the pair keep a repulsive wall, and (with ``crystals``) is its
    barrier top safely inside the shortest distance of the channel in them
    (:func:`gafit.walls.unsafe_reason`)?"""
    from gafit.structures import ReferenceSet, Structure
    from gafit.walls import describe, unsafe_reason, walls

    refset = ReferenceSet([Structure(a.copy()) for a in crystals]) if crystals else None
    out = []
    for w in walls(potential, refset):
        reason = unsafe_reason(w)
        out.append(Outcome(f"wall {w.channel}", "wall", w.channel, "FAIL" if reason else "pass",
                           tolerance="repulsive below the crystals' distances",
                           note="; ".join(x for x in (reason, describe(w)) if x),
                           citation="gafit.walls (no reference needed)", details=w.to_dict()))
    return out


# --------------------------------------------------------------------------- output

COLUMNS = ("name", "quantity", "structure", "status", "value", "reference", "unit", "difference",
           "tolerance", "citation", "note")


def _cell(o: Outcome, key: str) -> str:
    v = getattr(o, key)
    if v is None:
        return ""
    return f"{v:.6g}" if isinstance(v, float) else str(v)


def table_text(outcomes: list[Outcome]) -> str:
    """A plain table: one line per check."""
    cols = ("name", "structure", "status", "value", "reference", "unit", "difference", "tolerance")
    rows = [[_cell(o, c) for c in cols] for o in outcomes]
    width = [max(len(c), *(len(r[i]) for r in rows)) for i, c in enumerate(cols)]
    lines = ["  ".join(c.ljust(w) for c, w in zip(cols, width, strict=True)).rstrip()]
    lines += ["  ".join(x.ljust(w) for x, w in zip(r, width, strict=True)).rstrip() for r in rows]
    for o in outcomes:
        if o.status != "pass" and o.note:
            lines.append(f"{o.status} {o.name}: {o.note}")
    return "\n".join(lines)


def verdict(outcomes: list[Outcome]) -> str:
    n_fail = sum(o.failed for o in outcomes)
    n_skip = sum(o.status == "skipped" for o in outcomes)
    n_pass = sum(o.status == "pass" for o in outcomes)
    head = "FAILED" if n_fail else "passed"
    return (f"{head}: {n_pass} passed, {n_fail} failed, {n_skip} skipped"
            + (" (see their notes: data absent or species not in the potential)" if n_skip else ""))


def write_outputs(out: Path, suite: Suite, outcomes: list[Outcome], potential_path: str) -> list[Path]:
    """validate.json, validate.csv and index.html in ``out``."""
    from gafit.io import strict_json
    from gafit.io.atomic import atomic_write_text

    out.mkdir(parents=True, exist_ok=True)
    buf = io.StringIO()
    writer = csv.writer(buf, lineterminator="\n")
    writer.writerow(COLUMNS)
    writer.writerows([_cell(o, c) for c in COLUMNS] for o in outcomes)
    atomic_write_text(out / "validate.csv", buf.getvalue())
    doc = {"potential": potential_path, "suite": {"name": suite.name, "file": str(suite.source),
                                                  "description": suite.description},
           "verdict": verdict(outcomes), "passed": not any(o.failed for o in outcomes),
           "checks": [_clean({k: v for k, v in asdict(o).items() if k != "seconds"}) for o in outcomes],
           "seconds": {o.name: o.seconds for o in outcomes if o.seconds is not None}}
    atomic_write_text(out / "validate.json", strict_json.dumps(doc, indent=2, ensure_ascii=False) + "\n")
    atomic_write_text(out / "index.html", html_page(suite, outcomes, potential_path, out))
    _save_plot(summary_figure(suite, outcomes, potential_path), out / "summary.png", dpi=100)
    return [out / "index.html", out / "summary.png", out / "validate.csv", out / "validate.json"]


def plots(outcomes: list[Outcome]) -> list[tuple[Outcome, str]]:
    """The PNG plots of the checks (phonons, E-V, g(r)) in table order."""
    return [(o, f) for o in outcomes for f in o.details.get("files", []) or []
            if isinstance(f, str) and f.endswith(".png") and Path(f).is_file()]


STATUS_COLOURS = {"pass": "#e6f4ea", "FAIL": "#fdecea", "skipped": "#eeeeee"}


def summary_figure(suite: Suite, outcomes: list[Outcome], potential_path: str) -> Any:
    """One picture of the report (the checks table coloured by status, then the plots two a row):
    what a screenshot of index.html would show, made without a browser."""
    import textwrap

    from matplotlib.figure import Figure
    from matplotlib.image import imread

    pics = plots(outcomes)
    n_rows = (len(pics) + 1) // 2
    title_h, table_h = 0.45, 0.25 * (len(outcomes) + 1) + 0.1  # inches
    height = title_h + table_h + 4.6 * n_rows
    fig = Figure(figsize=(14, height))
    fig.text(0.01, 1 - 0.3 / height, f"gafit validate: {Path(potential_path).name}, suite {suite.name} — "
             f"{verdict(outcomes)}", fontsize=12, va="center",
             color="#b3261e" if any(o.failed for o in outcomes) else "#1e6b34")
    grid = fig.add_gridspec(1 + n_rows, 2, height_ratios=[table_h] + [4.6] * n_rows, hspace=0.02,
                            wspace=0.02, left=0.01, right=0.99, top=1 - title_h / height, bottom=0.005)
    ax = fig.add_subplot(grid[0, :])
    ax.axis("off")
    cols = ("check", "status", "value", "reference", "unit", "tolerance")
    cells = [[textwrap.shorten(o.name, 28), o.status, _cell(o, "value"), _cell(o, "reference"),
              textwrap.shorten(o.unit, 22), textwrap.shorten(o.tolerance, 52)] for o in outcomes]
    colours = [[STATUS_COLOURS.get(o.status, "white")] * len(cols) for o in outcomes]
    table = ax.table(cellText=cells, colLabels=cols, cellColours=colours, bbox=(0, 0, 1, 1),
                     colWidths=[0.17, 0.07, 0.1, 0.1, 0.15, 0.41], cellLoc="left")
    table.auto_set_font_size(False)
    table.set_fontsize(9)
    for k, (_, f) in enumerate(pics):
        pax = fig.add_subplot(grid[1 + k // 2, k % 2])
        pax.imshow(imread(f))
        pax.axis("off")
    return fig


def _clean(x: Any) -> Any:
    """JSON-ready: NaN and infinities as None, numpy scalars as numbers."""
    if isinstance(x, Mapping):
        return {str(k): _clean(v) for k, v in x.items()}
    if isinstance(x, list | tuple):
        return [_clean(v) for v in x]
    if hasattr(x, "item") and not isinstance(x, str):
        x = x.item()
    if isinstance(x, float) and not math.isfinite(x):
        return None
    return x


EXTRA_CSS = "tr.fail td { background: #fdecea; } tr.skipped td { color: #777; }"


def html_page(suite: Suite, outcomes: list[Outcome], potential_path: str, out: Path) -> str:
    """The report page: verdict, the table of checks, the phonon plots."""
    import datetime

    from gafit._version import __version__
    from gafit.report.html import CSS, Note
    from gafit.report.html import esc as _esc
    from gafit.report.html import table as _table

    failed = any(o.failed for o in outcomes)
    status_cls = {"pass": "", "FAIL": "fail", "skipped": "skipped"}
    rows = [[_esc(o.name), _esc(o.structure),
             f"<b>{_esc(o.status)}</b>" if o.failed else _esc(o.status),
             _esc(_cell(o, "value")), _esc(_cell(o, "reference")), _esc(o.unit), _esc(o.difference),
             _esc(o.tolerance), _esc(o.citation), _esc(o.note)] for o in outcomes]
    table = _table(["check", "structure", "status", "value", "reference", "unit", "difference",
                    "tolerance", "reference source", "note"], rows, num=[3, 4, 6],
                   row_classes=[status_cls.get(o.status, "") for o in outcomes])
    pictures = []
    for o, f in plots(outcomes):
        rel = Path(f).resolve().relative_to(out.resolve())
        pictures.append(f'<figure><img src="{_esc(rel.as_posix())}" alt="{_esc(o.quantity)} {_esc(o.name)}">'
                        f"<figcaption>{_esc(o.name)}: potential vs reference</figcaption></figure>")
    note = Note("error" if failed else "info", _esc(verdict(outcomes)))
    title = f"gafit validate: {Path(potential_path).name} with suite {suite.name}"
    now = datetime.datetime.now().strftime("%Y-%m-%d %H:%M")
    return "\n".join([
        "<!DOCTYPE html>", '<html lang="en"><head><meta charset="utf-8">',
        f"<title>{_esc(title)}</title>", f"<style>{CSS}{EXTRA_CSS}</style></head><body><main>",
        f"<h1>{_esc(title)}</h1>",
        f'<p class="sub">Potential <code>{_esc(potential_path)}</code> · suite <code>'
        f"{_esc(suite.source)}</code> · made {now} by gafit {__version__}</p>",
        note.html(), f"<p>{_esc(suite.description)}</p>" if suite.description else "",
        '<h2 id="checks">Checks</h2>', table, '<p><a href="summary.png">summary.png</a>: this table and '
        "the plots in one picture</p>", *(['<h2 id="plots">Plots</h2>'] + pictures if pictures else []),
        "<footer>Units: Å, eV/atom, GPa, THz, K. A check passes when |value − reference| is within its "
        "tolerance; MD checks pass when LAMMPS loses no atom and no pair collapses. Skipped checks need "
        "data that is absent. Made by <code>gafit validate</code>.</footer>",
        "</main></body></html>",
    ])
