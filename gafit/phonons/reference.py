"""Reference phonons read with phonopy: phonopy data sets (phonopy_disp.yaml, phonopy.yaml, disp.yaml,
FORCE_SETS) or frequencies at fixed q-points (band.yaml, qpoints.yaml, mesh.yaml, a YAML list of points,
CSV), the cells a calculation against them uses, and q-points between two primitive cells. THz."""

from __future__ import annotations

import csv
import warnings
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
from ase import Atoms
from phonopy import Phonopy

from gafit.crystals import read_structure
from gafit.phonons.harmonic import frequencies_at, supercell_matrix, to_ase_atoms, to_phonopy_atoms
from gafit.phonons.paths import BandPath, canonical_label
from gafit.structures import GafitInputError


@dataclass
class PhononReference:
    """Reference phonons: a phonopy data set (frequencies at any q), or fixed q-points with
    frequencies (band.yaml, CSV). q reduced in the reference's primitive reciprocal basis, THz."""

    source: Path
    kind: str  # "phonopy", "disp.yaml", "FORCE_SETS", "band.yaml", "points" or "csv"
    qpoints: np.ndarray | None = None  # (n_q, 3)
    frequencies: np.ndarray | None = None  # (n_q, n_modes) THz, sorted
    labels: list[str] = field(default_factory=list)  # per q-point, '' if none
    segment: np.ndarray | None = None  # (n_q,) segment index of each q-point
    lattice: np.ndarray | None = None  # primitive cell, rows, Å (None for CSV)
    symbols: list[str] | None = None  # of the primitive cell (None for CSV)
    phonopy: Phonopy | None = None

    @property
    def n_modes(self) -> int:
        if self.phonopy is not None:
            return 3 * len(self.phonopy.primitive)
        assert self.frequencies is not None
        return self.frequencies.shape[1]

    def frequencies_at(self, qpoints: np.ndarray | Sequence[Sequence[float]],
                       directions: np.ndarray | None = None) -> np.ndarray:
        """Sorted frequencies (n_q, n_modes) THz at reduced q (a phonopy data set with NAC: Γ along
        ``directions``, see :func:`frequencies_at`); fixed-q references must contain them."""
        q = np.atleast_2d(np.asarray(qpoints, float))
        if self.phonopy is not None:
            return frequencies_at(self.phonopy, q, directions)
        assert self.qpoints is not None and self.frequencies is not None
        out = np.empty((len(q), self.n_modes))
        for i, qi in enumerate(q):
            hit = np.flatnonzero(np.abs(self.qpoints - qi).max(axis=1) < 1e-6)
            if not len(hit):
                raise GafitInputError(f"{self.source}: no q-point {np.round(qi, 6).tolist()}")
            out[i] = self.frequencies[hit[0]]
        return out

    def path(self) -> BandPath:
        """The reference's own q-points as a band path (segments, end labels, connections)."""
        assert self.qpoints is not None
        seg = self.segment if self.segment is not None else np.zeros(len(self.qpoints), int)
        starts = np.flatnonzero(np.r_[True, seg[1:] != seg[:-1]])
        bounds = list(zip(starts, [*starts[1:], len(seg)], strict=True))
        segs = [self.qpoints[a:b] for a, b in bounds]
        labels = [(self.labels[a] if self.labels else "", self.labels[b - 1] if self.labels else "")
                  for a, b in bounds]
        conn = [bool(np.allclose(segs[k][-1], segs[k + 1][0], atol=1e-6)) for k in range(len(segs) - 1)]
        return BandPath(segs, labels, [*conn, False])


def _beside(path: Path, names: Sequence[str]) -> Path | None:
    return next((path.parent / n for n in names if (path.parent / n).exists()), None)


def _load_yaml(path: Path) -> Any:
    import yaml

    loader = getattr(yaml, "CSafeLoader", yaml.SafeLoader)
    try:
        return yaml.load(path.read_text(encoding="utf-8", errors="replace"), Loader=loader)
    except yaml.YAMLError as err:
        mark = getattr(err, "problem_mark", None)
        where = f" line {mark.line + 1}, column {mark.column + 1}" if mark else ""
        raise GafitInputError(f"{path}{where}: not valid YAML ({getattr(err, 'problem', err)})") from None


