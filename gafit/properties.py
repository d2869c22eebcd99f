"""Crystal properties of a potential: lattice constant, energy per atom, equation of state, elastic constants.

Units: lengths Å, volumes Å³/atom, energies eV/atom (including the potential's E0 offsets: the cohesive
energy when E0 = 0, as for published potentials), bulk modulus and elastic constants GPa. Stress is in
the ASE convention (positive = tensile); elastic constants relate Voigt stresses to Voigt strains with
engineering shear strains (ε4 = 2 ε_yz), σ_i = Σ_j C_ij ε_j.

Every function takes a *model*: a gafit :class:`~gafit.potential.Potential` (strained cells are evaluated
in one batched call) or any ASE calculator (evaluated one structure at a time), so the same numbers can
be computed with an independent implementation. The crystal is relaxed first by :func:`gafit.crystals.relax`
(cell and positions, space group kept); internal relaxations of strained cells use ASE's BFGS at fixed cell.
The equation of state is fitted to energies integrated from the pressure, like every other quantity here
derived from forces and stress: a pair term cut off without a shift adds steps to E(V) (a pair crossing the
cutoff) that no force or stress sees, enough to move V0 by 3 % and raise B from 24 to 40 GPa in sodalite SiO2.
"""

from __future__ import annotations

import math
import warnings
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
from ase import Atoms
from ase.calculators.calculator import Calculator
from ase.units import GPa

from gafit import crystals
from gafit.calculator import GafitCalculator, predict_atoms
from gafit.potential import Potential
from gafit.structures import GafitInputError, scaled_cell

__all__ = [
    "EOSResult",
    "QUANTITIES",
    "compare",
    "conventional_cell",
    "elastic_constants_cubic",
    "elastic_tensor",
    "equation_of_state",
    "format_properties",
    "lattice_constant",
    "load_reference_values",
    "parse_reference_flags",
    "pressure_energies",
    "properties",
    "relax_positions",
    "symmetry",
]

Model = Potential | Calculator

#: finite strain of the stress-strain elastic constants (dimensionless, ±)
STRAIN = 0.005
#: relative volume range of the equation of state (±)
EOS_SPAN = 0.05
#: force below which atoms count as relaxed, eV/Å
FMAX = 1e-5

#: reported quantities: key -> (unit, description)
QUANTITIES: dict[str, tuple[str, str]] = {
    "a": ("Å", "lattice constant (relaxed)"),
    "b": ("Å", "cell length b (relaxed)"),
    "c": ("Å", "cell length c (relaxed)"),
    "alpha": ("deg", "cell angle alpha"),
    "beta": ("deg", "cell angle beta"),
    "gamma": ("deg", "cell angle gamma"),
    "E": ("eV/atom", "energy per atom, with E0 (cohesive if E0 = 0)"),
    "V": ("Å³/atom", "volume per atom"),
    "B": ("GPa", "bulk modulus (EOS fit)"),
    "C11": ("GPa", ""),
    "C12": ("GPa", ""),
    "C44": ("GPa", "internal relaxation of the atoms"),
    "C44_unrelaxed": ("GPa", "atoms strained homogeneously"),
    "B_elastic": ("GPa", "(C11 + 2 C12) / 3, vs B above"),
}
_VOIGT_KEYS = [f"C{i + 1}{j + 1}" for i in range(6) for j in range(i, 6)]
for _k in _VOIGT_KEYS:
    QUANTITIES.setdefault(_k, ("GPa", ""))
for _k in _VOIGT_KEYS:
    QUANTITIES.setdefault(f"{_k}_unrelaxed", ("GPa", "atoms strained homogeneously"))

