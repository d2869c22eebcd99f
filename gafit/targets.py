"""Targets: the terms of the loss, each with its residuals, its Jacobian when it has one and its
share of the loss; :class:`gafit.objective.Objective` is their sum.

A target turns full parameter vectors (and, when it reads them, the training set's predictions)
into weighted residuals (B, n). The built-in targets, in the order of the residual vector:

- :class:`DataTarget`: energies, forces, stresses and virials of the training set (its tables:
  :class:`Targets`), analytic Jacobian;
- :class:`Penalties`: WALL_PENALTY x the breach of the wall constraint and of the stability and e0
  guards;
- :class:`PhononTerm`: one phonon target's frequencies (and Grüneisen parameters), analytic
  Jacobian where the target has one;
- :class:`PropertyTerm`: the ``[[properties]]`` targets.

A target of your own subclasses :class:`Target` and is passed to ``Objective(..., terms=[...])``;
without :meth:`Target.jacobian` the objective takes forward differences of its residuals.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np

from gafit.forms import Prediction
from gafit.structures import EV_A3_TO_GPA, ReferenceSet

if TYPE_CHECKING:
    from gafit.guards import E0Guard, StabilityGuard
    from gafit.parameters import ParameterSpace
    from gafit.phonons.target import PhononTarget
    from gafit.property_target import PropertyTargets
    from gafit.walls import WallConstraint

#: residual given to a parameter vector whose predictions overflow or are NaN
BAD_RESIDUAL = 1e6
#: residuals beyond this mark a parameter vector as bad too: their squares would overflow the loss
HUGE_RESIDUAL = 1e100
#: residual per eV of a wall constraint's breach (gafit.walls.WallConstraint): a breach of 1 meV
#: adds 1 to the loss, far more than a fit's loss, so the GA ranks such candidates behind
#: feasible ones. The stability guards (gafit.guards) use the same factor per unit of their
#: breaches (GPa, THz², eV/atom)
WALL_PENALTY = 1e3
PROPERTIES = ("energy", "forces", "stress", "virial")
UNITS = {"energy": "eV/atom", "forces": "eV/Å", "stress": "GPa", "virial": "eV/atom",
         "phonons": "THz"}


class Evaluation:
    """Full parameter vectors ``theta`` (B, n_full) and the training set's predictions at them,
    computed on first use (a target that reads no predictions costs no evaluation)."""

    def __init__(self, theta: np.ndarray, pred: Prediction | None = None,
                 predict: Callable[[np.ndarray], Prediction] | None = None):
        self.theta = theta
        self._pred = pred
        self._predict = predict

    @property
    def pred(self) -> Prediction:
        if self._pred is None:
            if self._predict is None:
                raise ValueError("this evaluation has no training set predictions")
            self._pred = self._predict(self.theta)
        return self._pred


@dataclass
class Linearisation:
    """What a target's Jacobian at one free vector may use: the free vector ``x`` (n_free,), its
    parameter space, d(full vector)/dx ``dtheta`` (n_full, n_free) with the automatic E0 offsets'
    part, and d(training set predictions)/dx ``dpred`` (leading axis n_free)."""

    x: np.ndarray
    space: ParameterSpace
    dtheta: np.ndarray
    dpred: Prediction


def fd_steps(x: np.ndarray, space: ParameterSpace) -> np.ndarray:
    """Forward-difference steps (n_free,) at x, those of :func:`gafit.refine.batched_jacobian`:
    backwards where a step forward would leave the upper bound."""
    h = 1e-7 * np.maximum(np.maximum(np.abs(x), 1e-3 * (space.upper - space.lower)), 1e-8)
    return np.where(x + h > space.upper, -h, h)


class Target:
    """One term of the loss. A subclass gives :meth:`widths` and :meth:`residuals`; the rest has
    defaults.

    ``streams``: its residuals are cheap and row-wise, so the loss may add its :meth:`blocks`'
    squares one by one without the concatenated residual vector (an objective with a target that
    does not stream builds the vector). ``uses_prediction``: it reads the training set's
    predictions (``at.pred``); the streamed loss adds the targets that do not first."""

    streams: bool = False
    uses_prediction: bool = False

    def widths(self) -> list[tuple[str, int]]:
        """(term, number of residuals) of each block of :meth:`residuals`, in its order; the
        term names the target's share in the loss breakdown (blocks may share a term)."""
        raise NotImplementedError

    def residuals(self, at: Evaluation) -> np.ndarray:
        """Weighted residuals (B, sum of widths) at ``at.theta``; the loss adds their squares."""
        raise NotImplementedError

    def blocks(self, at: Evaluation) -> list[np.ndarray]:
        """The residuals in the pieces the streamed loss adds one by one; each a new array."""
        return [self.residuals(at)]

    def jacobian(self, at: Linearisation) -> np.ndarray | None:
        """d(residuals)/dx (n, n_free), or None: the objective takes forward differences along
        ``at.dtheta``."""
        return None

    def differences(self, at: Evaluation) -> dict[str, np.ndarray]:
        """Unweighted prediction-minus-reference (B, n_items) per RMSE entry (units: UNITS); the
        objective's RMSE of an entry is over the items of every target that gives it."""
        return {}


