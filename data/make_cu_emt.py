"""Generate data/Cu_EMT.extxyz: the demo's reference set, computed with ASE's EMT calculator for Cu.

EMT is many-body, so a Morse pair potential can only approximate it: a realistic small fitting task.
Mix: strained bulk cells (volume and shear), rattled supercells, a vacancy and a (100) slab.
Run: python data/make_cu_emt.py   (deterministic: seeded)
"""

from pathlib import Path

import numpy as np
from ase import Atoms
from ase.build import bulk, fcc100
from ase.calculators.emt import EMT
from ase.calculators.singlepoint import SinglePointCalculator
from ase.io import write

rng = np.random.default_rng(2026)
frames = []


def add(atoms, config_type):
    atoms.calc = EMT()
    e, f, s = atoms.get_potential_energy(), atoms.get_forces(), atoms.get_stress()
    atoms.calc = SinglePointCalculator(atoms, energy=e, forces=f, stress=s)
    atoms.info["config_type"] = config_type
    frames.append(atoms)


a0 = 3.59
for scale in np.linspace(0.94, 1.08, 8):  # equation of state
    add(bulk("Cu", "fcc", a=a0 * scale, cubic=True), "eos")
for _ in range(8):  # random small strains, primitive cell with its own images
    eps = rng.normal(0, 0.02, (3, 3))
    at = bulk("Cu", "fcc", a=a0)
    at.set_cell(at.cell @ (np.eye(3) + (eps + eps.T) / 2), scale_atoms=True)
    add(at, "strained")
for k in range(10):  # rattled supercells at a few volumes
    at = bulk("Cu", "fcc", a=a0 * rng.uniform(0.98, 1.03), cubic=True) * (2, 2, 2)
    at.rattle(0.05 + 0.01 * k, seed=int(rng.integers(1 << 30)))
    add(at, "rattled")
for k in range(3):  # vacancy
    at = bulk("Cu", "fcc", a=a0, cubic=True) * (2, 2, 2)
    del at[int(rng.integers(len(at)))]
    at.rattle(0.05, seed=k)
    add(at, "vacancy")
for k in range(3):  # (100) slab with vacuum (periodic cell, no stress target needed)
    at = fcc100("Cu", size=(2, 2, 5), a=a0, vacuum=6.0, periodic=True)
    at.info.pop("adsorbate_info", None)
    at.rattle(0.03 * (k + 1), seed=10 + k)
    add(at, "surface")

out = Path(__file__).with_name("Cu_EMT.extxyz")
write(out, frames, format="extxyz")
print(f"wrote {len(frames)} structures, {sum(len(f) for f in frames)} atoms to {out}")

# Binding curve of the Cu dimer with EMT, in gafit's binding-curve CSV layout (r in Å, energy in eV)
curve = Path(__file__).with_name("Cu2_EMT_binding_curve.csv")
rows = ["r,energy,species_a,species_b"]
for r in np.linspace(1.9, 4.8, 30):  # EMT has its own cutoff beyond ~5 Å
    dimer = Atoms("Cu2", positions=[[0, 0, 0], [r, 0, 0]])
    dimer.calc = EMT()
    rows.append(f"{r:.4f},{dimer.get_potential_energy():.10f},Cu,Cu")
curve.write_text("\n".join(rows) + "\n")
print(f"wrote {len(rows) - 1} dimer energies to {curve}")
