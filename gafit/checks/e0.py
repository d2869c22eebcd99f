"""``E0``: E0 offsets that make a potential's own energy per atom implausible on the data."""

from __future__ import annotations

from gafit.checks.finding import Finding
from gafit.potential import Potential
from gafit.structures import GafitInputError, ReferenceSet


def _check_e0(refset: ReferenceSet, potential: Potential) -> list[Finding]:
    """A warning per implausible-E0 rule the potential's offsets break on this data
    (:func:`gafit.stability.e0_plausibility`)."""
    from gafit.evaluate import evaluate
    from gafit.stability import e0_check_of

    try:
        ev = evaluate(potential, refset)
    except GafitInputError:  # structures the potential cannot evaluate are reported elsewhere
        return []
    res = e0_check_of(potential, refset, ev.energy, ev.e0)
    return [Finding("warning", "E0", f.removeprefix("! "), []) for f in (res.flags if res else [])]
