"""Phonons with phonopy from gafit forces: zero acoustic modes, LAMMPS agreement, batches, CLI, DFT data."""

from __future__ import annotations

import csv
from pathlib import Path

import numpy as np
import pytest
from ase.build import bulk
from helpers import ROOT, SHARED_DATA

from gafit.cli.phonons import add_parser as add_phonons_parser
from gafit.forms import get_form
from gafit.forms.morse import Morse
from gafit.phonons import (
    POINTS,
    PhononBatch,
    band_path,
    compare,
    frequencies_at,
    load_reference,
    make_phonopy,
    parse_path,
    phonon_forces,
    phonon_report,
    same_point,
)
from gafit.potential import Potential
from gafit.potential_files import load_potential, save_potential
from gafit.properties import lattice_constant
from gafit.structures import GafitInputError, ReferenceSet, Structure

SHARED = SHARED_DATA
SI_PBE = SHARED / "phonopy_Si_PBE"
#: Γ X L W K in the fcc primitive reciprocal basis
QPOINTS = [[0, 0, 0], [0.5, 0, 0.5], [0.5, 0.5, 0.5], [0.5, 0.25, 0.75], [0.375, 0.375, 0.75]]


def cu_morse(d0: float = 0.3429) -> Potential:
    return Potential(["Cu"], [Morse(["Cu"], 6.0)]).with_values(np.array([d0, 1.3588, 2.866, 0.0]))


@pytest.fixture(scope="module")
def cu_phonopy():
    return make_phonopy(cu_morse(), bulk("Cu", "fcc", a=3.61, cubic=True), [2, 2, 2])


def lammps_forces(potential: Potential):
    from gafit.lammps.verify import lammps_predictions

    def forces(cells):
        data = ReferenceSet([Structure(c) for c in cells])
        return [f for _, f, _ in lammps_predictions(potential, data)]

    return forces


def run_cli(argv: list[str]) -> int:
    """``gafit ...`` through the real command line entry point."""
    from gafit.cli import main

    return main(argv)


def handler_error(argv: list[str]) -> str:
    """The GafitInputError message the ``phonons`` handler raises for ``argv``."""
    import argparse

    parser = argparse.ArgumentParser()
    add_phonons_parser(parser.add_subparsers())
    args = parser.parse_args(["phonons", *argv])
    with pytest.raises(GafitInputError) as info:
        args.func(args)
    msg = str(info.value)
    assert "\n" not in msg
    return msg


def read_errors(path: Path) -> dict[str, dict[str, str]]:
    """errors.csv rows keyed by point."""
    with open(path, newline="") as fh:
        return {r["point"]: r for r in csv.DictReader(fh)}


def tersoff_si() -> Potential:
    try:
        get_form("tersoff")
        from gafit.lammps.runner import potentials_dir

        path = potentials_dir() / "Si.tersoff"
    except Exception as err:
        pytest.skip(f"Tersoff form or Si.tersoff not available: {err}")
    return load_potential(path)


# --------------------------------------------------------------------------- Morse fcc Cu


def test_acoustic_modes_vanish_at_gamma(cu_phonopy):
    f = frequencies_at(cu_phonopy, QPOINTS)
    assert f.shape == (5, 3)
    assert np.abs(f[0]).max() < 1e-3
    assert f[1:].min() > 1.0  # THz: a stable crystal away from Γ


def test_phonon_forces_is_one_evaluation_of_all_supercells(cu_phonopy):
    cells = [bulk("Cu", "fcc", a=3.61, cubic=True) * 2 for _ in range(3)]
    for k, c in enumerate(cells):
        c.positions[k] += [0.01, 0.02, -0.01]
    forces = phonon_forces(cu_morse(), cells)
    from gafit.evaluate import predict

    for c, f in zip(cells, forces, strict=True):
        assert np.allclose(f, predict(cu_morse(), ReferenceSet([Structure(c)]))[1], atol=1e-12)
        assert np.abs(f.sum(axis=0)).max() < 1e-10


