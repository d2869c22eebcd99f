"""A fit's inputs from its config: the training and validation data, and the potential to fit; and
what ``gafit check`` reads (:func:`read_check_input`)."""

from __future__ import annotations

import dataclasses
import sys
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from gafit.checks._text import _source
from gafit.checks.duplicates import duplicate_groups
from gafit.config import DataFile, FitConfig, PotentialConfig, data_files, files_label, load_config
from gafit.coulomb import check_neutral
from gafit.forms import get_form
from gafit.io import read_reference
from gafit.phonons.target import reference_species
from gafit.potential import Potential
from gafit.potential_files import load_potential
from gafit.structures import GafitInputError, ReferenceSet

DEFAULT_CUTOFF = 6.0  # Å, for pair forms when neither the config nor a start file gives one


def read_files(files: list[DataFile], dimer_species: Sequence[str] | None = None) -> ReferenceSet:
    """The structures of ``files`` in order, with each file's config_type and weight applied."""
    out = ReferenceSet([], "")
    for f in files:
        part = read_reference(f.path, dimer_species=dimer_species, format=f.format)
        if f.config_type is not None or f.weight is not None:
            part = ReferenceSet([dataclasses.replace(
                s, config_type=f.config_type if f.config_type is not None else s.config_type,
                weight=s.weight * (f.weight if f.weight is not None else 1.0)) for s in part],
                part.source)
        out = part if not len(out) else out + part
    return out


def drop_duplicates(data: ReferenceSet, quiet: bool = False) -> ReferenceSet:
    """``data`` without the structures that repeat an earlier one (as `gafit check` finds them);
    says on stderr how many were dropped and which."""
    groups = duplicate_groups(data)
    dropped = sorted(i for g in groups for i in g[1:])
    if dropped and not quiet:
        first = {i: g[0] for g in groups for i in g[1:]}
        names = [f"{data[i].name or f'#{i}'} (= {data[first[i]].name or f'#{first[i]}'})"
                 for i in dropped]
        shown = ", ".join(names[:10]) + (f", ... ({len(names) - 10} more)" if len(names) > 10 else "")
        print(f"gafit: [data] drop_duplicates: dropped {len(dropped)} of {len(data)} structures "
              f"that repeat an earlier one: {shown}", file=sys.stderr)
    keep = set(dropped)
    return data.subset([k for k in range(len(data)) if k not in keep])


def read_data(config: FitConfig) -> tuple[ReferenceSet, ReferenceSet | None]:
    """Training and validation sets: validation files, plus structures held out of the training
    files by config_type and by a seeded random fraction (after dropping duplicates if asked).
    No training files (a fit to phonon targets only) gives an empty training set."""
    dc = config.data
    train_files, valid_files = data_files(dc.train), data_files(dc.validation)
    species = config.potential.species
    dimer = (species[0], species[0]) if species is not None and len(species) == 1 else None
    data = read_files(train_files, dimer)
    if dc.drop_duplicates:
        data = drop_duplicates(data)
    held: list[int] = []
    if dc.validation_config_types:
        types = set(dc.validation_config_types)
        unknown = types - {s.config_type for s in data}
        if unknown:
            raise GafitInputError(f"[data] validation_config_types: {sorted(unknown)} not in "
                                  f"{files_label(train_files)}")
        held = [k for k, s in enumerate(data) if s.config_type in types]
    rest = [k for k in range(len(data)) if k not in set(held)]
    if dc.validation_fraction > 0:
        rng = np.random.default_rng(dc.split_seed)
        n_hold = int(round(dc.validation_fraction * len(rest)))
        held += sorted(rng.choice(rest, size=n_hold, replace=False).tolist())
    train = data.subset([k for k in range(len(data)) if k not in set(held)])
    parts = [data.subset(sorted(held))] if held else []
    if valid_files:
        parts.append(read_files(valid_files, dimer))
    if train_files and not len(train):
        raise GafitInputError("[data]: no training structures are left after the split")
    valid = None
    for part in parts:
        valid = part if valid is None else valid + part
    return train, valid


def build_potential(config: FitConfig, train: ReferenceSet) -> Potential:
    """The potential to fit: from the start file if given, else the form's defaults; with
    ``[potential] charges``, plus a Coulomb term (see :func:`add_coulomb`)."""
    pc = config.potential
    if pc.start is not None:
        # species map the atom types to the start file's entries, as LAMMPS's pair_coeff
        start = load_potential(pc.start, pc.species)
        if pc.cutoff is not None:
            for f in start.forms:
                if f.name not in ("coulomb", "zbl"):
                    f.cutoff = pc.cutoff
        return add_zbl(add_coulomb(start, pc, train), pc)
    species = pc.species or train.species or reference_species(config.phonons)  # phonons only
    form = get_form(pc.form)(list(species), pc.cutoff or DEFAULT_CUTOFF)
    try:
        form.apply_settings(pc.settings)
    except GafitInputError as err:
        raise GafitInputError(f"{config.source or 'config'}: [potential] settings: {err}") from None
    return add_zbl(add_coulomb(Potential(list(species), [form]), pc, train), pc)


def add_forms(potential: Potential, forms: list) -> Potential:
    """``potential`` with ``forms`` appended, every value kept (new parameters at 0)."""
    forms = potential.forms + forms
    named = potential.named_values()
    values = [named.get(n, 0.0) for f in forms for n in f.parameter_names()]
    values += [named[f"{s}.E0"] for s in potential.species]
    return Potential(potential.species, forms, np.array(values), potential.provenance,
                     potential.e0_given)


