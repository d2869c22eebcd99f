"""Sanity checks of reference data before a fit: findings a user should know about, one line each.

Units: Å, eV, eV/Å, stress eV/Å³ (ASE convention, positive = tensile). Each :class:`Finding` is a
``warning`` (probably a mistake that will spoil a fit) or ``info`` (legal, but worth knowing), with the
indices of the structures concerned. The checks:

- ``zero-forces`` / ``zero-stress``: targets that are exactly zero where symmetry does not require it
  (missing values stored as zeros are fitted as zeros);
- ``small-cells``: periodic widths below 2 × cutoff (atoms see their own images: legal);
- ``duplicates``: the same species, cell and positions (atom by atom, no permutation) more than once;
- ``energy-scale``: energies per atom on different scales (different codes, functionals or reference
  energies): robust outliers of a per-species linear model E ≈ Σ n_k e_k, and groups (files,
  config_types) whose lowest energies per atom lie more than 0.5 eV/atom apart;
- ``stress``: stresses whose sign or unit disagrees with the energy differences between homogeneously
  strained structures (ΔE ≈ ½ (V₁σ₁ + V₂σ₂) : Δε − ½ Σ (F₁ + F₂)·Δu);
- ``undetermined``: species in no structure, species pairs (Tersoff: triplets) never within the cutoff,
  energies that E0 alone can fit exactly, fewer targets than parameters.
"""

from __future__ import annotations

import math
import warnings
from collections import Counter, defaultdict
from collections.abc import Sequence
from dataclasses import dataclass, field
from itertools import combinations_with_replacement
from pathlib import Path

import numpy as np

from gafit.geometry import check_neighbour_work
from gafit.potential import Potential
from gafit.structures import GafitInputError, ReferenceSet, Structure, pair_list, periodic_widths

__all__ = ["CheckInput", "Finding", "check_cutoff", "check_data", "duplicate_groups", "format_findings",
           "read_check_input"]

#: cutoff used when neither a cutoff nor a potential is given, Å (gafit's default for pair forms)
DEFAULT_CUTOFF = 6.0
#: a force or stress component below this counts as exactly zero (eV/Å, eV/Å³)
ZERO = 1e-8
#: groups whose lowest energies per atom differ by more than this are on different scales, eV/atom
ENERGY_GAP = 0.5
#: eV/Å³ in GPa and kbar
_GPA = 160.21766208
_KBAR = 1602.1766208


@dataclass
class Finding:
    """One result of :func:`check_data`: severity ``warning`` or ``info``, a check name, a one-line
    message and the indices of the structures concerned."""

    severity: str
    check: str
    message: str
    structures: list[int] = field(default_factory=list)

    def __str__(self) -> str:
        return f"{self.severity}: {self.message}"


# --------------------------------------------------------------------------- helpers


def _source(st: Structure) -> str:
    """The file a structure came from: info['file'] or the part of its name before ':'."""
    if "file" in st.info:
        return str(st.info["file"])
    name, colon, _ = st.name.rpartition(":")
    return name if colon else ""


def _counts(refset: ReferenceSet, idx: Sequence[int], sources: Sequence[str] | None = None) -> str:
    """'Surface: 2, Vacancy: 1' (config_type counts, prefixed by the file when several)."""
    multi = sources is not None and len(set(sources)) > 1
    c = Counter((f"{sources[i]} " if multi and sources else "") + refset[i].config_type for i in idx)
    return ", ".join(f"{k}: {n}" for k, n in sorted(c.items(), key=lambda kv: (-kv[1], kv[0])))


def _n(k: int, word: str = "structure") -> str:
    return f"{k} {word}{'' if k == 1 else 's'}"


def _v(k: int, plural: str, singular: str) -> str:
    """The verb agreeing with a count: _v(1, 'have', 'has') == 'has'."""
    return singular if k == 1 else plural


def _who(refset: ReferenceSet, idx: Sequence[int], sources: Sequence[str], plural: str, singular: str
         ) -> str:
    """'3 structures (Surface: 2, Vacancy: 1) have' with the verb agreeing with the count."""
    return f"{_n(len(idx))} ({_counts(refset, idx, sources)}) {_v(len(idx), plural, singular)}"