class Targets:
    """Reference values of a reference set in the shape of :class:`Prediction`."""

    def __init__(self, refset: ReferenceSet, n_atoms_s: np.ndarray, volume_s: np.ndarray):
        w_s = np.array([s.weight for s in refset], float)
        self.n_atoms_s = n_atoms_s
        self.volume_s = volume_s
        self.config_type_s = np.array([s.config_type for s in refset])
        self.e_idx = np.array([k for k, s in enumerate(refset) if s.energy is not None], np.int64)
        self.n_atoms_e = n_atoms_s[self.e_idx]  # of the structures with an energy
        self.e_ref = np.array([refset[k].energy for k in self.e_idx]) / self.n_atoms_e
        self.e_w = w_s[self.e_idx]
        offsets = np.concatenate([[0], np.cumsum(n_atoms_s)[:-1]]).astype(np.int64)
        f_idx, f_ref, f_w, f_s = [], [], [], []
        for k, s in enumerate(refset):
            if s.forces is not None:
                f_idx.append(3 * offsets[k] + np.arange(3 * s.n_atoms))
                f_ref.append(s.forces.ravel())
                f_w.append(np.full(3 * s.n_atoms, w_s[k]))
                f_s.append(np.full(3 * s.n_atoms, k))
        cat = (lambda x, dt=float: np.concatenate(x) if x else np.zeros(0, dt))  # noqa: E731
        self.f_idx, self.f_ref, self.f_w = cat(f_idx, np.int64), cat(f_ref), cat(f_w)
        self.f_s = cat(f_s, np.int64)
        self.s_idx = np.array([k for k, s in enumerate(refset)
                               if s.stress is not None and np.isfinite(volume_s[k])], np.int64)
        self.s_ref = np.array([refset[k].stress * EV_A3_TO_GPA for k in self.s_idx]).reshape(-1, 6)
        self.s_w = np.repeat(w_s[self.s_idx], 6)
        self.volume_si = volume_s[self.s_idx, None]  # of the structures with a stress
        # GPa -> virial per atom (eV/atom), per stress component
        self.s_to_virial = np.repeat(-volume_s[self.s_idx] / n_atoms_s[self.s_idx], 6) / EV_A3_TO_GPA

    def counts(self) -> dict[str, int]:
        return {"energy": len(self.e_idx), "forces": len(self.f_idx), "stress": self.s_ref.size,
                "virial": self.s_ref.size}

    def structure_of_items(self) -> dict[str, np.ndarray]:
        """The structure each residual item belongs to, per property."""
        s = np.repeat(self.s_idx, 6)
        return {"energy": self.e_idx, "forces": self.f_s, "stress": s, "virial": s}

    def differences(self, pred: Prediction, reference: bool = True,
                    properties: tuple[str, ...] = PROPERTIES) -> dict[str, np.ndarray]:
        """Prediction minus reference per property: (B, n_items) each, in the units of ``UNITS``,
        each a new array. Without ``reference`` only the linear map (for derivatives of
        predictions)."""
        on = 1.0 if reference else 0.0
        out = {}
        if "energy" in properties:
            e = pred.energy[:, self.e_idx] / self.n_atoms_e
            out["energy"] = e - self.e_ref if reference else e - on * self.e_ref
        if "forces" in properties:
            # every atom's forces, in order: no gather (on a large set each pass over the
            # (population x 3N) array counts)
            every = len(self.f_idx) == pred.forces.shape[1]
            f = pred.forces if every else pred.forces[:, self.f_idx]
            out["forces"] = f - self.f_ref if reference else f.copy()
        if "stress" in properties or "virial" in properties:
            stress = pred.virial[:, self.s_idx] / self.volume_si * EV_A3_TO_GPA
            s = stress.reshape(len(stress), -1)
            s = s - self.s_ref.reshape(-1) if reference else s - on * self.s_ref.reshape(-1)
            if "stress" in properties:
                out["stress"] = s
            if "virial" in properties:
                out["virial"] = s * self.s_to_virial
        return out


