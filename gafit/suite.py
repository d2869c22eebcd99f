"""A validation suite (``gafit validate``, ``[validate]`` of a fit config): its TOML file read and
checked, every error one line naming the file and the key. The format and what each check computes
are in :mod:`gafit.validate`, which runs a suite.

Units: Å, eV/atom, GPa, THz, K, ps, fs.
"""

from __future__ import annotations

import math
import tomllib
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from gafit.structures import GafitInputError

__all__ = ["Check", "Suite", "builtin_suites", "find_suite", "load_suite", "parse_suite"]

#: built-in suites: gafit/suites/NAME.toml
SUITE_DIR = Path(__file__).resolve().parent / "suites"
#: derived quantities beyond gafit.properties.QUANTITIES
E_COH = "E_coh"
SPECIAL = ("phonons", "md", "ev", "melt_quench")

_COMMON = {"name", "quantity", "structure", "species", "a", "citation", "note"}
_KEYS = {
    "property": _COMMON | {"reference", "rel_tol", "abs_tol"},
    "phonons": _COMMON | {"reference", "abs_tol", "supercell", "epsilon_inf", "path"},
    "md": _COMMON | {"temperature", "time", "nve_time", "timestep", "seed", "supercell", "max_drift",
                     "tdamp"},
    "ev": _COMMON | {"reference", "index", "abs_tol", "a_rel_tol", "B_rel_tol"},
    "melt_quench": _COMMON | {"reference", "rel_tol", "abs_tol", "supercell", "melt_temperature", "melt_time",
                              "quench_time", "final_temperature", "anneal_time", "cutoff", "timestep",
                              "seed", "tdamp", "r_max"},
}


@dataclass
class Check:
    """One line of a suite (units: Å, eV/atom, GPa, THz, K, ps, fs)."""

    name: str
    quantity: str
    structure: str | None = None
    species: list[str] | None = None
    a: float | None = None
    reference: float | str | None = None
    rel_tol: float | None = None
    abs_tol: float | None = None
    citation: str = ""
    note: str = ""
    supercell: list[int] | None = None
    epsilon_inf: float | str | None = None
    path: str = "auto"
    temperature: float | None = None
    time: float | None = None
    nve_time: float = 0.0
    timestep: float = 1.0
    seed: int = 1
    tdamp: float = 0.1
    max_drift: float | None = None
    index: str = ":"  # ev: the frames of the reference file (an ASE index, e.g. "9:62")
    a_rel_tol: float | None = None  # ev: tolerance on a0 (fraction)
    B_rel_tol: float | None = None  # ev: tolerance on B (fraction)
    melt_temperature: float | None = None
    melt_time: float | None = None
    quench_time: float | None = None
    final_temperature: float = 300.0
    anneal_time: float = 1.0
    cutoff: float | None = None  # melt_quench: bonded-neighbour distance, Å
    r_max: float = 6.0  # melt_quench: range of g(r), Å

    @property
    def kind(self) -> str:
        return self.quantity if self.quantity in SPECIAL else "property"


@dataclass
class Suite:
    name: str
    description: str
    source: Path
    checks: list[Check]
    species: list[str] = field(default_factory=list)  # what the suite is for ([suite] species)


def builtin_suites() -> dict[str, Path]:
    """Built-in suite names -> files."""
    return {p.stem: p for p in sorted(SUITE_DIR.glob("*.toml"))}


def find_suite(text: str | None, species: list[str]) -> Path:
    """A suite file: ``text`` as a path or a built-in name; without it, the built-in suite whose
    checks use exactly ``species``."""
    suites = builtin_suites()
    if text is None:
        want = sorted(species)
        for path in suites.values():
            if sorted(_suite_species(load_suite(path))) == want:
                return path
        raise GafitInputError(f"validate: no built-in suite for species {' '.join(species)} (built-in: "
                              f"{', '.join(suites)}); give --suite FILE")
    if Path(text).is_file():
        return Path(text)
    if text in suites:
        return suites[text]
    raise GafitInputError(f"--suite {text}: no such file, and not a built-in suite ({', '.join(suites)})")


def _suite_species(suite: Suite) -> set[str]:
    return set(suite.species) or {s for c in suite.checks for s in (c.species or [])}


def load_suite(path: str | Path) -> Suite:
    """Read and check a suite TOML file; every error is one line naming the file and the key."""
    path = Path(path)
    try:
        table = tomllib.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise GafitInputError(f"--suite {path}: no such file") from None
    except tomllib.TOMLDecodeError as err:
        raise GafitInputError(f"suite {path}: {err}") from None
    except (UnicodeDecodeError, ValueError, RecursionError) as err:
        raise GafitInputError(f"suite {path}: not valid TOML ({' '.join(str(err).split())})") from None
    return parse_suite(table, path)


def parse_suite(table: Mapping[str, Any], path: Path) -> Suite:
    """A :class:`Suite` from a parsed TOML table (``path`` names the file in errors)."""
    from gafit.properties import QUANTITIES

    where = f"suite {path}"
    unknown = set(table) - {"suite", "check"}
    if unknown:
        raise GafitInputError(f"{where}: unknown table '{sorted(unknown)[0]}'; expected [suite] and "
                              "[[check]]")
    head = table.get("suite", {})
    known_head = {"name", "description", "species"}
    if not isinstance(head, Mapping) or set(head) - known_head:
        bad = sorted(set(head) - known_head) if isinstance(head, Mapping) else ["suite"]
        raise GafitInputError(f"{where}: [suite] {bad[0]}: unknown key; known: name, description, species")
    species = _typed("species", head["species"], f"{where}: [suite] species", "") if "species" in head else []
    items = table.get("check")
    if not isinstance(items, list) or not items or not all(isinstance(c, Mapping) for c in items):
        raise GafitInputError(f"{where}: no [[check]] tables")
    checks = [_parse_check(c, k, where, set(QUANTITIES)) for k, c in enumerate(items, 1)]
    names = [c.name for c in checks]
    dup = next((n for n in names if names.count(n) > 1), None)
    if dup is not None:
        raise GafitInputError(f"{where}: two checks named '{dup}'; give each a distinct 'name'")
    return Suite(str(head.get("name", path.stem)), str(head.get("description", "")), path, checks, species)


