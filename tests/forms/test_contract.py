"""The form contract, run over every registered form (``available_forms()``): a form that another
package registers in the ``gafit.forms`` entry-point group gets these tests by registering.

The Lennard-Jones example of ``examples/gafit_lj`` runs here as such a plug-in: its entry point is
written from its own ``pyproject.toml`` into a temporary ``*.dist-info`` on ``sys.path`` for this
module only (gafit is not edited and nothing is installed into the environment).

Each form is evaluated at its :meth:`Form.example` values on small 3D-periodic cells of two
species in equal numbers (Cu and Ag: element symbols, as ZBL needs; neutral for the example
charges of Coulomb), with nearest neighbours at 2.2-3 Å.
"""

from __future__ import annotations

import copy
import sys
import tempfile
import tomllib
import warnings
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import numpy as np
import pytest
from ase import Atoms
from ase.build import bulk
from helpers import strain_derivative

from gafit.evaluate import predict
from gafit.forms import FormTables, available_forms, get_form, pair_kernel
from gafit.forms.base import Form
from gafit.forms.pair import PairForm
from gafit.lammps.files import style_to_form, suffix_to_form, write_lammps
from gafit.potential import Potential
from gafit.potential_files import load_potential
from gafit.structures import ReferenceSet, Structure

ROOT = Path(__file__).resolve().parents[2]
PLUGINS = [ROOT / "examples" / "gafit_lj"]
SPECIES = ["Cu", "Ag"]


@contextmanager
def plugins_installed(projects: list[Path]) -> Iterator[None]:
    """Make each project's package importable and its ``gafit.forms`` entry points (from its
    ``pyproject.toml``) discoverable through importlib.metadata, as an install would."""
    with tempfile.TemporaryDirectory(prefix="gafit-plugins-") as tmp:
        added = []
        for project in projects:
            meta = tomllib.loads((project / "pyproject.toml").read_text())["project"]
            info = Path(tmp) / f"{meta['name'].replace('-', '_')}-{meta['version']}.dist-info"
            info.mkdir()
            (info / "METADATA").write_text(f"Metadata-Version: 2.1\nName: {meta['name']}\n"
                                           f"Version: {meta['version']}\n")
            eps = meta["entry-points"]["gafit.forms"]
            (info / "entry_points.txt").write_text(
                "[gafit.forms]\n" + "".join(f"{k} = {v}\n" for k, v in eps.items()))
            added.append(str(project))
        added.append(tmp)
        sys.path[:0] = added
        try:
            yield
        finally:
            for entry in added:
                sys.path.remove(entry)


def declares_dimer(name: str) -> bool:
    """Whether the form reduces to a dimer (:meth:`Form.dimer_energy`), as gafit.walls asks."""
    form, values = get_form(name).example(SPECIES)
    return form.dimer_energy(values[None], 0, 1) is not None


with plugins_installed(PLUGINS):
    FORMS = available_forms()
    PAIR_FORMS = [n for n in FORMS if issubclass(get_form(n), PairForm)]
    DERIVATIVE_FORMS = [n for n in FORMS if get_form(n).example(SPECIES)[0].has_parameter_derivatives]
    DIMER_FORMS = [n for n in FORMS if declares_dimer(n)]


@pytest.fixture(scope="module", autouse=True)
def _plugins() -> Iterator[None]:
    with plugins_installed(PLUGINS):
        yield


def test_the_plugin_is_registered() -> None:
    assert "lj" in FORMS and "lj" in PAIR_FORMS and "lj" in DERIVATIVE_FORMS
    assert get_form("lj").__module__ == "gafit_lj"


# ------------------------------------------------------------------------------------ helpers


