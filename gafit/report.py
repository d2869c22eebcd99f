"""An HTML report of a fit: ``RUN_DIR/report/index.html`` with its PNG plots beside it.

The page is self-contained (inline CSS, no JavaScript, no network resources; images referenced
relatively), so the ``report`` folder can be zipped and sent. It reads what ``gafit fit`` wrote into
the run folder (``summary.json``, ``potential.json``, ``log.csv``, ``parameters.csv``,
``lammps/``) and recomputes the predictions of ``potential.json`` (with its fitted E0) on the
training and validation data of the fit's config (the same split as the fit, :func:`gafit.fit.read_data`).
Anything it cannot find or compute (the config, the data, a phonon reference) is said in the page
instead of failing.

Units: energy per atom in eV/atom, forces in eV/Å, stress in GPa (positive = tensile), phonon
frequencies in THz.
"""

from __future__ import annotations

import csv
import datetime
import html
import math
import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from gafit.io import strict_json
from gafit.structures import EV_A3_TO_GPA, GafitInputError, ReferenceSet, Structure

if TYPE_CHECKING:
    from matplotlib.figure import Figure

    from gafit.config import FitConfig
    from gafit.evaluate import Evaluation
    from gafit.potential import Potential

__all__ = ["REPORT_DIR", "write_report"]

#: sub-folder of the run folder that holds the page and its plots
REPORT_DIR = "report"
#: PNGs this module writes (older copies are removed before a new report is written)
PNG_PATTERNS = ("parity*.png", "config_types*.png", "convergence*.png", "phonon*.png",
                "front*.png")
DPI = 100
#: parity plots draw at most this many points per set and property (a seeded random sample)
MAX_POINTS = 200_000
#: band paths of the dispersion plots that pass through the usual fitted points (default: "auto")
DISPERSION_PATHS = {"cF": "GXWKGL"}
SETS = ("train", "validation")
SET_STYLE = {"train": {"color": "#1f77b4", "marker": "o"},
             "validation": {"color": "#e8710a", "marker": "^"}}
PROPS = ("energy", "forces", "stress")
UNITS = {"energy": "eV/atom", "forces": "eV/Å", "stress": "GPa", "virial": "eV/atom",
         "phonons": "THz"}
TITLES = {"energy": "Energy per atom", "forces": "Force components", "stress": "Stress components",
          "virial": "Virial per atom", "phonons": "Phonon frequencies"}


# --------------------------------------------------------------------------- small helpers


def _esc(x: Any) -> str:
    return html.escape(str(x), quote=True)


def _finite(x: Any) -> bool:
    return isinstance(x, int | float) and not isinstance(x, bool) and math.isfinite(x)


def _num(x: Any, fmt: str = ".4g") -> str:
    """A number for the page; '–' for missing or NaN values."""
    if x is None or x == "":
        return "–"
    try:
        v = float(x)
    except (TypeError, ValueError):
        return _esc(x)
    return format(v, fmt) if math.isfinite(v) else "–"


def _duration(seconds: Any) -> str:
    if not _finite(seconds):
        return "–"
    s = float(seconds)
    if s < 60:
        return f"{s:.1f} s"
    if s < 3600:
        return f"{int(s // 60)} min {s % 60:.0f} s"
    return f"{int(s // 3600)} h {int(s % 3600 // 60)} min"


def _freqs(values: Iterable[float]) -> str:
    """Frequencies (THz) with two decimals, without '-0.00'."""
    return " ".join(f"{round(float(x), 2) + 0.0:.2f}" for x in values)


def _rmse(a: np.ndarray, b: np.ndarray) -> float:
    return float(np.sqrt(np.mean((a - b) ** 2))) if len(a) else float("nan")


def _short_path(path: Path | str | None) -> str:
    """A path as the reader knows it: relative to the working folder when below it."""
    if path is None:
        return "–"
    p = Path(path).expanduser().resolve()
    try:
        return str(p.relative_to(Path.cwd().resolve()))
    except ValueError:
        return str(p)


@dataclass
class Note:
    """A remark shown in the page: 'info', 'warning' or 'error' (something could not be done)."""

    level: str
    text: str  # HTML (already escaped where needed)

    def html(self) -> str:
        return f'<p class="note {self.level}">{self.text}</p>'


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


# --------------------------------------------------------------------------- reading the run folder


def _read_csv(path: Path) -> list[dict[str, str]]:
    with path.open(newline="", encoding="utf-8") as fh:
        return list(csv.DictReader(fh))


def _provenance_config(run_dir: Path) -> str | None:
    """The config path named in the provenance line gafit writes atop ``lammps/pair.lmp``."""
    pair = run_dir / "lammps" / "pair.lmp"
    if not pair.exists():
        return None
    for line in pair.read_text(encoding="utf-8", errors="replace").splitlines()[:5]:
        m = re.search(r"config (.+?), seed ", line)
        if m and m.group(1) != "(API)":
            return m.group(1)
    return None


def find_config(run_dir: Path, summary: dict, config: FitConfig | str | Path | None
                ) -> tuple[FitConfig | None, str, Note | None]:
    """The fit's config: given, named by summary.json, or named by the provenance line of
    ``lammps/pair.lmp`` (relative to the working folder or a parent of the run folder).

    Returns the config (or None), how it was found, and a note when it was not.
    """
    from gafit.config import FitConfig, load_config

    if isinstance(config, FitConfig):
        return config, "given by the caller", None
    if config is not None:
        return load_config(config), "given on the command line", None
    named = summary.get("config")
    how = "named by summary.json"
    candidates: list[Path] = []
    if named:
        candidates = [Path(named)]
    else:
        named = _provenance_config(run_dir)
        how = "named by the provenance line of lammps/pair.lmp"
        if named:
            p = Path(named)
            candidates = [p] if p.is_absolute() else [Path.cwd() / p, run_dir.parent / p,
                                                       run_dir.parent.parent / p]
    if not named:
        return None, "", Note("warning", "The fit's config is not recorded in this run folder, so the "
                              "data could not be found: run <code>gafit report RUN_DIR --config "
                              "CONFIG.toml</code> to add the parity plots.")
    for c in candidates:
        if c.is_file():
            return load_config(c), how, None
    return None, "", Note("warning", f"The fit's config <code>{_esc(named)}</code> ({how}) cannot be "
                          "found any more, so the predictions could not be recomputed: run "
                          "<code>gafit report RUN_DIR --config CONFIG.toml</code>.")


