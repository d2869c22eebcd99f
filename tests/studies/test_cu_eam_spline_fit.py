"""The shipped potentials/Cu_mlearn_eam_spline.eam.alloy against issue 16's Cu EAM target, recomputed
here from the exported file: on the 31 mlearn_Cu frames a force RMSE at most half the Morse fit's
(0.072 eV/Å, examples/mlearn_Cu/morse.toml) and a stress RMSE below 1 GPa; a, C11, C12 and C44 of fcc
Cu, measured at the file's own relaxed lattice (gafit.properties, as `gafit properties`), within 5 %
of the values its config derives from the data's Elastic frames (its [[properties]] references)."""

from __future__ import annotations

from helpers import ROOT, shared_file

from gafit import properties
from gafit.config import load_config
from gafit.crystals import read_crystal
from gafit.evaluate import evaluate
from gafit.fit_data import read_data
from gafit.potential_files import load_potential

CONFIG = ROOT / "potentials" / "Cu_mlearn_eam_spline.toml"
FILE = ROOT / "potentials" / "Cu_mlearn_eam_spline.eam.alloy"
#: issue 16: half the Morse fit's force RMSE (eV/Å), stress RMSE below 1 GPa, properties within 5 %
FORCES, STRESS, WITHIN = 0.072 / 2, 1.0, 0.05


def test_forces_and_stress_meet_the_target() -> None:
    shared_file("mlearn_Cu/Cu_test.extxyz")
    train, _ = read_data(load_config(CONFIG))
    assert len(train) == 31
    rmse = evaluate(load_potential(FILE), train, best_e0=True).rmse
    assert rmse["forces"] <= FORCES, rmse
    assert rmse["stress"] < STRESS, rmse


def test_lattice_and_elastic_constants_meet_the_dft_frames() -> None:
    refs = {p.property: p.reference for p in load_config(CONFIG).properties}
    assert set(refs) == {"a", "C11", "C12", "C44"}
    pot = load_potential(FILE)
    cell, a = properties.lattice_constant(pot, read_crystal("fcc", ["Cu"], refs["a"]))
    assert abs(a / refs["a"] - 1) <= WITHIN, a
    fitted = properties.elastic_constants_cubic(pot, cell, relax_cell=False)
    for key in ("C11", "C12", "C44"):
        assert abs(fitted[key] / refs[key] - 1) <= WITHIN, (key, fitted[key], refs[key])
