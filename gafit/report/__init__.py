"""An HTML report of a fit: ``RUN_DIR/report/index.html`` with its PNG plots beside it.

The page is self-contained (inline CSS, no JavaScript, no network resources; images referenced
relatively), so the ``report`` folder can be zipped and sent. It is made from a
:class:`~gafit.fit_result.FitResult`: the fit's own at the end of ``gafit fit`` (whose data and
geometry tables serve the parity plots, nothing tabulated again), or the one
:meth:`~gafit.fit_result.FitResult.load` reads back from the run folder (``gafit report RUN_DIR``),
whose predictions are then recomputed on the training and validation data of the fit's config (the
same split as the fit, :func:`gafit.fit_data.read_data`). ``lammps/`` and ``validate/`` are shown as the
run folder holds them. Anything it cannot find or compute (the config, the data, a phonon reference)
is said in the page instead of failing.

Modules: :mod:`gafit.report.page` (the sections, each a function of the result),
:mod:`gafit.report.plots` (the figures), :mod:`gafit.report.html` (escaping, numbers, tables).

Units: energy per atom in eV/atom, forces in eV/Å, stress in GPa (positive = tensile), phonon
frequencies in THz.
"""

# names other modules and the tests import from gafit.report
from gafit.report.html import CSS, PNG_PATTERNS, REPORT_DIR, Note
from gafit.report.page import _constraint_notes as _constraint_notes
from gafit.report.page import _imaginary_notes as _imaginary_notes
from gafit.report.page import _wall_notes as _wall_notes
from gafit.report.page import (
    find_config,
    phonon_equilibrium_structures,
    write_report,
)
from gafit.report.plots import parity_points

__all__ = ["CSS", "PNG_PATTERNS", "REPORT_DIR", "Note", "find_config", "parity_points",
           "phonon_equilibrium_structures", "write_report"]
