"""Checks that a fit can mean something, made once the config, the data and the potential meet and
before any search: some property with a nonzero weight must have reference values."""

from __future__ import annotations

from typing import TYPE_CHECKING

from gafit.objective import PROPERTIES
from gafit.structures import GafitInputError

if TYPE_CHECKING:
    from gafit.objective import Objective

#: how each property's reference values are counted in messages
_COUNTED = {"energy": "energies", "forces": "force components", "stress": "stress components",
            "virial": "virial components (from the stresses)"}


def data_has(objective: Objective) -> str:
    """What reference values the objective's data holds, e.g. '20 energies, no force components'."""
    counts = objective.targets.counts()
    return ", ".join(f"{counts[p] or 'no'} {_COUNTED[p]}" for p in ("energy", "forces", "stress"))


def check_problem(objective: Objective, where: str = "[weights]") -> None:
    """GafitInputError unless some property (or phonon target) with a nonzero weight has reference
    values with a nonzero structure weight: otherwise every candidate has the same loss and the
    fit would return an arbitrary point of the search space."""
    if any(objective.scale[p] is not None for p in PROPERTIES):
        return
    if any(t.config.weight > 0 for t in objective.phonons):
        return
    if objective.properties is not None and any(c.weight > 0 for c in objective.properties.configs):
        return
    w = objective.weights
    weights = ", ".join(f"{p} = {getattr(w, p):g}" for p in PROPERTIES)
    data = f"the training data ({objective.refset.source}) has {data_has(objective)}"
    if not any(getattr(w, p) > 0 for p in PROPERTIES):
        why = "every weight is zero"
    elif all(s.weight == 0 for s in objective.refset):
        why = "every training structure has weight 0"
    else:
        why = "no property with a nonzero weight has reference values"
    raise GafitInputError(f"{where} {weights}: {why}; {data}: nothing to fit")
