"""``energy-scale``: energies per atom on different scales (different codes, functionals or reference
energies): robust outliers of a per-species linear model E ≈ Σ n_k e_k, and groups (files, config_types)
whose lowest energies per atom lie more than 0.5 eV/atom apart."""

from __future__ import annotations

from collections import Counter, defaultdict
from dataclasses import dataclass

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


@dataclass
class _EnergyFit:
    """The structures with an energy (``idx``), their energies per atom ``en`` (eV/atom), which are
    periodic in 3 directions (``bulk``), the robust per-species fit over the species present (``e_k``,
    eV/atom) with its residuals ``r`` (eV/atom), and the median ``med`` and robust spread ``mad`` of the
    bulk residuals (eV/atom)."""

    idx: list[int]
    species: list[str]
    e_k: np.ndarray
    r: np.ndarray
    en: np.ndarray
    bulk: np.ndarray
    med: float
    mad: float

    @property
    def limit(self) -> float:
        """A residual this far from the median (eV/atom) is far from the rest."""
        return max(10 * self.mad, 1.0)

    def far(self, k: int) -> bool:
        return abs(self.r[k] - self.med) > self.limit


def _energy_fit(refset: ReferenceSet, species: list[str]) -> _EnergyFit | None:
    """The per-species fit of the energies, or None with fewer than two energies or no bulk one."""
    idx = [i for i, s in enumerate(refset) if s.energy is not None and s.n_atoms > 0]
    if len(idx) < 2:
        return None
    sp = [s for s in species if any(s in refset[i].atoms.get_chemical_symbols() for i in idx)]
    e_k, r = _species_fit(refset, idx, sp)
    en = np.array([refset[i].energy / refset[i].n_atoms for i in idx])
    bulk = np.array([all(refset[i].atoms.pbc) for i in idx])
    rb = r[bulk]
    if not len(rb):
        return None
    med = float(np.median(rb))
    mad = 1.4826 * float(np.median(np.abs(rb - med)))
    return _EnergyFit(idx, sp, e_k, r, en, bulk, med, mad)


def _energy_summary(refset: ReferenceSet, fit: _EnergyFit) -> Finding:
    """The range of E/N, the per-species energies (when the compositions separate them) and the spread."""
    sp, idx, en = fit.species, fit.idx, fit.en
    comp = np.array([[Counter(refset[i].atoms.get_chemical_symbols())[s] for s in sp] for i in idx], float)
    if np.linalg.matrix_rank(comp) == len(sp):
        text = "per-species fit e_k (eV/atom): " + ", ".join(
            f"{s} {v:.4g}" for s, v in zip(sp, fit.e_k, strict=True))
    else:
        text = "the compositions do not separate the species' energies"
    return Finding("info", "energy-scale",
                   f"energies: E/N from {en.min():.4g} to {en.max():.4g} eV/atom (median "
                   f"{np.median(en):.4g}); {text}; robust spread of "
                   f"the residuals {fit.mad:.3g} eV/atom", [])


def _outlier_hints(refset: ReferenceSet, fit: _EnergyFit, outl_pos: list[int]) -> str:
    """' (looks like energies in Hartree, ...)' when the outliers' energies suggest a cause, else ''."""
    hints = []
    e_med = float(np.median(fit.en[fit.bulk]))
    for k in outl_pos:
        ratio = fit.en[k] / e_med if e_med else np.nan
        st = refset[fit.idx[k]]
        if abs(st.energy - e_med) < 0.2 * abs(e_med):
            hints.append("an energy per atom stored as the total")
        for unit, f in (("Hartree", 27.211386), ("Rydberg", 13.605693)):
            if abs(ratio * f - 1) < 0.05:
                hints.append(f"energies in {unit}")
    return f" (looks like {', '.join(sorted(set(hints)))})" if hints else ""


def _energy_outliers(refset: ReferenceSet, fit: _EnergyFit, sources: list[str]) -> list[Finding]:
    """A warning for the bulk structures far from the per-species fit (wrong scale or units)."""
    outl_pos = [k for k in range(len(fit.idx)) if fit.bulk[k] and fit.far(k)]
    if not outl_pos:
        return []
    outliers = [fit.idx[k] for k in outl_pos]
    dev = [abs(fit.r[k] - fit.med) for k in outl_pos]
    return [Finding("warning", "energy-scale",
                    f"{_n(len(outliers))} ({_counts(refset, outliers, sources)}) "
                    f"{_v(len(outliers), 'have energies', 'has an energy')} per "
                    f"atom {min(dev):.3g} to {max(dev):.3g} eV/atom away from the per-species "
                    f"fit (others within ±{fit.mad:.2g}): wrong energy scale or units?"
                    f"{_outlier_hints(refset, fit, outl_pos)} e.g. {_label(refset, outliers[0])}", outliers)]


