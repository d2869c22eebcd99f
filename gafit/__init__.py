"""gafit: fit classical interatomic potentials to DFT data and export them to LAMMPS.

The public API, imported on first use (``import gafit`` itself loads nothing heavy and leaves the
process environment alone)::

    import gafit
    result = gafit.Fit.from_config("examples/cu_morse.toml").run()
    print(result.rmse)

- :class:`Fit`, :class:`FitResult`: a fit, from a config or from Python objects, and its result;
- :class:`Potential`, :func:`load_potential`, :func:`save_potential`: a potential and its files;
- :func:`read_reference`, :func:`write_reference`: reference data files <-> ReferenceSet;
- :func:`load_config`: a fit's TOML config; :func:`available_forms`: the registered forms;
- :class:`GafitCalculator`: an ASE calculator for a potential;
- :class:`GafitError`, :class:`GafitInputError`: the exceptions gafit raises on purpose.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

from gafit._version import __version__

#: public name -> (module, attribute)
_PUBLIC = {
    "Fit": ("gafit.fitting", "Fit"),
    "FitResult": ("gafit.fit_result", "FitResult"),
    "Potential": ("gafit.potential", "Potential"),
    "load_potential": ("gafit.potential_files", "load_potential"),
    "save_potential": ("gafit.potential_files", "save_potential"),
    "read_reference": ("gafit.io", "read_reference"),
    "write_reference": ("gafit.io", "write_reference"),
    "load_config": ("gafit.config", "load_config"),
    "GafitCalculator": ("gafit.calculator", "GafitCalculator"),
    "available_forms": ("gafit.forms", "available_forms"),
    "GafitError": ("gafit.errors", "GafitError"),
    "GafitInputError": ("gafit.errors", "GafitInputError"),
}

__all__ = ["Fit", "FitResult", "GafitCalculator", "GafitError", "GafitInputError", "Potential",
           "__version__", "available_forms", "load_config", "load_potential", "read_reference",
           "save_potential", "write_reference"]


def __getattr__(name: str) -> Any:
    """The public names, imported when first asked for (PEP 562)."""
    if name in _PUBLIC:
        module, attr = _PUBLIC[name]
        value = getattr(importlib.import_module(module), attr)
        globals()[name] = value
        return value
    raise AttributeError(f"module 'gafit' has no attribute {name!r}")


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(__all__))


if TYPE_CHECKING:
    from gafit.calculator import GafitCalculator
    from gafit.config import load_config
    from gafit.errors import GafitError, GafitInputError
    from gafit.fit_result import FitResult
    from gafit.fitting import Fit
    from gafit.forms import available_forms
    from gafit.io import read_reference, write_reference
    from gafit.potential import Potential
    from gafit.potential_files import load_potential, save_potential
