"""Phonon dispersions of gafit potentials with phonopy, and their errors against DFT phonons.

Units: lengths in Å, forces in eV/Å, force constants in eV/Å², frequencies in THz (ordinary frequency,
phonopy's default; negative = imaginary). Reduced q-points are fractions of the PRIMITIVE cell's
reciprocal basis (phonopy's convention); distances along a band path are in 1/Å without 2π.

The route is phonopy's own finite-displacement one: phonopy generates the displaced supercells, gafit's
batched evaluator gives the forces on all of them in one call (geometry built once), phonopy produces the
force constants (traditional solver, then its translational/permutation symmetrisation) and the
frequencies. :class:`PhononBatch` does the same for a batch of B parameter vectors: the maps forces ->
force constants -> dynamical matrices are linear, so they are taken from phonopy once (by feeding it unit
force sets) and then applied to the whole batch as matrix products.
"""

from __future__ import annotations

import csv
import re
import warnings
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
from ase import Atoms
from phonopy import Phonopy
from phonopy.structure.atoms import PhonopyAtoms

from gafit import crystals
from gafit.crystals import read_structure
from gafit.nac import (
    NAC_FACTOR,
    Epsilon,
    NacTerm,
    charge_indices,
    dielectric_tensor,
    direction_text,
    epsilon_text,
    is_gamma,
    path_directions,
    set_model_nac,
)
from gafit.potential import Potential
from gafit.structures import GafitInputError, ReferenceSet, Structure

__all__ = [
    "Band",
    "BandPath",
    "ErrorTable",
    "PhononBatch",
    "PhononReference",
    "PhononResult",
    "band_path",
    "compare",
    "distinct_points",
    "frequencies_at",
    "lattice_type",
    "load_reference",
    "make_phonopy",
    "new_phonopy",
    "phonon_forces",
    "phonon_report",
    "plot_band",
    "produce_force_constants",
    "run_band",
    "same_point",
    "write_band_csv",
]

#: phonopy's finite displacement, Å
DISPLACEMENT = 0.01
#: q-points per band segment, end points included
NPOINTS = 51

ForcesFn = Callable[[list[Atoms]], Sequence[np.ndarray]]


# --------------------------------------------------------------------------- phonopy objects


def to_phonopy_atoms(atoms: Atoms) -> PhonopyAtoms:
    """Phonopy's cell for ``atoms`` (masses: phonopy's defaults for each symbol)."""
    return PhonopyAtoms(symbols=atoms.get_chemical_symbols(), cell=np.array(atoms.cell),
                        scaled_positions=atoms.get_scaled_positions(wrap=False))


def to_ase_atoms(cell: PhonopyAtoms) -> Atoms:
    return Atoms(cell.symbols, cell=cell.cell, scaled_positions=cell.scaled_positions, pbc=True)


def supercell_matrix(value: Sequence[int] | Sequence[Sequence[int]] | np.ndarray) -> np.ndarray:
    """A (3, 3) integer supercell matrix from 3 positive integers or a 3x3 integer matrix."""
    m = np.asarray(value)
    ok = m.shape in ((3,), (3, 3)) and np.issubdtype(m.dtype, np.number) and np.all(m == np.round(m))
    if ok and m.shape == (3,):
        ok = bool(np.all(m >= 1))
        m = np.diag(m)
    if not ok or round(abs(np.linalg.det(m))) < 1:
        raise GafitInputError(f"supercell {np.asarray(value).tolist()}: expected 3 positive integers "
                              "(e.g. 2 2 2) or a 3x3 integer matrix with a nonzero determinant")
    return np.round(m).astype(int)


def new_phonopy(unitcell: Atoms | PhonopyAtoms, supercell: Any,
                primitive_matrix: Any = "auto", symprec: float = 1e-5) -> Phonopy:
    """A quiet ``Phonopy`` object (primitive cell ``"auto"``: phonopy's standard primitive setting)."""
    cell = unitcell if isinstance(unitcell, PhonopyAtoms) else to_phonopy_atoms(unitcell)
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", message="primitive_matrix defaulted")
        return Phonopy(cell, supercell_matrix=supercell_matrix(supercell),
                       primitive_matrix=primitive_matrix, symprec=symprec, log_level=0)


def displaced_supercells(ph: Phonopy) -> list[Atoms]:
    """Phonopy's displaced supercells as ASE Atoms (positions Å)."""
    return [to_ase_atoms(s) for s in ph.supercells_with_displacements]


def _check_species(potential: Potential, symbols: Sequence[str], where: str) -> None:
    potential.species_counts(symbols, where)


def phonon_forces(potential: Potential, supercells: Sequence[Atoms]) -> list[np.ndarray]:
    """Forces (n_atoms, 3) eV/Å on each supercell: ONE batched gafit evaluation for all of them."""
    if not supercells:
        return []
    _check_species(potential, [s for a in supercells for s in a.get_chemical_symbols()], "supercells")
    data = ReferenceSet([Structure(a) for a in supercells], "phonopy displacements")
    pred = potential.evaluate(potential.values[None], potential.build_tables(data))
    flat = pred.forces[0].reshape(-1, 3)
    ends = np.cumsum([len(a) for a in supercells])[:-1]
    return [f.copy() for f in np.split(flat, ends)]


def produce_force_constants(ph: Phonopy, forces: Sequence[np.ndarray] | np.ndarray,
                            symmetrize_fc: bool = True) -> None:
    """Force constants (compact, eV/Å²) from the forces on phonopy's displaced supercells.

    phonopy's traditional solver, then (``symmetrize_fc``) its translational and permutation
    symmetrisation (``Phonopy.symmetrize_force_constants``; the symfc projector that
    ``phonopy.load`` uses gives the same frequencies to ~1e-6 THz and is 100x slower).
    """
    ph.forces = np.asarray(forces, dtype=float)
    ph.produce_force_constants(calculate_full_force_constants=False, show_drift=False)
    if symmetrize_fc:
        ph.symmetrize_force_constants(show_drift=False)


def make_phonopy(potential: Potential, unitcell: Atoms, supercell: Any,
                 displacement: float = DISPLACEMENT, *, forces_fn: ForcesFn | None = None,
                 symmetrize_fc: bool = True, dielectric: np.ndarray | None = None) -> Phonopy:
    """A ``Phonopy`` with force constants from gafit's forces (or from ``forces_fn(supercells)``).

    ``supercell``: 3 multiples or a 3x3 matrix of the unit cell; ``displacement`` in Å. With
    ``dielectric`` (ε∞, 3x3) and a Coulomb term, the model's NAC parameters are set
    (:func:`gafit.nac.set_model_nac`: Born charges = the charges), so phonopy splits LO and TO at Γ.
    """
    _check_species(potential, unitcell.get_chemical_symbols(), "structure")
    ph = new_phonopy(unitcell, supercell)
    ph.generate_displacements(distance=displacement)
    cells = displaced_supercells(ph)
    forces = (forces_fn or (lambda c: phonon_forces(potential, c)))(cells)
    produce_force_constants(ph, forces, symmetrize_fc)
    set_model_nac(ph, potential, dielectric)
    return ph


def frequencies_at(ph: Phonopy, qpoints: np.ndarray | Sequence[Sequence[float]],
                   directions: np.ndarray | None = None) -> np.ndarray:
    """Sorted frequencies (n_q, n_modes) in THz at reduced q-points of ph's primitive cell; with NAC,
    ``directions`` (n_q, 3, reduced; NaN rows for none) are the q-directions phonopy uses where q is Γ
    (without one, phonopy gives Γ without the non-analytic term: the TO modes only)."""
    q = np.atleast_2d(np.asarray(qpoints, float))
    out = np.empty((len(q), 3 * len(ph.primitive)))
    d = np.full(q.shape, np.nan) if directions is None else np.asarray(directions, float)
    has = np.all(np.isfinite(d), axis=1)
    groups = [(~has, None)] + [(has & np.all(d == u, axis=1), u)
                               for u in np.unique(d[has], axis=0)]
    for rows, u in groups:
        if rows.any():
            ph.run_qpoints(q[rows], nac_q_direction=u)
            out[rows] = np.sort(np.asarray(ph.qpoints.frequencies), axis=1)
    return out


