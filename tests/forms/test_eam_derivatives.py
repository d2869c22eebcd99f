"""Parameter derivatives of the analytic EAM forms (eam_zhou, eam_johnson, eam_fs) against
central differences of the tables they export (what LAMMPS reads, evaluated as LAMMPS does), on
an alloy, with the F table's spacing set by the floor, by the largest density value and by the
form's top density; and the residual Jacobian of a fit through them. The contract test
(tests/forms/test_contract.py) checks every form that declares derivatives on its example."""

from __future__ import annotations

import numpy as np
import pytest
from helpers import assert_jacobian_matches_central_differences, varied_structures

from gafit.forms import get_form
from gafit.forms.eam import RHO_MAX_FLOOR, FinnisSinclair, Johnson, Tabulated, Zhou
from gafit.objective import Objective, Weights
from gafit.parameters import build_space
from gafit.potential import Potential
from gafit.structures import ReferenceSet

#: Zhou, Johnson and Wadley (2004)'s Ni, and their Cu (Zhou.example)
ZHOU_NI = [2.488746, 2.007018, 27.562015, 27.930410, 8.383453, 4.471175, 0.429046, 0.633531,
           0.443599, 0.820658, -2.693513, -0.076445, 0.241442, -2.375626, -2.70, 0.0, 0.265390,
           -0.152856, 0.469, -2.699486, 4.471175, 0.820658]


def exported(form, theta_b: np.ndarray, tables) -> np.ndarray:
    """(B, X) energies, forces and virials of the tables ``form`` writes for each vector,
    evaluated as LAMMPS reads them (:class:`Tabulated`: no parameters)."""
    out = []
    for values in theta_b:
        p = Tabulated(form.species, form.file_data(values)).evaluate(np.zeros((1, 0)), tables)
        out.append(np.concatenate([p.energy[0], p.forces[0], p.virial[0].ravel()]))
    return np.array(out)


def derived_map(form) -> np.ndarray:
    """theta = D @ free for the form's derived parameters (identity rows for the others)."""
    names = form.parameter_names()
    d = np.eye(len(names))
    for name, combo in form.derived_parameters().items():
        d[names.index(name)] = 0.0
        for src, coeff in combo.items():
            d[names.index(name), names.index(src)] = coeff
    return d


def assert_matches_exported_tables(form, values: np.ndarray, data: ReferenceSet,
                                   rel_step: float = 1e-5, only: list[str] | None = None) -> None:
    """Each free parameter's analytic derivative (derived ones following it) against central
    differences of the exported tables' evaluation, to 1e-6 of the largest entry. Steps of 1e-5
    relative: at 1e-6 the rounding of the virials' large cancelling terms shows (1e-5 of them).
    ``only``: these parameters alone."""
    tables = form.build_tables(data)
    d = form.parameter_derivatives(values, tables)
    ana_kx = np.hstack([d.energy, d.forces, d.virial.reshape(form.n_params, -1)])
    d_map = derived_map(form)
    unused = set(form.unused_parameters())
    names = form.parameter_names()
    for k in np.flatnonzero(np.diag(d_map) == 1.0):
        ana_x = d_map[:, k] @ ana_kx
        if names[k] in unused:
            assert not ana_x.any(), names[k]
            continue
        if only is not None and names[k] not in only:
            continue
        step = d_map[:, k] * rel_step * (abs(values[k]) or 1.0)
        fd_bx = exported(form, np.array([values + step, values - step]), tables)
        fd_x = (fd_bx[0] - fd_bx[1]) / (2 * step[k])
        scale = max(float(np.abs(fd_x).max()), float(np.abs(ana_x).max()), 1e-8)
        np.testing.assert_allclose(ana_x, fd_x, rtol=0, atol=1e-6 * scale, err_msg=names[k])


def drho_set_by(form, values: np.ndarray) -> str:
    """What sets the F table's spacing of ``values``: 'floor', 'density' or 'top'."""
    g = form.grid(values[None])
    top = (g.nrho - 1) * float(g.drho_b[0])
    if top == RHO_MAX_FLOOR:
        return "floor"
    return "density" if np.isclose(top, g.rhor_bsdr.max(), rtol=1e-14) else "top"


def test_the_analytic_forms_declare_derivatives_and_a_table_does_not() -> None:
    for name in ("eam_zhou", "eam_johnson", "eam_fs", "eam_spline"):
        assert get_form(name).example(["Cu", "Ni"])[0].has_parameter_derivatives, name
    form, values = Zhou.example(["Cu"])
    assert not Tabulated(["Cu"], form.file_data(values)).has_parameter_derivatives


def zhou_cu_ni(**changes: float) -> tuple[Zhou, np.ndarray]:
    """Zhou's Cu and Ni on a 5.5 Å cutoff, with Cu's parameters ``changes``."""
    form = Zhou(["Cu", "Ni"], 5.5)
    cu = Zhou.example(["Cu"])[1]
    for name, v in changes.items():
        cu[[p.name for p in Zhou.params].index(name)] = v
    return form, np.concatenate([cu, ZHOU_NI])


@pytest.mark.parametrize(("changes", "set_by"), [
    ({}, "floor"),
    ({"beta1": 6.5}, "density"),  # f(0.5 Å) about 290: the density table's top sets drho
    ({"rhoe": 60.0, "rhos": 60.0}, "top"),  # 2 rhoe = 120 sets it
])
def test_zhou_alloy_derivatives_match_its_exported_tables(changes: dict, set_by: str) -> None:
    form, values = zhou_cu_ni(**changes)
    assert drho_set_by(form, values) == set_by
    assert_matches_exported_tables(form, values, varied_structures(("Cu", "Ni")))


