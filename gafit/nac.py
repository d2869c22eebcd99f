"""Non-analytic correction (LO–TO splitting) of polar crystals for gafit's models, phonopy's way.

A potential with a Coulomb term is a rigid-ion model: the Born effective charge of atom k is its charge,
Z*_k = q_k 1 (e), and its high-frequency dielectric tensor ε∞ is given by the user: 1 for bare rigid ions
(the default), or the tensor of the BORN file beside a DFT reference. They are handed to phonopy as
``nac_params`` with ``factor`` = e²/(4πε₀) in eV·Å, the constant the model's charges interact with
(LAMMPS's ``qqr2e``, :data:`gafit.coulomb.QQR2E`; phonopy's default for eV/Å force constants,
Hartree·Bohr, and the BORN files' 14.400 are the same constant to 3e-8 and 3e-5). phonopy then applies its
default Gonze–Lee method: at Γ approached along q̂ it adds (4π/Ω) (q̂·Z_k)(q̂·Z_k') / (q̂·ε∞·q̂) / √(m_k m_k')
(times the factor), and away from Γ it subtracts the dipole–dipole part at the supercell's commensurate
points and adds it back at q.

For fits, that term is a quadratic form in the species' charges at fixed ε∞ (:class:`NacTerm`): its
coefficient matrices come from phonopy's own code (zero force constants, unit charges) once per q-point.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
from phonopy import Phonopy

from gafit.coulomb import QQR2E
from gafit.potential import Potential
from gafit.structures import GafitInputError

__all__ = ["NAC_FACTOR", "NacTerm", "charge_indices", "dielectric_tensor", "epsilon_text",
           "gamma_directions", "model_nac_params", "parse_epsilon", "path_directions",
           "set_model_nac"]

#: e²/(4πε₀) in eV·Å: phonopy's NAC unit factor for charges in e, lengths in Å, force constants in eV/Å²
NAC_FACTOR = QQR2E
#: |q| (reduced, any reciprocal lattice vector away) below which a q-point is Γ
GAMMA_TOL = 1e-9

Epsilon = float | str | None  # a number (isotropic ε∞), "born", or None (no NAC)


def parse_epsilon(value: Any, where: str) -> Epsilon:
    """ε∞ as given by a user: a positive number, "born" (the reference's BORN file) or "none" (no NAC)."""
    number = value
    if isinstance(value, str):
        text = value.strip().lower()
        if text in ("born", "none"):
            return None if text == "none" else "born"
        try:
            number = float(text)
        except ValueError:
            number = None
    ok = isinstance(number, int | float) and not isinstance(number, bool) and 0 < number < np.inf
    if not ok:
        raise GafitInputError(f"{where} = {value!r}: expected a positive number (ε∞), \"born\" (the "
                              "dielectric tensor of the BORN file beside the reference) or \"none\"")
    return float(number)  # type: ignore[arg-type]


def coulomb_charges(potential: Potential) -> tuple[slice, list[str]] | None:
    """The slice of the Coulomb charges in a full parameter vector and their species, or None."""
    for form, sl in zip(potential.forms, potential.form_slices(), strict=True):
        if form.name == "coulomb":
            return sl, list(form.species)
    return None


def charge_indices(potential: Potential, symbols: Sequence[str]) -> np.ndarray | None:
    """Index into a full parameter vector of each atom's charge (by its species), or None when the
    potential has no Coulomb term."""
    found = coulomb_charges(potential)
    if found is None:
        return None
    sl, species = found
    return np.array([sl.start + species.index(s) for s in symbols], int)


def dielectric_tensor(spec: Epsilon, reference: Any = None, primitive: Any = None,
                      where: str = "--epsilon-inf") -> np.ndarray | None:
    """ε∞ (3, 3) from ``spec``: a number times the identity, or (``"born"``) the dielectric tensor of
    the reference: its phonopy NAC parameters, else a BORN file beside its ``source`` (parsed with
    phonopy for ``primitive``); None for no NAC."""
    if spec is None:
        return None
    if not isinstance(spec, str):
        return float(spec) * np.eye(3)
    if reference is None:
        raise GafitInputError(f"{where} born: takes ε∞ from the BORN file beside a reference; there is "
                              "no reference")
    ph = getattr(reference, "phonopy", None)
    if ph is not None and ph.nac_params is not None:
        return np.array(ph.nac_params["dielectric"], float)
    born = Path(reference.source).parent / "BORN"
    if not born.exists() or primitive is None:
        raise GafitInputError(f"{where} born: no BORN file beside {reference.source}; give ε∞ as a "
                              "number")
    from phonopy.file_IO import parse_BORN

    try:
        return np.array(parse_BORN(primitive, filename=str(born))["dielectric"], float)
    except Exception as err:
        raise GafitInputError(f"{born}: phonopy cannot read it ({' '.join(str(err).split())})") from None


def epsilon_text(dielectric: np.ndarray | None, spec: Epsilon) -> str:
    """'ε∞ = 1 (rigid ion)', 'ε∞ = 3.381 (BORN)', 'ε∞ = diag(...) (BORN)' or 'no NAC'."""
    if dielectric is None:
        return "no NAC"
    d = np.asarray(dielectric, float)
    value = (f"{d[0, 0]:.4g}" if np.allclose(d, d[0, 0] * np.eye(3), atol=1e-8)
             else "diag(" + ", ".join(f"{x:.4g}" for x in np.diag(d)) + ")")
    source = "BORN" if spec == "born" else "rigid ion" if np.allclose(d, np.eye(3)) else "given"
    return f"ε∞ = {value} ({source})"


def model_nac_params(charges_k: np.ndarray, dielectric: np.ndarray) -> dict[str, Any]:
    """phonopy ``nac_params`` of a rigid-ion model: Born charges q_k 1 (e) per primitive atom, ε∞ (3, 3),
    factor e²/(4πε₀) (eV·Å)."""
    born = np.asarray(charges_k, float)[:, None, None] * np.eye(3)[None]
    return {"born": born, "dielectric": np.asarray(dielectric, float), "factor": NAC_FACTOR}


def set_model_nac(ph: Phonopy, potential: Potential, dielectric: np.ndarray | None) -> np.ndarray | None:
    """Give ``ph`` (force constants set) the model's NAC parameters; returns the charges of its
    primitive atoms (e), or None (no Coulomb term, all charges zero, or no ε∞: ph left alone)."""
    idx = charge_indices(potential, list(ph.primitive.symbols))
    if idx is None or dielectric is None:
        return None
    q_k = potential.values[idx]
    if not np.any(q_k):
        return None
    ph.nac_params = model_nac_params(q_k, dielectric)
    return q_k


def is_gamma(q: np.ndarray) -> np.ndarray:
    """Whether each reduced q (..., 3) is Γ or a reciprocal lattice vector."""
    q = np.asarray(q, float)
    return np.abs(q - np.round(q)).max(axis=-1) < GAMMA_TOL


def path_directions(segments: Sequence[np.ndarray], cell: np.ndarray) -> np.ndarray:
    """phonopy's band-structure q-directions (n_q, 3), reduced: a segment on a line through Γ gives
    all its points the direction start - end; NaN rows for points of other segments."""
    from phonopy.harmonic.dynamical_matrix import DynamicalMatrixNAC

    rec = np.linalg.inv(np.asarray(cell, float))  # columns: reciprocal basis (no 2π)
    out = []
    for seg in segments:
        seg = np.atleast_2d(seg)
        d = np.full((len(seg), 3), np.nan)
        if np.linalg.norm(np.cross(rec @ seg[0], rec @ seg[-1])) < DynamicalMatrixNAC.Q_DIRECTION_TOLERANCE:
            d[:] = seg[0] - seg[-1]
        out.append(d)
    return np.concatenate(out)


def gamma_directions(qpoints: np.ndarray, given: Sequence[float] | None = None) -> np.ndarray:
    """q-directions (n_q, 3) for separate reduced q-points: at each Γ, ``given`` or the direction to the
    next point (the previous one for the last), as a band through them approaches Γ; NaN rows
    elsewhere and at a Γ with no other point."""
    q = np.atleast_2d(np.asarray(qpoints, float))
    out = np.full(q.shape, np.nan)
    for k in np.flatnonzero(is_gamma(q)):
        if given is not None:
            out[k] = given
            continue
        others = [j for j in (*range(k + 1, len(q)), *range(k - 1, -1, -1)) if not is_gamma(q[j])]
        if others:
            out[k] = q[others[0]] - q[k]
    return out


def direction_text(direction: np.ndarray | None) -> str:
    """'0.5 0 0.5' for a reduced q-direction, '' for none."""
    if direction is None or not np.all(np.isfinite(direction)):
        return ""
    return " ".join(f"{x + 0.0:.4g}" for x in np.asarray(direction, float))  # no "-0"


class NacTerm:
    """The non-analytic part of the dynamical matrices at fixed q-points (with their q-directions) as a
    quadratic form in the charges: D_nac(q) = Σ_{a≤b} θ_a θ_b C_ab(q), θ the full parameter vector.

    At fixed ε∞ phonopy's Gonze–Lee term is bilinear in the Born charges (Z*_k = q_k 1), including the
    dipole–dipole part it subtracts from the force constants at the commensurate points, so C_ab is
    phonopy's own dynamical matrix for zero force constants and unit charges on the atoms of species a
    (and b), polarised.
    """

    def __init__(self, ph: Phonopy, index_k: np.ndarray, dielectric: np.ndarray,
                 qpoints: np.ndarray, directions: np.ndarray | None = None):
        from phonopy.harmonic.dynamical_matrix import get_dynamical_matrix

        q = np.atleast_2d(np.asarray(qpoints, float))
        dirs = np.full(q.shape, np.nan) if directions is None else np.asarray(directions, float)
        fc0 = np.zeros_like(np.asarray(ph.force_constants, float))

        def probe(z_k: np.ndarray) -> np.ndarray:
            dm = get_dynamical_matrix(fc0, ph.supercell, ph.primitive,
                                      nac_params=model_nac_params(z_k, dielectric))
            out = []
            for qk, dk in zip(q, dirs, strict=True):
                dm.run(qk, q_direction=dk if np.all(np.isfinite(dk)) else None)
                out.append(np.array(dm.dynamical_matrix))
            return np.array(out)

        species = sorted(set(index_k.tolist()))
        single = {a: probe((index_k == a).astype(float)) for a in species}
        pairs, mats = [], []
        for i, a in enumerate(species):
            pairs.append((a, a))
            mats.append(single[a])
            for b in species[i + 1:]:
                pairs.append((a, b))
                mats.append(probe(((index_k == a) | (index_k == b)).astype(float)) - single[a] - single[b])
        self.pairs = np.array(pairs, int)  # (n_pairs, 2) indices into θ
        self.matrices = np.array(mats)  # (n_pairs, n_q, n_modes, n_modes), eV/(Å² AMU) per e²
        self.dielectric = np.asarray(dielectric, float)
        self.directions = dirs

    def dynamical_matrices(self, theta: np.ndarray) -> np.ndarray:
        """The non-analytic part (B, n_q, n_modes, n_modes) for full parameter vectors θ (B, n)."""
        theta = np.atleast_2d(np.asarray(theta, float))
        w = theta[:, self.pairs[:, 0]] * theta[:, self.pairs[:, 1]]  # (B, n_pairs)
        return np.einsum("bp,pqij->bqij", w, self.matrices)

    def derivatives(self, theta: np.ndarray, dtheta: np.ndarray) -> np.ndarray:
        """d(non-analytic part)/dx (n_x, n_q, n_modes, n_modes) at one full vector θ (n,), along
        dtheta = dθ/dx (n, n_x): the product rule on each θ_a θ_b."""
        a, b = self.pairs[:, 0], self.pairs[:, 1]
        w = dtheta[a].T * theta[b] + theta[a] * dtheta[b].T  # (n_x, n_pairs)
        return np.einsum("xp,pqij->xqij", w, self.matrices)