def structures() -> ReferenceSet:
    """Three small triclinic, rattled cells with equal numbers of Cu and Ag."""
    rng = np.random.default_rng(7)
    out = []
    for name, atoms, ab in [("fcc-8", bulk("Cu", "fcc", a=3.75, cubic=True) * (2, 1, 1), [0, 3, 5, 6]),
                            ("fcc-4", bulk("Cu", "fcc", a=3.7, cubic=True), [1, 2]),
                            ("bcc-2", bulk("Cu", "bcc", a=3.0, cubic=True), [1])]:
        atoms.symbols[ab] = "Ag"
        strain = np.eye(3) + rng.normal(0, 0.03, (3, 3))
        atoms.set_cell(atoms.cell @ strain, scale_atoms=True)
        atoms.rattle(0.08, seed=len(out))
        out.append(Structure(atoms, name=name))
    return ReferenceSet(out, "contract")


def example(name: str) -> Potential:
    """The form's example as a potential (E0 = 0)."""
    form, values = get_form(name).example(SPECIES)
    return Potential(SPECIES, [form], np.concatenate([values, np.zeros(len(SPECIES))]))


def energy(pot: Potential, atoms) -> float:
    return float(predict(pot, ReferenceSet([Structure(atoms)]))[0][0])


def derived_map(form: Form) -> np.ndarray:
    """(n_params, n_params) D with theta = D @ free for the form's :meth:`Form.derived_parameters`
    (identity rows for the free parameters)."""
    names = form.parameter_names()
    d = np.eye(len(names))
    for name, combo in form.derived_parameters().items():
        k = names.index(name)
        d[k] = 0.0
        for src, coeff in combo.items():
            d[k, names.index(src)] = coeff
    return d


def perturbed(form: Form, values: np.ndarray, n: int, seed: int) -> np.ndarray:
    """n valid vectors near ``values`` (2 % relative noise on the free parameters, derived ones
    following, repaired) for batch comparisons."""
    rng = np.random.default_rng(seed)
    theta = values * (1.0 + 0.02 * rng.normal(size=(n, len(values))))
    theta[:, ~form.fittable()] = values[~form.fittable()]
    return form.repair(theta @ derived_map(form).T)


# ------------------------------------------------------------------------------------ contract


@pytest.mark.parametrize("name", FORMS)
def test_hooks_are_declared_consistently(name: str) -> None:
    cls = get_form(name)
    form, values = cls.example(SPECIES)
    assert cls.name == name and cls.lammps_style and cls.body_order >= 2
    # a style (and suffix) is read by one form; forms sharing one (eam/alloy) name themselves in
    # their files, and test_lammps_files_read_back checks that each reads back as itself
    assert cls.lammps_style in style_to_form()
    if cls.parameter_file_suffix is not None:
        assert cls.parameter_file_suffix in suffix_to_form()
    names = form.parameter_names()
    assert values.shape == (form.n_params,) == (len(names),)
    assert set(form.unused_parameters()) <= set(names)
    tied = form.tied_parameters()
    assert set(tied) | set(tied.values()) <= set(names)
    for target, combo in form.derived_parameters().items():
        assert {target, *combo} <= set(names)
    tables = form.build_tables(structures())
    assert isinstance(tables, FormTables)
    assert isinstance(tables.work_per_individual, int) and tables.work_per_individual >= 0


@pytest.mark.parametrize("name", FORMS)
def test_example_passes_check(name: str) -> None:
    form, values = get_form(name).example(SPECIES)
    assert form.check(values) == []
    lim = form.hard_limits()
    assert np.all((lim[:, 0] <= values) & (values <= lim[:, 1]))
    pot = example(name)
    pred = pot.evaluate(pot.values[None], pot.build_tables(structures()))
    assert np.all(np.isfinite(pred.forces)) and np.abs(pred.forces).max() > 1e-3  # not trivial


@pytest.mark.parametrize("name", FORMS)
def test_forces_are_minus_energy_gradient(name: str) -> None:
    pot = example(name)
    st = structures()[0]
    forces = predict(pot, ReferenceSet([st]))[1]
    scale = max(1.0, float(np.abs(forces).max()))
    h = 1e-5
    for i in range(st.n_atoms):
        for c in range(3):
            e = []
            for sgn in (1, -1):
                at = st.atoms.copy()
                at.positions[i, c] += sgn * h
                e.append(energy(pot, at))
            assert forces[i, c] == pytest.approx(-(e[0] - e[1]) / (2 * h),
                                                 abs=pot.forms[0].gradient_tolerance * scale)


