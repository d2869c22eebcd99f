"""Output paths checked before any work: a folder or file gafit is about to write can be written,
and no output lands on one of the command's own inputs.

Each check raises one :class:`~gafit.structures.GafitInputError` naming the path and the reason.
Faults that only show while writing (a full disk) are reported by :func:`os_error_message`.
"""

from __future__ import annotations

import errno
import os
from collections.abc import Iterable
from pathlib import Path

from gafit.structures import GafitInputError

#: plain words for the errors a write meets (strerror is terse: "Errno 30")
REASONS = {
    errno.EROFS: "read-only file system",
    errno.ENOSPC: "no space left on the device",
    errno.EDQUOT: "disk quota exceeded",
    errno.EACCES: "permission denied",
    errno.EPERM: "operation not permitted",
    errno.ENAMETOOLONG: "file name too long",
    errno.ENOTDIR: "a part of the path is a file, not a folder",
    errno.EISDIR: "is a folder",
    errno.EEXIST: "exists and is not a folder",
}


def os_error_message(err: OSError, path: str | Path | None = None) -> str:
    """One line for an OSError met while reading or writing: ``PATH: cannot write (reason)``."""
    where = path if path is not None else err.filename
    reason = REASONS.get(err.errno or -1) or err.strerror or str(err)
    reason = " ".join(str(reason).split())
    verb = "cannot write" if err.errno in (errno.EROFS, errno.ENOSPC, errno.EDQUOT) else "cannot use"
    return f"{where}: {verb} ({reason})" if where is not None else f"{verb} a file ({reason})"


def _first_existing(path: Path) -> tuple[Path, list[str]]:
    """The nearest existing ancestor of ``path`` (itself if it exists) and the names below it."""
    missing: list[str] = []
    while not os.path.lexists(path) and path != path.parent:
        missing.insert(0, path.name)
        path = path.parent
    return path, missing


def _check_creatable(path: Path, option: str) -> None:
    """``path`` (a folder or file, existing or not) can be made or replaced: every existing part is a
    folder we can write into, and no new name is longer than the file system allows."""
    base, missing = _first_existing(path.absolute())
    if missing and not os.path.isdir(base):
        raise GafitInputError(f"{option} {path}: {base} is a file, not a folder")
    for name in missing:
        try:
            limit = os.pathconf(base, "PC_NAME_MAX")
        except (OSError, ValueError):
            limit = 255
        if len(os.fsencode(name)) > limit:
            raise GafitInputError(f"{option} {path}: the name {name[:20]}... has "
                                  f"{len(os.fsencode(name))} bytes, more than the {limit} the "
                                  "file system allows")
    folder = base if os.path.isdir(base) else base.parent
    if not os.access(folder, os.W_OK | os.X_OK):
        why = "read-only file system" if _read_only(folder) else "permission denied"
        raise GafitInputError(f"{option} {path}: cannot write in {folder} ({why})")


def _read_only(folder: Path) -> bool:
    try:
        return bool(os.statvfs(folder).f_flag & os.ST_RDONLY)
    except OSError:
        return False


def output_folder(path: str | Path, option: str = "--out") -> Path:
    """Check a folder to write outputs into: not "", not a file or a device, inside folders that
    exist or can be made and written. Nothing is created. Returns it as a Path."""
    if str(path).strip() == "":
        raise GafitInputError(f"{option} '': give a folder name (e.g. {option} runs/first)")
    p = Path(path)
    _check_creatable(p, option)
    if os.path.lexists(p) and not os.path.isdir(p):
        raise GafitInputError(f"{option} {p}: exists and is not a folder")
    return p


def output_file(path: str | Path, option: str = "--out") -> Path:
    """Check a file to write: not "", not a folder, in a folder that exists or can be made and
    written. Nothing is created. Returns it as a Path."""
    if str(path).strip() == "":
        raise GafitInputError(f"{option} '': give a file name")
    p = Path(path)
    _check_creatable(p, option)
    if os.path.isdir(p):
        raise GafitInputError(f"{option} {p}: is a folder; give a file name")
    if os.path.lexists(p) and not os.path.isfile(p):
        raise GafitInputError(f"{option} {p}: exists and is not a regular file")
    return p


def _same(a: Path, b: Path) -> bool:
    try:
        return a.exists() and b.exists() and os.path.samefile(a, b)
    except OSError:
        return a.resolve() == b.resolve()


def spare_inputs(outputs: Iterable[str | Path], inputs: Iterable[str | Path | None],
                 option: str = "--out") -> None:
    """GafitInputError when one of ``outputs`` (files about to be written or removed) is one of
    ``inputs`` (files the command reads): writing would destroy the input."""
    given = [Path(p) for p in inputs if p is not None and str(p) != ""]
    for out in map(Path, outputs):
        for inp in given:
            if _same(out, inp):
                raise GafitInputError(f"{option} {out}: would overwrite the input {inp}; "
                                      "write somewhere else")
