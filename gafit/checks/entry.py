"""The entry point: every check over one training set (:func:`check_data`) and their text."""

from __future__ import annotations

from collections.abc import Sequence

from gafit.checks._text import _label, _n, _source
from gafit.checks.cells import _check_cells
from gafit.checks.determined import _check_determined
from gafit.checks.duplicates import _check_duplicates
from gafit.checks.e0 import _check_e0
from gafit.checks.energies import _check_energies
from gafit.checks.finding import Finding
from gafit.checks.stress import _check_stress
from gafit.checks.summary import _summary
from gafit.checks.walls import _check_walls
from gafit.checks.zero import _check_zero
from gafit.geometry import check_neighbour_work
from gafit.potential import Potential
from gafit.structures import ReferenceSet

#: cutoff used when neither a cutoff nor a potential is given, Å (gafit's default for pair forms)
DEFAULT_CUTOFF = 6.0


def _interaction_cutoff(potential: Potential) -> float:
    """Largest interaction range of a potential's forms (Tersoff: max R + D), Å."""
    cut = 0.0
    for form, sl in zip(potential.forms, potential.form_slices(), strict=True):
        cut = max(cut, float(form.interaction_range(potential.values[sl][None])))
    return cut


def check_data(refset: ReferenceSet, cutoff: float | None = None, species: Sequence[str] | None = None,
               potential: Potential | None = None, sources: Sequence[str] | None = None,
               walls: bool = False) -> list[Finding]:
    """Findings about ``refset`` (warnings first).

    ``cutoff`` (Å): the interaction range; default the potential's (Tersoff: max R + D), else 6 Å.
    ``species``: those the potential will have (default the potential's, else the data's).
    ``potential``: a :class:`~gafit.potential.Potential` (for cutoffs, three-body entries, parameter
    counts). ``sources``: the file of each structure (default: the part of its name before ':').
    ``walls``: also check the potential's repulsive walls against the data's shortest distances
    (:mod:`gafit.walls`) and its E0 offsets against the data's energies
    (:func:`gafit.stability.e0_plausibility`): for a potential with its final values, not a fit's start.
    """
    if len(refset) == 0:
        return [Finding("warning", "empty", "no structures", [])]
    if cutoff is None:
        cutoff = _interaction_cutoff(potential) if potential is not None else DEFAULT_CUTOFF
        what = "the potential's cutoff" if potential is not None else "cutoff"
    else:
        what = "cutoff"
    check_neighbour_work(refset, cutoff, what)
    data_species = refset.species
    if species is None:
        species = list(potential.species) if potential is not None else data_species
    species = list(species)
    src = list(sources) if sources is not None else [_source(s) for s in refset]
    findings = [_summary(refset, src)]
    findings += _check_zero(refset, src)
    findings += _check_cells(refset, cutoff, src)
    findings += _check_duplicates(refset, src)
    findings += _check_energies(refset, data_species, src)
    findings += _check_stress(refset, src)
    findings += _check_determined(refset, species, cutoff, potential, src)
    if walls and potential is not None:
        findings += _check_walls(refset, potential)
        findings += _check_e0(refset, potential)
    return sorted(findings, key=lambda f: f.severity != "warning")


def format_findings(findings: Sequence[Finding], refset: ReferenceSet | None = None,
                    verbose: bool = False, max_names: int = 10) -> str:
    """One line per finding, warnings first; ``verbose`` adds the names of the structures concerned."""
    lines = []
    for sev in ("warning", "info"):
        for f in findings:
            if f.severity != sev:
                continue
            lines.append(str(f))
            if verbose and refset is not None and f.structures:
                names = [_label(refset, i) for i in f.structures[:max_names]]
                more = len(f.structures) - len(names)
                lines.append("    " + ", ".join(names) + (f", ... ({more} more)" if more > 0 else ""))
    n_warn = sum(f.severity == "warning" for f in findings)
    lines.append(f"{_n(n_warn, 'warning')}" if n_warn else "no warnings")
    return "\n".join(lines)


def check_cutoff(cutoff: float | None, potential: Potential | None) -> float:
    """The interaction range :func:`check_data` uses, Å: ``cutoff``, else the potential's, else
    :data:`DEFAULT_CUTOFF`."""
    return cutoff or (_interaction_cutoff(potential) if potential is not None else DEFAULT_CUTOFF)
