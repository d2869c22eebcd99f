"""Local refinement with ``scipy.optimize.least_squares`` on the same residual vector as the GA."""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np
from scipy.optimize import least_squares


@dataclass
class RefineResult:
    x: np.ndarray
    loss: float
    evaluations: int  # residual vectors computed (a finite-difference Jacobian counts n_free + 1)
    message: str
    analytic_jacobians: int = 0  # Jacobians computed analytically (each counted as 1 evaluation)
    stopped_by_time: bool = False  # the deadline cut it short: x is the best point evaluated


class _Deadline(Exception):
    """Raised inside the residual function to leave scipy's loop at the deadline."""


#: ``[refine] method`` choices: scipy's trust-region reflective, or :func:`levenberg_marquardt`
METHODS = ("trf", "lm")


@dataclass
class LMEnd:
    """Where :func:`levenberg_marquardt` ended: x, its residual vector and why it stopped."""

    x: np.ndarray
    r: np.ndarray
    message: str


def _solve(a: np.ndarray, b: np.ndarray) -> np.ndarray | None:
    """a⁻¹ b for a symmetric positive definite ``a`` (Cholesky), None where it is not."""
    try:
        c = np.linalg.cholesky(a)
    except np.linalg.LinAlgError:
        return None
    return np.linalg.solve(c.T, np.linalg.solve(c, b))


def _free(x: np.ndarray, g: np.ndarray, lower: np.ndarray, upper: np.ndarray) -> np.ndarray:
    """The variables a step may move: all but those on a bound that the descent direction -g
    pushes outwards."""
    at_lower = x <= lower
    at_upper = x >= upper
    return ~((at_lower & (g > 0)) | (at_upper & (g < 0)))


def levenberg_marquardt(
    fun: Callable[[np.ndarray], np.ndarray],
    jac: Callable[[np.ndarray], np.ndarray],
    x0: np.ndarray,
    lower: np.ndarray,
    upper: np.ndarray,
    scale: np.ndarray,
    spent: Callable[[], bool],
    tol: float = 1e-10,
) -> LMEnd:
    """Bounded Levenberg–Marquardt with geodesic acceleration and delayed gratification
    (Transtrum & Sethna 2012, arXiv:1201.5885), made for sloppy least squares.

    Steps are taken in x / ``scale`` with the damping λ·d·I there (d the largest diagonal entry of
    the first JᵀJ, so the damping's units stay fixed); λ doubles on a rejected step and shrinks by
    3 on an accepted one. The second directional derivative of the residuals along the step v
    (one extra residual vector, at 0.1 v) gives the acceleration a that bends the step, v + a/2,
    along a curved valley; a step with 2|a| > 0.75 |v| is rejected. Bounds: a variable on a bound
    that the gradient pushes outwards is held there for the step, and every step is cut back
    into the box. Stops when ``spent()`` (asked before each residual vector and Jacobian) or when
    an accepted step changes the loss or x by less than a relative ``tol`` once λ ≤ 1e-6 (a
    step the damping still throttles, in directions far less curved than the stiffest, changes
    little without being converged)."""
    x = x0.copy()
    r = fun(x)
    cost = float(r @ r)
    lam, d = 1e-3, None
    while not spent():
        js = jac(x) * scale
        g = js.T @ r
        free = _free(x, g, lower, upper)
        if not free.any() or np.max(np.abs(g[free])) <= tol * cost:
            return LMEnd(x, r, "converged: the gradient vanishes")
        jf, gf = js[:, free], g[free]
        hf = jf.T @ jf
        if d is None:
            d = max(float(np.max(np.diag(hf))), 1e-300)
        while True:
            if lam * d > 1e16 * max(float(np.max(np.diag(hf))), 1e-300):
                return LMEnd(x, r, "the damping grew without an accepted step")
            a = hf + lam * d * np.eye(len(gf))
            v = _solve(a, -gf)
            if v is None or not np.all(np.isfinite(v)):
                lam *= 2.0
                continue
            step = np.zeros_like(x)
            step[free] = v
            if spent():
                return LMEnd(x, r, "evaluation budget spent")
            h = 0.1
            x_h = np.clip(x + h * step * scale, lower, upper)
            r_h = fun(x_h)
            # r'' along the step actually probed (the box may have cut it)
            d_h = (x_h - x)[free] / scale[free]
            rvv = (2.0 / h**2) * (r_h - r - jf @ d_h)
            acc = _solve(a, -(jf.T @ rvv)) if np.all(np.isfinite(rvv)) else None
            if acc is None or 2.0 * np.linalg.norm(acc) > 0.75 * np.linalg.norm(v):
                lam *= 2.0
                continue
            step[free] = v + 0.5 * acc
            x_new = np.clip(x + step * scale, lower, upper)
            if spent():
                return LMEnd(x, r, "evaluation budget spent")
            r_new = fun(x_new)
            cost_new = float(r_new @ r_new)
            if cost_new < cost:  # nan compares False: rejected
                small = lam <= 1e-6 and (
                    cost - cost_new <= tol * cost
                    or np.linalg.norm((x_new - x) / scale) <= tol * (np.linalg.norm(x / scale) + tol))
                x, r, cost = x_new, r_new, cost_new
                lam /= 3.0
                if small:
                    return LMEnd(x, r, "converged: the step no longer changes the loss or x")
                break
            lam *= 2.0
    return LMEnd(x, r, "evaluation budget spent")