def _label(refset: ReferenceSet, i: int) -> str:
    return refset[i].name or f"#{i}"


def _interaction_cutoff(potential: Potential) -> float:
    """Largest interaction range of a potential's forms (Tersoff: max R + D), Å."""
    cut = 0.0
    for form, sl in zip(potential.forms, potential.form_slices(), strict=True):
        cut = max(cut, float(form.interaction_range(potential.values[sl][None])))
    return cut


def _widths(st: Structure) -> np.ndarray:
    """Perpendicular widths (Å) of the cell along its periodic directions."""
    return periodic_widths(st.atoms.cell.array, st.atoms.pbc)


# --------------------------------------------------------------------------- zero targets


def _zero_by_symmetry(st: Structure, symprec: float = 1e-4) -> bool:
    """True when the site symmetry of every atom forbids a force (so zero forces are expected)."""
    atoms = st.atoms
    if len(atoms) == 1:
        return True
    if not all(atoms.pbc) or atoms.cell.rank != 3:
        return False
    import spglib

    lat = np.array(atoms.cell)
    frac = atoms.get_scaled_positions()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)
        sym = spglib.get_symmetry((lat, frac, atoms.numbers), symprec=symprec)
    if sym is None:
        return False
    rots, trans = np.asarray(sym["rotations"], float), np.asarray(sym["translations"], float)
    inv_t = np.linalg.inv(lat.T)
    rc = np.einsum("ab,obc,cd->oad", lat.T, rots, inv_t)  # Cartesian rotations
    tol = 10 * symprec * max(np.linalg.norm(lat, axis=1))
    for x in frac:
        d = np.einsum("oab,b->oa", rots, x) + trans - x
        d -= np.round(d)
        site = np.linalg.norm(d @ lat, axis=1) < tol
        if np.abs(rc[site].mean(axis=0)).max() > 1e-6:
            return False
    return True


def _check_zero(refset: ReferenceSet, sources: list[str]) -> list[Finding]:
    out: list[Finding] = []
    with_f = [i for i, s in enumerate(refset) if s.forces is not None]
    zero_f = [i for i in with_f if np.abs(refset[i].forces).max(initial=0.0) <= ZERO]
    if zero_f:
        sym = [i for i in zero_f if _zero_by_symmetry(refset[i])]
        odd = [i for i in zero_f if i not in set(sym)]
        if odd and len(zero_f) == len(with_f) and len(with_f) > 1:
            out.append(Finding("warning", "zero-forces",
                               f"every force is exactly zero in all {len(with_f)} structures with forces "
                               f"({_counts(refset, with_f, sources)}): forces probably not stored; zeros "
                               "are fitted as targets (remove them or set [weights] forces = 0)", with_f))
        elif odd:
            out.append(Finding("warning", "zero-forces",
                               f"{_who(refset, odd, sources, 'have', 'has')} every force exactly "
                               "zero although their symmetry allows forces: missing forces stored as "
                               f"zeros? (e.g. {_label(refset, odd[0])})", odd))
        if sym:
            out.append(Finding("info", "zero-forces",
                               f"{_who(refset, sym, sources, 'have', 'has')} zero forces, as "
                               "their symmetry requires", sym))
    zero_s = [i for i, s in enumerate(refset) if s.stress is not None and np.abs(s.stress).max() <= ZERO]
    if zero_s:
        out.append(Finding("warning", "zero-stress",
                           f"{_who(refset, zero_s, sources, 'have', 'has')} a stress of "
                           "exactly zero in all six components: missing stress stored as zeros? (zeros "
                           "are fitted as targets)", zero_s))
    no_3d = [i for i, s in enumerate(refset) if s.stress is not None and not all(s.atoms.pbc)]
    if no_3d:
        out.append(Finding("info", "stress",
                           f"{_who(refset, no_3d, sources, 'carry', 'carries')} a stress "
                           f"but {_v(len(no_3d), 'are', 'is')} "
                           "not periodic in 3 directions: their stress is not fitted", no_3d))
    return out