def test_frequencies_equal_phonopy_with_lammps_forces(cu_phonopy, lammps_available):
    pot = cu_morse()
    ph_l = make_phonopy(pot, bulk("Cu", "fcc", a=3.61, cubic=True), [2, 2, 2],
                        forces_fn=lammps_forces(pot))
    diff = np.abs(frequencies_at(cu_phonopy, QPOINTS) - frequencies_at(ph_l, QPOINTS))
    assert diff.max() < 1e-4


def test_batch_equals_phonopy_per_individual():
    prim = bulk("Cu", "fcc", a=3.61)
    batch = PhononBatch(cu_morse(), prim, [2, 2, 2], QPOINTS)
    theta = np.array([cu_morse().values, cu_morse(0.40).values])
    forces = batch.forces(theta)
    assert forces.shape == (2, 1, 8, 3)
    freqs = batch.frequencies(theta)
    assert freqs.shape == (2, 5, 3)
    assert np.isnan(batch.frequencies(cu_morse(np.nan).values[None])).all()  # a bad individual: NaN
    for k, d0 in enumerate([0.3429, 0.40]):
        ph = make_phonopy(cu_morse(d0), prim, [2, 2, 2])
        assert np.abs(freqs[k] - frequencies_at(ph, QPOINTS)).max() < 1e-5
        assert np.abs(batch.force_constants(forces)[k] - ph.force_constants).max() < 1e-10


def test_batches_on_the_same_supercells_share_their_forces():
    """Batches of one potential on the same displaced supercells (other q-points) evaluate each
    vector's forces once between them, and give what a batch of their own gives; other
    supercells, another displacement or another potential get their own."""
    pot, prim = cu_morse(), bulk("Cu", "fcc", a=3.61)
    a = PhononBatch(pot, prim, [2, 2, 2], QPOINTS[:2])
    b = PhononBatch(pot, prim, [2, 2, 2], QPOINTS[2:])
    assert a.shared is b.shared
    assert PhononBatch(pot, prim, [3, 3, 3], QPOINTS[:1]).shared is not a.shared
    assert PhononBatch(pot, prim, [2, 2, 2], QPOINTS[:1], displacement=0.02).shared is not a.shared
    assert PhononBatch(cu_morse(), prim, [2, 2, 2], QPOINTS[:1]).shared is not a.shared
    calls = []
    evaluate = pot.evaluate
    pot.evaluate = lambda theta, tables: calls.append(1) or evaluate(theta, tables)
    theta = [np.array([cu_morse(d0).values]) for d0 in (0.3429, 0.40)]
    got = [(a.frequencies(t), b.frequencies(t)) for t in (theta[0], theta[1], theta[0])]
    assert len(calls) == 3  # one per vector asked for in turn, not one per batch
    del pot.evaluate
    for (fa, fb), t in zip(got, theta + theta[:1], strict=True):
        own = PhononBatch(cu_morse(), prim, [2, 2, 2], QPOINTS)  # a potential of its own
        np.testing.assert_array_equal(np.concatenate([fa, fb], axis=1), own.frequencies(t))
    with pytest.raises(ValueError, match="read-only"):
        a.forces(theta[0])[0, 0, 0, 0] = 1.0


def test_paths():
    assert parse_path("GXUKGL", "cF") == [["Γ", "X", "U"], ["K", "Γ", "L"]]
    assert parse_path("GXWKGL|UX", "cF") == [["Γ", "X", "W", "K", "Γ", "L"], ["U", "X"]]
    path = band_path(bulk("Cu", "fcc", a=3.6), "GXUKGL", npoints=5)
    assert path.labels == [("Γ", "X"), ("X", "U"), ("K", "Γ"), ("Γ", "L")]
    assert path.connections == [True, False, True, False]
    # auto: every distinct point of the fcc zone (U is K), in one connected run
    auto = band_path(bulk("Cu", "fcc", a=3.6), "auto", npoints=5)
    assert auto.labels == [("Γ", "X"), ("X", "W"), ("W", "K"), ("K", "Γ"), ("Γ", "L")]
    assert all(auto.connections[:-1])
    assert np.allclose(path.segments[0][-1], [0.5, 0, 0.5])
    assert band_path(bulk("Fe", "bcc", a=2.87), "auto").labels[0] == ("Γ", "H")
    assert band_path(bulk("Mg", "hcp", a=3.2, c=5.2), "auto").labels[0] == ("Γ", "M")
    with pytest.raises(GafitInputError, match="unknown point 'Q'"):
        band_path(bulk("Cu", "fcc", a=3.6), "GXQ")


