"""The shipped potentials/Si_mlearn_elastic.tersoff against what it was fitted for (issue 13): its
C11, C12 and C44_unrelaxed within 10 % of the values derived from mlearn_Si's own Elastic frames, and
its force RMSE on the training and validation split of potentials/Si_mlearn_fit.toml within 10 % of the
shipped fit without property targets (Si_mlearn_fit.tersoff). Both sides are recomputed here."""

from __future__ import annotations

import pytest
from helpers import ROOT, shared_file

from gafit import properties
from gafit.config import load_config
from gafit.crystals import read_crystal
from gafit.evaluate import evaluate
from gafit.fit_data import read_data
from gafit.frame_reference import elastic_from_frames
from gafit.potential_files import load_potential

POTENTIALS = ROOT / "potentials"
ELASTIC = POTENTIALS / "Si_mlearn_elastic.tersoff"
PLAIN = POTENTIALS / "Si_mlearn_fit.tersoff"
#: issue 13's target
WITHIN = 0.10


def test_elastic_constants_match_the_dft_frames() -> None:
    frames = shared_file("mlearn_Si/Si_training.extxyz")
    dft = elastic_from_frames(frames, "Elastic").values
    assert set(dft) == {"C11", "C12", "C44_unrelaxed"}
    pot = load_potential(ELASTIC)
    fitted = properties.elastic_constants_cubic(pot, read_crystal("diamond", ["Si"], 5.47))
    for key, ref in dft.items():
        assert abs(fitted[key] / ref - 1) <= WITHIN, (key, fitted[key], ref)


@pytest.mark.xfail(strict=True, reason="issue 13 target not met: with C11, C12, C44_unrelaxed within 1.5 % "
                   "the force RMSE is 50 % above the plain fit's (see the .tersoff header)")
def test_forces_stay_within_ten_percent_of_the_plain_fit() -> None:
    shared_file("mlearn_Si/Si_training.extxyz")
    train, validation = read_data(load_config(POTENTIALS / "Si_mlearn_fit.toml"))
    for data in (train, validation):
        plain = evaluate(load_potential(PLAIN), data).rmse["forces"]
        elastic = evaluate(load_potential(ELASTIC), data).rmse["forces"]
        assert elastic <= (1 + WITHIN) * plain, (elastic, plain)
