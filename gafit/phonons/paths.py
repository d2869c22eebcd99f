"""Band paths through the Brillouin zone (a table of high-symmetry points per lattice type), phonopy's
band structure along them and its CSV. q reduced in the primitive reciprocal basis, distances in 1/Å
without 2π, frequencies in THz."""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from ase import Atoms
from phonopy import Phonopy

from gafit.phonons.symmetry import lattice_type
from gafit.structures import GafitInputError

#: q-points per band segment, end points included
NPOINTS = 51


#: high-symmetry points (reduced, phonopy's primitive reciprocal basis; Setyawan & Curtarolo 2010)
POINTS: dict[str, dict[str, tuple[float, float, float]]] = {
    "cF": {"Γ": (0, 0, 0), "X": (0.5, 0, 0.5), "W": (0.5, 0.25, 0.75), "K": (0.375, 0.375, 0.75),
           "L": (0.5, 0.5, 0.5), "U": (0.625, 0.25, 0.625)},
    "cI": {"Γ": (0, 0, 0), "H": (0.5, -0.5, 0.5), "N": (0, 0, 0.5), "P": (0.25, 0.25, 0.25)},
    "cP": {"Γ": (0, 0, 0), "X": (0, 0.5, 0), "M": (0.5, 0.5, 0), "R": (0.5, 0.5, 0.5)},
    "hP": {"Γ": (0, 0, 0), "A": (0, 0, 0.5), "H": (1 / 3, 1 / 3, 0.5), "K": (1 / 3, 1 / 3, 0),
           "L": (0.5, 0, 0.5), "M": (0.5, 0, 0)},
}
#: ``--path auto`` per lattice type (fcc: Γ X W K L, every distinct point of the zone; U is K)
AUTO_PATHS = {"cF": "GXWKGL", "cI": "GHNGPH|PN", "cP": "GXMGRX|MR", "hP": "GMKGALHA|LM|KH"}
#: adjacent letters naming equivalent points: a path jumps between them (GXUKGL = Γ-X-U|K-Γ-L)
EQUIVALENT = {"cF": {("U", "K"), ("K", "U")}}
LATTICE_NAMES = {"cF": "face-centred cubic", "cI": "body-centred cubic", "cP": "simple cubic",
                 "hP": "hexagonal"}
_GAMMA = {"G", "Γ", "GAMMA", "$\\GAMMA$", "\\GAMMA", "GM"}
#: joins the labels of one point of the zone named twice on a path (fcc: 'U≡K')
SAME = "≡"


def canonical_label(label: str) -> str:
    """'Γ' for any spelling of Gamma (G, Gamma, $\\Gamma$, Γ); other labels unchanged."""
    s = str(label).strip()
    return "Γ" if s.upper() in _GAMMA else s


def file_label(label: str) -> str:
    """Γ as 'Gamma' and ≡ (equivalent points, e.g. 'U≡K') as '=' for CSV files."""
    return "=".join("Gamma" if part == "Γ" else part for part in label.split(SAME))


@dataclass
class BandPath:
    """Segments of reduced q-points (each (n_k, 3), end points included), their end labels, and
    whether each segment continues into the next (phonopy's ``path_connections``)."""

    segments: list[np.ndarray]
    labels: list[tuple[str, str]]
    connections: list[bool]

    def phonopy_labels(self) -> list[str]:
        out: list[str] = []
        for k, (a, b) in enumerate(self.labels):
            if k == 0 or not self.connections[k - 1]:
                out.append(a)
            out.append(b)
        return ["$\\Gamma$" if x == "Γ" else x for x in out]

    def point_labels(self) -> list[str]:
        """One label per q-point ('' inside segments)."""
        out: list[str] = []
        for seg, (a, b) in zip(self.segments, self.labels, strict=True):
            lab = [""] * len(seg)
            lab[0], lab[-1] = a, b
            out += lab
        return out

    @property
    def qpoints(self) -> np.ndarray:
        return np.concatenate(self.segments)

    def transformed(self, t: np.ndarray) -> BandPath:
        """The same path with q-points mapped q -> q @ t."""
        return BandPath([s @ t for s in self.segments], list(self.labels), list(self.connections))


