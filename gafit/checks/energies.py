"""``energy-scale``: energies per atom on different scales (different codes, functionals or reference
energies): robust outliers of a per-species linear model E ≈ Σ n_k e_k, and groups (files, config_types)
whose lowest energies per atom lie more than 0.5 eV/atom apart."""

from __future__ import annotations

from collections import Counter, defaultdict

import numpy as np

from gafit.checks._text import _counts, _label, _n, _v
from gafit.checks.finding import Finding
from gafit.structures import ReferenceSet

#: groups whose lowest energies per atom differ by more than this are on different scales, eV/atom
ENERGY_GAP = 0.5


def _species_fit(refset: ReferenceSet, idx: list[int], species: list[str]
                 ) -> tuple[np.ndarray, np.ndarray]:
    """Robust per-species energies e_k (eV/atom) of E ≈ Σ n_k e_k, and per-atom residuals (eV/atom)."""
    lookup = {s: k for k, s in enumerate(species)}
    n = np.zeros((len(idx), len(species)))
    for row, i in enumerate(idx):
        for sym, c in Counter(refset[i].atoms.get_chemical_symbols()).items():
            n[row, lookup[sym]] = c
    nat = n.sum(axis=1)
    a = n / nat[:, None]
    y = np.array([refset[i].energy for i in idx]) / nat
    w = np.ones(len(idx))
    e = np.zeros(len(species))
    for _ in range(30):  # iteratively reweighted least squares, Huber weights (0.05 eV/atom)
        sw = np.sqrt(w)
        e = np.linalg.lstsq(a * sw[:, None], y * sw, rcond=None)[0]
        r = np.abs(y - a @ e)
        w = np.where(r < 0.05, 1.0, 0.05 / np.maximum(r, 1e-300))
    return e, y - a @ e