def eigen_frequencies(dyn: np.ndarray, factor: float) -> np.ndarray:
    """Sorted frequencies (THz) from Hermitian dynamical matrices (..., n, n), phonopy's way
    (negative for imaginary modes); NaN for a matrix that is not finite."""
    bad = ~np.isfinite(dyn).all(axis=(-2, -1))
    lam = np.linalg.eigvalsh(np.where(bad[..., None, None], 0.0, dyn))
    lam[bad] = np.nan
    return np.sign(lam) * np.sqrt(np.abs(lam)) * factor


# --------------------------------------------------------------------------- batches (for fits)


class PhononBatch:
    """Phonon frequencies at fixed q-points for a batch of parameter vectors.

    Built once: phonopy's displaced supercells of ``unitcell`` (kept fixed: the fit compares at this
    geometry), gafit's tables on them, and the linear maps that phonopy's own solver and
    symmetrisation define from forces to compact force constants and to dynamical matrices at
    ``qpoints`` (reduced, primitive reciprocal basis). Each individual then costs one batched force
    evaluation, one matrix product and ``n_q`` small Hermitian eigenproblems.

    With ``dielectric`` (ε∞, 3x3) and a Coulomb term, the non-analytic term of the model's charges is
    added as phonopy adds it (:class:`gafit.nac.NacTerm`, a quadratic form in the charges), Γ taken
    along ``directions`` (n_q, 3, reduced; NaN rows for none).
    """

    def __init__(self, potential: Potential, unitcell: Atoms, supercell: Any,
                 qpoints: np.ndarray | Sequence[Sequence[float]],
                 displacement: float = DISPLACEMENT, symmetrize_fc: bool = True,
                 dielectric: np.ndarray | None = None, directions: np.ndarray | None = None):
        _check_species(potential, unitcell.get_chemical_symbols(), "structure")
        self.potential = potential
        self.qpoints = np.atleast_2d(np.asarray(qpoints, float))
        self.phonopy = ph = new_phonopy(unitcell, supercell)
        ph.generate_displacements(distance=displacement)
        self.supercells = displaced_supercells(ph)
        self.tables = potential.build_tables(ReferenceSet([Structure(a) for a in self.supercells]))
        n_disp, n_atoms = len(self.supercells), len(self.supercells[0])
        self.force_shape = (n_disp, n_atoms, 3)
        self.factor = float(ph.unit_conversion_factor)
        n_f = n_disp * n_atoms * 3
        n_modes = 3 * len(ph.primitive)
        self.n_modes = n_modes
        fc_cols, d_cols = [], []
        dm_q = np.zeros((len(self.qpoints), n_modes, n_modes), complex)
        for k in range(n_f):  # phonopy's maps are linear: probe them with unit forces
            unit = np.zeros(n_f)
            unit[k] = 1.0
            produce_force_constants(ph, unit.reshape(self.force_shape), symmetrize_fc)
            fc_cols.append(np.array(ph.force_constants, float).ravel())
            for iq, q in enumerate(self.qpoints):
                ph.dynamical_matrix.run(q)
                dm_q[iq] = ph.dynamical_matrix.dynamical_matrix
            d_cols.append(dm_q.ravel().copy())
        self.fc_shape = tuple(np.shape(ph.force_constants))
        self.forces_to_fc = np.array(fc_cols).T  # (n_fc, n_f) 1/Å
        self.forces_to_dyn = np.array(d_cols).T  # (n_q n_modes², n_f) 1/(Å AMU)
        index_k = charge_indices(potential, list(ph.primitive.symbols))
        self.nac = (NacTerm(ph, index_k, dielectric, self.qpoints, directions)
                    if index_k is not None and dielectric is not None else None)

    def forces(self, theta: np.ndarray) -> np.ndarray:
        """Forces (B, n_disp, n_atoms, 3) eV/Å on the displaced supercells for theta (B, n_params)."""
        theta = np.atleast_2d(np.asarray(theta, float))
        pred = self.potential.evaluate(theta, self.tables)
        return pred.forces.reshape((len(theta), *self.force_shape))

    def force_constants(self, forces: np.ndarray) -> np.ndarray:
        """Compact force constants (B, n_prim, n_atoms, 3, 3) eV/Å², phonopy's layout."""
        f = np.asarray(forces, float).reshape(-1, int(np.prod(self.force_shape)))
        return np.einsum("bf,cf->bc", f, self.forces_to_fc).reshape((len(f), *self.fc_shape))

    def dynamical_matrices(self, forces: np.ndarray, theta: np.ndarray | None = None) -> np.ndarray:
        """Dynamical matrices (B, n_q, n_modes, n_modes), complex, eV/(Å² AMU); with NAC the
        non-analytic term of the charges in theta (B, n_params) is added."""
        f = np.asarray(forces, float).reshape(-1, int(np.prod(self.force_shape)))
        d = np.einsum("bf,df->bd", f, self.forces_to_dyn)  # row by row: independent of B
        d = d.reshape(len(f), len(self.qpoints), self.n_modes, self.n_modes)
        if self.nac is not None:
            if theta is None:
                raise ValueError("this batch has a non-analytic term: give theta (the charges)")
            d = d + self.nac.dynamical_matrices(theta)
        return d

    def frequencies_from_forces(self, forces: np.ndarray, theta: np.ndarray | None = None) -> np.ndarray:
        """Sorted frequencies (B, n_q, n_modes) in THz (theta: the charges, for the NAC term)."""
        return eigen_frequencies(self.dynamical_matrices(forces, theta), self.factor)

    def frequencies(self, theta: np.ndarray) -> np.ndarray:
        """Sorted frequencies (B, n_q, n_modes) in THz for parameter vectors theta (B, n_params)."""
        theta = np.atleast_2d(np.asarray(theta, float))
        return self.frequencies_from_forces(self.forces(theta), theta)


# --------------------------------------------------------------------------- symmetry


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


# --------------------------------------------------------------------------- band paths

#: high-symmetry points (reduced, phonopy's primitive reciprocal basis; Setyawan & Curtarolo 2010)
POINTS: dict[str, dict[str, tuple[float, float, float]]] = {
    "cF": {"Γ": (0, 0, 0), "X": (0.5, 0, 0.5), "W": (0.5, 0.25, 0.75), "K": (0.375, 0.375, 0.75),
           "L": (0.5, 0.5, 0.5), "U": (0.625, 0.25, 0.625)},
    "cI": {"Γ": (0, 0, 0), "H": (0.5, -0.5, 0.5), "N": (0, 0, 0.5), "P": (0.25, 0.25, 0.25)},
    "cP": {"Γ": (0, 0, 0), "X": (0, 0.5, 0), "M": (0.5, 0.5, 0), "R": (0.5, 0.5, 0.5)},
    "hP": {"Γ": (0, 0, 0), "A": (0, 0, 0.5), "H": (1 / 3, 1 / 3, 0.5), "K": (1 / 3, 1 / 3, 0),
           "L": (0.5, 0, 0.5), "M": (0.5, 0, 0)},
}
#: ``--path auto`` per lattice type (fcc: Γ X W K L, every distinct point of the zone; U is K)
AUTO_PATHS = {"cF": "GXWKGL", "cI": "GHNGPH|PN", "cP": "GXMGRX|MR", "hP": "GMKGALHA|LM|KH"}
#: adjacent letters naming equivalent points: a path jumps between them (GXUKGL = Γ-X-U|K-Γ-L)
EQUIVALENT = {"cF": {("U", "K"), ("K", "U")}}
LATTICE_NAMES = {"cF": "face-centred cubic", "cI": "body-centred cubic", "cP": "simple cubic",
                 "hP": "hexagonal"}
