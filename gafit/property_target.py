"""Crystal properties as fit targets (``[[properties]]``): relaxed lattice constant, energy per atom,
cohesive energy, bulk modulus and cubic elastic constants, per individual of a population.

Each structure is tabulated once: a cubic crystal by :mod:`gafit.property_cubic` (a lattice name of
:data:`gafit.crystals.LATTICES` whose ASE cell is cubic-aligned, or a structure file: its
conventional cell), a hexagonal or tetragonal one (a, c_over_a, E, E_coh) and phase energy
differences (dE) by :mod:`gafit.property_hex`, vacancies and surfaces by :mod:`gafit.property_defect`.

Residual of a target: sqrt(weight) x (value - reference) / tolerance; it passes when
|value - reference| <= tolerance.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
from ase import Atoms

from gafit.crystals import LATTICES as LATTICE_NAMES
from gafit.crystals import read_crystal
from gafit.potential import Potential
from gafit.properties import _is_cubic, conventional_cell, symmetry
from gafit.property_cubic import PropertyCell, _cubic_axes_cell, free_coordinates
from gafit.property_defect import DEFECT_PROPERTIES, DefectCell, build_defect_cells, defect_values
from gafit.property_hex import (
    EXTRA_LATTICES,
    UNIAXIAL_ONLY,
    UNIAXIAL_PROPERTIES,
    HexCell,
    StructureSpec,
    crystal_family,
    read_structure_spec,
    uniaxial_cell,
)
from gafit.structures import GafitInputError

#: property -> unit, description
QUANTITIES: dict[str, tuple[str, str]] = {
    "a": ("Å", "relaxed cubic lattice constant"),
    "E": ("eV/atom", "energy per atom at a, with the E0 offsets"),
    "E_coh": ("eV/atom", "cohesive energy at a: isolated atoms (E0) minus E, positive when bound"),
    "B": ("GPa", "bulk modulus at a, -V dp/dV"),
    "C11": ("GPa", "relaxed-ion, at a"),
    "C12": ("GPa", "relaxed-ion, at a"),
    "C44": ("GPa", "relaxed-ion (internal coordinates relaxed), at a"),
    "C44_unrelaxed": ("GPa", "clamped-ion (atoms strained homogeneously), at a"),
    # gafit.property_defect (keys supercell, facet, layers, vacuum)
    "E_vac_unrelaxed": ("eV", "vacancy formation energy at a, atoms unrelaxed"),
    "E_vac_harmonic": ("eV", "vacancy formation energy at a, relaxation by its harmonic estimate"),
    "E_surf_unrelaxed": ("J/m²", "surface energy of facet at a, atoms unrelaxed"),
    "E_surf_harmonic": ("J/m²", "surface energy of facet at a, relaxation by its harmonic estimate"),
    # hexagonal and tetragonal crystals (gafit.property_hex): a, E, E_coh and
    "c_over_a": ("", "relaxed c/a of a hexagonal or tetragonal crystal"),
    "dE": ("eV/atom", "E at the relaxed lattice minus E of relative_to at its relaxed lattice"),
}


@dataclass
class PropertyTargetConfig:
    """One ``[[properties]]`` entry: a property of a structure with its reference value."""

    property: str  # a key of QUANTITIES
    reference: float  # in the unit of QUANTITIES
    tolerance: float  # same unit; the target passes within it
    # a lattice name of gafit.crystals.LATTICES (with species, and a start lattice constant a) or a
    # structure file
    structure: str
    species: list[str] | None = None
    a: float | None = None  # Å, start lattice constant of a lattice name
    weight: float = 1.0
    citation: str = ""
    # defect targets (gafit.property_defect): vacancy supercell (conventional cells), surface facet
    # (Miller indices), slab repeats along its normal, vacuum (Å)
    supercell: list[int] | None = None
    facet: list[int] | None = None
    layers: int | None = None
    vacuum: float | None = None
    c: float | None = None  # Å, start c of a hexagonal or tetragonal lattice name
    relative_to: StructureSpec | None = None  # dE: the structure whose E is subtracted

    def structure_key(self) -> tuple:
        return (self.structure, tuple(self.species or ()), self.a, self.c)


def read_property_structure(config: PropertyTargetConfig) -> tuple[Atoms, float]:
    """The cell the properties are computed on (cubic axes along x, y, z) and its start conventional
    lattice constant (Å)."""
    where = f"[[properties]] {config.property}: structure"
    is_name = config.structure.partition(":")[0].lower() in LATTICE_NAMES and not Path(
        config.structure).is_file()
    atoms = read_crystal(config.structure, config.species, config.a, where)
    if not _is_cubic(atoms):
        sg, n = symmetry(atoms)
        raise GafitInputError(f"{where} {config.structure}: property targets need a cubic crystal; "
                              f"this one is {sg} ({n})")
    if free_coordinates(atoms):
        raise GafitInputError(f"{where} {config.structure}: its atoms have coordinates the symmetry "
                              "does not fix (a scaled cell would need relaxing); property targets "
                              "take crystals whose atoms sit on fixed sites (diamond, fcc, rocksalt, "
                              "...)")
    conv = conventional_cell(atoms)
    a0 = float(np.linalg.norm(conv.cell[0]))
    if not (is_name and np.allclose(conv.cell, a0 * np.eye(3), atol=1e-6 * a0)
            and np.allclose(_cubic_axes_cell(atoms, a0), np.array(atoms.cell), atol=1e-6 * a0)):
        atoms = conv  # a file, or a name whose ASE cell is not on the cubic axes
    return atoms, a0


@dataclass
class PropertyTargets:
    """All ``[[properties]]`` targets of a fit; each structure is tabulated once."""

    configs: list[PropertyTargetConfig]
    potential: Potential
    cells: list  # PropertyCell (cubic) or gafit.property_hex.HexCell
    cell_of: list[int]  # per target: index into cells
    defects: dict[int, DefectCell] = field(default_factory=dict)  # per defect target (its index)
    relative_of: list[int] = field(default_factory=list)  # per target: dE's relative_to cell, or -1
    # the last theta and its cells' values: the stability guard (gafit.guards) reads the same ones
    _last: tuple | None = field(default=None, init=False, repr=False, compare=False)

    @classmethod
    def build(cls, potential: Potential, configs: list[PropertyTargetConfig],
              elastic: bool = False) -> PropertyTargets:
        """The targets' cells, each structure tabulated once; with ``elastic`` every structure gets
        its strained and displaced cells (the stability guard needs its Cij), else only those with
        an elastic constant among their targets."""
        keys: dict[tuple, int] = {}
        groups: list[list[PropertyTargetConfig]] = []

        def index(c: PropertyTargetConfig) -> int:
            k = keys.setdefault(c.structure_key(), len(keys))
            if k == len(groups):
                groups.append([])
            groups[k].append(c)
            return k

        cell_of, relative_of = [], []
        for c in configs:
            if (c.property == "dE") != (c.relative_to is not None):
                raise GafitInputError(f"[[properties]] {c.property}: relative_to (the structure whose "
                                      "energy is subtracted) goes with property dE, and dE needs it")
            cell_of.append(index(c))
            relative_of.append(index(relative_config(c)) if c.relative_to is not None else -1)
        cells = [build_cell(potential, group, elastic) for group in groups]
        for c, k, r in zip(configs, cell_of, relative_of, strict=True):
            if r >= 0:
                check_same_composition(cells[k], cells[r], c)
        for i, c in enumerate(configs):
            if c.property in DEFECT_PROPERTIES and not isinstance(cells[cell_of[i]], PropertyCell):
                raise GafitInputError(f"[[properties]] {c.property} on {c.structure}: vacancy and "
                                      "surface targets take cubic crystals")
        defects = build_defect_cells(potential, configs, [c.atoms for c in cells], cell_of)
        return cls(configs, potential, cells, cell_of, defects, relative_of)

    def values(self, theta: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Values (B, n_targets) in the units of QUANTITIES and whether each relaxed scale lies in
        SCALES (B, n_targets), for full vectors theta (B, n)."""
        per_cell = self.cell_values(theta)
        per_cell_defect = defect_values(self.potential, theta, self.configs, self.defects,
                                        [(v.get("s"), getattr(c, "tables", None))
                                         for v, c in zip(per_cell, self.cells, strict=True)],
                                        self.cell_of) if self.defects else {}
        relative_of = self.relative_of or [-1] * len(self.configs)
        vals = np.stack([per_cell_defect[i] if i in per_cell_defect
                         else per_cell[k]["E"] - per_cell[r]["E"] if r >= 0
                         else per_cell[k][c.property]
                         for i, (c, k, r) in enumerate(zip(self.configs, self.cell_of, relative_of,
                                                           strict=True))], axis=1)
        ok = np.stack([per_cell[k]["in_range"] & (per_cell[r]["in_range"] if r >= 0 else True)
                       for k, r in zip(self.cell_of, relative_of, strict=True)], axis=1)
        return vals, ok

    def cell_values(self, theta: np.ndarray) -> list[dict[str, np.ndarray]]:
        """:meth:`PropertyCell.values` of every cell (B,) each, for full vectors theta (B, n); the
        last theta's are kept, so the residuals and the stability guard evaluate the cells once."""
        theta = np.atleast_2d(theta)
        last = self._last
        if last is not None and last[0].shape == theta.shape and np.array_equal(last[0], theta):
            return last[1]
        out = [cell.values(self.potential, theta) for cell in self.cells]
        self._last = (theta.copy(), out)
        return out

    def residuals(self, theta: np.ndarray) -> np.ndarray:
        """sqrt(weight) (value - reference) / tolerance, (B, n_targets)."""
        vals, _ = self.values(theta)
        ref = np.array([c.reference for c in self.configs])
        tol = np.array([c.tolerance for c in self.configs])
        w = np.array([c.weight for c in self.configs])
        return np.sqrt(w) * (vals - ref) / tol

    def table(self, theta: np.ndarray) -> list[dict]:
        """Per target: structure, property, unit, value, reference, tolerance, weight, citation,
        pass (|value - reference| <= tolerance) and in_range, for one full vector theta."""
        vals, ok = self.values(np.atleast_2d(theta))
        out = []
        for c, v, inside in zip(self.configs, vals[0], ok[0], strict=True):
            out.append({"structure": c.structure, "species": list(c.species or []),
                        "property": c.property, "unit": QUANTITIES[c.property][0],
                        "value": float(v), "reference": c.reference, "tolerance": c.tolerance,
                        "weight": c.weight, "citation": c.citation,
                        "pass": bool(abs(v - c.reference) <= c.tolerance), "in_range": bool(inside)}
                       | ({"relative_to": c.relative_to.structure} if c.relative_to else {}))
        return out


