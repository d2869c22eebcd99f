"""Arrays that take long to compute and depend only on their inputs, kept on disk between runs.

phonopy's map from a set of displaced supercells' forces to force constants costs one phonopy solve
per force component (hundreds of seconds-long solves for an ionic crystal's supercells); it depends
only on the supercells, the setting and phonopy's version, so a fit run again finds it here. Files
are named by a digest of everything the array depends on, written whole or not at all (a temporary
file renamed into place), and a file that cannot be read is computed again.

The folder: ``$GAFIT_CACHE_DIR``, else ``$XDG_CACHE_HOME/gafit``, else ``~/.cache/gafit``;
``GAFIT_CACHE_DIR=off`` keeps nothing. Deleting it is always safe.
"""

from __future__ import annotations

import hashlib
import io
import os
import tempfile
from collections.abc import Callable, Iterable
from pathlib import Path

import numpy as np

#: bumped when what a cached array means changes, so that old files are not read
FORMAT = 1


def folder() -> Path | None:
    """Where cached arrays live, or None when caching is off."""
    setting = os.environ.get("GAFIT_CACHE_DIR")
    if setting is not None:
        return None if setting.strip().lower() in ("", "off", "0", "none") else Path(setting)
    base = os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache"
    return Path(base) / "gafit"


def digest(parts: Iterable[bytes | str]) -> str:
    """A hex digest of ``parts`` (with the cache format) naming a cached array."""
    h = hashlib.sha256(f"gafit disk cache {FORMAT}".encode())
    for part in parts:
        data = part.encode() if isinstance(part, str) else part
        h.update(len(data).to_bytes(8, "little"))
        h.update(data)
    return h.hexdigest()


def cached_array(kind: str, key: str, compute: Callable[[], np.ndarray]) -> np.ndarray:
    """The array ``compute()`` gives, read from ``folder()/kind/key.npy`` when it is there and
    written there when it was not (silently not, where the folder cannot be written)."""
    root = folder()
    path = None if root is None else root / kind / f"{key}.npy"
    if path is not None and path.is_file():
        try:
            return np.load(path, allow_pickle=False)
        except (OSError, ValueError):
            pass  # a damaged file: computed again, and replaced
    array = compute()
    if path is not None:
        data = io.BytesIO()
        np.save(data, array, allow_pickle=False)
        write_whole(path, data.getvalue())
    return array


def write_whole(path: Path, data: bytes | str) -> bool:
    """Write ``data`` to ``path`` whole or not at all (a temporary file beside it, renamed into
    place: a process reading it meanwhile sees the old file or the new one), making its folder;
    False where it cannot be written."""
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        with tempfile.NamedTemporaryFile("wb", dir=path.parent, suffix=".tmp", delete=False) as f:
            f.write(data.encode() if isinstance(data, str) else data)
        os.replace(f.name, path)
    except OSError:
        return False
    return True
