"""Atomic file writes: a failure never leaves a half-written file or clobbers an existing one.

Inside :func:`atomic_batch` the files of one output set (a fit's run folder, a phonon report) are
all written under temporary names first and renamed into place only when every one was written, so a
full disk leaves the old set whole rather than half old and half new.
"""

from __future__ import annotations

import contextlib
import contextvars
import os
import tempfile
from collections.abc import Callable, Iterator
from pathlib import Path

from gafit.io.paths import os_error_message
from gafit.structures import GafitInputError

#: (temporary file, target) pairs waiting for the end of the current atomic_batch
_PENDING: contextvars.ContextVar[list[tuple[str, Path]] | None] = contextvars.ContextVar(
    "gafit_atomic_pending", default=None)


def atomic_write(path: str | Path, write: Callable[[str], None]) -> None:
    """Call ``write(tmp_path)`` then move the temporary file over ``path`` in one step.

    An OSError (no space, read-only, no permission, ...) becomes one GafitInputError naming
    ``path``; the temporary file is removed and an existing ``path`` is left as it was.
    """
    path = Path(path)
    tmp = None
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        # the prefix is cut so that a long (but legal) name still leaves room for the suffixes
        fd, tmp = tempfile.mkstemp(prefix=f".{path.name[:100]}.", suffix=".tmp", dir=path.parent)
        os.close(fd)
        write(tmp)
        umask = os.umask(0)
        os.umask(umask)
        os.chmod(tmp, 0o666 & ~umask)  # mkstemp makes the file private; give it the usual mode
        pending = _PENDING.get()
        if pending is None:
            os.replace(tmp, path)
        else:
            pending.append((tmp, path))
    except BaseException as err:
        if tmp is not None and os.path.exists(tmp):
            os.unlink(tmp)
        if isinstance(err, OSError):
            raise GafitInputError(os_error_message(err, path)) from None
        raise


def atomic_write_text(path: str | Path, text: str) -> None:
    atomic_write(path, lambda tmp: Path(tmp).write_text(text, encoding="utf-8"))


@contextlib.contextmanager
def atomic_batch() -> Iterator[list[tuple[str, Path]]]:
    """Hold back the renames of every :func:`atomic_write` inside the block until it ends without
    an error; on an error remove the temporary files, so no target changes. Yields the list of
    (temporary file, target) pairs written so far. Nested blocks join the outermost one."""
    outer = _PENDING.get()
    if outer is not None:
        yield outer
        return
    pending: list[tuple[str, Path]] = []
    token = _PENDING.set(pending)
    try:
        yield pending
    except BaseException:
        for tmp, _ in pending:
            with contextlib.suppress(OSError):
                os.unlink(tmp)
        raise
    finally:
        _PENDING.reset(token)
    for k, (tmp, path) in enumerate(pending):
        try:
            os.replace(tmp, path)
        except OSError as err:
            for rest, _ in pending[k:]:
                with contextlib.suppress(OSError):
                    os.unlink(rest)
            raise GafitInputError(os_error_message(err, path)) from None
