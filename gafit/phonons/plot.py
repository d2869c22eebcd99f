"""The dispersion plot (matplotlib, imported on use: a fit never loads it)."""

from __future__ import annotations

from typing import Any

import numpy as np

from gafit.phonons.paths import Band


def plot_band(band: Band, title: str = "", reference: np.ndarray | None = None,
              reference_name: str = "DFT", name: str = "gafit",
              spread: tuple[np.ndarray, np.ndarray] | None = None, members: int = 0) -> Any:
    """Matplotlib figure of the dispersion (THz); ``reference`` (n_q, n_modes) dashed on top;
    ``spread`` (mean, std; each (n_q, n_modes), THz) of an ensemble of ``members`` drawn as
    shaded bands mean ± 2σ (light) and mean ± σ (darker) behind the lines."""
    from matplotlib.figure import Figure  # no pyplot: the caller's backend is left alone

    fig = Figure(figsize=(7, 4.8))
    ax = fig.subplots()
    x = band.distances
    # separate q-points (qpoints.yaml, a list of points), not a path: evenly spaced markers
    single = all(len(s) == 1 for s in band.path.segments)
    if single:
        x = np.arange(len(x), dtype=float)
    mine = {"marker": "o", "ls": "none", "ms": 5} if single else {"lw": 1.4}
    theirs = {"marker": "x", "ls": "none", "ms": 6} if single else {"lw": 1.2, "ls": "--"}
    for k in range(len(band.path.segments)):
        sel = band.segment == k
        for m in range(band.frequencies.shape[1]):
            first = k == 0 and m == 0
            if spread is not None:
                mean, sd = spread[0][sel, m], spread[1][sel, m]
                for width, alpha, tag in ((2, 0.18, "2σ"), (1, 0.35, "1σ")):
                    if single:
                        ax.errorbar(x[sel], mean, yerr=width * sd, fmt="none", color="C0",
                                    alpha=alpha + 0.3, capsize=3 * width,
                                    label=f"ensemble mean ± {tag}" if first else None)
                    else:
                        ax.fill_between(x[sel], mean - width * sd, mean + width * sd, color="C0",
                                        alpha=alpha, lw=0,
                                        label=(f"ensemble mean ± {tag}"
                                               + (f" ({members} members)" if members and width == 2
                                                  else "")) if first else None)
            ax.plot(x[sel], band.frequencies[sel, m], color="C0", label=name if first else None,
                    **mine)
            if reference is not None:
                ax.plot(x[sel], reference[sel, m], color="C3", label=reference_name if first else None,
                        **theirs)
    ticks: list[float] = []
    names: list[str] = []
    for k, (a, b) in enumerate(band.path.labels):
        sel = np.flatnonzero(band.segment == k)
        start, end = float(x[sel[0]]), float(x[sel[-1]])
        if k == 0 or not band.path.connections[k - 1]:
            if ticks and abs(ticks[-1] - start) < 1e-12:
                names[-1] = f"{names[-1]}|{a}"
            else:
                ticks.append(start)
                names.append(a)
        ticks.append(end)
        names.append(b)
    for t in ticks:
        ax.axvline(t, color="0.6", lw=0.7)
    ax.axhline(0.0, color="0.6", lw=0.7, ls=":")
    ax.set_xticks(ticks, names)
    ax.set_xlim(*((x[0] - 0.5, x[-1] + 0.5) if single else (float(x[0]), float(x[-1]))))
    ax.set_ylabel("Frequency (THz)")
    ax.set_title(title, fontsize=10)
    ax.legend(loc="best", frameon=False)
    fig.tight_layout()
    return fig

