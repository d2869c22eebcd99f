"""``duplicates``: the same species, cell and positions (atom by atom, no permutation) more than once."""

from __future__ import annotations

from collections import defaultdict

import numpy as np

from gafit.checks._text import _label, _who
from gafit.checks.finding import Finding
from gafit.structures import ReferenceSet, Structure


def _features(st: Structure) -> np.ndarray:
    """Cell and positions as a vector whose distances are ~Å, insensitive to wrapping (periodic)."""
    cell = np.array(st.atoms.cell)
    if all(st.atoms.pbc):
        frac = st.atoms.get_scaled_positions(wrap=True)
        scale = np.linalg.norm(cell, axis=1) / (2 * np.pi)
        ang = 2 * np.pi * frac
        pos = np.concatenate([(np.cos(ang) * scale).ravel(), (np.sin(ang) * scale).ravel()])
    else:
        pos = st.atoms.positions.ravel()
    return np.concatenate([cell.ravel(), pos])


#: structures whose cell and positions agree within this (Å) are the same structure
DUPLICATE_TOL = 1e-3


def duplicate_groups(refset: ReferenceSet, tol: float = DUPLICATE_TOL) -> list[list[int]]:
    """Groups (each sorted, in order of their first member) of structures with the same species,
    cell and positions (atom by atom, within ``tol`` Å); structures without a copy are left out."""
    from scipy.spatial import cKDTree

    groups: dict[tuple, list[int]] = defaultdict(list)
    for i, st in enumerate(refset):
        groups[(tuple(st.atoms.pbc), tuple(st.atoms.numbers))].append(i)
    parent = list(range(len(refset)))

    def find(i: int) -> int:
        while parent[i] != i:
            parent[i] = parent[parent[i]]
            i = parent[i]
        return i

    for idx in groups.values():
        if len(idx) < 2:
            continue
        x = np.array([_features(refset[i]) for i in idx])
        for a, b in cKDTree(x).query_pairs(tol):
            ra, rb = find(idx[a]), find(idx[b])
            if ra != rb:
                parent[max(ra, rb)] = min(ra, rb)
    clusters: dict[int, list[int]] = defaultdict(list)
    for i in range(len(refset)):
        clusters[find(i)].append(i)
    return [c for c in clusters.values() if len(c) > 1]


def _check_duplicates(refset: ReferenceSet, sources: list[str], tol: float = DUPLICATE_TOL
                      ) -> list[Finding]:
    dup = duplicate_groups(refset, tol)
    if not dup:
        return []
    extra = sorted(i for c in dup for i in c[1:])
    worst = 0.0
    for c in dup:
        e = [refset[i].energy / refset[i].n_atoms for i in c if refset[i].energy is not None]
        if len(e) > 1:
            worst = max(worst, max(e) - min(e))
    example = (f"#{dup[0][1]} ({_label(refset, dup[0][1])}) = #{dup[0][0]} "
               f"({_label(refset, dup[0][0])})")
    msg = (f"{_who(refset, extra, sources, 'repeat', 'repeats')} an "
           "earlier structure (same "
           f"species, cell and positions, all within {tol:g} Å; {len(dup)} distinct), e.g. {example}: "
           "each copy counts again in the loss")
    if worst > 1e-3:
        msg += f"; their energies differ by up to {worst:.3g} eV/atom (conflicting targets)"
    elif worst > 0:
        msg += f"; their energies agree within {1000 * worst:.2g} meV/atom"
    return [Finding("warning", "duplicates", msg, extra)]
