"""JSON that strict parsers accept: NaN and infinities (which ``json.dumps`` writes as the
non-standard ``NaN``/``Infinity``) become ``null``, which gafit's files use for "no value"; and a reader
that refuses absurdly nested text before the C parser sees it."""

from __future__ import annotations

import json
import math
import re
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


#: deepest nesting of arrays and objects accepted by :func:`loads` (gafit's files use about 5)
MAX_DEPTH = 200
_STRING = re.compile(r'"(?:[^"\\]|\\.)*"')
_BRACKET = re.compile(r"[\[\]{}]")


def nesting_depth(text: str) -> int:
    """The deepest nesting of ``[`` and ``{`` in JSON text (brackets inside strings not counted)."""
    depth = deepest = 0
    for c in _BRACKET.findall(_STRING.sub("", text)):
        depth += 1 if c in "[{" else -1
        deepest = max(deepest, depth)
    return deepest


def loads(text: str | bytes) -> Any:
    """``json.loads``, refusing text nested deeper than :data:`MAX_DEPTH` with a ValueError.

    The C parser recurses once per level and relies on Python's recursion limit to stop; a library
    that raises that limit (symfc, which phonopy imports, sets 100000) turns deeply nested input
    into a segmentation fault instead of a RecursionError."""
    if isinstance(text, bytes):
        text = text.decode("utf-8")
    if text.count("[") + text.count("{") > MAX_DEPTH and nesting_depth(text) > MAX_DEPTH:
        raise ValueError(f"nested more than {MAX_DEPTH} levels deep")
    return json.loads(text)