class DataTarget(Target):
    """Energies (eV/atom), forces (eV/Å), stresses (GPa) and virials (eV/atom) of the training
    set: w_p·MSE per property, each MSE weighted by the structures' weights; a property with weight
    0 or no reference values has no residuals."""

    streams = True
    uses_prediction = True

    def __init__(self, table: Targets, weights: object):
        self.table = table
        self.scale: dict[str, np.ndarray | None] = {}
        for prop, w_items in (("energy", table.e_w), ("forces", table.f_w), ("stress", table.s_w),
                              ("virial", table.s_w)):
            wp = getattr(weights, prop)
            total = w_items.sum()
            self.scale[prop] = np.sqrt(wp * w_items / total) if total > 0 and wp > 0 else None
        self.used = tuple(p for p in PROPERTIES if self.scale[p] is not None)
        # the scale of each used property as one number where it is the same for every item
        # (structures of equal weight): the same products without reading a per-item array
        self._factor: dict[str, np.ndarray | float] = {
            p: (float(self.scale[p][0]) if (self.scale[p] == self.scale[p][0]).all()
                else self.scale[p]) for p in self.used}

    def widths(self) -> list[tuple[str, int]]:
        counts = self.table.counts()
        return [(p, counts[p]) for p in self.used]

    def weighted(self, diff: dict[str, np.ndarray]) -> list[np.ndarray]:
        """The weighted blocks of per-property differences, in the order of PROPERTIES."""
        return [diff[p] * self.scale[p] for p in self.used]

    def blocks(self, at: Evaluation) -> list[np.ndarray]:
        diff = self.table.differences(at.pred, properties=self.used)
        for p in self.used:  # in place: on a large set each (population x 3N) array counts
            diff[p] *= self._factor[p]
        return [diff[p] for p in self.used]

    def residuals(self, at: Evaluation) -> np.ndarray:
        return self.residuals_of(at.pred)

    def residuals_of(self, pred: Prediction, reference: bool = True) -> np.ndarray:
        """The weighted residual vectors (B, n) of predictions (without ``reference``: of their
        derivatives)."""
        parts = self.weighted(self.table.differences(pred, reference))
        return (np.concatenate(parts, axis=1) if parts
                else np.zeros((pred.energy.shape[0], 0)))

    def jacobian(self, at: Linearisation) -> np.ndarray:
        # the weighted blocks written once each into (n_free, n): forces, the largest, without the
        # copies of differences(), weighted() and the concatenation
        d, t = at.dpred, self.table
        out = np.empty((d.energy.shape[0], sum(n for _, n in self.widths())))
        rest = t.differences(d, reference=False,
                             properties=tuple(p for p in self.used if p != "forces"))
        start = 0
        for p, n in self.widths():
            block = out[:, start:start + n]
            if p == "forces":
                f = d.forces if len(t.f_idx) == d.forces.shape[1] else d.forces[:, t.f_idx]
                np.multiply(f, self.scale[p], out=block)
            else:
                np.multiply(rest[p], self.scale[p], out=block)
            start += n
        return out.T

    def differences(self, at: Evaluation) -> dict[str, np.ndarray]:
        return self.table.differences(at.pred)


