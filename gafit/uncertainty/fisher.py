"""Fisher information / Gauss-Newton covariance at the optimum: cov = s² (JᵀJ)⁻¹ in the free
parameters (physical units), from the fit's (analytic where it has one) Jacobian J of the
weighted residuals, with s² = loss / (m - n) (:meth:`Problem.noise_variance`).

The inverse is a pseudo-inverse through the SVD of J with its columns scaled to relative changes
(J·diag(d), d = ``|x|``, or 1e-3 of the bounds' width where x is near 0), so the cut-offs do not
depend on the parameters' units:

- singular values below ``RCOND`` x the largest are numerically zero: those directions are not
  inverted (a silent inverse would give rounding noise), and a parameter that loads on one has an
  infinite standard deviation;
- a direction whose 1σ (s / singular value) exceeds 1 -- a relative change of 100 % of the
  parameters along it -- is not determined by the data; the parameters that load most on it are
  named.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from gafit.structures import GafitInputError
from gafit.uncertainty.ensemble import Ensemble, Summary, correlation
from gafit.uncertainty.problem import Problem, residual_variance, variance_text

#: singular values of the scaled Jacobian below RCOND x the largest are treated as zero (JᵀJ's
#: condition number would exceed 1e16, beyond double precision)
RCOND = 1e-8
#: a direction of the scaled parameters with a 1σ above this (relative change) is undetermined
UNDETERMINED_SIGMA = 1.0
#: a parameter is named for a direction when ``|its component|`` is at least this
LOADING = 0.3
@dataclass
class Fisher:
    """The Gauss-Newton analysis at the optimum: covariance (n, n), noise variance s², the scaled
    Jacobian's singular values and right singular vectors (columns), the column scales d."""

    names: list[str]
    x: np.ndarray
    cov: np.ndarray
    s2: float
    m: int
    singular: np.ndarray
    vectors: np.ndarray
    scale: np.ndarray
    null: np.ndarray  # bool per singular value: below the cut-off (not inverted)
    held: np.ndarray | None = None  # bool per parameter: held at the bound the loss presses
    # cluster-robust ("sandwich") covariance with the residuals of each structure as one
    # cluster: what resampling structures estimates, without assuming independent residuals
    robust: np.ndarray | None = None
    variance_scale: str = "noise"  # how s² was set (SCALES)

    @property
    def std(self) -> np.ndarray:
        return np.sqrt(np.diag(self.cov))

    def direction_sigma(self) -> np.ndarray:
        """1σ of each singular direction as a relative change (inf for a null direction)."""
        with np.errstate(divide="ignore"):
            return np.where(self.null, np.inf, np.sqrt(self.s2) / self.singular)

    def undetermined(self) -> dict[str, str]:
        """Parameters the data cannot determine: name -> why (the direction they load on)."""
        out: dict[str, str] = {}
        for k, sig in enumerate(self.direction_sigma()):
            if sig <= UNDETERMINED_SIGMA:
                continue
            v = self.vectors[:, k]
            combo = " ".join(f"{v[i]:+.2f} {self.names[i]}" for i in np.argsort(-np.abs(v))
                             if abs(v[i]) >= LOADING)
            why = ("null direction of the Jacobian" if self.null[k]
                   else f"direction {combo} has a relative 1σ of {sig:.3g}")
            for i in np.flatnonzero(np.abs(v) >= LOADING):
                out.setdefault(self.names[i], why)
        return out

    @property
    def robust_std(self) -> np.ndarray | None:
        return None if self.robust is None else np.sqrt(np.diag(self.robust))

    def summary(self) -> Summary:
        std = self.std
        held = [] if self.held is None else [n for n, h in zip(self.names, self.held,
                                                                strict=True) if h]
        notes = [f"held at the bound the loss presses them against (no spread; the covariance "
                 f"is that of the others with these fixed): {', '.join(held)}"] if held else []
        notes += [f"s² = {variance_text(self.variance_scale)} = {self.s2:.6g} (m = {self.m} data "
                  "residuals, "
                  f"n = {len(self.x)} free parameters); cov = s² (JᵀJ)⁻¹ by SVD, singular values "
                 f"of J·diag(d) below {RCOND:g} x the largest dropped "
                 f"({int(self.null.sum())} dropped)",
                 "condition number of the scaled Jacobian: "
                 + ("none (no parameter left free)" if not self.singular.size else
                    f"{self.singular[0] / self.singular[-1]:.4g}" if self.singular[-1] > 0
                    else "inf")]
        if self.variance_scale == "cluster-robust":
            notes.append("--scale cluster-robust: the std, correlations and members are those "
                         "of the cluster-robust covariance, not of s² (JᵀJ)⁻¹")
        if self.robust is not None:
            notes.append("cluster-robust std (residuals of a structure as one cluster; compare "
                         "with the bootstrap): " + ", ".join(
                             f"{n} {v:.4g}" + (f" ({v / s:.2g} x)" if s > 0 else "")
                             for n, v, s in zip(self.names, self.robust_std, std, strict=True)))
        return Summary(self.names, self.x, self.x.copy(), std, self.x - std, self.x + std,
                       correlation(self.cov), self.undetermined(), notes)

    def draw(self, n: int, seed: int, lower: np.ndarray, upper: np.ndarray,
             max_tries: int = 100) -> tuple[np.ndarray, int]:
        """``n`` members from the Gaussian N(x, cov) inside the bounds (draws outside them are
        rejected: a parameter beyond its physical range cannot be evaluated), and how many were
        rejected. Null directions get no spread."""
        rng = np.random.default_rng(seed)
        keep = ~self.null
        # cov = L Lᵀ with L = diag(d) V_kept diag(s / σ_kept): exact for a singular cov
        root = (self.scale[:, None] * self.vectors[:, keep]
                * (np.sqrt(self.s2) / self.singular[keep])[None, :])
        if self.variance_scale == "cluster-robust":  # the sandwich has no such factors: eigh
            w, v = np.linalg.eigh(np.where(np.isfinite(self.cov), self.cov, 0.0))
            root = v * np.sqrt(np.clip(w, 0.0, None))[None, :]
        out: list[np.ndarray] = []
        rejected = 0
        for _ in range(max_tries):
            z = rng.standard_normal((n, root.shape[1]))
            xs = self.x + z @ root.T
            ok = np.all((xs >= lower) & (xs <= upper), axis=1)
            rejected += int((~ok).sum())
            out.extend(xs[ok])
            if len(out) >= n:
                break
        return np.array(out[:n]).reshape(-1, len(self.x)), rejected


