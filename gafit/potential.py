"""A potential: a sum of forms over a list of species, plus a per-species energy offset E0.

The full parameter vector is each form's parameters in turn (named ``A-B.NAME`` etc.), then ``X.E0``
for each species X (eV/atom). LAMMPS atom type i+1 is ``species[i]``.
"""

from __future__ import annotations

import copy
import difflib
import sys
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from gafit.forms import Form, Prediction, available_forms, get_form
from gafit.geometry import index_atoms, volumes
from gafit.structures import GafitInputError, ReferenceSet

#: memory budget for one chunk of (individuals x pairs/triplets) float64 temporaries
CHUNK_ELEMENTS = 8_000_000
#: structures are tabulated in blocks of about this many atoms: a chunk of individuals then stays
#: large on big sets (each block's sparse maps are read once per chunk, so chunks of a few
#: individuals on one huge table made a 10⁵-atom Tersoff set 2x slower per atom than a 10⁴ one)
BLOCK_ATOMS = 20_000


@dataclass
class TableBlock:
    """The form tables of a contiguous range of structures (and so of atoms)."""

    form_tables: list[Any]
    structures: slice
    atoms: slice
    work_per_individual: int  # float64 temporaries per individual, for chunking


@dataclass
class PotentialTables:
    """Everything geometric a potential needs on one reference set, computed once."""

    blocks: list[TableBlock]
    counts_sk: np.ndarray  # atoms of species k in structure s
    volume_s: np.ndarray  # Å³, NaN where not 3D periodic
    n_atoms_s: np.ndarray

    @property
    def form_tables(self) -> list[Any]:
        """The form tables, for a set tabulated in one block."""
        if len(self.blocks) != 1:
            raise ValueError(f"the set is tabulated in {len(self.blocks)} blocks of structures")
        return self.blocks[0].form_tables

    @property
    def work_per_individual(self) -> int:
        return max(b.work_per_individual for b in self.blocks)


def _set_shape(tables: PotentialTables) -> tuple[int, int]:
    """Structures and force components (3N) of a tabulated set."""
    return len(tables.n_atoms_s), 3 * round(tables.n_atoms_s.sum())


def _join_blocks(tables: PotentialTables, rows: int, parts: Iterable[Prediction]) -> Prediction:
    """One Prediction of ``rows`` rows on the whole set from one per block, in block order."""
    n_s, n_x = _set_shape(tables)
    out = Prediction(energy=np.empty((rows, n_s)), forces=np.empty((rows, n_x)),
                     virial=np.empty((rows, n_s, 6)))
    for block, part in zip(tables.blocks, parts, strict=True):
        out.energy[:, block.structures] = part.energy
        out.forces[:, 3 * block.atoms.start : 3 * block.atoms.stop] = part.forces
        out.virial[:, block.structures] = part.virial
    return out


def structure_blocks(n_atoms_s: np.ndarray, block_atoms: int) -> list[slice]:
    """Contiguous ranges of structures of about ``block_atoms`` atoms each (at least one)."""
    edges, total = [0], 0
    for k, n in enumerate(n_atoms_s):
        if total and total + n > block_atoms:
            edges.append(k)
            total = 0
        total += n
    edges.append(len(n_atoms_s))
    return [slice(a, b) for a, b in zip(edges[:-1], edges[1:], strict=True) if b > a]


def _slices_of(forms: Sequence[Form]) -> tuple[slice, ...]:
    """Each form's columns of a full parameter vector (the forms' parameters in order)."""
    out, start = [], 0
    for f in forms:
        out.append(slice(start, start + f.n_params))
        start += f.n_params
    return tuple(out)