def test_same_point_modulo_reciprocal_vectors_and_symmetry():
    ph = make_phonopy(cu_morse(), bulk("Cu", "fcc", a=3.61), [2, 2, 2])
    rot = ph.primitive_symmetry.pointgroup_operations
    pts = {k: np.array(v) for k, v in POINTS["cF"].items()}
    assert same_point(pts["K"], pts["U"], rot) and not same_point(pts["K"], pts["U"])
    assert same_point(pts["X"], pts["X"] + [1, 0, -1])
    assert not same_point(pts["X"], pts["W"], rot) and not same_point(pts["K"], pts["W"], rot)
    assert same_point(pts["L"], -pts["L"])  # time reversal (here also a reciprocal vector)
    # equivalent points have the same frequencies
    f = frequencies_at(ph, [pts["K"], pts["U"]])
    assert np.abs(f[0] - f[1]).max() < 1e-8


@pytest.mark.parametrize(("spec", "names"), [("GXUKGL", ["Γ", "X", "U≡K", "L"]),
                                             ("auto", ["Γ", "X", "W", "K", "L"]),
                                             ("GXWKGLUX", ["Γ", "X", "W", "K≡U", "L"])])
def test_points_row_takes_each_distinct_point_of_the_path_once(tmp_path, spec, names):
    """U and K are one point of the fcc zone: a path naming both counts it once in 'points' (and in
    one row); the auto path holds W."""
    cell = bulk("Cu", "fcc", a=3.61)
    make_phonopy(cu_morse(0.36), cell, [2, 2, 2]).save(tmp_path / "phonopy_params.yaml")
    ref = load_reference(tmp_path / "phonopy_params.yaml")
    res = phonon_report(cu_morse(), cell, [2, 2, 2], path=spec, reference=ref, relax=False, npoints=5)
    assert res.errors is not None
    rows = {r.point: r for r in res.errors.rows}
    assert list(rows) == ["whole path", "points", *names]
    assert rows["points"].n_q == len(names)
    # independently: the frequencies of both potentials at the named points, each once
    q = [POINTS["cF"][n.split("≡")[0]] for n in names]
    d = frequencies_at(res.phonopy, q) - ref.frequencies_at(q)
    assert rows["points"].rms == pytest.approx(np.sqrt(np.mean(d**2)), rel=1e-6)
    assert res.errors.row("K").rms == pytest.approx(np.sqrt(np.mean(d[names.index(
        next(n for n in names if "K" in n))] ** 2)), rel=1e-6)


def test_cli_writes_outputs_and_errors_against_a_csv_reference(tmp_path):
    cu = cu_morse()
    save_potential(cu, tmp_path / "cu.json")
    save_potential(cu_morse(0.36), tmp_path / "cu_ref.json")
    conv = bulk("Cu", "fcc", a=3.61, cubic=True)
    conv.write(tmp_path / "cu.extxyz")
    # the "DFT" reference: the dispersion of a slightly stiffer potential, written by the CLI itself
    common = ["--structure", str(tmp_path / "cu.extxyz"), "--supercell", "2", "2", "2",
              "--npoints", "11"]
    assert run_cli(["phonons", str(tmp_path / "cu_ref.json"), *common, "--out", str(tmp_path / "ref")]) == 0
    out = tmp_path / "run"
    assert run_cli(["phonons", str(tmp_path / "cu.json"), *common, "--reference",
                    str(tmp_path / "ref" / "band.csv"), "--out", str(out)]) == 0
    for name in ("band.yaml", "band.csv", "phonons.png", "phonons.pdf", "errors.csv", "phonons.json"):
        assert (out / name).stat().st_size > 0, name
    rows = read_errors(out / "errors.csv")
    assert set(rows) == {"whole path", "points", "Gamma", "X", "W", "K", "L"}
    # "points": every mode at each distinct labelled point once
    per_point = [float(rows[p]["rms_THz"]) for p in ("Gamma", "X", "W", "K", "L")]
    assert float(rows["points"]["rms_THz"]) == pytest.approx(
        np.sqrt(np.mean(np.square(per_point))), rel=1e-5)
    # directly: gafit at its relaxed cell, at the reference's q-points
    ref = load_reference(tmp_path / "ref" / "band.csv")
    relaxed, _ = lattice_constant(cu, conv)
    mine = frequencies_at(make_phonopy(cu, relaxed, [2, 2, 2]), ref.qpoints)
    table = compare(mine, ref.frequencies, ref.labels, ref.qpoints)
    assert table.rms > 0.01
    assert float(rows["whole path"]["rms_THz"]) == pytest.approx(table.rms, abs=2e-6)
    assert float(rows["X"]["rms_THz"]) == pytest.approx(table.row("X").rms, abs=2e-6)
    # gafit's own band.yaml as reference: no error
    assert run_cli(["phonons", str(tmp_path / "cu.json"), *common, "--reference",
                    str(out / "band.yaml"), "--out", str(tmp_path / "self")]) == 0
    rows = read_errors(tmp_path / "self" / "errors.csv")
    assert float(rows["whole path"]["rms_THz"]) < 1e-4


