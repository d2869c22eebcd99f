"""An HTML report of a fit: ``RUN_DIR/report/index.html`` with its PNG plots beside it.

The page is self-contained (inline CSS, no JavaScript, no network resources; images referenced
relatively), so the ``report`` folder can be zipped and sent. It reads what ``gafit fit`` wrote into
the run folder (``summary.json``, ``potential.json``, ``log.csv``, ``parameters.csv``,
``lammps/``) and recomputes the predictions of ``potential.json`` (with its fitted E0) on the
training and validation data of the fit's config (the same split as the fit, :func:`gafit.fit.read_data`).
Anything it cannot find or compute (the config, the data, a phonon reference) is said in the page
instead of failing.

Units: energy per atom in eV/atom, forces in eV/Å, stress in GPa (positive = tensile), phonon
frequencies in THz.
"""

# names other modules and the tests use, kept importable from gafit.report
from gafit.report.html import CSS, Note
from gafit.report.html import _esc as _esc
from gafit.report.html import _table as _table
from gafit.report.page import (
           PNG_PATTERNS,
           REPORT_DIR,
           find_config,
           phonon_equilibrium_structures,
           write_report,
)
from gafit.report.page import _constraint_notes as _constraint_notes
from gafit.report.page import _imaginary_notes as _imaginary_notes
from gafit.report.page import _wall_notes as _wall_notes
from gafit.report.plots import parity_points

__all__ = ["CSS", "PNG_PATTERNS", "REPORT_DIR", "Note", "find_config", "parity_points",
           "phonon_equilibrium_structures", "write_report"]