def phonon_equilibrium_structures(config: FitConfig, load: Any = None) -> list[Structure]:
    """The zero-stress supercells a fit with ``equilibrium_weight`` adds to its training set
    (as :meth:`gafit.phonons.target.PhononTarget.equilibrium_structure`); ``load(pc)`` reads a
    phonon target's reference, unit cell and supercell matrix (default
    :func:`gafit.phonons.target.read_target_reference`)."""
    from gafit.phonons import new_phonopy, to_ase_atoms
    from gafit.phonons.target import read_target_reference

    out = []
    for pc in config.phonons:
        if pc.equilibrium_weight <= 0:
            continue
        _, cell, smat = (load or read_target_reference)(pc)
        atoms = to_ase_atoms(new_phonopy(cell, smat).supercell)
        atoms.pbc = True
        out.append(Structure(atoms, stress=np.zeros(6), weight=pc.equilibrium_weight,
                             config_type="phonon-equilibrium", name=f"{pc.reference}:supercell"))
    return out


# --------------------------------------------------------------------------- plots


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
             if any(_finite(row.get(p)) for s in by_ct.values() for row in s.values())]
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


def plot_convergence(log: list[dict[str, str]], summary: dict, weights: dict, path: Path) -> str | None:
    """Best and median loss per generation (log scale) and the best individual's RMSEs."""
    if not log:
        return None

    def col(name: str) -> np.ndarray:
        return np.array([float(r[name]) if r.get(name) not in (None, "") else np.nan for r in log])

    gen = col("generation")
    rm_props = [p for p in ("energy", "forces", "stress", "virial", "phonons")
                if f"rmse_{p}" in log[0] and np.isfinite(col(f"rmse_{p}")).any()
                and (p != "virial" or float(weights.get("virial", 0) or 0) > 0)]
    n = max(len(rm_props), 1)
    fig = _new_figure(15, 7.2)
    gs = fig.add_gridspec(2, n, height_ratios=[1.15, 1.0])
    ax = fig.add_subplot(gs[0, :])
    for name, style in (("best_loss", {"color": "#1f77b4", "lw": 2.0, "label": "best loss"}),
                        ("median_loss", {"color": "0.55", "lw": 1.3, "label": "median loss"})):
        if name in log[0]:
            y = col(name)
            ax.plot(gen, np.where(y > 0, y, np.nan), **style)
    final = summary.get("loss")
    if _finite(final) and final > 0:
        ax.axhline(final, color="#2ca02c", ls="--", lw=1.2,
                   label=f"final loss {final:.4g} (after least squares)")
    ax.set_yscale("log")
    ax.set_xlabel("generation")
    ax.set_ylabel("loss")
    ax.set_title("GA convergence: loss of the population (log scale)", fontsize=12)
    ax.grid(alpha=0.3, which="both")
    ax.legend(fontsize=9, frameon=False)
    final_rmse = (summary.get("rmse") or {}).get("train", {})
    for k, prop in enumerate(rm_props):
        a = fig.add_subplot(gs[1, k])
        y = col(f"rmse_{prop}")
        a.plot(gen, y, color="#1f77b4", lw=1.6, label="best individual")
        fv = final_rmse.get(prop)
        if _finite(fv):
            a.axhline(fv, color="#2ca02c", ls="--", lw=1.1, label=f"final {fv:.3g}")
        good = y[np.isfinite(y) & (y > 0)]
        if len(good) and good.max() / good.min() > 20:
            a.set_yscale("log")
        a.set_title(f"{TITLES[prop]} RMSE ({UNITS[prop]})", fontsize=10)
        a.set_xlabel("generation")
        a.grid(alpha=0.3)
        a.legend(fontsize=8, frameon=False)
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


# --------------------------------------------------------------------------- HTML pieces

CSS = """
:root { --fg: #1d2430; --muted: #5b6474; --line: #d9dee7; --band: #f5f7fa; --accent: #1f5fa8; }
* { box-sizing: border-box; }
body { margin: 0; color: var(--fg); background: #fff;
       font: 15px/1.5 system-ui, -apple-system, "Segoe UI", Roboto, "Helvetica Neue", Arial, sans-serif; }
main { max-width: 1180px; margin: 0 auto; padding: 20px 28px 60px; }
h1 { font-size: 26px; margin: 8px 0 2px; }
h2 { font-size: 20px; margin: 36px 0 10px; padding-bottom: 4px; border-bottom: 2px solid var(--line); }
h3 { font-size: 16px; margin: 20px 0 6px; }
p { margin: 6px 0; }
.sub { color: var(--muted); margin: 0 0 12px; }
nav { margin: 10px 0 6px; font-size: 14px; }
nav a { margin-right: 14px; color: var(--accent); text-decoration: none; }
nav a:hover { text-decoration: underline; }
code, pre { font-family: ui-monospace, SFMono-Regular, Menlo, Consolas, monospace; font-size: 13px; }
pre { background: var(--band); border: 1px solid var(--line); padding: 10px; overflow-x: auto;
      white-space: pre; }
table { border-collapse: collapse; margin: 8px 0 12px; font-size: 14px; }
th, td { border: 1px solid var(--line); padding: 4px 10px; text-align: left; vertical-align: top; }
th { background: var(--band); font-weight: 600; }
td.num, th.num { text-align: right; font-variant-numeric: tabular-nums; white-space: nowrap; }
table.kv { width: 100%; }
table.kv th { width: 210px; }
tr.total td { font-weight: 600; background: #fafbfc; }
tr.atbound td { background: #fff0e0; font-weight: 700; }
tr.atbound td:first-child { border-left: 5px solid #d9480f; }
span.flag { color: #b33c00; font-weight: 700; }
.legend-box { display: inline-block; width: 14px; height: 14px; vertical-align: -2px;
              background: #fff0e0; border: 1px solid #d9480f; border-left: 5px solid #d9480f; }
.bar { position: relative; width: 120px; height: 10px; background: #e8ebf0; border-radius: 2px;
       display: inline-block; vertical-align: middle; }
.bar i { position: absolute; top: -3px; width: 3px; height: 16px; background: #1f5fa8; }
tr.atbound .bar i { background: #d9480f; }
figure { margin: 10px 0 18px; }
figure img { max-width: 100%; height: auto; border: 1px solid var(--line); }
figcaption { color: var(--muted); font-size: 13.5px; margin-top: 4px; }
.row2 { display: flex; gap: 16px; flex-wrap: wrap; }
.row2 figure { flex: 1 1 520px; }
.note { padding: 8px 12px; border-radius: 4px; border: 1px solid; margin: 8px 0; }
.note.info { background: #eef5ff; border-color: #b8d0f0; }
.note.warning { background: #fff8e1; border-color: #f0d58a; }
.note.error { background: #fdecea; border-color: #f1b0aa; }
details { margin: 6px 0; }
summary { cursor: pointer; color: var(--accent); }
footer { margin-top: 40px; color: var(--muted); font-size: 13px; }
"""


