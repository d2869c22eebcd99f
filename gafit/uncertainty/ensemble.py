"""An ensemble of parameter vectors and its summary table: per free parameter the value at the
optimum, mean, standard deviation and 1σ interval, the correlations, and the parameters the data
cannot determine. Written as ``uncertainty/ensemble_<method>.csv`` (one member per row) with a
JSON beside it (method, seed, summary, what the method measured)."""

from __future__ import annotations

import csv
import io
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from gafit.io import strict_json
from gafit.io.atomic import atomic_write_text
from gafit.structures import GafitInputError

#: ``|correlation|`` from which a pair of parameters is called strongly correlated
STRONG_CORRELATION = 0.9
#: 1σ interval of an ensemble: its 15.87th and 84.13th percentiles (a normal's mean ± σ)
SIGMA_PERCENTILES = (15.865525393145708, 84.13447460685429)
METHODS = ("fisher", "bootstrap", "mcmc")
FOLDER = "uncertainty"


@dataclass
class Summary:
    """Per free parameter (``names``): value at the optimum, mean, std, 1σ interval [lo, hi]
    (physical units); the correlation matrix; the parameters the data cannot determine (each
    with why) and notes."""

    names: list[str]
    value: np.ndarray
    mean: np.ndarray
    std: np.ndarray
    lo: np.ndarray
    hi: np.ndarray
    corr: np.ndarray
    undetermined: dict[str, str] = field(default_factory=dict)
    notes: list[str] = field(default_factory=list)

    def correlated_pairs(self, threshold: float = STRONG_CORRELATION) -> list[tuple[str, str, float]]:
        """(name, name, correlation) of the pairs with ``|correlation| >= threshold``."""
        n = len(self.names)
        return [(self.names[i], self.names[j], float(self.corr[i, j]))
                for i in range(n) for j in range(i + 1, n)
                if np.isfinite(self.corr[i, j]) and abs(self.corr[i, j]) >= threshold]

    def table(self, title: str = "") -> str:
        """The summary as text: one line per parameter, then correlations and findings."""
        width = max(len(n) for n in self.names)
        lines = [title] if title else []
        lines.append(f"{'parameter':<{width}}  {'value':>12} {'mean':>12} {'std':>11} "
                     f"{'rel.std':>8}  1σ interval")
        for k, n in enumerate(self.names):
            rel = abs(self.std[k] / self.value[k]) if self.value[k] else float("inf")
            lines.append(f"{n:<{width}}  {self.value[k]:12.6g} {self.mean[k]:12.6g} "
                         f"{self.std[k]:11.4g} {100 * rel:7.2f}%  "
                         f"[{self.lo[k]:.6g}, {self.hi[k]:.6g}]")
        if len(self.names) > 1:
            lines.append("correlations:")
            for k, n in enumerate(self.names):
                lines.append(f"  {n:<{width}} " + " ".join(f"{c:6.3f}" for c in self.corr[k]))
        pairs = self.correlated_pairs()
        lines.append("strongly correlated (|r| >= 0.9): "
                     + (", ".join(f"{a} ~ {b} ({r:+.3f})" for a, b, r in pairs) or "none"))
        lines.append("not determined by the data: "
                     + ("; ".join(f"{n} ({why})" for n, why in self.undetermined.items())
                        or "none"))
        lines += self.notes
        return "\n".join(lines)

    def to_dict(self) -> dict[str, Any]:
        return {"parameters": {n: {"value": self.value[k], "mean": self.mean[k],
                                   "std": self.std[k], "lo": self.lo[k], "hi": self.hi[k]}
                               for k, n in enumerate(self.names)},
                "correlation": self.corr.tolist(),
                "strongly_correlated": [list(p) for p in self.correlated_pairs()],
                "undetermined": self.undetermined, "notes": self.notes}


def correlation(cov: np.ndarray) -> np.ndarray:
    """Correlation matrix of a covariance (NaN where a variance is 0 or not finite)."""
    sd = np.sqrt(np.diag(cov))
    with np.errstate(divide="ignore", invalid="ignore"):
        c = cov / np.outer(sd, sd)
    ok = np.isfinite(sd) & (sd > 0)
    c[~(ok[:, None] & ok[None, :])] = np.nan
    np.fill_diagonal(c, np.where(ok, 1.0, np.nan))
    return c


