"""LAMMPS input files of a gafit potential: ``pair.lmp`` (and any parameter file beside it).

``pair.lmp`` holds ``pair_style``/``pair_coeff`` lines for ``include`` after the atom types exist. Its
header comments say which species each type is and the E0 offsets (eV/atom) that LAMMPS does not add;
gafit reads them back, so a ``pair.lmp`` it wrote is a complete potential.
"""

from __future__ import annotations

import shlex
from pathlib import Path

import numpy as np

from gafit.forms import get_form
from gafit.forms.base import number
from gafit.io.atomic import atomic_write_text
from gafit.potential import Potential
from gafit.structures import GafitInputError

#: LAMMPS pair style -> gafit form name
STYLE_TO_FORM = {"morse": "morse", "buck": "buckingham", "tersoff": "tersoff"}


def pair_lines(potential: Potential, outdir: Path | None = None, header: str = "") -> list[str]:
    """The ``pair_style`` and ``pair_coeff`` lines (hybrid/overlay for a sum of forms)."""
    per_form = [
        f.lammps_lines(potential.values[sl], outdir, header)
        for f, sl in zip(potential.forms, potential.form_slices(), strict=True)
    ]
    if len(per_form) == 1:
        return per_form[0]
    styles, coeffs = [], []
    for lines in per_form:
        style = lines[0].split()[1:]
        styles += style
        for line in lines[1:]:
            words = line.split()
            coeffs.append(" ".join(words[:3] + [style[0]] + words[3:]))
    return ["pair_style hybrid/overlay " + " ".join(styles)] + coeffs


def parameter_files(lines: list[str]) -> list[str]:
    """Names of the files that ``pair_coeff`` lines read (words with a dot that are not numbers)."""
    names = []
    for line in lines:
        words = line.split("#")[0].split()
        if words[:1] != ["pair_coeff"]:
            continue
        for w in words[3:]:
            try:
                float(w)
            except ValueError:
                if "." in w and w not in names:
                    names.append(w)
    return names


def lammps_file_names(potential: Potential) -> list[str]:
    """The files :func:`write_lammps` writes into its folder: pair.lmp and parameter files."""
    return ["pair.lmp", *parameter_files(pair_lines(potential))]


def write_lammps(potential: Potential, outdir: str | Path, header: str = "") -> Path:
    """Write ``outdir/pair.lmp`` and the parameter files it needs; return the path of pair.lmp.

    ``header`` (e.g. how the potential was fitted) opens every file as comment lines.
    """
    outdir = Path(outdir)
    outdir.mkdir(parents=True, exist_ok=True)
    problems = potential.check()
    if problems:
        raise GafitInputError("cannot export: " + "; ".join(problems))
    types = ", ".join(f"type {k + 1} = {s}" for k, s in enumerate(potential.species))
    e0 = potential.values[potential.e0_slice]
    lines = [f"# {line}".rstrip() for line in header.splitlines()] + [
        "# LAMMPS pair potential written by gafit (units metal: eV, Å).",
        f"# Atom types: {types}.",
        "# Use with 'include pair.lmp' after the box and atom types exist.",
        "# LAMMPS does not add the per-species energy offsets E0 (eV/atom); gafit's energies are",
        "# LAMMPS's potential energy plus the sum of E0 over the atoms.",
        "# gafit species: " + " ".join(potential.species),
        "# gafit E0: " + " ".join(f"{s}={number(v)}" for s, v in zip(potential.species, e0, strict=True)),
    ]
    path = outdir / "pair.lmp"
    atomic_write_text(path, "\n".join(lines + pair_lines(potential, outdir, header)) + "\n")
    return path