def parse_path(spec: str, ltype: str, where: str = "--path") -> list[list[str]]:
    """Runs of point names from a letter string ('GXU|KGL'; '|' or ',' breaks the path)."""
    points = POINTS[ltype]
    runs: list[list[str]] = []
    for part in re.split(r"[|,]", spec.replace(" ", "")):
        run: list[str] = []
        for ch in part:
            name = canonical_label(ch)
            if name not in points:
                known = ", ".join("G (Γ)" if p == "Γ" else p for p in points)
                raise GafitInputError(f"{where} '{spec}': unknown point '{ch}' for a "
                                      f"{LATTICE_NAMES[ltype]} lattice; known points: {known}")
            if run and (run[-1], name) in EQUIVALENT.get(ltype, ()):
                runs.append(run)
                run = []
            run.append(name)
        runs.append(run)
    for run in runs:
        if len(run) < 2:
            raise GafitInputError(f"{where} '{spec}': each part of the path needs at least two "
                                  f"points ({''.join(run) or 'an empty part'} stands alone)")
    return runs


def band_path(ph_or_atoms: Phonopy | Atoms, spec: str = "auto", npoints: int = NPOINTS) -> BandPath:
    """A band path for the lattice of a phonopy object's unit cell (or of ``atoms``).

    ``spec`` is ``"auto"`` (the standard path of the table for fcc/diamond, bcc, simple cubic and
    hexagonal lattices; seekpath is not used: its paths refer to its own primitive setting) or
    letters naming points of the table, e.g. ``"GXUKGL"``; ``|`` marks a break.
    """
    from phonopy.phonon.band_structure import get_band_qpoints_and_path_connections

    cell = ph_or_atoms.unitcell if isinstance(ph_or_atoms, Phonopy) else ph_or_atoms
    ltype, sg = lattice_type(cell)
    if ltype not in POINTS:
        raise GafitInputError(
            f"--path {spec}: gafit's path table covers fcc/diamond/rocksalt, bcc, simple cubic and "
            f"hexagonal lattices; this structure is {sg}, lattice type {ltype}: give a band.yaml or "
            "CSV --reference, whose q-points are then used")
    text = AUTO_PATHS[ltype] if spec.strip().lower() == "auto" else spec
    runs = parse_path(text, ltype)
    ends = [[POINTS[ltype][p] for p in run] for run in runs]
    segs, conn = get_band_qpoints_and_path_connections(ends, npoints=npoints)
    labels = [(a, b) for run in runs for a, b in zip(run[:-1], run[1:], strict=True)]
    return BandPath([np.asarray(s, float) for s in segs], labels, list(conn))


@dataclass
class Band:
    """A computed band structure: per q-point reduced q, segment, distance (1/Å, no 2π), sorted
    frequencies (THz) and label ('' inside segments)."""

    path: BandPath
    qpoints: np.ndarray
    segment: np.ndarray
    distances: np.ndarray
    frequencies: np.ndarray
    labels: list[str]


def run_band(ph: Phonopy, path: BandPath) -> Band:
    """Phonopy's band structure along ``path`` (reduced q of ph's primitive cell)."""
    ph.run_band_structure(path.segments, path_connections=path.connections,
                          labels=path.phonopy_labels())
    bs = ph.band_structure
    seg = np.concatenate([np.full(len(s), k) for k, s in enumerate(path.segments)])
    return Band(path=path, qpoints=np.concatenate(bs.qpoints), segment=seg,
                distances=np.concatenate(bs.distances),
                frequencies=np.sort(np.concatenate(bs.frequencies), axis=1),
                labels=path.point_labels())


def write_band_csv(band: Band, path: str | Path, extra: dict[str, np.ndarray] | None = None,
                   note: str = "") -> None:
    """``segment,from,to,q1,q2,q3,distance,f1_THz..`` (the layout of the shared dft_phonon_band.csv),
    then the ``extra`` columns (name -> (n_q, k) values, written NAME1..NAMEk in that unit);
    ``note`` goes into the comment line."""
    from gafit.io.atomic import atomic_write_text

    n = band.frequencies.shape[1]
    extra = extra or {}
    head = ["segment", "from", "to", "q1", "q2", "q3", "distance"] + [f"f{i + 1}_THz" for i in range(n)]
    for name, v in extra.items():
        stem, _, unit = name.partition("_")
        head += [f"{stem}{i + 1}_{unit}" if unit else f"{stem}{i + 1}" for i in range(v.shape[1])]
    lines = [f"# gafit phonons{note}: q reduced in the primitive reciprocal basis; distance in "
             "1/Angstrom (no 2pi); frequencies in THz", ",".join(head)]
    for k in range(len(band.qpoints)):
        a, b = band.path.labels[band.segment[k]]
        row = [str(band.segment[k]), file_label(a), file_label(b)]
        row += [f"{x:.8f}" for x in band.qpoints[k]] + [f"{band.distances[k]:.8f}"]
        row += [f"{x:.6f}" for x in band.frequencies[k]]
        for v in extra.values():
            row += [f"{x:.6f}" for x in v[k]]
        lines.append(",".join(row))
    atomic_write_text(path, "\n".join(lines) + "\n")
