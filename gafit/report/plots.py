"""The report's figures (matplotlib, no pyplot): parity, RMSE per config_type, convergence and
phonon frequencies at the fitted q-points; each saved as a PNG beside the page."""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from gafit.evaluate import Evaluation
from gafit.report.html import finite
from gafit.structures import EV_A3_TO_GPA, ReferenceSet

if TYPE_CHECKING:
    from matplotlib.figure import Figure


DPI = 100
#: parity plots draw at most this many points per set and property (a seeded random sample)
MAX_POINTS = 200_000
#: band paths of the dispersion plots that pass through the usual fitted points (default: "auto")
SETS = ("train", "validation")
SET_STYLE = {"train": {"color": "#1f77b4", "marker": "o"},
             "validation": {"color": "#e8710a", "marker": "^"}}
PROPS = ("energy", "forces", "stress")
UNITS = {"energy": "eV/atom", "forces": "eV/Å", "stress": "GPa", "virial": "eV/atom",
         "phonons": "THz"}
TITLES = {"energy": "Energy per atom", "forces": "Force components", "stress": "Stress components",
          "virial": "Virial per atom", "phonons": "Phonon frequencies"}



def _rmse(a: np.ndarray, b: np.ndarray) -> float:
    return float(np.sqrt(np.mean((a - b) ** 2))) if len(a) else float("nan")



@dataclass
class SetData:
    """One data set (train or validation), its predictions, and the points of the parity plots."""

    data: ReferenceSet
    ev: Evaluation
    points: dict[str, tuple[np.ndarray, np.ndarray]] = field(default_factory=dict)  # prop -> ref, pred


def parity_points(data: ReferenceSet, ev: Evaluation) -> dict[str, tuple[np.ndarray, np.ndarray]]:
    """Reference and predicted values per property: energy per atom (eV/atom), force components
    (eV/Å), stress components (GPa); only where the reference has the value."""
    e_ref, e_pred, f_ref, f_pred, s_ref, s_pred = [], [], [], [], [], []
    start = 0
    for k, st in enumerate(data):
        n = st.n_atoms
        if st.energy is not None:
            e_ref.append(st.energy / n)
            e_pred.append(ev.energy[k] / n)
        if st.forces is not None:
            f_ref.append(st.forces.ravel())
            f_pred.append(ev.forces[start:start + n].ravel())
        if st.stress is not None and np.isfinite(ev.stress[k]).all():
            s_ref.append(st.stress * EV_A3_TO_GPA)
            s_pred.append(ev.stress[k] * EV_A3_TO_GPA)
        start += n

    def cat(xs: list) -> np.ndarray:
        return np.concatenate([np.atleast_1d(np.asarray(x, float)) for x in xs]) if xs else np.zeros(0)

    return {"energy": (cat(e_ref), cat(e_pred)), "forces": (cat(f_ref), cat(f_pred)),
            "stress": (cat(s_ref), cat(s_pred))}



def _new_figure(width: float, height: float) -> Figure:
    from matplotlib.figure import Figure  # no pyplot: the caller's backend is left alone
    from matplotlib.layout_engine import ConstrainedLayoutEngine

    # constrained layout keeps labels inside the image; 0.1 inch of margin round the panels
    return Figure(figsize=(width, height), dpi=DPI,
                  layout=ConstrainedLayoutEngine(w_pad=0.1, h_pad=0.1))


def _save(fig: Figure, path: Path) -> str:
    from gafit.io.atomic import atomic_write

    atomic_write(path, lambda tmp: fig.savefig(tmp, dpi=DPI, format=path.suffix.lstrip(".")))
    return path.name