def _table(head: Sequence[str], rows: Iterable[Sequence[str]], num: Iterable[int] | None = None,
           row_classes: Sequence[str] | None = None,
           groups: Sequence[tuple[str, int]] | None = None) -> str:
    """An HTML table; cells are HTML already. ``num``: right-aligned columns (default: all but the
    first); ``groups``: a first header row of (label, number of columns) spanning the second."""
    rows = list(rows)
    ncol = len(head)
    right = set(range(1, ncol) if num is None else num)

    def cls(i: int) -> str:
        return " class=num" if i in right else ""

    out = ["<table><thead>"]
    if groups:
        out.append("<tr>" + "".join(f'<th colspan="{n}" style="text-align:center">{g}</th>'
                                    if n > 1 else f"<th>{g}</th>" for g, n in groups) + "</tr>")
    out.append("<tr>" + "".join(f"<th{cls(i)}>{h}</th>" for i, h in enumerate(head)) + "</tr>")
    out.append("</thead><tbody>")
    for k, row in enumerate(rows):
        c = row_classes[k] if row_classes else ""
        out.append(f'<tr class="{c}">' if c else "<tr>")
        out += [f"<td{cls(i)}>{x}</td>" for i, x in enumerate(row)]
        out.append("</tr>")
    out.append("</tbody></table>")
    return "".join(out)


def _kv(rows: Sequence[tuple[str, str]]) -> str:
    return ('<table class="kv"><tbody>'
            + "".join(f"<tr><th>{k}</th><td>{v}</td></tr>" for k, v in rows) + "</tbody></table>")


def _img(src: str, alt: str, caption: str = "") -> str:
    cap = f"<figcaption>{caption}</figcaption>" if caption else ""
    return f'<figure><img src="{_esc(src)}" alt="{_esc(alt)}">{cap}</figure>'


# --------------------------------------------------------------------------- the report