def _far_clusters(refset: ReferenceSet, fit: _EnergyFit, sources: list[str]) -> list[Finding]:
    """An info line for the non-periodic structures far from the bulk energies (expected)."""
    far = [fit.idx[k] for k in range(len(fit.idx)) if not fit.bulk[k] and fit.far(k)]
    if not far:
        return []
    return [Finding("info", "energy-scale",
                    f"{_n(len(far))} not periodic in 3 directions "
                    f"({_counts(refset, far, sources)}) lie more than {fit.limit:.2g} eV/atom "
                    "from the bulk energies (expected for small clusters and isolated atoms)", far)]


def _group_floors(refset: ReferenceSet, fit: _EnergyFit, sources: list[str], skip: set[int]
                  ) -> tuple[dict[str, tuple[float, int]], dict[str, list[int]]]:
    """Per group (file and config_type) of bulk structures not in ``skip``: its lowest E/N (one
    species) or lowest residual (several), eV/atom, with the structure, and its members."""
    single = len(fit.species) == 1
    multi = len(set(sources)) > 1
    floors: dict[str, tuple[float, int]] = {}
    members: dict[str, list[int]] = defaultdict(list)
    for k, i in enumerate(fit.idx):
        if not fit.bulk[k] or i in skip:
            continue
        g = (f"{sources[i]} " if multi else "") + refset[i].config_type
        members[g].append(i)
        value = float(fit.r[k] + (fit.e_k[0] if single else 0.0))
        if g not in floors or value < floors[g][0]:
            floors[g] = (value, i)
    return floors, members


def _energy_groups(refset: ReferenceSet, fit: _EnergyFit, sources: list[str], skip: set[int],
                   gap: float) -> list[Finding]:
    """A warning when the groups' lowest energies per atom fall into clusters more than ``gap`` apart."""
    floors, members = _group_floors(refset, fit, sources, skip)
    if len(floors) < 2:
        return []
    order = sorted(floors, key=lambda g: floors[g][0])
    parts, current = [], [order[0]]
    for g0, g1 in zip(order, order[1:], strict=False):
        if floors[g1][0] - floors[g0][0] > gap:
            parts.append(current)
            current = []
        current.append(g1)
    parts.append(current)
    if len(parts) < 2:
        return []
    what = "lowest E/N" if len(fit.species) == 1 else "lowest residual of the per-species fit"
    text = " | ".join(", ".join(f"{g} {floors[g][0]:.3f}" for g in p) for p in parts)
    spread = floors[order[-1]][0] - floors[order[0]][0]
    concerned = [i for p in parts[1:] for g in p for i in members[g]]
    return [Finding("warning", "energy-scale",
                    f"energies on different scales? the {what} (eV/atom) of the groups falls "
                    f"into {len(parts)} clusters more than {gap:g} eV/atom apart (spread "
                    f"{spread:.3g}): {text}. Different codes, functionals or reference energies "
                    "cannot share one E0: fit them separately or shift them (ignore if these "
                    "are genuinely different phases)", concerned)]


def _bimodal(refset: ReferenceSet, fit: _EnergyFit, sources: list[str], gap: float) -> list[Finding]:
    """A warning when the sorted bulk residuals have a gap above ``gap`` with two or more structures on
    both sides (two energy scales mixed within one group)."""
    rs = np.sort(fit.r[fit.bulk])
    if len(rs) < 4:
        return []
    gaps = np.diff(rs)
    k = int(np.argmax(gaps))
    lo_n, hi_n = k + 1, len(rs) - k - 1
    if gaps[k] <= gap or min(lo_n, hi_n) < 2:
        return []
    cut = (rs[k] + rs[k + 1]) / 2
    upper = [fit.idx[j] for j in range(len(fit.idx)) if fit.bulk[j] and fit.r[j] > cut]
    return [Finding("warning", "energy-scale",
                    f"energies per atom split into two groups ({lo_n} and {hi_n} structures) "
                    f"separated by {gaps[k]:.3g} eV/atom with nothing in between: two energy "
                    f"scales mixed? upper group: {_counts(refset, upper, sources)}", upper)]


def _check_energies(refset: ReferenceSet, species: list[str], sources: list[str],
                    gap: float = ENERGY_GAP) -> list[Finding]:
    fit = _energy_fit(refset, species)
    if fit is None:
        return []
    out = [_energy_summary(refset, fit)]
    outliers = _energy_outliers(refset, fit, sources)
    out += outliers
    out += _far_clusters(refset, fit, sources)
    out += _energy_groups(refset, fit, sources, {i for f in outliers for i in f.structures}, gap)
    if not any(f.severity == "warning" for f in out):  # a bimodal group only when nothing else explains it
        out += _bimodal(refset, fit, sources, gap)
    return out