def plot_parity(sets: dict[str, SetData], path: Path) -> str | None:
    """Predicted vs reference energy per atom, force and stress components (those the data has);
    train and validation. None when the data has no reference values at all."""
    props = [p for p in PROPS if any(len(sd.points[p][0]) for sd in sets.values())]
    if not props:
        return None
    fig = _new_figure(5.0 * len(props), 5.2)
    axes = np.atleast_1d(fig.subplots(1, len(props)))
    for ax, prop in zip(axes, props, strict=True):
        unit = UNITS[prop]
        lo, hi = np.inf, -np.inf
        any_points = False
        for name, sd in sets.items():
            ref, pred = sd.points[prop]
            if not len(ref):
                continue
            any_points = True
            st = SET_STYLE.get(name, {"color": "0.3", "marker": "s"})
            many = len(ref) > 3000
            label = f"{name}: RMSE {_rmse(ref, pred):.3g} {unit} (n = {len(ref)})"
            x, y = ref, pred
            if len(ref) > MAX_POINTS:  # the RMSE is over all points; a seeded sample is drawn
                pick = np.random.default_rng(0).choice(len(ref), MAX_POINTS, replace=False)
                x, y = ref[pick], pred[pick]
                label += f", {MAX_POINTS} drawn"
            ax.scatter(x, y, s=5 if many else 16, alpha=0.35 if many else 0.7, lw=0,
                       color=st["color"], marker=st["marker"], rasterized=True, label=label)
            both = np.concatenate([ref, pred])
            both = both[np.isfinite(both)]
            if len(both):
                lo, hi = min(lo, both.min()), max(hi, both.max())
        if not any_points:
            ax.text(0.5, 0.5, "no reference values", ha="center", va="center",
                    transform=ax.transAxes, color="0.4")
            ax.set_xticks([])
            ax.set_yticks([])
        else:
            pad = 0.04 * (hi - lo) if hi > lo else 1.0
            lim = (lo - pad, hi + pad)
            ax.plot(lim, lim, color="0.25", lw=0.9, ls="--", label="y = x", zorder=0)
            ax.set_xlim(lim)
            ax.set_ylim(lim)
            ax.set_aspect("equal", adjustable="box")
            leg = ax.legend(loc="upper left", fontsize=9, frameon=True, framealpha=0.9,
                            markerscale=2.0)
            for h in leg.legend_handles:
                if hasattr(h, "set_alpha"):
                    h.set_alpha(1.0)
        ax.set_title(f"{TITLES[prop]} ({unit})", fontsize=12)
        ax.set_xlabel(f"reference (DFT) {prop} ({unit})")
        ax.set_ylabel(f"gafit {prop} ({unit})")
        ax.grid(alpha=0.25)
    return _save(fig, path)


def plot_config_types(by_ct: dict[str, dict[str, dict[str, float]]], path: Path) -> str | None:
    """Grouped bars: RMSE per config_type (train and validation) of energy, forces and stress."""
    groups = list(dict.fromkeys(g for s in by_ct.values() for g in s if g != "all"))
    if len(groups) < 2:  # one config_type: the table says it all
        return None
    props = [p for p in PROPS
             if any(finite(row.get(p)) for s in by_ct.values() for row in s.values())]
    if not props:
        return None
    sets = [s for s in SETS if s in by_ct] + [s for s in by_ct if s not in SETS]
    panel = max(4.5, 1.5 + 0.4 * len(groups) * len(sets))
    fig = _new_figure(min(20.0, panel * len(props)), 4.4)
    axes = np.atleast_1d(fig.subplots(1, len(props)))
    bw = 0.8 / len(sets)
    x = np.arange(len(groups))
    for ax, prop in zip(axes, props, strict=True):
        for j, name in enumerate(sets):
            vals = np.array([by_ct[name].get(g, {}).get(prop, np.nan) for g in groups], float)
            st = SET_STYLE.get(name, {"color": "0.5"})
            ax.bar(x + (j - (len(sets) - 1) / 2) * bw, np.nan_to_num(vals, nan=0.0), bw,
                   color=st["color"], label=name)
            for xi, v in zip(x, vals, strict=True):
                if not np.isfinite(v):
                    ax.text(xi + (j - (len(sets) - 1) / 2) * bw, 0, "n/a", ha="center",
                            va="bottom", fontsize=7, color="0.4", rotation=90)
        ax.set_xticks(x, groups, rotation=30 if len(groups) > 3 else 0,
                      ha="right" if len(groups) > 3 else "center")
        ax.set_title(f"{TITLES[prop]}: RMSE ({UNITS[prop]})", fontsize=11)
        ax.set_ylabel(f"RMSE ({UNITS[prop]})")
        ax.grid(axis="y", alpha=0.3)
        ax.legend(fontsize=9, frameon=False)
    return _save(fig, path)


def plot_convergence(log: list[dict], final_loss: float | None, final_rmse: dict[str, float],
                     weights: dict, path: Path) -> str | None:
    """Best and median loss per generation (log scale) and the best individual's RMSEs
    (``log``: :attr:`~gafit.fit_result.FitResult.log`, rows of log.csv); dashed, the fit's
    ``final_loss`` and training ``final_rmse`` per property."""
    if not log:
        return None

    def col(name: str) -> np.ndarray:
        return np.array([float(r[name]) if r.get(name) not in (None, "") else np.nan for r in log])

    gen = col("generation")
    rm_props = [p for p in ("energy", "forces", "stress", "virial", "phonons")
                if any(f"rmse_{p}" in r for r in log) and np.isfinite(col(f"rmse_{p}")).any()
                and (p != "virial" or float(weights.get("virial", 0) or 0) > 0)]
    n = max(len(rm_props), 1)
    fig = _new_figure(15, 7.2)
    gs = fig.add_gridspec(2, n, height_ratios=[1.15, 1.0])
    ax = fig.add_subplot(gs[0, :])
    for name, style in (("best_loss", {"color": "#1f77b4", "lw": 2.0, "label": "best loss"}),
                        ("median_loss", {"color": "0.55", "lw": 1.3, "label": "median loss"})):
        if any(name in r for r in log):
            y = col(name)
            ax.plot(gen, np.where(y > 0, y, np.nan), **style)
    final = final_loss
    if finite(final) and final > 0:
        ax.axhline(final, color="#2ca02c", ls="--", lw=1.2,
                   label=f"final loss {final:.4g} (after least squares)")
    ax.set_yscale("log")
    ax.set_xlabel("generation")
    ax.set_ylabel("loss")
    ax.set_title("GA convergence: loss of the population (log scale)", fontsize=12)
    ax.grid(alpha=0.3, which="both")
    ax.legend(fontsize=9, frameon=False)
    for k, prop in enumerate(rm_props):
        a = fig.add_subplot(gs[1, k])
        y = col(f"rmse_{prop}")
        a.plot(gen, y, color="#1f77b4", lw=1.6, label="best individual")
        fv = final_rmse.get(prop)
        if finite(fv):
            a.axhline(fv, color="#2ca02c", ls="--", lw=1.1, label=f"final {fv:.3g}")
        good = y[np.isfinite(y) & (y > 0)]
        if len(good) and good.max() / good.min() > 20:
            a.set_yscale("log")
        a.set_title(f"{TITLES[prop]} RMSE ({UNITS[prop]})", fontsize=10)
        a.set_xlabel("generation")
        a.grid(alpha=0.3)
        a.legend(fontsize=8, frameon=False)
    return _save(fig, path)