class _Report:
    """Builds the page section by section; each section that fails says so in the page."""

    def __init__(self, run_dir: Path, config: FitConfig | str | Path | None):
        from gafit.potential_files import load_potential

        self.run = run_dir
        self.out = run_dir / REPORT_DIR
        if not (run_dir / "summary.json").is_file() or not (run_dir / "potential.json").is_file():
            raise GafitInputError(f"{run_dir}: not a gafit run folder (summary.json and potential.json "
                                  "are written by gafit fit)")
        try:
            self.summary: dict = strict_json.loads((run_dir / "summary.json").read_text(encoding="utf-8"))
        except ValueError as err:  # JSONDecodeError, or nested too deeply
            raise GafitInputError(f"{run_dir / 'summary.json'}: not valid JSON ({err})") from None
        self.potential: Potential = load_potential(run_dir / "potential.json")
        self.pot_dict: dict = strict_json.loads((run_dir / "potential.json").read_text(encoding="utf-8"))
        self.notes: list[Note] = []  # shown at the top
        self.config: FitConfig | None = None
        self.config_how = ""
        self.sets: dict[str, SetData] = {}
        self.data_note: Note | None = None
        self.phonon_refs: dict[str, Any] = {}
        try:
            self.config, self.config_how, note = find_config(run_dir, self.summary, config)
        except GafitInputError as err:
            if config is not None:  # the caller named it: a wrong config is the caller's error
                raise
            note = Note("error", f"The config recorded in the run folder could not be read: "
                        f"{_esc(err)}")
        if note is not None:
            self.data_note = note
        if self.config is not None:
            self._load_data()

    def _reference(self, pc: Any) -> Any:
        """A phonon target's reference, unit cell and supercell matrix, read once."""
        from gafit.phonons.target import read_target_reference

        key = repr((str(pc.reference), str(pc.structure), pc.supercell))
        if key not in self.phonon_refs:
            self.phonon_refs[key] = read_target_reference(pc)
        return self.phonon_refs[key]

    # ---- data ------------------------------------------------------------------------------
    def _load_data(self) -> None:
        from gafit.evaluate import evaluate
        from gafit.fit import read_data

        assert self.config is not None
        try:
            train, valid = read_data(self.config)
        except (GafitInputError, OSError) as err:
            self.data_note = Note("error", "The data named by the config cannot be read, so the "
                                  f"predictions could not be recomputed: {_esc(err)}")
            return
        try:
            extra = phonon_equilibrium_structures(self.config, self._reference)
        except (GafitInputError, OSError) as err:
            extra = []
            self.notes.append(Note("warning", f"The phonon reference cannot be read: {_esc(err)}"))
        if extra:
            train = train + ReferenceSet(extra, "phonon references")
        sets = {"train": train} | ({"validation": valid} if valid is not None else {})
        try:
            for name, data in sets.items():
                ev = evaluate(self.potential, data)
                self.sets[name] = SetData(data, ev, parity_points(data, ev))
        except GafitInputError as err:
            self.sets = {}
            self.data_note = Note("error", f"potential.json cannot be evaluated on the data: {_esc(err)}")
            return
        # do the recomputed errors match those the fit recorded?
        recorded = self.summary.get("rmse") or {}
        off = []
        for name, sd in self.sets.items():
            for prop, v in sd.ev.rmse.items():
                r = (recorded.get(name) or {}).get(prop)
                if _finite(r) and _finite(v) and abs(v - r) > 1e-6 * max(abs(r), 1e-12) + 1e-12:
                    off.append(f"{name} {prop}: recorded {r:.4g}, now {v:.4g} {UNITS[prop]}")
        if off:
            self.notes.append(Note("warning", "The recomputed RMSEs differ from those the fit "
                                   "recorded (the data, the config or potential.json changed since "
                                   "the fit?): " + "; ".join(_esc(o) for o in off)))

    # ---- sections --------------------------------------------------------------------------
    def header(self) -> str:
        s, pot = self.summary, self.pot_dict
        forms = ", ".join(f"{_esc(f['form'])} (cutoff {_num(f.get('cutoff'), '.4g')} Å)"
                          for f in pot.get("forms", []))
        e0 = ", ".join(f"{_esc(k)} {_num(v, '.6f')}" for k, v in (pot.get("E0") or {}).items())
        cfg = self.config
        rows: list[tuple[str, str]] = [
            ("Form", forms or "–"),
            ("Species", _esc(", ".join(pot.get("species", []))) or "–"),
            ("E0 offsets (eV/atom)", e0 or "–"),
        ]
        if cfg is not None:
            from gafit.config import data_files

            src = _esc(_short_path(cfg.source)) if cfg.source else "(built in Python)"
            rows.append(("Config", f"<code>{src}</code> ({_esc(self.config_how)})"))
            d = cfg.data
            data = "train " + (", ".join(f"<code>{_esc(_short_path(f.path))}</code>"
                                         for f in data_files(d.train)) or "none (phonons only)")
            if data_files(d.validation):
                data += "; validation " + ", ".join(f"<code>{_esc(_short_path(f.path))}</code>"
                                                    for f in data_files(d.validation))
            if d.drop_duplicates:
                data += "; duplicated structures dropped"
            held = []
            if d.validation_fraction > 0:
                held.append(f"{d.validation_fraction:.0%} of the training file at random "
                            f"(split_seed {d.split_seed})")
            if d.validation_config_types:
                held.append("config_types " + ", ".join(_esc(t) for t in d.validation_config_types))
            if held:
                data += "; held out for validation: " + " and ".join(held)
            rows.append(("Data", data))
            if cfg.potential.start is not None:
                rows.append(("Started from", f"<code>{_esc(_short_path(cfg.potential.start))}</code>"))
            for k, pc in enumerate(cfg.phonons):
                rows.append((f"Phonon target {k + 1}",
                             f"<code>{_esc(_short_path(pc.reference))}</code>, q-points "
                             f"{_esc(pc.qpoints)}, weight {_num(pc.weight)} (on THz²)"
                             + (f", equilibrium weight {_num(pc.equilibrium_weight)}"
                                if pc.equilibrium_weight > 0 else "")))
        elif s.get("train"):
            files = s["train"] if isinstance(s["train"], list) else [s["train"]]
            rows.append(("Training data", ", ".join(f"<code>{_esc(_short_path(f))}</code>"
                                                    for f in files)))
        if self.sets:
            sizes = []
            for name, sd in self.sets.items():
                n_eq = sum(st.config_type == "phonon-equilibrium" for st in sd.data)
                eq = (f" (including {n_eq} phonon-equilibrium supercell{'s' if n_eq > 1 else ''})"
                      if n_eq else "")
                sizes.append(f"{name}: {len(sd.data)} structures, {sd.data.n_atoms} atoms{eq}")
            rows.append(("Structures", "; ".join(sizes)))
        weights = s.get("weights") or (vars(cfg.weights) if cfg is not None else {})
        if weights:
            rows.append(("Weights", ", ".join(
                f"{_esc(k)} {_num(v)}" + (f" (on ({UNITS[k]})²)" if k in UNITS else "")
                for k, v in weights.items())))
        ga = f"{_esc(s.get('generations', '–'))} generations, stopped by {_esc(s.get('stop_reason', '–'))}"
        if cfg is not None:
            ga += f" (population {cfg.ga.population}, seed {cfg.ga.seed})"
        rows.append(("Genetic algorithm", ga))
        rows.append(("Evaluations", f"{_esc(s.get('evaluations', '–'))} in {_duration(s.get('ga_seconds'))}"
                     f" = {_num(s.get('evaluations_per_second'), '.1f')} per second"))
        rows.append(("Total time", _duration(s.get("total_seconds"))))
        loss = f"{_num(s.get('loss'), '.6g')}"
        if _finite(s.get("ga_loss")):
            loss += f" (GA {_num(s.get('ga_loss'), '.6g')}"
            loss += (f", least squares {_num(s.get('refined_loss'), '.6g')})"
                     if _finite(s.get("refined_loss")) else ")")
        rows.append(("Loss", loss))
        return _kv(rows) + self._rmse_table() + self._breakdown_table()

    def _breakdown_table(self) -> str:
        """The loss split by term (summary.json ``loss_by_term``): which target steers the fit."""
        parts = self.summary.get("loss_by_term") or {}
        if not parts:
            return ""
        total = sum(v for v in parts.values() if _finite(v))
        weights = self.summary.get("weights") or {}
        train = (self.summary.get("rmse") or {}).get("train", {})
        what = {"walls": "penalty of the wall constraint's breach", "phonons": "all phonon targets",
                "stability": "penalty of Born criteria and imaginary modes",
                "e0": "penalty of the form's cohesive energy outside e0_range"}
        rows = []
        for term, v in sorted(parts.items(), key=lambda kv: -(kv[1] if _finite(kv[1]) else 0)):
            share = v / total if _finite(v) and total > 0 else None
            rmse = f"{_num(train.get(term))} {UNITS[term]}" if _finite(train.get(term)) else "–"
            w = _num(weights[term]) if term in weights else _esc(what.get(term, ""))
            bar = (f'<span style="display:inline-block;background:#4c78a8;height:0.7em;'
                   f'width:{100 * share:.0f}px"></span> ' if share is not None else "")
            rows.append([_esc(term), w, _num(v, ".4g"), bar + (f"{100 * share:.1f} %" if share is not None
                                                                else "–"), rmse])
        top, top_v = max(parts.items(), key=lambda kv: kv[1] if _finite(kv[1]) else -1)
        text = (f"The parts add up to the loss ({_num(total, '.6g')}). "
                f"<b>{_esc(top)}</b> dominates with {100 * top_v / total:.1f} %"
                if _finite(top_v) and total > 0 else "")
        if text and top_v / total > 0.9 and len(parts) > 1:
            text += ("; the other terms barely steer the fit: raise their weights if they should count")
        return ("<h3>Loss by term</h3>"
                + _table(["term", "weight", "part of the loss", "share", "RMSE (train)"], rows, [2, 3, 4])
                + (f"<p>{text}.</p>" if text else ""))

    def _rmse_table(self) -> str:
        rmse = self.summary.get("rmse") or {}
        if not rmse:
            return ""
        props = [p for p in ("energy", "forces", "stress", "virial", "phonons")
                 if any(_finite(r.get(p)) for r in rmse.values())]
        head = ["RMSE"] + [f"{p} ({UNITS[p]})" for p in props]
        rows = [[_esc(name)] + [_num(r.get(p)) for p in props] for name, r in rmse.items()]
        return "<h3>Errors of the fitted potential</h3>" + _table(head, rows)

    def parity(self) -> str:
        parts = ['<h2 id="parity">Predicted vs reference</h2>']
        if not self.sets:
            parts.append((self.data_note or Note("warning", "No data to compare with.")).html())
            return "".join(parts)
        name = plot_parity(self.sets, self.out / "parity.png")
        if name is None:
            parts.append(Note("info", "The data has no reference energies, forces or stresses to "
                              "compare with.").html())
            return "".join(parts)
        which = ("training and validation sets" if "validation" in self.sets
                 else "training set (the fit had no validation data)")
        parts.append(_img(name, "parity plots of energy, forces and stress",
                          "gafit (potential.json, with its fitted E0) against the reference data, "
                          f"recomputed on the fit's {which}. Energy per atom "
                          "(eV/atom), every Cartesian force component (eV/Å), every stress component "
                          "(GPa, positive = tensile, Voigt xx yy zz yz xz xy). Dashed: y = x."))
        return "".join(parts)

    def config_types(self) -> str:
        parts = ['<h2 id="config-types">Errors per config_type</h2>']
        by_ct: dict[str, dict[str, dict[str, float]]] = {
            n: dict(v) for n, v in (self.summary.get("rmse_by_config_type") or {}).items()}
        if not by_ct and self.sets:
            by_ct = {n: sd.ev.by_config_type for n, sd in self.sets.items()}
        if not by_ct:
            parts.append(Note("warning", "No errors per config_type were recorded.").html())
            return "".join(parts)
        counts: dict[str, dict[str, int]] = {}
        for n, sd in self.sets.items():
            c: dict[str, int] = {}
            for st in sd.data:
                c[st.config_type] = c.get(st.config_type, 0) + 1
            c["all"] = len(sd.data)
            counts[n] = c
        sets = [s for s in SETS if s in by_ct] + [s for s in by_ct if s not in SETS]
        groups = list(dict.fromkeys(g for s in sets for g in by_ct[s] if g != "all"))
        groups.append("all")
        props = [p for p in PROPS if any(_finite(r.get(p)) for s in sets for r in by_ct[s].values())]
        head = ["config_type"]
        group_row: list[tuple[str, int]] = [("", 1)]
        if counts:
            head += list(sets)
            group_row.append(("structures", len(sets)))
        head += [s for _ in props for s in sets]
        group_row += [(f"{p} RMSE ({UNITS[p]})", len(sets)) for p in props]
        rows, classes = [], []
        for g in groups:
            row = [_esc(g)]
            if counts:
                row += [str(counts.get(s, {}).get(g, 0)) for s in sets]
            row += [_num(by_ct[s].get(g, {}).get(p)) for p in props for s in sets]
            rows.append(row)
            classes.append("total" if g == "all" else "")
        parts.append(_table(head, rows, row_classes=classes, groups=group_row))
        png = plot_config_types(by_ct, self.out / "config_types.png")
        if png:
            parts.append(_img(png, "RMSE per config_type",
                              "RMSE per config_type, training and validation sets side by side "
                              "(“n/a”: no such structures or no such reference values in that set)."))
        return "".join(parts)

    def front(self) -> str:
        """The Pareto front of a ``[ga] mode = "pareto"`` run (front.csv); "" for other runs."""
        from gafit.pareto import objective_names, plot_front, read_front

        path = self.run / "front.csv"
        if not path.exists():
            return ""
        rows = read_front(path)
        names = objective_names(rows)
        f = np.array([[r[f"objective:{n}"] for n in names] for r in rows])
        knee = next((i for i, r in enumerate(rows) if r["knee"]), 0)
        info_path = self.run / "front.json"
        info = strict_json.loads(info_path.read_text(encoding="utf-8")) if info_path.exists() else {}
        ga_f = np.array(info.get("ga_front") or [], float).reshape(-1, len(names))
        plot_front(self.out / "front.png", names, f, knee, ga_f)
        cols = [k for k in rows[0] if k.startswith(("objective:", "rmse:"))]
        table = _table(["member"] + [_esc(c) for c in cols],
                       [[f"{r['member']}{' (knee)' if r['knee'] else ''}"]
                        + [f"{r[c]:.4g}" for c in cols] for r in rows])
        return ('<h2 id="front">Pareto front</h2>'
                + _img("front.png", "Pareto front",
                       f"The front between {', '.join(_esc(n) for n in names)} (loss values; grey: "
                       "the GA's first front before the least squares); the star is the knee, "
                       "which the rest of this page shows. <code>gafit pick</code> writes another "
                       "member as a fit result.")
                + table)

    def convergence(self) -> str:
        parts = ['<h2 id="convergence">Convergence of the genetic algorithm</h2>']
        path = self.run / "log.csv"
        if not path.exists():
            parts.append(Note("warning", "log.csv is missing from the run folder.").html())
            return "".join(parts)
        log = _read_csv(path)
        weights = self.summary.get("weights") or {}
        png = plot_convergence(log, self.summary, weights, self.out / "convergence.png")
        if png is None:
            parts.append(Note("info", "The GA ran no generations (log.csv is empty).").html())
            return "".join(parts)
        last = log[-1]
        parts.append(_img(png, "GA convergence",
                          "Top: the best and the median loss of the population per generation "
                          "(log scale); dashed: the final loss after the least-squares refinement. "
                          "Bottom: the RMSEs (training set) of each generation's best individual; "
                          f"dashed: the final values. {len(log)} generations logged, "
                          f"{_esc(last.get('evaluations', '–'))} evaluations in "
                          f"{_duration(float(last['elapsed_s']) if last.get('elapsed_s') else None)}."))
        return "".join(parts)

    def parameters(self) -> str:
        parts = ['<h2 id="parameters">Parameters</h2>']
        path = self.run / "parameters.csv"
        if not path.exists():
            parts.append(Note("warning", "parameters.csv is missing from the run folder.").html())
            return "".join(parts)
        rows_in = _read_csv(path)
        specs = {}
        for form in self.potential.forms:
            for p in form.params:
                specs[p.name] = p
        rows, classes = [], []
        n_bound = 0
        for r in rows_in:
            name = r.get("name", "")
            pname = name.rpartition(".")[2]
            spec = specs.get(pname) if not name.endswith(".E0") or "-" in name else None
            unit = "eV/atom" if spec is None and name.endswith(".E0") else (spec.unit if spec else "")
            bound = str(r.get("at_bound", "")).strip().lower()
            at = bound in ("lower", "upper", "true")  # "true": files of gafit before 0.2
            pos = ""
            try:
                v, lo, hi = float(r["value"]), float(r["low"]), float(r["high"])
                if hi > lo:
                    log = bool(spec and spec.log and lo > 0 and v > 0)
                    f = (math.log(v / lo) / math.log(hi / lo)) if log else (v - lo) / (hi - lo)
                    f = min(max(f, 0.0), 1.0)
                    side = bound if bound in ("lower", "upper") else "lower" if f < 0.5 else "upper"
                    pos = (f'<span class="bar" title="{f:.0%} of the range{" (log scale)" if log else ""}">'
                           f'<i style="left:calc({f * 100:.1f}% - 1.5px)"></i></span>'
                           f" {f:.0%}{' log' if log else ''}")
                    if at:
                        pos += f' <span class="flag">⚠ {side} bound</span>'
            except (KeyError, TypeError, ValueError):
                pass
            n_bound += at
            rows.append([f"<code>{_esc(name)}</code>", _esc(unit), _num(r.get("value"), ".8g"),
                         _esc(r.get("status", "")), _num(r.get("low"), ".6g"),
                         _num(r.get("high"), ".6g"), pos])
            classes.append("atbound" if at else "")
        parts.append('<p><span class="legend-box"></span> <b>ended at a bound: widen it or fix '
                     f"it</b> ({n_bound} parameter{'s' if n_bound != 1 else ''} here). The bar shows "
                     "where the value lies between its bounds (on a log scale for parameters the "
                     "search explores on a log scale).</p>")
        parts.append(_table(["name", "unit", "value", "status", "low", "high", "position in range"],
                            rows, num=(2, 4, 5), row_classes=classes))
        return "".join(parts)

    def phonons(self) -> str:
        targets = self.summary.get("phonons") or []
        if not targets and not (self.config and self.config.phonons):
            return ""
        parts = ['<h2 id="phonons">Phonons</h2>']
        if targets:
            fitted_rms: list[float | None] = [None] * len(targets)
            if len(targets) == 1:
                v = (self.summary.get("rmse") or {}).get("train", {}).get("phonons")
                fitted_rms[0] = float(v) if _finite(v) else None
            png = plot_phonon_points(targets, fitted_rms, self.out / "phonons_qpoints.png")
            parts.append(_img(png, "phonon frequencies at the fitted q-points",
                              "Frequencies (THz) at the q-points the fit used, sorted per q-point: "
                              "gafit (circles) vs the reference (bars), both at the reference's own "
                              "geometry (the fit compares there). Γ acoustic modes are not fitted."))
            for t, rows in enumerate(targets):
                if len(targets) > 1:
                    parts.append(f"<h3>Phonon target {t + 1}</h3>")
                parts += [n.html() for n in _imaginary_notes(rows)]
                parts.append(_table(
                    ["q-point", "RMS (THz)", "gafit (THz)", "reference (THz)"],
                    [[_esc(r["label"]), _num(r.get("rms"), ".3f"),
                      _freqs(r["gafit"]), _freqs(r["reference"])] for r in rows], num=(1,)))
        parts.append(self._dispersion())
        return "".join(parts)

    def property_targets(self) -> str:
        """The [[properties]] targets of the fit: value at the fitted potential, reference,
        tolerance, pass or FAIL (gafit.property_target)."""
        rows = self.summary.get("properties") or []
        if not rows:
            return ""
        body = []
        for r in rows:
            flag = "pass" if r.get("pass") else "<b>FAIL</b>"
            if not r.get("in_range", True):
                flag += " (relaxed lattice outside the tabulated ±5 %)"
            rel = f" − {r['relative_to']}" if r.get("relative_to") else ""  # dE
            body.append([_esc(f"{r.get('structure')} {' '.join(r.get('species') or [])}{rel}"),
                         _esc(r.get("property")), _esc(r.get("unit")), _num(r.get("value"), ".5g"),
                         _num(r.get("reference"), ".5g"), _num(r.get("tolerance"), ".3g"),
                         _num(r.get("weight"), ".3g"), flag, _esc(r.get("citation") or "")])
        return ('<h2 id="properties">Property targets</h2><p>Each at the fitted potential\'s own '
                "relaxed lattice; elastic constants relaxed-ion except C44_unrelaxed.</p>"
                + _table(["structure", "property", "unit", "value", "reference", "tolerance",
                          "weight", "result", "citation"], body, num=(3, 4, 5, 6)))

    def validation_suite(self) -> str:
        """The [validate] suite run at the end of the fit (RUN_DIR/validate/validate.json, written by
        gafit.fit_validate): pass, FAIL or skipped per check, and the verdict."""
        path = self.run / "validate" / "validate.json"
        if not path.is_file():
            return ""
        doc = strict_json.loads(path.read_text(encoding="utf-8"))
        checks = [c for c in doc.get("checks") or [] if isinstance(c, dict)]
        body = [[_esc(c.get("name")), _esc(c.get("quantity")), _esc(c.get("structure")),
                 "<b>FAIL</b>" if c.get("status") == "FAIL" else _esc(c.get("status")),
                 _num(c.get("value"), ".5g"), _num(c.get("reference"), ".5g"), _esc(c.get("unit")),
                 _esc(c.get("difference")), _esc(c.get("tolerance")), _esc(c.get("note"))]
                for c in checks]
        suite = doc.get("suite") or {}
        verdict = Note("info" if doc.get("passed") else "error", _esc(doc.get("verdict")))
        return ('<h2 id="validation">Validation suite</h2>'
                f"<p>Suite <code>{_esc(suite.get('name'))}</code> (<code>"
                f"{_esc(_short_path(suite.get('file')))}</code>) run on the fitted potential; "
                'the full page: <a href="../validate/index.html">validate/index.html</a>.</p>'
                + verdict.html()
                + _table(["check", "quantity", "structure", "result", "value", "reference", "unit",
                          "difference", "tolerance", "note"], body, num=(4, 5)))

    def _dispersion(self) -> str:
        if self.config is None or not self.config.phonons:
            return Note("info", "The full dispersion needs the fit's config (its [phonons] "
                        "reference).").html()
        from gafit.nac import parse_epsilon
        from gafit.phonons import (
            cubic_lattice_constant,
            lattice_type,
            phonon_report,
            plot_band,
        )

        parts = []
        for k, pc in enumerate(self.config.phonons):
            try:
                ref, cell, smat = self._reference(pc)
                cubic = lattice_type(cell)[0].startswith("c")
                a_ref = cubic_lattice_constant(cell) if cubic else None
                formula = cell.get_chemical_formula(empirical=True)
                figs = []
                variants = [(True, "relaxed")] if cubic else []
                variants.append((False, "reference"))
                for relax, tag in variants:
                    try:
                        res = phonon_report(self.potential, cell, smat, None,
                                            path=DISPERSION_PATHS.get(lattice_type(cell)[0], "auto"),
                                            reference=ref, relax=relax, name="gafit",
                                            reference_name="reference",
                                            epsilon_inf=parse_epsilon(pc.epsilon_inf, "epsilon_inf"))
                    except GafitInputError as err:
                        parts.append(Note("warning", f"Dispersion ({tag} geometry) not computed: "
                                          f"{_esc(err)}").html())
                        continue
                    rms = res.errors.rms if res.errors is not None else float("nan")
                    if relax:
                        geo = f"gafit at its own relaxed a = {res.lattice_constant:.4f} Å"
                        cap = (f"At the potential's own relaxed lattice constant a = "
                               f"{res.lattice_constant:.4f} Å (the reference's is {a_ref:.4f} Å), "
                               f"reference frequencies at theirs. RMS difference over the path "
                               f"{rms:.3f} THz.")
                    else:
                        geo = "at the reference's geometry" + (f", a = {a_ref:.4f} Å" if a_ref else "")
                        cap = (f"Both at the reference's geometry{f' (a = {a_ref:.4f} Å)' if a_ref else ''}"
                               f", where the fit compared frequencies. RMS difference over the "
                               f"path {rms:.3f} THz.")
                    parts += [Note("warning", f"Dispersion ({tag} geometry): "
                                   + _esc(f.removeprefix("! "))).html() for f in res.imaginary.flags]
                    mine = f"gafit ({res.model_nac_text})" if res.model_nac_text else "gafit"
                    fig = plot_band(res.band, f"{formula}: {geo}; RMS {rms:.3f} THz",
                                    res.reference_frequencies, "reference", mine)
                    png = _save(fig, self.out / f"phonons_dispersion{k + 1}_{tag}.png")
                    figs.append(_img(png, f"phonon dispersion, {tag} geometry", cap))
                if figs:
                    parts.append(f"<h3>Dispersion vs <code>{_esc(_short_path(pc.reference))}</code></h3>")
                    parts.append('<div class="row2">' + "".join(figs) + "</div>")
            except (GafitInputError, OSError) as err:
                parts.append(Note("warning", f"The dispersion vs {_esc(_short_path(pc.reference))} "
                                  f"could not be computed: {_esc(err)}").html())
        return "".join(parts)

    def lammps_files(self) -> str:
        folder = self.run / "lammps"
        if not folder.is_dir():
            return ""
        parts = ['<h2 id="lammps">LAMMPS files</h2>',
                 "<p>As written in <code>lammps/</code> of the run folder (copied here so the page "
                 "stands alone). gafit's energy = LAMMPS potential energy + Σ E0 over the atoms.</p>"]
        for f in sorted(folder.iterdir()):
            if f.is_file() and f.stat().st_size < 200_000:
                text = f.read_text(encoding="utf-8", errors="replace")
                parts.append(f"<details><summary><code>{_esc(f.name)}</code></summary>"
                             f"<pre>{_esc(text)}</pre></details>")
        return "".join(parts)

    # ---- the page ------------------------------------------------------------------------------
    def build(self) -> str:
        from gafit._version import __version__

        self.out.mkdir(parents=True, exist_ok=True)
        sections = []
        for fn in (self.front, self.parity, self.config_types, self.convergence, self.parameters,
                   self.phonons, self.property_targets, self.validation_suite, self.lammps_files):
            try:
                sections.append(fn())
            except Exception as err:  # a report says what failed rather than failing
                title = fn.__name__.replace("_", " ")
                sections.append(f"<h2>{_esc(title.capitalize())}</h2>" + Note(
                    "error", f"This section could not be made: {_esc(type(err).__name__)}: "
                    f"{_esc(err)}").html())
        header = self.header()
        at_bounds = self.summary.get("parameters_at_bounds") or []
        if at_bounds:
            sides = at_bounds if isinstance(at_bounds, dict) else dict.fromkeys(at_bounds, "")
            self.notes.append(Note("warning", f"{len(sides)} parameter"
                                   f"{'s' if len(sides) != 1 else ''} ended at a bound that the "
                                   "loss pushes against (" + ", ".join(
                                       f"<code>{_esc(n)}</code>" + (f" {_esc(s)}" if s else "")
                                       for n, s in sides.items())
                                   + '): widen it or fix it; see <a href="#parameters">'
                                   "Parameters</a>."))
        self.notes += _wall_notes(self.summary.get("walls") or [])
        self.notes += _constraint_notes(self.summary.get("wall_constraint"))
        self.notes += _guard_notes(self.summary.get("guards"))
        self.notes += _flag_notes(self.summary.get("stability_flags"))
        self.notes += _flag_notes((self.summary.get("e0_check") or {}).get("flags"))
        if self.data_note is not None and self.data_note not in self.notes:
            self.notes.append(self.data_note)
        species = ", ".join(self.pot_dict.get("species", []))
        forms = " + ".join(f.get("form", "?") for f in self.pot_dict.get("forms", []))
        nav = [("front", "Pareto front")] if 'id="front"' in "".join(sections) else []
        nav += [("summary", "Summary"), ("parity", "Predicted vs reference"),
               ("config-types", "Per config_type"), ("convergence", "Convergence"),
               ("parameters", "Parameters")]
        if 'id="phonons"' in "".join(sections):
            nav.append(("phonons", "Phonons"))
        if 'id="properties"' in "".join(sections):
            nav.append(("properties", "Property targets"))
        if 'id="validation"' in "".join(sections):
            nav.append(("validation", "Validation suite"))
        if 'id="lammps"' in "".join(sections):
            nav.append(("lammps", "LAMMPS files"))
        now = datetime.datetime.now().strftime("%Y-%m-%d %H:%M")
        title = f"gafit fit: {forms} for {species}"
        return "\n".join([
            "<!DOCTYPE html>",
            '<html lang="en"><head><meta charset="utf-8">',
            '<meta name="viewport" content="width=device-width, initial-scale=1">',
            f"<title>{_esc(title)} ({_esc(self.run.name)})</title>",
            f"<style>{CSS}</style></head><body><main>",
            f"<h1>{_esc(title)}</h1>",
            f'<p class="sub">Run folder <code>{_esc(_short_path(self.run))}</code> · report made '
            f"{now} by gafit {__version__}</p>",
            "<nav>" + "".join(f'<a href="#{i}">{t}</a>' for i, t in nav) + "</nav>",
            "".join(n.html() for n in self.notes),
            '<h2 id="summary">Summary</h2>',
            header,
            *sections,
            "<footer>Units: energy per atom in eV/atom, forces in eV/Å, stress in GPa (positive = "
            "tensile), phonon frequencies in THz. Made by <code>gafit report</code>.</footer>",
            "</main></body></html>",
        ])


