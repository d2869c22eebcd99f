"""Which numba Tersoff kernel evaluates a batch: the batch-inner kernel
(:func:`gafit.forms.tersoff.kernel.fused_batch`) from :data:`~gafit.forms.tersoff.kernel.BATCH_INNER_MIN`
individuals on (and for every batch of a population, :mod:`gafit.forms.rows`), the single-vector
kernel (:func:`gafit.forms.tersoff.kernel_single.fused_single`) a vector at a time below that."""

from __future__ import annotations

import numpy as np

from gafit.forms.rows import as_population, vector_by_vector
from gafit.forms.tersoff import kernel
from gafit.forms.tersoff.kernel_single import fused_single
from gafit.forms.tersoff.table import TersoffTable


def fused_tersoff(tab: TersoffTable, par: np.ndarray,
                  n_species: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Energies (B, S) eV, forces (B, 3N) eV/Å and virials (B, S, 6) eV on ``tab`` for the
    constants ``par`` (B, entries, N_DERIVED) of :func:`gafit.forms.tersoff.kernel.derived`."""
    n_b, geo, n_structures = par.shape[0], tab.kernel, tab.n_structures
    if n_b >= kernel.BATCH_INNER_MIN or as_population():
        return kernel.fused_batch(geo, par, n_species, n_structures)
    single = tab.single_geometry(n_species)
    return vector_by_vector(
        lambda b: fused_single(geo, single, par[b : b + 1], n_species, n_structures), n_b)
