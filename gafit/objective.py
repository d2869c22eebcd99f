"""The weighted residual vector r(x) that both optimisers minimise; loss = sum r².

loss = w_E·MSE(energy per atom, eV/atom) + w_F·MSE(force components, eV/Å)
     + w_S·MSE(stress components, GPa) + w_V·MSE(virial components per atom, eV/atom),
each MSE weighted by the structures' weights. A structure without a property adds no residual of it.
Stress and virial come from the same DFT stress (virial per atom = -stress·V/N): weight one or both.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np

from gafit.forms import Prediction
from gafit.parameters import ParameterSpace
from gafit.potential import Potential
from gafit.structures import EV_A3_TO_GPA, ReferenceSet

if TYPE_CHECKING:
    from gafit.guards import E0Guard, StabilityGuard
    from gafit.phonon_target import PhononTarget
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


def _score_bad(r: np.ndarray) -> np.ndarray:
    """Give rows with NaN, infinite or absurdly large residuals the constant BAD_RESIDUAL."""
    with np.errstate(invalid="ignore"):
        bad = ~(np.abs(r) < HUGE_RESIDUAL).all(axis=1)
    r[bad] = BAD_RESIDUAL
    return r
PROPERTIES = ("energy", "forces", "stress", "virial")
UNITS = {"energy": "eV/atom", "forces": "eV/Å", "stress": "GPa", "virial": "eV/atom",
         "phonons": "THz"}


@dataclass
class Weights:
    energy: float = 1.0
    forces: float = 1.0
    stress: float = 0.1
    virial: float = 0.0


class Targets:
    """Reference values of a reference set in the shape of :class:`Prediction`."""

    def __init__(self, refset: ReferenceSet, n_atoms_s: np.ndarray, volume_s: np.ndarray):
        w_s = np.array([s.weight for s in refset], float)
        self.n_atoms_s = n_atoms_s
        self.volume_s = volume_s
        self.config_type_s = np.array([s.config_type for s in refset])
        self.e_idx = np.array([k for k, s in enumerate(refset) if s.energy is not None], np.int64)
        self.e_ref = np.array([refset[k].energy for k in self.e_idx]) / n_atoms_s[self.e_idx]
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
            out["energy"] = pred.energy[:, self.e_idx] / self.n_atoms_s[self.e_idx] - on * self.e_ref
        if "forces" in properties:
            # every atom's forces, in order: no gather (on a large set each pass over the
            # (population x 3N) array counts)
            every = len(self.f_idx) == pred.forces.shape[1]
            f = pred.forces if every else pred.forces[:, self.f_idx]
            out["forces"] = f - self.f_ref if reference else f.copy()
        if "stress" in properties or "virial" in properties:
            stress = pred.virial[:, self.s_idx] / self.volume_s[self.s_idx, None] * EV_A3_TO_GPA
            s = stress.reshape(len(stress), -1) - on * self.s_ref.ravel()
            out["stress"], out["virial"] = s, s * self.s_to_virial
        return out


class Objective:
    """Residuals of a potential with a parameter space against one reference set."""

    def __init__(self, potential: Potential, space: ParameterSpace, refset: ReferenceSet,
                 weights: Weights | None = None, phonons: list[PhononTarget] | None = None,
                 constraint: WallConstraint | None = None,
                 properties: PropertyTargets | None = None,
                 guards: dict[str, StabilityGuard | E0Guard] | None = None):
        self.potential = potential
        # [constraints] stable and e0_range: term name ("stability", "e0") -> guard, penalties
        # after the wall constraint's
        self.guards = {k: g for k, g in (guards or {}).items() if g is not None}
        self.phonons = list(phonons or [])
        self.properties = properties  # [[properties]] targets: residuals after the phonons'
        self.constraint = constraint
        self.space = space
        self.refset = refset
        self.weights = weights or Weights()
        self.tables = potential.build_tables(refset)
        self.targets = Targets(refset, self.tables.n_atoms_s, self.tables.volume_s)
        t = self.targets
        self.scale = {}
        for prop, w_items in (("energy", t.e_w), ("forces", t.f_w), ("stress", t.s_w),
                              ("virial", t.s_w)):
            wp = getattr(self.weights, prop)
            total = w_items.sum()
            self.scale[prop] = np.sqrt(wp * w_items / total) if total > 0 and wp > 0 else None
        self._setup_auto_e0()

    @classmethod
    def fixed(cls, potential: Potential, refset: ReferenceSet, weights: Weights | None = None,
              best_e0: bool = False) -> Objective:
        """An objective with every parameter of ``potential`` fixed at its value (x has size 0).

        With ``best_e0`` the E0 offsets are instead those that minimise the energy residuals.
        """
        from gafit.parameters import build_space

        values = potential.named_values()
        if best_e0:
            values = {n: v for n, v in values.items() if not n.endswith(".E0")}
        space = build_space(potential, values)
        return cls(potential, space, refset, weights)

    def _setup_auto_e0(self) -> None:
        """Pseudo-inverse that gives the E0 offsets minimising the weighted energy residuals."""
        auto = self.space.auto_e0
        self._e0_cols = auto - self.potential.e0_slice.start
        t = self.targets
        if len(auto) == 0 or len(t.e_idx) == 0:
            self._e0_pinv = None
            return
        frac = self.tables.counts_sk[t.e_idx][:, self._e0_cols] / t.n_atoms_s[t.e_idx, None]
        sw = np.sqrt(t.e_w)
        self._e0_pinv = np.linalg.pinv(sw[:, None] * frac) * sw[None, :]  # (n_auto, n_e)

    # --- evaluation -------------------------------------------------------------------------
    def evaluate(self, x: np.ndarray) -> tuple[np.ndarray, Prediction]:
        """Full parameter vectors (auto E0 solved) and predictions for free vectors x (B, n_free)."""
        theta = self.space.expand(np.atleast_2d(x))
        with np.errstate(all="ignore"):
            pred = self.potential.evaluate(theta, self.tables)
            if self._e0_pinv is not None:
                theta[:, self.space.auto_e0] += self._shift_e0(pred.energy)
        return theta, pred

    def _shift_e0(self, energy: np.ndarray, reference: bool = True) -> np.ndarray:
        """Add to structure energies (B, S) the auto E0 offsets (B, n_auto) that minimise the
        weighted energy residuals, and return them; without ``reference`` the linear part only
        (for derivatives of energies)."""
        t = self.targets
        y = (t.e_ref if reference else 0.0) - energy[:, t.e_idx] / t.n_atoms_s[t.e_idx]
        # einsum, not BLAS: the result must not depend on how a population is split
        de0 = np.einsum("be,ae->ba", np.nan_to_num(y), self._e0_pinv)
        energy += np.einsum("ba,sa->bs", de0, self.tables.counts_sk[:, self._e0_cols])
        return de0

    def jacobian(self, x: np.ndarray) -> np.ndarray | None:
        """d(residuals)/dx (n_residuals, n_free) at one free vector x: analytic rows for the
        energies, forces and stresses, forward-difference rows for the wall constraint and the
        phonon and property targets (:meth:`_targets_jacobian`); None where the analytic rows are
        not available: a form without parameter derivatives, a vector that ``repair`` moves (the
        map is not differentiable there) or a bad residual vector."""
        if not self.potential.has_parameter_derivatives:
            return None
        x = np.atleast_2d(np.asarray(x, float))
        theta = self.space.expand(x, repair=False)
        if self.space.repair is not None and not np.array_equal(
                self.space.repair(theta.copy()), theta):
            return None
        with np.errstate(all="ignore"):
            d = self.potential.parameter_derivatives(theta[0], self.tables)
            dx = self.space.expansion_matrix()  # (n_full, n_free)
            dpred = Prediction(energy=dx.T @ d.energy, forces=dx.T @ d.forces,
                               virial=np.einsum("pf,psv->fsv", dx, d.virial))
            dtheta = dx.copy()  # d(full vector)/dx, with the automatic E0 offsets' part
            if self._e0_pinv is not None:
                dtheta[self.space.auto_e0] += self._shift_e0(dpred.energy, reference=False).T
            jac = self._weighted(self.targets.differences(dpred, reference=False)).T
            if self.constraint is not None or self.guards:
                jac = np.vstack([jac, self._penalty_jacobian(x[0])])
            if self.phonons or self.properties:
                jac = np.vstack([jac, self._targets_jacobian(x[0], dtheta)])
        return jac if np.isfinite(jac).all() else None

    def _targets_jacobian(self, x: np.ndarray, dtheta: np.ndarray) -> np.ndarray:
        """Forward differences (T, n_free) of the phonon and property residuals at x, with the
        steps of :func:`gafit.refine.batched_jacobian`, taken along dtheta (n_full, n_free), the
        full vector's derivative with the automatic E0 offsets' part: n_free + 1 evaluations of
        these targets alone, not of the training set. The base vector need not carry the
        automatic offsets' values: a target sees the E0 offsets only as added energy (E, E_coh),
        so its differences do not depend on them."""
        s = self.space
        h = 1e-7 * np.maximum(np.maximum(np.abs(x), 1e-3 * (s.upper - s.lower)), 1e-8)
        h = np.where(x + h > s.upper, -h, h)
        theta0 = s.expand(x[None])[0]
        r = self._target_residuals(theta0 + np.vstack([np.zeros(len(x)), np.diag(h)]) @ dtheta.T)
        return ((r[1:] - r[0]) / h[:, None]).T

    def _target_residuals(self, theta: np.ndarray) -> np.ndarray:
        """The phonon targets' residuals, then the property targets', (B, T) for full vectors."""
        parts = [np.zeros((len(theta), 0))]
        with np.errstate(all="ignore"):
            for target in self.phonons:
                parts.append(target.residuals(theta))
            if self.properties:
                parts.append(self.properties.residuals(theta))
        return np.concatenate(parts, axis=1)

    def penalty(self, theta: np.ndarray) -> np.ndarray:
        """Constraint residuals (B, C) of full vectors ``theta``: WALL_PENALTY x breach, the wall
        constraint's (eV) then each guard's (GPa, THz², eV/atom); (B, 0) without constraints."""
        parts = [np.zeros((len(theta), 0))]
        if self.constraint is not None:
            parts.append(WALL_PENALTY * self.constraint.violation(theta))
        parts += [WALL_PENALTY * g.violation(theta) for g in self.guards.values()]
        return np.concatenate(parts, axis=1)

    def _penalty_jacobian(self, x: np.ndarray) -> np.ndarray:
        """Forward differences (C, n_free) of the penalty residuals: the wall's need only the
        channels' pair energies on a short grid, the e0 guard's one frame, so n_free + 1 of them
        cost next to nothing (the E0 offsets cancel in the guards, so unsolved auto E0 do not matter)."""
        s = self.space
        h = 1e-7 * np.maximum(np.maximum(np.abs(x), 1e-3 * (s.upper - s.lower)), 1e-8)
        h = np.where(x + h > s.upper, -h, h)
        p = self.penalty(s.expand(np.vstack([x, x + np.diag(h)])))
        return ((p[1:] - p[0]) / h[:, None]).T

    def _weighted(self, diff: dict[str, np.ndarray]) -> np.ndarray:
        """The weighted residual vectors (B, n_residuals) of per-property differences."""
        parts = [diff[p] * self.scale[p] for p in PROPERTIES if self.scale[p] is not None]
        return (np.concatenate(parts, axis=1) if parts
                else np.zeros((next(iter(diff.values())).shape[0], 0)))

    def residuals_of(self, pred: Prediction) -> np.ndarray:
        return _score_bad(self._weighted(self.targets.differences(pred)))

    def residuals(self, x: np.ndarray) -> np.ndarray:
        """Weighted residual vectors (B, n_residuals) for free vectors x (B, n_free)."""
        theta, pred = self.evaluate(x)
        r = self.residuals_of(pred)
        if not self.phonons and self.constraint is None and not self.properties and not self.guards:
            return r
        return _score_bad(np.concatenate([r, self.penalty(theta), self._target_residuals(theta)],
                                         axis=1))

    def loss(self, x: np.ndarray) -> np.ndarray:
        """Sum of squared residuals per free vector (B,), scored as :meth:`residuals` scores bad
        vectors. Without phonon targets it goes property by property, in place, without the
        concatenated residual vector."""
        if self.phonons or self.properties:
            r = self.residuals(x)
            return np.einsum("br,br->b", r, r)
        theta, pred = self.evaluate(x)
        used = tuple(p for p in PROPERTIES if self.scale[p] is not None)
        total = np.zeros(pred.energy.shape[0])
        worst = np.zeros_like(total)
        n_res = 0
        with np.errstate(all="ignore"):
            if self.constraint is not None or self.guards:
                pen = self.penalty(theta)
                total += np.einsum("bc,bc->b", pen, pen)
                worst = np.abs(pen).max(axis=1, initial=0.0)
                n_res += pen.shape[1]
            for prop, d in self.targets.differences(pred, properties=used).items():
                if prop not in used or d.shape[1] == 0:
                    continue
                d *= self.scale[prop]
                total += np.einsum("br,br->b", d, d)
                # NaN or inf make the total so; finite residuals beyond HUGE_RESIDUAL show in worst
                np.fmax(worst, np.maximum(d.max(axis=1), -d.min(axis=1)), out=worst)
                n_res += d.shape[1]
        bad = ~(worst < HUGE_RESIDUAL) | ~np.isfinite(total)
        total[bad] = n_res * BAD_RESIDUAL**2
        return total

    def residual_widths(self) -> list[tuple[str, int]]:
        """(term, number of residuals) of each block of :meth:`residuals`, in its order: the
        weighted properties, the wall constraint's penalty ("walls"), the guards' ("stability",
        "e0"), each phonon target (its frequencies, "phonons", and Grüneisen parameters,
        "gruneisen")."""
        counts = self.targets.counts()
        out = [(p, counts[p]) for p in PROPERTIES if self.scale[p] is not None]
        if self.phonons or self.constraint is not None or self.guards:
            if self.constraint is not None:
                out.append(("walls", len(self.constraint.pairs)))
            out += [(name, len(g.channels)) for name, g in self.guards.items()]
            out += [w for t in self.phonons for w in t.residual_widths()]
        return out

    def breakdown(self, x: np.ndarray) -> list[dict[str, float]]:
        """Each term's part of the loss per free vector (B, n_free): the sum of its squared
        weighted residuals, for the terms the loss has (energy, forces, stress, virial, walls:
        the wall constraint's penalty, stability and e0: the guards' penalties, phonons: all
        phonon targets' frequencies, gruneisen: their Grüneisen parameters, properties: property
        targets).
        The parts of a vector add up to its loss (to rounding; a bad vector's parts are its
        BAD_RESIDUAL scores)."""
        r = self.residuals(np.atleast_2d(np.asarray(x, float)))
        out: list[dict[str, float]] = [{} for _ in range(len(r))]
        start = 0
        for term, n in self.residual_widths():
            part = np.einsum("br,br->b", r[:, start:start + n], r[:, start:start + n])
            for row, v in zip(out, part, strict=True):
                row[term] = row.get(term, 0.0) + float(v)
            start += n
        if start < r.shape[1] and getattr(self, "properties", None):
            # residuals() puts the [[properties]] targets' residuals last
            rest = np.einsum("br,br->b", r[:, start:], r[:, start:])
            for row, v in zip(out, rest, strict=True):
                row["properties"] = float(v)
            start = r.shape[1]
        if start != r.shape[1]:
            raise AssertionError(f"residual blocks cover {start} of {r.shape[1]} residuals")
        return out

    def rmse(self, x: np.ndarray) -> list[dict[str, float]]:
        """Plain RMSE per property for each vector in x (NaN where the set has no such target);
        ``phonons`` is over the fitted frequencies of all phonon targets."""
        theta, pred = self.evaluate(x)
        rows = rmse_of(self.targets.differences(pred))
        if self.phonons:
            d = np.concatenate([t.differences(theta) for t in self.phonons], axis=1)
            for row, dk in zip(rows, d, strict=True):
                row["phonons"] = _rmse(dk)
        return rows


def shares(parts: dict[str, float]) -> dict[str, float]:
    """Each term's fraction of the loss (they add up to 1); all NaN when the loss is not a
    positive finite number."""
    total = sum(parts.values())
    ok = np.isfinite(total) and total > 0
    return {k: (v / total if ok else float("nan")) for k, v in parts.items()}


def breakdown_text(parts: dict[str, float]) -> str:
    """'forces 0.0123 (81.2 %), energy 0.00285 (18.8 %)': the terms, largest first."""
    frac = shares(parts)
    return ", ".join(f"{k} {v:.4g} ({100 * frac[k]:.1f} %)"
                     for k, v in sorted(parts.items(), key=lambda kv: -kv[1]))


def _rmse(d: np.ndarray) -> float:
    """Root mean square of ``d``: NaN when it is empty (no reference values), inf when it is not a
    finite number (predictions that overflow)."""
    if not d.size:
        return float("nan")
    with np.errstate(all="ignore"):
        v = float(np.sqrt(np.mean(d**2)))
    return v if np.isfinite(v) else float("inf")


def rmse_of(diff: dict[str, np.ndarray]) -> list[dict[str, float]]:
    b = next(iter(diff.values())).shape[0]
    out = []
    for k in range(b):
        row = {}
        for p in PROPERTIES:
            row[p] = _rmse(diff[p][k])
        out.append(row)
    return out


def rmse_by_config_type(targets: Targets, diff: dict[str, np.ndarray], b: int = 0
                        ) -> dict[str, dict[str, float]]:
    """RMSE per property for each ``config_type`` (and ``all``) of individual ``b``."""
    owner = targets.structure_of_items()
    out: dict[str, dict[str, float]] = {}
    for group in [*sorted(set(targets.config_type_s.tolist())), "all"]:
        row = {}
        for p in PROPERTIES:
            d = diff[p][b]
            if group != "all":
                d = d[targets.config_type_s[owner[p]] == group]
            row[p] = _rmse(d)
        out[group] = row
    return out
