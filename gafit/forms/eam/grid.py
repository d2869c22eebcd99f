"""The tables of a batch of EAM potentials on one r grid (:class:`EAMGrid`): what a form's
``grid()`` gives and both evaluation paths (the sparse maps and the fused kernel) read."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np


@dataclass
class EAMGrid:
    """Tabulated functions of B potentials on one r grid (the numbers of a setfl/fs file).

    ``rhor_bsdr[b, s, d]`` is the density at an atom of species d due to a neighbour of species s;
    ``z2r_bstr`` is r phi(r) in eV Å, symmetric in its species; ``frho_ber`` F(rho) in eV.

    A form may leave ``frho_ber`` None and give ``embedding`` instead, F at densities (B, K) of
    each individual for each species, (B, E, K) eV: the fused kernel then tabulates F on the knots
    k drho its densities need only (:meth:`full` makes the whole table, the same numbers).
    """

    nr: int
    dr: float  # Å
    nrho: int
    drho_b: np.ndarray  # (B,) density spacing of each individual's F table
    frho_ber: np.ndarray | None  # (B, E, nrho)
    rhor_bsdr: np.ndarray  # (B, E, E, nr)
    z2r_bstr: np.ndarray  # (B, E, E, nr)
    embedding: Callable[[np.ndarray], np.ndarray] | None = None

    def full(self) -> EAMGrid:
        """This grid with its whole F table (itself when it has it)."""
        if self.frho_ber is not None:
            return self
        rho_bk = np.arange(self.nrho)[None] * self.drho_b[:, None]
        return EAMGrid(self.nr, self.dr, self.nrho, self.drho_b, self.embedding(rho_bk),
                       self.rhor_bsdr, self.z2r_bstr)
