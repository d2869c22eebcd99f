"""``walls``: pair channels without a safe repulsive wall for the data's shortest distances."""

from __future__ import annotations

from gafit.checks.finding import Finding
from gafit.potential import Potential
from gafit.structures import ReferenceSet


def _check_walls(refset: ReferenceSet, potential: Potential) -> list[Finding]:
    """A warning per pair channel whose wall is missing or too low for the data's shortest distance
    (:func:`gafit.walls.unsafe_reason`), one info line with the others."""
    from gafit.walls import describe, unsafe_reason, walls

    out, ok = [], []
    for w in walls(potential, refset):
        reason = unsafe_reason(w)
        if reason is None:
            ok.append(describe(w))
        else:
            out.append(Finding("warning", "walls", f"{describe(w)}: {reason}; MD that pushes {w.channel}"
                               " pairs closer can collapse them (add a repulsive wall or refit)", []))
    if ok:
        out.append(Finding("info", "walls", "repulsive walls: " + "; ".join(ok), []))
    return out
