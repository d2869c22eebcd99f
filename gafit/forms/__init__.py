"""Analytic forms. Built-in and third-party forms register through the ``gafit.forms`` entry points."""

from __future__ import annotations

from importlib.metadata import entry_points

from gafit.forms.base import Form, ParamSpec, Prediction
from gafit.structures import GafitInputError

__all__ = ["Form", "ParamSpec", "Prediction", "get_form", "available_forms"]


def _registry() -> dict[str, object]:
    found = {ep.name: ep for ep in entry_points(group="gafit.forms")}
    builtin = ("morse", "buckingham", "tersoff", "coulomb", "zbl")
    if any(name not in found for name in builtin):  # a source tree that was never (re)installed
        from gafit.forms.buckingham import Buckingham
        from gafit.forms.coulomb import Coulomb
        from gafit.forms.morse import Morse
        from gafit.forms.tersoff import Tersoff
        from gafit.forms.zbl import ZBL

        return {"morse": Morse, "buckingham": Buckingham, "tersoff": Tersoff,
                "coulomb": Coulomb, "zbl": ZBL, **found}
    return found


def available_forms() -> list[str]:
    return sorted(_registry())


def get_form(name: str) -> type[Form]:
    """The form class registered under ``name``."""
    reg = _registry()
    if name not in reg:
        raise GafitInputError(f"unknown form '{name}'; available: {', '.join(sorted(reg))}")
    obj = reg[name]
    return obj.load() if hasattr(obj, "load") else obj  # type: ignore[return-value]