_GAMMA = {"G", "Γ", "GAMMA", "$\\GAMMA$", "\\GAMMA", "GM"}
#: joins the labels of one point of the zone named twice on a path (fcc: 'U≡K')
SAME = "≡"


def canonical_label(label: str) -> str:
    """'Γ' for any spelling of Gamma (G, Gamma, $\\Gamma$, Γ); other labels unchanged."""
    s = str(label).strip()
    return "Γ" if s.upper() in _GAMMA else s


def file_label(label: str) -> str:
    """Γ as 'Gamma' and ≡ (equivalent points, e.g. 'U≡K') as '=' for CSV files."""
    return "=".join("Gamma" if part == "Γ" else part for part in label.split(SAME))


@dataclass
class BandPath:
    """Segments of reduced q-points (each (n_k, 3), end points included), their end labels, and
    whether each segment continues into the next (phonopy's ``path_connections``)."""

    segments: list[np.ndarray]
    labels: list[tuple[str, str]]
    connections: list[bool]

    def phonopy_labels(self) -> list[str]:
        out: list[str] = []
        for k, (a, b) in enumerate(self.labels):
            if k == 0 or not self.connections[k - 1]:
                out.append(a)
            out.append(b)
        return ["$\\Gamma$" if x == "Γ" else x for x in out]

    def point_labels(self) -> list[str]:
        """One label per q-point ('' inside segments)."""
        out: list[str] = []
        for seg, (a, b) in zip(self.segments, self.labels, strict=True):
            lab = [""] * len(seg)
            lab[0], lab[-1] = a, b
            out += lab
        return out

    @property
    def qpoints(self) -> np.ndarray:
        return np.concatenate(self.segments)

    def transformed(self, t: np.ndarray) -> BandPath:
        """The same path with q-points mapped q -> q @ t."""
        return BandPath([s @ t for s in self.segments], list(self.labels), list(self.connections))


def parse_path(spec: str, ltype: str, where: str = "--path") -> list[list[str]]:
    """Runs of point names from a letter string ('GXU|KGL'; '|' or ',' breaks the path)."""
    points = POINTS[ltype]
    runs: list[list[str]] = []
    for part in re.split(r"[|,]", spec.replace(" ", "")):
        run: list[str] = []
        for ch in part:
            name = canonical_label(ch)
            if name not in points:
                known = ", ".join("G (Γ)" if p == "Γ" else p for p in points)
                raise GafitInputError(f"{where} '{spec}': unknown point '{ch}' for a "
                                      f"{LATTICE_NAMES[ltype]} lattice; known points: {known}")
            if run and (run[-1], name) in EQUIVALENT.get(ltype, ()):
                runs.append(run)
                run = []
            run.append(name)
        runs.append(run)
    for run in runs:
        if len(run) < 2:
            raise GafitInputError(f"{where} '{spec}': each part of the path needs at least two "
                                  f"points ({''.join(run) or 'an empty part'} stands alone)")
    return runs


def band_path(ph_or_atoms: Phonopy | Atoms, spec: str = "auto", npoints: int = NPOINTS) -> BandPath:
    """A band path for the lattice of a phonopy object's unit cell (or of ``atoms``).

    ``spec`` is ``"auto"`` (the standard path of the table for fcc/diamond, bcc, simple cubic and
    hexagonal lattices; seekpath is not used: its paths refer to its own primitive setting) or
    letters naming points of the table, e.g. ``"GXUKGL"``; ``|`` marks a break.
    """
    from phonopy.phonon.band_structure import get_band_qpoints_and_path_connections

    cell = ph_or_atoms.unitcell if isinstance(ph_or_atoms, Phonopy) else ph_or_atoms
    ltype, sg = lattice_type(cell)
    if ltype not in POINTS:
        raise GafitInputError(
            f"--path {spec}: gafit's path table covers fcc/diamond/rocksalt, bcc, simple cubic and "
            f"hexagonal lattices; this structure is {sg}, lattice type {ltype}: give a band.yaml or "
            "CSV --reference, whose q-points are then used")
    text = AUTO_PATHS[ltype] if spec.strip().lower() == "auto" else spec
    runs = parse_path(text, ltype)
    ends = [[POINTS[ltype][p] for p in run] for run in runs]
    segs, conn = get_band_qpoints_and_path_connections(ends, npoints=npoints)
    labels = [(a, b) for run in runs for a, b in zip(run[:-1], run[1:], strict=True)]
    return BandPath([np.asarray(s, float) for s in segs], labels, list(conn))


@dataclass
class Band:
    """A computed band structure: per q-point reduced q, segment, distance (1/Å, no 2π), sorted
    frequencies (THz) and label ('' inside segments)."""

    path: BandPath
    qpoints: np.ndarray
    segment: np.ndarray
    distances: np.ndarray
    frequencies: np.ndarray
    labels: list[str]


def run_band(ph: Phonopy, path: BandPath) -> Band:
    """Phonopy's band structure along ``path`` (reduced q of ph's primitive cell)."""
    ph.run_band_structure(path.segments, path_connections=path.connections,
                          labels=path.phonopy_labels())
    bs = ph.band_structure
    seg = np.concatenate([np.full(len(s), k) for k, s in enumerate(path.segments)])
    return Band(path=path, qpoints=np.concatenate(bs.qpoints), segment=seg,
                distances=np.concatenate(bs.distances),
                frequencies=np.sort(np.concatenate(bs.frequencies), axis=1),
                labels=path.point_labels())


def write_band_csv(band: Band, path: str | Path) -> None:
    """``segment,from,to,q1,q2,q3,distance,f1_THz..`` (the layout of the shared dft_phonon_band.csv)."""
    from gafit.io.atomic import atomic_write_text

    n = band.frequencies.shape[1]
    lines = ["# gafit phonons: q reduced in the primitive reciprocal basis; distance in 1/Angstrom "
             "(no 2pi); frequencies in THz",
             ",".join(["segment", "from", "to", "q1", "q2", "q3", "distance"]
                      + [f"f{i + 1}_THz" for i in range(n)])]
    for k in range(len(band.qpoints)):
        a, b = band.path.labels[band.segment[k]]
        row = [str(band.segment[k]), file_label(a), file_label(b)]
        row += [f"{x:.8f}" for x in band.qpoints[k]] + [f"{band.distances[k]:.8f}"]
        row += [f"{x:.6f}" for x in band.frequencies[k]]
        lines.append(",".join(row))
    atomic_write_text(path, "\n".join(lines) + "\n")


# --------------------------------------------------------------------------- references


