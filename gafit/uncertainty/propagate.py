"""An ensemble's parameter spread carried to predictions: per structure the ensemble's mean and
spread of the energy (eV/atom) and forces (eV/Å), and the calibration of the spreads on held-out
frames: the fraction of energies and force components whose error (the potential's prediction
minus the reference) lies within the predicted 1σ and 2σ (a normal error would give 68.3 % and
95.4 %)."""

from __future__ import annotations

import sys
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from gafit.potential import Potential
from gafit.structures import GafitInputError, ReferenceSet
from gafit.targets import Targets

if TYPE_CHECKING:
    from gafit.uncertainty.problem import Problem

#: the fraction of a normal distribution within 1σ and 2σ of its mean
NORMAL_WITHIN = (0.6826894921370859, 0.9544997361036416)
CALIBRATED = ("energy", "forces")


def member_thetas(potential: Potential, names: list[str], values: np.ndarray,
                  where: str = "--ensemble") -> np.ndarray:
    """Full parameter vectors (N, n_full) of ``potential`` with the ensemble's named columns
    (N, k) put in (the other parameters keep the potential's values)."""
    index = {n: k for k, n in enumerate(potential.names)}
    unknown = [n for n in names if n not in index]
    if unknown:
        raise GafitInputError(f"{where}: parameter {unknown[0]} is not one of the potential's "
                              f"({', '.join(potential.names[:6])}...)")
    thetas = np.repeat(potential.values[None, :], len(values), axis=0)
    thetas[:, [index[n] for n in names]] = values
    return thetas


@dataclass
class Spread:
    """Per property (energy per atom, forces per component): the reference-minus-free error of
    the potential itself ``error`` (n_items,) and the ensemble's mean and std (n_items,) of the
    prediction; ``structure`` the structure index of each item."""

    error: dict[str, np.ndarray]
    mean: dict[str, np.ndarray]
    std: dict[str, np.ndarray]
    structure: dict[str, np.ndarray]


def prediction_spread(potential: Potential, thetas: np.ndarray, data: ReferenceSet) -> Spread:
    """Predictions of ``data`` by the ensemble's full vectors ``thetas`` (N, n_full) against those
    of ``potential`` itself."""
    tables = potential.build_tables(data)
    targets = Targets(data, tables.n_atoms_s, tables.volume_s)
    with np.errstate(all="ignore"):
        own = targets.differences(potential.evaluate(potential.values[None], tables),
                                  properties=CALIBRATED)
        members = targets.differences(potential.evaluate(thetas, tables), properties=CALIBRATED)
    owner = targets.structure_of_items()
    return Spread({p: own[p][0] for p in CALIBRATED},
                  {p: members[p].mean(axis=0) for p in CALIBRATED},
                  {p: members[p].std(axis=0, ddof=1) for p in CALIBRATED},
                  {p: owner[p] for p in CALIBRATED})


def calibration(spread: Spread) -> dict[str, dict[str, float]]:
    """Per property: items, RMSE of the errors, RMS of the predicted σ, and the fractions of
    items with ``|error| <= σ`` and ``<= 2σ``."""
    out = {}
    for p in CALIBRATED:
        err, sd = spread.error[p], spread.std[p]
        if not err.size:
            continue
        out[p] = {"items": int(err.size), "rmse": float(np.sqrt(np.mean(err**2))),
                  "rms_sigma": float(np.sqrt(np.mean(sd**2))),
                  "within_1sigma": float(np.mean(np.abs(err) <= sd)),
                  "within_2sigma": float(np.mean(np.abs(err) <= 2 * sd))}
    return out


def calibration_text(table: dict[str, dict[str, float]], label: str = "") -> str:
    """One line per property: within 1σ and 2σ (expected 68.3 %, 95.4 %), RMSE and RMS σ."""
    units = {"energy": "eV/atom", "forces": "eV/Å"}
    lines = []
    for p, row in table.items():
        lines.append(f"calibration{' on ' + label if label else ''}: {p} ({row['items']} items) "
                     f"within 1σ {100 * row['within_1sigma']:.1f} % (normal 68.3 %), within 2σ "
                     f"{100 * row['within_2sigma']:.1f} % (95.4 %); RMSE {row['rmse']:.4g}, "
                     f"RMS σ {row['rms_sigma']:.4g} {units[p]}")
    return "\n".join(lines)


def structure_table(spread: Spread, data: ReferenceSet) -> list[dict[str, float | str]]:
    """Per structure: name, the ensemble's mean and std of the energy per atom (eV/atom) and the
    RMS of its force components' std (eV/Å)."""
    rows = []
    f_std, f_of = spread.std["forces"], spread.structure["forces"]
    e_mean, e_std, e_of = spread.mean["energy"], spread.std["energy"], spread.structure["energy"]
    for k, s in enumerate(data):
        row: dict[str, float | str] = {"structure": s.name or str(k)}
        at = np.flatnonzero(e_of == k)
        row["energy_error_mean"] = float(e_mean[at[0]]) if at.size else float("nan")
        row["energy_std"] = float(e_std[at[0]]) if at.size else float("nan")
        fs = f_std[f_of == k]
        row["forces_std_rms"] = float(np.sqrt(np.mean(fs**2))) if fs.size else float("nan")
        rows.append(row)
    return rows


