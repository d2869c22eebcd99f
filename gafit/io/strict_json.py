"""JSON that strict parsers accept: NaN and infinities (which ``json.dumps`` writes as the
non-standard ``NaN``/``Infinity``) become ``null``, which gafit's files use for "no value"."""

from __future__ import annotations

import json
import math
from typing import Any

import numpy as np


def finite_or_none(x: Any) -> Any:
    """``x`` with every float that is NaN or infinite (in dicts, lists, numpy arrays) replaced by
    None, and numpy scalars and arrays turned into plain Python values."""
    if isinstance(x, dict):
        return {k: finite_or_none(v) for k, v in x.items()}
    if isinstance(x, list | tuple):
        return [finite_or_none(v) for v in x]
    if isinstance(x, np.ndarray):
        return finite_or_none(x.tolist())
    if isinstance(x, np.generic):
        x = x.item()
    if isinstance(x, float) and not math.isfinite(x):
        return None
    return x


def dumps(x: Any, **kwargs: Any) -> str:
    """``json.dumps`` of :func:`finite_or_none` of ``x``; never writes NaN or Infinity."""
    return json.dumps(finite_or_none(x), allow_nan=False, **kwargs)