def format_table(rows: list[dict]) -> str:
    """The property targets of a fit summary as text lines."""
    lines = ["property targets:"]
    for r in rows:
        flag = "pass" if r["pass"] else "FAIL"
        note = "" if r["in_range"] else " (relaxed lattice outside the tabulated ±5 %)"
        if "measured" in r:  # gafit.property_crosscheck
            note += (f"  (measured {r['measured']:.5g})" if r["agrees"]
                     else f"  (measured {r['measured']:.5g}: DISAGREES)")
        name = f"{r['structure']} - {r['relative_to']}" if "relative_to" in r else r["structure"]
        lines.append(f"  {name} {r['property']:<13} {r['value']:12.5g} {r['unit']:<8} "
                     f"reference {r['reference']:.5g} ± {r['tolerance']:.3g}  {flag}{note}")
    return "\n".join(lines)


def build_cell(potential: Potential, group: list[PropertyTargetConfig],
               elastic: bool = False) -> PropertyCell | HexCell:
    """The tabulated cell of the targets ``group`` (PropertyTargetConfig of one structure): a
    :class:`gafit.property_cubic.PropertyCell` for a cubic crystal, a :class:`HexCell` for a
    hexagonal or tetragonal one; GafitInputError for a property the crystal has not, a crystal with
    free internal coordinates, or another crystal system. With ``elastic`` a cubic crystal gets its
    strained and displaced cells whatever its targets (the stability guard reads its Cij)."""
    first = group[0]
    where = f"[[properties]] {first.property}: structure"
    atoms, is_name = read_structure_spec(first.structure, first.species, first.a, first.c, where)
    props = list(dict.fromkeys(c.property for c in group))
    sg, number = symmetry(atoms)
    family = crystal_family(atoms)
    name = first.structure.partition(":")[0].lower()
    if family == "cubic" and name not in EXTRA_LATTICES:
        wrong = [p for p in props if p in UNIAXIAL_ONLY]
        if wrong:
            raise GafitInputError(f"[[properties]] {wrong[0]}: structure {first.structure} is cubic "
                                  f"({sg} ({number})); {wrong[0]} needs a hexagonal or tetragonal "
                                  "crystal")
        atoms, a0 = read_property_structure(first)
        return PropertyCell.build(potential, atoms, a0,
                                  elastic or any(p.startswith("C") for p in props),
                                  f"[[properties]] structure {first.structure}")
    if family == "cubic":  # a name of this module whose c/a makes it cubic (beta-tin at c = a/√2...)
        raise GafitInputError(f"{where} {first.structure}: with c/a = {first.c} / {first.a} it is cubic "
                              f"({sg} ({number})); give it by its cubic lattice name")
    if family != "uniaxial":
        raise GafitInputError(f"{where} {first.structure}: property targets need a cubic, tetragonal "
                              f"or hexagonal crystal; this one is {sg} ({number})")
    wrong = [p for p in props if p not in UNIAXIAL_PROPERTIES]
    if wrong:
        raise GafitInputError(f"[[properties]] {wrong[0]}: structure {first.structure} is {sg} "
                              f"({number}), not cubic; hexagonal and tetragonal crystals take "
                              f"{', '.join(UNIAXIAL_PROPERTIES)}")
    cell, a0, c0 = uniaxial_cell(atoms, is_name)
    # on the primitive or standard conventional cell: in another setting (hcp's orthorhombic one)
    # spglib's operations lack those not integer in that basis, and a fixed site can look free
    if free_coordinates(cell):
        raise GafitInputError(f"{where} {first.structure}: its atoms have coordinates the symmetry "
                              f"does not fix ({sg}: e.g. wurtzite's u; a scaled cell would need "
                              "relaxing); hexagonal property targets take crystals whose atoms sit on "
                              "fixed sites (hcp, graphite, beta-tin, ...)")
    return HexCell.build(potential, cell, a0, c0, f"[[properties]] structure {first.structure}")


def relative_config(config: PropertyTargetConfig) -> PropertyTargetConfig:
    """The target config of ``config.relative_to`` (property dE, so that errors name it), for the
    structure it is tabulated on."""
    spec = config.relative_to
    return PropertyTargetConfig("dE", 0.0, 1.0, spec.structure, spec.species, spec.a, c=spec.c)


def check_same_composition(cell: PropertyCell | HexCell, other: PropertyCell | HexCell,
                           config: PropertyTargetConfig) -> None:
    """GafitInputError unless the two cells' species fractions agree (dE compares phases)."""
    x, y = cell.counts / cell.counts.sum(), other.counts / other.counts.sum()
    if not np.allclose(x, y, atol=1e-9):
        raise GafitInputError(
            f"[[properties]] dE: structure {config.structure} ({cell.atoms.get_chemical_formula()}) and "
            f"relative_to {config.relative_to.structure} ({other.atoms.get_chemical_formula()}) "
            "differ in composition; dE compares phases of the same composition")