def _parse_check(c: Mapping[str, Any], k: int, where: str, known: set[str]) -> Check:
    quantity = c.get("quantity")
    at = f"{where}: [[check]] {k}"
    if not isinstance(quantity, str):
        raise GafitInputError(f"{at}: 'quantity' is required (a property such as a, E, E_coh, B, C11, "
                              "or phonons, md)")
    if quantity not in known | {E_COH, *SPECIAL}:
        raise GafitInputError(f"{at}: quantity '{quantity}' unknown; known: {', '.join(sorted(known))}, "
                              f"{E_COH}, phonons, md")
    check = Check(name=str(c.get("name", f"{quantity} {k}")), quantity=quantity)
    at = f"{where}: [[check]] {k} ('{check.name}')"
    extra = sorted(set(c) - _KEYS[check.kind])
    if extra:
        raise GafitInputError(f"{at}: unknown key '{extra[0]}' for quantity '{quantity}'; known: "
                              f"{', '.join(sorted(_KEYS[check.kind]))}")
    for key, value in c.items():
        if key in ("name", "quantity"):
            continue
        setattr(check, key, _typed(key, value, f"{at}: {key}", check.kind))
    _require(check, at)
    return check


def _number(value: Any, where: str, positive: bool = True) -> float:
    if isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(value):
        raise GafitInputError(f"{where} = {value!r}: expected a number")
    if positive and not value > 0:
        raise GafitInputError(f"{where} = {value!r}: must be positive")
    return float(value)


def _typed(key: str, value: Any, where: str, kind: str) -> Any:
    """``value`` of ``key`` converted and checked."""
    if key in ("structure", "citation", "note", "path", "index"):
        if not isinstance(value, str) or not value.strip():
            raise GafitInputError(f"{where} = {value!r}: expected a non-empty string")
        return value
    if key == "species":
        if isinstance(value, str):
            value = value.split()
        if not isinstance(value, list) or not value or not all(isinstance(s, str) for s in value):
            raise GafitInputError(f"{where} = {value!r}: expected a list of element names")
        return list(value)
    if key == "supercell":
        ok = isinstance(value, list) and len(value) == 3 and all(
            isinstance(n, int) and not isinstance(n, bool) and n > 0 for n in value)
        if not ok:
            raise GafitInputError(f"{where} = {value!r}: expected three positive integers")
        return list(value)
    if key == "seed":
        if isinstance(value, bool) or not isinstance(value, int) or not 0 < value < 2**31:
            raise GafitInputError(f"{where} = {value!r}: expected an integer 0 < seed < 2^31")
        return value
    if key == "reference" and kind in ("phonons", "ev"):
        if not isinstance(value, str) or not value.strip():
            what = ("a phonon reference (a phonopy data set or a frequency file)" if kind == "phonons"
                    else "DFT frames of one crystal at several volumes (with energies)")
            raise GafitInputError(f"{where} = {value!r}: expected the path of {what}")
        return value
    if key == "epsilon_inf":
        from gafit.nac import parse_epsilon

        return parse_epsilon(value, where)
    return _number(value, where, positive=key not in ("reference", "nve_time"))


def _require(check: Check, at: str) -> None:
    """Keys a check of its kind cannot do without."""
    if check.kind == "md":
        for key in ("structure", "temperature", "time"):
            if getattr(check, key) is None:
                raise GafitInputError(f"{at}: '{key}' is required for an md check")
        return
    if check.kind == "melt_quench":
        for key in ("structure", "melt_temperature", "melt_time", "quench_time", "cutoff"):
            if getattr(check, key) is None:
                raise GafitInputError(f"{at}: '{key}' is required for a melt_quench check")
        try:  # the settings' own rules (melt above the final temperature, ...) before any run
            _melt_quench_settings(check).check()
        except GafitInputError as err:
            raise GafitInputError(f"{at}: {err}") from None
    if check.reference is None:
        raise GafitInputError(f"{at}: 'reference' is required")
    if check.kind in ("phonons", "ev"):
        if check.abs_tol is None:
            unit = "THz" if check.kind == "phonons" else "eV/atom"
            raise GafitInputError(f"{at}: 'abs_tol' (largest RMS error, {unit}) is required")
        return
    if check.structure is None:
        raise GafitInputError(f"{at}: 'structure' is required")
    if check.rel_tol is None and check.abs_tol is None:
        raise GafitInputError(f"{at}: give a tolerance: 'rel_tol' (fraction) or 'abs_tol' (the "
                              "quantity's unit)")


def _melt_quench_settings(check: Check) -> Any:
    from gafit.melt_quench import MeltQuenchSettings

    return MeltQuenchSettings(
        melt_temperature=float(check.melt_temperature or 0), melt_time=float(check.melt_time or 0),
        quench_time=float(check.quench_time or 0), final_temperature=check.final_temperature,
        anneal_time=check.anneal_time, cutoff=float(check.cutoff or 0), seed=check.seed,
        timestep=check.timestep, tdamp=check.tdamp, supercell=tuple(check.supercell or (1, 1, 1)),
        r_max=check.r_max)
