"""The crystal's symmetry (phonopy's): its Bravais lattice type, the conventional cubic lattice
constant, the cell parameters as text. Lengths in Å."""

from __future__ import annotations

from typing import Any

import numpy as np
from ase import Atoms
from phonopy.structure.atoms import PhonopyAtoms

from gafit.phonons.harmonic import to_phonopy_atoms


def _dataset(atoms: Atoms | PhonopyAtoms, symprec: float = 1e-5) -> Any:
    from phonopy.structure.symmetry import Symmetry

    cell = atoms if isinstance(atoms, PhonopyAtoms) else to_phonopy_atoms(atoms)
    return Symmetry(cell, symprec=symprec).dataset


def lattice_type(atoms: Atoms | PhonopyAtoms) -> tuple[str, str]:
    """Bravais lattice type ('cF', 'cI', 'cP', 'hP', 'hR', 'tP', ...) and 'Fd-3m (227)'."""
    ds = _dataset(atoms)
    n, symbol = int(ds.number), str(ds.international)
    centring = symbol[0]
    if n >= 195:
        system = "c"
    elif n >= 143:
        system = "h"
    elif n >= 75:
        system = "t"
    elif n >= 16:
        system = "o"
    elif n >= 3:
        system = "m"
    else:
        system = "a"
    return system + centring, f"{symbol} ({n})"


def cubic_lattice_constant(atoms: Atoms) -> float:
    """Conventional cubic lattice constant (Å) of a cubic structure in any cell."""
    return float(np.linalg.norm(_dataset(atoms).std_lattice[0]))


def cell_text(atoms: Atoms, cubic_a: float | None = None, digits: int = 4) -> str:
    """'a = 5.4312 Å' (cubic: conventional ``cubic_a``), 'a = 3.2500 Å, c = 5.2100 Å' (hexagonal,
    tetragonal), or all six cell parameters; lengths with ``digits`` decimals."""
    a, b, c, alpha, beta, gamma = atoms.cell.cellpar()
    if cubic_a is not None:
        return f"a = {cubic_a:.{digits}f} Å"
    text = f"a = {a:.{digits}f} Å"
    if abs(a - b) < 1e-6 * a and abs(alpha - 90) < 1e-6 and abs(beta - 90) < 1e-6:
        return f"{text}, c = {c:.{digits}f} Å"
    return (f"{text}, b = {b:.{digits}f} Å, c = {c:.{digits}f} Å, α = {alpha:.2f}°, β = {beta:.2f}°, "
            f"γ = {gamma:.2f}°")