class Potential:
    """Forms summed over the same species, with their parameter values and E0 offsets.

    Parameters
    ----------
    species
        Species names in atom-type order (type 1 first), each once.
    forms
        The forms whose energies add up (for example Buckingham and Coulomb), all over ``species``.
    values
        All parameter values in :attr:`names` order: each form's, then one E0 per species (eV);
        default: the forms' defaults and E0 = 0.
    provenance
        How the potential was made (comment text that files written from it carry).
    e0_given
        False when it was read from a file that gives no E0 offsets (they are then 0).
    """

    def __init__(self, species: list[str], forms: list[Form], values: np.ndarray | None = None,
                 provenance: str = "", e0_given: bool = True):
        if not species:
            raise GafitInputError("a potential needs at least one species")
        if len(set(species)) != len(species):
            raise GafitInputError(f"species {species} lists a species twice")
        self.species = list(species)
        self.forms = list(forms)
        names: list[str] = []
        for f in self.forms:
            names += f.parameter_names()
        names += [f"{s}.E0" for s in self.species]
        if len(set(names)) != len(names):
            raise GafitInputError("two forms of this potential share parameter names")
        self.names = names
        self._slices = _slices_of(self.forms)
        # the forms whose repair changes anything (the default changes nothing: no copy, no call)
        self._repairing = [(f, sl) for f, sl in zip(self.forms, self._slices, strict=True)
                           if type(f).repair is not Form.repair]
        self.values = self.default_values() if values is None else np.asarray(values, float)
        if self.values.shape != (len(names),):
            raise ValueError(f"expected {len(names)} values, got {self.values.shape}")
        self.provenance = provenance
        self.e0_given = e0_given

    # --- parameters ----------------------------------------------------------------------------
    @property
    def n_params(self) -> int:
        return len(self.names)

    def form_slices(self) -> list[slice]:
        """Each form's columns of a full parameter vector."""
        return list(self._slices)

    @property
    def e0_slice(self) -> slice:
        return slice(self.n_params - len(self.species), self.n_params)

    def default_values(self) -> np.ndarray:
        return np.concatenate([f.default_values() for f in self.forms] + [np.zeros(len(self.species))])

    def canonical_name(self, key: str) -> str:
        """The stored name of a user's parameter key; raises naming the key when unknown."""
        if key.endswith(".E0") and "-" not in key:
            sym = key[:-3]
            if sym not in self.species:
                raise GafitInputError(
                    f"parameter '{key}': species '{sym}' is not in the potential's species "
                    f"{self.species}"
                )
            return key
        errors = []
        for f in self.forms:
            try:
                return f.canonical_name(key)
            except GafitInputError as err:
                errors.append(str(err))
        raise GafitInputError(errors[0] if len(errors) == 1 else f"parameter '{key}' is unknown")

    def named_values(self) -> dict[str, float]:
        return dict(zip(self.names, map(float, self.values), strict=True))

    def species_counts(self, symbols: Iterable[str], where: str) -> np.ndarray:
        """Atoms of each of the potential's species among ``symbols`` (float, in ``species`` order);
        GafitInputError naming ``where`` when a symbol is not one of them."""
        symbols = list(symbols)
        missing = sorted(set(symbols) - set(self.species))
        if missing:
            raise GafitInputError(f"{where}: species {missing} are not in the potential's species "
                                  f"{self.species}")
        return np.array([symbols.count(sp) for sp in self.species], float)

    def with_values(self, values: np.ndarray) -> Potential:
        return Potential(self.species, self.forms, values, self.provenance, self.e0_given)

    def with_reach(self, reach: Sequence[float]) -> Potential:
        """This potential with each form's neighbour cutoff set to ``reach`` (Å, per form), the
        forms whose cutoff changes copied (this potential is left as it is). A fit gives the forms
        whose reach is a parameter (:meth:`Form.interaction_range`) the reach of every vector its
        bounds allow, so that their tables hold every pair and their repair clamps nothing."""
        forms = []
        for form, r in zip(self.forms, reach, strict=True):
            if float(r) != form.cutoff:
                form = copy.copy(form)
                form.cutoff = float(r)
            forms.append(form)
        return Potential(self.species, forms, self.values, self.provenance, self.e0_given)

    def select(self, elements: list[str], species: list[str] | None = None) -> Potential:
        """The potential for atom types named ``elements`` (LAMMPS's ``pair_coeff * * FILE
        elements...``): type i+1 uses the entries of ``elements[i]``, one of :attr:`species`, and is
        called ``species[i]`` (default: the element names); entries of species not listed are
        dropped. Values are taken by parameter name, so every form of the registry works."""
        species = list(elements if species is None else species)
        unknown = [e for e in elements if e not in self.species]
        if unknown:
            raise GafitInputError(f"element {unknown[0]!r} is not a species of the potential "
                                  f"({' '.join(self.species)})")
        if len(species) != len(elements):
            raise GafitInputError(f"{len(elements)} elements {elements} but {len(species)} species")
        old = dict(zip(species, elements, strict=True))
        named = self.named_values()
        forms, values = [], []
        for form in self.forms:
            new = type(form)(species, form.cutoff)
            new.apply_settings(form.settings())
            part = [named[form.canonical_name("-".join(old[s] for s in entry) + "." + p.name)]
                    for entry in new.entries() for p in new.params]
            # as when read from its file: the reach of the entries kept (Tersoff's max R + D)
            new.cutoff = float(new.interaction_range(np.array(part)))
            forms.append(new)
            values += part
        values += [named[f"{old[s]}.E0"] for s in species]
        return Potential(species, forms, np.array(values), self.provenance, self.e0_given)

    # --- evaluation -----------------------------------------------------------------------------
    def build_tables(self, refset: ReferenceSet) -> PotentialTables:
        idx = index_atoms(refset, self.species)
        counts = np.zeros((len(refset), len(self.species)))
        np.add.at(counts, (idx.struct_n, idx.species_n), 1.0)
        n_atoms_s = counts.sum(axis=1)
        first_atom = np.concatenate([[0], np.cumsum(n_atoms_s)]).astype(int)
        blocks = []
        for sl in structure_blocks(n_atoms_s, BLOCK_ATOMS):
            part = (refset if sl.stop - sl.start == len(refset)
                    else ReferenceSet(refset.structures[sl], refset.source))
            tables = [f.build_tables(part) for f in self.forms]
            # float64 temporaries per individual, as each form's tables say (FormTables)
            work = sum(t.work_per_individual for t in tables)
            blocks.append(TableBlock(tables, sl, slice(first_atom[sl.start], first_atom[sl.stop]),
                                     max(work, 1)))
        return PotentialTables(blocks=blocks, counts_sk=counts, volume_s=volumes(refset),
                               n_atoms_s=n_atoms_s)

    def evaluate(self, theta: np.ndarray, tables: PotentialTables) -> Prediction:
        """Energies (with E0), forces and virials for a batch ``theta`` (B, n_params)."""
        theta = np.atleast_2d(np.asarray(theta, float))
        if len(tables.blocks) == 1:
            total = self._evaluate_block(theta, tables.blocks[0])
        else:
            total = _join_blocks(tables, len(theta),
                                 (self._evaluate_block(theta, b) for b in tables.blocks))
        total.energy = total.energy + np.einsum("bk,sk->bs", theta[:, self.e0_slice], tables.counts_sk)
        return total

    def _evaluate_block(self, theta: np.ndarray, block: TableBlock) -> Prediction:
        """Energies without E0, forces and virials on one block, in chunks of individuals."""
        chunk = max(1, CHUNK_ELEMENTS // block.work_per_individual)
        if theta.shape[0] > chunk:
            return Prediction.concatenate([self._evaluate_block(theta[k : k + chunk], block)
                                           for k in range(0, len(theta), chunk)])
        total: Prediction | None = None
        for form, sl, tab in zip(self.forms, self._slices, block.form_tables, strict=True):
            pred = form.evaluate(theta[:, sl], tab)
            if total is None:
                total = pred
            else:
                total += pred
        assert total is not None
        return total

    @property
    def has_parameter_derivatives(self) -> bool:
        return all(f.has_parameter_derivatives for f in self.forms)

    @property
    def auto_analytic_jacobian(self) -> bool:
        """Whether ``[refine] jacobian = "auto"`` uses the analytic Jacobian."""
        return self.has_parameter_derivatives and all(f.auto_analytic_jacobian for f in self.forms)

    def parameter_derivatives(self, theta: np.ndarray, tables: PotentialTables) -> Prediction:
        """d(energy, forces, virial)/d(parameter) at one vector ``theta`` (n_params,), the
        parameter index as batch axis; E0 rows give the species counts of each structure."""
        theta = np.asarray(theta, float)
        parts = [_join_blocks(tables, sl.stop - sl.start,
                              (form.parameter_derivatives(theta[sl], b.form_tables[k])
                               for b in tables.blocks))
                 for k, (form, sl) in enumerate(zip(self.forms, self.form_slices(), strict=True))]
        n_e0, (n_s, n_x) = len(self.species), _set_shape(tables)
        parts.append(Prediction(energy=tables.counts_sk.T.copy(), forces=np.zeros((n_e0, n_x)),
                                virial=np.zeros((n_e0, n_s, 6))))
        return Prediction.concatenate(parts)

    def repair(self, theta: np.ndarray) -> np.ndarray:
        """Project a batch (B, n_params) onto each form's valid region (in place and returned)."""
        for f, sl in self._repairing:
            theta[:, sl] = f.repair(theta[:, sl])
        return theta

    def check(self, values: np.ndarray | None = None) -> list[str]:
        """Problems that would make LAMMPS reject or misbehave with these values."""
        v = self.values if values is None else values
        problems = [f"{n} = {x} is not finite" for n, x in zip(self.names, v, strict=True)
                    if not np.isfinite(x)]
        for f, sl in zip(self.forms, self.form_slices(), strict=True):
            problems += f.check(v[sl])
        return problems

    # --- files -----------------------------------------------------------------------------------
    def to_dict(self) -> dict:
        return {
            "gafit_potential": 1,
            "species": self.species,
            "forms": [f.to_dict(self.values[sl]) for f, sl in
                      zip(self.forms, self.form_slices(), strict=True)],
            "E0": {s: float(v) for s, v in zip(self.species, self.values[self.e0_slice], strict=True)},
            "units": {"energy": "eV", "length": "Å", "E0": "eV/atom"},
        } | ({"provenance": self.provenance} if self.provenance else {})

    @classmethod
    def from_dict(cls, d: dict, where: str = "potential") -> Potential:
        """A potential from :meth:`to_dict`'s layout; errors start with ``where`` (the file)."""

        def number(x: Any, what: str, positive: bool = False) -> float:
            if (isinstance(x, bool) or not isinstance(x, int | float)
                    or not -sys.float_info.max <= x <= sys.float_info.max or (positive and x <= 0)):
                kind = "a positive finite" if positive else "a finite"
                raise GafitInputError(f"{where}: {what} = {x!r}: expected {kind} number")
            return float(x)

        def check(ok: bool, what: str) -> None:
            if not ok:
                raise GafitInputError(f"{where}: {what}")

        try:
            check(isinstance(d, dict), "expected a JSON object with species, forms and E0")
            species = d["species"]
            check(isinstance(species, list) and all(isinstance(s, str) and s for s in species),
                  f"species = {species!r}: expected a list of names")
            check(isinstance(d["forms"], list), "forms must be a list")
            forms, values = [], []
            for k, fd in enumerate(d["forms"]):
                check(isinstance(fd, dict), f"forms[{k}] must be an object")
                check(fd["form"] in available_forms(), f"forms[{k}].form = {fd['form']!r} is "
                      f"unknown; available: {', '.join(available_forms())}")
                cutoff = number(fd["cutoff"], f"forms[{k}].cutoff", positive=True)
                settings = {key: number(v, f"forms[{k}][{key!r}]", positive=True)
                            for key, v in fd.items() if key not in ("form", "cutoff", "parameters")}
                try:
                    form = get_form(fd["form"])(species, cutoff)
                    form.apply_settings(settings)
                except GafitInputError as err:
                    raise GafitInputError(f"{where}: forms[{k}]: {err}") from None
                forms.append(form)
                params = fd["parameters"]
                check(isinstance(params, dict), f"forms[{k}].parameters must be an object")
                params = {**form.legacy_parameters(), **params}
                missing = [n for n in form.parameter_names() if n not in params]
                if missing:
                    raise GafitInputError(f"{where}: missing parameters {missing}")
                for n in params:  # a misspelt name would otherwise be dropped without a word
                    if n not in form.parameter_names():
                        close = difflib.get_close_matches(n, form.parameter_names(), n=1)
                        hint = f" (did you mean {close[0]!r}?)" if close else ""
                        raise GafitInputError(f"{where}: forms[{k}].parameters: {n!r} is not a "
                                              f"parameter of {fd['form']}{hint}")
                values += [number(params[n], n) for n in form.parameter_names()]
            e0 = d.get("E0", {})
            check(isinstance(e0, dict), "E0 must be an object {species: eV/atom}")
            values += [number(e0.get(s, 0.0), f"E0[{s!r}]") for s in species]
            provenance = d.get("provenance", "")
            check(isinstance(provenance, str), "provenance must be a string")
        except KeyError as err:
            raise GafitInputError(f"{where}: missing key {err}") from None
        try:
            return cls(species, forms, np.array(values), provenance,
                       e0_given=all(s in e0 for s in species))
        except GafitInputError as err:
            raise GafitInputError(f"{where}: {err}") from None
