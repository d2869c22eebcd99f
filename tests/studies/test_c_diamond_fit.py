"""The shipped diamond-carbon Tersoff (potentials/C_diamond_phonon_elastic.tersoff, issue 13): its
lattice constant, cohesive energy, elastic constants and phonon RMS over Γ X L W K, recomputed here
with gafit.properties (ASE relaxation, finite strains) and gafit.phonons (phonopy at its own relaxed
lattice constant, as `gafit phonons` measures it), judged against the targets of issue 13."""

from __future__ import annotations

import tomllib

import numpy as np
import pytest
from ase.build import bulk
from helpers import ROOT, shared_file

from gafit import properties
from gafit.phonons import load_reference, phonon_report
from gafit.potential import Potential
from gafit.potential_files import load_potential

POTENTIAL = ROOT / "potentials" / "C_diamond_phonon_elastic.tersoff"
CONFIG = ROOT / "potentials" / "C_diamond_phonon_elastic.toml"
#: issue 13: (experimental value, relative tolerance); E_coh in eV/atom, a in Å, Cij in GPa
TARGETS = {"a": (3.567, 0.005), "E_coh": (7.37, 0.02), "C11": (1079.0, 0.10),
           "C12": (124.0, 0.10), "C44": (578.0, 0.10)}
PHONON_RMS_TARGET = 0.8  # THz, over every mode at Γ, X, L, W, K


@pytest.fixture(scope="module")
def potential() -> Potential:
    return load_potential(POTENTIAL)


@pytest.fixture(scope="module")
def props(potential: Potential) -> dict[str, float]:
    out = properties.properties(potential, bulk("C", "diamond", a=3.567))
    e0 = float(potential.values[potential.e0_slice][0])
    return {**out, "E_coh": e0 - out["E"]}


def test_the_file_holds_no_energy_offset(potential: Potential) -> None:
    # E_coh is the form's own binding energy only when the isolated atom's energy is zero
    assert potential.values[potential.e0_slice].tolist() == [0.0]


@pytest.mark.parametrize("key", list(TARGETS))
def test_property_within_target(props: dict[str, float], key: str) -> None:
    reference, rel_tol = TARGETS[key]
    assert abs(props[key] - reference) <= rel_tol * reference, (key, props[key])


def test_properties_are_the_config_targets() -> None:
    """The config fits the very targets this test judges (reference and tolerance)."""
    table = tomllib.loads(CONFIG.read_text(encoding="utf-8"))
    fitted = {p["property"]: (p["reference"], p["tolerance"]) for p in table["properties"]}
    assert set(fitted) == set(TARGETS)
    for key, (reference, rel_tol) in TARGETS.items():
        assert fitted[key][0] == reference
        assert fitted[key][1] == pytest.approx(rel_tol * reference, rel=1e-3)


@pytest.fixture(scope="module")
def phonons(potential: Potential):
    """`gafit phonons POTENTIAL --reference ... --path GXWKGL`: at the relaxed lattice constant."""
    reference = load_reference(shared_file("phonopy_C_diamond_FHIaims/phonopy_disp.yaml"))
    return phonon_report(potential, bulk("C", "diamond", a=3.567), [2, 2, 2], reference=reference,
                         path="GXWKGL")


def test_phonons_at_the_relaxed_lattice(phonons, props: dict[str, float]) -> None:
    assert phonons.relaxed
    assert phonons.lattice_constant == pytest.approx(props["a"], abs=1e-4)
    assert {r.point for r in phonons.errors.rows} >= {"points", "Γ", "X", "L", "W", "K"}
    assert phonons.imaginary.count == 0


def test_phonons_far_better_than_tersoff_1989(phonons) -> None:
    """The fit's point of existing: the Tersoff (1989) carbon it starts from, recomputed the same way."""
    reference = load_reference(shared_file("phonopy_C_diamond_FHIaims/phonopy_disp.yaml"))
    start = phonon_report(load_potential("SiC.tersoff", elements=["C"]), bulk("C", "diamond", a=3.567),
                          [2, 2, 2], reference=reference, path="GXWKGL")
    assert phonons.errors.row("points").rms < start.errors.row("points").rms / 3


@pytest.mark.xfail(strict=True, reason="not met by a Tersoff with a nearest- or second-neighbour cutoff "
                   "while every property passes (1.45 THz): docs/phonons/C_diamond_phonon_elastic.md shows "
                   "the trade-off; strict, so a potential that meets it turns this into a failure to update")
def test_phonon_rms_target(phonons) -> None:
    assert phonons.errors.row("points").rms <= PHONON_RMS_TARGET


def test_second_neighbour_config_keeps_every_shell_out_of_the_taper() -> None:
    """docs/phonons/C_diamond_second_neighbour.toml: at every scale the property and phonon targets
    tabulate (strained by their finite differences), no neighbour shell of diamond lies in the taper
    R ± D; one that did would enter the fitted elastic constants, interpolated through those scales,
    and not the crystal's at its own lattice constant (the 2.6-2.85 Å taper did: C11 972 fitted,
    815 GPa by gafit properties)."""
    from ase.neighborlist import neighbor_list

    from gafit import property_cubic
    from gafit.phonons import target as phonon_target

    table = tomllib.loads((ROOT / "docs/phonons/C_diamond_second_neighbour.toml").read_text())
    params = table["potential"]["parameters"]
    r_cut, d_cut = params["C-C-C.R"], params["C-C-C.D"]
    shells = np.unique(np.round(neighbor_list("d", bulk("C", "diamond", a=3.567), 3.2), 6))
    assert shells[0] < r_cut - d_cut and shells[1] < r_cut - d_cut  # first and second shells counted
    scales = np.concatenate([property_cubic.SCALES, phonon_target.SCALES])
    stretch = 1 + property_cubic.STRAIN * np.array([-1.0, 1.0])
    d_sk = shells[:, None, None] * scales[None, :, None] * stretch
    assert not np.any((d_sk > r_cut - d_cut) & (d_sk < r_cut + d_cut))