#: other spellings accepted in reference files and --dft flags
ALIASES = {
    "a0": "a", "lattice_constant": "a", "e_coh": "E", "ecoh": "E", "energy": "E",
    "energy_per_atom": "E", "cohesive_energy": "E", "v0": "V", "volume": "V",
    "volume_per_atom": "V", "b0": "B", "bulk_modulus": "B", "c44_0": "C44_unrelaxed",
    "c44_unrel": "C44_unrelaxed", "c44u": "C44_unrelaxed", "c44_relaxed": "C44",
}
#: string-valued keys allowed in a reference file (kept as its label)
LABEL_KEYS = ("label", "source", "citation", "notes", "method", "functional")


# --------------------------------------------------------------------------- evaluation


def _predict(model: Model, images: Sequence[Atoms]) -> tuple[np.ndarray, list[np.ndarray], np.ndarray]:
    """Energies (n,) eV, forces [(n_atoms, 3)] eV/Å, stresses (n, 6) eV/Å³ of ``images``."""
    if isinstance(model, Potential):
        return predict_atoms(model, images)
    energies, forces, stresses = [], [], []
    for img in images:
        at = img.copy()
        at.calc = model
        energies.append(at.get_potential_energy())
        forces.append(np.array(at.get_forces()))
        stresses.append(at.get_stress(voigt=True) if all(at.pbc) else np.full(6, np.nan))
    return np.array(energies), forces, np.array(stresses).reshape(-1, 6)


def _calculator(model: Model) -> Calculator:
    return GafitCalculator(model) if isinstance(model, Potential) else model


def _max_force(forces: np.ndarray) -> float:
    return float(np.sqrt((forces**2).sum(axis=1)).max()) if len(forces) else 0.0


def relax_positions(model: Model, atoms: Atoms, fmax: float = FMAX, steps: int = 1000) -> Atoms:
    """A copy of ``atoms`` with the positions relaxed at fixed cell (ASE BFGS) to ``fmax`` eV/Å."""
    from ase.optimize import BFGS

    out = atoms.copy()
    out.calc = _calculator(model)
    if _max_force(out.get_forces()) > fmax:
        BFGS(out, logfile=None).run(fmax=fmax, steps=steps)
    out.calc = None
    return out


# --------------------------------------------------------------------------- symmetry


def symmetry(atoms: Atoms, symprec: float = 1e-3) -> tuple[str, int]:
    """Space group symbol and number of ``atoms`` (spglib)."""
    import spglib

    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)
        ds = spglib.get_symmetry_dataset(_spglib_cell(atoms), symprec=symprec)
    if ds is None:
        return "P1", 1
    return str(ds.international), int(ds.number)


def _spglib_cell(atoms: Atoms) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    return np.array(atoms.cell), atoms.get_scaled_positions(), atoms.numbers


def conventional_cell(atoms: Atoms, symprec: float = 1e-3) -> Atoms:
    """The idealised conventional cell of ``atoms`` in spglib's standard orientation (cubic: axes along
    x, y, z), so that elastic constants refer to the crystal axes."""
    import spglib

    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)
        std = spglib.standardize_cell(_spglib_cell(atoms), to_primitive=False, no_idealize=False,
                                      symprec=symprec)
    if std is None:
        return atoms.copy()
    cell, frac, numbers = std
    return Atoms(numbers=numbers, cell=cell, scaled_positions=frac, pbc=True)


def _require_crystal(atoms: Atoms, where: str = "structure") -> None:
    if not all(atoms.pbc) or atoms.cell.rank != 3:
        raise GafitInputError(f"{where}: a crystal needs a cell periodic in 3 directions")


def _is_cubic(atoms: Atoms, symprec: float = 1e-3) -> bool:
    return symmetry(atoms, symprec)[1] >= 195


# --------------------------------------------------------------------------- lattice constant


