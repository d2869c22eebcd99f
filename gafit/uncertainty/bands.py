"""An ensemble's spread carried to the phonon dispersion (``gafit phonons --ensemble``): every
member's potential through the same relaxation and phonopy finite displacements as the fitted one,
its frequencies on the same band path, and per q-point and band the members' mean and standard
deviation (THz). Bands are sorted frequencies at each q-point (as phonopy and ``band.csv`` give
them), so a band's spread is that of its rank, not of a followed branch across crossings."""

from __future__ import annotations

import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from gafit import crystals
from gafit.phonons.harmonic import make_phonopy
from gafit.phonons.paths import Band, file_label, run_band, write_band_csv
from gafit.potential import Potential
from gafit.structures import GafitInputError
from gafit.uncertainty.propagate import member_thetas


@dataclass
class BandSpread:
    """The members' mean and std (n_q, n_modes; THz, std with N - 1) of the sorted frequencies on
    ``band``'s path (the fitted potential's band), over ``members`` members; ``failed`` members
    could not be computed (their relaxation failed: the reasons in ``errors``)."""

    band: Band
    mean: np.ndarray
    std: np.ndarray
    members: int
    failed: int = 0
    errors: list[str] | None = None

    def at_points(self) -> dict[str, dict[str, list[float]]]:
        """Per labelled point (first occurrence): the fitted, mean and std frequencies (THz)."""
        out: dict[str, dict[str, list[float]]] = {}
        for k, lab in enumerate(self.band.labels):
            if lab and file_label(lab) not in out:
                out[file_label(lab)] = {
                    "fitted": [round(float(v), 6) for v in self.band.frequencies[k]],
                    "mean": [round(float(v), 6) for v in self.mean[k]],
                    "std": [round(float(v), 6) for v in self.std[k]]}
        return out

    def text(self) -> str:
        """Lines '  X  f ± σ ...  THz' at each labelled point and the largest σ on the path."""
        lines = [f"ensemble band ({self.members} members"
                 + (f", {self.failed} failed" if self.failed else "") + "): mean ± std, THz"]
        shown: set[str] = set()
        for k, lab in enumerate(self.band.labels):
            if lab and lab not in shown:  # as gafit phonons prints the fitted frequencies
                shown.add(lab)
                lines.append(f"  {lab:4s} " + " ".join(
                    f"{m:7.3f} ± {s:.3f}" for m, s in zip(self.mean[k], self.std[k], strict=True)))
        k, m = np.unravel_index(int(np.argmax(self.std)), self.std.shape)
        lines.append(f"largest std {self.std[k, m]:.4g} THz (band {m + 1} at q = "
                     f"{np.round(self.band.qpoints[k], 4).tolist()}); RMS std over the path "
                     f"{float(np.sqrt(np.mean(self.std ** 2))):.4g} THz")
        return "\n".join(lines)

    def to_dict(self) -> dict[str, Any]:
        """For a JSON record: the path (segments, labels, distances) and the three arrays."""
        return {"members": self.members, "failed": self.failed, "errors": self.errors or [],
                "labels": [list(p) for p in self.band.path.labels],
                "connections": list(self.band.path.connections),
                "segment": self.band.segment.tolist(), "distances": self.band.distances.tolist(),
                "qpoints": self.band.qpoints.tolist(),
                "fitted": self.band.frequencies.tolist(), "mean": self.mean.tolist(),
                "std": self.std.tolist(), "units": {"frequency": "THz", "distance": "1/Å (no 2π)"}}


def member_frequencies(member: Potential, structure: Any, supercell: Any, band: Band, relax: bool,
                       displacement: float, dielectric: np.ndarray | None) -> np.ndarray:
    """Sorted frequencies (n_q, n_modes, THz) of one member on ``band``'s path: the crystal
    relaxed with the member when ``relax`` (from ``structure``, the fitted potential's cell; the
    space group kept, so the path's reduced q-points stay the same points)."""
    atoms = crystals.relax(member, structure).atoms if relax else structure
    ph = make_phonopy(member, atoms, supercell, displacement, dielectric=dielectric)
    return run_band(ph, band.path).frequencies


def band_spread(potential: Potential, names: list[str], values: np.ndarray, result: Any,
                supercell: Any, relax: bool = True, displacement: float = 0.01,
                progress: bool = True) -> BandSpread:
    """The spread of the dispersion of ``result`` (the fitted potential's
    :class:`gafit.phonons.report.PhononResult`) over the ensemble members ``values`` (N, k) of
    the named parameters ``names``; the non-analytic term (if the fitted one had it) kept."""
    thetas = member_thetas(potential, names, values)
    dielectric = (np.asarray(result.nac["epsilon_inf"], float) if result.nac.get("model")
                  else None)
    freqs, errors = [], []
    bar = None
    if progress:
        from tqdm import tqdm

        bar = tqdm(total=len(thetas), desc="ensemble phonons", unit="member", file=sys.stderr,
                   dynamic_ncols=True, mininterval=0.5)
    try:
        for k, theta in enumerate(thetas):
            try:
                freqs.append(member_frequencies(potential.with_values(theta), result.structure,
                                                supercell, result.band, relax, displacement,
                                                dielectric))
            except GafitInputError as err:
                errors.append(f"member {k + 1}: {err}")
            if bar is not None:
                bar.update()
    finally:
        if bar is not None:
            bar.close()
    if len(freqs) < 2:
        raise GafitInputError(f"--ensemble: {len(freqs)} of {len(thetas)} members gave phonons "
                              f"(need 2){': ' + errors[0] if errors else ''}")
    f = np.array(freqs)
    return BandSpread(result.band, f.mean(axis=0), f.std(axis=0, ddof=1), len(freqs),
                      len(errors), errors)


def write_band_spread_csv(spread: BandSpread, path: str | Path) -> None:
    """``band_ensemble.csv``: band.csv's columns (the fitted potential's frequencies), then per
    band the members' mean and std (THz)."""
    write_band_csv(spread.band, path, {"mean_THz": spread.mean, "std_THz": spread.std},
                   f" --ensemble ({spread.members} members)")
