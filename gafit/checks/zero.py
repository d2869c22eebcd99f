"""``zero-forces`` / ``zero-stress``: targets exactly zero where symmetry does not require it."""

from __future__ import annotations

import warnings

import numpy as np

from gafit.checks._text import _counts, _label, _v, _who
from gafit.checks.finding import Finding
from gafit.structures import ReferenceSet, Structure

#: a force or stress component below this counts as exactly zero (eV/Å, eV/Å³)
ZERO = 1e-8


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
