"""Words for findings: counts with the noun and verb agreeing, structure labels, source files."""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence

from gafit.structures import ReferenceSet, Structure


def _source(st: Structure) -> str:
    """The file a structure came from: info['file'] or the part of its name before ':'."""
    if "file" in st.info:
        return str(st.info["file"])
    name, colon, _ = st.name.rpartition(":")
    return name if colon else ""


def _counts(refset: ReferenceSet, idx: Sequence[int], sources: Sequence[str] | None = None) -> str:
    """'Surface: 2, Vacancy: 1' (config_type counts, prefixed by the file when several)."""
    multi = sources is not None and len(set(sources)) > 1
    c = Counter((f"{sources[i]} " if multi and sources else "") + refset[i].config_type for i in idx)
    return ", ".join(f"{k}: {n}" for k, n in sorted(c.items(), key=lambda kv: (-kv[1], kv[0])))


def _n(k: int, word: str = "structure") -> str:
    return f"{k} {word}{'' if k == 1 else 's'}"


def _v(k: int, plural: str, singular: str) -> str:
    """The verb agreeing with a count: _v(1, 'have', 'has') == 'has'."""
    return singular if k == 1 else plural


def _who(refset: ReferenceSet, idx: Sequence[int], sources: Sequence[str], plural: str, singular: str
         ) -> str:
    """'3 structures (Surface: 2, Vacancy: 1) have' with the verb agreeing with the count."""
    return f"{_n(len(idx))} ({_counts(refset, idx, sources)}) {_v(len(idx), plural, singular)}"


def _label(refset: ReferenceSet, i: int) -> str:
    return refset[i].name or f"#{i}"
