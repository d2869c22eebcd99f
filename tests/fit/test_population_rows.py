"""A population's predictions do not depend on how it is split (into workers' chunks, or by
memory): inside :func:`gafit.forms.rows.population_rows` every form takes its large-batch kernel
for any batch, so a vector's energies, forces and virials are the same, bit for bit, in a chunk of
one as in the whole population (the single-vector kernels of the many-body forms agree with the
batch kernels only to rounding). The losses agree to rounding: the objective's sums over a batch's
column-major blocks and its E0 offsets' products are not yet independent of the batch's size."""

from __future__ import annotations

import numpy as np
import pytest
from helpers import varied_structures

from gafit.forms import get_form
from gafit.forms.eam import kernel_single as eam_single
from gafit.forms.rows import as_population, population_rows
from gafit.forms.stillinger_weber import kernel_single as sw_single
from gafit.forms.tersoff import fused as tersoff_fused
from gafit.objective import Objective, Weights
from gafit.parallel import PopulationEvaluator
from gafit.parameters import build_space
from gafit.potential import Potential
from gafit.structures import ReferenceSet, Structure

#: the single-vector kernel each many-body form takes outside a population: (module, name)
SINGLE_KERNELS = {"tersoff": (tersoff_fused, "fused_single"),
                  "eam_zhou": (eam_single, "fused_single_grid"), "sw": (sw_single, "fused_single")}


def _objective(name: str) -> tuple[Objective, np.ndarray]:
    """The form's example on Cu-Ni (EAM) or Si-C, every nonzero parameter free within
    ±3 %, fitted to its own energies, forces and stresses moved by noise; 6 vectors of that box."""
    species = ["Cu", "Ni"] if name.startswith("eam") else ["Si", "C"]
    form, values = get_form(name).example(species)
    pot = Potential(species, [form], np.r_[values, np.zeros(len(species))])
    rng = np.random.default_rng(2)
    data = []
    for s in varied_structures(tuple(species), seed=2):
        at = s.atoms
        stress = rng.normal(0, 0.01, 6) if at.pbc.all() else None
        data.append(Structure(at, energy=-3.0 * len(at) + rng.normal(), stress=stress,
                              forces=rng.normal(0, 0.5, (len(at), 3))))
    fittable = dict(zip(form.parameter_names(), form.fittable(), strict=True))
    spec = {n: sorted([0.97 * v, 1.03 * v]) for n, v in pot.named_values().items()
            if v != 0 and fittable.get(n, False) and n not in form.unused_parameters()
            and n not in form.derived_parameters()}
    space = build_space(pot, spec, unspecified="fixed")
    obj = Objective(pot, space, ReferenceSet(data, "noisy"), Weights(1.0, 1.0, 0.5))
    return obj, space.from_unit(rng.random((6, space.n_free)))


@pytest.mark.parametrize("name", sorted(SINGLE_KERNELS))
def test_a_population_gives_each_vector_the_same_predictions_in_any_chunk(name: str, monkeypatch
                                                                   ) -> None:
    obj, x = _objective(name)
    module, single = SINGLE_KERNELS[name]
    calls = []
    real = getattr(module, single)

    def spy(*args, **kwargs):
        calls.append(as_population())
        return real(*args, **kwargs)

    monkeypatch.setattr(module, single, spy)
    obj.loss(x[:1])
    assert calls == [False]  # a vector alone (a least-squares step) takes the single kernel
    theta = obj.space.expand(x)
    loss = PopulationEvaluator(obj, 1).loss(x)
    with population_rows():
        whole = obj.potential.evaluate(theta, obj.tables)
        for size in (1, 2, 4):
            for k in range(0, len(x), size):
                part = obj.potential.evaluate(theta[k:k + size], obj.tables)
                np.testing.assert_array_equal(part.energy, whole.energy[k:k + size])
                np.testing.assert_array_equal(part.forces, whole.forces[k:k + size])
                np.testing.assert_array_equal(part.virial, whole.virial[k:k + size])
                np.testing.assert_allclose(obj.loss(x[k:k + size]), loss[k:k + size],
                                           rtol=1e-14)
    assert calls == [False]  # and never inside a population
    assert not as_population()


def test_workers_give_a_population_the_same_losses() -> None:
    """Chunks of one on three worker processes: the losses of the population evaluated whole."""
    obj, x = _objective("tersoff")
    whole = PopulationEvaluator(obj, 1).loss(x[:3])
    with PopulationEvaluator(obj, 3) as pool:
        np.testing.assert_allclose(pool.loss(x[:3]), whole, rtol=1e-14)
