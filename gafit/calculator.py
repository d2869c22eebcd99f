"""An ASE calculator for any gafit potential, and batched predictions on lists of ASE Atoms.

Units: energy eV (including the potential's E0 offsets), forces eV/Å, stress eV/Å³ in the ASE
convention (positive = tensile, Voigt order xx yy zz yz xz xy). Stress exists only for cells periodic
in all three directions.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import numpy as np
from ase import Atoms
from ase.calculators.calculator import Calculator, all_changes

from gafit.potential import Potential
from gafit.potential_files import load_potential
from gafit.structures import ReferenceSet, Structure

__all__ = ["GafitCalculator", "predict_atoms"]


def predict_atoms(
    potential: Potential, images: Sequence[Atoms]
) -> tuple[np.ndarray, list[np.ndarray], np.ndarray]:
    """Energies (n,) eV with E0, forces [(n_atoms, 3) eV/Å] and stresses (n, 6) eV/Å³ of ``images``.

    One batched evaluation for all images (geometry tables built once for the list). Stress rows are
    NaN for images that are not periodic in 3 directions.
    """
    if not images:
        return np.zeros(0), [], np.zeros((0, 6))
    data = ReferenceSet([Structure(a.copy()) for a in images], "ase")
    tables = potential.build_tables(data)
    pred = potential.evaluate(potential.values[None], tables)
    flat = pred.forces[0].reshape(-1, 3)
    ends = np.cumsum([len(a) for a in images])[:-1]
    forces = [f.copy() for f in np.split(flat, ends)]
    stress = pred.virial[0] / tables.volume_s[:, None]
    return pred.energy[0].copy(), forces, stress


class GafitCalculator(Calculator):
    """ASE calculator evaluating a gafit :class:`Potential` (a ``Potential`` or a file it loads).

    Energy and free_energy in eV include the per-species E0 offsets; forces in eV/Å; stress in eV/Å³
    (ASE convention) for cells periodic in 3 directions. Each call builds the geometry tables of the
    one structure and runs gafit's batched evaluator on it (a batch of one parameter vector).

    Parameters
    ----------
    potential
        A :class:`Potential`, or a file :func:`load_potential` reads (``potential.json``,
        ``pair.lmp``, ``.tersoff``, ...).
    **kwargs
        Passed to :class:`ase.calculators.calculator.Calculator`.

    Examples
    --------
    >>> from ase.build import bulk
    >>> atoms = bulk("Cu", "fcc", a=3.6)
    >>> atoms.calc = GafitCalculator("potentials/Cu_Morse_Girifalco_Weizer_1959.json")
    >>> energy = atoms.get_potential_energy()  # eV
    """

    implemented_properties = ["energy", "free_energy", "forces", "stress"]

    def __init__(self, potential: Potential | str | Path, **kwargs: object) -> None:
        super().__init__(**kwargs)
        self.potential = potential if isinstance(potential, Potential) else load_potential(potential)

    def calculate(self, atoms: Atoms | None = None, properties: Sequence[str] = ("energy",),
                  system_changes: Sequence[str] = all_changes) -> None:
        super().calculate(atoms, properties, system_changes)
        assert self.atoms is not None
        energy, forces, stress = predict_atoms(self.potential, [self.atoms])
        self.results = {"energy": float(energy[0]), "free_energy": float(energy[0]),
                        "forces": forces[0]}
        if np.all(self.atoms.pbc) and np.isfinite(stress[0]).all():
            self.results["stress"] = stress[0].copy()