#: unit-cell files looked for beside an old-style disp.yaml (phonopy's usual names)
UNITCELL_FILES = ("POSCAR-unitcell", "POSCAR", "geometry.in", "unitcell.in")


def _phonopy_load(path: Path, kind: str, **kwargs: Any) -> PhononReference:
    """phonopy.load(**kwargs) with BORN beside ``path`` (non-analytical correction, as phonopy does),
    as a reference of ``kind``; errors name ``path``."""
    import phonopy

    born = _beside(path, ["BORN"])
    if born is not None:
        kwargs["born_filename"] = str(born)
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            ph = phonopy.load(log_level=0, **kwargs)
    except Exception as err:
        msg = " ".join(str(err).split()) or type(err).__name__
        raise GafitInputError(f"{path}: phonopy cannot load it ({msg})") from None
    if ph.force_constants is None:
        raise GafitInputError(f"{path}: phonopy found no forces or force constants for it")
    return PhononReference(source=path, kind=kind, lattice=np.array(ph.primitive.cell),
                           symbols=list(ph.primitive.symbols), phonopy=ph)


def _load_phonopy_reference(path: Path, data: dict) -> PhononReference:
    kwargs: dict[str, Any] = {}
    fsets = _beside(path, ["FORCE_SETS"])
    fcs = _beside(path, ["FORCE_CONSTANTS", "force_constants.hdf5"])
    has_data = "force_constants" in data or any(
        "forces" in d for d in (data.get("displacements") or []) if isinstance(d, dict))
    if fsets is not None:
        kwargs["force_sets_filename"] = str(fsets)
    elif fcs is not None:
        kwargs["force_constants_filename"] = str(fcs)
    elif not has_data:
        raise GafitInputError(f"{path}: a phonopy data set needs FORCE_SETS or force constants "
                              "(FORCE_CONSTANTS, force_constants.hdf5) beside it, or in the file")
    return _phonopy_load(path, "phonopy", phonopy_yaml=str(path), **kwargs)


def _load_force_sets(path: Path, unitcell: Atoms | None, supercell: Any) -> PhononReference:
    """A bare FORCE_SETS: the unit cell and supercell it was computed with must be given."""
    if unitcell is None or supercell is None:
        setup = _beside(path, ["phonopy_disp.yaml", "phonopy.yaml", "disp.yaml"])
        hint = f" (or use {setup.name} beside it as the reference)" if setup is not None else ""
        raise GafitInputError(
            f"{path}: a bare FORCE_SETS needs the unit cell and the supercell it was computed with: "
            "give structure = \"POSCAR\" and supercell = [2, 2, 2] in [phonons] (gafit phonons: "
            f"--structure and --supercell){hint}")
    return _phonopy_load(path, "FORCE_SETS", unitcell=to_phonopy_atoms(unitcell),
                         supercell_matrix=supercell_matrix(supercell), primitive_matrix="auto",
                         force_sets_filename=str(path))


def _load_disp_yaml(path: Path, unitcell: Atoms | None, supercell: Any) -> PhononReference:
    """Older phonopy's disp.yaml (the supercell and its displacements) with FORCE_SETS beside it;
    the unit cell is ``unitcell`` or a POSCAR-unitcell (POSCAR, geometry.in) beside it, the
    supercell matrix ``supercell`` or the one relating the two cells."""
    from phonopy.file_IO import parse_disp_yaml

    fsets = _beside(path, ["FORCE_SETS"])
    if fsets is None:
        raise GafitInputError(f"{path}: an old-style disp.yaml needs the forces in FORCE_SETS beside it")
    try:
        _, cell = parse_disp_yaml(str(path), return_cell=True)
    except Exception as err:
        raise GafitInputError(f"{path}: not a phonopy disp.yaml ({' '.join(str(err).split())})") from None
    if unitcell is None:
        found = _beside(path, UNITCELL_FILES)
        if found is None:
            raise GafitInputError(
                f"{path}: an old-style disp.yaml holds only the supercell: give its unit cell "
                "(structure = \"POSCAR-unitcell\" in [phonons]; gafit phonons: --structure) or put "
                f"one of {', '.join(UNITCELL_FILES)} beside it")
        unitcell = read_structure(found, f"{path}: unit cell")
    if supercell is None:  # phonopy: supercell lattice (rows) = M^T @ unit-cell lattice
        m = (np.array(cell.cell) @ np.linalg.inv(np.array(unitcell.cell))).T
        if np.abs(m - np.round(m)).max() > 1e-3 or round(abs(np.linalg.det(m))) < 1:
            raise GafitInputError(f"{path}: its supercell is not an integer multiple of the unit cell "
                                  f"{len(unitcell)} atoms; give supercell = [...] ([phonons]) or "
                                  "--supercell")
        supercell = np.round(m).astype(int)
    ref = _phonopy_load(path, "disp.yaml", unitcell=to_phonopy_atoms(unitcell),
                        supercell_matrix=supercell_matrix(supercell), primitive_matrix="auto",
                        force_sets_filename=str(fsets))
    built = ref.phonopy.supercell  # type: ignore[union-attr]
    same = (len(built) == len(cell) and list(built.symbols) == list(cell.symbols)
            and np.allclose(built.cell, cell.cell, atol=1e-5))
    if same:
        d = np.array(built.scaled_positions) - np.array(cell.scaled_positions)
        same = np.abs(d - np.round(d)).max() < 1e-5
    if not same:
        raise GafitInputError(f"{path}: the supercell built from the unit cell ({len(built)} atoms) "
                              "is not the one of disp.yaml (atom by atom): not the cell it was made from")
    return ref


