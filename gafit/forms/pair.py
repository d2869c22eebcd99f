"""Machinery shared by pair forms: one parameter block per unordered species pair, hard cutoff.

A pair form only supplies ``pair_energy(r_p, *params) -> (e_bp, dedr_bp)`` and its LAMMPS style; the
table of pairs, sorted by species pair, and the sparse maps from per-pair derivatives to per-structure
energies, per-atom forces and per-structure virials are built here once.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
import scipy.sparse as sp

from gafit.forms import pair_jacobian, pair_kernel
from gafit.forms.base import Form, Prediction, number
from gafit.geometry import Pairs, index_atoms, neighbour_pairs, pair_maps
from gafit.structures import GafitInputError, ReferenceSet


@dataclass
class PairTable:
    """Half neighbour list sorted by species pair, with linear maps to E, F and virial."""

    r_p: np.ndarray
    i_p: np.ndarray  # int32 (half the memory traffic of int64 in the kernels)
    j_p: np.ndarray
    s_n: np.ndarray  # structure of each atom, int32
    u_cp: np.ndarray  # unit vector from i to j, components (3, P): each a contiguous stream
    start_k: np.ndarray  # pairs start_k[k] to start_k[k + 1] are of entry (species pair) k
    n_structures: int
    _maps: tuple[sp.csr_matrix, sp.csr_matrix] | None = None

    @property
    def n_atoms(self) -> int:
        return len(self.s_n)

    @property
    def slices(self) -> list[slice]:
        """The pairs of each entry (species pair)."""
        return [slice(a, b) for a, b in zip(self.start_k[:-1], self.start_k[1:], strict=True)]

    def maps(self) -> tuple[sp.csr_matrix, sp.csr_matrix]:
        """(S, P) per-pair energy -> structure energy and (3N + 6S, P) per-pair dE/dr -> forces
        and virials; built on first use (only the numpy path needs them)."""
        if self._maps is None:
            i_p, j_p = self.i_p.astype(np.int64), self.j_p.astype(np.int64)
            pairs = Pairs(i_p, j_p, self.s_n[i_p].astype(np.int64),
                          self.u_cp.T * self.r_p[:, None], self.r_p)
            self._maps = pair_maps(pairs, self.n_atoms, self.n_structures)
        return self._maps

    @property
    def work_per_individual(self) -> int:
        """Float64 temporaries per individual (for chunking a batch)."""
        if pair_kernel.available():
            return 3 * self.n_atoms + 7 * self.n_structures
        return 8 * len(self.r_p)


def apply_maps(
    e_pb: np.ndarray, g_pb: np.ndarray, energy_sp: sp.csr_matrix, deriv_xp: sp.csr_matrix,
    n_atoms: int, n_structures: int,
) -> Prediction:
    """Scatter per-pair (or per-term) energies and derivatives, laid out (P, B), into a Prediction."""
    b = e_pb.shape[1]
    energy = energy_sp @ e_pb  # (S, B)
    fw = deriv_xp @ g_pb  # (3N + 6S, B)
    return Prediction(
        energy=energy.T,
        forces=fw[: 3 * n_atoms].T,
        virial=fw[3 * n_atoms :].T.reshape(b, n_structures, 6),
    )


class PairForm(Form):
    """A pair potential with a hard cutoff, one parameter block per unordered species pair.

    ``lammps_style`` must take exactly the parameters of ``params``, in order, after the two atom
    types of ``pair_coeff``, and the cutoff as its one ``pair_style`` argument."""

    def entries(self) -> list[tuple[str, ...]]:
        sp_ = self.species
        return [(sp_[a], sp_[b]) for a in range(len(sp_)) for b in range(a, len(sp_))]

    def canonical_entry(self, entry: tuple[str, ...]) -> tuple[str, ...]:
        if len(entry) != 2:
            raise ValueError(f"a {self.name} parameter belongs to a species pair such as 'A-B'")
        a, b = sorted(entry, key=self.species.index)
        return (a, b)

    def entry_index(self, a: int, b: int) -> int:
        """Entry of species indices a, b (any order)."""
        a, b = min(a, b), max(a, b)
        n = len(self.species)
        return a * n - a * (a - 1) // 2 + (b - a)

    @staticmethod
    def pair_energy(r_p: np.ndarray, *params: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Energy (eV) and dE/dr (eV/Å) of pairs at r_p (Å, shape (P, 1)), parameters of shape (1, B)."""
        raise NotImplementedError

    @staticmethod
    def pair_parameter_derivatives(
        r_p: np.ndarray, *params: float
    ) -> tuple[tuple[np.ndarray, ...], tuple[np.ndarray, ...]]:
        """For each parameter: d(energy)/d(param) and d(dE/dr)/d(param) of pairs at r_p (Å, (P,)),
        with scalar parameters. Forms that provide it get analytic parameter derivatives. Written
        with plain expressions it also runs on a scalar r in the fused Jacobian kernel
        (gafit/forms/pair_jacobian.py); tuples, not lists, spare that kernel an allocation per
        pair."""
        raise NotImplementedError

    @property
    def has_parameter_derivatives(self) -> bool:
        return type(self).pair_parameter_derivatives is not PairForm.pair_parameter_derivatives

    def parameter_derivatives(self, theta: np.ndarray, tables: PairTable) -> Prediction:
        """d(E, F, virial)/d(parameter) at one vector ``theta``: per-pair derivatives of the energy
        and of dE/dr for every parameter, scattered in one pass by the fused kernel
        (gafit/forms/pair_jacobian.py) where numba compiles the form's derivatives, else as
        columns through the same maps as the energy."""
        if not self.has_parameter_derivatives:
            raise NotImplementedError(f"{self.name}: no analytic parameter derivatives")
        n_par = len(self.params)
        blocks = np.asarray(theta, float).reshape(-1, n_par)
        if pair_jacobian.available():
            fused = pair_jacobian.fused_parameter_derivatives(
                type(self).pair_parameter_derivatives, blocks, tables.r_p, tables.i_p,
                tables.j_p, tables.s_n, tables.u_cp, tables.start_k, tables.n_structures)
            if fused is not None:
                energy, forces, virial = fused
                return Prediction(energy=energy, forces=forces, virial=virial)
        return self.parameter_derivatives_numpy(blocks, tables)

    def parameter_derivatives_numpy(self, blocks: np.ndarray, tables: PairTable) -> Prediction:
        """The numpy path of :meth:`parameter_derivatives` for parameter blocks (entries,
        n_params): per-pair arrays (pairs, parameters) and the sparse maps."""
        n_par = len(self.params)
        de_pk = np.zeros((len(tables.r_p), blocks.size))
        dg_pk = np.zeros_like(de_pk)
        for k, sl in enumerate(tables.slices):
            if sl.stop == sl.start:
                continue
            de, dg = self.pair_parameter_derivatives(tables.r_p[sl], *blocks[k])
            for m in range(n_par):
                de_pk[sl, k * n_par + m] = de[m]
                dg_pk[sl, k * n_par + m] = dg[m]
        energy_sp, deriv_xp = tables.maps()
        return apply_maps(de_pk, dg_pk, energy_sp, deriv_xp, tables.n_atoms, tables.n_structures)

    def build_tables(self, refset: ReferenceSet) -> PairTable:
        idx = index_atoms(refset, self.species)
        pairs = neighbour_pairs(refset, self.cutoff, half=True, what=f"{self.name} cutoff")
        ent = np.array(
            [self.entry_index(a, b) for a, b in
             zip(idx.species_n[pairs.i_p], idx.species_n[pairs.j_p], strict=True)],
            dtype=np.int64,
        ) if len(pairs.r_p) else np.zeros(0, np.int64)
        order = np.argsort(ent, kind="stable")
        pairs = pairs.select(order)
        return PairTable(
            r_p=pairs.r_p,
            # int32: check_neighbour_work refuses sets whose tables come anywhere near 2**31 atoms
            i_p=pairs.i_p.astype(np.int32),
            j_p=pairs.j_p.astype(np.int32),
            s_n=idx.struct_n.astype(np.int32),
            u_cp=np.ascontiguousarray((pairs.d_pc / pairs.r_p[:, None]).T),
            start_k=np.searchsorted(ent[order], np.arange(len(self.entries()) + 1)),
            n_structures=idx.n_structures,
        )

    def evaluate(self, theta: np.ndarray, tables: PairTable) -> Prediction:
        b = theta.shape[0]
        n_par = len(self.params)
        if pair_kernel.available():
            params = theta.reshape(b, -1, n_par).transpose(1, 2, 0)
            fused = pair_kernel.fused_pairs(
                type(self).pair_energy, params, tables.r_p, tables.i_p, tables.j_p, tables.s_n,
                tables.u_cp, tables.start_k, tables.n_structures)
            if fused is not None:
                energy, forces, virial = fused
                return Prediction(energy=energy, forces=forces, virial=virial)
        return self.evaluate_numpy(theta, tables)

    def evaluate_numpy(self, theta: np.ndarray, tables: PairTable) -> Prediction:
        """The pure numpy path: per-pair arrays (pairs, batch) and the sparse maps."""
        # pairs along the first axis and the batch along the second: the sparse maps then read
        # contiguous rows
        b = theta.shape[0]
        n_par = len(self.params)
        blocks = theta.reshape(b, -1, n_par)
        if len(tables.slices) == 1:
            args = [blocks[None, :, 0, m] for m in range(n_par)]
            e_pb, g_pb = self.pair_energy(tables.r_p[:, None], *args)
        else:
            e_pb = np.empty((len(tables.r_p), b))
            g_pb = np.empty_like(e_pb)
        for k, sl in enumerate(tables.slices if len(tables.slices) > 1 else ()):
            if sl.stop == sl.start:
                continue
            args = [blocks[None, :, k, m] for m in range(n_par)]
            e_pb[sl], g_pb[sl] = self.pair_energy(tables.r_p[sl, None], *args)
        energy_sp, deriv_xp = tables.maps()
        return apply_maps(e_pb, g_pb, energy_sp, deriv_xp, tables.n_atoms, tables.n_structures)

    # --- LAMMPS ---------------------------------------------------------------------------
    def lammps_lines(
        self, values: np.ndarray, outdir: Path | None = None, header: str = ""
    ) -> list[str]:
        n_par = len(self.params)
        lines = [f"pair_style {self.lammps_style} {number(self.cutoff)}"]
        for k, (a, b) in enumerate(self.entries()):
            ta, tb = self.species.index(a) + 1, self.species.index(b) + 1
            vals = " ".join(number(v) for v in values[k * n_par : (k + 1) * n_par])
            lines.append(f"pair_coeff {ta} {tb} {vals}")
        return lines

    @classmethod
    def from_lammps(
        cls, style_args: list[str], coeffs: list[tuple[int, list[str]]], species: list[str],
        where: str, base: Path | None = None,
    ) -> tuple[Form, dict[str, float]]:
        if len(style_args) != 1:
            raise GafitInputError(
                f"{where}: expected 'pair_style {cls.lammps_style} CUTOFF', got {style_args}"
            )
        form = cls(species, _number(style_args[0], where, "cutoff"))
        n_types = len(species)
        values: dict[str, float] = {}
        n_par = len(cls.params)
        for line, args in coeffs:
            at = f"{where} line {line}"
            if len(args) not in (2 + n_par, 3 + n_par):
                raise GafitInputError(
                    f"{at}: pair_coeff {' '.join(args)}: expected I J "
                    + " ".join(p.name for p in cls.params)
                )
            if len(args) == 3 + n_par and _number(args[-1], at, "cutoff") != form.cutoff:
                raise GafitInputError(f"{at}: per-pair cutoffs are not supported")
            for ti in _types(args[0], n_types, at):
                for tj in _types(args[1], n_types, at):
                    a, b = form.canonical_entry((species[ti], species[tj]))
                    for p, v in zip(cls.params, args[2 : 2 + n_par], strict=True):
                        values[f"{a}-{b}.{p.name}"] = _number(v, at, p.name)
        missing = [n for n in form.parameter_names() if n not in values]
        if missing:
            raise GafitInputError(f"{where}: no pair_coeff for {missing}")
        return form, values


def _number(text: str, where: str, what: str) -> float:
    try:
        return float(text)
    except ValueError:
        raise GafitInputError(f"{where}: {what} '{text}' is not a number") from None


def _types(text: str, n_types: int, where: str) -> range:
    """LAMMPS type ranges: '2', '*', '*3', '2*', '1*2' -> zero-based indices within 1..n_types."""
    lo, star, hi = text.partition("*")
    try:
        a = int(lo) if lo else 1
        b = (int(hi) if hi else n_types) if star else a
    except ValueError:
        raise GafitInputError(f"{where}: atom type '{text}' is not a number or range") from None
    if not 1 <= a <= b <= n_types:
        raise GafitInputError(f"{where}: atom type {text} is outside 1..{n_types}")
    return range(a - 1, b)
