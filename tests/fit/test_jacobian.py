"""Analytic parameter derivatives of the pair forms and the residual Jacobian the least squares use,
against central finite differences; and the refinement with them."""

from __future__ import annotations

import numpy as np
import pytest
from ase.build import bulk
from helpers import assert_jacobian_matches_central_differences

from gafit.config import parse_config
from gafit.fitting import Fit
from gafit.forms.buckingham import Buckingham
from gafit.forms.morse import Morse
from gafit.io import write_reference
from gafit.objective import Objective, Weights
from gafit.parameters import build_space
from gafit.potential import Potential
from gafit.refine import refine
from gafit.structures import GafitInputError, ReferenceSet, Structure

SPECIES = ["Cu", "Ag"]
VALUES = {
    "morse": {"Cu-Cu": (0.34, 1.36, 2.87), "Cu-Ag": (0.30, 1.25, 2.96), "Ag-Ag": (0.33, 1.40, 3.05)},
    "buckingham": {"Cu-Cu": (900.0, 0.31, 12.0), "Cu-Ag": (1300.0, 0.29, 20.0),
                   "Ag-Ag": (1500.0, 0.33, 35.0)},
}
FORMS = {"morse": Morse, "buckingham": Buckingham}


def structures(seed: int = 5, without_forces: tuple[int, ...] = ()) -> ReferenceSet:
    rng = np.random.default_rng(seed)
    out = []
    for k in range(5):
        at = bulk("Cu", "fcc", a=rng.uniform(3.7, 4.1), cubic=True)
        at.symbols[rng.random(len(at)) < 0.5] = "Ag"
        at.set_cell(at.cell @ (np.eye(3) + rng.normal(0, 0.03, (3, 3))), scale_atoms=True)
        at.rattle(0.1, seed=k)
        forces = rng.normal(0, 0.3, (len(at), 3))
        out.append(Structure(at, name=f"s{k}", energy=-3.0 * len(at) + rng.normal(),
                             forces=None if k in without_forces else forces,
                             stress=rng.normal(0, 0.01, 6)))
    return ReferenceSet(out)


def potential(form: str) -> Potential:
    pot = Potential(SPECIES, [FORMS[form](SPECIES, 5.0)])
    vals = {f"{e}.{p.name}": v for e, row in VALUES[form].items()
            for p, v in zip(FORMS[form].params, row, strict=True)}
    vals |= {"Cu.E0": -1.1, "Ag.E0": -0.6}
    return pot.with_values(np.array([vals[n] for n in pot.names]))


@pytest.mark.parametrize("form", ["morse", "buckingham"])
def test_pair_parameter_derivatives_match_central_differences(form: str) -> None:
    pot = potential(form)
    refset = structures()
    tables = pot.build_tables(refset)
    d = pot.parameter_derivatives(pot.values, tables)
    for k, name in enumerate(pot.names):
        h = 1e-6 * abs(pot.values[k])
        batch = np.repeat(pot.values[None], 2, axis=0)
        batch[0, k] += h
        batch[1, k] -= h
        p = pot.evaluate(batch, tables)
        for what in ("energy", "forces", "virial"):
            fd = (getattr(p, what)[0] - getattr(p, what)[1]) / (2 * h)
            got = getattr(d, what)[k]
            scale = max(np.abs(fd).max(), 1e-3)
            assert np.abs(got - fd).max() <= 1e-6 * scale, (name, what)


@pytest.mark.parametrize("form", ["morse", "buckingham"])
def test_residual_jacobian_with_ties_fixed_values_and_auto_e0(form: str) -> None:
    pot = potential(form)
    first = FORMS[form].params[0].name
    last = FORMS[form].params[2].name
    spec = {f"Cu-Ag.{first}": f"=Cu-Cu.{first}", f"Ag-Ag.{last}": VALUES[form]["Ag-Ag"][2],
            "Cu.E0": "auto", "Ag.E0": "auto"}
    for entry, row in VALUES[form].items():
        for p, v in zip(FORMS[form].params, row, strict=True):
            spec.setdefault(f"{entry}.{p.name}", [0.5 * v, 2.0 * v])
    space = build_space(pot, spec)
    objective = Objective(pot, space, structures(), Weights(1.0, 1.0, 0.5, 0.3))
    x = space.start()
    assert_jacobian_matches_central_differences(objective, x)