def _load_band_yaml(path: Path, data: dict) -> PhononReference:
    """phonopy's band.yaml (segments of a path), or qpoints.yaml / mesh.yaml (separate q-points)."""
    try:
        pts = data["phonon"]
        q = np.array([p["q-position"] for p in pts], float)
        f = np.sort(np.array([[b["frequency"] for b in p["band"]] for p in pts], float), axis=1)
        counts = data.get("segment_nqpoint")
        seg = np.repeat(np.arange(len(counts)), counts) if counts else np.arange(len(q))
        lattice = None
        if "lattice" in data:
            lattice = np.array(data["lattice"], float)
        elif "reciprocal_lattice" in data:  # rows b_i with a_i . b_j = delta_ij (no 2 pi)
            lattice = np.linalg.inv(np.array(data["reciprocal_lattice"], float)).T
        symbols = [p["symbol"] for p in data["points"]] if "points" in data else None
    except (KeyError, TypeError, ValueError, np.linalg.LinAlgError) as err:
        raise GafitInputError(f"{path}: not a phonopy band.yaml, qpoints.yaml or mesh.yaml "
                              f"({type(err).__name__}: {err})") from None
    if len(seg) != len(q):
        raise GafitInputError(f"{path}: segment_nqpoint adds up to {len(seg)}, not {len(q)} q-points")
    labels = [""] * len(q)
    starts = np.flatnonzero(np.r_[True, seg[1:] != seg[:-1]])
    ends = [*(starts[1:] - 1), len(q) - 1]
    for k, (a, b) in enumerate(data.get("labels") or []):
        labels[starts[k]], labels[ends[k]] = canonical_label(a), canonical_label(b)
    return PhononReference(source=path, kind="band.yaml", qpoints=q, frequencies=f, labels=labels,
                           segment=seg, lattice=lattice, symbols=symbols)


def _load_points_yaml(path: Path, data: dict) -> PhononReference:
    """A YAML list ``points`` of {name, q_reduced_primitive, frequencies_THz}, with optional
    ``primitive_cell_angstrom`` and ``primitive_symbols`` (like dft_phonon_frequencies.yaml)."""
    try:
        pts = data["points"]
        q = np.array([p["q_reduced_primitive"] for p in pts], float).reshape(len(pts), 3)
        f = np.sort(np.array([p["frequencies_THz"] for p in pts], float), axis=1)
        labels = [canonical_label(p.get("name", "")) for p in pts]
        cell = data.get("primitive_cell_angstrom")
        lattice = np.array(cell, float).reshape(3, 3) if cell is not None else None
        symbols = data.get("primitive_symbols")
    except (KeyError, TypeError, ValueError) as err:
        raise GafitInputError(f"{path}: points need q_reduced_primitive and frequencies_THz "
                              f"({type(err).__name__}: {err})") from None
    if f.ndim != 2:
        raise GafitInputError(f"{path}: every point needs the same number of frequencies_THz")
    return PhononReference(source=path, kind="points", qpoints=q, frequencies=f, labels=labels,
                           segment=np.arange(len(q)), lattice=lattice,
                           symbols=list(symbols) if symbols is not None else None)


