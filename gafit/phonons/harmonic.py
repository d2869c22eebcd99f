"""Harmonic phonons of gafit potentials with phonopy: force constants from gafit's forces, frequencies
at any q, and :class:`PhononBatch`, the frequencies of a whole population (what a fit needs).

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

import warnings
import weakref
from collections.abc import Callable, Sequence
from typing import Any

import numpy as np
from ase import Atoms
from phonopy import Phonopy
from phonopy import __version__ as phonopy_version
from phonopy.structure.atoms import PhonopyAtoms

from gafit import disk_cache
from gafit.nac import (
    NacTerm,
    charge_indices,
    set_model_nac,
)
from gafit.phonons.linear_map import HermitianRowMap
from gafit.potential import Potential
from gafit.setup_progress import steps
from gafit.structures import GafitInputError, ReferenceSet, Structure

#: phonopy's finite displacement, Å
DISPLACEMENT = 0.01
#: eigenvalues of a dynamical matrix closer than this (relative to its largest absolute λ) are one
#: degenerate subspace in :func:`eigen_frequency_slopes`
DEGENERATE = 1e-7

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


def eigen_frequency_slopes(dyn: np.ndarray, ddyn: np.ndarray, factor: float
                     ) -> tuple[np.ndarray, np.ndarray] | None:
    """Sorted frequencies (n_q, n) THz of Hermitian dynamical matrices dyn (n_q, n, n), as
    :func:`eigen_frequencies` gives them, and their derivatives (n_x, n_q, n) THz per unit of x
    from ddyn = d(dyn)/dx (n_x, n_q, n, n); None where they are not defined.

    First-order perturbation: dλ = e† dD e for each eigenvector e, and dω = factor dλ / (2 √abs(λ)).
    A degenerate subspace (eigenvalues within DEGENERATE of the largest absolute λ at its q) is taken as
    one: eigh's vectors in it are arbitrary, but e_S† dD e_S is λ' 1 when a symmetry of dyn and
    ddyn keeps the subspace degenerate (parameter changes keep the crystal's symmetry), so each of
    its modes gets the mean of the block's diagonal. Where the block is not a multiple of the
    identity (to DEGENERATE relative to the largest absolute dλ/dx of its x) the sorted frequencies have
    a kink, no derivative: None then.
    """
    lam, vec = np.linalg.eigh(dyn)  # (n_q, n), (n_q, n, n): vec[q, :, j] the j-th eigenvector
    block = vec.conj().swapaxes(-1, -2) @ ddyn @ vec  # (n_x, n_q, n, n): e_j† dD_x e_k
    dlam = np.diagonal(block, axis1=-2, axis2=-1).real.copy()  # (n_x, n_q, n)
    # a gap between neighbours ends a subspace; the subspaces are runs of the flattened (q, mode)
    gap = np.diff(lam, axis=1) > DEGENERATE * np.abs(lam).max(axis=1, keepdims=True)
    size = np.abs(dlam).max(axis=(1, 2), initial=0.0)  # (n_x,)
    if not gap.all():
        n_q, n = lam.shape
        starts = np.ones((n_q, n), bool)
        starts[:, 1:] = gap
        first = np.flatnonzero(starts)
        length = np.diff(np.append(first, n_q * n))
        first, length = first[length > 1], length[length > 1]  # the subspaces of several modes
        flat = dlam.reshape(len(dlam), -1)  # a view: the means are written into dlam
        # each subspace's mean, summed in its modes' order (as numpy's mean of its slice)
        total = flat[:, first]
        for k in range(1, length.max()):
            longer = length > k
            total[:, longer] += flat[:, first[longer] + k]
        mean = total / length  # (n_x, n_sub)
        # every element (a, b) of every subspace's block, and how far it is from mean x identity
        sub = np.repeat(np.arange(len(first)), length**2)
        pos = np.arange(len(sub)) - np.repeat(np.cumsum(length**2) - length**2, length**2)
        a, b = pos // length[sub], pos % length[sub]
        q, j = np.divmod(first[sub] + a, n)
        off = np.abs(block[:, q, j, j - a + b] - mean[:, sub] * (a == b))
        if np.any(off.max(axis=1) > DEGENERATE * size):
            return None
        mode = a == b  # each subspace's modes, once
        flat[:, first[sub[mode]] + a[mode]] = mean[:, sub[mode]]
    root = np.sqrt(np.abs(lam))
    with np.errstate(divide="ignore", invalid="ignore"):
        return np.sign(lam) * root * factor, factor * dlam / (2 * root)


# --------------------------------------------------------------------------- batches (for fits)


class SupercellForces:
    """The tables of a set of displaced supercells for one potential, phonopy's map from their
    forces to force constants, and the forces and force derivatives of the last parameter vectors
    asked for: shared by every :class:`PhononBatch` of the potential on the same supercells (phonon
    targets of one crystal at other q-points or Γ directions, the stability guard's Γ), so that
    each is computed once, whoever asks first. The arrays returned are read-only (every batch
    reads the same ones)."""

    def __init__(self, potential: Potential, supercells: list[Atoms], key: str):
        self.potential = potential
        self.supercells = supercells
        self.key = key  # a digest of the supercells (species, cells, positions)
        self.tables = potential.build_tables(ReferenceSet([Structure(a) for a in supercells]))
        self.fc_shape: tuple[int, ...] = ()
        self._to_fc: dict[bool, np.ndarray] = {}
        self._forces: tuple[np.ndarray, np.ndarray] | None = None
        self._derivatives: tuple[np.ndarray, np.ndarray] | None = None

    def forces(self, theta: np.ndarray) -> np.ndarray:
        """Forces (B, 3 n_disp n_atoms) eV/Å for full vectors theta (B, n_params)."""
        last = self._forces
        if last is None or last[0].shape != theta.shape or not np.array_equal(last[0], theta):
            f = self.potential.evaluate(theta, self.tables).forces
            f.setflags(write=False)
            last = self._forces = (theta.copy(), f)
        return last[1]

    def force_derivatives(self, theta: np.ndarray) -> np.ndarray:
        """d(forces)/d(parameter) (n_params, 3 n_disp n_atoms) at ONE full vector theta."""
        last = self._derivatives
        if last is None or not np.array_equal(last[0], theta):
            d = self.potential.parameter_derivatives(theta, self.tables).forces
            d.setflags(write=False)
            last = self._derivatives = (theta.copy(), d)
        return last[1]

    def forces_to_fc(self, ph: Phonopy, symmetrize_fc: bool) -> np.ndarray:
        """phonopy's map (n_fc, n_f) 1/Å from the supercells' forces to compact force constants
        (:func:`produce_force_constants`; ``ph`` one whose displacements these supercells are),
        probed with unit forces once per setting: each probe is a whole phonopy solve."""
        if symmetrize_fc not in self._to_fc:
            n_f = sum(3 * len(a) for a in self.supercells)
            shape = (len(self.supercells), len(self.supercells[0]), 3)

            def probe() -> np.ndarray:
                cols = []
                for k in steps(range(n_f), n_f, "phonopy's force-constant map (once, then "
                                                "kept on disk)"):
                    unit = np.zeros(n_f)
                    unit[k] = 1.0
                    produce_force_constants(ph, unit.reshape(shape), symmetrize_fc)
                    cols.append(np.array(ph.force_constants, float).ravel())
                return np.array(cols).T

            key = disk_cache.digest([self.key, f"symmetrize {symmetrize_fc}",
                                     f"phonopy {phonopy_version}"])
            self._to_fc[symmetrize_fc] = disk_cache.cached_array("forces_to_fc", key, probe)
            # compact force constants: (primitive atoms, supercell atoms, 3, 3)
            self.fc_shape = (len(ph.primitive), shape[1], 3, 3)
        return self._to_fc[symmetrize_fc]

    def __getstate__(self) -> dict:
        return self.__dict__ | {"_forces": None, "_derivatives": None}  # not what workers need


#: per potential, its SupercellForces by a digest of the supercells' species, cells and positions
_SHARED: weakref.WeakKeyDictionary = weakref.WeakKeyDictionary()


def shared_supercells(potential: Potential, supercells: list[Atoms]) -> SupercellForces:
    """The :class:`SupercellForces` of ``potential`` on ``supercells``: the one built before on
    the same cells (same species, cells and positions to the last bit), else a new one."""
    key = disk_cache.digest(np.ascontiguousarray(arr).tobytes() for a in supercells
                            for arr in (a.numbers, a.cell.array, a.positions, a.pbc))
    mine = _SHARED.setdefault(potential, {})
    if key not in mine:
        mine[key] = SupercellForces(potential, supercells, key)
    return mine[key]


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
        self.shared = shared_supercells(potential, self.supercells)
        n_disp, n_atoms = len(self.supercells), len(self.supercells[0])
        self.force_shape = (n_disp, n_atoms, 3)
        self.factor = float(ph.unit_conversion_factor)
        n_f = n_disp * n_atoms * 3
        n_modes = 3 * len(ph.primitive)
        self.n_modes = n_modes
        self.forces_to_fc = self.shared.forces_to_fc(ph, symmetrize_fc)  # (n_fc, n_f) 1/Å
        self.fc_shape = self.shared.fc_shape
        d_cols = []
        dm_q = np.zeros((len(self.qpoints), n_modes, n_modes), complex)
        for k in range(n_f):  # the dynamical matrices are linear in the force constants
            ph.force_constants = self.forces_to_fc[:, k].reshape(self.fc_shape)
            for iq, q in enumerate(self.qpoints):
                ph.dynamical_matrix.run(q)
                dm_q[iq] = ph.dynamical_matrix.dynamical_matrix
            d_cols.append(dm_q.ravel().copy())
        self.forces_to_dyn = np.array(d_cols).T  # (n_q n_modes², n_f) 1/(Å AMU)
        self._to_dyn = HermitianRowMap(self.forces_to_dyn, n_modes)
        index_k = charge_indices(potential, list(ph.primitive.symbols))
        self.nac = (NacTerm(ph, index_k, dielectric, self.qpoints, directions)
                    if index_k is not None and dielectric is not None else None)

    @property
    def tables(self) -> Any:
        """gafit's tables of the displaced supercells (shared, see :class:`SupercellForces`)."""
        return self.shared.tables

    def forces(self, theta: np.ndarray) -> np.ndarray:
        """Forces (B, n_disp, n_atoms, 3) eV/Å on the displaced supercells for theta (B, n_params)."""
        theta = np.atleast_2d(np.asarray(theta, float))
        return self.shared.forces(theta).reshape((len(theta), *self.force_shape))

    def force_constants(self, forces: np.ndarray) -> np.ndarray:
        """Compact force constants (B, n_prim, n_atoms, 3, 3) eV/Å², phonopy's layout."""
        f = np.asarray(forces, float).reshape(-1, int(np.prod(self.force_shape)))
        return np.einsum("bf,cf->bc", f, self.forces_to_fc).reshape((len(f), *self.fc_shape))

    def dynamical_matrices(self, forces: np.ndarray, theta: np.ndarray | None = None) -> np.ndarray:
        """Dynamical matrices (B, n_q, n_modes, n_modes), complex, eV/(Å² AMU); with NAC the
        non-analytic term of the charges in theta (B, n_params) is added."""
        f = np.asarray(forces, float).reshape(-1, int(np.prod(self.force_shape)))
        d = self._to_dyn(f)  # row by row: independent of B
        if self.nac is not None:
            if theta is None:
                raise ValueError("this batch has a non-analytic term: give theta (the charges)")
            d = d + self.nac.dynamical_matrices(theta)
        return d

    def dynamical_slopes(self, theta: np.ndarray, dtheta: np.ndarray) -> np.ndarray:
        """d(dynamical matrices)/dx (n_x, n_q, n_modes, n_modes) at ONE full parameter vector theta
        (n_params,), dtheta = d(theta)/dx (n_params, n_x): the potential's parameter derivatives of
        the supercells' forces through the same linear map, plus (NAC) the charges' part."""
        theta = np.asarray(theta, float)
        dforces = dtheta.T @ self.shared.force_derivatives(theta)
        d = (dforces @ self.forces_to_dyn.T).reshape(len(dforces), len(self.qpoints), self.n_modes,
                                                     self.n_modes)
        if self.nac is not None:
            d += self.nac.derivatives(theta, dtheta)
        return d

    def frequency_slopes(self, theta: np.ndarray, dtheta: np.ndarray
                         ) -> tuple[np.ndarray, np.ndarray] | None:
        """Sorted frequencies (n_q, n_modes) THz at ONE full parameter vector theta (n_params,) and
        their derivatives (n_x, n_q, n_modes) along dtheta = d(theta)/dx (n_params, n_x)
        (:func:`eigen_frequency_slopes`; None where they have none)."""
        theta = np.asarray(theta, float)
        dyn = self.dynamical_matrices(self.forces(theta), theta[None])[0]
        return eigen_frequency_slopes(dyn, self.dynamical_slopes(theta, dtheta), self.factor)

    def frequencies_from_forces(self, forces: np.ndarray, theta: np.ndarray | None = None) -> np.ndarray:
        """Sorted frequencies (B, n_q, n_modes) in THz (theta: the charges, for the NAC term)."""
        return eigen_frequencies(self.dynamical_matrices(forces, theta), self.factor)

    def frequencies(self, theta: np.ndarray) -> np.ndarray:
        """Sorted frequencies (B, n_q, n_modes) in THz for parameter vectors theta (B, n_params)."""
        theta = np.atleast_2d(np.asarray(theta, float))
        return self.frequencies_from_forces(self.forces(theta), theta)