# --------------------------------------------------------------------------- small cells


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


# --------------------------------------------------------------------------- duplicates


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


# --------------------------------------------------------------------------- energy scales


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


# --------------------------------------------------------------------------- stress vs energy


def _strain(h: np.ndarray, dh: np.ndarray) -> np.ndarray:
    """Incremental strain sym(h⁻¹ dh) (..., 3, 3) of cells h (rows are lattice vectors) changed by dh."""
    g = np.linalg.solve(h, dh)
    return 0.5 * (g + np.swapaxes(g, -1, -2))


#: stored stress / stress implied by the energies -> likely cause
_CANDIDATES = (
    (1.0, ""),
    (-1.0, "sign flipped: positive = compressive (VASP/QE convention); gafit expects ASE's positive = "
           "tensile"),
    (_GPA, "values in GPa stored as eV/Å³"),
    (-_GPA, "values in GPa stored as eV/Å³, and sign flipped"),
    (_KBAR, "values in kbar stored as eV/Å³"),
    (-_KBAR, "values in kbar stored as eV/Å³, and sign flipped (VASP's raw stress)"),
    (1 / _GPA, "values in eV/Å³ read as GPa (CSV files expect GPa)"),
    (-1 / _GPA, "values in eV/Å³ read as GPa, and sign flipped"),
    (10.0, "values in kbar read as GPa"),
    (-10.0, "values in kbar read as GPa, and sign flipped"),
    (0.1, "values in GPa read as kbar"),
    (-0.1, "values in GPa read as kbar, and sign flipped"),
    (1000.0, "values in MPa read as GPa"),
    (-1000.0, "values in MPa read as GPa, and sign flipped"),
)
_SHEAR_NAMES = ("yz", "xz", "xy")
_SHEAR_PERMS = ((0, 1, 2), (1, 0, 2), (0, 2, 1), (2, 1, 0), (1, 2, 0), (2, 0, 1))


@dataclass
class _Pairs:
    """Pairs (a, b) of nearby homogeneously strained structures of the same atoms: the energy change
    not due to the forces (eV), V·σ at both ends (pairs, 2, 6) in eV, the incremental strain of the
    straight path h_a -> h_b at both ends (pairs, 2, 6) as tensor components xx yy zz yz xz xy, the
    volume change (Å³) and the mean volume (Å³). The stress work is the trapezoid rule of
    ∫ V σ : dε along the path (exact to third order in the strain)."""

    work: np.ndarray
    vsig: np.ndarray
    eps: np.ndarray
    dv: np.ndarray
    vol: np.ndarray

    def select(self, mask: np.ndarray) -> _Pairs:
        return _Pairs(self.work[mask], self.vsig[mask], self.eps[mask], self.dv[mask], self.vol[mask])

    def stress_work(self, perm: Sequence[int] = (0, 1, 2)) -> np.ndarray:
        """½ Σ_ends V σ : dε (eV), with stored shear component perm[k] taken as shear k."""
        shear = self.vsig[:, :, 3:][:, :, list(perm)]
        per_end = ((self.vsig[:, :, :3] * self.eps[:, :, :3]).sum(-1)
                   + 2 * (shear * self.eps[:, :, 3:]).sum(-1))
        return 0.5 * per_end.sum(-1)

    def max_strain(self) -> np.ndarray:
        return np.abs(self.eps).max(axis=(1, 2))

    def max_shear(self) -> np.ndarray:
        return np.abs(self.eps[:, :, 3:]).max(axis=(1, 2))


_VOIGT_T = ([0, 1, 2, 1, 0, 0], [0, 1, 2, 2, 2, 1])