def lattice_constant(model: Model, atoms: Atoms, symprec: float = 1e-3,
                     fmax: float = FMAX) -> tuple[Atoms, float]:
    """Relaxed conventional cubic cell of a cubic crystal and its lattice constant a (Å).

    The conventional cell is relaxed by :func:`gafit.crystals.relax` (cell and positions, space
    group kept) to forces below ``fmax`` eV/Å and zero stress.
    """
    _require_crystal(atoms)
    if not _is_cubic(atoms, symprec):
        sg, n = symmetry(atoms, symprec)
        raise GafitInputError(f"lattice_constant: the structure is {sg} ({n}), not cubic; "
                              "use gafit.crystals.relax for other crystals")
    cell = crystals.relax(model, conventional_cell(atoms, symprec), fmax=fmax, symprec=symprec).atoms
    return cell, float(np.linalg.norm(cell.cell[0]))


# --------------------------------------------------------------------------- equation of state


@dataclass
class EOSResult:
    """An equation of state E(V) per atom: volumes Å³/atom, energies eV/atom, B in GPa."""

    volume: float
    energy: float
    bulk_modulus: float
    volumes: np.ndarray
    energies: np.ndarray
    eos: str
    pressures: np.ndarray  # GPa at ``volumes``


def _relaxed_where_needed(model: Model, images: list[Atoms], relax: bool, fmax: float
                          ) -> tuple[list[Atoms], np.ndarray, np.ndarray]:
    """Images (positions relaxed where forces exceed fmax, if ``relax``), energies eV, stresses eV/Å³."""
    e, f, s = _predict(model, images)
    if not relax:
        return images, e, s
    todo = [k for k, fk in enumerate(f) if _max_force(fk) > fmax]
    if todo:
        images = list(images)
        for k in todo:
            images[k] = relax_positions(model, images[k], fmax)
        e2, _, s2 = _predict(model, [images[k] for k in todo])
        e, s = e.copy(), s.copy()
        e[todo], s[todo] = e2, s2
    return images, e, s


def pressure_energies(volumes: np.ndarray, pressures: np.ndarray, energy: float, at: int) -> np.ndarray:
    """E(V) = energy - ∫ P dV from ``volumes[at]`` (cubic spline of P(V)): energies (eV/atom) consistent
    with the pressures (eV/Å³) at ``volumes`` (Å³/atom, increasing)."""
    from scipy.interpolate import CubicSpline

    w = CubicSpline(volumes, pressures).antiderivative()(volumes)
    return energy - (w - w[at])


def equation_of_state(model: Model, atoms: Atoms, span: float = EOS_SPAN, n: int = 11,
                      eos: str = "birchmurnaghan", relax: bool = True, fmax: float = FMAX) -> EOSResult:
    """Fit ``eos`` (ase.eos names) to E(V) over volumes (1 ± span) × V of ``atoms`` (best relaxed first).

    The cell is scaled isotropically; with ``relax`` the positions are relaxed at each volume where
    forces exceed ``fmax`` eV/Å. The fitted E(V) is the energy at the volume of ``atoms`` minus the
    integral of the pressure (:func:`pressure_energies`), so that V0 is the volume of zero stress the
    relaxation found and B agrees with the stress-strain tensor even for a pair term cut off without a
    shift (whose energy steps at the cutoff no stress sees). ``energies`` are the potential's own.
    Returns per-atom volume (Å³), energy (eV) and B (GPa).
    """
    from ase.eos import EquationOfState

    _require_crystal(atoms)
    if not 0 < span < 0.5 or n < 5:
        raise GafitInputError(f"equation_of_state: need 0 < span < 0.5 and n >= 5 (got {span}, {n})")
    nat = len(atoms)
    x = np.linspace(-span, span, n)
    images = [scaled_cell(atoms, (1 + xi) ** (1 / 3)) for xi in x]
    images, e, s = _relaxed_where_needed(model, images, relax, fmax)
    v = np.array([a.get_volume() for a in images]) / nat
    p = -s[:, :3].mean(axis=1)
    if not np.isfinite(p).all():
        raise GafitInputError("equation_of_state: the stress is not finite in the volume range")
    at = int(np.argmin(np.abs(x)))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        fit = EquationOfState(v, pressure_energies(v, p, e[at] / nat, at), eos=eos)
        try:
            v0, e0, b = fit.fit()
        except Exception as err:  # ASE raises several kinds on a bad fit
            raise GafitInputError(f"equation_of_state: the {eos} fit failed ({err})") from None
    return EOSResult(float(v0), float(e0), float(b / GPa), v, e / nat, eos, p / GPa)