def test_data_jacobian_with_forces_of_some_structures() -> None:
    """Forces of two of five structures missing (the data target gathers the others' rows): the
    data target's Jacobian is still the weighted linear map of the predictions' derivatives, and
    the objective's matches central differences."""
    pot = potential("morse")
    space = build_space(pot, {n: [0.8 * v, 1.2 * v] for n, v in pot.named_values().items()
                              if not n.endswith(".E0")} | {"Cu.E0": "auto", "Ag.E0": "auto"})
    objective = Objective(pot, space, structures(without_forces=(1, 3)),
                          Weights(1.0, 1.0, 0.5, 0.3))
    x = space.start()
    at = objective.linearisation(x)
    assert len(objective.targets.f_idx) < at.dpred.forces.shape[1]
    np.testing.assert_array_equal(objective.data.jacobian(at),
                                  objective.data.residuals_of(at.dpred, reference=False).T)
    assert_jacobian_matches_central_differences(objective, x)


def test_refinement_with_analytic_jacobian_recovers_the_parameters(tmp_path) -> None:
    """Data made by known parameters: least squares from a perturbed start finds them again, with
    the analytic Jacobian alone (no finite differences) and in fewer residual evaluations."""
    pot = potential("morse")
    refset = structures()
    from gafit.evaluate import evaluate_potential

    exact, _ = evaluate_potential(pot, refset)
    space = build_space(pot, {n: [0.7 * v, 1.3 * v] if v > 0 else [v - 1, v + 1]
                              for n, v in pot.named_values().items()})
    objective = Objective(pot, space, exact, Weights(1.0, 1.0, 0.1))
    x0 = space.start() * (1 + 0.05 * np.random.default_rng(1).standard_normal(space.n_free))
    with_fd = refine(objective.residuals, x0, space.lower, space.upper, 200)
    analytic = refine(objective.residuals, x0, space.lower, space.upper, 200,
                      analytic=objective.jacobian)
    assert analytic.analytic_jacobians > 0
    np.testing.assert_allclose(analytic.x, pot.values, rtol=1e-7)
    assert analytic.loss < 1e-20
    assert analytic.evaluations < with_fd.evaluations
    # and end to end through a config: the same optimum either way
    path = tmp_path / "exact.extxyz"
    write_reference(exact, path)
    results = {}
    for jacobian in ("analytic", "finite-difference"):
        config = parse_config({
            "data": {"train": str(path)},
            "potential": {"form": "morse", "species": SPECIES, "cutoff": 5.0},
            "ga": {"population": 40, "generations": 15, "seed": 2},
            "refine": {"jacobian": jacobian, "starts": 2},
        })
        results[jacobian] = Fit.from_config(config).run(quiet=True)
    for name, value in zip(pot.names, pot.values, strict=True):
        assert results["analytic"].potential.named_values()[name] == pytest.approx(value, rel=1e-6)
    assert results["finite-difference"].loss == pytest.approx(results["analytic"].loss, abs=1e-12)


def test_jacobian_falls_back_or_refuses_where_not_analytic(tmp_path) -> None:
    pot = potential("morse")
    space = build_space(pot, {})
    objective = Objective(pot, space, structures())

    class NoDerivatives(Morse):
        pair_parameter_derivatives = Morse.__mro__[1].pair_parameter_derivatives

    plain = Potential(SPECIES, [NoDerivatives(SPECIES, 5.0)], pot.values)
    assert not plain.has_parameter_derivatives
    assert Objective(plain, build_space(plain, {}), structures()).jacobian(space.start()) is None
    assert objective.jacobian(space.start()) is not None
    with pytest.raises(GafitInputError, match=r"\[refine\] jacobian"):
        parse_config({"data": {"train": "x.extxyz"}, "refine": {"jacobian": "exact"}})


@pytest.mark.parametrize("form", ["morse", "buckingham"])
def test_structure_blocks_give_the_same_numbers(form: str, monkeypatch) -> None:
    """A set tabulated in blocks of structures (large sets) gives the same predictions and
    parameter derivatives as one table."""
    import gafit.potential as potential_mod

    pot = potential(form)
    refset = structures()
    x = pot.values * (1 + 0.01 * np.random.default_rng(2).standard_normal((7, pot.n_params)))
    one = pot.build_tables(refset)
    monkeypatch.setattr(potential_mod, "BLOCK_ATOMS", 9)  # 1 or 2 cells of 4 atoms per block
    blocks = pot.build_tables(refset)
    assert len(one.blocks) == 1 and len(blocks.blocks) == 3
    monkeypatch.setattr(potential_mod, "CHUNK_ELEMENTS", 2 * blocks.work_per_individual)
    for a, b in ((pot.evaluate(x, one), pot.evaluate(x, blocks)),
                 (pot.parameter_derivatives(pot.values, one),
                  pot.parameter_derivatives(pot.values, blocks))):
        for what in ("energy", "forces", "virial"):
            np.testing.assert_allclose(getattr(b, what), getattr(a, what), rtol=1e-12,
                                       atol=1e-12 * np.abs(getattr(a, what)).max())
