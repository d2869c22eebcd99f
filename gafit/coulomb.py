"""Coulomb energy, forces and virial of fixed structures as quadratic forms in per-species charges.

Reproduces what LAMMPS (``units metal``) computes with::

    atom_style charge
    pair_style coul/long RC          # or the Coulomb part of buck/coul/long RC_BUCK RC
    pair_coeff * *
    pair_modify table 0              # no interpolation table: the erfc polynomial at every pair
    kspace_style ewald 1e-12
    kspace_modify gewald G           # the splitting parameter pinned (else LAMMPS derives it from Σq²)
    set type N charge q_N

* Real space: every pair closer than RC (strictly) contributes ``qqr2e q_i q_j erfc(g r) / r`` with
  LAMMPS's erfc, the Abramowitz–Stegun 7.1.26 polynomial (error up to 1.4e-7), and LAMMPS's force
  ``qqr2e q_i q_j (erfc(g r) + 1.12837917 g r exp(-g² r²)) / r²``. That force is the derivative of
  the *exact* erfc, not of the polynomial (whose slope is off by up to 1.6e-6): LAMMPS's forces
  and virial are the gradient of its energy only to ~1e-6 of the pair forces (7e-6 of the net
  forces measured in a rattled two-atom MgO cell), and so are these (``lammps_force=False`` gives
  the exact derivative of the polynomial energy instead, for gradient checks).
* Reciprocal space: the Ewald sum over every k ≠ 0 of the reciprocal lattice with
  ``exp(-k²/4g²) ≥ k_tolerance`` (default 1e-20: converged in double precision, a superset of the
  k-vectors ``kspace_style ewald 1e-12`` keeps, whose truncation error is ~1e-14 of the energy),
  energy ``qqr2e (2π/V) Σ_k exp(-k²/4g²)/k² |S(k)|²``, the self term ``-qqr2e g/√π Σ q_i²`` and, as
  LAMMPS, the neutralising background ``-qqr2e π (Σ q_i)² / (2 g² V)`` (in the energy only, not the
  virial, again as LAMMPS). Charge vectors that leave a structure non-neutral beyond rounding
  (|Σq| > 1e-9 Σ|q|) are refused: LAMMPS only warns, but its virial then is not the strain
  derivative of its energy.

LAMMPS's own k-vector set at a given ``kspace_style ewald`` accuracy depends on Σq² (its error
estimate), so only a converged sum is a quadratic form in the charges: export with accuracy 1e-12
(whose truncation is below 1e-13 relative, see tests/forms/test_coulomb.py), or pin the k set with
``kspace_modify kmax/ewald``.

For one structure and charges q_a per species, energy, forces and virial are quadratic forms
``Σ_{a≤b} q_a q_b T_ab``: the tables ``T`` (one column per unordered species pair, an *entry*) are
built once, a batch of charge vectors then costs one small matrix product.

Units: Å, e, eV; forces eV/Å; the virial is dE/dε in eV, Voigt order xx yy zz yz xz xy, so the ASE
stress is virial / volume (as :class:`gafit.forms.base.Prediction`).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from functools import cached_property
from typing import ClassVar

import numpy as np

from gafit.forms.base import Prediction
from gafit.geometry import VOIGT, index_atoms, neighbour_pairs, pair_maps
from gafit.structures import GafitInputError, ReferenceSet, Structure

#: e²/(4πε₀) in eV·Å, LAMMPS's ``qqr2e`` for ``units metal``
QQR2E = 14.399645
#: LAMMPS writes 2/√π as this (``EWALD_F`` in pair_coul_long.cpp)
EWALD_F = 1.12837917
#: Abramowitz–Stegun 7.1.26: erfc(x) ≈ t (A1 + t (A2 + t (A3 + t (A4 + t A5)))) exp(-x²),
#: t = 1 / (1 + P x)
EWALD_P = 0.3275911
A_COEFFS = (0.254829592, -0.284496736, 1.421413741, -1.453152027, 1.061405429)
#: relative net charge above which a structure counts as non-neutral
NEUTRAL_TOLERANCE = 1e-9


def check_neutral(q_bs: np.ndarray, counts_sa: np.ndarray, species: Sequence[str],
                  names: Sequence[str], where: str = "charges") -> None:
    """Raise GafitInputError naming the first structure (atoms of each species ``counts_sa``,
    named ``names``) that a charge vector of ``q_bs`` (B, n_species; e) leaves charged beyond
    :data:`NEUTRAL_TOLERANCE` of its total |charge|."""
    q_bs = np.atleast_2d(q_bs)
    net_bs = q_bs @ counts_sa.T
    bad = np.abs(net_bs) > NEUTRAL_TOLERANCE * (np.abs(q_bs) @ counts_sa.T)
    if bad.any():
        b, s = np.argwhere(bad)[0]
        charges = ", ".join(f"{x}={q:g}" for x, q in zip(species, q_bs[b], strict=True))
        raise GafitInputError(
            f"{where} {charges} leave structure '{names[s]}' with net charge "
            f"{net_bs[b, s]:.6g} e; the Ewald sum needs neutral cells"
        )


# --------------------------------------------------------------------------- erfc and kernels


def _poly_t(t: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """p(t) = A1 t + A2 t² + ... + A5 t⁵ and dp/dt."""
    p = np.zeros_like(t)
    dp = np.zeros_like(t)
    for a in reversed(A_COEFFS):  # Horner on p(t)/t
        dp = dp * t + p
        p = p * t + a
    # p now holds A1 + A2 t + ... ; multiply by t
    return p * t, p + dp * t


def erfc_polynomial(x: np.ndarray) -> np.ndarray:
    """LAMMPS's erfc(x) for x ≥ 0 (Abramowitz–Stegun 7.1.26, absolute error ≤ 1.5e-7)."""
    t = 1.0 / (1.0 + EWALD_P * x)
    return _poly_t(t)[0] * np.exp(-x * x)