def add_zbl(potential: Potential, pc: PotentialConfig) -> Potential:
    """``potential`` with the ZBL overlay of ``[potential] zbl`` (replacing a start file's)."""
    if pc.zbl is None:
        return potential
    zbl = get_form("zbl")(potential.species, pc.zbl["outer"], inner=pc.zbl["inner"])
    kept = [f for f in potential.forms if f.name != "zbl"]
    base = Potential(potential.species, kept,
                     np.concatenate([potential.values[sl] for f, sl in
                                     zip(potential.forms, potential.form_slices(), strict=True)
                                     if f.name != "zbl"] + [potential.values[potential.e0_slice]]),
                     potential.provenance, potential.e0_given)
    out = add_forms(base, [zbl])
    out.values[out.form_slices()[-1]] = zbl.default_values()  # every pair's R1, R2 (Å)
    return out


def add_coulomb(potential: Potential, pc: PotentialConfig, train: ReferenceSet) -> Potential:
    """``potential`` with the Coulomb term of ``[potential] charges`` (its cutoff
    ``coulomb_cutoff``, default the largest cutoff of the other forms): fixed charges are checked
    neutral on every training structure, a "neutral" species follows from the others."""
    if pc.charges is None:
        return potential
    for key in pc.charges:
        if key not in potential.species:
            raise GafitInputError(f"[potential] charges: '{key}' is not a species of the potential "
                                  f"({' '.join(potential.species)})")
    missing = [x for x in potential.species if x not in pc.charges]
    if missing:
        raise GafitInputError(f"[potential] charges: no charge for '{missing[0]}' (give every "
                              "species one, 0 for an uncharged one)")
    pair_cutoff = max((f.cutoff for f in potential.forms if f.name != "coulomb"), default=0.0)
    cutoff = pc.coulomb_cutoff or pair_cutoff or DEFAULT_CUTOFF
    if cutoff < pair_cutoff:
        raise GafitInputError(f"[potential] coulomb_cutoff = {cutoff:g} Å is shorter than the pair "
                              f"cutoff {pair_cutoff:g} Å (LAMMPS's buck/coul/long needs it ≥)")
    existing = [f for f in potential.forms if f.name == "coulomb"]
    coul = existing[0] if existing else get_form("coulomb")(potential.species, cutoff)
    coul.cutoff = cutoff
    if not existing:
        potential = add_forms(potential, [coul])
    counts_sa = np.array([[st.atoms.get_chemical_symbols().count(x) for x in potential.species]
                          for st in train], float).reshape(len(train), len(potential.species))
    names = [st.name or f"structure {k}" for k, st in enumerate(train)]
    neutral = [k for k, v in pc.charges.items() if v == "neutral"]
    charged = [pc.charges.get(x, 0.0) != 0.0 for x in potential.species]
    if neutral:
        coul.set_neutral(neutral[0], counts_sa, names, charged)
        return potential
    q_a = np.array([float(pc.charges.get(x, 0.0)) for x in potential.species])
    check_neutral(q_a, counts_sa, potential.species, names, "[potential] charges")
    return potential


def fit_parameters(pc: PotentialConfig) -> dict[str, Any]:
    """``[potential.parameters]`` with the numeric and [low, high] charges as ``X.q`` entries."""
    charges = {f"{k}.q": v for k, v in (pc.charges or {}).items() if v != "neutral"}
    return {**pc.parameters, **charges}


def fit_inputs(config: FitConfig) -> list[Path]:
    """The files a fit reads: config, training and validation data, start file, phonon references,
    property structure files and the [validate] suite file."""
    files = data_files(config.data.train) + data_files(config.data.validation)
    paths = [config.source, *(f.path for f in files), config.potential.start,
             *(pc.reference for pc in config.phonons),
             *(pc.structure for pc in config.phonons if pc.structure is not None),
             *(pr.structure for pr in config.properties if Path(pr.structure).is_file()),
             *(pr.relative_to.structure for pr in config.properties
               if pr.relative_to is not None and Path(pr.relative_to.structure).is_file()),
             *([config.validate.suite] if config.validate and isinstance(config.validate.suite, Path)
               else [])]
    return [Path(p) for p in paths if p is not None]


def evaluation_sets(data: str | Path | None = None, config: str | Path | None = None
                    ) -> tuple[dict[str, ReferenceSet], list[Path]]:
    """The named sets to evaluate and the files read for them: ``{"data": ...}`` from the file
    ``data``, or the training and validation sets of the fit ``config`` (the same split as
    ``gafit fit``; ``"validation"`` only when it has one) with the config's input files (what
    ``gafit evaluate`` evaluates)."""
    if (data is None) == (config is None):
        raise GafitInputError("evaluation_sets: give either a data file or a fit config")
    if config is None:
        return {"data": read_reference(data)}, [Path(data)]
    fit_config = load_config(config)
    train, valid = read_data(fit_config)
    sets = {"train": train} | ({"validation": valid} if valid is not None else {})
    return sets, [Path(config), *fit_inputs(fit_config)]


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
        fit_config = load_config(config)
        data, _ = read_data(fit_config)
        if potential is None:
            potential = build_potential(fit_config, data)
        return CheckInput(data, [_source(s) for s in data], [str(f.path) for f in fit_config.data.train],
                          potential)
    sets = [read_reference(path, index) for path in paths]
    data = sets[0]
    for more in sets[1:]:
        data = data + more
    sources = [Path(path).name for path, part in zip(paths, sets, strict=True) for _ in part]
    return CheckInput(data, sources, [str(p) for p in paths], potential)