def column_scale(x: np.ndarray, lower: np.ndarray, upper: np.ndarray) -> np.ndarray:
    """Scales d that make J·diag(d) the derivatives per relative change: ``|x|``, or 1e-3 of the
    bounds' width (1 for infinite bounds) where that is larger."""
    width = np.where(np.isfinite(upper - lower), upper - lower, 1.0)
    return np.maximum(np.abs(x), 1e-3 * width)


def fisher_of(jac: np.ndarray, r: np.ndarray, x: np.ndarray, names: list[str], m: int,
              lower: np.ndarray, upper: np.ndarray, groups: np.ndarray | None = None,
              held: np.ndarray | None = None, scale: str = "noise") -> Fisher:
    """The Gauss-Newton analysis of a Jacobian ``jac`` (rows, n) and residuals ``r`` at ``x``,
    with m data residuals for the degrees of freedom (s² = r·r / (m - n), or r·r / n with
    ``scale`` "model-error": :func:`residual_variance`); with ``groups`` (the
    cluster of each row) also the cluster-robust covariance (:func:`sandwich`). Parameters
    ``held`` (bool per parameter: pressed against a bound, where the minimum is not a
    stationary point and the quadratic model does not hold) are fixed: the analysis is that of
    the others, and the held ones get no spread."""
    if held is not None and held.any():
        free = ~held
        part = fisher_of(jac[:, free], r, x[free], [n for n, f in zip(names, free, strict=True)
                                                     if f], m, lower[free], upper[free], groups,
                         scale=scale)
        return embedded(part, free, x, names)
    n = len(x)
    if n == 0:  # every free parameter held at a bound: nothing to spread
        return Fisher(list(names), np.asarray(x, float), np.zeros((0, 0)), float(r @ r) / m, m,
                      np.zeros(0), np.zeros((0, 0)), np.zeros(0), np.zeros(0, bool),
                      robust=None if groups is None else np.zeros((0, 0)), variance_scale=scale)
    s2 = residual_variance(float(r @ r), m, n, scale)
    d = column_scale(x, lower, upper)
    _, sv, vt = np.linalg.svd(jac * d[None, :], full_matrices=False)
    null = sv <= RCOND * sv[0] if sv[0] > 0 else np.ones_like(sv, bool)
    v = vt.T
    with np.errstate(divide="ignore"):
        inv2 = np.where(null, 0.0, 1.0 / np.where(null, 1.0, sv) ** 2)
    cov_scaled = (v * inv2[None, :]) @ v.T
    cov = s2 * d[:, None] * cov_scaled * d[None, :]
    # a parameter on a null direction is not bounded by the data at all: infinite variance
    loads = np.any(np.abs(v[:, null]) >= 1e-6, axis=1) if null.any() else np.zeros(n, bool)
    cov[loads, loads] = np.inf
    out = Fisher(list(names), np.asarray(x, float), cov, s2, m, sv, v, d, null,
                 variance_scale=scale)
    if groups is not None:
        out.robust = sandwich(jac, r, groups, d[:, None] * cov_scaled * d[None, :])
        out.robust[loads, loads] = np.inf
    if scale == "cluster-robust":
        if out.robust is None:
            raise GafitInputError("uncertainty --scale cluster-robust: needs the structure of "
                                  "each residual")
        out.cov = out.robust.copy()
    return out