def sample_summary(names: list[str], value: np.ndarray, samples: np.ndarray) -> Summary:
    """The summary of an ensemble ``samples`` (N, n): mean, std (N - 1), percentile interval,
    correlations of the members."""
    samples = np.asarray(samples, float)
    if len(samples) < 2:
        raise GafitInputError("uncertainty: an ensemble needs at least 2 members")
    lo, hi = np.percentile(samples, SIGMA_PERCENTILES, axis=0)
    return Summary(list(names), np.asarray(value, float), samples.mean(axis=0),
                   samples.std(axis=0, ddof=1), lo, hi, correlation(np.cov(samples.T, ddof=1)
                                                                    .reshape(len(names), -1)))


@dataclass
class Ensemble:
    """Members (N, n) of free parameter vectors (physical units) drawn by ``method`` with
    ``seed``, the optimum ``x`` they scatter around, their :class:`Summary` and what the method
    measured (``info``: noise variance, evaluations, CPU time, ...)."""

    method: str
    seed: int | None
    names: list[str]
    x: np.ndarray
    samples: np.ndarray
    summary: Summary
    info: dict[str, Any] = field(default_factory=dict)
    # parameters that follow from the free ones per member (the automatic E0 offsets, solved on
    # the training data): written beside them so a member's predictions need no refit
    extra_names: list[str] = field(default_factory=list)
    extra: np.ndarray | None = None  # (N, len(extra_names))
    # how the likelihood's variance was set (gafit.uncertainty.problem.SCALES): "model-error"
    # ensembles are written beside the plain ones, as ensemble_<method>_model-error.csv
    scale: str = "noise"

    @property
    def label(self) -> str:
        """'fisher', or 'fisher_model-error' for a model-error-scaled one (file names, titles)."""
        return self.method if self.scale == "noise" else f"{self.method}_{self.scale}"

    def paths(self, run_dir: str | Path) -> tuple[Path, Path, Path]:
        """The ensemble's CSV, JSON and table in ``run_dir/uncertainty/``."""
        folder = Path(run_dir) / FOLDER
        stem = f"ensemble_{self.label}"
        return folder / f"{stem}.csv", folder / f"{stem}.json", folder / f"table_{self.label}.txt"

    def write(self, run_dir: str | Path) -> list[Path]:
        """Write the CSV (one member per row, a column per free parameter, then the automatic E0
        offsets), the JSON beside it and the text table into ``run_dir/uncertainty/``; returns their paths."""
        csv_path, json_path, table_path = self.paths(run_dir)
        csv_path.parent.mkdir(parents=True, exist_ok=True)
        buf = io.StringIO()
        w = csv.writer(buf, lineterminator="\n")
        w.writerow(self.names + self.extra_names)
        values = self.samples if self.extra is None else np.hstack([self.samples, self.extra])
        w.writerows([[repr(float(v)) for v in row] for row in values])
        atomic_write_text(csv_path, buf.getvalue())
        meta = {"method": self.method, "scale": self.scale, "seed": self.seed,
                "members": len(self.samples),
                "parameters": self.names, "derived": self.extra_names,
                "optimum": self.x.tolist(), "csv": csv_path.name,
                "summary": self.summary.to_dict(), "info": self.info}
        atomic_write_text(json_path, strict_json.dumps(meta, indent=2) + "\n")
        atomic_write_text(table_path, self.text() + "\n")
        return [csv_path, json_path, table_path]

    def text(self) -> str:
        seed = f", seed {self.seed}" if self.seed is not None else ""
        scaled = f" (--scale {self.scale})" if self.scale != "noise" else ""
        return self.summary.table(f"{self.method}{scaled}: {len(self.samples)} members{seed}")


def read_ensemble(path: str | Path) -> tuple[list[str], np.ndarray]:
    """Parameter names and members (N, n) of an ensemble CSV written by :meth:`Ensemble.write`."""
    p = Path(path)
    try:
        text = p.read_text(encoding="utf-8")
    except OSError as err:
        raise GafitInputError(f"--ensemble {p}: cannot read it ({err.strerror or err})") from None
    rows = list(csv.reader(io.StringIO(text)))
    if len(rows) < 2:
        raise GafitInputError(f"--ensemble {p}: no members (expected a header and rows)")
    names = rows[0]
    out = []
    for line, row in enumerate(rows[1:], 2):
        if len(row) != len(names):
            raise GafitInputError(f"--ensemble {p}: line {line}: {len(row)} values for "
                                  f"{len(names)} parameters")
        try:
            out.append([float(v) for v in row])
        except ValueError:
            raise GafitInputError(f"--ensemble {p}: line {line}: not a number") from None
    return names, np.array(out)