def _wall_notes(walls: list[dict]) -> list[Note]:
    """A warning per pair channel that summary.json's ``walls`` marks unsafe (gafit.walls)."""
    out = []
    for w in walls:
        if not isinstance(w, dict) or not w.get("unsafe"):
            continue
        where = (f". The wall ends at r_max = {_num(w.get('r_max'))} Å (E = {_num(w.get('e_max'))} eV, "
                 f"barrier {_num(w.get('barrier'))} eV above the well)" if w.get("has_wall") else "")
        data = (f"; the shortest {_esc(w.get('channel'))} distance in the training data is "
                f"{_num(w.get('r_short'))} Å" if w.get("r_short") is not None else "")
        out.append(Note("warning", f"No safe repulsive wall in the <code>{_esc(w.get('channel'))}"
                        f"</code> channel: {_esc(w['unsafe'])}{where}{data}. MD that pushes such "
                        "pairs closer than the data did can collapse them."))
    return out


def _constraint_notes(wc: object) -> list[Note]:
    """summary.json's ``wall_constraint``: an info line when it held, a warning naming the channels
    it did not hold in (gafit.walls.WallConstraint)."""
    if not isinstance(wc, dict) or not isinstance(wc.get("channels"), list):
        return []
    rows = [c for c in wc["channels"] if isinstance(c, dict)]
    spans = ", ".join(f"<code>{_esc(c.get('channel'))}</code> {_num(c.get('r_from'))}–"
                      f"{_num(c.get('r_to'))} Å" for c in rows)
    if wc.get("held"):
        return [Note("info", f"Wall constraint held: every constrained channel repels from the "
                     f"named distance up to the data's shortest distance ({spans}).")]
    broken = ", ".join(f"<code>{_esc(c.get('channel'))}</code> (breach {_num(c.get('violation'))} eV)"
                       for c in rows if not c.get("held"))
    return [Note("warning", f"Wall constraint NOT held in {broken}: the search found no candidate "
                 f"that keeps the wall ({spans}); widen the bounds or lower the distance.")]