# --------------------------------------------------------------------------- elastic constants


def _voigt_strain(j: int, delta: float) -> np.ndarray:
    """Symmetric strain tensor with Voigt component j = delta (engineering shear for j >= 3)."""
    pairs = ((0, 0), (1, 1), (2, 2), (1, 2), (0, 2), (0, 1))
    eps = np.zeros((3, 3))
    a, b = pairs[j]
    if a == b:
        eps[a, a] = delta
    else:
        eps[a, b] = eps[b, a] = delta / 2
    return eps


def elastic_tensor(model: Model, atoms: Atoms, strain: float = STRAIN, relax: bool = True,
                   fmax: float = FMAX) -> tuple[np.ndarray, np.ndarray]:
    """Elastic constants (6, 6) in GPa, relaxed and unrelaxed, from central stress differences.

    Each Voigt strain ±``strain`` is applied to the cell of ``atoms`` (which should be at zero stress);
    the unrelaxed tensor keeps the atoms on the homogeneously strained positions, the relaxed one
    relaxes them at the strained cell to ``fmax`` eV/Å (internal relaxation). Axes are the Cartesian
    axes of ``atoms``.
    """
    _require_crystal(atoms)
    if not 0 < strain < 0.1:
        raise GafitInputError(f"elastic constants: strain {strain} must be between 0 and 0.1")
    images = []
    for j in range(6):
        for sign in (1.0, -1.0):
            f = np.eye(3) + _voigt_strain(j, sign * strain)
            img = atoms.copy()
            img.set_cell(np.array(atoms.cell) @ f.T, scale_atoms=True)
            images.append(img)
    _, _, s_unrel = _predict(model, images)
    _, _, s_rel = _relaxed_where_needed(model, images, relax, fmax)

    def tensor(s: np.ndarray) -> np.ndarray:
        s = s.reshape(6, 2, 6)
        c = (s[:, 0] - s[:, 1]).T / (2 * strain)  # c[i, j] = dσ_i/dε_j
        return c / GPa

    return tensor(s_rel), tensor(s_unrel)


def elastic_constants_cubic(model: Model, atoms: Atoms, strain: float = STRAIN, relax_cell: bool = True,
                            symprec: float = 1e-3, fmax: float = FMAX) -> dict[str, float]:
    """C11, C12, C44 (internal relaxation), C44_unrelaxed and B_elastic = (C11 + 2 C12)/3, in GPa,
    of a cubic crystal, on the cubic axes (the conventional cell, relaxed first with ``relax_cell``).

    ``cubic_deviation`` (GPa) is the largest departure of the computed tensor from cubic form.
    """
    _require_crystal(atoms)
    if not _is_cubic(atoms, symprec):
        sg, n = symmetry(atoms, symprec)
        raise GafitInputError(f"elastic_constants_cubic: the structure is {sg} ({n}), not cubic")
    cell = lattice_constant(model, atoms, symprec, fmax)[0] if relax_cell else conventional_cell(atoms)
    c_rel, c_unrel = elastic_tensor(model, cell, strain, True, fmax)
    out = _cubic_from_tensor(c_rel)
    unrel = _cubic_from_tensor(c_unrel)
    out["C44_unrelaxed"] = unrel["C44"]
    out["B_elastic"] = (out["C11"] + 2 * out["C12"]) / 3
    return out


def _cubic_from_tensor(c: np.ndarray) -> dict[str, float]:
    c11 = float(np.mean(np.diag(c)[:3]))
    c12 = float(np.mean([c[0, 1], c[1, 0], c[0, 2], c[2, 0], c[1, 2], c[2, 1]]))
    c44 = float(np.mean(np.diag(c)[3:]))
    ideal = np.zeros((6, 6))
    ideal[:3, :3] = c12
    ideal[np.arange(3), np.arange(3)] = c11
    ideal[np.arange(3, 6), np.arange(3, 6)] = c44
    return {"C11": c11, "C12": c12, "C44": c44, "cubic_deviation": float(np.abs(c - ideal).max())}


