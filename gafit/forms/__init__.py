"""Analytic forms: gafit's built-ins, merged with the forms other packages register in the
``gafit.forms`` entry-point group (``lj96 = "gafit_lj:LennardJones96"``)."""

from __future__ import annotations

from importlib import import_module
from importlib.metadata import entry_points

from gafit.forms.base import Form, FormTables, ParamSpec, Prediction
from gafit.structures import GafitInputError

__all__ = ["Form", "FormTables", "ParamSpec", "Prediction", "available_forms", "form_classes",
           "get_form"]

#: the forms gafit ships (imported on first use); a plug-in cannot replace them
BUILTIN_FORMS = {
    "morse": "gafit.forms.morse:Morse",
    "buckingham": "gafit.forms.buckingham:Buckingham",
    "tersoff": "gafit.forms.tersoff:Tersoff",
    "coulomb": "gafit.forms.coulomb:Coulomb",
    "zbl": "gafit.forms.zbl:ZBL",
    "sw": "gafit.forms.stillinger_weber:StillingerWeber",
    "lj": "gafit.forms.lennard_jones:LennardJones",
    "tersoff_zbl": "gafit.forms.tersoff.zbl:TersoffZBL",
    "eam_zhou": "gafit.forms.eam:Zhou",
    "eam_johnson": "gafit.forms.eam:Johnson",
    "eam_fs": "gafit.forms.eam:FinnisSinclair",
    "eam_spline": "gafit.forms.eam.knots:SplineEAM",
}


def _registry() -> dict[str, str]:
    """{name: "module:Class"}: the entry points of every installed package, then the built-ins."""
    found = {ep.name: ep.value for ep in entry_points(group="gafit.forms")}
    return {**found, **BUILTIN_FORMS}


def available_forms() -> list[str]:
    """Names of every registered form, sorted."""
    return sorted(_registry())


def get_form(name: str) -> type[Form]:
    """The form class registered under ``name``."""
    reg = _registry()
    if name not in reg:
        raise GafitInputError(f"unknown form '{name}'; available: {', '.join(sorted(reg))}")
    module, _, attr = reg[name].partition(":")
    try:
        obj = import_module(module)
        for part in attr.split("."):
            obj = getattr(obj, part)
    except (ImportError, AttributeError) as err:
        raise GafitInputError(f"form '{name}' (entry point {reg[name]}) cannot be loaded: "
                              f"{err}") from None
    if not (isinstance(obj, type) and issubclass(obj, Form)):
        raise GafitInputError(f"form '{name}' (entry point {reg[name]}) is not a gafit Form")
    return obj


def form_classes() -> dict[str, type[Form]]:
    """{name: class} of every registered form."""
    return {name: get_form(name) for name in available_forms()}