def _guard_notes(guards: object) -> list[Note]:
    """summary.json's ``guards`` ([constraints] stable, e0_range; gafit.guards): an info line when
    they held, a warning naming the channels that did not."""
    if not isinstance(guards, list) or not guards:
        return []
    from gafit.guards import guard_line

    rows = [g for g in guards if isinstance(g, dict) and isinstance(g.get("channels"), list)]
    if all(g.get("held") for g in rows):
        return [Note("info", "Stability constraints held: " + _esc(guard_line(rows)) + ".")]
    return [Note("warning", "Stability constraints NOT all held: " + _esc(guard_line(rows))
                 + ": the search found no candidate that keeps them; see gafit.guards.")]


def _imaginary_notes(rows: list[dict]) -> list[Note]:
    """A warning when gafit's frequencies at a phonon target's q-points (summary.json) hold imaginary
    modes (gafit.stability.imaginary_modes; Γ's acoustic modes excepted)."""
    from gafit.phonons import canonical_label
    from gafit.stability import imaginary_modes

    try:
        labels = [canonical_label(r.get("label", "")) for r in rows]
        freq = np.array([r["gafit"] for r in rows], float)
        res = imaginary_modes(freq, [lab == "Γ" for lab in labels], labels)
    except (KeyError, TypeError, ValueError):
        return []
    return [Note("warning", "At the fitted q-points (reference geometry): " + _esc(f.removeprefix("! ")))
            for f in res.flags]