def plot_front_convergence(log: list[dict], path: Path) -> str | None:
    """A pareto run's convergence (``log``: rows of log.csv, :func:`gafit.pareto.convergence_row`):
    the best value of each objective on the first front per generation (log scale), and the
    front's hypervolume (decades^K against the run's fixed reference point) with the size of
    the first front."""
    names = list(dict.fromkeys(k.removeprefix("best:") for r in log for k in r
                               if k.startswith("best:")))
    if not log or not names:
        return None

    def col(name: str) -> np.ndarray:
        return np.array([float(r[name]) if r.get(name) not in (None, "") else np.nan for r in log])

    gen = col("generation")
    fig = _new_figure(12, 7.2)
    top, bottom = fig.subplots(2, 1, sharex=True)
    for name in names:
        y = col(f"best:{name}")
        top.plot(gen, np.where(y > 0, y, np.nan), lw=1.8, label=f"best {name}")
    top.set_yscale("log")
    top.set_ylabel("objective (loss)")
    top.set_title("NSGA convergence: the best value of each objective on the first front",
                  fontsize=12)
    top.grid(alpha=0.3, which="both")
    top.legend(fontsize=9, frameon=False)
    bottom.plot(gen, col("hypervolume"), color="#2ca02c", lw=2.0, label="hypervolume")
    bottom.set_ylabel(f"hypervolume (decades^{len(names)})")
    bottom.set_xlabel("generation")
    bottom.grid(alpha=0.3)
    size = bottom.twinx()
    size.plot(gen, col("first_front"), color="0.55", lw=1.2, ls=":", label="first front size")
    size.set_ylabel("members on the first front")
    lines = bottom.get_lines() + size.get_lines()
    bottom.legend(lines, [ln.get_label() for ln in lines], fontsize=9, frameon=False,
                  loc="lower right")
    return _save(fig, path)


def plot_phonon_points(targets: list[list[dict]], rms: Sequence[float | None], path: Path) -> str:
    """gafit vs reference frequencies at the fitted q-points, one panel per phonon target."""
    fig = _new_figure(min(15.0, 5.5 + 3.5 * len(targets)), 4.6)
    axes = np.atleast_1d(fig.subplots(1, len(targets)))
    for t, (ax, rows) in enumerate(zip(axes, targets, strict=True)):
        x = np.arange(len(rows))
        for k, row in enumerate(rows):
            ref, g = np.asarray(row["reference"], float), np.asarray(row["gafit"], float)
            ax.scatter(np.full(len(ref), k), ref, marker="_", s=500, lw=2.2, color="#c0392b",
                       label="reference" if k == 0 else None, zorder=2)
            ax.scatter(np.full(len(g), k), g, marker="o", s=42, facecolors="none", lw=1.5,
                       edgecolors="#1f77b4", label="gafit" if k == 0 else None, zorder=3)
        ax.set_xticks(x, [str(r["label"]) for r in rows])
        ax.set_xlim(-0.6, len(rows) - 0.4)
        ax.axhline(0, color="0.6", lw=0.7, ls=":")
        ax.set_ylabel("Frequency (THz)")
        title = f"Phonon target {t + 1}: frequencies at the fitted q-points"
        if rms[t] is not None and math.isfinite(rms[t]):
            title += f"\nRMS over the fitted modes {rms[t]:.3f} THz"
        ax.set_title(title, fontsize=11)
        ax.grid(axis="y", alpha=0.3)
        ax.legend(fontsize=9, frameon=False, loc="upper left", bbox_to_anchor=(1.0, 1.0))
    return _save(fig, path)