def embedded(part: Fisher, free: np.ndarray, x: np.ndarray, names: list[str]) -> Fisher:
    """The analysis ``part`` of the ``free`` parameters as one of all (the others: no spread)."""
    n = len(x)

    def square(c: np.ndarray) -> np.ndarray:
        out = np.zeros((n, n))
        out[np.ix_(free, free)] = c
        return out

    vectors = np.zeros((n, part.vectors.shape[1]))
    vectors[free] = part.vectors
    scale = np.ones(n)
    scale[free] = part.scale
    return Fisher(list(names), np.asarray(x, float), square(part.cov), part.s2, part.m,
                  part.singular, vectors, scale, part.null, held=~free,
                  robust=None if part.robust is None else square(part.robust),
                  variance_scale=part.variance_scale)


def sandwich(jac: np.ndarray, r: np.ndarray, groups: np.ndarray, bread: np.ndarray
             ) -> np.ndarray:
    """Cluster-robust covariance (JᵀJ)⁻¹ (sum over clusters g of J_gᵀ r_g r_gᵀ J_g) (JᵀJ)⁻¹
    x G/(G - 1) (G clusters), ``bread`` the (pseudo-)inverse of JᵀJ, ``groups`` the cluster of
    each residual row."""
    labels, inverse = np.unique(groups, return_inverse=True)
    score = np.zeros((len(labels), jac.shape[1]))
    np.add.at(score, inverse, jac * r[:, None])  # J_gᵀ r_g per cluster g
    g = len(labels)
    meat = score.T @ score * (g / (g - 1) if g > 1 else 1.0)
    return bread @ meat @ bread


def fisher_analysis(problem: Problem, scale: str = "noise") -> Fisher:
    """The Fisher / Gauss-Newton analysis of ``problem`` at its optimum, with the
    cluster-robust covariance over its training structures; the parameters the fit found pressed
    against a bound are held there; s² set by ``scale`` (:data:`SCALES`)."""
    r = problem.residuals(problem.x)
    held = np.array([n in (problem.at_bounds or {}) for n in problem.names])
    return fisher_of(problem.jacobian(), r, problem.x, problem.names, problem.n_data(),
                     problem.space.lower, problem.space.upper, problem.row_structures(), held,
                     scale)


def fisher_ensemble(problem: Problem, samples: int = 200, seed: int = 0,
                    scale: str = "noise") -> Ensemble:
    """The Fisher analysis as an ensemble: its summary (analytic std and correlations) and
    ``samples`` members drawn from N(x, cov) within the bounds (for propagation); s² set by
    ``scale`` (:data:`SCALES`)."""
    f = fisher_analysis(problem, scale)
    members, rejected = f.draw(samples, seed, problem.space.lower, problem.space.upper)
    summary = f.summary()
    if rejected:
        summary.notes.append(f"{rejected} Gaussian draws outside the bounds rejected")
    info = {"s2": f.s2, "m": f.m, "singular_values": f.singular.tolist(),
            "robust_std": None if f.robust is None else f.robust_std.tolist(),
            "rcond": RCOND, "rejected_draws": rejected, "loss": problem.loss()}
    if scale == "model-error" and len(members):
        rise = loss_rise(problem, members)
        info["loss_rise_ratio"] = rise
        summary.notes.append(
            f"the members' mean loss rise is {rise:.3g} x the training loss (Frederiksen's "
            "ensemble: 1 where the loss is quadratic; above 1, the Gaussian reaches where it is "
            "not, and the spread is overstated)")
    return Ensemble("fisher", seed, f.names, f.x, members, summary, info, scale=scale)


def loss_rise(problem: Problem, members: np.ndarray) -> float:
    """The members' mean loss minus the optimum's, over the optimum's loss."""
    base = problem.loss()
    with np.errstate(all="ignore"):
        losses = np.concatenate([problem.batch_loss()(chunk)
                                 for chunk in np.array_split(members, max(1, len(members) // 50))])
    return float((np.mean(losses) - base) / base) if base > 0 else float("nan")