@dataclass
class PhononReference:
    """Reference phonons: a phonopy data set (frequencies at any q), or fixed q-points with
    frequencies (band.yaml, CSV). q reduced in the reference's primitive reciprocal basis, THz."""

    source: Path
    kind: str  # "phonopy", "disp.yaml", "FORCE_SETS", "band.yaml", "points" or "csv"
    qpoints: np.ndarray | None = None  # (n_q, 3)
    frequencies: np.ndarray | None = None  # (n_q, n_modes) THz, sorted
    labels: list[str] = field(default_factory=list)  # per q-point, '' if none
    segment: np.ndarray | None = None  # (n_q,) segment index of each q-point
    lattice: np.ndarray | None = None  # primitive cell, rows, Å (None for CSV)
    symbols: list[str] | None = None  # of the primitive cell (None for CSV)
    phonopy: Phonopy | None = None

    @property
    def n_modes(self) -> int:
        if self.phonopy is not None:
            return 3 * len(self.phonopy.primitive)
        assert self.frequencies is not None
        return self.frequencies.shape[1]

    def frequencies_at(self, qpoints: np.ndarray | Sequence[Sequence[float]],
                       directions: np.ndarray | None = None) -> np.ndarray:
        """Sorted frequencies (n_q, n_modes) THz at reduced q (a phonopy data set with NAC: Γ along
        ``directions``, see :func:`frequencies_at`); fixed-q references must contain them."""
        q = np.atleast_2d(np.asarray(qpoints, float))
        if self.phonopy is not None:
            return frequencies_at(self.phonopy, q, directions)
        assert self.qpoints is not None and self.frequencies is not None
        out = np.empty((len(q), self.n_modes))
        for i, qi in enumerate(q):
            hit = np.flatnonzero(np.abs(self.qpoints - qi).max(axis=1) < 1e-6)
            if not len(hit):
                raise GafitInputError(f"{self.source}: no q-point {np.round(qi, 6).tolist()}")
            out[i] = self.frequencies[hit[0]]
        return out

    def path(self) -> BandPath:
        """The reference's own q-points as a band path (segments, end labels, connections)."""
        assert self.qpoints is not None
        seg = self.segment if self.segment is not None else np.zeros(len(self.qpoints), int)
        starts = np.flatnonzero(np.r_[True, seg[1:] != seg[:-1]])
        bounds = list(zip(starts, [*starts[1:], len(seg)], strict=True))
        segs = [self.qpoints[a:b] for a, b in bounds]
        labels = [(self.labels[a] if self.labels else "", self.labels[b - 1] if self.labels else "")
                  for a, b in bounds]
        conn = [bool(np.allclose(segs[k][-1], segs[k + 1][0], atol=1e-6)) for k in range(len(segs) - 1)]
        return BandPath(segs, labels, [*conn, False])


def _beside(path: Path, names: Sequence[str]) -> Path | None:
    return next((path.parent / n for n in names if (path.parent / n).exists()), None)


def _load_yaml(path: Path) -> Any:
    import yaml

    loader = getattr(yaml, "CSafeLoader", yaml.SafeLoader)
    try:
        return yaml.load(path.read_text(encoding="utf-8", errors="replace"), Loader=loader)
    except yaml.YAMLError as err:
        mark = getattr(err, "problem_mark", None)
        where = f" line {mark.line + 1}, column {mark.column + 1}" if mark else ""
        raise GafitInputError(f"{path}{where}: not valid YAML ({getattr(err, 'problem', err)})") from None


#: unit-cell files looked for beside an old-style disp.yaml (phonopy's usual names)
UNITCELL_FILES = ("POSCAR-unitcell", "POSCAR", "geometry.in", "unitcell.in")


def _phonopy_load(path: Path, kind: str, **kwargs: Any) -> PhononReference:
    """phonopy.load(**kwargs) with BORN beside ``path`` (non-analytical correction, as phonopy does),
    as a reference of ``kind``; errors name ``path``."""
    import phonopy

    born = _beside(path, ["BORN"])
    if born is not None:
        kwargs["born_filename"] = str(born)
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            ph = phonopy.load(log_level=0, **kwargs)
    except Exception as err:
        msg = " ".join(str(err).split()) or type(err).__name__
        raise GafitInputError(f"{path}: phonopy cannot load it ({msg})") from None
    if ph.force_constants is None:
        raise GafitInputError(f"{path}: phonopy found no forces or force constants for it")
    return PhononReference(source=path, kind=kind, lattice=np.array(ph.primitive.cell),
                           symbols=list(ph.primitive.symbols), phonopy=ph)


def _load_phonopy_reference(path: Path, data: dict) -> PhononReference:
    kwargs: dict[str, Any] = {}
    fsets = _beside(path, ["FORCE_SETS"])
    fcs = _beside(path, ["FORCE_CONSTANTS", "force_constants.hdf5"])
    has_data = "force_constants" in data or any(
        "forces" in d for d in (data.get("displacements") or []) if isinstance(d, dict))
    if fsets is not None:
        kwargs["force_sets_filename"] = str(fsets)
    elif fcs is not None:
        kwargs["force_constants_filename"] = str(fcs)
    elif not has_data:
        raise GafitInputError(f"{path}: a phonopy data set needs FORCE_SETS or force constants "
                              "(FORCE_CONSTANTS, force_constants.hdf5) beside it, or in the file")
    return _phonopy_load(path, "phonopy", phonopy_yaml=str(path), **kwargs)


def _load_force_sets(path: Path, unitcell: Atoms | None, supercell: Any) -> PhononReference:
    """A bare FORCE_SETS: the unit cell and supercell it was computed with must be given."""
    if unitcell is None or supercell is None:
        setup = _beside(path, ["phonopy_disp.yaml", "phonopy.yaml", "disp.yaml"])
        hint = f" (or use {setup.name} beside it as the reference)" if setup is not None else ""
        raise GafitInputError(
            f"{path}: a bare FORCE_SETS needs the unit cell and the supercell it was computed with: "
            "give structure = \"POSCAR\" and supercell = [2, 2, 2] in [phonons] (gafit phonons: "
            f"--structure and --supercell){hint}")
    return _phonopy_load(path, "FORCE_SETS", unitcell=to_phonopy_atoms(unitcell),
                         supercell_matrix=supercell_matrix(supercell), primitive_matrix="auto",
                         force_sets_filename=str(path))


def _load_disp_yaml(path: Path, unitcell: Atoms | None, supercell: Any) -> PhononReference:
    """Older phonopy's disp.yaml (the supercell and its displacements) with FORCE_SETS beside it;
    the unit cell is ``unitcell`` or a POSCAR-unitcell (POSCAR, geometry.in) beside it, the
    supercell matrix ``supercell`` or the one relating the two cells."""
    from phonopy.file_IO import parse_disp_yaml

    fsets = _beside(path, ["FORCE_SETS"])
    if fsets is None:
        raise GafitInputError(f"{path}: an old-style disp.yaml needs the forces in FORCE_SETS beside it")
    try:
        _, cell = parse_disp_yaml(str(path), return_cell=True)
    except Exception as err:
        raise GafitInputError(f"{path}: not a phonopy disp.yaml ({' '.join(str(err).split())})") from None
    if unitcell is None:
        found = _beside(path, UNITCELL_FILES)
        if found is None:
            raise GafitInputError(
                f"{path}: an old-style disp.yaml holds only the supercell: give its unit cell "
                "(structure = \"POSCAR-unitcell\" in [phonons]; gafit phonons: --structure) or put "
                f"one of {', '.join(UNITCELL_FILES)} beside it")
        unitcell = read_structure(found, f"{path}: unit cell")
    if supercell is None:  # phonopy: supercell lattice (rows) = M^T @ unit-cell lattice
        m = (np.array(cell.cell) @ np.linalg.inv(np.array(unitcell.cell))).T
        if np.abs(m - np.round(m)).max() > 1e-3 or round(abs(np.linalg.det(m))) < 1:
            raise GafitInputError(f"{path}: its supercell is not an integer multiple of the unit cell "
                                  f"{len(unitcell)} atoms; give supercell = [...] ([phonons]) or "
                                  "--supercell")
        supercell = np.round(m).astype(int)
    ref = _phonopy_load(path, "disp.yaml", unitcell=to_phonopy_atoms(unitcell),
                        supercell_matrix=supercell_matrix(supercell), primitive_matrix="auto",
                        force_sets_filename=str(fsets))
    built = ref.phonopy.supercell  # type: ignore[union-attr]
    same = (len(built) == len(cell) and list(built.symbols) == list(cell.symbols)
            and np.allclose(built.cell, cell.cell, atol=1e-5))
    if same:
        d = np.array(built.scaled_positions) - np.array(cell.scaled_positions)
        same = np.abs(d - np.round(d)).max() < 1e-5
    if not same:
        raise GafitInputError(f"{path}: the supercell built from the unit cell ({len(built)} atoms) "
                              "is not the one of disp.yaml (atom by atom): not the cell it was made from")
    return ref


