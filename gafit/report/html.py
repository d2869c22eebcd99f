"""The HTML pieces of the report: escaping, numbers, tables, key-value lists, figures and the
page's CSS."""

from __future__ import annotations

import html
import math
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

#: sub-folder of the run folder that holds the page and its plots
REPORT_DIR = "report"
#: PNGs the report writes (older copies are removed before a new report is written)
PNG_PATTERNS = ("parity*.png", "config_types*.png", "convergence*.png", "phonon*.png",
                "front*.png", "uncertainty*.png")


def esc(x: Any) -> str:
    return html.escape(str(x), quote=True)


def finite(x: Any) -> bool:
    return isinstance(x, int | float) and not isinstance(x, bool) and math.isfinite(x)


def num(x: Any, fmt: str = ".4g") -> str:
    """A number for the page; '–' for missing or NaN values."""
    if x is None or x == "":
        return "–"
    try:
        v = float(x)
    except (TypeError, ValueError):
        return esc(x)
    return format(v, fmt) if math.isfinite(v) else "–"


def duration(seconds: Any) -> str:
    if not finite(seconds):
        return "–"
    s = float(seconds)
    if s < 60:
        return f"{s:.1f} s"
    if s < 3600:
        return f"{int(s // 60)} min {s % 60:.0f} s"
    return f"{int(s // 3600)} h {int(s % 3600 // 60)} min"


def freqs(values: Iterable[float]) -> str:
    """Frequencies (THz) with two decimals, without '-0.00'."""
    return " ".join(f"{round(float(x), 2) + 0.0:.2f}" for x in values)



def short_path(path: Path | str | None) -> str:
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


def table(head: Sequence[str], rows: Iterable[Sequence[str]], num: Iterable[int] | None = None,
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


def kv(rows: Sequence[tuple[str, str]]) -> str:
    return ('<table class="kv"><tbody>'
            + "".join(f"<tr><th>{k}</th><td>{v}</td></tr>" for k, v in rows) + "</tbody></table>")


def img(src: str, alt: str, caption: str = "") -> str:
    cap = f"<figcaption>{caption}</figcaption>" if caption else ""
    return f'<figure><img src="{esc(src)}" alt="{esc(alt)}">{cap}</figure>'