def _flag_notes(flags: object) -> list[Note]:
    """A warning per '! ...' flag of gafit.stability."""
    if not isinstance(flags, list):
        return []
    return [Note("warning", _esc(str(f).removeprefix("! "))) for f in flags]


def write_report(run_dir: str | Path, config: FitConfig | str | Path | None = None) -> Path:
    """Write ``RUN_DIR/report/index.html`` (and its PNGs beside it) for a fit's run folder.

    ``config`` is the fit's config (a :class:`~gafit.config.FitConfig` or a TOML path); by default
    the one named in ``summary.json`` (or in the provenance line of ``lammps/pair.lmp``). Without a
    config or its data the page says so and leaves the parity plots out. Returns the page's path.
    """
    from gafit.io.atomic import atomic_batch, atomic_write_text
    from gafit.io.paths import output_folder

    run = Path(run_dir)
    report = _Report(run, config)
    output_folder(report.out, "report")
    path = report.out / "index.html"
    old = {p for pattern in PNG_PATTERNS for p in report.out.glob(pattern)}
    # all files of the page are renamed into place together: a full disk leaves the old page whole
    with atomic_batch() as written:
        atomic_write_text(path, report.build())
    for stale in old - {target for _, target in written}:  # plots the new page does not have
        stale.unlink(missing_ok=True)
    return path