# --------------------------------------------------------------------------- all together


def properties(model: Model, atoms: Atoms, strain: float = STRAIN, eos_span: float = EOS_SPAN,
               eos: str = "birchmurnaghan", symprec: float = 1e-3, fmax: float = FMAX) -> dict[str, Any]:
    """Relaxed structure, energy per atom (with E0), EOS bulk modulus and elastic constants.

    Cubic crystals: ``a``, ``E``, ``V``, ``B`` (EOS), ``C11``, ``C12``, ``C44`` (relaxed),
    ``C44_unrelaxed``, ``B_elastic`` on the conventional cell. Other crystals: cell and positions are
    relaxed together (:func:`gafit.crystals.relax`); ``a b c alpha beta gamma``, ``E``, ``V``, ``B`` and the
    upper triangle ``Cij`` (and ``Cij_unrelaxed``) of the elastic tensor on the cell's Cartesian axes.
    Units as in :data:`QUANTITIES`; ``units`` maps each key to its unit.
    """
    _require_crystal(atoms)
    sg, number = symmetry(atoms, symprec)
    out: dict[str, Any] = {"formula": atoms.get_chemical_formula(empirical=True),
                           "spacegroup": f"{sg} ({number})", "cubic": number >= 195}
    if isinstance(model, Potential):
        model.species_counts(atoms.get_chemical_symbols(), "structure")
        out["E0"] = dict(zip(model.species, map(float, model.values[model.e0_slice]), strict=True))
    if out["cubic"]:
        cell, a = lattice_constant(model, atoms, symprec, fmax)
        out["a"] = a
    else:
        cell = crystals.relax(model, atoms, fmax=fmax, symprec=symprec).atoms
        lengths_angles = cell.cell.cellpar()
        out.update(zip(("a", "b", "c", "alpha", "beta", "gamma"), map(float, lengths_angles),
                       strict=True))
    nat = len(cell)
    e, f, s = _predict(model, [cell])
    out["n_atoms"] = nat
    out["E"] = float(e[0] / nat)
    out["V"] = float(cell.get_volume() / nat)
    out["max_force"] = _max_force(f[0])
    out["max_stress"] = float(np.abs(s[0]).max() / GPa)
    res = equation_of_state(model, cell, eos_span, eos=eos, fmax=fmax)
    out["B"] = res.bulk_modulus
    out["eos"] = {"name": eos, "span": eos_span, "V0": res.volume, "E0": res.energy,
                  "volumes": res.volumes.tolist(), "energies": res.energies.tolist(),
                  "pressures": res.pressures.tolist()}
    c_rel, c_unrel = elastic_tensor(model, cell, strain, True, fmax)
    out["strain"] = strain
    if out["cubic"]:
        cub = _cubic_from_tensor(c_rel)
        out.update(C11=cub["C11"], C12=cub["C12"], C44=cub["C44"],
                   C44_unrelaxed=_cubic_from_tensor(c_unrel)["C44"])
        out["B_elastic"] = (cub["C11"] + 2 * cub["C12"]) / 3
        out["cubic_deviation"] = cub["cubic_deviation"]
    else:
        sym = (c_rel + c_rel.T) / 2
        sym_u = (c_unrel + c_unrel.T) / 2
        for i in range(6):
            for j in range(i, 6):
                out[f"C{i + 1}{j + 1}"] = float(sym[i, j])
                out[f"C{i + 1}{j + 1}_unrelaxed"] = float(sym_u[i, j])
    out["units"] = {k: QUANTITIES[k][0] for k in out if k in QUANTITIES}
    return out


