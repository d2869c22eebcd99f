"""The fused pair kernel's fallback: a pair_energy numba cannot compile takes the numpy path, with
one warning, and gives the numpy path's numbers."""

from __future__ import annotations

import numpy as np
import pytest
from ase.build import bulk
from helpers import varied_structures

from gafit.forms import ParamSpec, get_form, pair_kernel
from gafit.forms.pair import PairForm
from gafit.structures import ReferenceSet, Structure


def _plain_python(x: np.ndarray) -> np.ndarray:  # not compiled: numba cannot call it
    return np.exp(x)


class Uncompilable(PairForm):
    """A two-parameter exponential repulsion through a helper numba cannot type."""

    name = "uncompilable"
    lammps_style = "uncompilable"
    params = (ParamSpec("A", "eV", (1.0, 10.0), 5.0), ParamSpec("rho", "Å", (0.2, 0.5), 0.3))

    @staticmethod
    def pair_energy(r_p: np.ndarray, a: np.ndarray, rho: np.ndarray
                    ) -> tuple[np.ndarray, np.ndarray]:
        e = a * _plain_python(-r_p / rho)
        return e, -e / rho


def test_uncompilable_pair_energy_falls_back_to_numpy_with_one_warning() -> None:
    if not pair_kernel.available():
        pytest.skip("numba is not installed")
    form = Uncompilable(["Cu", "Ag"], 4.0)
    tables = form.build_tables(varied_structures(seed=5))
    theta = np.array([[5.0, 0.3, 4.0, 0.35, 6.0, 0.28], [3.0, 0.4, 2.0, 0.3, 1.0, 0.45]])
    with pytest.warns(RuntimeWarning, match="numba cannot compile"):
        first = form.evaluate(theta, tables)
    second = form.evaluate(theta, tables)  # no second warning: remembered
    plain = form.evaluate_numpy(theta, tables)
    for p in (first, second):
        np.testing.assert_array_equal(p.energy, plain.energy)
        np.testing.assert_array_equal(p.forces, plain.forces)
        np.testing.assert_array_equal(p.virial, plain.virial)


def _sets() -> dict[str, ReferenceSet]:
    """Tables of fewer pairs than a block of the single-vector kernel, of a few blocks (each
    entry's last one runs into the next entry), and of entries of many blocks each."""
    varied = varied_structures(seed=3)
    big = bulk("Cu", "fcc", a=3.7, cubic=True) * (4, 3, 3)
    rng = np.random.default_rng(6)
    big.symbols[rng.random(len(big)) < 0.5] = "Ag"
    big.rattle(0.1, seed=6)
    return {"small": ReferenceSet([varied[1]], "small"), "varied": varied,
            "big": ReferenceSet(list(varied) + [Structure(big, name="big")], "big")}


@pytest.mark.parametrize("size", ["small", "varied", "big"])
@pytest.mark.parametrize("name", ["morse", "buckingham"])
def test_single_vector_gives_the_numbers_of_a_batch(name: str, size: str) -> None:
    """The kernel for one vector (each least-squares step) sums in the batched kernel's order: a
    vector gives the same numbers, to the last bit, alone or in a batch of any size."""
    if not pair_kernel.available():
        pytest.skip("numba is not installed")
    form, values = get_form(name).example(["Cu", "Ag"])
    tables = form.build_tables(_sets()[size])
    n_block = np.diff(tables.start_k) / pair_kernel.BLOCK
    assert {"small": n_block.sum() < 1, "varied": 1 < n_block.sum() < 3,
            "big": n_block.min() > 2}[size], n_block
    rng = np.random.default_rng(4)
    theta = np.tile(values, (5, 1)) * rng.uniform(0.95, 1.05, (5, len(values)))
    batch = form.evaluate(theta, tables)
    for b in range(len(theta)):
        one = form.evaluate(theta[b : b + 1], tables)
        for key in ("energy", "forces", "virial"):
            np.testing.assert_array_equal(getattr(one, key)[0], getattr(batch, key)[b], err_msg=key)
    assert any(key[0] is type(form).pair_energy for key in pair_kernel._SINGLE)
    plain = form.evaluate_numpy(theta[:1], tables)
    for key in ("energy", "forces", "virial"):
        ref = getattr(plain, key)
        np.testing.assert_allclose(getattr(form.evaluate(theta[:1], tables), key), ref,
                                   rtol=1e-12, atol=1e-12 * float(np.abs(ref).max()), err_msg=key)
