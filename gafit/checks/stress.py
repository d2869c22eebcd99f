"""``stress``: stresses whose sign or unit disagrees with the energy differences between homogeneously
strained structures (ΔE ≈ ½ (V₁σ₁ + V₂σ₂) : Δε − ½ Σ (F₁ + F₂)·Δu)."""

from __future__ import annotations

import math
from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from gafit.checks._text import _counts
from gafit.checks.finding import Finding
from gafit.checks.zero import ZERO
from gafit.structures import ReferenceSet

#: eV/Å³ in GPa and kbar
_GPA = 160.21766208
_KBAR = 1602.1766208


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
