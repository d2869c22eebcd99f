"""Relaxed-ion elastic constants of a crystal computed by LAMMPS from an exported pair.lmp, beside
`gafit properties` (gafit.properties.properties) on the same relaxed cell.

    python docs/oxides/lammps_elastic.py potentials/ZnO_buck_coul.json potentials/ZnO_buck_coul.lmp \
        ../shared/data/phonopy_ZnO/POSCAR-unitcell

The cell is gafit's relaxed one (gafit.crystals.relax); LAMMPS reports its stress there. Each Voigt
strain ±0.5 % is applied as an upper-triangular displacement gradient (its symmetric part is the
strain; the rotation it adds changes nothing to first order at zero stress); LAMMPS's stress is rotated
back to gafit's axes as `gafit verify` does it (gafit.lammps.runner). LAMMPS relaxes the atoms at
each strained cell with its own minimiser (cg, forces below 1e-8 eV/Å); C_ij = Δσ_i / (2 × 0.005).
"""

from __future__ import annotations

import argparse
from pathlib import Path

import numpy as np
from ase.io import read
from ase.units import GPa

from gafit.crystals import relax
from gafit.lammps.runner import _Instance
from gafit.potential_files import load_potential
from gafit.properties import properties

STRAIN = 0.005
#: Voigt component -> entry of the displacement gradient (engineering shear in the upper triangle)
ENTRY = [(0, 0), (1, 1), (2, 2), (1, 2), (0, 2), (0, 1)]


def lammps_stress(atoms, species: list[str], pair_file: Path, minimize: bool) -> np.ndarray:
    """Voigt stress (eV/Å³, ASE sign) LAMMPS gives on ``atoms`` (positions relaxed if ``minimize``)."""
    inst = _Instance(atoms, species, "charge")
    try:
        cmds = [f"include {pair_file}"]
        if minimize:
            cmds += ["min_style cg", "minimize 0.0 1e-8 100000 1000000"]
        inst.lmp.commands_list([*cmds, "run 0"])
        p = np.array(inst.lmp.numpy.extract_compute("gafit_p", 0, 1), dtype=float)
        press = np.array([[p[0], p[3], p[4]], [p[3], p[1], p[5]], [p[4], p[5], p[2]]])
        sig = inst.geo.rot @ (-press / inst.nktv2p) @ inst.geo.rot.T  # back to gafit's axes
        return sig[[0, 1, 2, 1, 0, 0], [0, 1, 2, 2, 2, 1]]
    finally:
        inst.close()


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("potential")
    p.add_argument("pair_file", type=Path)
    p.add_argument("structure")
    a = p.parse_args()
    pot = load_potential(a.potential)
    cell = relax(pot, read(a.structure)).atoms
    pair_file = a.pair_file.resolve()
    s0 = lammps_stress(cell, pot.species, pair_file, minimize=False) / GPa
    print(f"LAMMPS stress at gafit's relaxed cell (GPa): {np.round(s0, 6)}")
    c = np.zeros((6, 6))
    for j, (r, k) in enumerate(ENTRY):
        sig = []
        for sign in (1.0, -1.0):
            h = np.zeros((3, 3))
            h[r, k] = sign * STRAIN
            strained = cell.copy()
            strained.set_cell(np.array(cell.cell) @ (np.eye(3) + h).T, scale_atoms=True)
            sig.append(lammps_stress(strained, pot.species, pair_file, minimize=True))
        c[:, j] = (sig[0] - sig[1]) / (2 * STRAIN) / GPa
    c = (c + c.T) / 2
    ref = properties(pot, read(a.structure), strain=STRAIN)
    print("C_ij (GPa)   LAMMPS      gafit properties")
    worst = 0.0
    for i in range(6):
        for j in range(i, 6):
            g = ref[f"C{i + 1}{j + 1}"]
            if max(abs(g), abs(c[i, j])) > 1e-3:
                print(f"C{i + 1}{j + 1}   {c[i, j]:12.4f} {g:12.4f}")
            worst = max(worst, abs(g - c[i, j]))
    print(f"largest difference {worst:.2g} GPa")
    c11, c12, c13, c33, c44, c66 = c[0, 0], c[0, 1], c[0, 2], c[2, 2], c[3, 3], c[5, 5]
    print("Born criteria (hexagonal): C11 > |C12|", c11 > abs(c12), "| C44 > 0", c44 > 0,
          "| C66 > 0", c66 > 0, "| (C11 + C12) C33 > 2 C13²", (c11 + c12) * c33 > 2 * c13**2)


if __name__ == "__main__":
    main()