def calibration_of(problem: Problem, samples: np.ndarray, data: ReferenceSet
                   ) -> dict[str, dict[str, float]]:
    """:func:`calibration` of an ensemble of free vectors ``samples`` (N, n) of ``problem`` on
    held-out ``data``: every member with its automatic E0 offsets solved on the training data,
    errors those of the fitted potential."""
    thetas = problem.thetas(samples)
    fitted = problem.fit.potential.with_values(problem.thetas(problem.x)[0])
    return calibration(prediction_spread(fitted, thetas, data))


def ensemble_report(potential: Potential, path: str, data: ReferenceSet, label: str = "") -> str:
    """``gafit evaluate --ensemble``: the per-structure table (mean energy error and spread,
    RMS force spread) and the calibration line of the ensemble CSV ``path`` on ``data``."""
    from gafit.uncertainty.ensemble import read_ensemble

    names, values = read_ensemble(path)
    spread = prediction_spread(potential, member_thetas(potential, names, values), data)
    rows = structure_table(spread, data)
    width = max([9] + [len(str(r["structure"])) for r in rows])
    lines = [f"ensemble {path} ({len(values)} members) on {label or 'the data'}:",
             f"{'structure':<{width}}  {'E err mean':>11} {'E std':>10} {'F std rms':>10}"
             "  (eV/atom, eV/atom, eV/Å)"]
    lines += [f"{r['structure']:<{width}}  {r['energy_error_mean']:11.4g} {r['energy_std']:10.3g} "
              f"{r['forces_std_rms']:10.3g}" for r in rows]
    lines.append(calibration_text(calibration(spread), label))
    return "\n".join(lines)


def ensemble_members(path: str | Path, members: int) -> tuple[list[str], np.ndarray]:
    """Names and ``members`` rows spread evenly over the ensemble CSV ``path`` (an MCMC
    ensemble's rows follow its chain: neighbours are correlated), all rows when it has fewer."""
    from gafit.uncertainty.ensemble import read_ensemble

    if members < 2:
        raise GafitInputError(f"--members {members}: need at least 2")
    names, values = read_ensemble(path)
    pick = np.unique(np.linspace(0, len(values) - 1, min(members, len(values))).round().astype(int))
    return names, values[pick]


def record_path(ensemble: str | Path, kind: str) -> Path | None:
    """Where a propagation of ``ensemble`` (``kind``: properties, phonons) is recorded for the
    run folder's report: ``RUN_DIR/uncertainty/KIND_LABEL.json`` beside an
    ``ensemble_LABEL.csv`` that ``gafit uncertainty`` wrote into a run folder; None for an
    ensemble file elsewhere."""
    from gafit.uncertainty.ensemble import FOLDER

    p = Path(ensemble)
    label = p.stem.removeprefix("ensemble_")
    if (p.parent.name != FOLDER or not p.stem.startswith("ensemble_")
            or not (p.parent.parent / "summary.json").is_file()):
        return None
    return p.parent / f"{kind}_{label}.json"


#: properties whose ensemble spread ``gafit properties --ensemble`` reports (when computed)
SPREAD_KEYS = ("a", "b", "c", "alpha", "beta", "gamma", "E", "V", "B", "C11", "C12", "C44",
               "C44_unrelaxed", "B_elastic")


def property_spread(potential: Potential, names: list[str], values: np.ndarray, atoms: Any,
                    progress: bool = True, **options: Any) -> dict[str, dict[str, float]]:
    """Per property of :func:`gafit.properties.properties` (lattice, energy, bulk modulus,
    elastic constants; units of gafit.properties.QUANTITIES) the ensemble's mean, std and the
    number of members it was computed for, each member's potential taken through the same
    relaxation and strains (``options``)."""
    from gafit.properties import properties

    thetas = member_thetas(potential, names, values)
    found: dict[str, list[float]] = {}
    bar = None
    if progress:
        from tqdm import tqdm

        bar = tqdm(total=len(thetas), desc="ensemble properties", unit="member", file=sys.stderr,
                   dynamic_ncols=True, mininterval=0.5)
    try:
        for theta in thetas:
            props = properties(potential.with_values(theta), atoms.copy(), **options)
            for key in SPREAD_KEYS:
                v = props.get(key)
                if isinstance(v, float | int) and np.isfinite(v):
                    found.setdefault(key, []).append(float(v))
            if bar is not None:
                bar.update()
    finally:
        if bar is not None:
            bar.close()
    return {k: {"mean": float(np.mean(v)), "std": float(np.std(v, ddof=1)) if len(v) > 1
                else float("nan"), "members": len(v)} for k, v in found.items()}


def property_spread_text(spread: dict[str, dict[str, float]], props: dict[str, Any]) -> str:
    """The spreads as lines 'C11  value  mean ± std unit (members)'."""
    units = props.get("units", {})
    lines = ["ensemble spread (mean ± std over the members):"]
    for key, row in spread.items():
        own = props.get(key, float("nan"))
        lines.append(f"  {key:<14} {own:12.6g}   {row['mean']:12.6g} ± {row['std']:.3g} "
                     f"{units.get(key, '')} ({row['members']} members)")
    return "\n".join(lines)