class Penalties(Target):
    """WALL_PENALTY x the breach of each constraint: the wall constraint's (eV per channel), then
    each guard's (GPa, THz², eV/atom). Jacobian by forward differences in x: the wall's need only
    the channels' pair energies on a short grid, the e0 guard's one frame, so n_free + 1 of them
    cost next to nothing (the E0 offsets cancel in the guards, so unsolved auto E0 do not
    matter)."""

    streams = True

    def __init__(self, constraint: WallConstraint | None,
                 guards: dict[str, StabilityGuard | E0Guard]):
        self.constraint = constraint
        self.guards = guards
        # the last single vector's penalties: the least squares' Jacobian at x asks again for
        # what its residual vector at x just computed
        self._last: tuple[np.ndarray, np.ndarray] | None = None

    def widths(self) -> list[tuple[str, int]]:
        out = [("walls", len(self.constraint.pairs))] if self.constraint is not None else []
        return out + [(name, len(g.channels)) for name, g in self.guards.items()]

    def of(self, theta: np.ndarray) -> np.ndarray:
        """Penalty residuals (B, C) of full vectors ``theta``."""
        last = self._last
        if len(theta) == 1 and last is not None and np.array_equal(last[0], theta):
            return last[1].copy()
        parts = [np.zeros((len(theta), 0))]
        if self.constraint is not None:
            parts.append(WALL_PENALTY * self.constraint.violation(theta))
        parts += [WALL_PENALTY * g.violation(theta) for g in self.guards.values()]
        out = np.concatenate(parts, axis=1)
        if len(theta) == 1:
            self._last = (theta.copy(), out.copy())
        return out

    def residuals(self, at: Evaluation) -> np.ndarray:
        return self.of(at.theta)

    def jacobian(self, at: Linearisation) -> np.ndarray:
        """Forward differences in x of the channels breached at x. Each channel is
        WALL_PENALTY x max(0, breach), flat where not breached, so such a channel's row is zero
        (a step across the kink would give a spurious slope), and with no channel breached the
        stepped vectors are not evaluated at all: a phonon guard's n_free + 1 frequency sets
        are what a Jacobian cost before."""
        s, x = at.space, at.x
        p0 = self.of(s.expand(x[None]))[0]
        jac = np.zeros((len(p0), len(x)))
        breached = p0 != 0  # NaN included: its rows stay NaN, and the objective falls back
        if breached.any():
            h = fd_steps(x, s)
            p = self.of(s.expand(x[None] + np.diag(h)))
            jac[breached] = ((p[:, breached] - p0[breached]) / h[:, None]).T
        return jac


class PhononTerm(Target):
    """One phonon target (gafit.phonons.target.PhononTarget): its frequency residuals ("phonons",
    THz x sqrt(weight / n)) and Grüneisen residuals ("gruneisen"); its frequency differences pool
    into the "phonons" RMSE."""

    def __init__(self, target: PhononTarget):
        self.target = target

    def widths(self) -> list[tuple[str, int]]:
        return self.target.residual_widths()

    def residuals(self, at: Evaluation) -> np.ndarray:
        return self.target.residuals(at.theta)

    def jacobian(self, at: Linearisation) -> np.ndarray | None:
        return self.target.jacobian(at.space.expand(at.x[None])[0], at.dtheta)

    def differences(self, at: Evaluation) -> dict[str, np.ndarray]:
        return {"phonons": self.target.differences(at.theta)}


class PropertyTerm(Target):
    """The ``[[properties]]`` targets (gafit.property_target.PropertyTargets):
    sqrt(weight) (value - reference) / tolerance each, one term "properties"."""

    def __init__(self, properties: PropertyTargets):
        self.properties = properties

    def widths(self) -> list[tuple[str, int]]:
        return [("properties", len(self.properties.configs))]

    def residuals(self, at: Evaluation) -> np.ndarray:
        return self.properties.residuals(at.theta)
