"""The fused EAM Jacobian kernel (gafit/forms/eam/jacobian_kernel.py) against the numpy derivatives
it replaces (gafit.forms.eam.evaluate.table_parameter_derivatives, the tested reference), row by
row, for every EAM form with derivatives, on one and two species, with the F table's spacing set
by the floor, the density and the top, densities beyond the F table, and no pairs at all. The
finite-difference checks of tests/forms/test_eam_derivatives.py and the contract test go through
the kernel too."""

from __future__ import annotations

import numpy as np
import pytest
from ase import Atoms
from helpers import varied_structures

from gafit.forms import get_form
from gafit.forms.eam import FinnisSinclair, Zhou, jacobian_kernel
from gafit.forms.eam.evaluate import table_parameter_derivatives
from gafit.forms.eam.jacobian_kernel import column_order, fused_table_derivatives
from gafit.forms.lanes import LANES
from gafit.structures import ReferenceSet, Structure

pytestmark = pytest.mark.skipif(not jacobian_kernel.available(), reason="numba not installed")


def rows(d, n_k: int) -> np.ndarray:
    """(n_k, 3 blocks) energies, forces and virials of parameter derivatives."""
    return [d.energy.reshape(n_k, -1), d.forces.reshape(n_k, -1), d.virial.reshape(n_k, -1)]


def assert_rows_equal(form, values: np.ndarray, data: ReferenceSet) -> None:
    """Each parameter's row of each block at 1e-10 of the row's largest entry. A row that vanishes
    to rounding (an invariance: Johnson's fe scales the density and F's argument together) is
    compared at 1e-12 of its block's largest entry."""
    tables = form.build_tables(data)
    args = form.table_derivatives(np.asarray(values, float))
    n_k = len(values)
    ref = rows(table_parameter_derivatives(*args, tables), n_k)
    got = rows(fused_table_derivatives(*args, tables), n_k)
    for name, a, b in zip(("energy", "forces", "virial"), ref, got, strict=True):
        scale = np.maximum(np.abs(a).max(axis=1), 1e-2 * np.abs(a).max())
        err = np.abs(a - b).max(axis=1)
        bad = np.flatnonzero(err > 1e-10 * scale)
        assert not len(bad), (name, [form.parameter_names()[k] for k in bad],
                              (err / scale)[bad])


@pytest.mark.parametrize("name", ["eam_zhou", "eam_johnson", "eam_fs", "eam_spline"])
@pytest.mark.parametrize("species", [("Cu",), ("Cu", "Ni")])
def test_fused_jacobian_equals_the_numpy_derivatives(name: str, species: tuple[str, ...]) -> None:
    form, values = get_form(name).example(list(species))
    data = varied_structures(species if len(species) == 2 else ("Cu", "Cu"))
    assert_rows_equal(form, values, data)


@pytest.mark.parametrize("changes", [{"beta1": 6.5}, {"rhoe": 60.0, "rhos": 60.0}])
def test_fused_jacobian_follows_a_moving_f_table(changes: dict) -> None:
    """drho set by the density table's top, then by 2 rhoe: every parameter that moves it moves
    the F knots (d(drho)/d(parameter) non-zero)."""
    form = Zhou(["Cu", "Ni"], 5.5)
    _, values = Zhou.example(["Cu", "Ni"])
    for k, v in changes.items():
        values[[p.name for p in Zhou.params].index(k)] = v
    assert np.any(form.table_derivatives(values)[2])
    assert_rows_equal(form, values, varied_structures(("Cu", "Ni")))


def test_fused_jacobian_beyond_the_f_table() -> None:
    """eam_fs with d = 11 Å: the slab's and cluster's densities lie far beyond the F table, where
    F goes on linearly (F'' = 0) and drho follows the density at r = 0."""
    form, values = FinnisSinclair.example(["Cu", "Ni"])
    form.cutoff = 11.5
    values.reshape(4, -1)[0, 1:3] = 11.0, 0.1
    data = ReferenceSet(list(varied_structures(("Cu", "Ni")))[3:], "far")
    assert_rows_equal(form, values, data)


def test_fused_jacobian_of_structures_without_pairs() -> None:
    """No pair within the cutoff: F(0) of each atom alone, no forces or virials."""
    lone = Atoms("CuNi", positions=[(0, 0, 0), (9, 0, 0)], cell=np.eye(3) * 20, pbc=True)
    form, values = Zhou.example(["Cu", "Ni"])
    data = ReferenceSet([Structure(lone, name="lone")], "lone")
    assert_rows_equal(form, values, data)
    d = form.parameter_derivatives(values, form.build_tables(data))
    assert not d.forces.any() and not d.virial.any()


def test_columns_put_the_density_and_pair_parameters_in_whole_vectors() -> None:
    """column_order: density columns (those that also move r phi last) in the first vectors, the
    r phi columns in a run of vectors after them, padding -1."""
    moves_rho = np.zeros(20, bool)
    moves_phi = np.zeros(20, bool)
    moves_rho[[3, 7, 12]] = True
    moves_phi[[7, 1, 2, 15]] = True
    slots, n_vr, vz0, vz1 = column_order(moves_rho, moves_phi)
    assert len(slots) % LANES == 0 and sorted(slots[slots >= 0]) == list(range(20))
    assert set(np.flatnonzero(moves_rho)) <= set(slots[: n_vr * LANES])
    assert set(np.flatnonzero(moves_phi)) <= set(slots[vz0 * LANES : vz1 * LANES])
    assert list(slots[:3]) == [3, 12, 7]  # rho only, then rho and phi


def test_parameter_derivatives_take_the_kernel_and_can_be_switched_off(monkeypatch) -> None:
    form, values = Zhou.example(["Cu"])
    tables = form.build_tables(varied_structures(("Cu", "Cu")))
    calls = []

    def spy(*args):
        calls.append(1)
        return fused_table_derivatives(*args)

    monkeypatch.setattr("gafit.forms.eam.fused_table_derivatives", spy)
    form.parameter_derivatives(values, tables)
    assert calls == [1]
    monkeypatch.setattr(jacobian_kernel, "ENABLED", False)
    form.parameter_derivatives(values, tables)
    assert calls == [1]


def test_spline_unit_tables_are_made_once_and_not_pickled() -> None:
    """eam_spline's derivative tables (its tables of unit knot values) do not depend on the vector:
    made at the first Jacobian, reused, remade after a new knot layout, left out of pickles (a
    worker's copy stays small)."""
    import pickle

    form, values = get_form("eam_spline").example(["Cu"])
    size = len(pickle.dumps(form))
    first = form.table_derivatives(values)[1]
    assert form.table_derivatives(values * 1.1)[1] is first
    assert pickle.loads(pickle.dumps(form))._unit_tables is None
    assert len(pickle.dumps(form)) == size
    form.apply_settings({"phi_knots": 12})
    _, values = form, form.default_values()
    assert form.table_derivatives(values)[1].z2r_bstr.shape[0] == len(values)