@pytest.mark.parametrize(("fe", "beta", "set_by"), [
    (1.0, 5.0, "floor"), (5.0, 5.85, "density"), (5.0, 3.5, "top")])
def test_johnson_alloy_derivatives_match_its_exported_tables(fe: float, beta: float,
                                                             set_by: str) -> None:
    """Both elements' fe and beta set (the f(0.5 Å) of the example's Ni alone is 110)."""
    form, values = Johnson.example(["Cu", "Ni"])
    values.reshape(2, -1)[:, 1:3] = fe, beta
    assert drho_set_by(form, values) == set_by
    assert_matches_exported_tables(form, values, varied_structures(("Cu", "Ni")))


@pytest.mark.parametrize(("cutoff", "d", "set_by"), [(5.0, None, "floor"), (11.5, 11.0, "density")])
def test_fs_derivatives_match_its_exported_tables(cutoff: float, d: float | None,
                                                  set_by: str) -> None:
    """eam_fs on two species; with d = 11 Å the density at r = 0 (d^2 (1 - beta)) sets drho and
    the slab's densities lie beyond the F table, where F goes on linearly: there the rounding of
    the table's end slope is amplified by (rho - top) / drho (about 5e4), so steps of 1e-4, for
    the parameters of the Cu-Cu entry, which move drho (the others are the first case's)."""
    form, values = FinnisSinclair.example(["Cu", "Ni"])
    form.cutoff = cutoff
    if d is not None:
        values.reshape(4, -1)[0, 1:3] = d, 0.1  # Cu-Cu d and beta
    assert drho_set_by(form, values) == set_by
    data = varied_structures(("Cu", "Ni"))
    if d is None:
        assert_matches_exported_tables(form, values, data)
        return
    # the cluster and slab only: the periodic cells have thousands of pairs within 11.5 Å
    data = ReferenceSet(list(data)[3:], "far")
    g = form.grid(values[None])
    rho_n = form.build_tables(data).rho_nx @ g.rhor_bsdr[0].ravel()
    assert rho_n.max() > 10 * (g.nrho - 1) * g.drho_b[0]  # far beyond the table
    assert_matches_exported_tables(form, values, data, rel_step=1e-4,
                                   only=["Cu-Cu.A", "Cu-Cu.d", "Cu-Cu.beta"])


def zhou_fit() -> tuple[Objective, np.ndarray]:
    """A Zhou alloy fit to data its own parameters made: derived Fn0..Fn2, fixed (fe and F1 = 0,
    as the Cu fit) and automatic E0 parameters; its objective and the true free vector."""
    from gafit.evaluate import evaluate_potential

    form, values = zhou_cu_ni(beta1=6.5)
    data = varied_structures(("Cu", "Ni"))
    truth = Potential(["Cu", "Ni"], [form], np.concatenate([values, [-0.3, -0.5]]))
    exact, _ = evaluate_potential(truth, data)
    named = truth.named_values()
    spec = {n: sorted([0.9 * v, 1.1 * v + 0.01]) for n, v in named.items()
            if not n.endswith((".Fn0", ".Fn1", ".Fn2", ".E0"))}
    spec |= {"Cu.fe": named["Cu.fe"], "Cu.F1": 0.0, "Ni.F1": 0.0, "Cu.E0": "auto",
             "Ni.E0": "auto"}
    space = build_space(truth, spec)
    return Objective(truth, space, exact, Weights(1.0, 1.0, 0.5)), space.start()


def test_fit_jacobian_through_zhou_matches_central_differences() -> None:
    """The least squares' Jacobian of a Zhou alloy fit, every residual analytic."""
    objective, x = zhou_fit()
    assert objective.linearisation(x) is not None  # analytic, not forward differences
    # Ni.F0 shifts F of every Ni atom alike, which the automatic Ni.E0 absorbs: its column is
    # exactly 0, and central differences of it are the residuals' rounding over 2h, which no
    # relative tolerance compares; the others' differences as for every form
    jac = objective.jacobian(x)
    absorbed = objective.space.free.index("Ni.F0")
    assert np.abs(jac[:, absorbed]).max() <= 1e-14 * np.abs(jac).max()
    assert_jacobian_matches_central_differences(
        objective, x, rel_step=1e-5, columns=[k for k in range(len(x)) if k != absorbed])


def test_auto_jacobian_takes_forward_differences_for_every_eam_form() -> None:
    """[refine] jacobian = "auto" takes forward differences for the EAM forms (on the shipped
    fits they cost less than the analytic Jacobian, even through the fused kernel, and
    Cu_mlearn_eam_spline's refinement reaches a lower loss), "analytic" their derivatives."""
    from gafit.parallel import _refine

    objective, truth = zhou_fit()
    space = objective.space
    x0 = truth * (1.0 + 0.002 * np.random.default_rng(1).standard_normal(len(truth)))
    x0 = np.clip(x0, space.lower, space.upper)
    found = {j: _refine(objective, (x0, space.lower, space.upper, 12, j, None))
             for j in ("auto", "analytic")}
    assert found["auto"].analytic_jacobians == 0
    assert found["analytic"].analytic_jacobians > 0
    start = float(np.sum(objective.residuals(x0[None]) ** 2))
    assert found["auto"].loss < 0.1 * start and found["analytic"].loss < 0.1 * start
    spline, values = get_form("eam_spline").example(["Cu", "Ni"])
    spline_pot = Potential(["Cu", "Ni"], [spline], np.concatenate([values, [0.0, 0.0]]))
    assert spline_pot.has_parameter_derivatives and not spline_pot.auto_analytic_jacobian
