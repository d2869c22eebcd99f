"""What ``gafit phonons`` computes and writes: the dispersion of a potential (relaxed first), its
errors against a reference, band.yaml, band.csv, phonons.png/pdf, errors.csv, phonons.json."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
from ase import Atoms
from phonopy import Phonopy

from gafit import crystals
from gafit.nac import (
    NAC_FACTOR,
    Epsilon,
    charge_indices,
    dielectric_tensor,
    direction_text,
    epsilon_text,
    is_gamma,
    path_directions,
)
from gafit.phonons.comparison import ErrorTable, compare
from gafit.phonons.harmonic import DISPLACEMENT, _check_species, make_phonopy, new_phonopy, phonon_forces
from gafit.phonons.paths import (
    NPOINTS,
    Band,
    band_path,
    canonical_label,
    file_label,
    run_band,
    write_band_csv,
)
from gafit.phonons.plot import plot_band
from gafit.phonons.reference import PhononReference, q_transform
from gafit.phonons.symmetry import cell_text, cubic_lattice_constant, lattice_type
from gafit.potential import Potential
from gafit.structures import GafitInputError


@dataclass
class PhononResult:
    """What :func:`phonon_report` computed and wrote."""

    phonopy: Phonopy
    structure: Atoms
    lattice_constant: float | None  # conventional cubic a, Å (None if not cubic)
    relaxed: bool
    band: Band
    reference: PhononReference | None = None
    reference_frequencies: np.ndarray | None = None  # (n_q, n_modes) at band.qpoints, THz
    errors: ErrorTable | None = None
    files: list[Path] = field(default_factory=list)
    residual_force: float = 0.0  # largest |F| (eV/Å) on the unit cell used: 0 at equilibrium
    nac: dict[str, Any] = field(default_factory=dict)  # how the non-analytic term was applied
    # an ensemble's spread of the dispersion (gafit.uncertainty.bands.BandSpread), when computed
    ensemble: Any = None
    ensemble_source: str = ""  # the ensemble CSV it came from

    @property
    def model_nac_text(self) -> str:
        """'Z* = q, ε∞ = 1 (rigid ion)' for a model with NAC, '' without."""
        return f"Z* = q, {self.nac['epsilon_text']}" if self.nac.get("model") else ""

    @property
    def reference_nac(self) -> bool:
        """Whether the reference's frequencies carry phonopy's NAC (a BORN file beside it)."""
        ph = self.reference.phonopy if self.reference is not None else None
        return ph is not None and ph.nac_params is not None

    @property
    def cell_parameters(self) -> dict[str, float]:
        """a, b, c (Å), alpha, beta, gamma (deg) of the unit cell used."""
        from gafit.crystals import cell_parameters

        return cell_parameters(self.structure)

    @property
    def imaginary(self) -> Any:
        """Imaginary modes on the band path (:func:`gafit.stability.imaginary_modes`)."""
        from gafit.stability import imaginary_modes

        return imaginary_modes(self.band.frequencies, is_gamma(self.band.qpoints),
                               [canonical_label(lab) for lab in self.band.labels], self.band.qpoints)

    def summary(self) -> dict[str, Any]:
        points = {}
        for k, lab in enumerate(self.band.labels):
            if lab and lab not in points:
                points[file_label(lab)] = [round(float(x), 6) for x in self.band.frequencies[k]]
        out: dict[str, Any] = {
            "relaxed": self.relaxed,
            "lattice_constant_angstrom": self.lattice_constant,
            "cell_parameters": {k: round(v, 8) for k, v in self.cell_parameters.items()},
            "residual_force_eV_per_angstrom": self.residual_force,
            "supercell_matrix": np.asarray(self.phonopy.supercell_matrix).tolist(),
            "n_displacements": len(self.phonopy.supercells_with_displacements),
            "frequencies_THz": points,
            "imaginary_modes": self.imaginary.to_dict(),  # gafit.stability: '! ...' flags
            "units": {"frequency": "THz", "length": "Å", "q": "reduced, primitive reciprocal basis"},
        }
        if self.nac:
            out["nac"] = {k: v for k, v in self.nac.items() if k != "epsilon_text"}
        if self.ensemble is not None:
            e = self.ensemble
            out["ensemble"] = {"file": self.ensemble_source, "members": e.members,
                               "failed": e.failed, "csv": "band_ensemble.csv",
                               "rms_std_THz": float(np.sqrt(np.mean(e.std ** 2))),
                               "max_std_THz": float(e.std.max()), "points": e.at_points()}
        if self.errors is not None and self.reference is not None:
            out["reference"] = str(self.reference.source)
            out["rms_error_THz"] = {file_label(r.point): r.rms for r in self.errors.rows}
            out["gamma_q_direction"] = {file_label(r.point): r.q_direction for r in self.errors.rows
                                        if r.q_direction}
        return out


def _check_same_crystal(reference: PhononReference, ph: Phonopy) -> None:
    mine, theirs = " ".join(sorted(ph.primitive.symbols)), " ".join(sorted(reference.symbols or []))
    if reference.symbols is not None and theirs != mine:
        raise GafitInputError(f"{reference.source}: the reference's primitive cell holds {theirs}, "
                              f"the structure's {mine}: not the same crystal")
    if reference.n_modes != 3 * len(ph.primitive):
        raise GafitInputError(f"{reference.source}: the reference has {reference.n_modes} modes, the "
                              f"structure's primitive cell {3 * len(ph.primitive)}: not the same crystal")


def phonon_report(potential: Potential, structure: Atoms, supercell: Any, out: str | Path | None = None,
                  *, path: str = "auto", reference: PhononReference | None = None, relax: bool = True,
                  npoints: int = NPOINTS, displacement: float = DISPLACEMENT, name: str = "gafit",
                  reference_name: str = "DFT", epsilon_inf: Epsilon = 1.0) -> PhononResult:
    """Dispersion of ``potential`` for ``structure`` (with ``relax``, cell and positions relaxed first by
    :func:`gafit.crystals.relax`, space group kept), compared with ``reference``; writes band.yaml,
    band.csv, phonons.png/pdf, errors.csv, phonons.json in ``out``.

    A phonopy-data-set reference is evaluated on the path's q-points; a band.yaml/CSV reference fixes
    the q-points (its own path) and gafit is evaluated there.

    A potential with Coulomb charges gets phonopy's non-analytic correction with Born charges = its
    charges and ε∞ = ``epsilon_inf`` (a number, ``"born"``: the reference's BORN file, None: no NAC);
    Γ on the path is approached along its segment, as phonopy's band structure does, for gafit and
    for a phonopy-data-set reference with a BORN file alike.
    """
    _check_species(potential, structure.get_chemical_symbols(), "structure")
    ltype, _ = lattice_type(structure)
    cubic = ltype[0] == "c"
    if reference is None or reference.phonopy is not None:
        band_path(structure, path, npoints=2)  # check the lattice and the letters before any work
    charged = charge_indices(potential, structure.get_chemical_symbols()) is not None
    dielectric = (dielectric_tensor(epsilon_inf, reference, new_phonopy(structure, supercell).primitive)
                  if charged else None)  # a bad "born" is told before any work
    atoms = crystals.relax(potential, structure).atoms if relax else structure
    a = cubic_lattice_constant(atoms) if cubic else None
    ph = make_phonopy(potential, atoms, supercell, displacement, dielectric=dielectric)
    if reference is not None:
        _check_same_crystal(reference, ph)
    q_k = ph.nac_params["born"][:, 0, 0] if ph.nac_params is not None else None
    nac: dict[str, Any] = {}
    if q_k is not None:
        assert dielectric is not None
        nac = {"model": True, "born_charges_e": {f"{s}{k + 1}": round(float(x), 8) for k, (s, x)
                                                 in enumerate(zip(ph.primitive.symbols, q_k, strict=True))},
               "epsilon_inf": np.round(dielectric, 8).tolist(),
               "epsilon_source": "BORN" if epsilon_inf == "born" else "given",
               "epsilon_text": epsilon_text(dielectric, epsilon_inf), "factor_eV_angstrom": NAC_FACTOR}
    elif charged:
        nac = {"model": False, "epsilon_text": "no NAC"}

    ref_freq = None
    if reference is None or reference.phonopy is not None:
        bpath = band_path(ph, path, npoints)
    else:
        bpath = reference.path()
        if reference.lattice is not None:
            bpath = bpath.transformed(q_transform(reference.lattice, ph.primitive.cell))
    band = run_band(ph, bpath)
    directions = path_directions(bpath.segments, ph.primitive.cell)  # phonopy's band: Γ along segments
    if reference is not None:
        if reference.phonopy is not None:
            t = q_transform(ph.primitive.cell, reference.phonopy.primitive.cell)
            ref_freq = reference.frequencies_at(band.qpoints @ t, directions @ t)
        else:
            assert reference.frequencies is not None
            ref_freq = reference.frequencies
    result = PhononResult(ph, atoms, a, relax, band, reference, ref_freq,
                          residual_force=float(np.abs(phonon_forces(potential, [atoms])[0]).max()),
                          nac=nac)
    if ref_freq is not None:
        notes = [""] * len(band.qpoints)
        if result.reference_nac or q_k is not None:
            first = np.r_[True, band.segment[1:] != band.segment[:-1]]
            away = np.where(first[:, None], -directions, directions)  # from Γ into its segment
            notes = [f"{a}-{b}: {direction_text(d)}" if g and direction_text(d) else ""
                     for (a, b), d, g in zip([bpath.labels[k] for k in band.segment], away,
                                             is_gamma(band.qpoints), strict=True)]
        result.errors = compare(band.frequencies, ref_freq, band.labels, band.qpoints,
                                ph.primitive_symmetry.pointgroup_operations, notes,
                                _nac_line(result, reference_name))
    if out is not None:
        write_outputs(result, Path(out), name, reference_name)
    return result


def _nac_line(res: PhononResult, reference_name: str) -> str:
    """'NAC: gafit Z* = q, ε∞ = 1 (rigid ion); DFT: BORN' (or 'none' on a side), '' when neither has it."""
    if not res.nac and not res.reference_nac:
        return ""
    mine = res.model_nac_text or "none"
    theirs = "BORN" if res.reference_nac else "none"
    return f"NAC: gafit {mine}; {reference_name}: {theirs}"


def write_outputs(res: PhononResult, out: Path, name: str = "gafit", reference_name: str = "DFT"
                  ) -> None:
    """Write what :func:`phonon_report` writes for ``res`` into ``out`` (and, with
    ``res.ensemble``, band_ensemble.csv and the band on the plot)."""
    from gafit.io.atomic import atomic_batch

    with atomic_batch():  # all files renamed into place together: a full disk leaves old ones whole
        _write_files(res, out, name, reference_name)
    if res.errors is None:  # an earlier run's comparison would sit beside these results
        (out / "errors.csv").unlink(missing_ok=True)
    if res.ensemble is None:  # so would an earlier run's ensemble band
        (out / "band_ensemble.csv").unlink(missing_ok=True)


def _write_files(res: PhononResult, out: Path, name: str, reference_name: str) -> None:
    from gafit.io import strict_json
    from gafit.io.atomic import atomic_write, atomic_write_text

    out.mkdir(parents=True, exist_ok=True)
    comment = {"gafit_potential": name, "relaxed": res.relaxed}
    if res.lattice_constant is not None:
        comment["lattice_constant_angstrom"] = round(res.lattice_constant, 8)
    atomic_write(out / "band.yaml",
                 lambda tmp: res.phonopy.write_yaml_band_structure(comment=comment, filename=tmp))
    write_band_csv(res.band, out / "band.csv")
    files = [out / "band.yaml", out / "band.csv"]
    formula = res.structure.get_chemical_formula(empirical=True)
    geometry = ("relaxed " if res.relaxed else "as given, ") + cell_text(res.structure, res.lattice_constant)
    title = f"{formula}: {name}, {geometry}"
    if res.errors is not None:
        title += f"; RMS vs {reference_name} {res.errors.rms:.3f} THz"
    label = f"{name} ({res.model_nac_text})" if res.model_nac_text else name
    ref_label = f"{reference_name} (NAC from BORN)" if res.reference_nac else reference_name
    spread = None if res.ensemble is None else (res.ensemble.mean, res.ensemble.std)
    fig = plot_band(res.band, title, res.reference_frequencies, ref_label, label, spread,
                    0 if res.ensemble is None else res.ensemble.members)
    for ext in ("png", "pdf"):
        atomic_write(out / f"phonons.{ext}", lambda tmp, ext=ext: fig.savefig(tmp, dpi=150, format=ext))
        files.append(out / f"phonons.{ext}")
    if res.errors is not None:
        res.errors.write_csv(out / "errors.csv")
        files.append(out / "errors.csv")
    if res.ensemble is not None:
        from gafit.uncertainty.bands import write_band_spread_csv

        write_band_spread_csv(res.ensemble, out / "band_ensemble.csv")
        files.append(out / "band_ensemble.csv")
    atomic_write_text(out / "phonons.json", strict_json.dumps(res.summary(), indent=2, ensure_ascii=False)
                      + "\n")
    files.append(out / "phonons.json")
    res.files = files