def read_pair_lmp(path: Path) -> Potential:
    """Read a ``pair.lmp`` written by gafit (species and E0 from its header comments)."""
    species: list[str] | None = None
    e0: dict[str, float] = {}
    style: list[str] | None = None
    style_line = 0
    coeffs: list[tuple[int, list[str]]] = []
    try:
        text = path.read_text(encoding="utf-8", errors="replace")
    except OSError as err:  # a folder, no permission, ...
        raise GafitInputError(f"{path}: cannot read ({err.strerror or err})") from None
    for n, raw in enumerate(text.splitlines(), 1):
        line = raw.strip()
        where = f"{path} line {n}"
        if line.startswith("# gafit species:"):
            species = line.split(":", 1)[1].split()
        elif line.startswith("# gafit E0:"):
            for item in line.split(":", 1)[1].split():
                sym, _, val = item.partition("=")
                try:
                    e0[sym] = float(val)
                except ValueError:
                    raise GafitInputError(f"{where}: E0 entry {item!r} is not SYMBOL=NUMBER") from None
                if not np.isfinite(e0[sym]):
                    raise GafitInputError(f"{where}: E0 entry {item!r} is not a finite number")
        line = line.split("#", 1)[0].strip()
        if not line:
            continue
        try:
            words = shlex.split(line)
        except ValueError as err:  # "No closing quotation"
            raise GafitInputError(f"{where}: {err}") from None
        if not words:
            continue
        if words[0] == "pair_style":
            style, style_line = words[1:], n
        elif words[0] == "pair_coeff":
            if len(words) < 3:
                raise GafitInputError(f"{where}: pair_coeff needs two atom types and coefficients")
            coeffs.append((n, words[1:]))
        else:
            raise GafitInputError(f"{where}: expected pair_style or pair_coeff, got {words[0]!r}")
    if not species:
        raise GafitInputError(
            f"{path}: no '# gafit species: ...' line, so the atom types are "
            "unknown; give a potential.json instead"
        )
    if not style:
        raise GafitInputError(f"{path}: no pair_style line")
    if len(set(species)) != len(species):
        raise GafitInputError(f"{path}: the '# gafit species:' line lists a species twice: {species}")
    if style[0] == "hybrid/overlay":
        raise GafitInputError(
            f"{path} line {style_line}: reading hybrid/overlay is not supported; "
            "use the potential.json written beside it"
        )
    form_name = STYLE_TO_FORM.get(style[0])
    if form_name is None:
        raise GafitInputError(
            f"{path} line {style_line}: pair_style {style[0]!r} is not a gafit "
            f"form (known: {', '.join(STYLE_TO_FORM)})"
        )
    form_cls = get_form(form_name)
    try:
        form, values = form_cls.from_lammps(
            style[1:], coeffs, species, f"{path}", base=path.parent
        )
    except GafitInputError as err:
        if str(err).startswith(str(path)) or not coeffs:
            raise
        # a problem of a file that pair_coeff names (e.g. a missing .tersoff): say where it is named
        raise GafitInputError(f"{path} line {coeffs[0][0]}: {err}") from None
    if not 0 < form.cutoff < np.inf:
        raise GafitInputError(f"{path} line {style_line}: cutoff {form.cutoff:g} is not a positive "
                              "finite number")
    bad = [nm for nm in form.parameter_names() if not np.isfinite(values[nm])]
    if bad:
        raise GafitInputError(f"{path}: {bad[0]} = {values[bad[0]]:g} is not a finite number")
    pot = Potential(species, [form])
    vals = np.array([values[nm] for nm in form.parameter_names()] + [e0.get(s, 0.0) for s in species])
    return pot.with_values(vals)


def read_lammps_potential(path: Path) -> Potential:
    """A ``pair.lmp`` from gafit, or a potential file (e.g. ``.tersoff``) of a registered form."""
    if path.suffix == ".lmp" or path.name.startswith("pair"):
        return read_pair_lmp(path)
    form_name = STYLE_TO_FORM.get(path.suffix.lstrip("."))
    if form_name is None:
        raise GafitInputError(
            f"{path}: unknown potential file type (expected potential.json, "
            "a pair.lmp written by gafit, or a LAMMPS .tersoff file)"
        )
    form_cls = get_form(form_name)
    reader = getattr(form_cls, "read_file", None)
    if reader is None:
        raise GafitInputError(f"{path}: the {form_name} form cannot read parameter files")
    return reader(path)