def erfc_polynomial_derivative(x: np.ndarray) -> np.ndarray:
    """d/dx of :func:`erfc_polynomial` (exact derivative of the polynomial, not of erfc)."""
    t = 1.0 / (1.0 + EWALD_P * x)
    p, dp_dt = _poly_t(t)
    dt_dx = -EWALD_P * t * t
    return (dp_dt * dt_dx - 2.0 * x * p) * np.exp(-x * x)


def real_space_energy(r_p: np.ndarray, g_ewald: float) -> np.ndarray:
    """Real-space pair energy per unit charge product, eV/e²: qqr2e erfc(g r) / r."""
    return QQR2E * erfc_polynomial(g_ewald * r_p) / r_p


def real_space_dedr(r_p: np.ndarray, g_ewald: float, lammps_force: bool = True) -> np.ndarray:
    """d(pair energy)/dr per unit charge product, eV/(Å e²). With ``lammps_force`` LAMMPS's
    expression (exact erfc' with its 2/√π constant); else the derivative of the polynomial energy."""
    x = g_ewald * r_p
    erfc = erfc_polynomial(x)
    if lammps_force:
        return -QQR2E * (erfc + EWALD_F * x * np.exp(-x * x)) / (r_p * r_p)
    return QQR2E * (g_ewald * erfc_polynomial_derivative(x) * r_p - erfc) / (r_p * r_p)


def choose_g_ewald(cutoff: float, precision: float = 1e-12) -> float:
    """Splitting parameter g (1/Å) for a real-space cutoff (Å): erfc(g rc) ≈ exp(-g² rc²) =
    ``precision``, i.e. g = √(-ln precision) / rc. It depends only on the cutoff, not on the charges
    (LAMMPS's own choice depends on Σq², so gafit pins it with ``kspace_modify gewald``)."""
    if not cutoff > 0 or not 0 < precision < 1:
        raise GafitInputError(f"choose_g_ewald: need cutoff > 0 and 0 < precision < 1, "
                              f"got {cutoff}, {precision}")
    return math.sqrt(-math.log(precision)) / cutoff


# --------------------------------------------------------------------------- reciprocal space


def k_vectors(cell: np.ndarray, g_ewald: float, k_tolerance: float) -> np.ndarray:
    """Half of the reciprocal lattice vectors k ≠ 0 (1/Å, rows) with exp(-k²/4g²) ≥ k_tolerance:
    of each pair ±k the one whose first non-zero Miller index is positive."""
    k_max = 2.0 * g_ewald * math.sqrt(-math.log(k_tolerance))
    recip = 2.0 * math.pi * np.linalg.inv(cell).T  # rows b_i with a_i · b_j = 2π δ_ij
    n_max = [int(k_max * np.linalg.norm(a) / (2.0 * math.pi)) + 1 for a in cell]
    grids = np.meshgrid(*[np.arange(-n, n + 1) for n in n_max], indexing="ij")
    m_kc = np.stack([g.ravel() for g in grids], axis=1)
    first = np.where(m_kc[:, 0] != 0, m_kc[:, 0], np.where(m_kc[:, 1] != 0, m_kc[:, 1], m_kc[:, 2]))
    k_kc = m_kc[first > 0] @ recip
    return k_kc[np.einsum("kc,kc->k", k_kc, k_kc) <= k_max * k_max]


