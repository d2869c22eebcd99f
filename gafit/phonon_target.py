"""Phonon frequencies as fit targets.

The reference is a phonopy data set (``phonopy_disp.yaml`` or ``phonopy.yaml`` with ``FORCE_SETS`` or
force constants beside it). Its unit cell and supercell are gafit's too: the displaced supercells are
fixed structures, built and tabulated once, and every individual of a population costs one batched
force evaluation, one matrix product and a few small eigenproblems (:class:`gafit.phonons.PhononBatch`).

Residuals compare sorted frequencies at each chosen q-point (THz), which stays correct where bands
cross; the acoustic modes at Γ (zero by symmetry) are left out.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from gafit.phonons import POINTS, PhononBatch, lattice_type, load_reference, to_ase_atoms
from gafit.potential import Potential
from gafit.structures import GafitInputError, Structure

#: reference frequencies below this (THz) at Γ are the acoustic modes: not fitted
ACOUSTIC_THZ = 0.5


@dataclass
class PhononTargetConfig:
    reference: Path
    qpoints: str = "GXLWK"  # letters of high-symmetry points of the crystal's lattice
    weight: float = 1.0  # on THz²
    displacement: float = 0.01  # Å
    # > 0: also fit zero stress on the reference's undisplaced supercell (with this structure
    # weight), so the potential's own lattice constant stays at the one the phonons were computed at
    equilibrium_weight: float = 0.0


@dataclass
class PhononTarget:
    """Frequencies at fixed q-points of a reference phonopy data set."""

    config: PhononTargetConfig
    labels: list[str]
    qpoints: np.ndarray  # (n_q, 3) reduced, primitive reciprocal basis
    reference: np.ndarray  # (n_q, n_modes) THz, sorted
    batch: PhononBatch
    mask: np.ndarray = field(init=False)  # (n_q, n_modes) frequencies that are fitted

    def __post_init__(self) -> None:
        gamma = np.all(np.abs(self.qpoints) < 1e-9, axis=1)
        self.mask = ~(gamma[:, None] & (np.abs(self.reference) < ACOUSTIC_THZ))

    @classmethod
    def build(cls, potential: Potential, config: PhononTargetConfig) -> PhononTarget:
        ref = load_reference(config.reference)
        if ref.phonopy is None:
            raise GafitInputError(f"{config.reference}: phonon targets need a phonopy data set "
                                  "(phonopy_disp.yaml or phonopy.yaml with FORCE_SETS or force "
                                  "constants), which fixes the unit cell and the supercell")
        ph = ref.phonopy
        unitcell = to_ase_atoms(ph.unitcell)
        ltype, _ = lattice_type(unitcell)
        points = POINTS.get(ltype)
        if points is None:
            raise GafitInputError(f"{config.reference}: no table of high-symmetry points for "
                                  f"lattice type {ltype}")
        labels = ["Γ" if c in "GΓ" else c for c in config.qpoints.replace("|", "")]
        unknown = [c for c in labels if c not in points]
        if unknown:
            raise GafitInputError(f"[phonons] qpoints: {unknown} are not high-symmetry points of "
                                  f"this lattice ({', '.join(points)})")
        q = np.array([points[c] for c in labels], float)
        batch = PhononBatch(potential, unitcell, ph.supercell_matrix, q, config.displacement)
        return cls(config, labels, q, ref.frequencies_at(q), batch)

    def equilibrium_structure(self) -> Structure | None:
        """The undisplaced supercell with a zero-stress target, or None when not asked for."""
        if self.config.equilibrium_weight <= 0:
            return None
        atoms = to_ase_atoms(self.batch.phonopy.supercell)
        atoms.pbc = True
        return Structure(atoms, stress=np.zeros(6), weight=self.config.equilibrium_weight,
                         config_type="phonon-equilibrium", name=f"{self.config.reference}:supercell")

    def differences(self, theta: np.ndarray) -> np.ndarray:
        """gafit minus reference frequencies (B, n_fitted) THz for full vectors theta (B, n)."""
        freq = self.batch.frequencies(theta)
        return (freq - self.reference)[:, self.mask]

    def table(self, theta: np.ndarray) -> list[dict]:
        """Per q-point: label, gafit and reference frequencies (THz), RMS error over all modes."""
        freq = self.batch.frequencies(np.atleast_2d(theta))[0]
        return [{"label": lab, "gafit": f.tolist(), "reference": r.tolist(),
                 "rms": float(np.sqrt(np.mean((f - r) ** 2)))}
                for lab, f, r in zip(self.labels, freq, self.reference, strict=True)]