def wants_analytic(jacobian: str, potential: Any) -> bool:
    """Whether the ``[refine] jacobian`` setting takes the analytic Jacobian for ``potential``:
    "analytic" always, "auto" where its forms' derivatives pay
    (:attr:`gafit.potential.Potential.auto_analytic_jacobian`), "finite-difference" never."""
    return jacobian == "analytic" or (jacobian == "auto" and potential.auto_analytic_jacobian)


def batched_jacobian(
    residuals: Callable[[np.ndarray], np.ndarray], lower: np.ndarray, upper: np.ndarray
) -> Callable[[np.ndarray], np.ndarray]:
    """Forward-difference Jacobian evaluated as one batch of n_free + 1 parameter vectors."""

    def jac(x: np.ndarray) -> np.ndarray:
        h = 1e-7 * np.maximum(np.maximum(np.abs(x), 1e-3 * (upper - lower)), 1e-8)
        h = np.where(x + h > upper, -h, h)  # step inwards at an upper bound
        batch = np.vstack([x, x + np.diag(h)])
        r = residuals(batch)
        return ((r[1:] - r[0]) / h[:, None]).T

    return jac


def refine(
    residuals: Callable[[np.ndarray], np.ndarray],
    x0: np.ndarray,
    lower: np.ndarray,
    upper: np.ndarray,
    max_evaluations: int = 200,
    jacobian: Callable[[np.ndarray], np.ndarray] | None = None,
    analytic: Callable[[np.ndarray], np.ndarray | None] | None = None,
    deadline: float | None = None,
    progress: Callable[[int, float], None] | None = None,
    method: str = "trf",
) -> RefineResult:
    """Bounded least squares from x0; ``residuals`` maps a batch (B, n) to (B, m).

    ``analytic(x)`` gives the Jacobian (m, n) or None where it cannot, and then the batched
    forward differences (or ``jacobian``) are used for that step. At ``deadline`` (a
    ``time.time()`` value, s) it stops and returns the best point evaluated so far.
    ``progress(evaluations, best_loss)`` is called after every residual vector and Jacobian (an
    exception it raises ends the refinement and propagates)."""
    if len(x0) == 0:
        r = residuals(x0[None])[0]
        return RefineResult(x0, float(r @ r), 1, "nothing to refine")
    # scipy's trust-region arithmetic overflows with astronomically wide bounds: refine inside a
    # box of at most 1e8 x max(|x0|, 1) around the start, which no sensible step leaves anyway
    reach = 1e8 * np.maximum(np.abs(x0), 1.0)
    lower = np.maximum(lower, x0 - reach)
    upper = np.minimum(upper, x0 + reach)
    span = upper - lower
    x0 = np.clip(x0, lower + 1e-9 * span, upper - 1e-9 * span)
    count = 0
    best_x, best_loss = x0, np.inf

    def tick() -> None:
        if progress is not None:
            progress(count, best_loss)
        if deadline is not None and time.time() >= deadline:
            raise _Deadline

    def fun(x: np.ndarray) -> np.ndarray:
        nonlocal count, best_x, best_loss
        count += 1
        r = residuals(x[None])[0]
        loss = float(r @ r)
        if loss < best_loss or not np.isfinite(best_loss):  # any finite loss beats nan/inf
            best_x, best_loss = x.copy(), loss
        tick()
        return r

    jac_inner = jacobian or batched_jacobian(residuals, lower, upper)
    n_analytic = 0

    def jac(x: np.ndarray) -> np.ndarray:
        nonlocal count, n_analytic
        if analytic is not None:
            j = analytic(x)
            if j is not None:
                count += 1
                n_analytic += 1
                tick()
                return j
        count += len(x) + 1  # a batched forward-difference Jacobian costs n + 1 evaluations
        j = jac_inner(x)
        tick()
        return j

    # variables scaled by their bounds' widths (within limits scipy's arithmetic survives)
    x_scale = np.where((span > 1e-50) & (span < 1e50), span, 1.0)
    try:
        with np.errstate(over="ignore", invalid="ignore"):  # huge residuals: scored bad, not warned
            if method == "lm":
                end = levenberg_marquardt(fun, jac, x0, lower, upper, x_scale,
                                          lambda: count >= max_evaluations)
                return RefineResult(end.x, float(end.r @ end.r), count, end.message, n_analytic)
            sol = least_squares(fun, x0, jac=jac, bounds=(lower, upper), x_scale=x_scale,
                                max_nfev=max_evaluations, method="trf")
    except _Deadline:
        return RefineResult(best_x, best_loss, count, "stopped at the time limit", n_analytic,
                            stopped_by_time=True)
    return RefineResult(sol.x, float(2 * sol.cost), count, sol.message, n_analytic)
