"""The exceptions gafit raises on purpose. Every one derives from :class:`GafitError`, so a script can
catch gafit's own failures apart from bugs; the command line turns them into one line and an exit code."""

from __future__ import annotations

__all__ = ["GafitError", "GafitInputError", "GafitResultError", "LammpsError"]


class GafitError(Exception):
    """Base class of every exception gafit raises on purpose."""


class GafitInputError(GafitError, ValueError):
    """A user-facing input problem; the message names the file, line, column or key at fault."""


class GafitResultError(GafitError, RuntimeError):
    """A fit ran to its end but its result means nothing (a loss or RMSE that is not finite); the
    command line prints the message and exits with code 3."""


class LammpsError(GafitError, RuntimeError):
    """LAMMPS rejected a command or failed during ``run 0``."""
