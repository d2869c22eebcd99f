"""The fused pair Jacobian kernel (gafit/forms/pair_jacobian.py) against the numpy derivatives
(per-pair columns through the sparse maps), row by row; its fallback for derivatives numba cannot
compile; and derivatives written with lists (as before the kernel) still served."""

from __future__ import annotations

import numpy as np
import pytest
from ase.build import bulk
from helpers import varied_structures

from gafit.forms import ParamSpec, get_form, pair_jacobian
from gafit.forms.morse import Morse
from gafit.forms.pair import PairForm
from gafit.structures import ReferenceSet, Structure

pytestmark = pytest.mark.skipif(not pair_jacobian.available(), reason="numba is not installed")


def _set() -> ReferenceSet:
    """The varied two-species cells and a rattled 72-atom alloy: runs of centre atoms that cross
    structures, entries of many pairs each."""
    varied = varied_structures(seed=3)
    big = bulk("Cu", "fcc", a=3.7, cubic=True) * (3, 3, 2)
    rng = np.random.default_rng(6)
    big.symbols[rng.random(len(big)) < 0.5] = "Ag"
    big.rattle(0.1, seed=6)
    return ReferenceSet(list(varied) + [Structure(big, name="big")], "jac")


def _values(form: PairForm, example: np.ndarray, seed: int) -> np.ndarray:
    """The example's values, each entry's scaled differently, so that a column written to the
    wrong entry shows."""
    scale = 1.0 + 0.1 * np.random.default_rng(seed).uniform(-1, 1, form.n_params)
    return example * scale


def _assert_rows_equal(fused, numpy_, rtol: float = 1e-10) -> None:
    """Every row (parameter) of energy, forces and virial equal to ``rtol`` of the row's largest."""
    for what in ("energy", "forces", "virial"):
        a = getattr(fused, what).reshape(len(getattr(fused, what)), -1)
        b = getattr(numpy_, what).reshape(len(getattr(numpy_, what)), -1)
        assert a.shape == b.shape, what
        scale = np.abs(b).max(axis=1, keepdims=True)
        assert (np.abs(a - b) <= rtol * scale).all(), (what, np.abs(a - b).max())


@pytest.mark.parametrize("species", [["Cu", "Ag"], ["Cu", "Ag", "Au"]])
@pytest.mark.parametrize("name", ["morse", "buckingham", "lj"])
def test_fused_jacobian_equals_numpy_derivatives(name: str, species: list[str]) -> None:
    """Three species on a two-species set: the entries with Au have no pairs (empty columns)."""
    form, example = get_form(name).example(species)
    tables = form.build_tables(_set())
    values = _values(form, example, seed=len(species))
    fused = form.parameter_derivatives(values, tables)
    assert (type(form).pair_parameter_derivatives, len(form.params)) in pair_jacobian._KERNELS
    assert type(form).pair_parameter_derivatives not in pair_jacobian._UNCOMPILABLE
    numpy_ = form.parameter_derivatives_numpy(values.reshape(-1, len(form.params)), tables)
    _assert_rows_equal(fused, numpy_)
    if len(species) == 3:
        empty = [k for k, e in enumerate(form.entries()) if "Au" in e]
        cols = [k * len(form.params) + m for k in empty for m in range(len(form.params))]
        assert not fused.forces[cols].any() and not fused.energy[cols].any()


@pytest.mark.parametrize("size", ["small", "big"])
def test_blocks_of_pairs_cover_every_pair_once(size: str) -> None:
    """The kernel evaluates the derivatives a block of pairs at a time: a table of fewer pairs than
    a block, and entries of several blocks with the last block shifted back from the table's end,
    give the numpy path's numbers."""
    form, example = get_form("buckingham").example(["Cu", "Ag"])
    structures = _set() if size == "big" else ReferenceSet([varied_structures(seed=3)[1]], "small")
    tables = form.build_tables(structures)
    n_block = np.diff(tables.start_k) / pair_jacobian.BLOCK
    assert n_block.sum() < 1 if size == "small" else n_block.min() > 1, n_block
    values = _values(form, example, seed=7)
    _assert_rows_equal(form.parameter_derivatives(values, tables),
                       form.parameter_derivatives_numpy(values.reshape(-1, 3), tables))


def test_jacobian_of_a_set_without_pairs_is_zero() -> None:
    form, values = get_form("morse").example(["Cu", "Ag"])
    far = bulk("Cu", "sc", a=6.0)  # nearest neighbour beyond the 5 Å cutoff
    tables = form.build_tables(ReferenceSet([Structure(far, name="far")], "far"))
    d = form.parameter_derivatives(values, tables)
    assert d.forces.shape == (form.n_params, 3) and not d.forces.any() and not d.energy.any()


def _plain_python(x: np.ndarray) -> np.ndarray:  # not compiled: numba cannot call it
    return x


class Uncompilable(Morse):
    """Morse whose derivatives go through a helper numba cannot type."""

    name = "uncompilable_jacobian"

    @staticmethod
    def pair_parameter_derivatives(r_p, d0, alpha, r0):  # noqa: ANN001, ANN205
        return Morse.pair_parameter_derivatives(_plain_python(r_p), d0, alpha, r0)


class Listed(PairForm):
    """An exponential repulsion whose derivatives come as lists, as forms wrote them before the
    fused kernel (a plug-in form may still)."""

    name = "listed"
    lammps_style = "listed"
    params = (ParamSpec("A", "eV", (1.0, 10.0), 5.0), ParamSpec("rho", "Å", (0.2, 0.5), 0.3))

    @staticmethod
    def pair_energy(r_p, a, rho):  # noqa: ANN001, ANN205
        e = a * np.exp(-r_p / rho)
        return e, -e / rho

    @staticmethod
    def pair_parameter_derivatives(r_p, a, rho):  # noqa: ANN001, ANN205
        ex = np.exp(-r_p / rho)
        return ([ex, a * ex * r_p / rho**2], [-ex / rho, a * ex / rho**2 * (r_p / rho - 1.0)])


def test_uncompilable_derivatives_fall_back_to_numpy_with_one_warning() -> None:
    form = Uncompilable(["Cu", "Ag"], 5.0)
    _, values = get_form("morse").example(["Cu", "Ag"])
    tables = form.build_tables(_set())
    with pytest.warns(RuntimeWarning, match="numba cannot compile"):
        first = form.parameter_derivatives(values, tables)
    second = form.parameter_derivatives(values, tables)  # no second warning: remembered
    plain = form.parameter_derivatives_numpy(values.reshape(-1, 3), tables)
    for p in (first, second):
        np.testing.assert_array_equal(p.forces, plain.forces)
        np.testing.assert_array_equal(p.energy, plain.energy)
        np.testing.assert_array_equal(p.virial, plain.virial)


def test_derivatives_given_as_lists_run_in_the_kernel() -> None:
    form = Listed(["Cu", "Ag"], 5.0)
    tables = form.build_tables(_set())
    values = np.array([5.0, 0.3, 4.0, 0.35, 6.0, 0.28])
    fused = form.parameter_derivatives(values, tables)
    assert Listed.pair_parameter_derivatives not in pair_jacobian._UNCOMPILABLE
    _assert_rows_equal(fused, form.parameter_derivatives_numpy(values.reshape(-1, 2), tables))
