"""``undetermined``: species in no structure, species pairs (Tersoff: triplets) never within the
cutoff, energies that E0 alone can fit exactly, fewer targets than parameters."""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass
from itertools import combinations_with_replacement

import numpy as np

from gafit.checks._text import _n, _v
from gafit.checks.finding import Finding
from gafit.potential import Potential
from gafit.structures import ReferenceSet, pair_list


def _species_coverage(refset: ReferenceSet, species: list[str]) -> list[Finding]:
    """Warnings for the potential's species in no structure and the data's species not in the potential."""
    out: list[Finding] = []
    present = set(refset.species)
    absent = [s for s in species if s not in present]
    if absent:
        out.append(Finding("warning", "undetermined",
                           f"species {', '.join(absent)} {_v(len(absent), 'appear', 'appears')} in no "
                           "structure: their parameters "
                           f"(and {', '.join(s + '.E0' for s in absent)}) are undetermined", []))
    extra = sorted(present - set(species))
    if extra:
        idx = [i for i, s in enumerate(refset) if set(s.atoms.get_chemical_symbols()) & set(extra)]
        out.append(Finding("warning", "undetermined",
                           f"species {', '.join(extra)} of the data are not among the potential's species "
                           f"{species}: {_n(len(idx))} cannot be evaluated", idx))
    return out


@dataclass
class _Neighbours:
    """What the data shows within the cutoff: the shortest distance (Å) and the number of ordered pairs
    per species pair found, and the triplets (a, b, c): an atom of species a with neighbours of species b
    and c (only when three-body entries are wanted)."""

    dmin: dict[tuple[str, str], float]
    npairs: dict[tuple[str, str], int]
    triplets: set[tuple[str, str, str]]


