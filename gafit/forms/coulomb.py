"""Coulomb interaction of per-species point charges, exactly as LAMMPS's ``coul/long`` + ``ewald``.

One parameter per species, its charge ``X.q`` (e). The energy, forces and virial are quadratic
forms in the charges (tables of :class:`gafit.coulomb.CoulombTable`, built once per structure), so
charges are fitted at almost no cost. Exported as::

    pair_style coul/long RC   (or the Coulomb part of buck/coul/long RC_BUCK RC)
    pair_modify table 0
    kspace_style ewald 1e-12
    kspace_modify gewald G
    set type N charge q

with the splitting parameter G pinned by the cutoff (:func:`gafit.coulomb.choose_g_ewald`), not by
the charges as LAMMPS would choose it, unless the form has a fixed ``fixed_g_ewald`` (a pair.lmp
written by hand with another ``gewald``), which is then used, saved and written instead.
LAMMPS needs ``atom_style charge`` and cells periodic in 3D.

Neutrality: a fit may let one species' charge follow from the others (``neutral``), through the
formula unit of the training data: ``q_X = -Σ_a ratio_a q_a`` with ratio_a = n_a / n_X.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import numpy as np

from gafit.coulomb import CoulombTable, choose_g_ewald
from gafit.forms.base import Form, ParamSpec, Prediction, number
from gafit.structures import GafitInputError, ReferenceSet

#: real-space truncation erfc(g rc) ≈ exp(-g² rc²) that fixes g from the cutoff
EWALD_PRECISION = 1e-12
#: the kspace accuracy written to LAMMPS (its k set is then converged, see gafit/coulomb.py)
KSPACE_ACCURACY = "1e-12"


class Coulomb(Form):
    """Ewald Coulomb energy of per-species charges (LAMMPS coul/long, table 0, pinned gewald)."""

    name = "coulomb"
    lammps_style = "coul/long"
    #: LAMMPS's real-space force is not the gradient of its polynomial erfc energy: net forces
    #: differ from -dE/dx by up to ~1e-5 of the largest force (tests/forms/test_coulomb.py)
    gradient_tolerance = 1e-4
    params = (ParamSpec("q", "e", (-4.0, 4.0), 0.0, "charge of the species"),)

    def __init__(self, species: list[str], cutoff: float) -> None:
        super().__init__(species, cutoff)
        self.neutral: str | None = None  # the species whose charge makes every structure neutral
        self.neutral_ratio: dict[str, float] = {}  # q_neutral = -Σ ratio[a] q_a
        self.fixed_g_ewald: float | None = None  # a given splitting parameter (1/Å) overriding g_ewald

    @property
    def g_ewald(self) -> float:
        """Ewald splitting parameter (1/Å): ``fixed_g_ewald`` when set, else fixed by the cutoff."""
        if self.fixed_g_ewald is not None:
            return self.fixed_g_ewald
        return choose_g_ewald(self.cutoff, EWALD_PRECISION)

    def settings(self) -> dict[str, float]:
        """Form settings beyond the cutoff that :meth:`to_dict` saves: a fixed ``g_ewald``."""
        return {} if self.fixed_g_ewald is None else {"g_ewald": self.fixed_g_ewald}

    def apply_settings(self, settings: dict[str, float]) -> None:
        """Set what :meth:`settings` returns (``g_ewald``, 1/Å, positive)."""
        super().apply_settings({k: v for k, v in settings.items() if k != "g_ewald"})
        g = settings.get("g_ewald")
        self.fixed_g_ewald = None if g is None else float(g)

    @classmethod
    def example(cls, species: list[str]) -> tuple[Coulomb, np.ndarray]:
        """Charges +1 e and, for the last species, -(number of species - 1) e, which that species
        follows (``neutral``) so that cells with equal numbers of each species stay neutral; a 5 Å
        cutoff."""
        form = cls(list(species), 5.0)
        form.neutral = species[-1]
        form.neutral_ratio = {s: 1.0 for s in species[:-1]}
        return form, np.array([1.0] * (len(species) - 1) + [1.0 - len(species)])

    # --- parameters ---------------------------------------------------------------------------
    def entries(self) -> list[tuple[str, ...]]:
        return [(s,) for s in self.species]

    def canonical_entry(self, entry: tuple[str, ...]) -> tuple[str, ...]:
        if len(entry) != 1:
            raise ValueError("a coulomb charge belongs to one species, e.g. 'O.q'")
        return entry

    def set_neutral(self, species: str, counts_sa: np.ndarray, names: Sequence[str],
                    charged: Sequence[bool]) -> None:
        """Let ``species``' charge follow from the others so that every structure (atoms of each
        species ``counts_sa``, named ``names``) is neutral; ``charged``: species whose charge may be
        non-zero. Refuses, naming a structure, when no single formula unit serves them all."""
        x = self.species.index(species)
        if not len(counts_sa):
            raise GafitInputError(f"charges: '{species}' = \"neutral\" needs training structures")
        for s, n_a in enumerate(counts_sa):
            if n_a[x] == 0:
                raise GafitInputError(f"charges: structure '{names[s]}' has no {species} atom to "
                                      f"neutralise it")
        ratio_sa = counts_sa / counts_sa[:, x : x + 1]
        for a, sym in enumerate(self.species):
            if a == x or not charged[a]:
                continue
            bad = np.flatnonzero(np.abs(ratio_sa[:, a] - ratio_sa[0, a]) > 1e-12 * ratio_sa[0, a])
            if bad.size:
                s = bad[0]
                raise GafitInputError(
                    f"charges: structure '{names[s]}' ({sym}:{species} = "
                    f"{counts_sa[s, a]:g}:{counts_sa[s, x]:g}) cannot be neutral with the same "
                    f"charges as '{names[0]}' ({counts_sa[0, a]:g}:{counts_sa[0, x]:g})")
        self.neutral = species
        self.neutral_ratio = {sym: float(ratio_sa[0, a]) for a, sym in enumerate(self.species)
                              if a != x and charged[a]}

    def derived_parameters(self) -> dict[str, dict[str, float]]:
        """{name: {source: coefficient}}: parameters that are linear combinations of others."""
        if self.neutral is None:
            return {}
        return {f"{self.neutral}.q": {f"{a}.q": -r for a, r in self.neutral_ratio.items()}}

    # --- evaluation ---------------------------------------------------------------------------
    def build_tables(self, refset: ReferenceSet) -> CoulombTable:
        return CoulombTable.build(refset, self.species, self.cutoff, self.g_ewald)

    def evaluate(self, theta: np.ndarray, tables: CoulombTable) -> Prediction:
        return tables.evaluate(theta)

    def parameter_derivatives(self, theta: np.ndarray, tables: CoulombTable) -> Prediction:
        """d/dq_c of the quadratic forms: Σ_e (δ_a(e)c q_b(e) + δ_b(e)c q_a(e)) T_e."""
        q = np.asarray(theta, float)
        ea, eb = tables.entry_a, tables.entry_b
        ns = len(self.species)
        d_ce = np.zeros((ns, len(ea)))
        np.add.at(d_ce, (ea, np.arange(len(ea))), q[eb])
        np.add.at(d_ce, (eb, np.arange(len(ea))), q[ea])
        fw = d_ce @ tables.deriv_xe.T
        n3 = 3 * tables.n_atoms
        return Prediction(energy=d_ce @ tables.energy_se.T, forces=fw[:, :n3],
                          virial=fw[:, n3:].reshape(ns, tables.n_structures, 6))

    # --- LAMMPS ------------------------------------------------------------------------------
    def lammps_lines(
        self, values: np.ndarray, outdir: Path | None = None, header: str = ""
    ) -> list[str]:
        """``pair_style coul/long RC`` and ``pair_coeff * *``; :meth:`kspace_lines` holds the rest."""
        return [f"pair_style {self.lammps_style} {number(self.cutoff)}", "pair_coeff * *"]

    def kspace_lines(self, values: np.ndarray) -> list[str]:
        """The lines after the pair lines: no table, converged Ewald, pinned g, the charges."""
        return ["pair_modify table 0", f"kspace_style ewald {KSPACE_ACCURACY}",
                f"kspace_modify gewald {number(self.g_ewald)}"] + [
            f"set type {k + 1} charge {number(q)}" for k, q in enumerate(values)]