def _load_band_yaml(path: Path, data: dict) -> PhononReference:
    """phonopy's band.yaml (segments of a path), or qpoints.yaml / mesh.yaml (separate q-points)."""
    try:
        pts = data["phonon"]
        q = np.array([p["q-position"] for p in pts], float)
        f = np.sort(np.array([[b["frequency"] for b in p["band"]] for p in pts], float), axis=1)
        counts = data.get("segment_nqpoint")
        seg = np.repeat(np.arange(len(counts)), counts) if counts else np.arange(len(q))
        lattice = None
        if "lattice" in data:
            lattice = np.array(data["lattice"], float)
        elif "reciprocal_lattice" in data:  # rows b_i with a_i . b_j = delta_ij (no 2 pi)
            lattice = np.linalg.inv(np.array(data["reciprocal_lattice"], float)).T
        symbols = [p["symbol"] for p in data["points"]] if "points" in data else None
    except (KeyError, TypeError, ValueError, np.linalg.LinAlgError) as err:
        raise GafitInputError(f"{path}: not a phonopy band.yaml, qpoints.yaml or mesh.yaml "
                              f"({type(err).__name__}: {err})") from None
    if len(seg) != len(q):
        raise GafitInputError(f"{path}: segment_nqpoint adds up to {len(seg)}, not {len(q)} q-points")
    labels = [""] * len(q)
    starts = np.flatnonzero(np.r_[True, seg[1:] != seg[:-1]])
    ends = [*(starts[1:] - 1), len(q) - 1]
    for k, (a, b) in enumerate(data.get("labels") or []):
        labels[starts[k]], labels[ends[k]] = canonical_label(a), canonical_label(b)
    return PhononReference(source=path, kind="band.yaml", qpoints=q, frequencies=f, labels=labels,
                           segment=seg, lattice=lattice, symbols=symbols)


def _load_points_yaml(path: Path, data: dict) -> PhononReference:
    """A YAML list ``points`` of {name, q_reduced_primitive, frequencies_THz}, with optional
    ``primitive_cell_angstrom`` and ``primitive_symbols`` (like dft_phonon_frequencies.yaml)."""
    try:
        pts = data["points"]
        q = np.array([p["q_reduced_primitive"] for p in pts], float).reshape(len(pts), 3)
        f = np.sort(np.array([p["frequencies_THz"] for p in pts], float), axis=1)
        labels = [canonical_label(p.get("name", "")) for p in pts]
        cell = data.get("primitive_cell_angstrom")
        lattice = np.array(cell, float).reshape(3, 3) if cell is not None else None
        symbols = data.get("primitive_symbols")
    except (KeyError, TypeError, ValueError) as err:
        raise GafitInputError(f"{path}: points need q_reduced_primitive and frequencies_THz "
                              f"({type(err).__name__}: {err})") from None
    if f.ndim != 2:
        raise GafitInputError(f"{path}: every point needs the same number of frequencies_THz")
    return PhononReference(source=path, kind="points", qpoints=q, frequencies=f, labels=labels,
                           segment=np.arange(len(q)), lattice=lattice,
                           symbols=list(symbols) if symbols is not None else None)


def _load_csv_reference(path: Path) -> PhononReference:
    rows: list[tuple[int, list[str]]] = []
    header: list[str] | None = None
    with path.open(newline="", encoding="utf-8", errors="replace") as fh:
        for n, row in enumerate(csv.reader(fh), 1):
            if not row or row[0].lstrip().startswith("#"):
                continue
            if header is None:
                header = [c.strip() for c in row]
            else:
                rows.append((n, row))
    if header is None or not rows:
        raise GafitInputError(f"{path}: no data rows")
    col = {c: i for i, c in enumerate(header)}
    fcols = []
    for i in range(1, len(header) + 1):
        name = next((c for c in (f"f{i}", f"f{i}_THz") if c in col), None)
        if name is None:
            break
        fcols.append(col[name])
    missing = [c for c in ("q1", "q2", "q3") if c not in col] + ([] if fcols else ["f1 (or f1_THz)"])
    if missing:
        raise GafitInputError(f"{path}: missing columns {', '.join(missing)} (need q1,q2,q3 and "
                              "f1..fn in THz)")
    q, f, seg, ends = [], [], [], []
    for n, row in rows:
        if len(row) != len(header):
            raise GafitInputError(f"{path} line {n}: {len(row)} values for {len(header)} columns")
        try:
            q.append([float(row[col[c]]) for c in ("q1", "q2", "q3")])
            f.append([float(row[i]) for i in fcols])
            seg.append(int(row[col["segment"]]) if "segment" in col else 0)
        except ValueError as err:
            raise GafitInputError(f"{path} line {n}: {err}") from None
        ends.append((row[col["from"]], row[col["to"]]) if "from" in col and "to" in col else ("", ""))
    seg_a = np.array(seg)
    first = np.r_[True, seg_a[1:] != seg_a[:-1]]
    last = np.r_[seg_a[1:] != seg_a[:-1], True]
    point_labels = [canonical_label(a if first[k] else b if last[k] else "")
                    for k, (a, b) in enumerate(ends)]
    return PhononReference(source=path, kind="csv", qpoints=np.array(q),
                           frequencies=np.sort(np.array(f), axis=1), labels=point_labels,
                           segment=seg_a)


def load_reference(path: str | Path, structure: Atoms | None = None,
                   supercell: Any = None) -> PhononReference:
    """Read reference phonons:

    - a phonopy data set: ``phonopy_disp.yaml``/``phonopy.yaml`` with FORCE_SETS or force constants
      beside it (or a folder holding one); older phonopy's ``disp.yaml`` with FORCE_SETS beside it
      (unit cell: ``structure`` or a POSCAR-unitcell beside it); a bare ``FORCE_SETS`` with the
      ``structure`` (unit cell) and ``supercell`` it was computed with;
    - frequencies at fixed q-points: phonopy's ``band.yaml``, ``qpoints.yaml`` or ``mesh.yaml``, a
      YAML list of ``points`` (name, q_reduced_primitive, frequencies_THz), or a CSV with columns
      q1,q2,q3 (reduced, primitive reciprocal basis) and f1..fn (THz).

    ``structure`` and ``supercell`` are used only by the kinds that need them.
    """
    path = Path(path)
    if path.is_dir():
        found = next((path / n for n in ("phonopy_params.yaml", "phonopy.yaml", "phonopy_disp.yaml",
                                         "disp.yaml") if (path / n).exists()), None)
        if found is None:
            raise GafitInputError(f"{path}: folder without phonopy.yaml, phonopy_disp.yaml or disp.yaml")
        path = found
    if not path.exists():
        raise GafitInputError(f"{path}: no such file")
    if path.name.upper().startswith("FORCE_SETS"):
        return _load_force_sets(path, structure, supercell)
    if path.suffix.lower() == ".csv":
        return _load_csv_reference(path)
    if path.suffix.lower() in (".yaml", ".yml"):
        data = _load_yaml(path)
        if isinstance(data, dict) and "phonon" in data:
            return _load_band_yaml(path, data)
        if isinstance(data, dict) and isinstance(data.get("points"), list) and all(
                isinstance(p, dict) and "frequencies_THz" in p for p in data["points"]):
            return _load_points_yaml(path, data)
        if isinstance(data, dict) and ("phonopy" in data or "unit_cell" in data):
            return _load_phonopy_reference(path, data)
        if isinstance(data, dict) and "displacements" in data and "lattice" in data:
            return _load_disp_yaml(path, structure, supercell)
    raise GafitInputError(f"{path}: unknown phonon reference (expected phonopy_disp.yaml/phonopy.yaml "
                          "or disp.yaml with FORCE_SETS, FORCE_SETS with a structure and supercell, "
                          "band.yaml/qpoints.yaml/mesh.yaml, a YAML list of points with "
                          "frequencies_THz, or a CSV with q1,q2,q3,f1..fn)")


