"""The cubic-spline EAM (gafit.forms.eam.knots, ``eam_spline``): its functions pass through their
knot values and end at the cutoff with zero value and slope, its knot layout (settings) travels with
its files and configs, and bad settings are one-line errors. The form contract (forces, stress,
parameter derivatives, LAMMPS) is tests/forms/test_contract.py."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from ase import Atoms
from helpers import demo_config

from gafit.config import parse_config
from gafit.evaluate import predict
from gafit.fit_data import build_potential
from gafit.forms.eam.knots import SplineEAM
from gafit.lammps.files import write_lammps
from gafit.potential import Potential
from gafit.potential_files import load_potential
from gafit.structures import GafitInputError, ReferenceSet, Structure

SETTINGS = {"phi_knots": 7.0, "phi_rmin": 2.0, "rho_knots": 5.0, "rho_rmin": 1.5, "F_knots": 6.0,
            "rho_max": 20.0}


def spline(cutoff: float = 5.0, **settings: float) -> SplineEAM:
    form = SplineEAM(["Cu"], cutoff)
    form.apply_settings({**SETTINGS, **settings})
    return form


def dimer_energies(form: SplineEAM, values: np.ndarray, r: np.ndarray) -> tuple[np.ndarray, ...]:
    """Energy (eV) and the second atom's force along the bond (eV/Å) of isolated Cu dimers."""
    pot = Potential(["Cu"], [form], np.concatenate([values, [0.0]]))
    dimers = [Structure(Atoms("Cu2", positions=[[0, 0, 0], [x, 0, 0]], cell=[30, 30, 30],
                              pbc=False)) for x in r]
    e_s, f_sac, _ = predict(pot, ReferenceSet(dimers))
    return e_s, f_sac.reshape(len(r), 2, 3)[:, 1, 0]


def blocks(form: SplineEAM, phi: np.ndarray, rho: np.ndarray, f: np.ndarray) -> np.ndarray:
    assert (len(phi), len(rho), len(f)) == (form.n_phi, form.n_rho, form.n_f)
    return np.concatenate([phi, rho, f])


def test_a_dimer_gives_the_knot_values_at_the_knots() -> None:
    """E(r_k) of a dimer is phi_k when F = 0, and 2 c rho_k when phi = 0 and F = c rho (a line,
    which a natural spline reproduces): what LAMMPS's spline of the tables gives at the knots, to
    the tables' own interpolation error (a few 1e-9 eV for these wiggly random knots)."""
    form = spline()
    rng = np.random.default_rng(1)
    phi_k = rng.uniform(-0.5, 2.0, form.n_phi)
    rho_k = rng.uniform(0.1, 3.0, form.n_rho)
    r_phi, r_rho = form.phi_r[:-1], form.rho_r[:-1]
    e, _ = dimer_energies(form, blocks(form, phi_k, rho_k, np.zeros(form.n_f)), r_phi)
    np.testing.assert_allclose(e, phi_k, rtol=0, atol=1e-7)
    c = -0.3
    f_k = c * form.f_rho[1:]
    e, _ = dimer_energies(form, blocks(form, np.zeros(form.n_phi), rho_k, f_k), r_rho)
    np.testing.assert_allclose(e, 2 * c * rho_k, rtol=0, atol=1e-7)


def test_functions_end_at_the_cutoff_with_zero_value_and_slope() -> None:
    """Near the cutoff E ~ delta^2 and the force ~ delta: a tenth of the distance, a hundredth of
    the energy and a tenth of the force."""
    form = spline()
    rng = np.random.default_rng(2)
    values = blocks(form, rng.uniform(-0.5, 0.5, form.n_phi), rng.uniform(0.5, 2.0, form.n_rho),
                    -rng.uniform(0.5, 2.0, form.n_f))
    delta = np.array([0.02, 0.002])
    e, f = dimer_energies(form, values, form.cutoff - delta)
    assert abs(e[1] / e[0]) == pytest.approx(0.01, rel=0.05)
    assert abs(f[1] / f[0]) == pytest.approx(0.1, rel=0.05)
    e, f = dimer_energies(form, values, np.array([form.cutoff + 0.01]))
    assert e[0] == 0.0 and f[0] == 0.0


def test_knot_values_recover_a_spline_from_its_tables() -> None:
    form, values = SplineEAM.example(["Cu", "Ag"])
    back = form.knot_values(form.grid(values[None]))
    unused = [form.parameter_names().index(n) for n in form.unused_parameters()]
    expected = values.copy()
    expected[unused] = 0.0
    np.testing.assert_allclose(back, expected, rtol=1e-8, atol=1e-10)


def test_settings_travel_with_the_files(tmp_path: Path) -> None:
    form = spline(cutoff=5.5)
    rng = np.random.default_rng(3)
    values = blocks(form, rng.uniform(-0.5, 0.5, form.n_phi), rng.uniform(0.5, 2.0, form.n_rho),
                    -rng.uniform(0.5, 2.0, form.n_f))
    pot = Potential(["Cu"], [form], np.concatenate([values, [-1.25]]))
    pair = write_lammps(pot, tmp_path)
    (tmp_path / "potential.json").write_text(__import__("json").dumps(pot.to_dict()))
    for path in (pair, tmp_path / "Cu.eam.alloy", tmp_path / "potential.json"):
        back = load_potential(path)
        assert back.forms[0].settings() == {**SETTINGS}, path.name
        assert back.forms[0].parameter_names() == form.parameter_names(), path.name
        np.testing.assert_array_equal(back.values[:-1], values, err_msg=path.name)


@pytest.mark.parametrize(("settings", "message"), [
    ({"phi_knots": 2.0}, "setting phi_knots = 2: expected a whole number of knots, at least 3"),
    ({"rho_knots": 4.5}, "setting rho_knots = 4.5: expected a whole number"),
    ({"rho_rmin": 6.0}, "setting rho_rmin = 6 Å: expected above 0 and below the cutoff 5 Å"),
    ({"rho_max": 0.0}, "setting rho_max = 0: expected a positive density"),
    ({"knots": 3.0}, "unknown setting 'knots'"),
])
def test_bad_settings_are_one_line_errors(settings: dict, message: str) -> None:
    form = spline()
    with pytest.raises(GafitInputError, match=message):
        form.apply_settings(settings)
    assert form.settings() == SETTINGS  # unchanged


def test_config_settings_reach_the_form(tmp_path: Path) -> None:
    table = demo_config()
    table["potential"] = {"form": "eam_spline", "cutoff": 5.0, "settings": dict(SETTINGS)}
    config = parse_config(table, tmp_path / "fit.toml")
    pot = build_potential(config, ReferenceSet([Structure(Atoms("Cu", cell=[9, 9, 9]))]))
    assert pot.forms[0].settings() == SETTINGS
    table["potential"]["settings"] = {"phi_knots": 1.0}
    config = parse_config(table, tmp_path / "fit.toml")
    with pytest.raises(GafitInputError, match=r"fit.toml: \[potential\] settings: eam_spline: "
                                              "setting phi_knots = 1"):
        build_potential(config, ReferenceSet([Structure(Atoms("Cu", cell=[9, 9, 9]))]))
    table["potential"]["settings"] = {"phi_knots": "many"}
    with pytest.raises(GafitInputError, match=r"\[potential\] settings phi_knots = 'many': "
                                              "expected a number"):
        parse_config(table, tmp_path / "fit.toml")
