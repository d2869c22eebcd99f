"""Phonons of gafit potentials with phonopy, split by concern:

- :mod:`gafit.phonons.harmonic`: phonopy objects from gafit's forces, frequencies, :class:`PhononBatch`
  (what a fit needs);
- :mod:`gafit.phonons.target`: phonon frequencies (and Grüneisen parameters) as fit targets;
- :mod:`gafit.phonons.symmetry`: lattice type, cubic lattice constant, cell parameters as text;
- :mod:`gafit.phonons.paths`: band paths, phonopy's band structure along them, band.csv;
- :mod:`gafit.phonons.reference`: reference phonons (phonopy data sets, band.yaml, CSV, ...);
- :mod:`gafit.phonons.comparison`: error tables against a reference;
- :mod:`gafit.phonons.plot`: the dispersion plot;
- :mod:`gafit.phonons.report`: what ``gafit phonons`` computes and writes.

The names are importable from ``gafit.phonons`` as well; the report and the plot load on first use, so a
fit (which imports the harmonic part and the targets) never loads them.
"""

from __future__ import annotations

import importlib
from typing import Any

from gafit.crystals import read_structure
from gafit.phonons.comparison import ErrorRow, ErrorTable, compare, distinct_points, same_point
from gafit.phonons.harmonic import (
    DISPLACEMENT,
    PhononBatch,
    displaced_supercells,
    eigen_frequencies,
    frequencies_at,
    make_phonopy,
    new_phonopy,
    phonon_forces,
    produce_force_constants,
    supercell_matrix,
    to_ase_atoms,
    to_phonopy_atoms,
)
from gafit.phonons.paths import (
    AUTO_PATHS,
    NPOINTS,
    POINTS,
    SAME,
    Band,
    BandPath,
    band_path,
    canonical_label,
    file_label,
    parse_path,
    run_band,
    write_band_csv,
)
from gafit.phonons.reference import (
    PhononReference,
    load_reference,
    q_transform,
    reference_cells,
    reference_supercell,
)
from gafit.phonons.symmetry import cell_text, cubic_lattice_constant, lattice_type

__all__ = [
    "AUTO_PATHS",
    "DISPLACEMENT",
    "NPOINTS",
    "POINTS",
    "SAME",
    "Band",
    "BandPath",
    "ErrorRow",
    "ErrorTable",
    "PhononBatch",
    "PhononReference",
    "PhononResult",
    "band_path",
    "canonical_label",
    "cell_text",
    "compare",
    "cubic_lattice_constant",
    "displaced_supercells",
    "distinct_points",
    "eigen_frequencies",
    "file_label",
    "frequencies_at",
    "lattice_type",
    "load_reference",
    "make_phonopy",
    "new_phonopy",
    "parse_path",
    "phonon_forces",
    "phonon_report",
    "plot_band",
    "produce_force_constants",
    "q_transform",
    "read_structure",
    "reference_cells",
    "reference_supercell",
    "run_band",
    "same_point",
    "supercell_matrix",
    "to_ase_atoms",
    "to_phonopy_atoms",
    "write_band_csv",
]

#: names of the modules loaded on first use (gafit.phonons.report imports the plot)
_LAZY = {"PhononResult": "report", "phonon_report": "report", "_check_same_crystal": "report",
         "plot_band": "plot"}


def __getattr__(name: str) -> Any:
    """The names of the report and the plot, imported on first use (PEP 562)."""
    if name in _LAZY:
        return getattr(importlib.import_module(f"gafit.phonons.{_LAZY[name]}"), name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