def _neighbours(refset: ReferenceSet, species: list[str], cutoff: float, three_body: bool) -> _Neighbours:
    """Species pairs and (with ``three_body``) triplets within ``cutoff`` (Å) in any structure."""
    order = list(species) + [x for x in refset.species if x not in species]
    code = {x: k for k, x in enumerate(order)}
    nk = len(order)
    dmin_k = np.full(nk * nk, np.inf)
    npairs_k = np.zeros(nk * nk, np.int64)
    has3 = np.zeros((nk, nk, nk), bool)
    for st in refset:
        if st.n_atoms < 2 and not st.atoms.pbc.any():
            continue
        i, j, d_pc, _ = pair_list(st.atoms, cutoff)
        d = np.sqrt(np.einsum("pc,pc->p", d_pc, d_pc))
        if not len(i):
            continue
        c = np.fromiter((code[x] for x in st.atoms.get_chemical_symbols()), np.int64, st.n_atoms)
        ci, cj = c[i], c[j]
        key = np.minimum(ci, cj) * nk + np.maximum(ci, cj)
        np.minimum.at(dmin_k, key, d)
        npairs_k += np.bincount(key, minlength=nk * nk)  # each unordered pair twice
        if three_body:
            nb = np.zeros((st.n_atoms, nk), np.int64)
            np.add.at(nb, (i, cj), 1)
            for b in range(nk):
                for c2 in range(nk):
                    ok = (nb[:, b] >= 2) if b == c2 else (nb[:, b] >= 1) & (nb[:, c2] >= 1)
                    has3[np.unique(c[ok]), b, c2] = True
    dmin = {(order[k // nk], order[k % nk]): float(dmin_k[k]) for k in np.flatnonzero(npairs_k)}
    npairs = {(order[k // nk], order[k % nk]): int(npairs_k[k]) for k in np.flatnonzero(npairs_k)}
    triplets = {(order[a], order[b], order[c2]) for a, b, c2 in zip(*np.nonzero(has3), strict=True)}
    return _Neighbours(dmin, npairs, triplets)


def _pairs_found(seen: _Neighbours, present: list[str], cutoff: float) -> list[Finding]:
    """A warning for the species pairs never within ``cutoff`` (Å), and the shortest distances found."""
    out: list[Finding] = []
    dmin = seen.dmin
    missing = [(a, b) for a, b in combinations_with_replacement(present, 2)
               if (a, b) not in dmin and (b, a) not in dmin]
    if missing:
        names = ", ".join(f"{a}-{b}" for a, b in missing)
        out.append(Finding("warning", "undetermined",
                           f"no {names} pair is closer than the cutoff {cutoff:g} Å in any structure: "
                           f"the {names} pair parameters are undetermined", []))
    if dmin:
        text = "; ".join(f"{a}-{b} from {v:.3g} Å ({seen.npairs[(a, b)] // 2} pairs)"
                         for (a, b), v in dmin.items())
        out.append(Finding("info", "distances", f"pairs within {cutoff:g} Å: {text}", []))
    return out


def _triplets_found(seen: _Neighbours, present: list[str], cutoff: float) -> list[Finding]:
    """A warning for the three-body entries no atom of the data realises within ``cutoff`` (Å)."""
    miss3 = [(a, b, c) for a in present for b in present for c in present
             if (a, b, c) not in seen.triplets]
    if not miss3:
        return []
    return [Finding("warning", "undetermined",
                    f"three-body entries {', '.join('-'.join(t) for t in miss3)}: no atom of the "
                    f"first species has two neighbours of the other two within {cutoff:g} Å, so "
                    "their three-body parameters (gamma, lambda3, c, d, costheta0) are "
                    "undetermined", [])]


def _target_counts(refset: ReferenceSet) -> tuple[list[int], int, int]:
    """The structures with an energy, the number of force components and of fitted stress components."""
    e_idx = [i for i, s in enumerate(refset) if s.energy is not None]
    n_f = sum(3 * s.n_atoms for s in refset if s.forces is not None)
    n_s = sum(6 for s in refset if s.stress is not None and all(s.atoms.pbc))
    return e_idx, n_f, n_s


def _e0_alone(refset: ReferenceSet, species: list[str]) -> list[Finding]:
    """A finding when the per-species E0 offsets alone can match every energy exactly (a warning when
    nothing else is fitted)."""
    e_idx, n_f, n_s = _target_counts(refset)
    if not e_idx:
        return []
    counts = np.array([[Counter(refset[i].atoms.get_chemical_symbols())[s] for s in species]
                       for i in e_idx], float)
    if np.linalg.matrix_rank(counts) < len(e_idx):
        return []
    sev = "warning" if n_f == 0 and n_s == 0 else "info"
    tail = ("and there are no forces or stresses: nothing determines the potential's parameters"
            if sev == "warning" else "so the energies do not constrain the potential's parameters "
            "(forces and stresses do)")
    return [Finding(sev, "undetermined",
                    f"the {_n(len(e_idx), 'energy')} can be matched exactly by the per-species "
                    f"E0 offsets alone (no two structures share a composition), {tail}", e_idx)]


def _too_few_targets(refset: ReferenceSet, potential: Potential) -> list[Finding]:
    """A warning when the data has fewer target values than the potential has parameters (E0 aside)."""
    e_idx, n_f, n_s = _target_counts(refset)
    n_par = potential.n_params - len(potential.species)
    n_targets = len(e_idx) + n_f + n_s
    if n_targets >= n_par:
        return []
    return [Finding("warning", "undetermined",
                    f"{n_targets} target values (energies, force and stress components) for up "
                    f"to {n_par} potential parameters: the fit is underdetermined", [])]


def _check_determined(refset: ReferenceSet, species: list[str], cutoff: float,
                      potential: Potential | None, sources: list[str]) -> list[Finding]:
    out = _species_coverage(refset, species)
    three_body = potential is not None and any(f.body_order >= 3 for f in potential.forms)
    seen = _neighbours(refset, species, cutoff, three_body)
    present = [s for s in species if s in set(refset.species)]
    out += _pairs_found(seen, present, cutoff)
    if three_body:
        out += _triplets_found(seen, present, cutoff)
    out += _e0_alone(refset, species)
    if potential is not None:
        out += _too_few_targets(refset, potential)
    return out
