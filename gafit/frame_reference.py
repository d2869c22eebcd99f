"""Reference property values derived from DFT frames: elastic constants from strained cells, an
equation of state from uniformly scaled ones.

Units: Å, eV, GPa; strains dimensionless (Voigt, engineering shear: η4 = 2 η_yz).

Elastic constants (:func:`elastic_from_frames`): the frames are strains of one cubic crystal whose cell
is a cube along x, y and z (the reference: the frame of least stress). For each frame the deformation
gradient F relative to the reference cell gives the Lagrangian strain η = (FᵀF − I)/2, and its Cauchy
stress σ the second Piola–Kirchhoff stress S = J F⁻¹ σ F⁻ᵀ (the reference's stress subtracted), so a
rotation carried by a sheared cell changes neither. C11, C12 and C44 come from a least-squares fit of
S = ∂U/∂η over every frame whose strain components are all <= ``max_strain``, with U the most general
cubic-invariant energy to 4th order in η (the higher-order constants fitted alongside, as cube-averaged
monomials; to 3rd order when the frames hold one strain size per mode, which cannot tell η from η³):
the error left is then O(η⁴) relative (O(η²) at 3rd order), and the residual is the data's scatter.
Frames whose atoms keep the reference's fractional coordinates while forces act on them are
clamped-ion (homogeneous strain): their shear gives ``C44_unrelaxed``; frames without forces give the
relaxed-ion constants.

Equation of state (:func:`eos_from_frames`): the frames are uniform scalings of one crystal (same cell
shape and fractional positions); ASE's EquationOfState is fitted to their energy per atom against
volume per atom (DFT stresses carry a basis-set offset, so the energies are used).
"""

from __future__ import annotations

import itertools
import warnings
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
from ase.units import GPa

from gafit.io import read_reference
from gafit.properties import conventional_cell
from gafit.structures import GafitInputError, Structure

#: default largest |Lagrangian strain| of the frames used for the elastic constants
MAX_STRAIN = 0.045
#: force (eV/Å) below which a strained frame counts as relaxed-ion
RELAXED_FORCE = 0.01
#: fractional-coordinate change (Å after mapping by the cell) within which atoms count as homogeneous
HOMOGENEOUS_TOL = 1e-3
#: least number of frames of an equation of state
MIN_EOS_FRAMES = 5


@dataclass
class FrameReference:
    """Property values derived from DFT frames, with how they were derived."""

    values: dict[str, float]  # property -> value (Å, eV/atom, GPa)
    errors: dict[str, float]  # property -> standard error of the fit (same unit)
    source: str  # the frames file
    config_type: str | None
    n_frames: int  # frames used by the fit
    scatter: float  # RMS fit residual: GPa (stress) or eV/atom (energy)
    scatter_unit: str
    method: str  # one line: what was fitted
    notes: list[str] = field(default_factory=list)

    def citation(self) -> str:
        ct = f" (config_type {self.config_type})" if self.config_type else ""
        return f"derived from DFT frames {self.source}{ct}"

    def describe(self) -> str:
        """One line: the values, the frames used and the fit scatter."""
        vals = ", ".join(f"{k} = {v:.5g}" + (f" ± {self.errors[k]:.2g}" if k in self.errors else "")
                         for k, v in self.values.items())
        return (f"{vals} from {self.n_frames} frames of {self.source}"
                f"{' (config_type ' + self.config_type + ')' if self.config_type else ''}: "
                f"{self.method}; fit scatter {self.scatter:.3g} {self.scatter_unit}"
                + "".join(f"; {n}" for n in self.notes))


def read_frames(path: str | Path, config_type: str | None = None) -> list[Structure]:
    """The frames of ``path`` (any format gafit reads), those of ``config_type`` only when given."""
    frames = list(read_reference(path))
    if config_type is None:
        return frames
    chosen = [s for s in frames if s.config_type == config_type]
    if not chosen:
        types = sorted({s.config_type for s in frames})
        raise GafitInputError(f"{path}: no frames with config_type {config_type!r} (config types "
                              f"there: {', '.join(types)})")
    return chosen


def _where(path: str | Path, config_type: str | None) -> str:
    return f"{path}" + (f" (config_type {config_type})" if config_type else "")


def _voigt(t: np.ndarray) -> np.ndarray:
    """Voigt vector [xx, yy, zz, yz, xz, xy] of a symmetric 3x3 tensor (no factor 2)."""
    return np.array([t[0, 0], t[1, 1], t[2, 2], t[1, 2], t[0, 2], t[0, 1]])