def _strained_pairs(refset: ReferenceSet, idx: list[int], max_strain: float = 0.03,
                    max_structures: int = 400) -> _Pairs:
    """Pairs (a, b) with 1e-4 <= max |Δε| <= max_strain and atoms that moved with the cell (internal
    displacements below 0.05 Å with forces on both, else below 0.01 Å)."""
    if len(idx) > max_structures:
        idx = [idx[k] for k in np.linspace(0, len(idx) - 1, max_structures).astype(int)]
    sts = [refset[i] for i in idx]
    h = np.array([np.array(s.atoms.cell) for s in sts])
    frac = np.array([s.atoms.get_scaled_positions(wrap=False) for s in sts])
    vol = np.abs(np.linalg.det(h))
    vsig = np.array([s.stress for s in sts]) * vol[:, None]
    e = np.array([s.energy for s in sts])
    forces = [s.forces for s in sts]
    rows: list[tuple] = []
    for a in range(len(sts) - 1):
        b = np.arange(a + 1, len(sts))
        dh = h[b] - h[a]
        eps_a = _strain(np.broadcast_to(h[a], dh.shape), dh)
        eps_b = _strain(h[b], dh)
        big = np.maximum(np.abs(eps_a).max(axis=(1, 2)), np.abs(eps_b).max(axis=(1, 2)))
        ok = (big >= 1e-4) & (big <= max_strain)
        for k in np.flatnonzero(ok):
            j = int(b[k])
            ds = frac[j] - frac[a]
            ds -= np.round(ds)
            u_a, u_b = ds @ h[a], ds @ h[j]
            umax = np.sqrt((u_b**2).sum(axis=1)).max()
            if forces[a] is not None and forces[j] is not None:
                if umax > 0.05:
                    continue
                p = -0.5 * float(np.sum(forces[a] * u_a) + np.sum(forces[j] * u_b))
            elif umax > 0.01:
                continue
            else:
                p = 0.0
            rows.append((e[j] - e[a] - p, np.array([vsig[a], vsig[j]]),
                         np.array([eps_a[k][_VOIGT_T], eps_b[k][_VOIGT_T]]),
                         vol[j] - vol[a], 0.5 * (vol[a] + vol[j])))
    if not rows:
        z = np.zeros(0)
        return _Pairs(z, np.zeros((0, 2, 6)), np.zeros((0, 2, 6)), z, z)
    w, vs, eps, dv, v = zip(*rows, strict=True)
    return _Pairs(np.array(w), np.array(vs), np.array(eps), np.array(dv), np.array(v))


def _robust_fit(x: np.ndarray, y: np.ndarray) -> tuple[np.ndarray, float]:
    """Huber-weighted least squares y ≈ x @ c; returns c and the median relative residual."""
    w = np.ones(len(y))
    c = np.zeros(x.shape[1])
    for _ in range(20):
        sw = np.sqrt(w)
        c = np.linalg.lstsq(x * sw[:, None], y * sw, rcond=None)[0]
        r = np.abs(y - x @ c)
        scale = max(1.4826 * float(np.median(r)), 1e-4)
        w = np.where(r < scale, 1.0, scale / np.maximum(r, 1e-300))
    rel = float(np.median(np.abs(y - x @ c) / np.maximum(np.abs(y), 1e-3)))
    return c, rel


def _stress_model(pairs: _Pairs, perm: Sequence[int], offset: bool = True) -> tuple[float, float, float]:
    """Factor f (stored/implied), isotropic offset of the stored stress (eV/Å³; only with ``offset``)
    and the median relative misfit, from work ≈ S/f − offset·ΔV/f over the pairs."""
    size = np.maximum(pairs.max_strain(), 1e-6)  # the trapezoid error grows as strain³: favour small steps
    s = pairs.stress_work(perm) / size
    x = np.column_stack([s, pairs.dv / size])
    work = pairs.work / size
    use_offset = offset and len(s) >= 4 and np.linalg.matrix_rank(x / np.maximum(np.abs(x).max(0), 1e-300),
                                                        tol=1e-3) == 2
    if use_offset:
        c, rel = _robust_fit(x, work)
        if c[0] != 0:
            c_s, rel_s = _robust_fit(x[:, :1], work)
            if rel_s <= 1.05 * rel:  # the offset explains nothing: keep the simpler model
                return (1 / c_s[0] if c_s[0] else math.inf), 0.0, rel_s
            return 1 / c[0], -c[1] / c[0], rel
    c, rel = _robust_fit(x[:, :1], work)
    return (1 / c[0] if c[0] else math.inf), 0.0, rel


