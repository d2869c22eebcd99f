"""Which parameters are fitted, fixed or tied, and the map from the search vector to full vectors.

A config gives each parameter as a number (fixed), ``[low, high]`` (fitted within bounds),
``"=NAME"`` (tied to another parameter) or, for ``X.E0`` only, ``"auto"`` (the default): the offsets
that minimise the energy residuals exactly, solved linearly for every individual.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field, replace
from typing import Any

import numpy as np

from gafit.potential import Potential
from gafit.structures import GafitInputError

#: a fitted parameter this close to a bound (fraction of its range) is checked for being pressed
NEAR_BOUND = 1e-3


@dataclass
class ParameterSpace:
    """Free vector x (n_free) <-> full parameter vectors theta (n_full) of a potential."""

    names: list[str]
    values: np.ndarray  # start values; the values of fixed parameters
    lower: np.ndarray  # bounds of the free parameters (n_free)
    upper: np.ndarray
    free: list[str]  # names of the free parameters
    source: np.ndarray  # for each full parameter: index into x, or -1 when not free
    tie: np.ndarray  # for each full parameter: the full index it copies (itself if not tied)
    log: np.ndarray  # search the free parameter on a log scale
    auto_e0: np.ndarray  # full indices of E0 offsets solved linearly
    repair: Callable[[np.ndarray], np.ndarray] | None = None  # keeps theta physically valid
    # (n_full, n_full) linear map applied after the ties: rows of parameters that are linear
    # combinations of others (a neutralising charge), identity rows elsewhere; None: identity
    derived: np.ndarray | None = None

    def __post_init__(self) -> None:
        # what expand copies: x's columns (take) into the full columns (put); ties only where any
        self._put = np.flatnonzero(self.source >= 0)
        self._take = self.source[self._put]
        self._tied = not np.array_equal(self.tie, np.arange(len(self.tie)))

    @property
    def n_free(self) -> int:
        return len(self.free)

    def start(self) -> np.ndarray:
        """Start values of the free parameters."""
        return np.array([self.values[self.names.index(n)] for n in self.free])

    def expand(self, x: np.ndarray, repair: bool = True) -> np.ndarray:
        """Full parameter vectors (B, n_full) from free vectors (B, n_free)."""
        x = np.atleast_2d(x)
        theta = np.repeat(self.values[None, :], x.shape[0], axis=0)
        theta[:, self._put] = x[:, self._take]
        if self._tied:
            theta = theta[:, self.tie]
        if self.derived is not None:
            theta = theta @ self.derived.T
        return self.repair(theta) if repair and self.repair is not None else theta

    def upper_values(self) -> np.ndarray:
        """The full parameter vector with every fitted parameter at its upper bound (ties
        followed, before ``derived`` and repair)."""
        hi = self.values.copy()
        m = self.source >= 0
        hi[m] = self.upper[self.source[m]]
        return hi[self.tie]

    def expansion_matrix(self) -> np.ndarray:
        """d theta / d x (n_full, n_free) of ``expand`` without repair: 1 where a full parameter is
        (or is tied to) a free one."""
        d = np.zeros((len(self.names), self.n_free))
        src = self.source[self.tie]
        rows = np.flatnonzero(src >= 0)
        d[rows, src[rows]] = 1.0
        return d if self.derived is None else self.derived @ d

    def to_unit(self, x: np.ndarray) -> np.ndarray:
        """Map free values into the unit cube the GA searches."""
        lo, hi, x = self._scaled(self.lower), self._scaled(self.upper), self._scaled(np.asarray(x))
        with np.errstate(invalid="ignore", divide="ignore"):
            return np.where(hi > lo, (x - lo) / (hi - lo), 0.5)

    def from_unit(self, u: np.ndarray) -> np.ndarray:
        lo, hi = self._scaled(self.lower), self._scaled(self.upper)
        y = lo + np.clip(u, 0.0, 1.0) * (hi - lo)
        with np.errstate(over="ignore"):  # log-scaled bounds near 1e308: inf is scored as bad
            return np.where(self.log, np.exp(y), y)

    def _scaled(self, x: np.ndarray) -> np.ndarray:
        with np.errstate(divide="ignore", invalid="ignore"):
            return np.where(self.log, np.log(np.where(self.log, x, 1.0)), x)

    def with_free_e0(self) -> ParameterSpace:
        """This space with the automatically solved E0 offsets turned into free parameters
        (appended to x), to evaluate other data with the offsets fitted on the training data."""
        auto = list(self.auto_e0)
        source = self.source.copy()
        source[auto] = self.n_free + np.arange(len(auto))
        return replace(self, lower=np.r_[self.lower, np.full(len(auto), -np.inf)],
                       upper=np.r_[self.upper, np.full(len(auto), np.inf)],
                       free=self.free + [self.names[k] for k in auto], source=source,
                       log=np.r_[self.log, np.zeros(len(auto), bool)],
                       auto_e0=np.zeros(0, np.int64))

    def pressed_bounds(self, x: np.ndarray, loss: Callable[[np.ndarray], np.ndarray],
                       near: float = NEAR_BOUND) -> np.ndarray:
        """Which free parameters of x (n_free) the loss pushes against a bound: -1 lower, +1 upper,
        0 neither.

        A parameter within ``near`` of its range (linear, or on the GA's log scale) from a bound is
        pressed when moving it onto that bound does not raise ``loss`` (a batch (B, n_free) ->
        (B,)): the minimum along it lies at or beyond the bound. The least squares approach a
        bound they push against only asymptotically (their steps shrink with the distance), so they
        stop a few 1e-6 of the range inside it; an interior minimum that merely lies near a bound is
        not flagged."""
        x = np.asarray(x, float)
        span = self.upper - self.lower
        with np.errstate(invalid="ignore", over="ignore"):
            frac = np.where(span > 0, (x - self.lower) / span, 0.5)
        u = self.to_unit(x)
        sides = np.zeros(self.n_free, int)
        probes, which = [x], []
        for i in range(self.n_free):
            for side, f, g, bound in ((-1, frac[i], u[i], self.lower[i]),
                                      (1, 1 - frac[i], 1 - u[i], self.upper[i])):
                if np.isfinite(bound) and min(f, g) <= near:
                    xb = x.copy()
                    xb[i] = bound
                    probes.append(xb)
                    which.append((i, side))
        if not which:
            return sides
        values = np.asarray(loss(np.array(probes)), float)
        slack = 1e-12 * max(abs(values[0]), 1e-300)  # rounding of the loss itself
        for (i, side), v in zip(which, values[1:], strict=True):
            if v <= values[0] + slack and sides[i] == 0:
                sides[i] = side
        return sides

    def table(self, theta: np.ndarray, pressed: np.ndarray | None = None) -> list[dict[str, Any]]:
        """One row per parameter of the full vector ``theta``: status, value, bounds, and
        ``at_bound`` ("lower", "upper" or "") from ``pressed`` (see ``pressed_bounds``; without it,
        a parameter exactly on a bound is flagged)."""
        rows = []
        for k, n in enumerate(self.names):
            row: dict[str, Any] = {"name": n, "value": float(theta[k])}
            if self.derived is not None and self.derived[k, k] != 1.0:
                terms = " ".join(f"{c:+.6g} {self.names[j]}"
                                 for j, c in enumerate(self.derived[k]) if c != 0.0)
                row["status"] = f"= {terms}"
            elif self.tie[k] != k:
                row["status"] = f"tied to {self.names[self.tie[k]]}"
            elif self.source[k] >= 0:
                i = self.source[k]
                row.update(status="fitted", low=float(self.lower[i]), high=float(self.upper[i]))
                if pressed is not None:
                    side = int(pressed[i])
                else:
                    side = -1 if theta[k] <= self.lower[i] else 1 if theta[k] >= self.upper[i] else 0
                row["at_bound"] = {-1: "lower", 1: "upper"}.get(side, "")
            elif k in self.auto_e0:
                row["status"] = "auto (linear)"
            else:
                row["status"] = "fixed"
            rows.append(row)
        return rows


@dataclass(frozen=True)
class Fixed:
    """A config's number: the parameter keeps this value."""

    value: float


@dataclass(frozen=True)
class Bounded:
    """A config's ``[low, high]``: the parameter is fitted within these bounds."""

    low: float
    high: float


@dataclass(frozen=True)
class Tied:
    """A config's ``"=NAME"``: the parameter copies ``target`` (a canonical name)."""

    target: str


@dataclass(frozen=True)
class Auto:
    """A config's ``"auto"`` (E0 offsets only): solved linearly for every individual."""


Setting = Fixed | Bounded | Tied | Auto


def _expected(key: str, val: Any, where: str, e0: bool) -> GafitInputError:
    return GafitInputError(f"{where}: '{key}' = {val!r}: expected a number, [low, high] "
                           "or \"=NAME\"" + (' or "auto"' if e0 else ""))


def _bounded(key: str, val: list, where: str, fittable: bool) -> Bounded:
    """``[low, high]`` as bounds: two numbers, finite, low < high, with a finite width."""
    if not fittable:
        raise GafitInputError(f"{where}: '{key}' is a discrete switch and cannot be "
                              "fitted; give it a value")
    if (len(val) != 2 or not all(isinstance(v, int | float) and not isinstance(v, bool)
                                 for v in val)):
        raise GafitInputError(f"{where}: '{key}' = {val!r}: bounds must be [low, high]")
    lo, hi = float(val[0]), float(val[1])
    with np.errstate(over="ignore"):
        width = hi - lo
    if not (np.isfinite(lo) and np.isfinite(hi) and lo < hi and np.isfinite(width)):
        raise GafitInputError(f"{where}: '{key}' = {val!r}: need finite low < high "
                              "(and a finite width)")
    return Bounded(lo, hi)


def parse_setting(potential: Potential, name: str, key: str, val: Any, where: str, fittable: bool,
                  e0: bool) -> Setting:
    """The setting of parameter ``name`` (canonical; the config spells it ``key``) from its config
    value ``val``; ``fittable``: not a discrete switch; ``e0``: an E0 offset (may be "auto")."""
    if isinstance(val, bool):
        raise _expected(key, val, where, False)
    if isinstance(val, int | float):
        return Fixed(float(val))
    if isinstance(val, list):
        return _bounded(key, val, where, fittable)
    if isinstance(val, str) and val.startswith("="):
        target = potential.canonical_name(val[1:].strip())
        if target == name:
            raise GafitInputError(f"{where}: '{key}' is tied to itself")
        return Tied(target)
    if isinstance(val, str) and val == "auto" and e0:
        return Auto()
    raise _expected(key, val, where, e0)


@dataclass
class _Draft:
    """A parameter space being assembled, per full parameter: start value, bounds, fixed, log
    scale, hard limits, and the ties (full index -> full index) and E0 offsets solved linearly."""

    names: list[str]
    values: np.ndarray
    lower: np.ndarray
    upper: np.ndarray
    fixed: np.ndarray
    log: np.ndarray
    limits: np.ndarray
    fittable: np.ndarray
    tie_to: dict[int, int] = field(default_factory=dict)
    auto: set[int] = field(default_factory=set)
    e0: set[int] = field(default_factory=set)
    given: dict[int, str] = field(default_factory=dict)  # full index -> the config's key
    derived: np.ndarray | None = None

    @classmethod
    def of(cls, potential: Potential, unspecified: str) -> _Draft:
        """Every parameter at the potential's value with its form's default bounds; left out
        parameters free (``unspecified="free"``) or fixed (``"fixed"``); E0 offsets auto."""
        n_sp = len(potential.species)
        bounds = np.concatenate([f.default_bounds() for f in potential.forms]
                                + [np.full((n_sp, 2), np.nan)])
        limits = np.concatenate([f.hard_limits() for f in potential.forms]
                                + [np.tile([-np.inf, np.inf], (n_sp, 1))])
        log = np.concatenate([f.log_scale() for f in potential.forms] + [np.zeros(n_sp, bool)])
        fittable = np.concatenate([f.fittable() for f in potential.forms] + [np.ones(n_sp, bool)])
        fixed = np.zeros(len(potential.names), bool)
        if unspecified == "fixed":
            fixed[: potential.e0_slice.start] = True
        fixed |= ~fittable
        fixed |= ~np.concatenate([f.fitted_by_default() for f in potential.forms]
                                 + [np.ones(n_sp, bool)])
        e0 = set(range(potential.n_params)[potential.e0_slice])
        return cls(list(potential.names), potential.values.copy(), bounds[:, 0].copy(),
                   bounds[:, 1].copy(), fixed, log, limits, fittable, auto=set(e0), e0=e0)

    def apply(self, k: int, setting: Setting) -> None:
        """Parameter k as the config sets it."""
        self.auto.discard(k)
        if isinstance(setting, Fixed):
            self.values[k] = setting.value
            self.fixed[k] = True
        elif isinstance(setting, Bounded):
            self.lower[k], self.upper[k] = setting.low, setting.high
            self.fixed[k] = False
        elif isinstance(setting, Tied):
            self.tie_to[k] = self.names.index(setting.target)
        else:
            self.auto.add(k)


def _parse_spec(potential: Potential, draft: _Draft, spec: dict[str, Any], where: str) -> None:
    """Apply the config's settings, refusing two keys for one parameter."""
    index = {n: k for k, n in enumerate(draft.names)}
    for key, val in spec.items():
        name = potential.canonical_name(str(key))
        k = index[name]
        if k in draft.given:
            raise GafitInputError(f"{where}: '{key}' and '{draft.given[k]}' name the same parameter")
        draft.given[k] = str(key)
        draft.apply(k, parse_setting(potential, name, str(key), val, where, bool(draft.fittable[k]),
                                     k in draft.e0))


def _form_structure(potential: Potential, draft: _Draft, where: str) -> None:
    """What the forms declare: parameters that never enter the energy stay fixed, parameters the
    form requires equal (e.g. Tersoff's A, lambda1, R, D of (j,i,i) and (i,j,j)) are tied unless the
    config sets them, and parameters that follow from others (a neutralising charge) are derived."""
    index = {n: k for k, n in enumerate(draft.names)}
    seen = draft.given
    for form in potential.forms:
        for name in form.unused_parameters():
            k = index[name]
            if k in seen and not draft.fixed[k]:
                raise GafitInputError(f"{where}: '{seen[k]}' never enters the {form.name} energy "
                                      "(LAMMPS takes it from another entry); fix it or drop it")
            draft.fixed[k] = True
        for name, src in form.tied_parameters().items():
            k = index[name]
            if k not in seen:
                draft.tie_to[k] = index[src]
    _derived(potential, draft, where)


def _derived(potential: Potential, draft: _Draft, where: str) -> None:
    """The (n_full, n_full) map of the parameters that follow from others (a neutralising charge),
    unless the config gives them a value."""
    index = {n: k for k, n in enumerate(draft.names)}
    seen = draft.given
    for form in potential.forms:
        for name, combo in form.derived_parameters().items():
            k = index[name]
            if k in seen and draft.fixed[k]:  # a value given (e.g. a fitted potential's): kept
                continue
            if k in seen:
                raise GafitInputError(f"{where}: '{seen[k]}' follows from other parameters "
                                      f"({form.name}); give a value or drop it")
            if draft.derived is None:
                draft.derived = np.eye(len(draft.names))
            draft.derived[k] = 0.0
            for src, coeff in combo.items():
                draft.derived[k, index[src]] = coeff
            draft.fixed[k] = True


def _resolve_ties(draft: _Draft, where: str) -> np.ndarray:
    """For each full parameter the one it finally copies (itself when not tied); loops and ties to
    an automatically solved E0 are refused."""
    names, tie_to = draft.names, draft.tie_to
    tie = np.arange(len(names))
    for k in tie_to:
        t, path = k, [k]
        while t in tie_to:
            t = tie_to[t]
            if t in path:
                raise GafitInputError(f"{where}: ties form a loop through '{names[k]}'")
            path.append(t)
        if t in draft.auto:
            raise GafitInputError(f"{where}: '{names[k]}' is tied to '{names[t]}', which is "
                                  "solved automatically; give that one bounds or a value")
        tie[k] = t
    return tie


def _check_limits(draft: _Draft, free_full: list[int], where: str) -> None:
    """Free bounds and fixed values within the physical limits; free start values clipped into
    their bounds, log scale dropped where the lower bound is not positive."""
    names, lower, upper = draft.names, draft.lower, draft.upper
    for k in free_full:
        lo_lim, hi_lim = draft.limits[k]
        if lower[k] < lo_lim or upper[k] > hi_lim:
            raise GafitInputError(
                f"{where}: '{names[k]}' bounds [{lower[k]:g}, {upper[k]:g}] leave its physical "
                f"range [{lo_lim:g}, {hi_lim:g}]"
            )
        if draft.log[k] and lower[k] <= 0:
            draft.log[k] = False
        draft.values[k] = float(np.clip(draft.values[k], lower[k], upper[k]))
    for k in np.flatnonzero(draft.fixed):
        lo_lim, hi_lim = draft.limits[k]
        if not lo_lim <= draft.values[k] <= hi_lim:
            raise GafitInputError(f"{where}: '{names[k]}' = {draft.values[k]:g} is outside its "
                                  f"physical range [{lo_lim:g}, {hi_lim:g}]")


def build_space(
    potential: Potential, spec: dict[str, Any] | None = None, where: str = "[potential.parameters]",
    unspecified: str = "free",
) -> ParameterSpace:
    """Parameter space from a config table.

    Parameters left out are fitted within the form's default bounds (``unspecified="free"``) or kept
    at the potential's values (``"fixed"``, used when a fit starts from a parameter file); those a
    form declares not ``fitted_by_default`` (ZBL's radii) are kept either way. Discrete
    parameters (not ``fittable``) are always fixed. Each value is first read as a ``Setting``
    (:func:`parse_setting`), then the space is assembled.
    """
    draft = _Draft.of(potential, unspecified)
    _parse_spec(potential, draft, spec or {}, where)
    _form_structure(potential, draft, where)
    tie = _resolve_ties(draft, where)
    free_full = [k for k in range(len(draft.names))
                 if tie[k] == k and not draft.fixed[k] and k not in draft.auto]
    _check_limits(draft, free_full, where)
    source = np.full(len(draft.names), -1)
    source[free_full] = np.arange(len(free_full))
    return ParameterSpace(
        names=list(draft.names),
        values=draft.values,
        lower=draft.lower[free_full],
        upper=draft.upper[free_full],
        free=[draft.names[k] for k in free_full],
        source=source,
        tie=tie,
        log=draft.log[free_full],
        auto_e0=np.array(sorted(draft.auto), dtype=np.int64),
        repair=potential.repair,
        derived=draft.derived,
    )