def reciprocal_tables(
    positions: np.ndarray, species_n: np.ndarray, n_species: int, cell: np.ndarray,
    g_ewald: float, k_tolerance: float,
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Reciprocal-space Ewald tables of one structure, by species pair (a, b):
    energy (ns, ns) eV/e², forces (n, 3, ns) eV/(Å e²) on atom i per unit q_i q_b, and
    virial (6, ns, ns) eV/e² (dE/dε). Energy and virial are symmetric in (a, b)."""
    volume = abs(np.linalg.det(cell))
    k_kc = k_vectors(cell, g_ewald, k_tolerance)
    k2_k = np.einsum("kc,kc->k", k_kc, k_kc)
    # sum over the half set: 4π/V instead of 2π/V
    u_k = QQR2E * 4.0 * math.pi / volume * np.exp(-k2_k / (4.0 * g_ewald**2)) / k2_k
    phase_kn = np.exp(1j * (k_kc @ positions.T))
    onehot_na = np.eye(n_species)[species_n]
    s_ka = phase_kn @ onehot_na  # structure factor of each species
    pair_kab = np.real(s_ka[:, :, None] * np.conj(s_ka[:, None, :]))
    energy_ab = np.einsum("k,kab->ab", u_k, pair_kab)
    # dE/dε_ab = -E_k (δ_ab - 2 k_a k_b (1/k² + 1/4g²))
    h_k = 2.0 * (1.0 / k2_k + 0.25 / g_ewald**2)
    vg_kv = np.stack([(a == b) - h_k * k_kc[:, a] * k_kc[:, b] for a, b in VOIGT], axis=1)
    virial_vab = -np.einsum("k,kv,kab->vab", u_k, vg_kv, pair_kab)
    # F_i = 2 q_i Σ_half u_k k Im(e^{ik·r_i} S*(k))
    im_knb = np.imag(phase_kn[:, :, None] * np.conj(s_ka)[:, None, :])
    force_ncb = 2.0 * np.einsum("k,kc,knb->ncb", u_k, k_kc, im_knb)
    return energy_ab, force_ncb, virial_vab


# --------------------------------------------------------------------------- tables


def _entry_index(n_species: int) -> np.ndarray:
    """(ns, ns) -> entry index of the unordered species pair (a ≤ b, row-major)."""
    idx = np.zeros((n_species, n_species), np.int64)
    e = 0
    for a in range(n_species):
        for b in range(a, n_species):
            idx[a, b] = idx[b, a] = e
            e += 1
    return idx


def _to_entries(sym_ab: np.ndarray, n_species: int) -> np.ndarray:
    """A symmetric (..., ns, ns) form Σ_ab q_a q_b M_ab as coefficients of q_a q_b, a ≤ b."""
    a, b = np.triu_indices(n_species)
    return sym_ab[..., a, b] * np.where(a == b, 1.0, 2.0)


@dataclass
class CoulombTable:
    """Coulomb energies, forces and virials of a reference set, per unordered species pair.

    ``energy_se`` (S, E) eV/e²; ``deriv_xe`` (3N + 6S, E): forces (eV/(Å e²)) then virials
    (eV/e²), so that for charges q the energy of structure s is Σ_e q_a(e) q_b(e) energy_se[s, e].
    """

    species: list[str]
    cutoff: float
    g_ewald: float
    energy_se: np.ndarray
    deriv_xe: np.ndarray
    counts_sa: np.ndarray  # atoms of each species in each structure
    names: list[str]
    n_atoms: int
    n_structures: int

    #: float64 temporaries per individual counted for chunking (FormTables): none, as before the
    #: protocol (the evaluation is a few small matrix products per individual)
    work_per_individual: ClassVar[int] = 0

    @cached_property
    def entry_a(self) -> np.ndarray:
        """First species index a of each table column (species pairs a <= b)."""
        return np.triu_indices(len(self.species))[0]

    @cached_property
    def entry_b(self) -> np.ndarray:
        """Second species index b of each table column (species pairs a <= b)."""
        return np.triu_indices(len(self.species))[1]

    @classmethod
    def build(
        cls, structures: ReferenceSet | Sequence[Structure], species: Sequence[str], cutoff: float,
        g_ewald: float, k_tolerance: float = 1e-20, lammps_force: bool = True,
    ) -> CoulombTable:
        """Tables for ``structures`` (all periodic in 3D) with real-space ``cutoff`` (Å), splitting
        parameter ``g_ewald`` (1/Å) and reciprocal terms down to exp(-k²/4g²) = ``k_tolerance``."""
        refset = structures if isinstance(structures, ReferenceSet) else ReferenceSet(list(structures))
        species = list(species)
        ns = len(species)
        if not cutoff > 0 or not g_ewald > 0 or not 0 < k_tolerance < 1:
            raise GafitInputError(f"Coulomb: need cutoff > 0, g_ewald > 0 and 0 < k_tolerance < 1, "
                                  f"got {cutoff}, {g_ewald}, {k_tolerance}")
        for st in refset:
            if not np.all(st.atoms.pbc):
                raise GafitInputError(f"structure '{st.name}': Ewald sums need a cell periodic in "
                                      "all three directions")
        idx = index_atoms(refset, species)
        n_atoms, n_s = idx.n_atoms, idx.n_structures
        entry = _entry_index(ns)
        n_e = ns * (ns + 1) // 2

        # real space: per-pair energies and dE/dr through gafit's pair maps, one column per entry
        pairs = neighbour_pairs(refset, cutoff, half=True, what="Coulomb cutoff")
        ent_p = entry[idx.species_n[pairs.i_p], idx.species_n[pairs.j_p]]
        onehot_pe = np.eye(n_e)[ent_p]
        energy_sp, deriv_xp = pair_maps(pairs, n_atoms, n_s)
        energy_se = energy_sp @ (real_space_energy(pairs.r_p, g_ewald)[:, None] * onehot_pe)
        deriv_xe = deriv_xp @ (real_space_dedr(pairs.r_p, g_ewald, lammps_force)[:, None] * onehot_pe)

        counts_sa = np.zeros((n_s, ns))
        np.add.at(counts_sa, (idx.struct_n, idx.species_n), 1.0)
        for s, st in enumerate(refset):
            cell = np.asarray(st.atoms.cell.array, float)
            lo = idx.offset_s[s]
            spec_n = idx.species_n[lo : lo + st.n_atoms]
            e_ab, f_ncb, w_vab = reciprocal_tables(st.atoms.positions, spec_n, ns, cell, g_ewald,
                                                   k_tolerance)
            volume = abs(np.linalg.det(cell))
            n_a = counts_sa[s]
            e_ab = e_ab - QQR2E * (g_ewald / math.sqrt(math.pi) * np.diag(n_a)
                                   + math.pi / (2.0 * g_ewald**2 * volume) * np.outer(n_a, n_a))
            energy_se[s] += _to_entries(e_ab, ns)
            rows = 3 * n_atoms + 6 * s
            deriv_xe[rows : rows + 6] += _to_entries(w_vab, ns)
            # force on atom i (species a) per unit q_a q_b goes to entry (a, b)
            f_xe = np.zeros((3 * st.n_atoms, n_e))
            cols_nb = entry[spec_n]  # (n, ns): entry of (species of i, b)
            for c in range(3):
                np.add.at(f_xe, (3 * np.arange(st.n_atoms)[:, None] + c, cols_nb), f_ncb[:, c, :])
            deriv_xe[3 * lo : 3 * (lo + st.n_atoms)] += f_xe
        return cls(species=species, cutoff=float(cutoff), g_ewald=float(g_ewald),
                   energy_se=energy_se, deriv_xe=np.ascontiguousarray(deriv_xe),
                   counts_sa=counts_sa, names=[st.name for st in refset],
                   n_atoms=n_atoms, n_structures=n_s)

    def check_neutral(self, q_bs: np.ndarray) -> None:
        """Raise GafitInputError naming the first structure a charge vector leaves charged."""
        check_neutral(q_bs, self.counts_sa, self.species, self.names)

    def evaluate(self, q_bs: np.ndarray) -> Prediction:
        """Energies (B, S) eV, forces (B, 3N) eV/Å and virials (B, S, 6) eV for charges
        ``q_bs`` (B, n_species) in e, one row per individual."""
        q_bs = np.atleast_2d(np.asarray(q_bs, float))
        if q_bs.shape[1] != len(self.species):
            raise GafitInputError(f"Coulomb: {q_bs.shape[1]} charges given for species "
                                  f"{self.species}")
        self.check_neutral(q_bs)
        qq_be = q_bs[:, self.entry_a] * q_bs[:, self.entry_b]
        fw_bx = qq_be @ self.deriv_xe.T
        n3 = 3 * self.n_atoms
        return Prediction(energy=qq_be @ self.energy_se.T, forces=fw_bx[:, :n3],
                          virial=fw_bx[:, n3:].reshape(len(q_bs), self.n_structures, 6))
