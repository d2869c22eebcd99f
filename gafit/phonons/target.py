"""Phonon frequencies as fit targets.

The reference is a phonopy data set (``phonopy_disp.yaml`` or ``phonopy.yaml`` with ``FORCE_SETS`` or
force constants beside it, an older ``disp.yaml`` with FORCE_SETS, or a bare ``FORCE_SETS`` with the
``structure`` and ``supercell`` it was made with), or frequencies at fixed q-points (band.yaml,
qpoints.yaml, mesh.yaml, a YAML list of points, CSV) with the ``structure`` and ``supercell`` gafit
computes its own phonons on. The unit cell and supercell are gafit's: the displaced supercells are
fixed structures, built and tabulated once, and every individual of a population costs one batched
force evaluation, one matrix product and a few small eigenproblems (:class:`gafit.phonons.PhononBatch`).

Residuals compare sorted frequencies at each chosen q-point (THz), which stays correct where bands
cross; the acoustic modes at Γ (zero by symmetry) are left out.

With ``lattice = "relaxed"`` (cubic crystals) the frequencies are those at each individual's own
lattice constant, as `gafit phonons` compares them: the displaced supercells are tabulated once at
fixed scale factors of the reference cell (SCALES); each individual's zero pressure over the scaled
unit cells picks its scale (the root finder of the property targets, so both agree on a candidate's
lattice), and its frequencies there are interpolated (quadratic, through the three nearest scales).

Mode Grüneisen parameters (``gruneisen_reference``: the reference at three volumes, phonopy-gruneisen's
layout) are targets beside the frequencies: the reference's γ by phonopy's ``PhonopyGruneisen``, each
individual's by phonopy's formula batched (:func:`gafit.gruneisen.mode_gruneisen`) on its dynamical
matrices at the reference's volume ratios (``lattice = "reference"``: two more sets of displaced
supercells) or interpolated to its own lattice constant with their derivative there (``"relaxed"``).

Polar crystals: a potential with Coulomb charges gets phonopy's non-analytic correction with Born
charges = its charges (fitted or not) and ``epsilon_inf`` (1, a number, "born": the BORN file beside the
reference, "none"), batched as a quadratic form in the charges (:class:`gafit.nac.NacTerm`). A Γ among
``qpoints`` is approached along ``q_direction`` or, by default, towards the next point named (the previous
one for a last Γ), for gafit and a phonopy reference with BORN alike, so the LO is fitted; a Γ read from
a band file (CSV, band.yaml) keeps the direction of its segment, as phonopy computed it.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
from ase import Atoms

from gafit.crystals import read_structure
from gafit.forms import Prediction
from gafit.gruneisen import mode_gruneisen, reference_at
from gafit.gruneisen import scaled_cell as gruneisen_cell
from gafit.nac import (
    charge_indices,
    dielectric_tensor,
    direction_text,
    gamma_directions,
    is_gamma,
    parse_epsilon,
    path_directions,
)
from gafit.phonons.harmonic import PhononBatch, eigen_frequencies, new_phonopy, supercell_matrix, to_ase_atoms
from gafit.phonons.paths import POINTS
from gafit.phonons.reference import PhononReference, load_reference, q_transform
from gafit.phonons.symmetry import lattice_type
from gafit.potential import Potential
from gafit.property_cubic import cell_pressure, zero_pressure_scale, zero_pressure_slope
from gafit.structures import GafitInputError, ReferenceSet, Structure, scaled_cell

#: reference frequencies below this (THz) at Γ are the acoustic modes: not fitted
ACOUSTIC_THZ = 0.5
#: scale factors of the reference cell tabulated for ``lattice = "relaxed"`` (±2 %, steps of 0.5 %)
SCALES = np.linspace(0.98, 1.02, 9)
LATTICES = ("reference", "relaxed")
#: the values of ``[phonons] jacobian``: how the least squares' rows of a phonon target are taken
JACOBIANS = ("finite-difference", "analytic")
#: weight on γ² of Grüneisen targets without a gruneisen_weight
GRUNEISEN_WEIGHT = 1.0


@dataclass
class PhononTargetConfig:
    reference: Path
    # letters of high-symmetry points of the crystal's lattice (a frequencies file: its points of
    # those names), or "all": every q-point of a frequencies file
    qpoints: str = "GXLWK"
    weight: float = 1.0  # on THz²
    displacement: float = 0.01  # Å
    # > 0: also fit zero stress on the reference's undisplaced supercell (with this structure
    # weight), so the potential's own lattice constant stays at the one the phonons were computed at
    equilibrium_weight: float = 0.0
    # "reference": frequencies at the reference's geometry; "relaxed": at each individual's own
    # lattice constant (cubic crystals), as `gafit phonons` compares them
    lattice: str = field(default="reference", metadata={"choices": LATTICES})
    # the unit cell (any file ASE reads) and supercell for a bare FORCE_SETS or a frequencies file,
    # or the unit cell of an old disp.yaml
    structure: Path | None = None
    supercell: list | None = None  # 3 positive integers or a 3x3 integer matrix
    # a potential with Coulomb charges: ε∞ of its LO-TO splitting, a positive number, "born" (the
    # dielectric tensor of the BORN file beside the reference) or "none" (no NAC)
    epsilon_inf: float | str = 1.0
    # the direction (reduced, primitive reciprocal basis) every Γ of qpoints is approached from;
    # default: towards the next point of qpoints (the previous one for a last Γ)
    q_direction: list | None = None
    # mode Grüneisen parameters as targets: a folder with the reference at three volumes (orig/,
    # plus/, minus/: phonopy data sets, phonopy-gruneisen's layout) and the weight on γ² (mean over
    # the fitted modes at qpoints; None: GRUNEISEN_WEIGHT)
    gruneisen_reference: Path | None = None
    gruneisen_weight: float | None = None
    # the least squares' Jacobian rows: "analytic" (PhononTarget.jacobian; forward differences
    # where it has none) or "finite-difference" (forward differences of the target)
    jacobian: str = field(default="analytic", metadata={"choices": JACOBIANS})


def read_target_reference(config: PhononTargetConfig) -> tuple[PhononReference, Atoms, np.ndarray]:
    """The reference of ``config``, the unit cell and supercell matrix gafit's phonons are computed
    with (a phonopy data set's own, else ``structure`` and ``supercell``)."""
    structure = (read_structure(config.structure, f"{config.reference}: [phonons] structure")
                 if config.structure is not None else None)
    ref = load_reference(config.reference, structure, config.supercell)
    if ref.phonopy is not None:
        if ref.kind == "phonopy" and (structure is not None or config.supercell is not None):
            raise GafitInputError(f"{config.reference}: a phonopy data set has its own unit cell and "
                                  "supercell; structure and supercell are for a bare FORCE_SETS, a "
                                  "disp.yaml or a frequencies file")
        return ref, to_ase_atoms(ref.phonopy.unitcell), np.asarray(ref.phonopy.supercell_matrix)
    if structure is None or config.supercell is None:
        raise GafitInputError(f"{config.reference}: frequencies alone do not say which crystal to "
                              "compute: give structure = \"POSCAR\" (its unit cell) and supercell = "
                              "[2, 2, 2] in [phonons]")
    return ref, structure, supercell_matrix(config.supercell)


def reference_species(configs: list[PhononTargetConfig]) -> list[str]:
    """Species of the unit cells of phonon targets, in order of first appearance."""
    seen: dict[str, None] = {}
    for config in configs:
        for sym in read_target_reference(config)[1].get_chemical_symbols():
            seen.setdefault(sym, None)
    return list(seen)


@dataclass
class PhononTarget:
    """Frequencies at fixed q-points of a reference phonopy data set."""

    config: PhononTargetConfig
    labels: list[str]
    qpoints: np.ndarray  # (n_q, 3) reduced, primitive reciprocal basis
    reference: np.ndarray  # (n_q, n_modes) THz, sorted
    batch: PhononBatch
    directions: np.ndarray | None = None  # (n_q, 3) q-direction at Γ (reduced), NaN rows for none
    scaled: list[PhononBatch] = field(default_factory=list)  # lattice = "relaxed": one per SCALES
    cell_tables: object = None  # lattice = "relaxed": tables of the unit cell at each of SCALES
    # Grüneisen targets: the reference's γ (n_q, n_modes, NaN where undefined), its volume ratios
    # (V+/V0, V-/V0) and, at lattice = "reference", the batches of the unit cell at those ratios
    gamma_reference: np.ndarray | None = None
    volume_ratios: tuple[float, float] = (1.0, 1.0)
    volume_batches: list[PhononBatch] = field(default_factory=list)
    mask: np.ndarray = field(init=False)  # (n_q, n_modes) frequencies that are fitted
    # the last theta and its frequencies: the stability guard (gafit.guards) reads the same ones
    _last: tuple | None = field(default=None, init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        gamma = np.all(np.abs(self.qpoints) < 1e-9, axis=1)
        self.mask = ~(gamma[:, None] & (np.abs(self.reference) < ACOUSTIC_THZ))

    @classmethod
    def build(cls, potential: Potential, config: PhononTargetConfig) -> PhononTarget:
        ref, unitcell, smat = read_target_reference(config)
        ltype, _ = lattice_type(unitcell)
        where = f"{config.reference}: [phonons] epsilon_inf"
        spec = parse_epsilon(config.epsilon_inf, where)
        charged = charge_indices(potential, unitcell.get_chemical_symbols()) is not None
        primitive = new_phonopy(unitcell, smat).primitive
        dielectric = dielectric_tensor(spec, ref, primitive, where) if charged else None
        if ref.phonopy is not None:
            labels, q = _lattice_points(config, ltype)
            directions = gamma_directions(q, config.q_direction)
            frequencies = ref.frequencies_at(q, directions)
        else:
            labels, q, frequencies, directions = _file_points(config, ref, unitcell, smat)
        batch = PhononBatch(potential, unitcell, smat, q, config.displacement, dielectric=dielectric,
                            directions=directions)
        if batch.n_modes != frequencies.shape[1]:
            raise GafitInputError(f"{config.reference}: {frequencies.shape[1]} modes per q-point, but "
                                  f"the primitive cell of the structure has {batch.n_modes}: not the "
                                  "same crystal")
        target = cls(config, labels, q, frequencies, batch, directions)
        if config.lattice == "relaxed":
            if ltype[0] != "c":
                raise GafitInputError(f"{config.reference}: [phonons] lattice = \"relaxed\" needs a "
                                      f"cubic crystal; this one is {ltype}")
            cells = [scaled_cell(unitcell, s) for s in SCALES]
            target.scaled = [batch if s == 1.0 else  # the reference geometry is built already
                             PhononBatch(potential, c, smat, q, config.displacement,
                                         dielectric=dielectric, directions=directions)
                             for s, c in zip(SCALES, cells, strict=True)]
            target.cell_tables = potential.build_tables(
                ReferenceSet([Structure(c) for c in cells], "phonon cells"))
        if config.gruneisen_reference is not None:
            where = f"{config.reference}: [phonons] gruneisen_reference"
            if dielectric is not None:
                raise GafitInputError(f"{where}: Grüneisen targets with the non-analytic correction "
                                      "(a potential with charges) are not available; set "
                                      "epsilon_inf = \"none\" or leave the Grüneisen targets out")
            target.volume_ratios, _, target.gamma_reference = reference_at(
                config.gruneisen_reference, batch.phonopy, q, where)
            if not target.scaled:
                target.volume_batches = [
                    PhononBatch(potential, gruneisen_cell(unitcell, r), smat, q, config.displacement)
                    for r in target.volume_ratios]
        return target

    @property
    def gamma_mask(self) -> np.ndarray:
        """(n_q, n_modes) Grüneisen parameters that are fitted: fitted frequencies whose reference
        γ is defined."""
        if self.gamma_reference is None:
            return np.zeros_like(self.mask)
        return self.mask & np.isfinite(self.gamma_reference)

    def scale_of(self, theta: np.ndarray) -> np.ndarray:
        """Each individual's own lattice scale (B,) relative to the reference cell: zero pressure of
        its unit cell, found on SCALES as the property targets find it
        (:func:`gafit.property_cubic.zero_pressure_scale`); kept within SCALES."""
        return self._zero_pressure(theta)[0]

    def _zero_pressure(self, theta: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """:meth:`scale_of` and whether each scale lies inside SCALES (B,) each."""
        pred = self.batch.potential.evaluate(theta, self.cell_tables)
        with np.errstate(all="ignore"):
            return zero_pressure_scale(cell_pressure(pred, self.cell_tables), pred.energy, SCALES)

    def lattice_flags(self, theta: np.ndarray, k: int) -> list[str]:
        """'! phonon target k: ...' when (``lattice = "relaxed"``) the zero pressure of one full vector
        theta lies outside the tabulated ±2 %: its frequencies are then those at the nearest end."""
        if not self.scaled:
            return []
        s, inside = self._zero_pressure(np.atleast_2d(theta)[:1])
        if inside[0]:
            return []
        return [f"! phonon target {k}: the potential's zero-pressure lattice lies outside "
                f"{SCALES[0]:.2f}-{SCALES[-1]:.2f} of the reference cell; its frequencies are "
                f"those at scale {s[0]:.3f} (gafit phonons compares at the relaxed lattice)"]

    def frequencies(self, theta: np.ndarray) -> np.ndarray:
        """Sorted frequencies (B, n_q, n_modes) THz: at the reference geometry, or (``lattice =
        "relaxed"``) interpolated to each individual's own lattice constant."""
        return self.frequencies_and_gruneisen(theta, gruneisen=False)[0]

    def gruneisen(self, theta: np.ndarray) -> np.ndarray:
        """Mode Grüneisen parameters (B, n_q, n_modes), ordered as the reference's (by frequency,
        degenerate partners by γ; NaN at ``|ω| < 0.01`` THz): phonopy's formula on the dynamical
        matrices at the reference's volumes or (``lattice = "relaxed"``) on those interpolated to
        each individual's own lattice constant and their derivative there."""
        gamma = self.frequencies_and_gruneisen(theta)[1]
        assert gamma is not None
        return gamma

    def frequencies_and_gruneisen(self, theta: np.ndarray, gruneisen: bool = True
                                  ) -> tuple[np.ndarray, np.ndarray | None]:
        """:meth:`frequencies` and (with ``gruneisen``) :meth:`gruneisen`, from one force evaluation
        per tabulated geometry."""
        theta = np.atleast_2d(theta)
        last = self._last  # (theta, with Grüneisen, result): the guard reads the same frequencies
        if (last is not None and (last[1] or not gruneisen) and last[0].shape == theta.shape
                and np.array_equal(last[0], theta)):
            return last[2] if gruneisen else (last[2][0], None)
        out = self._frequencies(theta, gruneisen)
        self._last = (theta.copy(), gruneisen, out)
        return out

    def _frequencies(self, theta: np.ndarray, gruneisen: bool
                     ) -> tuple[np.ndarray, np.ndarray | None]:
        if not self.scaled:
            batch = self.batch
            dyn = batch.dynamical_matrices(batch.forces(theta), theta)
            freq = eigen_frequencies(dyn, batch.factor)
            if not gruneisen:
                return freq, None
            (rp, rm), (bp, bm) = self.volume_ratios, self.volume_batches
            ddyn = (bp.dynamical_matrices(bp.forces(theta)) - bm.dynamical_matrices(bm.forces(theta)))
            return freq, mode_gruneisen(dyn, ddyn / (rp - rm), batch.factor)[1]
        s = self.scale_of(theta)
        k, w, dw = _scale_weights(s)
        shape = (len(theta), len(self.qpoints), self.reference.shape[1])
        freq = np.zeros(shape)
        dyn = np.zeros((*shape, shape[-1]), complex)
        ddyn = np.zeros_like(dyn)
        for j in np.unique(k):
            rows = np.flatnonzero(k == j)
            for c, kk in enumerate((j - 1, j, j + 1)):
                batch = self.scaled[kk]
                d = batch.dynamical_matrices(batch.forces(theta[rows]), theta[rows])
                freq[rows] += w[rows, c, None, None] * eigen_frequencies(d, batch.factor)
                if gruneisen:
                    dyn[rows] += w[rows, c, None, None, None] * d
                    ddyn[rows] += dw[rows, c, None, None, None] * d
        if not gruneisen:
            return freq, None
        # V dD/dV = (s/3) dD/ds, the cell's volume being s³ V_reference
        return freq, mode_gruneisen(dyn, (s / 3)[:, None, None, None] * ddyn, self.batch.factor)[1]

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
        freq = self.frequencies(theta)
        return (freq - self.reference)[:, self.mask]

    def residuals(self, theta: np.ndarray) -> np.ndarray:
        """Weighted residuals (B, n_fitted + n_gamma) for full vectors theta (B, n): frequency
        differences x sqrt(weight / n_fitted), then (with Grüneisen targets) γ differences x
        sqrt(gruneisen_weight / n_gamma)."""
        freq, gamma = self.frequencies_and_gruneisen(theta, self.gamma_reference is not None)
        d = (freq - self.reference)[:, self.mask]
        parts = [d * np.sqrt(self.config.weight / d.shape[1])]
        if gamma is not None:
            dg = (gamma - self.gamma_reference)[:, self.gamma_mask]
            w = self.config.gruneisen_weight
            parts.append(dg * np.sqrt((GRUNEISEN_WEIGHT if w is None else w) / dg.shape[1]))
        return np.concatenate(parts, axis=1)

    def jacobian(self, theta: np.ndarray, dtheta: np.ndarray) -> np.ndarray | None:
        """d(:meth:`residuals`)/dx (n_residuals, n_x) at ONE full vector theta (n_params,), dtheta =
        d(theta)/dx (n_params, n_x): analytic, from the parameter derivatives of the displaced
        supercells' forces (:meth:`PhononBatch.frequency_slopes`: first-order perturbation of the
        dynamical matrices' eigenvalues, a degenerate subspace as one) and, with ``lattice =
        "relaxed"``, of the scaled unit cells' pressures (the zero-pressure scale's slope moves the
        interpolation weights). None where that is not available (a form without parameter
        derivatives, Grüneisen targets, a degenerate subspace that splits): the objective then
        takes forward differences. Also None with ``jacobian = "finite-difference"``."""
        if (self.config.jacobian != "analytic" or self.gamma_reference is not None
                or not self.batch.potential.has_parameter_derivatives):
            return None
        theta = np.asarray(theta, float)
        if not self.scaled:
            slopes = self.batch.frequency_slopes(theta, dtheta)
            if slopes is None:
                return None
            dfreq = slopes[1]
        else:
            s, ds = self._scale_slope(theta, dtheta)
            k, w, dw = _scale_weights(s)
            dfreq = np.zeros((dtheta.shape[1], *self.reference.shape))
            with np.errstate(invalid="ignore"):  # inf x 0 at Γ's acoustic modes, not fitted
                for c, kk in enumerate((k[0] - 1, k[0], k[0] + 1)):
                    slopes = self.scaled[kk].frequency_slopes(theta, dtheta)
                    if slopes is None:
                        return None
                    freq, d = slopes
                    dfreq += w[0, c] * d + dw[0, c] * freq * ds[:, None, None]
        d = dfreq[:, self.mask]  # (n_x, n_fitted)
        return np.ascontiguousarray((d * np.sqrt(self.config.weight / d.shape[1])).T)

    def _scale_slope(self, theta: np.ndarray, dtheta: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """:meth:`scale_of` one full vector theta (n_params,), as (1,), and its derivative (n_x,)
        along dtheta = d(theta)/dx (n_params, n_x)."""
        potential, tables = self.batch.potential, self.cell_tables
        with np.errstate(all="ignore"):
            pred = potential.evaluate(theta[None], tables)
            d = potential.parameter_derivatives(theta, tables)
            dvirial = np.einsum("px,psv->xsv", dtheta, d.virial)
            dp = cell_pressure(Prediction(dtheta.T @ d.energy, dtheta.T @ d.forces, dvirial), tables)
            s, ds = zero_pressure_slope(cell_pressure(pred, tables)[0], pred.energy[0], dp, SCALES)
            return np.array([s]), ds

    def residual_widths(self) -> list[tuple[str, int]]:
        """(term, number of residuals) of the blocks of :meth:`residuals`: "phonons" and, with
        Grüneisen targets, "gruneisen"."""
        out = [("phonons", int(self.mask.sum()))]
        if self.gamma_reference is not None:
            out.append(("gruneisen", int(self.gamma_mask.sum())))
        return out

    def table(self, theta: np.ndarray) -> list[dict]:
        """Per q-point: label, gafit and reference frequencies (THz), RMS error over all modes, at a
        Γ approached along a direction ``q_direction`` (reduced, as text), and with Grüneisen
        targets ``gruneisen`` and ``reference_gruneisen`` (None where undefined)."""
        freq, gamma = self.frequencies_and_gruneisen(np.atleast_2d(theta),
                                                     self.gamma_reference is not None)
        out = []
        for k, (lab, f, r) in enumerate(zip(self.labels, freq[0], self.reference, strict=True)):
            row = {"label": lab, "gafit": f.tolist(), "reference": r.tolist(),
                   "rms": float(np.sqrt(np.mean((f - r) ** 2)))}
            if gamma is not None and self.gamma_reference is not None:
                row["gruneisen"] = _defined(gamma[0, k])
                row["reference_gruneisen"] = _defined(self.gamma_reference[k])
            d = None if self.directions is None else self.directions[k]
            if is_gamma(self.qpoints[k]) and direction_text(d):
                row["q_direction"] = direction_text(d)
            out.append(row)
        return out


def _scale_weights(s: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """For lattice scales s (B,): the middle one k (B,) of the three nearest of SCALES, the
    quadratic Lagrange weights w on k - 1, k, k + 1 (B, 3) and their derivatives dw/ds (B, 3)."""
    h = SCALES[1] - SCALES[0]
    k = np.clip(np.rint((s - SCALES[0]) / h).astype(int), 1, len(SCALES) - 2)
    t = (s - SCALES[k]) / h  # in [-1, 1]
    w = np.stack([0.5 * t * (t - 1.0), 1.0 - t * t, 0.5 * t * (t + 1.0)], axis=1)
    dw = np.stack([t - 0.5, -2.0 * t, t + 0.5], axis=1) / h
    return k, w, dw


def _defined(values: np.ndarray) -> list[float | None]:
    return [float(x) if np.isfinite(x) else None for x in values]


def _lattice_points(config: PhononTargetConfig, ltype: str) -> tuple[list[str], np.ndarray]:
    """Labels and reduced q (primitive basis) of the letters ``config.qpoints`` of lattice ``ltype``."""
    points = POINTS.get(ltype)
    if points is None:
        raise GafitInputError(f"{config.reference}: no table of high-symmetry points for "
                              f"lattice type {ltype}")
    if config.qpoints.strip().lower() == "all":
        raise GafitInputError(f"[phonons] qpoints = \"all\" takes the q-points of a frequencies "
                              f"file; {config.reference} is a phonopy data set: name the points "
                              f"({', '.join(points)})")
    labels = ["Γ" if c in "GΓ" else c for c in config.qpoints.replace("|", "")]
    unknown = [c for c in labels if c not in points]
    if unknown:
        raise GafitInputError(f"[phonons] qpoints: {unknown} are not high-symmetry points of "
                              f"this lattice ({', '.join(points)})")
    return labels, np.array([points[c] for c in labels], float)


def _file_points(config: PhononTargetConfig, ref: PhononReference, unitcell: Atoms,
                 smat: np.ndarray) -> tuple[list[str], np.ndarray, np.ndarray, np.ndarray]:
    """Labels, reduced q (gafit's primitive basis), frequencies (THz) and q-directions at Γ of a
    frequencies file: all its q-points, or those named by the letters ``config.qpoints``. The
    directions are ``config.q_direction`` or, for a Γ inside a segment of a band file, phonopy's band
    direction of that segment."""
    assert ref.qpoints is not None and ref.frequencies is not None
    names = ref.labels or [""] * len(ref.qpoints)
    if config.qpoints.strip().lower() == "all":
        rows = list(range(len(ref.qpoints)))
    else:
        letters = ["Γ" if c in "GΓ" else c for c in config.qpoints.replace("|", "")]
        named = sorted({n for n in names if n})
        missing = [c for c in letters if c not in names]
        if missing:
            raise GafitInputError(
                f"[phonons] qpoints: {missing} are not named in {config.reference} (its named "
                f"points: {', '.join(named) or 'none'}); name others or use qpoints = \"all\"")
        rows = [names.index(c) for c in letters]
    cell = new_phonopy(unitcell, smat).primitive.cell
    t = np.eye(3) if ref.lattice is None else q_transform(ref.lattice, cell, str(config.reference))
    q = ref.qpoints[rows] @ t
    if config.q_direction is not None:
        directions = gamma_directions(q, config.q_direction)
    else:
        directions = path_directions(ref.path().transformed(t).segments, cell)[rows]
        directions[~is_gamma(q)] = np.nan
    return [names[k] for k in rows], q, ref.frequencies[rows], directions