def reference_supercell(structure: Any, ph: Any, own_cell: bool) -> np.ndarray:
    """The supercell of a phonopy reference ``ph`` as a matrix of multiples of ``structure``'s cell
    (phonopy's convention), when ``own_cell``: the same crystal in another cell (e.g. a lattice name's
    primitive cell beside the reference's conventional one), lattices equal up to a uniform scale."""
    ref = np.array(ph.unitcell.cell)
    mine = np.array(structure.cell)
    mine = mine * (abs(np.linalg.det(ref)) / len(ph.unitcell) * len(structure)
                   / abs(np.linalg.det(mine))) ** (1 / 3)  # the reference's volume per atom
    if not own_cell or (len(structure) == len(ph.unitcell)
                        and np.abs(mine @ mine.T - ref @ ref.T).max() < 0.05 * np.abs(ref @ ref.T).max()):
        return np.asarray(ph.supercell_matrix)  # the reference's cell, maybe rotated or strained
    m = np.array(ph.supercell.cell) @ np.linalg.inv(mine)  # supercell rows = m @ my rows
    if np.abs(m - np.round(m)).max() > 0.02 or round(abs(np.linalg.det(m))) < 1:
        raise GafitInputError(
            "--structure: the phonopy --reference's supercell is not a whole multiple of this cell "
            "(another orientation or another crystal?): give --supercell")
    return np.round(m).astype(int).T


def reference_cells(reference: PhononReference | None, structure: Atoms | None, supercell: Any
                    ) -> tuple[Atoms | None, Any]:
    """The unit cell and supercell of a phonon calculation against ``reference``: ``structure`` and
    ``supercell`` when given; else those of a phonopy data set (its unit cell; its supercell in
    multiples of ``structure``'s cell, see :func:`reference_supercell`); None for each that neither
    gives (a frequency-file reference, or none)."""
    ph = reference.phonopy if reference is not None else None
    own_cell = structure is not None
    if structure is None and ph is not None:
        structure = to_ase_atoms(ph.unitcell)
    if supercell is None and ph is not None and structure is not None:
        supercell = reference_supercell(structure, ph, own_cell)
    return structure, supercell


def q_transform(lattice_from: np.ndarray, lattice_to: np.ndarray, what: str = "the reference") -> np.ndarray:
    """Integer matrix T with q_to = q_from @ T (reduced q) between two primitive cells of one crystal.

    The identity when the cells are the same setting up to a rotation, a uniform scaling and small
    strains (same metric: e.g. a relaxed or rotated copy); otherwise the change of basis between two
    choices of primitive vectors in the same orientation; an error if neither fits.
    """
    lf, lt = np.asarray(lattice_from, float), np.asarray(lattice_to, float)
    nf, nt = lf / abs(np.linalg.det(lf)) ** (1 / 3), lt / abs(np.linalg.det(lt)) ** (1 / 3)
    if np.abs(nt @ nt.T - nf @ nf.T).max() < 0.05 * np.abs(nf @ nf.T).max():
        return np.eye(3)
    m = nt @ np.linalg.inv(nf)  # lt = m lf up to scaling
    mr = np.round(m)
    if np.abs(m - mr).max() > 0.05 or round(abs(np.linalg.det(mr))) != 1:
        raise GafitInputError(
            f"the structure's primitive cell is not in the same setting as {what}'s (the lattices "
            "differ by more than a rotation, a uniform scaling and a change of basis): use the "
            "reference's unit cell as --structure")
    return mr.T


# --------------------------------------------------------------------------- errors


@dataclass
class ErrorRow:
    """RMS and largest |gafit - reference| (THz) over a point's modes (or the whole path)."""

    point: str
    qpoint: np.ndarray | None
    n_q: int
    rms: float
    max_abs: float
    gafit: np.ndarray | None = None
    reference: np.ndarray | None = None
    q_direction: str = ""  # with NAC at Γ: the direction q approached Γ from ('Γ-X: 0.5 0 0.5')


@dataclass
class ErrorTable:
    """First row: the whole path; then ``points``, all modes at each distinct labelled point once;
    then one row per distinct labelled point, in path order (labels of one point joined by ≡).
    ``nac``: how the non-analytic term was applied (one line, printed first), '' without."""

    rows: list[ErrorRow]
    nac: str = ""

    @property
    def rms(self) -> float:
        return self.rows[0].rms

    def row(self, point: str) -> ErrorRow:
        """The row of a point, by any of its labels ('K' finds 'U≡K')."""
        name = canonical_label(point)
        return next(r for r in self.rows if r.point == name or name in r.point.split(SAME))

    def text(self) -> str:
        out = [self.nac] if self.nac else []
        out.append(f"{'point':12s}{'RMS (THz)':>11s}{'max|Δ| (THz)':>14s}  gafit / reference (THz)")
        for r in self.rows:
            freqs = ""
            if r.gafit is not None and r.reference is not None:
                freqs = (" ".join(f"{x:.3f}" for x in r.gafit) + " / "
                         + " ".join(f"{x:.3f}" for x in r.reference))
            if r.q_direction:
                freqs += f"  (q → Γ along {r.q_direction})"
            out.append(f"{r.point:12s}{r.rms:11.4f}{r.max_abs:14.4f}  {freqs}")
        return "\n".join(out)

    def write_csv(self, path: str | Path) -> None:
        from gafit.io.atomic import atomic_write_text

        lines = ["point,q1,q2,q3,n_q,rms_THz,max_abs_THz,gafit_THz,reference_THz,q_direction,nac"]
        for r in self.rows:
            q = ["", "", ""] if r.qpoint is None else [f"{x:.6f}" for x in r.qpoint]
            fg = "" if r.gafit is None else " ".join(f"{x:.6f}" for x in r.gafit)
            fr = "" if r.reference is None else " ".join(f"{x:.6f}" for x in r.reference)
            nac = self.nac if r is self.rows[0] else ""
            lines.append(",".join([file_label(r.point), *q, str(r.n_q), f"{r.rms:.6f}",
                                   f"{r.max_abs:.6f}", fg, fr, r.q_direction.replace("Γ", "Gamma"),
                                   nac.replace(",", ";")]))
        atomic_write_text(path, "\n".join(lines) + "\n")


def same_point(q1: np.ndarray, q2: np.ndarray, rotations: np.ndarray | None = None,
               tol: float = 1e-6) -> bool:
    """Whether reduced q-points q1, q2 are one point of the zone: equal modulo a reciprocal lattice
    vector, or (``rotations``: the point group's integer matrices R in the same reduced basis, acting
    as q @ R) related by a rotation, with or without time reversal (q -> -q)."""
    rot = np.eye(3)[None] if rotations is None else np.asarray(rotations, float)
    images = np.concatenate([np.asarray(q1, float) @ rot, -np.asarray(q1, float) @ rot])
    d = images - np.asarray(q2, float)
    return bool((np.abs(d - np.round(d)).max(axis=1) < tol).any())


def distinct_points(labels: Sequence[str], qpoints: np.ndarray | None = None,
                    rotations: np.ndarray | None = None) -> list[tuple[str, list[int]]]:
    """The distinct labelled points of a path, in path order: (name, indices of its q-points).

    With ``qpoints`` (reduced), labelled q-points are one point when :func:`same_point` says so (fcc:
    U and K, given the point group's ``rotations``), and their labels are joined by ≡; without, one
    point per label.
    """
    groups: list[tuple[list[str], list[int]]] = []
    for k, lab in enumerate(labels):
        if not lab:
            continue
        for names, idx in groups:
            if (lab in names if qpoints is None
                    else same_point(qpoints[idx[0]], qpoints[k], rotations)):
                idx.append(k)
                if lab not in names:
                    names.append(lab)
                break
        else:
            groups.append(([lab], [k]))
    return [(SAME.join(names), idx) for names, idx in groups]


