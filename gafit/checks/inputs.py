"""What ``gafit check`` reads: data files, or a fit config's training data and start potential."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from gafit.checks._text import _source
from gafit.potential import Potential
from gafit.structures import ReferenceSet


@dataclass
class CheckInput:
    """What ``gafit check`` checks: the structures, the file each came from (``sources``), the names of
    the data files read, and the potential (given, or the fit config's start), if any."""

    data: ReferenceSet
    sources: list[str]
    names: list[str]
    potential: Potential | None


def read_check_input(paths: Sequence[str | Path] = (), config: str | Path | None = None,
                     index: str = ":", potential: Potential | None = None) -> CheckInput:
    """The data files ``paths`` (``index``: the structures to read from each, ASE-style), checked
    together as one training set, or the training data of the fit ``config`` (without its validation
    data) and, when no ``potential`` is given, the config's potential at its start values."""
    if config is not None:
        from gafit.config import load_config
        from gafit.fit import build_potential, read_data

        fit_config = load_config(config)
        data, _ = read_data(fit_config)
        if potential is None:
            potential = build_potential(fit_config, data)
        return CheckInput(data, [_source(s) for s in data], [str(f.path) for f in fit_config.data.train],
                          potential)
    from gafit.io import read_reference

    sets = [read_reference(path, index) for path in paths]
    data = sets[0]
    for more in sets[1:]:
        data = data + more
    sources = [Path(path).name for path, part in zip(paths, sets, strict=True) for _ in part]
    return CheckInput(data, sources, [str(p) for p in paths], potential)