def _load_csv_reference(path: Path) -> PhononReference:
    rows: list[tuple[int, list[str]]] = []
    header: list[str] | None = None
    with path.open(newline="", encoding="utf-8", errors="replace") as fh:
        for n, row in enumerate(csv.reader(fh), 1):
            if not row or row[0].lstrip().startswith("#"):
                continue
            if header is None:
                header = [c.strip() for c in row]
            else:
                rows.append((n, row))
    if header is None or not rows:
        raise GafitInputError(f"{path}: no data rows")
    col = {c: i for i, c in enumerate(header)}
    fcols = []
    for i in range(1, len(header) + 1):
        name = next((c for c in (f"f{i}", f"f{i}_THz") if c in col), None)
        if name is None:
            break
        fcols.append(col[name])
    missing = [c for c in ("q1", "q2", "q3") if c not in col] + ([] if fcols else ["f1 (or f1_THz)"])
    if missing:
        raise GafitInputError(f"{path}: missing columns {', '.join(missing)} (need q1,q2,q3 and "
                              "f1..fn in THz)")
    q, f, seg, ends = [], [], [], []
    for n, row in rows:
        if len(row) != len(header):
            raise GafitInputError(f"{path} line {n}: {len(row)} values for {len(header)} columns")
        try:
            q.append([float(row[col[c]]) for c in ("q1", "q2", "q3")])
            f.append([float(row[i]) for i in fcols])
            seg.append(int(row[col["segment"]]) if "segment" in col else 0)
        except ValueError as err:
            raise GafitInputError(f"{path} line {n}: {err}") from None
        ends.append((row[col["from"]], row[col["to"]]) if "from" in col and "to" in col else ("", ""))
    seg_a = np.array(seg)
    first = np.r_[True, seg_a[1:] != seg_a[:-1]]
    last = np.r_[seg_a[1:] != seg_a[:-1], True]
    point_labels = [canonical_label(a if first[k] else b if last[k] else "")
                    for k, (a, b) in enumerate(ends)]
    return PhononReference(source=path, kind="csv", qpoints=np.array(q),
                           frequencies=np.sort(np.array(f), axis=1), labels=point_labels,
                           segment=seg_a)


def load_reference(path: str | Path, structure: Atoms | None = None,
                   supercell: Any = None) -> PhononReference:
    """Read reference phonons:

    - a phonopy data set: ``phonopy_disp.yaml``/``phonopy.yaml`` with FORCE_SETS or force constants
      beside it (or a folder holding one); older phonopy's ``disp.yaml`` with FORCE_SETS beside it
      (unit cell: ``structure`` or a POSCAR-unitcell beside it); a bare ``FORCE_SETS`` with the
      ``structure`` (unit cell) and ``supercell`` it was computed with;
    - frequencies at fixed q-points: phonopy's ``band.yaml``, ``qpoints.yaml`` or ``mesh.yaml``, a
      YAML list of ``points`` (name, q_reduced_primitive, frequencies_THz), or a CSV with columns
      q1,q2,q3 (reduced, primitive reciprocal basis) and f1..fn (THz).

    ``structure`` and ``supercell`` are used only by the kinds that need them.
    """
    path = Path(path)
    if path.is_dir():
        found = next((path / n for n in ("phonopy_params.yaml", "phonopy.yaml", "phonopy_disp.yaml",
                                         "disp.yaml") if (path / n).exists()), None)
        if found is None:
            raise GafitInputError(f"{path}: folder without phonopy.yaml, phonopy_disp.yaml or disp.yaml")
        path = found
    if not path.exists():
        raise GafitInputError(f"{path}: no such file")
    if path.name.upper().startswith("FORCE_SETS"):
        return _load_force_sets(path, structure, supercell)
    if path.suffix.lower() == ".csv":
        return _load_csv_reference(path)
    if path.suffix.lower() in (".yaml", ".yml"):
        data = _load_yaml(path)
        if isinstance(data, dict) and "phonon" in data:
            return _load_band_yaml(path, data)
        if isinstance(data, dict) and isinstance(data.get("points"), list) and all(
                isinstance(p, dict) and "frequencies_THz" in p for p in data["points"]):
            return _load_points_yaml(path, data)
        if isinstance(data, dict) and ("phonopy" in data or "unit_cell" in data):
            return _load_phonopy_reference(path, data)
        if isinstance(data, dict) and "displacements" in data and "lattice" in data:
            return _load_disp_yaml(path, structure, supercell)
    raise GafitInputError(f"{path}: unknown phonon reference (expected phonopy_disp.yaml/phonopy.yaml "
                          "or disp.yaml with FORCE_SETS, FORCE_SETS with a structure and supercell, "
                          "band.yaml/qpoints.yaml/mesh.yaml, a YAML list of points with "
                          "frequencies_THz, or a CSV with q1,q2,q3,f1..fn)")


