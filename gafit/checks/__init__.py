"""Sanity checks of reference data before a fit: findings a user should know about, one line each.

Units: Å, eV, eV/Å, stress eV/Å³ (ASE convention, positive = tensile). Each :class:`Finding` is a
``warning`` (probably a mistake that will spoil a fit) or ``info`` (legal, but worth knowing), with the
indices of the structures concerned. The checks:

- ``zero-forces`` / ``zero-stress``: targets that are exactly zero where symmetry does not require it
  (missing values stored as zeros are fitted as zeros);
- ``small-cells``: periodic widths below 2 × cutoff (atoms see their own images: legal);
- ``duplicates``: the same species, cell and positions (atom by atom, no permutation) more than once;
- ``energy-scale``: energies per atom on different scales (different codes, functionals or reference
  energies): robust outliers of a per-species linear model E ≈ Σ n_k e_k, and groups (files,
  config_types) whose lowest energies per atom lie more than 0.5 eV/atom apart;
- ``stress``: stresses whose sign or unit disagrees with the energy differences between homogeneously
  strained structures (ΔE ≈ ½ (V₁σ₁ + V₂σ₂) : Δε − ½ Σ (F₁ + F₂)·Δu);
- ``undetermined``: species in no structure, species pairs (Tersoff: triplets) never within the cutoff,
  energies that E0 alone can fit exactly, fewer targets than parameters;
- ``walls`` / ``E0`` (with a potential's final values): repulsive walls and E0 offsets against the data.

One module per check (``zero``, ``cells``, ``duplicates``, ``energies``, ``stress``, ``determined``,
``walls``, ``e0``, ``summary``); ``entry`` runs them all, ``inputs`` reads what ``gafit check`` checks,
``_text`` words the counts.
"""

from __future__ import annotations

from gafit.checks.duplicates import DUPLICATE_TOL, duplicate_groups
from gafit.checks.energies import ENERGY_GAP
from gafit.checks.entry import DEFAULT_CUTOFF, check_cutoff, check_data, format_findings
from gafit.checks.finding import Finding
from gafit.checks.zero import ZERO

__all__ = ["Finding", "check_cutoff", "check_data", "duplicate_groups", "format_findings",
           "DEFAULT_CUTOFF", "DUPLICATE_TOL", "ENERGY_GAP", "ZERO"]