def test_phonopy_data_set_reference_and_default_structure(tmp_path, capsys):
    ph = make_phonopy(cu_morse(0.36), bulk("Cu", "fcc", a=3.62), [2, 2, 2])
    ph.save(tmp_path / "phonopy_params.yaml")
    save_potential(cu_morse(), tmp_path / "cu.json")
    ref = load_reference(tmp_path)  # a folder holding a phonopy data set
    assert ref.kind == "phonopy"
    assert np.allclose(ref.frequencies_at(QPOINTS), frequencies_at(ph, QPOINTS), atol=1e-6)
    assert run_cli(["phonons", str(tmp_path / "cu.json"), "--reference",
                    str(tmp_path / "phonopy_params.yaml"), "--no-relax", "--path", "GXWKGL",
                    "--npoints", "5", "--out", str(tmp_path / "o")]) == 0
    text = capsys.readouterr().out
    assert "cell a = 3.62000 Å, as given" in text
    assert "W " in text and "RMS" in text
    rows = read_errors(tmp_path / "o" / "errors.csv")
    assert float(rows["whole path"]["rms_THz"]) > 0.01


def test_bad_input_is_one_line_naming_the_problem(tmp_path, capsys):
    save_potential(cu_morse(), tmp_path / "cu.json")
    bulk("Cu", "fcc", a=3.61, cubic=True).write(tmp_path / "cu.extxyz")
    pot, st = str(tmp_path / "cu.json"), str(tmp_path / "cu.extxyz")
    base = ["--structure", st, "--out", str(tmp_path / "o")]
    assert "missing.extxyz: no such file" in handler_error(
        [pot, "--structure", str(tmp_path / "missing.extxyz"), "--supercell", "2", "2", "2",
         "--out", str(tmp_path / "o")])
    assert "nope.json: no such file" in handler_error([str(tmp_path / "nope.json"), *base,
                                                       "--supercell", "2", "2", "2"])
    assert "ref.csv: no such file" in handler_error([pot, *base, "--supercell", "2", "2", "2",
                                                     "--reference", str(tmp_path / "ref.csv")])
    for bad in (["2", "2"], ["2", "0", "2"], ["a", "b", "c"], ["2", "2", "2", "2"]):
        assert "--supercell" in handler_error([pot, *base, "--supercell", *bad])
    msg = handler_error([pot, *base, "--supercell", "2", "2", "2", "--path", "GXQL"])
    assert "unknown point 'Q'" in msg and "GXQL" in msg
    assert "--structure is required" in handler_error([pot, "--supercell", "2", "2", "2",
                                                       "--out", str(tmp_path / "o")])
    (tmp_path / "bad.csv").write_text("q1,q2,f1\n0,0,1\n")
    assert "missing columns q3" in handler_error([pot, *base, "--supercell", "2", "2", "2",
                                                  "--reference", str(tmp_path / "bad.csv")])
    # through main: exit status 2 and one line on stderr
    assert run_cli(["phonons", pot, *base, "--supercell", "2", "x"]) == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith("gafit: error: --supercell") and "\n" not in err