def cohesive_energy(props: Mapping[str, Any], atoms: Atoms) -> float:
    """Isolated atoms (E0 per species: the form's zero) minus the crystal, eV/atom (> 0 when bound),
    from :func:`properties`' ``E`` and ``E0``."""
    e0 = props.get("E0") or {}
    symbols = atoms.get_chemical_symbols()
    return sum(e0.get(s, 0.0) for s in symbols) / len(symbols) - float(props["E"])


# --------------------------------------------------------------------------- reference values


def _canonical_key(key: str, where: str) -> str:
    k = key.strip()
    if k in QUANTITIES:
        return k
    low = k.lower()
    if low in ALIASES:
        return ALIASES[low]
    for q in QUANTITIES:
        if q.lower() == low:
            return q
    raise GafitInputError(f"{where}: unknown quantity '{key}'; known: a, b, c, alpha, beta, gamma, E, V, "
                          "B, C11, C12, C44, C44_unrelaxed, B_elastic, Cij, Cij_unrelaxed (i <= j)")


def _number(value: Any, where: str) -> float:
    if isinstance(value, Mapping) and "value" in value:
        value = value["value"]
    if isinstance(value, bool):
        raise GafitInputError(f"{where}: expected a number, got {value!r}")
    try:
        x = float(value)
    except (TypeError, ValueError):
        raise GafitInputError(f"{where}: expected a number, got {value!r}") from None
    if not math.isfinite(x):
        raise GafitInputError(f"{where}: expected a finite number, got {value!r}")
    return x


def reference_from_mapping(data: Mapping[str, Any], where: str) -> tuple[dict[str, float], str]:
    """Reference values (units of :data:`QUANTITIES`) and a label from a flat mapping."""
    values: dict[str, float] = {}
    label = ""
    for key, value in data.items():
        if str(key).lower() in LABEL_KEYS:
            label = label or str(value)
            continue
        q = _canonical_key(str(key), where)
        values[q] = _number(value, f"{where}: '{key}'")
    return values, label


def load_reference_values(path: str | Path) -> tuple[dict[str, float], str]:
    """Reference values from a JSON, TOML or YAML mapping ``{a: 5.466, B: 88, C11: ..., source: ...}``.

    Units: a, b, c Å; E eV/atom; V Å³/atom; B, Cij GPa. Returns the values and the file's label.
    """
    path = Path(path)
    if not path.is_file():
        raise GafitInputError(f"--reference {path}: no such file")
    text = path.read_text()
    suffix = path.suffix.lower()
    try:
        if suffix == ".json":
            from gafit.io import strict_json

            data = strict_json.loads(text)
        elif suffix == ".toml":
            import tomllib

            data = tomllib.loads(text)
        elif suffix in (".yaml", ".yml"):
            import yaml

            data = yaml.safe_load(text)
        else:
            raise GafitInputError(f"--reference {path}: expected a .json, .toml or .yaml file")
    except GafitInputError:
        raise
    except Exception as err:  # parser errors of three libraries
        msg = str(err).strip().splitlines()[0] if str(err).strip() else type(err).__name__
        raise GafitInputError(f"--reference {path}: cannot parse it ({msg})") from None
    if not isinstance(data, Mapping):
        raise GafitInputError(f"--reference {path}: expected a mapping of quantity names to numbers")
    values, label = reference_from_mapping(data, f"--reference {path}")
    return values, label or path.name


def parse_reference_flags(items: Sequence[str]) -> dict[str, float]:
    """``["a=5.466", "B=88"]`` -> ``{"a": 5.466, "B": 88.0}`` (units of :data:`QUANTITIES`)."""
    out: dict[str, float] = {}
    for item in items:
        for part in item.replace(",", " ").split():
            key, eq, value = part.partition("=")
            if not eq or not key:
                raise GafitInputError(f"--dft '{part}': expected NAME=VALUE, e.g. a=5.466 B=88")
            out[_canonical_key(key, f"--dft '{part}'")] = _number(value, f"--dft '{part}'")
    return out


