"""Reference structures and their DFT targets.

Units: positions and cells in Å, energy in eV (total), forces in eV/Å, stress in eV/Å³ in the ASE
convention (positive = tensile, Voigt order xx yy zz yz xz xy). A target that is ``None`` is absent:
it contributes no residual, it is never taken as zero.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field

import numpy as np
from ase import Atoms
from ase.units import GPa

#: multiply a stress in GPa by this to get eV/Å³
GPA_TO_EV_A3 = GPa
EV_A3_TO_GPA = 1.0 / GPa


class GafitInputError(ValueError):
    """A user-facing input problem; the message names the file, line, column or key at fault."""


class GafitResultError(RuntimeError):
    """A fit ran to its end but its result means nothing (a loss or RMSE that is not finite); the
    command line prints the message and exits with code 3."""


@dataclass
class Structure:
    """One reference configuration with its (optional) DFT targets."""

    atoms: Atoms
    energy: float | None = None
    forces: np.ndarray | None = None  # (n_atoms, 3) eV/Å
    stress: np.ndarray | None = None  # (6,) eV/Å³, ASE sign and Voigt order
    weight: float = 1.0
    config_type: str = "default"
    name: str = ""
    info: dict = field(default_factory=dict)

    def __post_init__(self) -> None:
        n = len(self.atoms)
        if self.forces is not None:
            self.forces = np.asarray(self.forces, dtype=float).reshape(n, 3)
        if self.stress is not None:
            s = np.asarray(self.stress, dtype=float)
            if s.shape == (3, 3):
                s = s[[0, 1, 2, 1, 0, 0], [0, 1, 2, 2, 2, 1]]
            self.stress = s.reshape(6)
        if self.energy is not None:
            self.energy = float(self.energy)

    @property
    def n_atoms(self) -> int:
        return len(self.atoms)

    @property
    def periodic(self) -> bool:
        return bool(np.any(self.atoms.pbc))


@dataclass
class ReferenceSet:
    """An ordered collection of reference structures (the training or validation data)."""

    structures: list[Structure]
    source: str = ""

    def __len__(self) -> int:
        return len(self.structures)

    def __iter__(self) -> Iterator[Structure]:
        return iter(self.structures)

    def __getitem__(self, i: int) -> Structure:
        return self.structures[i]

    @property
    def species(self) -> list[str]:
        """Chemical symbols present, in order of first appearance."""
        seen: dict[str, None] = {}
        for s in self.structures:
            for sym in s.atoms.get_chemical_symbols():
                seen.setdefault(sym, None)
        return list(seen)

    @property
    def n_atoms(self) -> int:
        return sum(s.n_atoms for s in self.structures)

    def subset(self, indices: Sequence[int]) -> ReferenceSet:
        return ReferenceSet([self.structures[i] for i in indices], self.source)

    def __add__(self, other: ReferenceSet) -> ReferenceSet:
        return ReferenceSet(self.structures + other.structures, f"{self.source}+{other.source}")


def scaled_cell(atoms: Atoms, s: float) -> Atoms:
    """A copy of ``atoms`` with the cell scaled isotropically by ``s``, positions fractional."""
    out = atoms.copy()
    out.set_cell(np.array(atoms.cell) * s, scale_atoms=True)
    return out