def _tensor(v: np.ndarray) -> np.ndarray:
    """Symmetric 3x3 tensor of a Voigt vector [xx, yy, zz, yz, xz, xy] (no factor 2)."""
    return np.array([[v[0], v[5], v[4]], [v[5], v[1], v[3]], [v[4], v[3], v[2]]])


def lagrangian_strain(ref_cell: np.ndarray, cell: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Deformation gradient F (cell = ref_cell Fᵀ, rows the cell vectors) and the Lagrangian strain
    η = (FᵀF − I)/2 as a Voigt vector with engineering shear (η4 = 2 η_yz)."""
    f = np.linalg.solve(np.asarray(ref_cell), np.asarray(cell)).T
    eta = _voigt(0.5 * (f.T @ f - np.eye(3)))
    eta[3:] *= 2
    return f, eta


def second_piola_kirchhoff(f: np.ndarray, stress_voigt: np.ndarray) -> np.ndarray:
    """S = J F⁻¹ σ F⁻ᵀ (Voigt, same unit as ``stress_voigt``) of the Cauchy stress σ (ASE Voigt)."""
    finv = np.linalg.inv(f)
    return _voigt(np.linalg.det(f) * finv @ _tensor(stress_voigt) @ finv.T)


def cubic_design(eta: np.ndarray) -> np.ndarray:
    """Rows of S = A (C11, C12, C44) for one frame's Voigt strain η (6,): the cubic stress-strain
    relation."""
    a = np.zeros((6, 3))
    for i in range(3):
        a[i, 0] = eta[i]
        a[i, 1] = eta[:3].sum() - eta[i]
        a[3 + i, 2] = eta[3 + i]
    return a


def _cubic_group() -> np.ndarray:
    """The 48 rotations and reflections of the cube (signed permutation matrices), (48, 3, 3)."""
    out = []
    for perm in itertools.permutations(range(3)):
        for signs in itertools.product((1.0, -1.0), repeat=3):
            m = np.zeros((3, 3))
            m[range(3), perm] = signs
            out.append(m)
    return np.array(out)


def _voigt_action(g: np.ndarray) -> np.ndarray:
    """The (6, 6) matrix taking a Voigt strain (engineering shear) η to that of g η gᵀ."""
    out = np.zeros((6, 6))
    for k in range(6):
        e = np.zeros(6)
        e[k] = 1.0
        t = _tensor(e * [1, 1, 1, 0.5, 0.5, 0.5])
        out[:, k] = _voigt(g @ t @ g.T) * [1, 1, 1, 2, 2, 2]
    return out


_ACTIONS = np.array([_voigt_action(g) for g in _cubic_group()])  # (48, 6, 6)


def _monomials(degree: int) -> np.ndarray:
    """Exponents (n, 6) of every monomial of ``degree`` in the 6 Voigt strains."""
    return np.array([[combo.count(i) for i in range(6)]
                     for combo in itertools.combinations_with_replacement(range(6), degree)])


def higher_order_design(etas: np.ndarray, degree: int) -> np.ndarray:
    """Columns (n_frames, 6, n) of the stresses S = ∂U/∂η of the cubic-invariant energies U of
    ``degree`` in η (each a monomial averaged over the cube's 48 symmetry operations) at the frames'
    Voigt strains ``etas`` (n_frames, 6): the higher-order terms of the stress-strain relation,
    whatever their constants."""
    e = _monomials(degree)  # (m, 6)
    d = np.maximum(e[:, None, :] - np.eye(6, dtype=int)[None], 0)  # (m, i, j): ∂/∂x_i lowers x_i
    x = np.einsum("gij,fj->fgi", _ACTIONS, etas)  # (f, g, 6): η seen by each symmetry operation
    powers = np.stack([x ** k for k in range(degree + 1)], axis=-1)  # (f, g, 6, k)
    factors = powers[:, :, np.arange(6)[None, None, :], d]  # (f, g, m, i, j): x_j ** d[m, i, j]
    grad_x = (e[None, None] * factors.prod(axis=-1)).transpose(0, 1, 3, 2)  # (f, g, i, m)
    return np.einsum("gji,fgjm->fim", _ACTIONS, grad_x) / len(_ACTIONS)


def _rank(m: np.ndarray) -> int:
    return int(np.linalg.matrix_rank(m, tol=1e-8 * np.abs(m).max())) if m.size else 0


def _fit_cubic(etas: list[np.ndarray], stresses: list[np.ndarray]
               ) -> tuple[np.ndarray, np.ndarray, np.ndarray, int]:
    """(C11, C12, C44), their standard errors, the residuals (GPa) and the highest order of η in the
    energy fitted: 4 when the strains determine the higher-order terms beside C11, C12, C44, else 3,
    else 2 (the linear relation alone)."""
    size = max(float(np.abs(e).max()) for e in etas)
    # each column in units of its natural size (a degree-d energy gives stresses ~ size^(d-1)), so
    # that ranks compare like with like and rounding noise in η (1e-16) stays negligible
    lin = np.concatenate([cubic_design(e) for e in etas]) / size
    b = np.concatenate(stresses)
    for top in (4, 3, 2):
        blocks = [higher_order_design(np.array(etas), d).reshape(len(b), -1) / size ** (d - 1)
                  for d in range(3, top + 1)]
        extra = np.hstack(blocks) if blocks else np.zeros((len(b), 0))
        r = _rank(extra)
        if len(b) > 3 + r and _rank(np.hstack([lin, extra])) == 3 + r:
            break
    a = np.hstack([lin, extra])
    coef, *_ = np.linalg.lstsq(a, b, rcond=1e-10)
    resid = b - a @ coef
    cov = (resid @ resid / max(len(b) - 3 - r, 1)) * np.linalg.pinv(a.T @ a, rcond=1e-10)
    return coef[:3] / size, np.sqrt(np.diag(cov)[:3]) / size, resid, top


def _reference_frame(frames: list[Structure], where: str) -> Structure:
    """The frame of least stress; every frame must have a stress and the same atoms."""
    for k, s in enumerate(frames):
        if s.stress is None:
            raise GafitInputError(f"{where}: frame {s.name or k} has no stress; elastic constants "
                                  "need the stress of every strained frame")
    ref = min(frames, key=lambda s: float(np.abs(s.stress).max()))
    symbols = ref.atoms.get_chemical_symbols()
    for s in frames:
        if s.atoms.get_chemical_symbols() != symbols:
            raise GafitInputError(f"{where}: frame {s.name} has other atoms than the reference "
                                  f"frame {ref.name} ({len(s.atoms)} vs {len(ref.atoms)}); the frames "
                                  "must be strains of one crystal")
    cell = np.array(ref.atoms.cell)
    a = float(np.linalg.norm(cell[0]))
    if not np.allclose(cell, a * np.eye(3), atol=1e-4 * a):
        raise GafitInputError(f"{where}: the reference frame {ref.name} (least stress) has cell "
                              f"lengths/angles {np.round(ref.atoms.cell.cellpar(), 4).tolist()}, not a "
                              "cube along x, y, z; cubic elastic constants need the cubic axes")
    return ref


def _homogeneous(ref: Structure, s: Structure) -> bool:
    """Whether the atoms of ``s`` sit at the reference's fractional coordinates (a homogeneous strain)."""
    d = s.atoms.get_scaled_positions(wrap=False) - ref.atoms.get_scaled_positions(wrap=False)
    d -= np.round(d)
    return bool(np.abs(d @ np.array(s.atoms.cell)).max() <= HOMOGENEOUS_TOL)


def _max_force(s: Structure) -> float | None:
    return None if s.forces is None else float(np.abs(s.forces).max())


def _ion_state(ref: Structure, group: list[Structure], what: str, where: str) -> bool:
    """True if the frames of ``group`` are relaxed-ion (forces below RELAXED_FORCE), False if
    clamped-ion (homogeneous strain with forces on the atoms)."""
    forces = [_max_force(s) for s in group]
    if all(f is not None and f <= RELAXED_FORCE for f in forces):
        return True
    if all(_homogeneous(ref, s) for s in group):
        return False
    k = next(k for k, f in enumerate(forces) if f is None or f > RELAXED_FORCE)
    has = "no forces" if forces[k] is None else f"forces up to {forces[k]:.3g} eV/Å"
    raise GafitInputError(f"{where}: the {what} frames are neither relaxed-ion (frame "
                          f"{group[k].name} has {has}) "
                          "nor homogeneously strained (the atoms moved from the reference's "
                          "fractional coordinates)")


def elastic_from_frames(path: str | Path, config_type: str | None = None,
                        max_strain: float = MAX_STRAIN) -> FrameReference:
    """Cubic C11, C12, C44 (GPa) from frames of ``path`` that strain one cubic crystal.

    The values are keyed by the properties of :mod:`gafit.property_target`: ``C11``, ``C12`` and
    ``C44`` for relaxed-ion frames, ``C44_unrelaxed`` when the sheared frames are clamped-ion (and
    ``C11_unrelaxed``/``C12_unrelaxed`` when the normal-strain frames are). See the module docstring.
    """
    where = _where(path, config_type)
    if not 0 < max_strain < 0.5:
        raise GafitInputError(f"{where}: max_strain {max_strain} must be between 0 and 0.5")
    frames = read_frames(path, config_type)
    ref = _reference_frame(frames, where)
    ref_cell = np.array(ref.atoms.cell)
    etas, rhs, normal, shear, used = [], [], [], [], []
    smallest = np.inf
    for s in frames:
        if s is ref:
            continue
        f, eta = lagrangian_strain(ref_cell, np.array(s.atoms.cell))
        size = float(np.abs(eta * [1, 1, 1, 0.5, 0.5, 0.5]).max())  # largest tensor component
        if size < 1e-6:
            continue  # another unstrained frame
        smallest = min(smallest, size)
        if size > max_strain:
            continue
        stress = second_piola_kirchhoff(f, s.stress) - ref.stress
        etas.append(eta)
        rhs.append(stress / GPa)
        used.append(s)
        (shear if np.abs(eta[3:]).max() > 1e-6 else normal).append(s)
    if not normal or not shear:
        missing = "normal (ε1-ε3)" if not normal else "shear (ε4-ε6)"
        near = (f"; the smallest strain there is {smallest:.3g}: raise max_strain"
                if np.isfinite(smallest) and smallest > max_strain else "")
        raise GafitInputError(f"{where}: no {missing} strained frames with |η| <= {max_strain:g} "
                              f"beside the reference frame {ref.name}{near}")
    c, err, resid, top = _fit_cubic(etas, rhs)
    normal_relaxed = _ion_state(ref, normal, "normal-strain", where)
    shear_relaxed = _ion_state(ref, shear, "shear", where)
    suffix_n = "" if normal_relaxed else "_unrelaxed"
    keys = [f"C11{suffix_n}", f"C12{suffix_n}", "C44" if shear_relaxed else "C44_unrelaxed"]
    notes = [f"{'relaxed-ion' if normal_relaxed else 'clamped-ion'} normal strains, "
             f"{'relaxed-ion' if shear_relaxed else 'clamped-ion'} shears",
             f"reference frame {ref.name}, a = {ref_cell[0, 0]:.6g} Å"]
    return FrameReference(
        values=dict(zip(keys, map(float, c), strict=True)),
        errors=dict(zip(keys, map(float, err), strict=True)),
        source=str(path), config_type=config_type, n_frames=len(used),
        scatter=float(np.sqrt(np.mean(resid ** 2))), scatter_unit="GPa",
        method=(f"least squares of S = ∂U/∂η, U cubic to order {top} in η (2nd Piola-Kirchhoff "
                f"stress vs Lagrangian strain, |η_ij| <= {max_strain:g})"),
        notes=notes)


def _scale_of(ref: Structure, s: Structure) -> float | None:
    """The factor s with cell = s × reference cell and the same fractional positions, or None."""
    r = np.array(ref.atoms.cell)
    c = np.array(s.atoms.cell)
    if len(s.atoms) != len(ref.atoms) or s.atoms.get_chemical_symbols() != ref.atoms.get_chemical_symbols():
        return None
    k = float(np.cbrt(abs(np.linalg.det(c)) / abs(np.linalg.det(r))))
    if not np.allclose(c, k * r, atol=1e-5 * np.abs(c).max()):
        return None
    d = s.atoms.get_scaled_positions(wrap=False) - ref.atoms.get_scaled_positions(wrap=False)
    d -= np.round(d)
    return k if np.abs(d @ c).max() <= HOMOGENEOUS_TOL else None


def eos_from_frames(path: str | Path, config_type: str | None = None,
                    eos: str = "birchmurnaghan") -> FrameReference:
    """a (Å, the conventional cubic cell at V0; absent for other crystals), E (eV/atom at V0) and
    B (GPa) from frames of ``path`` that are uniform scalings of one crystal; also V (Å³/atom)."""
    from ase.eos import EquationOfState

    where = _where(path, config_type)
    frames = read_frames(path, config_type)
    if len(frames) < MIN_EOS_FRAMES:
        raise GafitInputError(f"{where}: {len(frames)} frames; an equation of state needs at least "
                              f"{MIN_EOS_FRAMES} scalings of one crystal")
    ref = frames[0]
    for s in frames:
        if s.energy is None:
            raise GafitInputError(f"{where}: frame {s.name} has no energy")
        if _scale_of(ref, s) is None:
            raise GafitInputError(f"{where}: frame {s.name} is not a uniform scaling of frame "
                                  f"{ref.name} (other atoms, cell shape or fractional positions)")
    nat = len(ref.atoms)
    v = np.array([s.atoms.get_volume() for s in frames]) / nat
    e = np.array([s.energy for s in frames]) / nat
    if len(np.unique(np.round(v, 8))) < MIN_EOS_FRAMES:
        raise GafitInputError(f"{where}: fewer than {MIN_EOS_FRAMES} distinct volumes")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        fit = EquationOfState(v, e, eos=eos)
        try:
            v0, e0, b = fit.fit()
        except Exception as err:  # ASE raises several kinds on a bad fit
            raise GafitInputError(f"{where}: the {eos} fit failed ({err})") from None
    if not v.min() <= v0 <= v.max():
        raise GafitInputError(f"{where}: the {eos} minimum V0 = {v0:.4g} Å³/atom lies outside the "
                              f"frames' volumes {v.min():.4g}-{v.max():.4g} Å³/atom")
    resid = e - fit.func(v, *fit.eos_parameters)
    values = {"E": float(e0), "B": float(b / GPa), "V": float(v0)}
    conv = conventional_cell(ref.atoms)
    notes = [f"volumes {v.min():.4g}-{v.max():.4g} Å³/atom"]
    lengths = conv.cell.lengths()
    if np.allclose(conv.cell.cellpar()[3:], 90) and np.ptp(lengths) < 1e-6 * lengths[0]:
        values["a"] = float(lengths[0] * np.cbrt(v0 * nat / ref.atoms.get_volume()))
    else:
        notes.append("not cubic: no a")
    return FrameReference(values=values, errors={}, source=str(path), config_type=config_type,
                          n_frames=len(frames), scatter=float(np.sqrt(np.mean(resid ** 2))),
                          scatter_unit="eV/atom", method=f"{eos} fit of E(V) per atom", notes=notes)


#: properties each derivation gives
ELASTIC_KEYS = ("C11", "C12", "C44", "C44_unrelaxed", "C11_unrelaxed", "C12_unrelaxed")
EOS_KEYS = ("a", "E", "B", "V")


def reference_for(prop: str, path: str | Path, config_type: str | None = None,
                  max_strain: float = MAX_STRAIN) -> FrameReference:
    """The derivation that gives ``prop`` (elastic constants or the equation of state), checked to
    hold it (a clamped-ion frame set gives C44_unrelaxed, not C44)."""
    where = _where(path, config_type)
    if prop in ELASTIC_KEYS:
        ref = elastic_from_frames(path, config_type, max_strain)
    elif prop in EOS_KEYS:
        ref = eos_from_frames(path, config_type)
    else:
        raise GafitInputError(f"{where}: {prop} cannot be derived from frames (elastic constants "
                              f"{', '.join(ELASTIC_KEYS[:4])} or a, E, B from an equation of state)")
    if prop == "C44" and "C44_unrelaxed" in ref.values:
        raise GafitInputError(f"{where}: the sheared frames are clamped-ion (the atoms strained "
                              "homogeneously, forces on them): they give C44_unrelaxed, not the "
                              "relaxed-ion C44; use property = \"C44_unrelaxed\"")
    if prop not in ref.values:
        raise GafitInputError(f"{where}: these frames give {', '.join(ref.values)}, not {prop} "
                              f"({ref.notes[0]})")
    return ref


def derive_from_frames(path: str | Path, config_type: str | None = None,
                       max_strain: float = MAX_STRAIN) -> FrameReference:
    """The equation of state when every frame is a uniform scaling of the first, else the cubic
    elastic constants (what ``gafit properties --from-frames`` shows)."""
    frames = read_frames(path, config_type)
    if len(frames) >= MIN_EOS_FRAMES and all(_scale_of(frames[0], s) is not None for s in frames):
        return eos_from_frames(path, config_type)
    return elastic_from_frames(path, config_type, max_strain)