@dataclass
class Comparison:
    """One row of the comparison table."""

    key: str
    value: float | None
    reference: float | None
    unit: str
    description: str
    relative: float | None = None  # (gafit - reference) / |reference|


def compare(props: Mapping[str, Any], reference: Mapping[str, float] | None = None) -> list[Comparison]:
    """Rows for every reported quantity (and every reference value), with relative differences."""
    reference = dict(reference or {})
    rows = []
    order = list(QUANTITIES)
    if not props.get("cubic", True):  # Voigt order for a full tensor
        order = [k for k in order if not k.startswith("C")] + _VOIGT_KEYS + [
            f"{k}_unrelaxed" for k in _VOIGT_KEYS] + ["C44_unrelaxed"]
        order = list(dict.fromkeys(order))
    keys = [k for k in order if (k in props or k in reference) and (k in reference or _shown(k, props))]
    for k in keys:
        v = props.get(k)
        r = reference.get(k)
        rel = (v - r) / abs(r) if v is not None and r is not None and r != 0 else None
        unit, desc = QUANTITIES[k]
        rows.append(Comparison(k, v, r, unit, desc, rel))
    return rows


def _shown(key: str, props: Mapping[str, Any]) -> bool:
    """Whether a computed quantity is worth a row: elastic constants that are not ~0, unrelaxed
    constants only where internal relaxation changes them."""
    if not key.startswith("C") or props.get("cubic", True):
        return True
    scale = max((abs(v) for k, v in props.items() if k[:1] == "C" and k[1:3].isdigit()), default=0.0)
    value = props[key]
    if key.endswith("_unrelaxed"):
        return abs(value - props.get(key[: -len("_unrelaxed")], 0.0)) > 1e-3 * scale
    return abs(value) > 1e-6 * scale


def _fmt(x: float | None, digits: int = 6) -> str:
    return "" if x is None else f"{x:.{digits}g}"


def format_properties(props: Mapping[str, Any], reference: Mapping[str, float] | None = None,
                      name: str = "", reference_label: str = "reference") -> str:
    """A plain table of ``props`` (from :func:`properties`) beside reference values."""
    head = (f"{name + ': ' if name else ''}{props.get('formula', '')} {props.get('spacegroup', '')}, "
            f"{props.get('n_atoms', '?')}-atom {'conventional ' if props.get('cubic') else ''}cell")
    rows = compare(props, reference)
    have_ref = any(r.reference is not None for r in rows)
    label = reference_label[:14]
    lines = [head, f"{'quantity':14s} {'unit':8s} {'gafit':>12s}"
             + (f" {label:>14s} {'rel. diff':>10s}" if have_ref else "") + "  note"]
    for r in rows:
        line = f"{r.key:14s} {r.unit:8s} {_fmt(r.value):>12s}"
        if have_ref:
            rel = "" if r.relative is None else f"{100 * r.relative:+.2f} %"
            line += f" {_fmt(r.reference):>14s} {rel:>10s}"
        lines.append((line + (f"  {r.description}" if r.description else "")).rstrip())
    e0 = props.get("E0")
    if e0:
        lines.append("E includes E0 offsets (eV/atom): " + ", ".join(f"{s} {v:g}" for s, v in e0.items()))
    lines.append(f"B from a {props.get('eos', {}).get('name', '')} fit over ±"
                 f"{100 * props.get('eos', {}).get('span', EOS_SPAN):g} % volume; elastic constants from "
                 f"stresses at ±{100 * props.get('strain', STRAIN):g} % strain")
    if props.get("max_force", 0.0) > 1e-3:
        lines.append(f"warning: residual forces up to {props['max_force']:.3g} eV/Å on the relaxed cell")
    if props.get("cubic_deviation", 0.0) > 0.5:
        lines.append(f"warning: the elastic tensor departs from cubic form by up to "
                     f"{props['cubic_deviation']:.3g} GPa")
    return "\n".join(lines)
