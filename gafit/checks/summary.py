"""``summary``: how many structures, atoms, species and targets the data holds."""

from __future__ import annotations

from gafit.checks._text import _counts, _n
from gafit.checks.finding import Finding
from gafit.structures import ReferenceSet


def _summary(refset: ReferenceSet, sources: list[str]) -> Finding:
    n_e = sum(s.energy is not None for s in refset)
    n_f = sum(s.forces is not None for s in refset)
    n_s = sum(s.stress is not None for s in refset)
    files = sorted(set(sources) - {""})
    src = f" from {len(files)} files" if len(files) > 1 else ""
    return Finding("info", "summary",
                   f"{_n(len(refset))}{src} ({_counts(refset, range(len(refset)), sources)}), "
                   f"{refset.n_atoms} atoms, species {' '.join(refset.species)}; with energy {n_e}, "
                   f"forces {n_f}, stress {n_s}", [])
