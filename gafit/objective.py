"""The weighted residual vector r(x) that both optimisers minimise; loss = sum r²::

    loss = w_E·MSE(energy per atom, eV/atom) + w_F·MSE(force components, eV/Å)
         + w_S·MSE(stress components, GPa) + w_V·MSE(virial components per atom, eV/atom)

each MSE weighted by the structures' weights. A structure without a property adds no residual of it.
Stress and virial come from the same DFT stress (virial per atom = -stress·V/N): weight one or both.
Then come the penalties, phonon and property targets and any target added: the objective is the sum
of its targets (``Objective.terms``, :mod:`gafit.targets`), each with its block of the residual vector.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np

from gafit.forms import Prediction
from gafit.parameters import ParameterSpace
from gafit.potential import Potential
from gafit.structures import ReferenceSet
from gafit.targets import (  # noqa: F401  (BAD_RESIDUAL ... UNITS: their home before targets.py)
    BAD_RESIDUAL,
    HUGE_RESIDUAL,
    PROPERTIES,
    UNITS,
    WALL_PENALTY,
    DataTarget,
    Evaluation,
    Linearisation,
    Penalties,
    PhononTerm,
    PropertyTerm,
    Target,
    Targets,
    fd_steps,
)

if TYPE_CHECKING:
    from gafit.guards import E0Guard, StabilityGuard
    from gafit.phonons.target import PhononTarget
    from gafit.property_target import PropertyTargets
    from gafit.walls import WallConstraint


def _score_bad(r: np.ndarray) -> np.ndarray:
    """Give rows with NaN, infinite or absurdly large residuals the constant BAD_RESIDUAL."""
    with np.errstate(invalid="ignore"):
        bad = ~(np.abs(r) < HUGE_RESIDUAL).all(axis=1)
    r[bad] = BAD_RESIDUAL
    return r


@dataclass
class Weights:
    energy: float = 1.0
    forces: float = 1.0
    stress: float = 0.1
    virial: float = 0.0


class Objective:
    """Residuals of a potential with a parameter space against one reference set: the sum of its
    targets (``terms``, gafit.targets), in this order: the training data (energies, forces,
    stresses, virials), the penalties (wall constraint, then the guards), each phonon target, the
    property targets, then the ``terms`` passed in."""

    def __init__(self, potential: Potential, space: ParameterSpace, refset: ReferenceSet,
                 weights: Weights | None = None, phonons: list[PhononTarget] | None = None,
                 constraint: WallConstraint | None = None,
                 properties: PropertyTargets | None = None,
                 guards: dict[str, StabilityGuard | E0Guard] | None = None,
                 terms: Sequence[Target] = ()):
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
        self.data = DataTarget(self.targets, self.weights)
        self.scale = self.data.scale
        self._penalties = (Penalties(constraint, self.guards)
                           if constraint is not None or self.guards else None)
        self.terms: list[Target] = [self.data]
        if self._penalties is not None:
            self.terms.append(self._penalties)
        self.terms += [PhononTerm(t) for t in self.phonons]
        if properties:
            self.terms.append(PropertyTerm(properties))
        self.terms += list(terms)
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
        # the species counts of the auto offsets, gathered once (each step reads them)
        self._e0_counts = self.tables.counts_sk[:, self._e0_cols]
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

    def _predict(self, theta: np.ndarray) -> Prediction:
        """Training set predictions at full vectors theta as they are (no E0 solved)."""
        with np.errstate(all="ignore"):
            return self.potential.evaluate(theta, self.tables)

    def _shift_e0(self, energy: np.ndarray, reference: bool = True) -> np.ndarray:
        """Add to structure energies (B, S) the auto E0 offsets (B, n_auto) that minimise the
        weighted energy residuals, and return them; without ``reference`` the linear part only
        (for derivatives of energies)."""
        t = self.targets
        y = np.subtract(t.e_ref if reference else 0.0, energy[:, t.e_idx] / t.n_atoms_e,
                        out=np.empty((len(energy), len(t.e_idx))))
        if not np.isfinite(y).all():
            y = np.nan_to_num(y)
        # einsum, not BLAS, on row-major y (a batch's energies may be column-major): the result
        # must not depend on how a population is split, nor on whether a vector comes alone
        de0 = np.einsum("be,ae->ba", y, self._e0_pinv)
        energy += np.einsum("ba,sa->bs", de0, self._e0_counts)
        return de0

    def linearisation(self, x: np.ndarray) -> Linearisation | None:
        """What the targets' Jacobians at one free vector x (n_free,) use (gafit.targets): the
        training set's predictions' derivatives and d(full vector)/dx, both with the automatic E0
        offsets' part; None where they are not available: a form without parameter derivatives
        or a vector that ``repair`` moves (the map is not differentiable there)."""
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
        return Linearisation(x[0], self.space, dtheta, dpred)

    def jacobian(self, x: np.ndarray) -> np.ndarray | None:
        """d(residuals)/dx (n_residuals, n_free) at one free vector x: each target's rows, its own
        (analytic for the training data, forward differences in x for the penalties) or forward
        differences along d(full vector)/dx (:meth:`_fd_rows`: property targets, phonon targets
        without analytic rows); None where :meth:`linearisation` is or for a bad residual vector."""
        at = self.linearisation(x)
        if at is None:
            return None
        with np.errstate(all="ignore"):
            fd: list[Evaluation] = []  # the batch of forward steps, built once when needed
            rows = []
            for term in self.terms:
                j = term.jacobian(at)
                rows.append(j if j is not None else self._fd_rows(term, at, fd))
            if len(rows) == 1:
                jac = rows[0]
            else:
                # into the transpose: the training data's rows are (n_free, n) row-major, so each
                # block is copied along rows (np.vstack would transpose them element by element)
                out = np.empty((len(at.x), sum(len(r) for r in rows)))
                start = 0
                for r in rows:
                    out[:, start:start + len(r)] = r.T
                    start += len(r)
                jac = out.T
        return jac if np.isfinite(jac).all() else None

    def _fd_rows(self, term: Target, at: Linearisation, batch: list[Evaluation]) -> np.ndarray:
        """Forward differences (n, n_free) of a target's residuals at x, with the steps of
        :func:`gafit.refine.batched_jacobian`, taken along dtheta: n_free + 1 evaluations of
        the target alone, not of the training set (unless the target reads its predictions).
        The base vector need not carry the automatic offsets' values: a phonon or property target
        sees the E0 offsets only as added energy (E, E_coh), so its differences do not depend on
        them. ``batch`` caches the stepped vectors for the next target."""
        x, s = at.x, self.space
        h = fd_steps(x, s)
        if not batch:
            theta0 = s.expand(x[None])[0]
            batch.append(Evaluation(
                theta0 + np.vstack([np.zeros(len(x)), np.diag(h)]) @ at.dtheta.T,
                predict=self._predict))
        # row-major residuals, so the rows' layout (which the least squares' products see) does
        # not depend on how the target laid out its own
        r = np.ascontiguousarray(term.residuals(batch[0]))
        return ((r[1:] - r[0]) / h[:, None]).T

    def penalty(self, theta: np.ndarray) -> np.ndarray:
        """Constraint residuals (B, C) of full vectors ``theta``: WALL_PENALTY x breach, the wall
        constraint's (eV) then each guard's (GPa, THz², eV/atom); (B, 0) without constraints."""
        if self._penalties is None:
            return np.zeros((len(theta), 0))
        return self._penalties.of(theta)

    def residuals_of(self, pred: Prediction) -> np.ndarray:
        """The training data's weighted residuals (B, n) of predictions, bad rows scored."""
        return _score_bad(self.data.residuals_of(pred))

    def residuals(self, x: np.ndarray) -> np.ndarray:
        """Weighted residual vectors (B, n_residuals) for free vectors x (B, n_free): each
        target's, in the order of ``terms``."""
        theta, pred = self.evaluate(x)
        at = Evaluation(theta, pred, self._predict)
        with np.errstate(all="ignore"):
            parts = [t.residuals(at) for t in self.terms]
        if len(parts) == 1:
            return _score_bad(parts[0])
        # row-major whatever the parts' layouts: the breakdown's and the loss's sums over a row
        # depend on it
        r = np.empty((len(theta), sum(p.shape[1] for p in parts)))
        return _score_bad(np.concatenate(parts, axis=1, out=r))

    def loss(self, x: np.ndarray) -> np.ndarray:
        """Sum of squared residuals per free vector (B,), scored as :meth:`residuals` scores bad
        vectors. When every target streams (training data and penalties) it goes block by block,
        in place, without the concatenated residual vector, adding the targets that read no
        predictions (the penalties) first."""
        if not all(t.streams for t in self.terms):
            r = self.residuals(x)
            return np.einsum("br,br->b", r, r)
        theta, pred = self.evaluate(x)
        at = Evaluation(theta, pred, self._predict)
        total = np.zeros(pred.energy.shape[0])
        worst = None
        n_res = 0
        with np.errstate(all="ignore"):
            for term in sorted(self.terms, key=lambda t: t.uses_prediction):
                for d in term.blocks(at):
                    if d.shape[1] == 0:
                        continue
                    squares = np.einsum("br,br->b", d, d)
                    total += squares
                    # NaN or inf make the total so; finite residuals beyond HUGE_RESIDUAL show
                    # in worst, which only a block with a sum of squares of HUGE_RESIDUAL² or
                    # more (or NaN) can raise: the others skip its two passes, and when every
                    # block does, no vector is bad (each total is a few sums below 1e200)
                    if not (squares < HUGE_RESIDUAL**2).all():
                        worst = np.zeros_like(total) if worst is None else worst
                        np.fmax(worst, np.maximum(d.max(axis=1), -d.min(axis=1)), out=worst)
                    n_res += d.shape[1]
        if worst is not None:
            bad = ~(worst < HUGE_RESIDUAL) | ~np.isfinite(total)
            total[bad] = n_res * BAD_RESIDUAL**2
        return total

    def residual_widths(self) -> list[tuple[str, int]]:
        """(term, number of residuals) of each block of :meth:`residuals`, in its order: the
        weighted properties, the wall constraint's penalty ("walls"), the guards' ("stability",
        "e0"), each phonon target (its frequencies, "phonons", and Grüneisen parameters,
        "gruneisen"), the property targets ("properties"), then the added targets'."""
        return [w for t in self.terms for w in t.widths()]

    def breakdown(self, x: np.ndarray) -> list[dict[str, float]]:
        """Each term's part of the loss per free vector (B, n_free): the sum of its squared
        weighted residuals, for the terms the loss has (energy, forces, stress, virial, walls:
        the wall constraint's penalty, stability and e0: the guards' penalties, phonons: all
        phonon targets' frequencies, gruneisen: their Grüneisen parameters, properties: property
        targets, and the added targets' terms).
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
        if start != r.shape[1]:
            raise AssertionError(f"residual blocks cover {start} of {r.shape[1]} residuals")
        return out

    def rmse(self, x: np.ndarray) -> list[dict[str, float]]:
        """Plain RMSE per entry for each vector in x (NaN where the set has no such target): per
        property of the training data, ``phonons`` over the fitted frequencies of all phonon
        targets, and the added targets' entries."""
        theta, pred = self.evaluate(x)
        at = Evaluation(theta, pred, self._predict)
        pooled: dict[str, list[np.ndarray]] = {}
        for term in self.terms:
            for name, d in term.differences(at).items():
                pooled.setdefault(name, []).append(d)
        diff = {name: ds[0] if len(ds) == 1 else np.concatenate(ds, axis=1)
                for name, ds in pooled.items()}
        return [{name: _rmse(d[k]) for name, d in diff.items()} for k in range(len(theta))]


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
