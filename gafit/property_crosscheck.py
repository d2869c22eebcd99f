"""The fitted property values checked the direct way, at the end of a fit.

A fit's ``[[properties]]`` values come from cells tabulated once at fixed scales of the start cell and
interpolated to each individual's own relaxed lattice (:mod:`gafit.property_target`). That is exact
when the energy varies smoothly over the tabulated scales, and wrong when it does not: a Tersoff
cutoff taper [R - D, R + D] that holds a neighbour shell at some tabulated scale puts a kink between
the scales, and a fitted C11 of 972 GPa was measured at 815 (docs/phonons/C_diamond_phonon_elastic.md).
So the fitted potential's cubic properties are computed again as ``gafit properties`` computes them
(relaxed lattice, EOS, strained cells, :func:`gafit.properties.properties`) and each row gets the
measured value; a difference above half the target's tolerance, or a pass that the measurement does
not confirm, is reported with the shells that sit in a taper.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
from ase import Atoms
from ase.neighborlist import neighbor_list

from gafit.potential import Potential
from gafit.properties import cohesive_energy, properties
from gafit.property_cubic import SCALES, PropertyCell
from gafit.property_target import PropertyTargets

__all__ = ["cross_check", "taper_shells"]

#: fit property -> key of gafit.properties.properties (B: from the relaxed-ion Cij, which is -V dp/dV
#: for a cubic crystal whose atoms sit on fixed sites; the EOS fit's B differs by its fitting error)
MEASURED_KEY = {"a": "a", "E": "E", "B": "B_elastic", "C11": "C11", "C12": "C12", "C44": "C44",
                "C44_unrelaxed": "C44_unrelaxed"}


def taper_shells(potential: Potential, atoms: Atoms, scales: Sequence[float] = SCALES
                 ) -> list[str]:
    """Neighbour distances of ``atoms`` scaled by each of ``scales`` that lie strictly inside a
    cutoff taper [R - D, R + D] of a form with parameters named R and D per entry (Tersoff: entry
    A-B-B tapers the A-B pairs), as text such as "Si-Si 2.65 Å at scale 1.05 in the taper 2.60-2.85 Å
    (Si-Si-Si)"; one line per entry, shell and scale range."""
    values = potential.named_values()
    tapers: list[tuple[str, str, str, float, float]] = []
    for form in potential.forms:
        for entry in form.entries():
            if len(entry) != 3 or entry[1] != entry[2]:
                continue
            name = "-".join(entry)
            r, d = values.get(f"{name}.R"), values.get(f"{name}.D")
            if r is not None and d is not None and d > 0:
                tapers.append((entry[0], entry[1], name, r - d, r + d))
    if not tapers:
        return []
    reach = max(hi for *_, hi in tapers) * max(scales)
    symbols = np.array(atoms.get_chemical_symbols())
    i_p, j_p, d_p = neighbor_list("ijd", atoms, reach)
    found: dict[tuple[str, float], list[float]] = {}
    for a, b, name, lo, hi in tapers:
        pair = ((symbols[i_p] == a) & (symbols[j_p] == b)) | ((symbols[i_p] == b) & (symbols[j_p] == a))
        for shell in np.unique(np.round(d_p[pair], 4)):
            for s in scales:
                if lo < s * shell < hi:
                    found.setdefault((name, float(shell)), []).append(float(s))
    lines = []
    for (name, shell), at in sorted(found.items()):
        a, b, _ = name.split("-")
        lo, hi = next((lo, hi) for *_, n, lo, hi in tapers if n == name)
        where = f"scale {at[0]:.2f}" if len(at) == 1 else f"scales {at[0]:.2f}-{at[-1]:.2f}"
        lines.append(f"{a}-{b} shell at {shell:.3f} Å (x start cell) lies at {where} in the taper "
                     f"{lo:.3f}-{hi:.3f} Å of {name}")
    return lines


def _measured(potential: Potential, atoms: Atoms) -> dict[str, float]:
    props = properties(potential, atoms)
    out = {key: float(props[src]) for key, src in MEASURED_KEY.items() if src in props}
    out["E_coh"] = cohesive_energy(props, atoms)
    return out


def cross_check(potential: Potential, targets: PropertyTargets, rows: list[dict]) -> list[str]:
    """Add ``measured`` (and ``agrees``) to each row of ``targets.table(theta)`` whose property is
    computed directly on a cubic structure (a, E, E_coh, B, C11, C12, C44, C44_unrelaxed) for the
    fitted ``potential``; returns one warning per row whose fitted and measured values differ by more
    than half its tolerance or whose pass the measurement does not confirm, then the taper shells
    that explain it. Rows of other properties (defects, hexagonal cells, dE) are left as they are."""
    measured: dict[int, dict[str, float]] = {}
    problems: list[str] = []
    bad_cells: set[int] = set()
    for i, (config, row) in enumerate(zip(targets.configs, rows, strict=True)):
        k = targets.cell_of[i]
        cell = targets.cells[k]
        if (row["property"] not in MEASURED_KEY and row["property"] != "E_coh") \
                or not isinstance(cell, PropertyCell) or "relative_to" in row:
            continue
        if k not in measured:
            measured[k] = _measured(potential, cell.atoms)
        value = measured[k].get(row["property"])
        if value is None:
            continue
        row["measured"] = value
        off = abs(row["value"] - value)
        confirms = abs(value - config.reference) <= config.tolerance or not row["pass"]
        row["agrees"] = bool(off <= config.tolerance / 2 and confirms)
        if not row["agrees"]:
            bad_cells.add(k)
            problems.append(f"property check: {row['structure']} {row['property']} fitted "
                            f"{row['value']:.5g} but {value:.5g} {row['unit']} measured at the relaxed "
                            f"lattice (gafit properties); the fit's interpolation between its "
                            f"tabulated cells does not hold for this potential")
    for k in sorted(bad_cells):
        for line in taper_shells(potential, targets.cells[k].atoms):
            problems.append(f"property check: {line}: a shell in a cutoff taper makes the energy "
                            f"kink between tabulated scales; bound R and D to keep the taper clear")
    return problems