# --------------------------------------------------------------------------- DFT Si (shared data)


def si_reference_files() -> Path:
    if not (SI_PBE / "phonopy_disp.yaml").exists():
        pytest.skip(f"shared data not available: {SI_PBE}")
    return SI_PBE


def test_si_pbe_reference_phonopy_and_csv_agree():
    import yaml

    d = si_reference_files()
    ref = load_reference(d / "phonopy_disp.yaml")
    f_gamma = ref.frequencies_at([[0, 0, 0]])[0]
    assert f_gamma[-1] == pytest.approx(15.111, abs=0.01)
    assert np.abs(f_gamma[:3]).max() < 1e-3
    points = yaml.safe_load((d / "dft_phonon_frequencies.yaml").read_text())["points"]
    for p in points:
        got = ref.frequencies_at([p["q_reduced_primitive"]])[0]
        assert np.allclose(got, np.sort(p["frequencies_THz"]), atol=1e-4), p["name"]
    band = load_reference(d / "dft_phonon_band.csv")
    assert band.kind == "csv" and band.frequencies.shape == (205, 6)
    assert [x for x in band.labels if x][:4] == ["Γ", "X", "X", "W"]
    assert np.abs(ref.frequencies_at(band.qpoints) - band.frequencies).max() < 1e-4


# --------------------------------------------------------------------------- Tersoff Si


@pytest.mark.parametrize("shipped", [None, "Si_gpuga_phonon_fit.tersoff",
                                     "Si_mlearn_phonon_fit.tersoff"])
def test_si_tersoff_frequencies_equal_lammps(lammps_available, shipped):
    """LAMMPS's Si.tersoff (m = 3) and the shipped phonon fits (m = 1), through LAMMPS's forces."""
    root = ROOT
    pot = tersoff_si() if shipped is None else load_potential(root / "potentials" / shipped)
    prim = bulk("Si", "diamond", a=5.432)
    ph = make_phonopy(pot, prim, [2, 2, 2])
    ph_l = make_phonopy(pot, prim, [2, 2, 2], forces_fn=lammps_forces(pot))
    f = frequencies_at(ph, QPOINTS)
    assert np.abs(f[0, :3]).max() < 1e-3
    assert np.abs(f - frequencies_at(ph_l, QPOINTS)).max() < 1e-4


def test_si_tersoff_against_pbe(tmp_path, capsys):
    pot = tersoff_si()
    d = si_reference_files()
    from gafit.lammps.runner import potentials_dir

    assert run_cli(["phonons", str(potentials_dir() / "Si.tersoff"), "--structure",
                    str(d / "POSCAR-unitcell"), "--supercell", "2", "2", "2", "--reference",
                    str(d / "phonopy_disp.yaml"), "--npoints", "11", "--out", str(tmp_path)]) == 0
    rows = read_errors(tmp_path / "errors.csv")
    gamma = [float(x) for x in rows["Gamma"]["gafit_THz"].split()]
    assert 15.0 < gamma[-1] < 18.0  # Tersoff's optical mode, a little above DFT's 15.1 THz
    assert 0.1 < float(rows["whole path"]["rms_THz"]) < 3.0
    assert "relaxed" in capsys.readouterr().out
    assert pot.species == ["Si"]


def test_dynamical_matrices_take_the_lower_triangle_and_equal_the_full_map():
    """phonopy's map onto dynamical matrices is exactly Hermitian, so a batch sums only the lower
    triangle's products, and gets the full map's numbers bit for bit."""
    from gafit.phonons.linear_map import RowMap

    batch = PhononBatch(cu_morse(), bulk("Cu", "fcc", a=3.61), [2, 2, 2], QPOINTS)
    assert batch._to_dyn.full is None
    theta = np.array([cu_morse(d0).values for d0 in (0.3429, 0.36, 0.40)])
    forces = batch.forces(theta).reshape(len(theta), -1)
    want = RowMap(batch.forces_to_dyn)(forces).reshape(3, len(QPOINTS), 3, 3)
    np.testing.assert_array_equal(batch.dynamical_matrices(forces), want)
