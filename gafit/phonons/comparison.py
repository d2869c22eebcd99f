"""Errors of gafit's frequencies against a reference's at the same q-points (THz): the whole path,
the distinct labelled points, each point."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from gafit.phonons.paths import SAME, canonical_label, file_label
from gafit.structures import GafitInputError


@dataclass
class ErrorRow:
    """RMS and largest ``|gafit - reference|`` (THz) over a point's modes (or the whole path)."""

    point: str
    qpoint: np.ndarray | None
    n_q: int
    rms: float
    max_abs: float
    gafit: np.ndarray | None = None
    reference: np.ndarray | None = None
    q_direction: str = ""  # with NAC at Γ: the direction q approached Γ from ('Γ-X: 0.5 0 0.5')


@dataclass
class ErrorTable:
    """First row: the whole path; then ``points``, all modes at each distinct labelled point once;
    then one row per distinct labelled point, in path order (labels of one point joined by ≡).
    ``nac``: how the non-analytic term was applied (one line, printed first), '' without."""

    rows: list[ErrorRow]
    nac: str = ""

    @property
    def rms(self) -> float:
        return self.rows[0].rms

    def row(self, point: str) -> ErrorRow:
        """The row of a point, by any of its labels ('K' finds 'U≡K')."""
        name = canonical_label(point)
        return next(r for r in self.rows if r.point == name or name in r.point.split(SAME))

    def text(self) -> str:
        out = [self.nac] if self.nac else []
        out.append(f"{'point':12s}{'RMS (THz)':>11s}{'max|Δ| (THz)':>14s}  gafit / reference (THz)")
        for r in self.rows:
            freqs = ""
            if r.gafit is not None and r.reference is not None:
                freqs = (" ".join(f"{x:.3f}" for x in r.gafit) + " / "
                         + " ".join(f"{x:.3f}" for x in r.reference))
            if r.q_direction:
                freqs += f"  (q → Γ along {r.q_direction})"
            out.append(f"{r.point:12s}{r.rms:11.4f}{r.max_abs:14.4f}  {freqs}")
        return "\n".join(out)

    def write_csv(self, path: str | Path) -> None:
        from gafit.io.atomic import atomic_write_text

        lines = ["point,q1,q2,q3,n_q,rms_THz,max_abs_THz,gafit_THz,reference_THz,q_direction,nac"]
        for r in self.rows:
            q = ["", "", ""] if r.qpoint is None else [f"{x:.6f}" for x in r.qpoint]
            fg = "" if r.gafit is None else " ".join(f"{x:.6f}" for x in r.gafit)
            fr = "" if r.reference is None else " ".join(f"{x:.6f}" for x in r.reference)
            nac = self.nac if r is self.rows[0] else ""
            lines.append(",".join([file_label(r.point), *q, str(r.n_q), f"{r.rms:.6f}",
                                   f"{r.max_abs:.6f}", fg, fr, r.q_direction.replace("Γ", "Gamma"),
                                   nac.replace(",", ";")]))
        atomic_write_text(path, "\n".join(lines) + "\n")


def same_point(q1: np.ndarray, q2: np.ndarray, rotations: np.ndarray | None = None,
               tol: float = 1e-6) -> bool:
    """Whether reduced q-points q1, q2 are one point of the zone: equal modulo a reciprocal lattice
    vector, or (``rotations``: the point group's integer matrices R in the same reduced basis, acting
    as q @ R) related by a rotation, with or without time reversal (q -> -q)."""
    rot = np.eye(3)[None] if rotations is None else np.asarray(rotations, float)
    images = np.concatenate([np.asarray(q1, float) @ rot, -np.asarray(q1, float) @ rot])
    d = images - np.asarray(q2, float)
    return bool((np.abs(d - np.round(d)).max(axis=1) < tol).any())


def distinct_points(labels: Sequence[str], qpoints: np.ndarray | None = None,
                    rotations: np.ndarray | None = None) -> list[tuple[str, list[int]]]:
    """The distinct labelled points of a path, in path order: (name, indices of its q-points).

    With ``qpoints`` (reduced), labelled q-points are one point when :func:`same_point` says so (fcc:
    U and K, given the point group's ``rotations``), and their labels are joined by ≡; without, one
    point per label.
    """
    groups: list[tuple[list[str], list[int]]] = []
    for k, lab in enumerate(labels):
        if not lab:
            continue
        for names, idx in groups:
            if (lab in names if qpoints is None
                    else same_point(qpoints[idx[0]], qpoints[k], rotations)):
                idx.append(k)
                if lab not in names:
                    names.append(lab)
                break
        else:
            groups.append(([lab], [k]))
    return [(SAME.join(names), idx) for names, idx in groups]


def compare(gafit: np.ndarray, reference: np.ndarray, labels: Sequence[str] | None = None,
            qpoints: np.ndarray | None = None, rotations: np.ndarray | None = None,
            directions: Sequence[str] | None = None, nac: str = "") -> ErrorTable:
    """Errors of sorted frequencies (n_q, n_modes) THz at the same q-points: whole path, the distinct
    labelled points together (each once), and each of them (see :func:`distinct_points` for
    ``qpoints`` and ``rotations``). ``directions``: per q-point, the q-direction used at Γ with NAC
    (text, '' for none; a point's row quotes that of its first q-point); ``nac``: see ErrorTable."""
    g = np.sort(np.asarray(gafit, float), axis=1)
    r = np.sort(np.asarray(reference, float), axis=1)
    if g.shape != r.shape:
        raise GafitInputError(f"gafit has {g.shape[1]} modes at {g.shape[0]} q-points, the reference "
                              f"{r.shape[1]} at {r.shape[0]}: is it the same crystal?")
    d = g - r
    rows = [ErrorRow("whole path", None, len(d), float(np.sqrt(np.mean(d**2))), float(np.abs(d).max()))]
    q = None if qpoints is None else np.asarray(qpoints, float)
    points = distinct_points(list(labels or [""] * len(d)), q, rotations)
    if len(points) > 1:  # each distinct point once, all its modes: the figure a fit target quotes
        first = [idx[0] for _, idx in points]
        rows.append(ErrorRow("points", None, len(first), float(np.sqrt(np.mean(d[first] ** 2))),
                             float(np.abs(d[first]).max())))
    for name, idx in points:
        dk = d[idx]
        rows.append(ErrorRow(name, None if q is None else q[idx[0]], len(idx),
                             float(np.sqrt(np.mean(dk**2))), float(np.abs(dk).max()), g[idx[0]], r[idx[0]],
                             directions[idx[0]] if directions is not None else ""))
    return ErrorTable(rows, nac)