def _near(f: float, c: float, tol: float = 1.3) -> bool:
    return f * c > 0 and abs(math.log(f / c)) < math.log(tol)


def _check_stress(refset: ReferenceSet, sources: list[str]) -> list[Finding]:
    groups: dict[tuple, list[int]] = defaultdict(list)
    for i, s in enumerate(refset):
        if s.stress is not None and s.energy is not None and all(s.atoms.pbc) \
                and np.abs(s.stress).max() > ZERO:
            groups[(sources[i], tuple(s.atoms.numbers))].append(i)
    out: list[Finding] = []
    multi = len(set(sources)) > 1
    for (src, _), idx in groups.items():
        if len(idx) < 2:
            continue
        wide = _strained_pairs(refset, idx, max_strain=0.12)
        if len(wide.work) < 2:
            continue
        formula = refset[idx[0]].atoms.get_chemical_formula()
        where = f"{src + ' ' if multi and src else ''}{formula} ({_counts(refset, idx)})"
        # shear components: which order of the stored shear stresses fits the energies best
        perm: Sequence[int] = (0, 1, 2)
        shear = wide.select(wide.max_shear() > 1e-3)
        if len(shear.work) >= 3:
            fits = {p: _stress_model(shear, p)[2] for p in _SHEAR_PERMS}
            best = min(fits, key=lambda p: fits[p])
            if best != perm and fits[best] < 0.25 and fits[best] < 0.5 * fits[perm]:
                order = " ".join(_SHEAR_NAMES[k] for k in np.argsort(best))
                out.append(Finding("warning", "stress",
                                   f"{where}: the shear stresses fit the energies of {len(shear.work)} "
                                   f"pairs of sheared structures only when read in the order {order} "
                                   f"(misfit {100 * fits[best]:.0f} % instead of {100 * fits[perm]:.0f} %): "
                                   "shear components swapped? ASE's Voigt order is xx yy zz yz xz xy", idx))
                perm = best
        narrow = wide.select(wide.max_strain() <= 0.03)
        pairs = narrow if len(narrow.work) >= 2 else wide
        # over strains up to 12 % the trapezoid rule's error (third derivative of E(strain) times
        # strain cubed / 12) looks like an offset of a GPa in exact data: an offset from small steps only
        f, off, rel = _stress_model(pairs, perm, offset=pairs is narrow)
        basis = f"from {len(pairs.work)} pairs of strained structures, misfit {100 * rel:.0f} %"
        # steps above 3 % strain: the trapezoid rule alone misses tens of % of exact energy changes,
        # enough to tell a flipped sign or wrong units, not a 30 % error
        coarse = pairs is not narrow
        if coarse:
            basis += "; strain steps above 3 %: only sign and units are checked"
        good = rel < (0.5 if coarse else 0.25)
        if good and _near(f, 1.0, 2.0 if coarse else 1.3):
            off_gpa = off * _GPA
            if abs(off_gpa) > 0.5:
                out.append(Finding("warning", "stress",
                                   f"{where}: stresses are offset by {off_gpa:+.3g} GPa (isotropic) from "
                                   f"the slope of the energies ({basis}): a Pulay (basis-set) stress? fit "
                                   "the energies, and weight these stresses low or shift them", idx))
            elif perm == (0, 1, 2):
                out.append(Finding("info", "stress",
                                   f"{where}: stresses agree with the energy changes under strain "
                                   f"(stored/implied = {f:.3g}; {basis})", idx))
            continue
        vol = float(np.median(pairs.vol))
        cands = [*_CANDIDATES, (vol, "a virial (eV) stored as a stress: not divided by the volume"),
                 (-vol, "a virial (eV) stored as a stress, not divided by the volume, sign flipped")]
        best_c, why = min(cands, key=lambda c: abs(math.log(abs(f / c[0]))) if f * c[0] > 0 else math.inf)
        if good and _near(f, best_c) and best_c != 1.0:
            out.append(Finding("warning", "stress",
                               f"{where}: stresses are {f:.4g} × what the energy changes under strain "
                               f"imply ({basis}): {why}", idx))
        else:
            out.append(Finding("warning", "stress",
                               f"{where}: stresses disagree with the energy changes under strain "
                               f"(stored/implied ≈ {f:.3g}, {basis}): wrong sign, units, component order "
                               "or data?", idx))
    return out


