"""``small-cells``: periodic widths below 2 × cutoff (atoms see their own images: legal)."""

from __future__ import annotations

import math

import numpy as np

from gafit.checks._text import _who
from gafit.checks.finding import Finding
from gafit.structures import ReferenceSet, Structure, periodic_widths


def _widths(st: Structure) -> np.ndarray:
    """Perpendicular widths (Å) of the cell along its periodic directions."""
    return periodic_widths(st.atoms.cell.array, st.atoms.pbc)



def _check_cells(refset: ReferenceSet, cutoff: float, sources: list[str]) -> list[Finding]:
    small, narrowest = [], math.inf
    for i, st in enumerate(refset):
        if not st.atoms.pbc.any():
            continue
        w = _widths(st)
        if len(w) and w.min() < 2 * cutoff:
            small.append(i)
            narrowest = min(narrowest, float(w.min()))
    if not small:
        return []
    return [Finding("info", "small-cells",
                    f"{_who(refset, small, sources, 'have cells', 'has a cell')} "
                    "narrower than "
                    f"2 × cutoff = {2 * cutoff:g} Å (narrowest {narrowest:.3g} Å): atoms see their own "
                    "periodic images (legal: gafit and LAMMPS include every image)", small)]