def _check_energies(refset: ReferenceSet, species: list[str], sources: list[str],
                    gap: float = ENERGY_GAP) -> list[Finding]:
    idx = [i for i, s in enumerate(refset) if s.energy is not None and s.n_atoms > 0]
    if len(idx) < 2:
        return []
    sp = [s for s in species if any(s in refset[i].atoms.get_chemical_symbols() for i in idx)]
    e_k, r = _species_fit(refset, idx, sp)
    single = len(sp) == 1
    out: list[Finding] = []
    en = np.array([refset[i].energy / refset[i].n_atoms for i in idx])
    comp = np.array([[Counter(refset[i].atoms.get_chemical_symbols())[s] for s in sp] for i in idx], float)
    if np.linalg.matrix_rank(comp) == len(sp):
        fit = "per-species fit e_k (eV/atom): " + ", ".join(
            f"{s} {v:.4g}" for s, v in zip(sp, e_k, strict=True))
    else:
        fit = "the compositions do not separate the species' energies"
    bulk = np.array([all(refset[i].atoms.pbc) for i in idx])
    rb = r[bulk]
    if not len(rb):
        return []
    med = float(np.median(rb))
    mad = 1.4826 * float(np.median(np.abs(rb - med)))
    out.append(Finding("info", "energy-scale",
                       f"energies: E/N from {en.min():.4g} to {en.max():.4g} eV/atom (median "
                       f"{np.median(en):.4g}); {fit}; robust spread of "
                       f"the residuals {mad:.3g} eV/atom", []))
    # single structures far from the rest
    limit = max(10 * mad, 1.0)
    outl_pos = [k for k in range(len(idx)) if bulk[k] and abs(r[k] - med) > limit]
    outliers = [idx[k] for k in outl_pos]
    if outliers:
        hints = []
        e_med = float(np.median(en[bulk]))
        for k in outl_pos:
            ratio = en[k] / e_med if e_med else np.nan
            st = refset[idx[k]]
            if abs(st.energy - e_med) < 0.2 * abs(e_med):
                hints.append("an energy per atom stored as the total")
            for unit, f in (("Hartree", 27.211386), ("Rydberg", 13.605693)):
                if abs(ratio * f - 1) < 0.05:
                    hints.append(f"energies in {unit}")
        hint = f" (looks like {', '.join(sorted(set(hints)))})" if hints else ""
        out.append(Finding("warning", "energy-scale",
                           f"{_n(len(outliers))} ({_counts(refset, outliers, sources)}) "
                           f"{_v(len(outliers), 'have energies', 'has an energy')} per "
                           f"atom {min(abs(r[k] - med) for k in outl_pos):.3g} to "
                           f"{max(abs(r[k] - med) for k in outl_pos):.3g} eV/atom away from the per-species "
                           f"fit (others within ±{mad:.2g}): wrong energy scale or units?{hint} e.g. "
                           f"{_label(refset, outliers[0])}", outliers))
    far_clusters = [idx[k] for k in range(len(idx)) if not bulk[k] and abs(r[k] - med) > limit]
    if far_clusters:
        out.append(Finding("info", "energy-scale",
                           f"{_n(len(far_clusters))} not periodic in 3 directions "
                           f"({_counts(refset, far_clusters, sources)}) lie more than {limit:.2g} eV/atom "
                           "from the bulk energies (expected for small clusters and isolated atoms)",
                           far_clusters))
    # groups (file, config_type): their lowest energies per atom should be comparable
    skip = set(outliers)
    multi = len(set(sources)) > 1
    floors: dict[str, tuple[float, int]] = {}
    members: dict[str, list[int]] = defaultdict(list)
    for k, i in enumerate(idx):
        if not bulk[k] or i in skip:
            continue
        g = (f"{sources[i]} " if multi else "") + refset[i].config_type
        members[g].append(i)
        value = float(r[k] + (e_k[0] if single else 0.0))
        if g not in floors or value < floors[g][0]:
            floors[g] = (value, i)
    if len(floors) > 1:
        order = sorted(floors, key=lambda g: floors[g][0])
        parts, current = [], [order[0]]
        for g0, g1 in zip(order, order[1:], strict=False):
            if floors[g1][0] - floors[g0][0] > gap:
                parts.append(current)
                current = []
            current.append(g1)
        parts.append(current)
        if len(parts) > 1:
            what = "lowest E/N" if single else "lowest residual of the per-species fit"
            text = " | ".join(", ".join(f"{g} {floors[g][0]:.3f}" for g in p) for p in parts)
            spread = floors[order[-1]][0] - floors[order[0]][0]
            concerned = [i for p in parts[1:] for g in p for i in members[g]]
            out.append(Finding("warning", "energy-scale",
                               f"energies on different scales? the {what} (eV/atom) of the groups falls "
                               f"into {len(parts)} clusters more than {gap:g} eV/atom apart (spread "
                               f"{spread:.3g}): {text}. Different codes, functionals or reference energies "
                               "cannot share one E0: fit them separately or shift them (ignore if these "
                               "are genuinely different phases)", concerned))
    # one bimodal group: a gap in the sorted residuals with structures on both sides
    rs = np.sort(rb)
    if len(rs) >= 4:
        gaps = np.diff(rs)
        k = int(np.argmax(gaps))
        lo_n, hi_n = k + 1, len(rs) - k - 1
        if gaps[k] > gap and min(lo_n, hi_n) >= 2 and not any(f.check == "energy-scale" and
                                                               f.severity == "warning" for f in out):
            cut = (rs[k] + rs[k + 1]) / 2
            upper = [idx[j] for j in range(len(idx)) if bulk[j] and r[j] > cut]
            out.append(Finding("warning", "energy-scale",
                               f"energies per atom split into two groups ({lo_n} and {hi_n} structures) "
                               f"separated by {gaps[k]:.3g} eV/atom with nothing in between: two energy "
                               f"scales mixed? upper group: {_counts(refset, upper, sources)}", upper))
    return out
