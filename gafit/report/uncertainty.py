"""The report's uncertainty section: what ``gafit uncertainty`` and the ``--ensemble`` options of
``gafit properties`` and ``gafit phonons`` recorded in ``RUN_DIR/uncertainty/`` -- per ensemble
the parameters' σ, correlations and calibration; the lattice and elastic constants with error
bars; the phonon dispersion with its ±1σ/±2σ band."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

from gafit.io import strict_json
from gafit.report.html import Note, esc, img, num, table
from gafit.report.plots import _new_figure, _save
from gafit.uncertainty.ensemble import FOLDER, METHODS, STRONG_CORRELATION

#: properties drawn with error bars (those computed), in this order
PROPERTY_ORDER = ("a", "c", "B", "C11", "C12", "C13", "C33", "C44", "C66")


def _order(label: str) -> tuple[int, int, str]:
    """fisher, mcmc, bootstrap first, each plain before its model-error-scaled one."""
    method, _, scale = label.partition("_")
    rank = {"fisher": 0, "mcmc": 1, "bootstrap": 2}
    return (bool(scale), rank.get(method, len(METHODS)), label)


def _read(path: Path) -> dict[str, Any] | None:
    try:
        doc = strict_json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    return doc if isinstance(doc, dict) else None


def records(run: Path, kind: str) -> dict[str, dict[str, Any]]:
    """label -> the JSON of every RUN_DIR/uncertainty/KIND_LABEL.json (kind: ensemble,
    properties, phonons), in the order of :func:`_order`; unreadable files are left out."""
    folder = run / FOLDER
    found = {}
    for p in sorted(folder.glob(f"{kind}_*.json")) if folder.is_dir() else []:
        doc = _read(p)
        if doc is not None:
            found[p.stem.removeprefix(f"{kind}_")] = doc
    return dict(sorted(found.items(), key=lambda kv: _order(kv[0])))


def title(label: str) -> str:
    """'fisher', 'fisher (model-error)'."""
    method, _, scale = label.partition("_")
    return f"{method} ({scale})" if scale else method


def column(label: str) -> str:
    """A table heading of an ensemble, its scale on a second line (narrow columns)."""
    return esc(title(label)).replace(" (", "<br>(")


def parameter_table(ensembles: dict[str, dict[str, Any]]) -> str:
    """Per free parameter its value and each ensemble's σ (and below it the relative σ); Fisher's
    cluster-robust σ beside them when recorded."""
    first = next(iter(ensembles.values()))
    names = list(first["summary"]["parameters"])
    head = ["parameter", "value"] + [f"σ {column(lb)}" for lb in ensembles]
    robust = {lb: e["info"]["robust_std"] for lb, e in ensembles.items()
              if e.get("method") == "fisher" and e.get("info", {}).get("robust_std")}
    robust_one = next(iter(robust.values()), None)  # the same for every Fisher scale
    if robust_one is not None:
        head.append("σ cluster-<br>robust")
    rows = []
    for k, n in enumerate(names):
        value = first["summary"]["parameters"][n]["value"]
        row = [f"<code>{esc(n)}</code>", num(value, ".6g")]
        for e in ensembles.values():
            p = e["summary"]["parameters"].get(n)
            sd = p["std"] if p else None
            rel = (f'<br><span class="sub">{100 * abs(sd / value):.2g} %</span>'
                   if p and value and np.isfinite(sd) else "")
            row.append(num(sd, ".3g") + rel)
        if robust_one is not None:
            row.append(num(robust_one[k], ".3g"))
        rows.append(row)
    return table(head, rows)


def correlation_table(names: list[str], corr: list[list[float]]) -> str:
    """The correlation matrix; pairs with an absolute correlation of 0.9 or more in bold."""
    short = [n.rpartition(".")[2] if n.count(".") else n for n in names]
    rows = []
    for i, n in enumerate(short):
        cells = []
        for j in range(len(names)):
            r = corr[i][j]
            text = "–" if r is None or not np.isfinite(r) else f"{r:+.2f}"
            strong = i != j and r is not None and np.isfinite(r) and abs(r) >= STRONG_CORRELATION
            cells.append(f"<b>{text}</b>" if strong else text)
        rows.append([f"<code>{esc(n)}</code>"] + cells)
    return table([""] + [f"<code>{esc(n)}</code>" for n in short], rows)


def findings(label: str, e: dict[str, Any]) -> str:
    s = e["summary"]
    pairs = ", ".join(f"{esc(a)} ~ {esc(b)} ({r:+.3f})" for a, b, r in s.get("strongly_correlated", []))
    und = "; ".join(f"<code>{esc(n)}</code> ({esc(why)})" for n, why in s.get("undetermined", {}).items())
    return (f"<p><b>{esc(title(label))}</b>, {e.get('members', '?')} members, seed "
            f"{esc(e.get('seed'))}: strongly correlated (|r| ≥ {STRONG_CORRELATION}): "
            f"{pairs or 'none'}; not determined by the data: {und or 'none'}.</p>")


def calibration_table(ensembles: dict[str, dict[str, Any]]) -> str:
    """Per ensemble with a calibration: within 1σ / 2σ, RMSE and RMS σ per property."""
    rows = []
    units = {"energy": "eV/atom", "forces": "eV/Å"}
    for lb, e in ensembles.items():
        cal = e.get("info", {}).get("calibration")
        if not isinstance(cal, dict):
            continue
        for prop, r in cal.items():
            if isinstance(r, dict):
                rows.append([esc(title(lb)), f"{esc(prop)} ({units.get(prop, '')})",
                             str(r.get("items")), f"{100 * r['within_1sigma']:.1f} %",
                             f"{100 * r['within_2sigma']:.1f} %", num(r.get("rmse"), ".3g"),
                             num(r.get("rms_sigma"), ".3g")])
    if not rows:
        return ""
    data = next((e["info"]["calibration"].get("data") for e in ensembles.values()
                 if isinstance(e.get("info", {}).get("calibration"), dict)), "")
    return (f"<h3>Calibration on held-out data</h3><p>On {esc(data)}: the fraction of items whose "
            "error (fitted potential − reference) lies within the ensemble's 1σ and 2σ; a "
            "calibrated spread gives 68.3 % and 95.4 %.</p>"
            + table(["ensemble", "property", "items", "within 1σ", "within 2σ", "RMSE",
                     "RMS σ"], rows))


def plot_properties(props: dict[str, dict[str, Any]], path: Path) -> str | None:
    """One panel per property: each ensemble's mean ± std (and ± 2σ, thin), the fitted value
    as a line."""
    keys = [k for k in PROPERTY_ORDER if any(k in p.get("spread", {}) for p in props.values())]
    if not keys:
        return None
    labels = list(props)
    fig = _new_figure(min(2.0 * len(keys) + 1, 11), 3.3)
    axes = np.atleast_1d(fig.subplots(1, len(keys)))
    for ax, key in zip(axes, keys, strict=True):
        fitted = next((p["properties"].get(key) for p in props.values()
                       if p.get("properties", {}).get(key) is not None), None)
        for i, lb in enumerate(labels):
            row = props[lb].get("spread", {}).get(key)
            if row is None:
                continue
            ax.errorbar([i], [row["mean"]], yerr=[2 * row["std"]], fmt="none", color=f"C{i}",
                        lw=0.8, capsize=2)
            ax.errorbar([i], [row["mean"]], yerr=[row["std"]], fmt="o", color=f"C{i}", lw=2,
                        capsize=4, ms=4)
        if fitted is not None:
            ax.axhline(fitted, color="0.3", lw=0.8, ls="--")
        unit = next((p.get("units", {}).get(key) for p in props.values()
                     if p.get("units", {}).get(key)), "")
        ax.set_title(f"{key} ({unit})" if unit else key, fontsize=9)
        ax.set_xticks(range(len(labels)), [title(lb) for lb in labels], fontsize=7,
                      rotation=40, ha="right", rotation_mode="anchor")
        ax.tick_params(axis="y", labelsize=7)
        ax.ticklabel_format(axis="y", useOffset=False)
        ax.set_xlim(-0.6, len(labels) - 0.4)
    return _save(fig, path)


def properties_part(props: dict[str, dict[str, Any]], out: Path) -> str:
    if not props:
        return ""
    structures = sorted({str(p.get("structure")) for p in props.values()})
    keys = [k for k in PROPERTY_ORDER if any(k in p.get("spread", {}) for p in props.values())]
    rows = []
    for key in keys:
        fitted = next((p["properties"].get(key) for p in props.values()
                       if p.get("properties", {}).get(key) is not None), None)
        unit = next((p.get("units", {}).get(key) for p in props.values()
                     if p.get("units", {}).get(key)), "")
        row = [f"{esc(key)}", esc(unit), num(fitted, ".6g")]
        for p in props.values():
            r = p.get("spread", {}).get(key)
            row.append("–" if r is None else f"{num(r['mean'], '.5g')} ± {num(r['std'], '.2g')}")
        rows.append(row)
    png = plot_properties(props, out / "uncertainty_properties.png")
    members = ", ".join(f"{esc(title(lb))} {p.get('members')}" for lb, p in props.items())
    return (f"<h3>Properties of {esc(', '.join(structures))} with error bars</h3>"
            + (img(png, "properties with error bars",
                   "Each ensemble's mean ± σ (thick) and ± 2σ (thin); dashed: the fitted "
                   "potential's value. Members: " + members) if png else "")
            + table(["property", "unit", "fitted"] + [f"mean ± σ<br>{column(lb)}"
                                                      for lb in props], rows))


def phonons_part(bands: dict[str, dict[str, Any]], out: Path) -> str:
    from gafit.phonons.paths import Band, BandPath
    from gafit.phonons.plot import plot_band

    figs = []
    for lb, rec in bands.items():
        try:
            seg = np.asarray(rec["segment"], int)
            q = np.asarray(rec["qpoints"], float)
            path = BandPath([q[seg == k] for k in range(len(rec["labels"]))],
                            [tuple(x) for x in rec["labels"]], list(rec["connections"]))
            band = Band(path, q, seg, np.asarray(rec["distances"], float),
                        np.asarray(rec["fitted"], float), path.point_labels())
            spread = (np.asarray(rec["mean"], float), np.asarray(rec["std"], float))
        except (KeyError, TypeError, ValueError) as err:
            figs.append(Note("warning", f"uncertainty/phonons_{esc(lb)}.json cannot be read: "
                             f"{esc(err)}").html())
            continue
        fig = plot_band(band, f"{rec.get('title', '')} ({title(lb)})", name="fitted",
                        spread=spread, members=int(rec.get("members", 0)))
        png = _save(fig, out / f"uncertainty_phonons_{lb}.png")
        rms = float(np.sqrt(np.mean(spread[1] ** 2)))
        figs.append(img(png, f"phonon band, {title(lb)}",
                        f"{esc(title(lb))}: {rec.get('members')} members; RMS σ over the path "
                        f"{rms:.3g} THz, largest {spread[1].max():.3g} THz."))
    if not figs:
        return ""
    return ("<h3>Phonon dispersion with its uncertainty</h3>"
            '<div class="row2">' + "".join(figs) + "</div>")


def uncertainty_section(run: Path, out: Path) -> str:
    """The section, or "" when the run folder holds no ensemble."""
    ensembles = records(run, "ensemble")
    if not ensembles:
        return ""
    parts = ['<h2 id="uncertainty">Uncertainty</h2>',
             "<p>From <code>uncertainty/</code> (<code>gafit uncertainty</code>; the "
             "<code>--ensemble</code> options of <code>gafit properties</code> and "
             "<code>gafit phonons</code> record their spreads there). σ: standard deviation of "
             "the ensemble's members (Fisher: the analytic one).</p>",
             parameter_table(ensembles)]
    for lb, e in ensembles.items():
        parts.append(findings(lb, e))
    first_label, first = next(iter(ensembles.items()))
    names = list(first["summary"]["parameters"])
    if len(names) > 1:
        parts.append(f"<h3>Correlations ({esc(title(first_label))})</h3>"
                     + correlation_table(names, first["summary"]["correlation"]))
        for lb, e in list(ensembles.items())[1:]:
            parts.append(f"<details><summary>Correlations ({esc(title(lb))})</summary>"
                         + correlation_table(list(e["summary"]["parameters"]),
                                             e["summary"]["correlation"]) + "</details>")
    parts.append(calibration_table(ensembles))
    parts.append(properties_part(records(run, "properties"), out))
    parts.append(phonons_part(records(run, "phonons"), out))
    return "".join(parts)