@pytest.mark.parametrize("name", FORMS)
def test_stress_is_strain_derivative(name: str) -> None:
    pot = example(name)
    for st in structures()[:2]:
        stress = predict(pot, ReferenceSet([st]))[2][0]
        scale = max(1e-3, float(np.abs(stress).max()))
        expected = strain_derivative(lambda at: energy(pot, at), st.atoms)
        np.testing.assert_allclose(stress, expected, rtol=0,
                                   atol=pot.forms[0].gradient_tolerance * scale)


@pytest.mark.parametrize("name", DERIVATIVE_FORMS)
def test_parameter_derivatives_match_finite_differences(name: str) -> None:
    """Each free parameter's step (derived parameters following it) against the same combination
    of the analytic derivatives."""
    form, values = get_form(name).example(SPECIES)
    data = structures()
    wide = copy.copy(form)  # tables that reach a little further, for steps of cutoff-like parameters
    wide.cutoff += 0.1
    tables = wide.build_tables(data)
    n_x = 3 * sum(st.n_atoms for st in data) + 7 * len(data)
    deriv = wide.parameter_derivatives(values, tables)
    ana_kx = np.hstack([deriv.energy, deriv.forces,
                        deriv.virial.reshape(form.n_params, 6 * len(data))])
    assert ana_kx.shape == (form.n_params, n_x)
    fittable = form.fittable()
    assert np.all(ana_kx[~fittable] == 0.0)  # discrete switches have no derivative
    d_map = derived_map(form)
    free = [k for k in np.flatnonzero(fittable) if d_map[k, k] == 1.0]
    for k in free:
        h = 1e-6 * (abs(values[k]) or 1.0)
        step = d_map[:, k] * h
        p = wide.evaluate(np.array([values + step, values - step]), tables)
        out_bx = np.hstack([p.energy, p.forces, p.virial.reshape(2, -1)])
        fd_x = (out_bx[0] - out_bx[1]) / (2 * h)
        ana_x = d_map[:, k] @ ana_kx
        scale = max(float(np.abs(fd_x).max()), float(np.abs(ana_x).max()), 1e-8)
        np.testing.assert_allclose(ana_x, fd_x, rtol=0, atol=1e-5 * scale,
                                   err_msg=form.parameter_names()[k])


@pytest.mark.parametrize("name", DIMER_FORMS)
def test_dimer_energy_is_what_the_form_gives_two_atoms(name: str) -> None:
    """A form's declared dimer (what gafit.walls reduces it to) against its own evaluation of two
    isolated atoms: E(r), and dE/dr = minus the force on the second atom along the bond."""
    pot = example(name)
    form, values = pot.forms[0], pot.values[pot.form_slices()[0]]
    theta = perturbed(form, values, 3, seed=5)
    reach = form.interaction_range(values)
    r = reach * np.array([0.4, 0.7, 0.97])
    for a, b in [(0, 0), (0, 1), (1, 1)]:
        e_bk, g_bk = form.dimer_energy(theta, a, b)(r)
        assert e_bk.shape == g_bk.shape == (len(theta), len(r))
        for k, th in enumerate(theta):
            dimers = [Structure(Atoms(SPECIES[a] + SPECIES[b], positions=[[0, 0, 0], [x, 0, 0]],
                                      cell=[30, 30, 30], pbc=False)) for x in r]
            one = Potential(SPECIES, [form], np.concatenate([th, np.zeros(len(SPECIES))]))
            e_s, f_sac, _ = predict(one, ReferenceSet(dimers))
            scale = max(1.0, float(np.abs(e_s).max()))
            np.testing.assert_allclose(e_bk[k], e_s, rtol=1e-12, atol=1e-12 * scale)
            np.testing.assert_allclose(g_bk[k], -f_sac.reshape(len(r), 2, 3)[:, 1, 0], rtol=1e-10,
                                       atol=1e-10 * scale)


