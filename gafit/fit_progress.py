"""Progress of a fit on the terminal and in its log: per GA generation, per least-squares start."""

from __future__ import annotations

import csv
import io
import sys
import time
from collections.abc import Callable

import numpy as np

from gafit.objective import Objective


def log_csv(rows: list[dict]) -> str:
    """The rows of a fit's log as CSV text (log.csv); empty without rows."""
    if not rows:
        return ""
    buf = io.StringIO()
    # every column of every row: a resumed run's rows from an older gafit may lack some
    w = csv.DictWriter(buf, fieldnames=list(dict.fromkeys(k for r in rows for k in r)))
    w.writeheader()
    w.writerows(rows)
    return buf.getvalue()


class GenerationLog:
    """Per-generation rows (best and median loss, the best individual's RMSEs and loss by term),
    with a progress bar on the terminal (none when ``quiet``)."""

    def __init__(self, objective: Objective, to_x: Callable[[np.ndarray], np.ndarray], total: int,
                 quiet: bool, rows: list[dict] | None = None, validation: Objective | None = None,
                 validation_stall: int | None = None, subset_generations: int = 0):
        # to_x: an individual of the GA's unit cube -> its free vector (gafit.fitting.UnitCube.x)
        self.objective, self.to_x, self.total = objective, to_x, total
        self.subset_generations = subset_generations
        self.validation, self.validation_stall = validation, validation_stall
        self.rows: list[dict] = list(rows or [])
        self.bar = None
        self.shown = 0.0  # time of the last note shown
        if not quiet:
            from tqdm import tqdm

            self.bar = tqdm(total=total, initial=len(self.rows) and self.rows[-1]["generation"],
                            desc="GA", unit="gen", file=sys.stderr, dynamic_ncols=True,
                            mininterval=0.5)

    def __call__(self, gen: int, pop_u: np.ndarray, losses: np.ndarray, evals: int,
                 elapsed: float) -> str | None:
        best = int(np.argmin(losses))
        x = self.to_x(pop_u[best])[None]
        rmse = self.objective.rmse(x)[0]
        on_subset = gen < self.subset_generations
        # in the subset phase the population's losses are on the subset: log the best one's loss
        # on all structures (its median stays a subset figure, flagged by the ``subset`` column)
        best_loss = float(self.objective.loss(x)[0]) if on_subset else float(losses[best])
        row = {"generation": gen, "evaluations": evals, "elapsed_s": round(elapsed, 3),
               "best_loss": best_loss, "median_loss": float(np.median(losses))}
        if self.subset_generations:
            row["subset"] = int(on_subset)
        row.update({f"rmse_{p}": v for p, v in rmse.items()})
        # the best one's loss by term, on all structures (they add up to best_loss but in the
        # subset phase)
        row.update({f"loss_{t}": v for t, v in self.objective.breakdown(x)[0].items()})
        if self.validation is not None:
            # validation with the E0 offsets solved on the training data
            theta = self.objective.evaluate(x)[0]
            xv = np.hstack([x, theta[:, self.objective.space.auto_e0]])
            row["validation_loss"] = float(self.validation.loss(xv)[0])
            row.update({f"validation_rmse_{p}": v
                        for p, v in self.validation.rmse(xv)[0].items()})
        self.rows.append(row)
        if self.bar is not None:
            rm = " ".join(f"{p[0].upper()} {v:.3g}" for p, v in rmse.items() if np.isfinite(v))
            self.bar.set_postfix_str(f"best {row['best_loss']:.4g} | RMSE {rm}", refresh=False)
            self.bar.update(gen - self.bar.n)
        if self.validation is not None and self.validation_stall:
            vl = [r["validation_loss"] for r in self.rows]
            if len(vl) > self.validation_stall and min(vl[-self.validation_stall:]) >= min(
                    vl[: -self.validation_stall]):
                return "validation"
        return None

    def note(self, text: str) -> None:
        """Show what happens between generations (e.g. a memetic step) beside the bar."""
        if self.bar is not None and time.perf_counter() - self.shown > 0.5:
            self.shown = time.perf_counter()
            self.bar.set_postfix_str(text, refresh=True)

    def close(self) -> None:
        if self.bar is not None:
            self.bar.close()
            self.bar = None

    def to_csv(self) -> str:
        return log_csv(self.rows)


class RefineLog:
    """Progress of a least-squares phase on the terminal (none when ``quiet``): the start under
    way, its evaluations and the best loss so far."""

    def __init__(self, n_starts: int, quiet: bool):
        self.n_starts, self.best, self.shown = n_starts, np.inf, 0.0
        self.bar = None
        if not quiet and n_starts:
            from tqdm import tqdm

            self.bar = tqdm(total=n_starts, desc="least squares", unit="start", file=sys.stderr,
                            dynamic_ncols=True, mininterval=0.5)

    def __call__(self, k: int, evaluations: int, loss: float) -> None:
        if np.isfinite(loss):
            self.best = min(self.best, loss)
        if self.bar is not None and time.perf_counter() - self.shown > 0.5:
            self.shown = time.perf_counter()
            self.bar.set_postfix_str(f"start {k + 1} of {self.n_starts}: {evaluations} "
                                     f"evaluations, best loss {self.best:.4g}", refresh=False)
            self.bar.n = k
            self.bar.refresh()

    def close(self) -> None:
        if self.bar is not None:
            self.bar.n = self.n_starts
            self.bar.set_postfix_str(f"best loss {self.best:.4g}", refresh=False)
            self.bar.close()
            self.bar = None
