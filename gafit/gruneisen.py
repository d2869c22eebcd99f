"""Mode Grüneisen parameters γ = -(V/ω) ∂ω/∂V with phonopy's ``PhonopyGruneisen`` (three volumes).

gafit gives the force constants at V0 (the crystal ``gafit phonons`` used, relaxed by default) and at
V0(1 ± s), the cell scaled uniformly with fractional coordinates kept; phonopy takes the derivative of
the dynamical matrix between the two strained volumes (its ``delta_strain`` = (V+ - V-)/V0 = 2s) and
gives γ per mode, degenerate modes by degenerate perturbation. A DFT reference with three volumes
(phonopy-gruneisen's folders orig, plus, minus) gets the same treatment at the same q-points.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
from ase import Atoms
from phonopy import Phonopy

from gafit.phonons import (
    Band,
    BandPath,
    PhononReference,
    displaced_supercells,
    file_label,
    load_reference,
    new_phonopy,
    phonon_forces,
    produce_force_constants,
    q_transform,
)
from gafit.potential import Potential
from gafit.structures import GafitInputError

#: default volume strain s of ``--gruneisen``: volumes V0(1 ± s)
STRAIN = 0.01
#: γ of modes below this |frequency| (THz: the acoustic modes at Γ) is undefined and given as NaN
MIN_FREQUENCY = 1e-2
#: phonopy-gruneisen's names of the three volumes of a reference folder
VOLUMES = ("orig", "plus", "minus")


def check_strain(strain: float, where: str = "--gruneisen") -> float:
    """A volume strain s with 0 < s < 0.2 (a few per cent is usual); GafitInputError otherwise."""
    if not 0 < strain < 0.2:
        raise GafitInputError(f"{where} {strain}: the volume strain must lie between 0 and 0.2 "
                              "(e.g. 0.01 for volumes V0(1 ± 1 %))")
    return strain


def scaled_cell(atoms: Atoms, volume_factor: float) -> Atoms:
    """``atoms`` with its volume times ``volume_factor``: cell scaled uniformly, fractional
    coordinates kept (internal coordinates fixed by symmetry stay where they belong)."""
    out = atoms.copy()
    out.set_cell(np.asarray(atoms.cell) * volume_factor ** (1 / 3), scale_atoms=True)
    return out


def strained_phonopys(potential: Potential, atoms: Atoms, supercell: Any, strain: float,
                      displacement: float, dielectric: np.ndarray | None = None
                      ) -> tuple[Phonopy, Phonopy]:
    """Phonopy objects with gafit's force constants at V0(1 + s) and V0(1 - s): the displaced
    supercells of both volumes in ONE batched gafit evaluation."""
    phs = [new_phonopy(scaled_cell(atoms, 1 + sign * strain), supercell) for sign in (1, -1)]
    cells = []
    for ph in phs:
        ph.generate_displacements(distance=displacement)
        cells.append(displaced_supercells(ph))
    forces = phonon_forces(potential, cells[0] + cells[1])
    n = len(cells[0])
    for ph, f in zip(phs, (forces[:n], forces[n:]), strict=True):
        produce_force_constants(ph, f)
        if dielectric is not None:
            from gafit.nac import set_model_nac
            set_model_nac(ph, potential, dielectric)
    return phs[0], phs[1]


def gruneisen_along(ph0: Phonopy, ph_plus: Phonopy, ph_minus: Phonopy,
                    segments: list[np.ndarray]) -> tuple[np.ndarray, np.ndarray]:
    """Frequencies (THz) at V0 and mode Grüneisen parameters, each (n_q, n_modes), at the reduced
    q-points of ``segments`` (ph0's primitive basis), by phonopy's ``PhonopyGruneisen``; γ is NaN
    where |frequency| < MIN_FREQUENCY."""
    from phonopy.api_gruneisen import PhonopyGruneisen

    pg = PhonopyGruneisen(ph0, ph_plus, ph_minus)
    pg.set_band_structure([np.asarray(s, float) for s in segments])
    _, _, freq, _, gamma = pg.get_band_structure()
    f, g = sort_modes(np.concatenate(freq), np.concatenate(gamma))
    return f, np.where(np.abs(f) < MIN_FREQUENCY, np.nan, g)


def sort_modes(freq: np.ndarray, gamma: np.ndarray, tol: float = 1e-3) -> tuple[np.ndarray, np.ndarray]:
    """Rows (..., n_modes) reordered by ascending frequency, and within a degenerate set
    (frequencies within ``tol`` THz) by ascending γ: phonopy's band keeps its eigenvector order,
    and degenerate partners have no order of their own."""
    order = np.argsort(freq, axis=-1, kind="stable")
    f, g = np.take_along_axis(freq, order, -1), np.take_along_axis(gamma, order, -1)
    group = np.concatenate([np.zeros((*f.shape[:-1], 1), int),
                            np.cumsum(np.diff(f, axis=-1) > tol, axis=-1)], axis=-1)
    order = np.lexsort((g, group), axis=-1)
    return np.take_along_axis(f, order, -1), np.take_along_axis(g, order, -1)


def mode_gruneisen(dyn: np.ndarray, v_ddyn_dv: np.ndarray, factor: float
                   ) -> tuple[np.ndarray, np.ndarray]:
    """Frequencies (THz) and mode Grüneisen parameters (..., n_modes), ordered as
    :func:`gruneisen_along` orders them, from dynamical matrices D (..., n, n) at V0 and V0 dD/dV
    (..., n, n), batched, as phonopy's ``GruneisenBase`` computes them: γ = -<e|V dD/dV|e> / (2 ω²)
    with the eigenvectors e of D, degenerate modes (eigenvalues within phonopy's DEFAULT_CUTOFF) by
    the eigenvalues of V dD/dV in their subspace; γ is NaN where |frequency| < MIN_FREQUENCY and
    both are NaN where D is not finite."""
    from phonopy.phonon.degeneracy import DEFAULT_CUTOFF

    bad = ~(np.isfinite(dyn).all(axis=(-2, -1)) & np.isfinite(v_ddyn_dv).all(axis=(-2, -1)))
    lam, e = np.linalg.eigh(np.where(bad[..., None, None], 0.0, dyn))  # ascending
    m = np.swapaxes(e.conj(), -1, -2) @ np.where(bad[..., None, None], 0.0, v_ddyn_dv) @ e
    m = 0.5 * (m + np.swapaxes(m.conj(), -1, -2))
    n = lam.shape[-1]
    group = np.concatenate([np.zeros((*lam.shape[:-1], 1), int),
                            np.cumsum(np.diff(lam, axis=-1) >= DEFAULT_CUTOFF, axis=-1)], axis=-1)
    same = group[..., :, None] == group[..., None, :]
    # every degenerate block at once: offsetting block g by g c (c above twice any block's spectral
    # radius) keeps the blocks' eigenvalues apart, in block order, each block's ascending
    c = 4.0 * (np.linalg.norm(m, axis=(-2, -1)) + 1.0)
    offset = c[..., None] * group
    shifted = np.where(same, m, 0.0) + offset[..., None] * np.eye(n)
    edde = np.linalg.eigvalsh(shifted) - offset
    with np.errstate(divide="ignore", invalid="ignore"):
        gamma = -edde / (2.0 * lam)
    freq = np.sign(lam) * np.sqrt(np.abs(lam)) * factor
    freq[bad], gamma[bad] = np.nan, np.nan
    f, g = sort_modes(freq, gamma)
    return f, np.where(np.abs(f) < MIN_FREQUENCY, np.nan, g)


def load_reference_volumes(folder: str | Path, where: str = "--gruneisen-reference"
                           ) -> tuple[PhononReference, PhononReference, PhononReference]:
    """The three phonopy data sets (orig, plus, minus) of a Grüneisen reference folder, checked to
    be one crystal at V+ > V0 > V-; ``where`` names the option or key in errors."""
    folder = Path(folder)
    if not folder.is_dir():
        raise GafitInputError(f"{where} {folder}: not a folder (expected one holding "
                              "orig/, plus/ and minus/, as phonopy-gruneisen takes)")
    refs = []
    for v in VOLUMES:
        if not (folder / v).is_dir():
            raise GafitInputError(f"{where} {folder}: no subfolder '{v}' (expected "
                                  "orig/, plus/ and minus/, each a phonopy data set)")
        ref = load_reference(folder / v)
        if ref.phonopy is None or ref.phonopy.force_constants is None:
            raise GafitInputError(f"{where} {folder / v}: not a phonopy data set with "
                                  "forces or force constants")
        refs.append(ref)
    vol = [r.phonopy.primitive.volume for r in refs]  # type: ignore[union-attr]
    if not vol[1] > vol[0] > vol[2]:
        raise GafitInputError(f"{where} {folder}: volumes orig {vol[0]:.4f}, plus "
                              f"{vol[1]:.4f}, minus {vol[2]:.4f} Å³ per primitive cell: need plus > "
                              "orig > minus")
    return refs[0], refs[1], refs[2]


def reference_at(folder: str | Path, ph0: Phonopy, qpoints: np.ndarray, where: str
                 ) -> tuple[tuple[float, float], np.ndarray, np.ndarray]:
    """A three-volume reference at reduced q-points of ``ph0``'s primitive basis: its volume ratios
    (V+/V0, V-/V0), and its frequencies (THz) and γ (n_q, n_modes) by phonopy
    (:func:`gruneisen_along`), checked to be ``ph0``'s crystal."""
    from gafit.phonons import _check_same_crystal

    r0, rp, rm = load_reference_volumes(folder, where)
    _check_same_crystal(r0, ph0)
    assert r0.phonopy is not None and rp.phonopy is not None and rm.phonopy is not None
    t = q_transform(ph0.primitive.cell, r0.phonopy.primitive.cell, str(folder))
    v0 = r0.phonopy.primitive.volume
    freq, gamma = gruneisen_along(r0.phonopy, rp.phonopy, rm.phonopy, [np.asarray(qpoints) @ t])
    return (rp.phonopy.primitive.volume / v0, rm.phonopy.primitive.volume / v0), freq, gamma


@dataclass
class GruneisenResult:
    """Mode Grüneisen parameters along a computed band (rows = ``band``'s q-points)."""

    band: Band
    strain: float  # volume strain s of the model: V0(1 ± s)
    frequencies: np.ndarray  # (n_q, n_modes) THz at V0
    gamma: np.ndarray  # (n_q, n_modes), NaN at |f| < MIN_FREQUENCY
    reference: Path | None = None
    reference_strain: float | None = None  # (V+ - V-)/(2 V0) of the reference
    reference_frequencies: np.ndarray | None = None
    reference_gamma: np.ndarray | None = None
    files: list[Path] = field(default_factory=list)

    def points(self) -> list[tuple[str, int]]:
        """(label, row) of each labelled point once, in path order."""
        seen: dict[str, int] = {}
        for k, lab in enumerate(self.band.labels):
            if lab and lab not in seen:
                seen[lab] = k
        return list(seen.items())

    def errors(self) -> tuple[float, float] | None:
        """RMS and largest |γ_gafit - γ_reference| over the path (modes with both defined)."""
        if self.reference_gamma is None:
            return None
        d = self.gamma - self.reference_gamma
        d = d[np.isfinite(d)]
        return float(np.sqrt(np.mean(d**2))), float(np.abs(d).max())

    def text(self, reference_name: str = "DFT") -> str:
        """A table of γ per mode at each labelled point (and the reference's, when given)."""
        lines = []
        for lab, k in self.points():
            g = " ".join(f"{x:7.3f}" for x in self.gamma[k])
            lines.append(f"  {lab:4s} gafit  {g}")
            if self.reference_gamma is not None:
                r = " ".join(f"{x:7.3f}" for x in self.reference_gamma[k])
                lines.append(f"  {'':4s} {reference_name:6s} {r}")
        err = self.errors()
        if err is not None:
            lines.append(f"  γ error over the path: RMS {err[0]:.4f}, largest {err[1]:.4f}")
        return "\n".join(lines)

    def summary(self) -> dict[str, Any]:
        def clean(row: np.ndarray) -> list[float | None]:
            return [round(float(x), 6) if np.isfinite(x) else None for x in row]

        out: dict[str, Any] = {
            "volume_strain": self.strain,
            "gamma": {file_label(lab): clean(self.gamma[k]) for lab, k in self.points()},
        }
        if self.reference_gamma is not None:
            err = self.errors()
            assert err is not None
            out |= {"reference": str(self.reference), "reference_volume_strain": self.reference_strain,
                    "reference_gamma": {file_label(lab): clean(self.reference_gamma[k])
                                        for lab, k in self.points()},
                    "rms_error": err[0], "max_abs_error": err[1]}
        return out


Volumes = tuple[PhononReference, PhononReference, PhononReference]


def gruneisen(potential: Potential, ph0: Phonopy, atoms: Atoms, band: Band, supercell: Any,
              strain: float = STRAIN, displacement: float = 0.01,
              reference: str | Path | Volumes | None = None) -> GruneisenResult:
    """Mode Grüneisen parameters of ``potential`` along ``band`` (computed on ``ph0``, the phonopy
    of ``atoms`` at V0), from force constants at V0(1 ± ``strain``); with ``reference`` (a folder
    with orig/, plus/, minus/ phonopy data sets, or those three as :func:`load_reference_volumes`
    read them) the DFT ones at the same q-points."""
    from gafit.phonons import _check_same_crystal

    check_strain(strain)
    refs = (load_reference_volumes(reference) if isinstance(reference, (str, Path))
            else reference)
    if refs is not None:
        _check_same_crystal(refs[0], ph0)
    dielectric = ph0.nac_params["dielectric"] if ph0.nac_params is not None else None
    plus, minus = strained_phonopys(potential, atoms, supercell, strain, displacement, dielectric)
    freq, gamma = gruneisen_along(ph0, plus, minus, band.path.segments)
    res = GruneisenResult(band, strain, freq, gamma)
    if refs is not None:
        r0, rp, rm = refs
        assert r0.phonopy is not None and rp.phonopy is not None and rm.phonopy is not None
        t = q_transform(ph0.primitive.cell, r0.phonopy.primitive.cell)
        res.reference = r0.source.parent.parent
        res.reference_strain = (rp.phonopy.primitive.volume - rm.phonopy.primitive.volume) / (
            2 * r0.phonopy.primitive.volume)
        res.reference_frequencies, res.reference_gamma = gruneisen_along(
            r0.phonopy, rp.phonopy, rm.phonopy, BandPath.transformed(band.path, t).segments)
    return res


def plot_gruneisen(res: GruneisenResult, title: str = "", name: str = "gafit",
                   reference_name: str = "DFT") -> Any:
    """Matplotlib figure of γ along the band path (dots; the reference as crosses)."""
    from matplotlib.figure import Figure

    fig = Figure(figsize=(7, 4.8))
    ax = fig.subplots()
    band = res.band
    x = band.distances
    for k in range(len(band.path.segments)):
        sel = band.segment == k
        for m in range(res.gamma.shape[1]):
            first = k == 0 and m == 0
            # markers, not lines: modes are sorted by frequency, so a line would jump where bands cross
            ax.plot(x[sel], res.gamma[sel, m], "o", color="C0", ms=2.2, label=name if first else None)
            if res.reference_gamma is not None:
                ax.plot(x[sel], res.reference_gamma[sel, m], "x", color="C3", ms=2.6,
                        label=reference_name if first else None)
    ticks, names = [], []
    for k, (a, b) in enumerate(band.path.labels):
        sel = np.flatnonzero(band.segment == k)
        if k == 0 or not band.path.connections[k - 1]:
            if ticks and abs(ticks[-1] - x[sel[0]]) < 1e-12:
                names[-1] = f"{names[-1]}|{a}"
            else:
                ticks.append(float(x[sel[0]]))
                names.append(a)
        ticks.append(float(x[sel[-1]]))
        names.append(b)
    for t in ticks:
        ax.axvline(t, color="0.6", lw=0.7)
    ax.axhline(0.0, color="0.6", lw=0.7, ls=":")
    ax.set_xticks(ticks, names)
    ax.set_xlim(float(x[0]), float(x[-1]))
    ax.set_ylabel("Mode Grüneisen parameter γ")
    ax.set_title(title, fontsize=10)
    ax.legend(loc="best", frameon=False)
    fig.tight_layout()
    return fig


def write_gruneisen_csv(res: GruneisenResult, path: str | Path) -> None:
    """``segment,from,to,q1..q3,distance,f1_THz..,gamma1..`` (and ``ref_gamma1..`` with a
    reference); empty cells where γ is undefined."""
    from gafit.io.atomic import atomic_write_text

    band, n = res.band, res.gamma.shape[1]
    cols = (["segment", "from", "to", "q1", "q2", "q3", "distance"] + [f"f{i + 1}_THz" for i in range(n)]
            + [f"gamma{i + 1}" for i in range(n)])
    if res.reference_gamma is not None:
        cols += [f"ref_gamma{i + 1}" for i in range(n)]
    lines = [f"# gafit phonons --gruneisen {res.strain}: mode Grueneisen parameters (phonopy), volumes "
             "V0(1 +- strain); q reduced in the primitive reciprocal basis; distance 1/Angstrom (no 2pi)",
             ",".join(cols)]
    fmt = (lambda x: f"{x:.6f}" if np.isfinite(x) else "")  # noqa: E731
    for k in range(len(band.qpoints)):
        a, b = band.path.labels[band.segment[k]]
        row = [str(band.segment[k]), file_label(a), file_label(b)]
        row += [f"{x:.8f}" for x in band.qpoints[k]] + [f"{band.distances[k]:.8f}"]
        row += [f"{x:.6f}" for x in res.frequencies[k]] + [fmt(x) for x in res.gamma[k]]
        if res.reference_gamma is not None:
            row += [fmt(x) for x in res.reference_gamma[k]]
        lines.append(",".join(row))
    atomic_write_text(path, "\n".join(lines) + "\n")


def write_gruneisen(res: GruneisenResult, out: str | Path, title: str = "", name: str = "gafit",
                    reference_name: str = "DFT") -> list[Path]:
    """gruneisen.csv, gruneisen.png/.pdf and gruneisen.json in ``out``; returns the paths."""
    from gafit.io import strict_json
    from gafit.io.atomic import atomic_batch, atomic_write, atomic_write_text

    out = Path(out)
    files = [out / "gruneisen.csv", out / "gruneisen.png", out / "gruneisen.pdf", out / "gruneisen.json"]
    with atomic_batch():
        write_gruneisen_csv(res, files[0])
        fig = plot_gruneisen(res, title, name, reference_name)
        for f in files[1:3]:
            atomic_write(f, lambda tmp, f=f: fig.savefig(tmp, dpi=150, format=f.suffix[1:]))
        atomic_write_text(files[3], strict_json.dumps(res.summary(), indent=2, ensure_ascii=False) + "\n")
    res.files = files
    return files