@pytest.mark.parametrize("name", FORMS)
def test_batch_equals_one_at_a_time(name: str) -> None:
    form, values = get_form(name).example(SPECIES)
    tables = form.build_tables(structures())
    theta = perturbed(form, values, 5, seed=1)
    batch = form.evaluate(theta, tables)
    for b in range(len(theta)):
        one = form.evaluate(theta[b : b + 1], tables)
        for q in ("energy", "forces", "virial"):
            np.testing.assert_allclose(getattr(batch, q)[b], getattr(one, q)[0], rtol=1e-12,
                                       atol=1e-12 * float(np.abs(getattr(one, q)).max()),
                                       err_msg=q)


@pytest.mark.parametrize("name", PAIR_FORMS)
def test_numba_kernel_equals_numpy(name: str) -> None:
    if not pair_kernel.available():
        pytest.skip("numba is not installed")
    form, values = get_form(name).example(SPECIES)
    tables = form.build_tables(structures())
    theta = perturbed(form, values, 4, seed=2)
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # a form numba cannot compile would warn and use numpy
        fused = form.evaluate(theta, tables)
    assert (type(form).pair_energy, len(form.params)) in pair_kernel._KERNELS
    plain = form.evaluate_numpy(theta, tables)
    for q in ("energy", "forces", "virial"):
        np.testing.assert_allclose(getattr(fused, q), getattr(plain, q), rtol=1e-12,
                                   atol=1e-12 * float(np.abs(getattr(plain, q)).max()), err_msg=q)


@pytest.mark.parametrize("name", FORMS)
def test_lammps_files_read_back(name: str, tmp_path: Path) -> None:
    pot = example(name)
    pair = write_lammps(pot, tmp_path)
    files = [pair] + [tmp_path / f for f in sorted(p.name for p in tmp_path.iterdir())
                      if pot.forms[0].parameter_file_suffix
                      and f.endswith(pot.forms[0].parameter_file_suffix)]
    for path in files:  # pair.lmp, and the form's parameter file when it writes one
        back = load_potential(path)
        assert back.species == pot.species, path.name
        assert [f.name for f in back.forms] == [name], path.name
        assert back.forms[0].cutoff == pot.forms[0].cutoff, path.name
        assert back.forms[0].settings() == pot.forms[0].settings(), path.name
        np.testing.assert_array_equal(back.values, pot.values, err_msg=path.name)


@pytest.mark.parametrize("name", FORMS)
def test_lammps_agrees(name: str, lammps_available: None) -> None:
    from gafit.lammps.verify import verify

    report = verify(example(name), structures())
    assert set(report.max_rel) == {"energy", "forces", "stress"}
    for q, rel in report.max_rel.items():
        assert rel < 1e-8, (q, report.text())


@pytest.mark.parametrize("name", FORMS)
def test_repair_is_idempotent_and_within_limits(name: str) -> None:
    form, values = get_form(name).example(SPECIES)
    np.testing.assert_array_equal(form.repair(values[None].copy())[0], values)  # valid: unchanged
    rng = np.random.default_rng(3)
    lo, hi = form.default_bounds().T
    u = rng.random((50, form.n_params))
    log = form.log_scale() & (lo > 0)
    theta = np.where(log, lo * (hi / np.where(log, lo, 1.0)) ** u, lo + (hi - lo) * u)
    theta[:5] = lo  # the corners too
    theta[5:10] = hi
    once = form.repair(theta.copy())
    twice = form.repair(once.copy())
    np.testing.assert_array_equal(twice, once)
    lim = form.hard_limits()
    assert np.all((lim[:, 0] <= once) & (once <= lim[:, 1]))
    for k in range(len(once)):
        assert form.check(once[k]) == [], k