# --------------------------------------------------------------------------- undetermined parameters


def _check_determined(refset: ReferenceSet, species: list[str], cutoff: float,
                      potential: Potential | None, sources: list[str]) -> list[Finding]:
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
    three_body = potential is not None and any(f.body_order >= 3 for f in potential.forms)
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
    missing = [(a, b) for a, b in combinations_with_replacement([s for s in species if s in present], 2)
               if (a, b) not in dmin and (b, a) not in dmin]
    if missing:
        names = ", ".join(f"{a}-{b}" for a, b in missing)
        out.append(Finding("warning", "undetermined",
                           f"no {names} pair is closer than the cutoff {cutoff:g} Å in any structure: "
                           f"the {names} pair parameters are undetermined", []))
    if dmin:
        text = "; ".join(f"{a}-{b} from {v:.3g} Å ({npairs[(a, b)] // 2} pairs)"
                         for (a, b), v in dmin.items())
        out.append(Finding("info", "distances", f"pairs within {cutoff:g} Å: {text}", []))
    if three_body:
        sp = [s for s in species if s in present]
        miss3 = [(a, b, c) for a in sp for b in sp for c in sp if (a, b, c) not in triplets]
        if miss3:
            out.append(Finding("warning", "undetermined",
                               f"three-body entries {', '.join('-'.join(t) for t in miss3)}: no atom of the "
                               f"first species has two neighbours of the other two within {cutoff:g} Å, so "
                               "their three-body parameters (gamma, lambda3, c, d, costheta0) are "
                               "undetermined", []))
    # energies that E0 alone can fit exactly
    e_idx = [i for i, s in enumerate(refset) if s.energy is not None]
    n_f = sum(3 * s.n_atoms for s in refset if s.forces is not None)
    n_s = sum(6 for s in refset if s.stress is not None and all(s.atoms.pbc))
    if e_idx:
        counts = np.array([[Counter(refset[i].atoms.get_chemical_symbols())[s] for s in species]
                           for i in e_idx], float)
        if np.linalg.matrix_rank(counts) >= len(e_idx):
            sev = "warning" if n_f == 0 and n_s == 0 else "info"
            tail = ("and there are no forces or stresses: nothing determines the potential's parameters"
                    if sev == "warning" else "so the energies do not constrain the potential's parameters "
                    "(forces and stresses do)")
            out.append(Finding(sev, "undetermined",
                               f"the {_n(len(e_idx), 'energy')} can be matched exactly by the per-species "
                               f"E0 offsets alone (no two structures share a composition), {tail}", e_idx))
    if potential is not None:
        n_par = potential.n_params - len(potential.species)
        n_targets = len(e_idx) + n_f + n_s
        if n_targets < n_par:
            out.append(Finding("warning", "undetermined",
                               f"{n_targets} target values (energies, force and stress components) for up "
                               f"to {n_par} potential parameters: the fit is underdetermined", []))
    return out


# --------------------------------------------------------------------------- repulsive walls


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


# --------------------------------------------------------------------------- entry point


