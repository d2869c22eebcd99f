"""What every analytic form declares: its parameters (as data) and how it evaluates a batch.

A form owns one parameter block per *entry* (a species pair for pair forms, an ordered species triplet
for Tersoff). Its parameters are declared once as :class:`ParamSpec` rows; config keys, bounds, LAMMPS
export and reports all read that declaration.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol, runtime_checkable

import numpy as np

from gafit.structures import GafitInputError, ReferenceSet


def number(x: float) -> str:
    """The shortest text that reads back as exactly ``x`` (for parameter files)."""
    return repr(float(x))


@dataclass(frozen=True)
class ParamSpec:
    """One parameter of a form, per entry."""

    name: str
    unit: str
    bounds: tuple[float, float]  # default fitting bounds
    default: float  # a sensible starting value inside the bounds
    description: str = ""
    log: bool = False  # search on a log scale (parameters spanning decades)
    lower_limit: float = -np.inf  # hard physical limits: never crossed, whatever the user's bounds
    upper_limit: float = np.inf
    fittable: bool = True  # False for discrete switches (e.g. Tersoff's m): always fixed
    # False: kept at its value unless the config gives bounds (ZBL's switching radii), also where
    # a fit leaves other parameters free
    fitted_by_default: bool = True


@dataclass
class Prediction:
    """Batched predictions for B parameter vectors on a reference set of S structures, N atoms.

    ``energy`` (B, S) in eV; ``forces`` (B, 3N) in eV/Å (atom-major, x y z); ``virial`` (B, S, 6) in eV
    is dE/dε in Voigt order xx yy zz yz xz xy, so the ASE stress is virial / volume.
    """

    energy: np.ndarray
    forces: np.ndarray
    virial: np.ndarray

    @classmethod
    def concatenate(cls, parts: list[Prediction]) -> Prediction:
        """The predictions of several batches, one after the other along the batch axis."""
        return cls(energy=np.concatenate([p.energy for p in parts]),
                   forces=np.concatenate([p.forces for p in parts]),
                   virial=np.concatenate([p.virial for p in parts]))

    def __iadd__(self, other: Prediction) -> Prediction:
        self.energy += other.energy
        self.forces += other.forces
        self.virial += other.virial
        return self


@runtime_checkable
class FormTables(Protocol):
    """What :meth:`Form.build_tables` returns: any object (the form alone reads it) that says how
    many float64 temporaries one individual of a batch costs, so that a batch is cut into chunks
    that fit in memory (:data:`gafit.potential.CHUNK_ELEMENTS`)."""

    @property
    def work_per_individual(self) -> int:
        """Float64 temporaries per individual while :meth:`Form.evaluate` runs (>= 0)."""
        ...


class Form(ABC):
    """An analytic potential form evaluated on geometry tables built once.

    A form author provides, besides the abstract methods: ``name`` (the registry name), ``params``
    (one :class:`ParamSpec` per parameter of an entry, in LAMMPS order), ``lammps_style`` and,
    when the form writes a parameter file, ``parameter_file_suffix`` and :meth:`read_file`. The
    other hooks below have defaults that fit a simple pair form; override the ones that do not fit
    (``body_order``, :meth:`unused_parameters`, :meth:`tied_parameters`,
    :meth:`derived_parameters`, :meth:`check`, :meth:`repair`, :meth:`example`,
    :meth:`dimer_energy`, :meth:`legacy_parameters`). The tables of
    :meth:`build_tables` follow :class:`FormTables`. A form registered in the ``gafit.forms``
    entry-point group gets the contract tests of ``tests/forms/test_contract.py``.
    """

    #: registry name, as used in configs and potential.json
    name: str = ""
    #: parameters per entry, in LAMMPS order
    params: tuple[ParamSpec, ...] = ()
    #: the LAMMPS ``pair_style`` this form writes and reads back (e.g. ``"morse"``)
    lammps_style: str = ""
    #: suffix (with the dot) of the LAMMPS parameter file the form writes, e.g. ``".tersoff"``;
    #: None when its ``pair_coeff`` lines hold the numbers. A form with a suffix provides
    #: :meth:`read_file`.
    parameter_file_suffix: str | None = None
    #: atoms an energy term couples: 2 for pair forms, 3 for forms with angles (Tersoff); data
    #: checks look for triplets when it is 3 or more
    body_order: int = 2
    #: relative accuracy to which forces and virials are the gradient of the energy (checked by the
    #: contract tests): rounding only, unless the form reproduces a LAMMPS approximation that is
    #: not a gradient (coul/long's force uses the exact erfc' beside a polynomial erfc)
    gradient_tolerance: float = 1e-6

    def __init__(self, species: list[str], cutoff: float) -> None:
        self.species = list(species)
        self.cutoff = float(cutoff)

    # --- parameter naming -------------------------------------------------------------------
    @abstractmethod
    def entries(self) -> list[tuple[str, ...]]:
        """The parameter blocks, in a fixed order (e.g. species pairs)."""

    @abstractmethod
    def canonical_entry(self, entry: tuple[str, ...]) -> tuple[str, ...]:
        """The stored spelling of an entry (e.g. ``("Ag","Cu")`` -> ``("Cu","Ag")``)."""

    def parameter_names(self) -> list[str]:
        """Full names ``A-B.NAME`` of every parameter, entry-major."""
        return [f"{'-'.join(e)}.{p.name}" for e in self.entries() for p in self.params]

    def canonical_name(self, key: str) -> str:
        """Map a user key (any species order) to its stored name; raise if unknown."""
        entry_s, dot, pname = key.rpartition(".")
        if not dot:
            raise GafitInputError(f"parameter '{key}': expected ENTRY.NAME, e.g. 'Cu-Cu.D0'")
        entry = tuple(entry_s.split("-"))
        if pname not in {p.name for p in self.params}:
            known = ", ".join(p.name for p in self.params)
            raise GafitInputError(
                f"parameter '{key}': {self.name} has no parameter '{pname}' (it has {known})"
            )
        for sym in entry:
            if sym not in self.species:
                raise GafitInputError(
                    f"parameter '{key}': species '{sym}' is not in the potential's species "
                    f"{self.species}"
                )
        try:
            entry = self.canonical_entry(entry)
        except ValueError as err:
            raise GafitInputError(f"parameter '{key}': {err}") from None
        return f"{'-'.join(entry)}.{pname}"

    @property
    def n_params(self) -> int:
        return len(self.entries()) * len(self.params)

    def default_values(self) -> np.ndarray:
        return np.tile(np.array([p.default for p in self.params], float), len(self.entries()))

    def default_bounds(self) -> np.ndarray:
        """(n_params, 2) default fitting bounds."""
        bounds = np.array([p.bounds for p in self.params], float).reshape(-1, 2)
        return np.tile(bounds, (len(self.entries()), 1))

    def hard_limits(self) -> np.ndarray:
        """(n_params, 2) physical limits the search must never cross."""
        lim = [(p.lower_limit, p.upper_limit) for p in self.params]
        return np.tile(np.array(lim, float).reshape(-1, 2), (len(self.entries()), 1))

    def fittable(self) -> np.ndarray:
        return np.tile(np.array([p.fittable for p in self.params], bool), len(self.entries()))

    def log_scale(self) -> np.ndarray:
        return np.tile(np.array([p.log for p in self.params], bool), len(self.entries()))

    def fitted_by_default(self) -> np.ndarray:
        return np.tile(np.array([p.fitted_by_default for p in self.params], bool),
                       len(self.entries()))

    def legacy_parameters(self) -> dict[str, float]:
        """{name: value} of parameters that files of earlier gafit versions did not store, as the
        settings read from such a file imply them (a file's own values win). Default: none."""
        return {}

    def unused_parameters(self) -> list[str]:
        """Full names of parameters that never enter the energy (LAMMPS takes them from another
        entry): a fit keeps them fixed and refuses a config that fits them. Default: none."""
        return []

    def tied_parameters(self) -> dict[str, str]:
        """{name: source}: parameters the form requires equal to another (:meth:`repair` copies
        the source's value); a fit ties them unless the config sets them. Default: none."""
        return {}

    def derived_parameters(self) -> dict[str, dict[str, float]]:
        """{name: {source: coefficient}}: parameters that are linear combinations of others (e.g.
        a charge fixed by neutrality). Default: none."""
        return {}

    @classmethod
    def example(cls, species: list[str]) -> tuple[Form, np.ndarray]:
        """A form on ``species`` and a valid parameter vector (n_params,) that gives non-trivial
        energies and forces at nearest-neighbour distances of 2.2-3 Å, for tests. Default: the
        declared defaults with a 5 Å cutoff."""
        form = cls(list(species), 5.0)
        return form, form.default_values()

    def check(self, values: np.ndarray) -> list[str]:
        """Problems that make a parameter set unusable in LAMMPS (empty when fine)."""
        return []

    def repair(self, theta: np.ndarray) -> np.ndarray:
        """Project a batch (B, n_params) onto the valid region, for constraints between parameters."""
        return theta

    def interaction_range(self, values: np.ndarray) -> float:
        """How far (Å) the form reaches with parameter ``values`` (n_params,) or a batch
        (B, n_params), the largest over the batch: the neighbour cutoff its tables need. A form
        whose reach is a parameter (Tersoff's R + D) says so here; by default the fixed cutoff."""
        return self.cutoff

    def cutoff_setting(self, values: np.ndarray) -> str | None:
        """The parameters that set :meth:`interaction_range` for ``values`` (n_params,), named for
        an error message (Tersoff: 'A-B-C.R + A-B-C.D'); None when the reach is the fixed cutoff."""
        return None

    def dimer_energy(self, values: np.ndarray, a: int, b: int
                     ) -> Callable[[np.ndarray], tuple[np.ndarray, np.ndarray]] | None:
        """The form's energy of an isolated pair of atoms of species indices ``a``, ``b`` (a dimer,
        no third atom) for parameter vectors ``values`` (B, n_params): a function of distances r
        (K,) in Å giving E and dE/dr, each (B, K), in eV and eV/Å; it must equal what
        :meth:`evaluate` gives two atoms at r (contract-tested). :mod:`gafit.walls` adds the forms'
        dimers up, within :meth:`interaction_range`, to find each species pair's repulsive wall. A
        many-body form declares the reduction here (Tersoff: bond order 1, the most attractive
        case); pair forms are reduced through their ``pair_energy``. Default None: the form is left
        out of the walls."""
        return None

    # --- evaluation ---------------------------------------------------------------------------
    @abstractmethod
    def build_tables(self, refset: ReferenceSet) -> FormTables:
        """Geometry tables for this form on ``refset``, computed once per fit (a
        :class:`FormTables`: :meth:`evaluate` alone reads the rest)."""

    @abstractmethod
    def evaluate(self, theta: np.ndarray, tables: Any) -> Prediction:
        """Energies, forces and virials for a batch ``theta`` of shape (B, n_params)."""

    def parameter_derivatives(self, theta: np.ndarray, tables: Any) -> Prediction:
        """Analytic derivatives of energies, forces and virials with respect to each parameter at
        one vector ``theta`` (n_params,): a Prediction whose batch axis is the parameter index
        (energy (n_params, S), forces (n_params, 3N), virial (n_params, S, 6)). Rows of discrete
        switches (not fittable) are zero. Forms without it raise NotImplementedError."""
        raise NotImplementedError(f"{self.name}: no analytic parameter derivatives")

    @property
    def has_parameter_derivatives(self) -> bool:
        return type(self).parameter_derivatives is not Form.parameter_derivatives

    #: whether ``[refine] jacobian = "auto"`` takes the least squares' Jacobian from
    #: :meth:`parameter_derivatives`: False where batched forward differences cost less
    auto_analytic_jacobian = True

    # --- LAMMPS ------------------------------------------------------------------------------
    @abstractmethod
    def lammps_lines(
        self, values: np.ndarray, outdir: Path | None = None, header: str = ""
    ) -> list[str]:
        """``pair_style``/``pair_coeff`` lines; parameter files needed go into ``outdir``, with
        ``header`` (how the parameters were made) as their first comment lines."""

    @classmethod
    def from_lammps(
        cls, style_args: list[str], coeffs: list[tuple[int, list[str]]], species: list[str],
        where: str, base: Path | None = None,
    ) -> tuple[Form, dict[str, float]]:
        """Rebuild a form and its named values from LAMMPS ``pair_style`` args and ``pair_coeff`` lines.

        ``coeffs`` holds (line number, words after pair_coeff); ``where`` names the file; ``base``
        is the folder that relative parameter-file names are read from.
        """
        raise GafitInputError(f"{where}: reading {cls.name} from LAMMPS input is not supported")

    @classmethod
    def read_file(
        cls, path: str | Path, elements: list[str] | None = None, species: list[str] | None = None
    ) -> Any:  # a gafit.potential.Potential, not imported: forms sit below gafit.potential
        """A :class:`~gafit.potential.Potential` (E0 = 0) from this form's LAMMPS parameter file
        (``parameter_file_suffix``).

        ``elements``: the file's element names to use (default: all); ``species``: gafit's names
        for them (default: the element names)."""
        raise GafitInputError(f"{path}: the {cls.name} form cannot read parameter files")

    def settings(self) -> dict[str, float]:
        """Numbers beyond the cutoff that define the form (none here; the Coulomb form may fix
        ``g_ewald``): saved by :meth:`to_dict`, kept by :meth:`gafit.potential.Potential.select`."""
        return {}

    def apply_settings(self, settings: dict[str, float]) -> None:
        """Set what :meth:`settings` returns; a form without settings takes none."""
        if settings:
            raise GafitInputError(f"{self.name}: unknown settings {sorted(settings)}")

    def to_dict(self, values: np.ndarray) -> dict:
        return {
            "form": self.name,
            "cutoff": self.cutoff,
            **self.settings(),
            "parameters": dict(zip(self.parameter_names(), map(float, values), strict=True)),
        }
