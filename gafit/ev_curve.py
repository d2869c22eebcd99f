"""Energy–volume curves of a potential against DFT frames of one crystal scaled uniformly.

The potential is evaluated on the DFT cells themselves (no relaxation: uniformly scaled cells of a
crystal whose positions are fixed by symmetry, such as diamond or fcc, need none). DFT total energies
and a potential's energies have different zeros, so the potential's curve is shifted by the constant
that minimises the RMS difference (the mean difference); the RMS left measures the shape of E(V).
Both curves are fitted with the same Birch–Murnaghan equation of state (ase.eos) for V0, a0 and B.

Units: volumes Å³/atom, energies eV/atom, lattice constants Å, B GPa.
"""

from __future__ import annotations

import math
import warnings
from dataclasses import dataclass
from typing import Any

import numpy as np
from ase import Atoms

from gafit.potential import Potential
from gafit.structures import GafitInputError

__all__ = ["EVComparison", "compare_ev", "fit_eos", "uniform_scaling"]

#: largest relative deviation of a frame's cell, or fractional coordinate, from a uniform scaling
SCALING_TOL = 1e-4


@dataclass
class EVComparison:
    """E(V) of the DFT frames and of the potential on the same cells (energies eV/atom; the
    potential's shifted by ``shift``), RMS of the difference, and each curve's EOS fit."""

    volumes: np.ndarray  # Å³/atom, increasing
    dft: np.ndarray  # eV/atom
    potential: np.ndarray  # eV/atom, shifted: potential's own energies + shift
    shift: float  # eV/atom added to the potential's energies
    rms: float  # eV/atom
    eos_dft: dict[str, float | None]  # V0 (Å³/atom), a0 (Å, cubic only), B (GPa)
    eos_potential: dict[str, float | None]

    def to_dict(self) -> dict[str, Any]:
        return {"volumes": self.volumes.tolist(), "dft": self.dft.tolist(),
                "potential": self.potential.tolist(), "shift": self.shift, "rms": self.rms,
                "eos_dft": self.eos_dft, "eos_potential": self.eos_potential}


def uniform_scaling(frames: list[Atoms], where: str) -> np.ndarray:
    """Linear scale factor of each frame relative to the first; a frame that is not the first
    scaled uniformly (other cell shape, atoms moved, other species) is an error naming it."""
    if len(frames) < 5:
        raise GafitInputError(f"{where}: {len(frames)} frames; an E–V curve needs at least 5")
    first = frames[0]
    cell0 = np.array(first.cell)
    frac0 = first.get_scaled_positions(wrap=False)
    scales = []
    for k, atoms in enumerate(frames):
        s = (atoms.get_volume() / first.get_volume()) ** (1.0 / 3.0)
        dfrac = atoms.get_scaled_positions(wrap=False) - frac0
        same = (len(atoms) == len(first) and atoms.get_chemical_symbols() == first.get_chemical_symbols()
                and np.allclose(np.array(atoms.cell), s * cell0, rtol=0,
                                atol=SCALING_TOL * s * np.abs(cell0).max())
                and np.abs(dfrac - np.round(dfrac)).max() <= SCALING_TOL)
        if not same:
            raise GafitInputError(f"{where}: frame {k} is not frame 0 scaled uniformly (cell shape, "
                                  "species or fractional positions differ); an E–V check needs one crystal "
                                  "at several volumes")
        scales.append(s)
    return np.array(scales)


def _conventional_atoms(atoms: Atoms) -> int | None:
    """Atoms in the conventional cubic cell of ``atoms`` (None when it is not cubic)."""
    from gafit.properties import _is_cubic, conventional_cell

    if not _is_cubic(atoms):
        return None
    return len(conventional_cell(atoms))


def fit_eos(volumes: np.ndarray, energies: np.ndarray, n_conventional: int | None) -> dict[str, float | None]:
    """Birch–Murnaghan V0 (Å³/atom), E0 (eV/atom), B (GPa) and, for a cubic crystal with
    ``n_conventional`` atoms per conventional cell, a0 (Å); None where the fit fails."""
    from ase.eos import EquationOfState
    from ase.units import GPa

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        try:
            v0, e0, b = EquationOfState(volumes, energies, eos="birchmurnaghan").fit()
        except Exception:  # ASE raises several kinds on a bad fit
            return {"V0": None, "E0": None, "B": None, "a0": None}
    ok = math.isfinite(v0) and volumes.min() <= v0 <= volumes.max()
    if not ok:  # a minimum outside the frames' range is an extrapolation, not a result
        return {"V0": None, "E0": None, "B": None, "a0": None}
    a0 = float((v0 * n_conventional) ** (1.0 / 3.0)) if n_conventional else None
    return {"V0": float(v0), "E0": float(e0), "B": float(b / GPa), "a0": a0}


def compare_ev(potential: Potential, frames: list[Atoms], where: str) -> EVComparison:
    """The potential's E(V) on the cells of ``frames`` (DFT energies in the frames) against DFT."""
    from gafit.calculator import predict_atoms

    uniform_scaling(frames, where)
    try:
        e_dft = np.array([a.get_potential_energy() for a in frames], dtype=float)
    except Exception:  # ASE raises when a frame has no energy
        raise GafitInputError(f"{where}: a frame has no energy") from None
    n = len(frames[0])
    v = np.array([a.get_volume() for a in frames]) / n
    order = np.argsort(v)
    e_pot, _, _ = predict_atoms(potential, [frames[k] for k in order])
    v, e_dft, e_pot = v[order], e_dft[order] / n, np.asarray(e_pot, dtype=float) / n
    shift = float(np.mean(e_dft - e_pot))
    rms = float(np.sqrt(np.mean((e_pot + shift - e_dft) ** 2)))
    n_conv = _conventional_atoms(frames[0])
    return EVComparison(v, e_dft, e_pot + shift, shift, rms, fit_eos(v, e_dft, n_conv),
                        fit_eos(v, e_pot + shift, n_conv))


def _fmt_eos(eos: dict[str, float | None]) -> str:
    parts = [f"a0 {eos['a0']:.4f} Å" if eos.get("a0") else
             (f"V0 {eos['V0']:.3f} Å³/atom" if eos.get("V0") else "no minimum in range"),
             f"B {eos['B']:.0f} GPa" if eos.get("B") else ""]
    return ", ".join(p for p in parts if p)


def plot_ev(ev: EVComparison, title: str = "", name: str = "potential") -> Any:
    """Matplotlib figure: E − E_min(DFT) against volume, DFT points and the shifted potential."""
    from matplotlib.figure import Figure  # no pyplot: the caller's backend is left alone

    fig = Figure(figsize=(7, 4.8))
    ax = fig.subplots()
    e_min = float(ev.dft.min())
    ax.plot(ev.volumes, ev.dft - e_min, "o", color="C3", ms=5, label=f"DFT ({_fmt_eos(ev.eos_dft)})")
    ax.plot(ev.volumes, ev.potential - e_min, "-", color="C0", lw=1.5,
            label=f"{name} ({_fmt_eos(ev.eos_potential)})")
    ax.set_xlabel("volume (Å³/atom)")
    ax.set_ylabel("E − E_min(DFT) (eV/atom)")
    ax.set_title(f"{title}\nRMS {1000 * ev.rms:.1f} meV/atom after a shift of {ev.shift:+.4f} eV/atom",
                 fontsize=10)
    ax.legend(loc="upper center", frameon=False, fontsize=8)
    fig.tight_layout()
    return fig