def check_data(refset: ReferenceSet, cutoff: float | None = None, species: Sequence[str] | None = None,
               potential: Potential | None = None, sources: Sequence[str] | None = None,
               walls: bool = False) -> list[Finding]:
    """Findings about ``refset`` (warnings first).

    ``cutoff`` (Å): the interaction range; default the potential's (Tersoff: max R + D), else 6 Å.
    ``species``: those the potential will have (default the potential's, else the data's).
    ``potential``: a :class:`~gafit.potential.Potential` (for cutoffs, three-body entries, parameter
    counts). ``sources``: the file of each structure (default: the part of its name before ':').
    ``walls``: also check the potential's repulsive walls against the data's shortest distances
    (:mod:`gafit.walls`) and its E0 offsets against the data's energies
    (:func:`gafit.stability.e0_plausibility`): for a potential with its final values, not a fit's start.
    """
    if len(refset) == 0:
        return [Finding("warning", "empty", "no structures", [])]
    if cutoff is None:
        cutoff = _interaction_cutoff(potential) if potential is not None else DEFAULT_CUTOFF
        what = "the potential's cutoff" if potential is not None else "cutoff"
    else:
        what = "cutoff"
    check_neighbour_work(refset, cutoff, what)
    data_species = refset.species
    if species is None:
        species = list(potential.species) if potential is not None else data_species
    species = list(species)
    src = list(sources) if sources is not None else [_source(s) for s in refset]
    findings = [_summary(refset, src)]
    findings += _check_zero(refset, src)
    findings += _check_cells(refset, cutoff, src)
    findings += _check_duplicates(refset, src)
    findings += _check_energies(refset, data_species, src)
    findings += _check_stress(refset, src)
    findings += _check_determined(refset, species, cutoff, potential, src)
    if walls and potential is not None:
        findings += _check_walls(refset, potential)
        findings += _check_e0(refset, potential)
    return sorted(findings, key=lambda f: f.severity != "warning")


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


def format_findings(findings: Sequence[Finding], refset: ReferenceSet | None = None,
                    verbose: bool = False, max_names: int = 10) -> str:
    """One line per finding, warnings first; ``verbose`` adds the names of the structures concerned."""
    lines = []
    for sev in ("warning", "info"):
        for f in findings:
            if f.severity != sev:
                continue
            lines.append(str(f))
            if verbose and refset is not None and f.structures:
                names = [_label(refset, i) for i in f.structures[:max_names]]
                more = len(f.structures) - len(names)
                lines.append("    " + ", ".join(names) + (f", ... ({more} more)" if more > 0 else ""))
    n_warn = sum(f.severity == "warning" for f in findings)
    lines.append(f"{_n(n_warn, 'warning')}" if n_warn else "no warnings")
    return "\n".join(lines)


@dataclass
class CheckInput:
    """What ``gafit check`` checks: the structures, the file each came from (``sources``), the names of
    the data files read, and the potential (given, or the fit config's start), if any."""

    data: ReferenceSet
    sources: list[str]
    names: list[str]
    potential: Potential | None


def read_check_input(paths: Sequence[str | Path] = (), config: str | Path | None = None,
                     index: str = ":", potential: Potential | None = None) -> CheckInput:
    """The data files ``paths`` (``index``: the structures to read from each, ASE-style), checked
    together as one training set, or the training data of the fit ``config`` (without its validation
    data) and, when no ``potential`` is given, the config's potential at its start values."""
    if config is not None:
        from gafit.config import load_config
        from gafit.fit_data import build_potential, read_data

        fit_config = load_config(config)
        data, _ = read_data(fit_config)
        if potential is None:
            potential = build_potential(fit_config, data)
        return CheckInput(data, [_source(s) for s in data], [str(f.path) for f in fit_config.data.train],
                          potential)
    from gafit.io import read_reference

    sets = [read_reference(path, index) for path in paths]
    data = sets[0]
    for more in sets[1:]:
        data = data + more
    sources = [Path(path).name for path, part in zip(paths, sets, strict=True) for _ in part]
    return CheckInput(data, sources, [str(p) for p in paths], potential)


def check_cutoff(cutoff: float | None, potential: Potential | None) -> float:
    """The interaction range :func:`check_data` uses, Å: ``cutoff``, else the potential's, else
    :data:`DEFAULT_CUTOFF`."""
    return cutoff or (_interaction_cutoff(potential) if potential is not None else DEFAULT_CUTOFF)