def compare(gafit: np.ndarray, reference: np.ndarray, labels: Sequence[str] | None = None,
            qpoints: np.ndarray | None = None, rotations: np.ndarray | None = None,
            directions: Sequence[str] | None = None, nac: str = "") -> ErrorTable:
    """Errors of sorted frequencies (n_q, n_modes) THz at the same q-points: whole path, the distinct
    labelled points together (each once), and each of them (see :func:`distinct_points` for
    ``qpoints`` and ``rotations``). ``directions``: per q-point, the q-direction used at Γ with NAC
    (text, '' for none; a point's row quotes that of its first q-point); ``nac``: see ErrorTable."""
    g = np.sort(np.asarray(gafit, float), axis=1)
    r = np.sort(np.asarray(reference, float), axis=1)
    if g.shape != r.shape:
        raise GafitInputError(f"gafit has {g.shape[1]} modes at {g.shape[0]} q-points, the reference "
                              f"{r.shape[1]} at {r.shape[0]}: is it the same crystal?")
    d = g - r
    rows = [ErrorRow("whole path", None, len(d), float(np.sqrt(np.mean(d**2))), float(np.abs(d).max()))]
    q = None if qpoints is None else np.asarray(qpoints, float)
    points = distinct_points(list(labels or [""] * len(d)), q, rotations)
    if len(points) > 1:  # each distinct point once, all its modes: the figure a fit target quotes
        first = [idx[0] for _, idx in points]
        rows.append(ErrorRow("points", None, len(first), float(np.sqrt(np.mean(d[first] ** 2))),
                             float(np.abs(d[first]).max())))
    for name, idx in points:
        dk = d[idx]
        rows.append(ErrorRow(name, None if q is None else q[idx[0]], len(idx),
                             float(np.sqrt(np.mean(dk**2))), float(np.abs(dk).max()), g[idx[0]], r[idx[0]],
                             directions[idx[0]] if directions is not None else ""))
    return ErrorTable(rows, nac)


# --------------------------------------------------------------------------- plot


def plot_band(band: Band, title: str = "", reference: np.ndarray | None = None,
              reference_name: str = "DFT", name: str = "gafit") -> Any:
    """Matplotlib figure of the dispersion (THz); ``reference`` (n_q, n_modes) dashed on top."""
    from matplotlib.figure import Figure  # no pyplot: the caller's backend is left alone

    fig = Figure(figsize=(7, 4.8))
    ax = fig.subplots()
    x = band.distances
    # separate q-points (qpoints.yaml, a list of points), not a path: evenly spaced markers
    single = all(len(s) == 1 for s in band.path.segments)
    if single:
        x = np.arange(len(x), dtype=float)
    mine = {"marker": "o", "ls": "none", "ms": 5} if single else {"lw": 1.4}
    theirs = {"marker": "x", "ls": "none", "ms": 6} if single else {"lw": 1.2, "ls": "--"}
    for k in range(len(band.path.segments)):
        sel = band.segment == k
        for m in range(band.frequencies.shape[1]):
            first = k == 0 and m == 0
            ax.plot(x[sel], band.frequencies[sel, m], color="C0", label=name if first else None,
                    **mine)
            if reference is not None:
                ax.plot(x[sel], reference[sel, m], color="C3", label=reference_name if first else None,
                        **theirs)
    ticks: list[float] = []
    names: list[str] = []
    for k, (a, b) in enumerate(band.path.labels):
        sel = np.flatnonzero(band.segment == k)
        start, end = float(x[sel[0]]), float(x[sel[-1]])
        if k == 0 or not band.path.connections[k - 1]:
            if ticks and abs(ticks[-1] - start) < 1e-12:
                names[-1] = f"{names[-1]}|{a}"
            else:
                ticks.append(start)
                names.append(a)
        ticks.append(end)
        names.append(b)
    for t in ticks:
        ax.axvline(t, color="0.6", lw=0.7)
    ax.axhline(0.0, color="0.6", lw=0.7, ls=":")
    ax.set_xticks(ticks, names)
    ax.set_xlim(*((x[0] - 0.5, x[-1] + 0.5) if single else (float(x[0]), float(x[-1]))))
    ax.set_ylabel("Frequency (THz)")
    ax.set_title(title, fontsize=10)
    ax.legend(loc="best", frameon=False)
    fig.tight_layout()
    return fig


# --------------------------------------------------------------------------- the whole report


@dataclass
class PhononResult:
    """What :func:`phonon_report` computed and wrote."""

    phonopy: Phonopy
    structure: Atoms
    lattice_constant: float | None  # conventional cubic a, Å (None if not cubic)
    relaxed: bool
    band: Band
    reference: PhononReference | None = None
    reference_frequencies: np.ndarray | None = None  # (n_q, n_modes) at band.qpoints, THz
    errors: ErrorTable | None = None
    files: list[Path] = field(default_factory=list)
    residual_force: float = 0.0  # largest |F| (eV/Å) on the unit cell used: 0 at equilibrium
    nac: dict[str, Any] = field(default_factory=dict)  # how the non-analytic term was applied

    @property
    def model_nac_text(self) -> str:
        """'Z* = q, ε∞ = 1 (rigid ion)' for a model with NAC, '' without."""
        return f"Z* = q, {self.nac['epsilon_text']}" if self.nac.get("model") else ""

    @property
    def reference_nac(self) -> bool:
        """Whether the reference's frequencies carry phonopy's NAC (a BORN file beside it)."""
        ph = self.reference.phonopy if self.reference is not None else None
        return ph is not None and ph.nac_params is not None

    @property
    def cell_parameters(self) -> dict[str, float]:
        """a, b, c (Å), alpha, beta, gamma (deg) of the unit cell used."""
        from gafit.crystals import cell_parameters

        return cell_parameters(self.structure)

    @property
    def imaginary(self) -> Any:
        """Imaginary modes on the band path (:func:`gafit.stability.imaginary_modes`)."""
        from gafit.stability import imaginary_modes

        return imaginary_modes(self.band.frequencies, is_gamma(self.band.qpoints),
                               [canonical_label(lab) for lab in self.band.labels], self.band.qpoints)

    def summary(self) -> dict[str, Any]:
        points = {}
        for k, lab in enumerate(self.band.labels):
            if lab and lab not in points:
                points[file_label(lab)] = [round(float(x), 6) for x in self.band.frequencies[k]]
        out: dict[str, Any] = {
            "relaxed": self.relaxed,
            "lattice_constant_angstrom": self.lattice_constant,
            "cell_parameters": {k: round(v, 8) for k, v in self.cell_parameters.items()},
            "residual_force_eV_per_angstrom": self.residual_force,
            "supercell_matrix": np.asarray(self.phonopy.supercell_matrix).tolist(),
            "n_displacements": len(self.phonopy.supercells_with_displacements),
            "frequencies_THz": points,
            "imaginary_modes": self.imaginary.to_dict(),  # gafit.stability: '! ...' flags
            "units": {"frequency": "THz", "length": "Å", "q": "reduced, primitive reciprocal basis"},
        }
        if self.nac:
            out["nac"] = {k: v for k, v in self.nac.items() if k != "epsilon_text"}
        if self.errors is not None and self.reference is not None:
            out["reference"] = str(self.reference.source)
            out["rms_error_THz"] = {file_label(r.point): r.rms for r in self.errors.rows}
            out["gamma_q_direction"] = {file_label(r.point): r.q_direction for r in self.errors.rows
                                        if r.q_direction}
        return out