def reference_supercell(structure: Any, ph: Any, own_cell: bool) -> np.ndarray:
    """The supercell of a phonopy reference ``ph`` as a matrix of multiples of ``structure``'s cell
    (phonopy's convention), when ``own_cell``: the same crystal in another cell (e.g. a lattice name's
    primitive cell beside the reference's conventional one), lattices equal up to a uniform scale."""
    ref = np.array(ph.unitcell.cell)
    mine = np.array(structure.cell)
    mine = mine * (abs(np.linalg.det(ref)) / len(ph.unitcell) * len(structure)
                   / abs(np.linalg.det(mine))) ** (1 / 3)  # the reference's volume per atom
    if not own_cell or (len(structure) == len(ph.unitcell)
                        and np.abs(mine @ mine.T - ref @ ref.T).max() < 0.05 * np.abs(ref @ ref.T).max()):
        return np.asarray(ph.supercell_matrix)  # the reference's cell, maybe rotated or strained
    m = np.array(ph.supercell.cell) @ np.linalg.inv(mine)  # supercell rows = m @ my rows
    if np.abs(m - np.round(m)).max() > 0.02 or round(abs(np.linalg.det(m))) < 1:
        raise GafitInputError(
            "--structure: the phonopy --reference's supercell is not a whole multiple of this cell "
            "(another orientation or another crystal?): give --supercell")
    return np.round(m).astype(int).T


def reference_cells(reference: PhononReference | None, structure: Atoms | None, supercell: Any
                    ) -> tuple[Atoms | None, Any]:
    """The unit cell and supercell of a phonon calculation against ``reference``: ``structure`` and
    ``supercell`` when given; else those of a phonopy data set (its unit cell; its supercell in
    multiples of ``structure``'s cell, see :func:`reference_supercell`); None for each that neither
    gives (a frequency-file reference, or none)."""
    ph = reference.phonopy if reference is not None else None
    own_cell = structure is not None
    if structure is None and ph is not None:
        structure = to_ase_atoms(ph.unitcell)
    if supercell is None and ph is not None and structure is not None:
        supercell = reference_supercell(structure, ph, own_cell)
    return structure, supercell


def q_transform(lattice_from: np.ndarray, lattice_to: np.ndarray, what: str = "the reference") -> np.ndarray:
    """Integer matrix T with q_to = q_from @ T (reduced q) between two primitive cells of one crystal.

    The identity when the cells are the same setting up to a rotation, a uniform scaling and small
    strains (same metric: e.g. a relaxed or rotated copy); otherwise the change of basis between two
    choices of primitive vectors in the same orientation; an error if neither fits.
    """
    lf, lt = np.asarray(lattice_from, float), np.asarray(lattice_to, float)
    nf, nt = lf / abs(np.linalg.det(lf)) ** (1 / 3), lt / abs(np.linalg.det(lt)) ** (1 / 3)
    if np.abs(nt @ nt.T - nf @ nf.T).max() < 0.05 * np.abs(nf @ nf.T).max():
        return np.eye(3)
    m = nt @ np.linalg.inv(nf)  # lt = m lf up to scaling
    mr = np.round(m)
    if np.abs(m - mr).max() > 0.05 or round(abs(np.linalg.det(mr))) != 1:
        raise GafitInputError(
            f"the structure's primitive cell is not in the same setting as {what}'s (the lattices "
            "differ by more than a rotation, a uniform scaling and a change of basis): use the "
            "reference's unit cell as --structure")
    return mr.T

