"""A KIM API portable model (through kimpy) timed per evaluation of a whole reference set, the way a
fitter drives it (KLIFF does the same): the neighbour lists and periodic padding of every structure
are built once; each evaluation sets the model's parameters, refreshes it and computes energy,
forces (and the virial where the structure has a stress) of every structure.

Needs the KIM API with the model installed (Debian: ``libkim-api-dev openkim-models``) and
``kimpy`` importable; :func:`missing` says which is absent.
"""

from __future__ import annotations

import importlib.util
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from gafit.structures import Structure


def missing(model: str) -> str | None:
    """Why ``model`` cannot be timed here (no kimpy, or no such model installed), or None."""
    if importlib.util.find_spec("kimpy") is None:
        return "kimpy is not importable (pip install kimpy, with libkim-api-dev installed)"
    try:
        _create(model)
    except RuntimeError as exc:
        return f"KIM model {model} is not installed ({exc})"
    return None


def _create(model: str) -> Any:
    import kimpy

    try:
        accepted, handle = kimpy.model.create(
            kimpy.numbering.zeroBased, kimpy.length_unit.A, kimpy.energy_unit.eV,
            kimpy.charge_unit.e, kimpy.temperature_unit.K, kimpy.time_unit.ps, model)
    except RuntimeError as exc:
        raise RuntimeError(str(exc).strip().splitlines()[0]) from None
    if not accepted:
        raise RuntimeError(f"{model} does not accept Å, eV")
    return handle


def parameters(handle: Any) -> dict[str, list[float]]:
    """The model's published (mutable) double parameters: name -> values."""
    import kimpy

    out: dict[str, list[float]] = {}
    for k in range(handle.get_number_of_parameters()):
        dtype, extent, name, _ = handle.get_parameter_metadata(k)
        if str(dtype) == str(kimpy.data_type.Double):
            out[name] = [handle.get_parameter_double(k, j) for j in range(extent)]
    return out


@dataclass
class _Config:
    args: Any
    neigh: Any
    forces: np.ndarray
    energy: np.ndarray
    virial: np.ndarray | None
    n_atoms: int
    image: np.ndarray  # original atom of every atom and padding atom
    keep: list[np.ndarray]  # the other arrays KIM points to (alive as long as the config)


class KimSet:
    """One KIM model and the compute arguments of every structure of a set (built once)."""

    def __init__(self, model: str, structures: Sequence[Structure],
                 values: dict[str, Sequence[float]] | None = None, reach: float = 1.05) -> None:
        """``values``: parameters set before the neighbour lists are built (a cutoff among them
        sets their reach). ``reach``: the lists and padding reach this many times the model's
        cutoffs, so that parameters that move a cutoff (Tersoff's R, D) by a few % still find
        every neighbour (the KIM API refuses a list shorter than the model's cutoff)."""
        import kimpy

        self.model = model
        self.handle = _create(model)
        self.index = {self.handle.get_parameter_metadata(k)[2]: k
                      for k in range(self.handle.get_number_of_parameters())}
        if values:
            self.set_parameters(values)
        influence = reach * self.handle.get_influence_distance()
        cutoffs, hints = self.handle.get_neighbor_list_cutoffs_and_hints()
        cutoffs = reach * np.asarray(cutoffs, dtype=np.double)
        # a model that may ask for the neighbours of padding atoms (hint 0) gets them too
        padding_neighbours = not all(hints)
        self.configs = [self._config(s, influence, cutoffs, padding_neighbours, kimpy)
                        for s in structures]

    def _config(self, s: Structure, influence: float, cutoffs: np.ndarray,
                padding_neighbours: bool, kimpy: Any) -> _Config:
        atoms = s.atoms
        n = len(atoms)
        codes = np.array([self.handle.get_species_support_and_code(
            kimpy.species_name.SpeciesName(sym))[1] for sym in atoms.get_chemical_symbols()],
            dtype=np.intc)
        coords = np.asarray(atoms.positions, dtype=np.double)
        pbc = np.asarray(atoms.pbc, dtype=np.intc)
        cell = np.asarray(atoms.cell.array, dtype=np.double)
        pad_coords, pad_codes, pad_image = kimpy.neighlist.create_paddings(
            influence, cell, pbc, coords, codes)
        all_coords = np.ascontiguousarray(np.concatenate([coords, pad_coords.reshape(-1, 3)]))
        all_codes = np.concatenate([codes, pad_codes]).astype(np.intc)
        contributing = np.concatenate([np.ones(n, np.intc), np.zeros(len(pad_codes), np.intc)])
        need = np.concatenate([np.ones(n, np.intc),
                               np.full(len(pad_codes), int(padding_neighbours), np.intc)])
        neigh = kimpy.neighlist.NeighList()
        neigh.build(all_coords, influence, cutoffs, need)
        args = self.handle.compute_arguments_create()
        total = len(all_codes)
        forces = np.zeros((total, 3))
        energy = np.zeros(1)
        name = kimpy.compute_argument_name
        keep = [np.array([total], dtype=np.intc), all_codes, contributing, all_coords]
        args.set_argument_pointer(name.numberOfParticles, keep[0])
        args.set_argument_pointer(name.particleSpeciesCodes, keep[1])
        args.set_argument_pointer(name.particleContributing, keep[2])
        args.set_argument_pointer(name.coordinates, keep[3])
        args.set_argument_pointer(name.partialEnergy, energy)
        args.set_argument_pointer(name.partialForces, forces)
        virial = None
        if s.stress is not None:
            virial = np.zeros(6)
            args.set_argument_pointer(name.partialVirial, virial)
        args.set_callback_pointer(kimpy.compute_callback_name.GetNeighborList,
                                  kimpy.neighlist.get_neigh_kim(), neigh)
        return _Config(args, neigh, forces, energy, virial, n,
                       np.concatenate([np.arange(n), np.asarray(pad_image)]), keep)

    def set_parameters(self, values: dict[str, Sequence[float]]) -> None:
        """Set published parameters (name -> values) and refresh the model."""
        for name, vals in values.items():
            for j, v in enumerate(vals):
                self.handle.set_parameter(self.index[name], j, float(v))
        self.handle.clear_then_refresh()

    def compute(self) -> None:
        """Energy, forces (and virials) of every structure at the current parameters."""
        for c in self.configs:
            self.handle.compute(c.args)

    def results(self) -> tuple[np.ndarray, np.ndarray]:
        """Energies (S,) and forces (3N,) of the last :meth:`compute`, padding forces folded back
        onto their atoms."""
        energies, forces = [], []
        for c in self.configs:
            f = np.zeros((c.n_atoms, 3))
            np.add.at(f, c.image, c.forces)
            energies.append(float(c.energy[0]))
            forces.append(f.ravel())
        return np.array(energies), np.concatenate(forces)

    def evaluation(self, vectors: Sequence[dict[str, Sequence[float]]]) -> Callable[[], None]:
        """A call that evaluates the set once per parameter vector of ``vectors`` (each: set the
        parameters, refresh, compute every structure)."""
        def run() -> None:
            for values in vectors:
                self.set_parameters(values)
                self.compute()
        return run