def _check_same_crystal(reference: PhononReference, ph: Phonopy) -> None:
    mine, theirs = " ".join(sorted(ph.primitive.symbols)), " ".join(sorted(reference.symbols or []))
    if reference.symbols is not None and theirs != mine:
        raise GafitInputError(f"{reference.source}: the reference's primitive cell holds {theirs}, "
                              f"the structure's {mine}: not the same crystal")
    if reference.n_modes != 3 * len(ph.primitive):
        raise GafitInputError(f"{reference.source}: the reference has {reference.n_modes} modes, the "
                              f"structure's primitive cell {3 * len(ph.primitive)}: not the same crystal")


def phonon_report(potential: Potential, structure: Atoms, supercell: Any, out: str | Path | None = None,
                  *, path: str = "auto", reference: PhononReference | None = None, relax: bool = True,
                  npoints: int = NPOINTS, displacement: float = DISPLACEMENT, name: str = "gafit",
                  reference_name: str = "DFT", epsilon_inf: Epsilon = 1.0) -> PhononResult:
    """Dispersion of ``potential`` for ``structure`` (with ``relax``, cell and positions relaxed first by
    :func:`gafit.crystals.relax`, space group kept), compared with ``reference``; writes band.yaml,
    band.csv, phonons.png/pdf, errors.csv, phonons.json in ``out``.

    A phonopy-data-set reference is evaluated on the path's q-points; a band.yaml/CSV reference fixes
    the q-points (its own path) and gafit is evaluated there.

    A potential with Coulomb charges gets phonopy's non-analytic correction with Born charges = its
    charges and ε∞ = ``epsilon_inf`` (a number, ``"born"``: the reference's BORN file, None: no NAC);
    Γ on the path is approached along its segment, as phonopy's band structure does, for gafit and
    for a phonopy-data-set reference with a BORN file alike.
    """
    _check_species(potential, structure.get_chemical_symbols(), "structure")
    ltype, _ = lattice_type(structure)
    cubic = ltype[0] == "c"
    if reference is None or reference.phonopy is not None:
        band_path(structure, path, npoints=2)  # check the lattice and the letters before any work
    charged = charge_indices(potential, structure.get_chemical_symbols()) is not None
    dielectric = (dielectric_tensor(epsilon_inf, reference, new_phonopy(structure, supercell).primitive)
                  if charged else None)  # a bad "born" is told before any work
    atoms = crystals.relax(potential, structure).atoms if relax else structure
    a = cubic_lattice_constant(atoms) if cubic else None
    ph = make_phonopy(potential, atoms, supercell, displacement, dielectric=dielectric)
    if reference is not None:
        _check_same_crystal(reference, ph)
    q_k = ph.nac_params["born"][:, 0, 0] if ph.nac_params is not None else None
    nac: dict[str, Any] = {}
    if q_k is not None:
        assert dielectric is not None
        nac = {"model": True, "born_charges_e": {f"{s}{k + 1}": round(float(x), 8) for k, (s, x)
                                                 in enumerate(zip(ph.primitive.symbols, q_k, strict=True))},
               "epsilon_inf": np.round(dielectric, 8).tolist(),
               "epsilon_source": "BORN" if epsilon_inf == "born" else "given",
               "epsilon_text": epsilon_text(dielectric, epsilon_inf), "factor_eV_angstrom": NAC_FACTOR}
    elif charged:
        nac = {"model": False, "epsilon_text": "no NAC"}

    ref_freq = None
    if reference is None or reference.phonopy is not None:
        bpath = band_path(ph, path, npoints)
    else:
        bpath = reference.path()
        if reference.lattice is not None:
            bpath = bpath.transformed(q_transform(reference.lattice, ph.primitive.cell))
    band = run_band(ph, bpath)
    directions = path_directions(bpath.segments, ph.primitive.cell)  # phonopy's band: Γ along segments
    if reference is not None:
        if reference.phonopy is not None:
            t = q_transform(ph.primitive.cell, reference.phonopy.primitive.cell)
            ref_freq = reference.frequencies_at(band.qpoints @ t, directions @ t)
        else:
            assert reference.frequencies is not None
            ref_freq = reference.frequencies
    result = PhononResult(ph, atoms, a, relax, band, reference, ref_freq,
                          residual_force=float(np.abs(phonon_forces(potential, [atoms])[0]).max()),
                          nac=nac)
    if ref_freq is not None:
        notes = [""] * len(band.qpoints)
        if result.reference_nac or q_k is not None:
            first = np.r_[True, band.segment[1:] != band.segment[:-1]]
            away = np.where(first[:, None], -directions, directions)  # from Γ into its segment
            notes = [f"{a}-{b}: {direction_text(d)}" if g and direction_text(d) else ""
                     for (a, b), d, g in zip([bpath.labels[k] for k in band.segment], away,
                                             is_gamma(band.qpoints), strict=True)]
        result.errors = compare(band.frequencies, ref_freq, band.labels, band.qpoints,
                                ph.primitive_symmetry.pointgroup_operations, notes,
                                _nac_line(result, reference_name))
    if out is not None:
        _write_outputs(result, Path(out), name, reference_name)
    return result


def _nac_line(res: PhononResult, reference_name: str) -> str:
    """'NAC: gafit Z* = q, ε∞ = 1 (rigid ion); DFT: BORN' (or 'none' on a side), '' when neither has it."""
    if not res.nac and not res.reference_nac:
        return ""
    mine = res.model_nac_text or "none"
    theirs = "BORN" if res.reference_nac else "none"
    return f"NAC: gafit {mine}; {reference_name}: {theirs}"


def _write_outputs(res: PhononResult, out: Path, name: str, reference_name: str) -> None:
    from gafit.io.atomic import atomic_batch

    with atomic_batch():  # all files renamed into place together: a full disk leaves old ones whole
        _write_files(res, out, name, reference_name)
    if res.errors is None:  # an earlier run's comparison would sit beside these results
        (out / "errors.csv").unlink(missing_ok=True)


def _write_files(res: PhononResult, out: Path, name: str, reference_name: str) -> None:
    from gafit.io import strict_json
    from gafit.io.atomic import atomic_write, atomic_write_text

    out.mkdir(parents=True, exist_ok=True)
    comment = {"gafit_potential": name, "relaxed": res.relaxed}
    if res.lattice_constant is not None:
        comment["lattice_constant_angstrom"] = round(res.lattice_constant, 8)
    atomic_write(out / "band.yaml",
                 lambda tmp: res.phonopy.write_yaml_band_structure(comment=comment, filename=tmp))
    write_band_csv(res.band, out / "band.csv")
    files = [out / "band.yaml", out / "band.csv"]
    formula = res.structure.get_chemical_formula(empirical=True)
    geometry = ("relaxed " if res.relaxed else "as given, ") + cell_text(res.structure, res.lattice_constant)
    title = f"{formula}: {name}, {geometry}"
    if res.errors is not None:
        title += f"; RMS vs {reference_name} {res.errors.rms:.3f} THz"
    label = f"{name} ({res.model_nac_text})" if res.model_nac_text else name
    ref_label = f"{reference_name} (NAC from BORN)" if res.reference_nac else reference_name
    fig = plot_band(res.band, title, res.reference_frequencies, ref_label, label)
    for ext in ("png", "pdf"):
        atomic_write(out / f"phonons.{ext}", lambda tmp, ext=ext: fig.savefig(tmp, dpi=150, format=ext))
        files.append(out / f"phonons.{ext}")
    if res.errors is not None:
        res.errors.write_csv(out / "errors.csv")
        files.append(out / "errors.csv")
    atomic_write_text(out / "phonons.json", strict_json.dumps(res.summary(), indent=2, ensure_ascii=False)
                      + "\n")
    files.append(out / "phonons.json")
    res.files = files
