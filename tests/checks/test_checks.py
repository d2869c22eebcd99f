"""gafit check: hand-made data triggering each check, clean data triggering none, the shared DFT sets."""

from __future__ import annotations

import copy
import re
from pathlib import Path

import numpy as np
import pytest
from ase import Atoms
from ase.build import bulk
from ase.calculators.emt import EMT
from helpers import shared_file

from gafit.checks import Finding, check_data, format_findings
from gafit.cli import main as extra_main
from gafit.forms.morse import Morse
from gafit.forms.tersoff import Tersoff
from gafit.io import read_reference, write_reference
from gafit.potential import Potential
from gafit.structures import GPA_TO_EV_A3, ReferenceSet, Structure

A0 = 3.59  # Å, EMT Cu


def _emt(atoms: Atoms, config_type: str, name: str) -> Structure:
    atoms.calc = EMT()
    stress = atoms.get_stress() if all(atoms.pbc) else None
    return Structure(atoms.copy(), energy=atoms.get_potential_energy(), forces=atoms.get_forces(),
                     stress=stress, config_type=config_type, name=name)


def clean_set(tag: str = "clean.extxyz", seed: int = 0) -> ReferenceSet:
    """EMT Cu: an E(V) curve, strained primitive cells, rattled supercells: consistent targets."""
    rng = np.random.default_rng(seed)
    out = []
    for s in np.linspace(0.96, 1.06, 6):
        out.append(_emt(bulk("Cu", "fcc", a=A0 * s, cubic=True), "eos", f"{tag}:{len(out)}"))
    for _ in range(8):
        eps = rng.normal(0, 0.015, (3, 3))
        at = bulk("Cu", "fcc", a=A0)
        at.set_cell(at.cell @ (np.eye(3) + (eps + eps.T) / 2), scale_atoms=True)
        out.append(_emt(at, "strained", f"{tag}:{len(out)}"))
    for k in range(4):
        at = bulk("Cu", "fcc", a=A0, cubic=True) * (2, 2, 2)
        at.rattle(0.05, seed=seed * 10 + k)
        out.append(_emt(at, "rattled", f"{tag}:{len(out)}"))
    return ReferenceSet(out, tag)


def _by_check(findings: list[Finding], check: str, severity: str = "warning") -> list[Finding]:
    return [f for f in findings if f.check == check and f.severity == severity]


def _warnings(findings: list[Finding]) -> list[str]:
    return [f.message for f in findings if f.severity == "warning"]


@pytest.fixture(scope="module")
def clean() -> ReferenceSet:
    return clean_set()


def test_clean_data_triggers_no_warning(clean: ReferenceSet) -> None:
    findings = check_data(clean)
    assert _warnings(findings) == []
    info = " | ".join(f.message for f in findings)
    assert "stresses agree with the energy changes" in info
    assert "have zero forces, as their symmetry requires" in info
    assert findings[0].check == "summary" and "18 structures" in findings[0].message
    text = format_findings(findings)
    assert text.splitlines()[-1] == "no warnings"


def test_zero_forces(clean: ReferenceSet) -> None:
    data = copy.deepcopy(clean)
    data[14].forces = np.zeros_like(data[14].forces)  # a rattled cell: symmetry allows forces
    found = _by_check(check_data(data), "zero-forces")
    assert len(found) == 1 and found[0].structures == [14]
    assert "1 structure (rattled: 1)" in found[0].message and "symmetry allows" in found[0].message
    for st in data:
        st.forces = np.zeros_like(st.forces)
    found = _by_check(check_data(data), "zero-forces")
    assert len(found) == 1 and "in all 18 structures with forces" in found[0].message


def test_zero_stress(clean: ReferenceSet) -> None:
    data = copy.deepcopy(clean)
    data[7].stress = np.zeros(6)
    found = _by_check(check_data(data), "zero-stress")
    assert found and found[0].structures == [7] and "strained: 1" in found[0].message


def test_small_cells_are_info_with_counts(clean: ReferenceSet) -> None:
    found = _by_check(check_data(clean, cutoff=6.0), "small-cells", "info")
    assert len(found) == 1
    msg = found[0].message
    assert msg.startswith("18 structures (strained: 8, eos: 6, rattled: 4) have cells narrower than "
                          "2 × cutoff = 12 Å")
    assert "own periodic images (legal" in msg
    assert not _by_check(check_data(clean, cutoff=1.0), "small-cells", "info")


def test_duplicates(clean: ReferenceSet) -> None:
    data = ReferenceSet(list(clean) + [copy.deepcopy(clean[15])])
    found = _by_check(check_data(data), "duplicates")
    assert len(found) == 1 and found[0].structures == [18]
    assert "1 structure (rattled: 1) repeats an earlier structure" in found[0].message
    assert "conflicting" not in found[0].message
    data[18].energy += 0.5 * data[18].n_atoms
    assert "conflicting targets" in _by_check(check_data(data), "duplicates")[0].message
    # wrapped positions are the same structure; a 0.01 Å displacement is not
    moved = copy.deepcopy(clean[15])
    moved.atoms.positions[3] += moved.atoms.cell[0]
    assert _by_check(check_data(ReferenceSet(list(clean) + [moved])), "duplicates")
    moved.atoms.positions[3, 0] += 0.01
    assert not _by_check(check_data(ReferenceSet(list(clean) + [moved])), "duplicates")


def test_energy_scales_of_two_files(clean: ReferenceSet) -> None:
    other = clean_set("other.extxyz", seed=1)
    for st in other:
        st.energy += 0.8 * st.n_atoms  # e.g. cohesive vs total energies of another code
    data = copy.deepcopy(clean) + other
    found = _by_check(check_data(data), "energy-scale")
    assert len(found) == 1
    msg = found[0].message
    assert "2 clusters" in msg and "clean.extxyz eos" in msg and "other.extxyz" in msg
    assert set(found[0].structures) == set(range(18, 36))
    # the same offset between config_types of one file, and inside one config_type
    for st in data:
        st.name = "one.extxyz:0"
    assert _by_check(check_data(data), "energy-scale")
    for st in data:
        st.config_type = "default"
    found = _by_check(check_data(data), "energy-scale")
    assert len(found) == 1 and "split into two groups (18 and 18 structures)" in found[0].message


def test_energy_outliers_and_clusters(clean: ReferenceSet) -> None:
    data = copy.deepcopy(clean)
    for st in data:
        st.energy -= 3.5 * st.n_atoms  # total-energy scale, so a per-atom mistake stands out
    data[15].energy = data[15].energy / data[15].n_atoms  # an energy per atom stored as the total
    found = _by_check(check_data(data), "energy-scale")
    assert len(found) == 1 and found[0].structures == [15]
    assert "per atom stored as the total" in found[0].message
    # a dimer far above the bulk is expected: info only
    dimer = _emt(Atoms("Cu2", positions=[[0, 0, 0], [2.3, 0, 0]]), "dimer", "dimer")
    findings = check_data(ReferenceSet(list(clean) + [dimer]))
    assert not _by_check(findings, "energy-scale")


@pytest.mark.parametrize(("factor", "expect"), [
    (-1.0, "sign flipped"),
    (1602.1766208, "kbar stored as eV/Å³"),
    (1 / 160.21766208, "eV/Å³ read as GPa"),
    (10.0, "kbar read as GPa"),
])
def test_stress_sign_and_units(clean: ReferenceSet, factor: float, expect: str) -> None:
    data = copy.deepcopy(clean)
    for st in data:
        st.stress = st.stress * factor
    found = _by_check(check_data(data), "stress")
    assert found and all(expect in f.message for f in found), [f.message for f in found]


def test_stress_offset_and_swapped_shear(clean: ReferenceSet) -> None:
    data = copy.deepcopy(clean)
    for st in data:
        st.stress = st.stress + 3.0 * GPA_TO_EV_A3 * np.array([1, 1, 1, 0, 0, 0])
    found = _by_check(check_data(data), "stress")
    offsets = [float(re.search(r"offset by ([-+0-9.]+) GPa", f.message).group(1)) for f in found]
    # eos and strained groups; the trapezoid rule over ~2 % strain steps limits the precision
    assert len(offsets) == 2 and offsets == pytest.approx([3.0, 3.0], abs=0.4), [f.message for f in found]
    data = copy.deepcopy(clean)
    for st in data:
        st.stress = st.stress[[0, 1, 2, 4, 3, 5]]  # yz and xz swapped
    found = _by_check(check_data(data), "stress")
    assert any("order xz yz xy" in f.message for f in found), [f.message for f in found]


def test_undetermined_species_and_pairs() -> None:
    cu = _emt(bulk("Cu", "fcc", a=A0, cubic=True), "bulk", "cu")
    ag = _emt(bulk("Ag", "fcc", a=4.09, cubic=True), "bulk", "ag")
    found = _warnings(check_data(ReferenceSet([cu]), species=["Cu", "Ag"]))
    assert any("species Ag appears in no structure" in m and "Ag.E0" in m for m in found)
    found = _warnings(check_data(ReferenceSet([cu, ag]), species=["Cu"]))
    assert any("species Ag of the data are not among the potential's species" in m for m in found)
    found = _warnings(check_data(ReferenceSet([cu, ag])))
    assert any("no Cu-Ag pair is closer than the cutoff 6 Å" in m for m in found)
    mixed = bulk("Cu", "fcc", a=3.8, cubic=True)
    mixed.symbols[[1, 2]] = "Ag"
    mixed.rattle(0.05, seed=2)
    data = ReferenceSet([cu, ag, _emt(mixed, "alloy", "alloy")])
    assert not any("pair" in m for m in _warnings(check_data(data)))
    # energies only, one structure per composition: E0 alone fits them
    data = copy.deepcopy(ReferenceSet([cu, data[2]]))
    for st in data:
        st.forces, st.stress = None, None
    found = _by_check(check_data(data), "undetermined")
    assert any("matched exactly by the per-species E0" in f.message for f in found)


def test_undetermined_with_a_potential() -> None:
    morse = Potential(["Cu", "Ag"], [Morse(["Cu", "Ag"], 5.0)])
    st = _emt(bulk("Cu", "fcc", a=A0), "bulk", "cu")
    st.forces, st.stress = None, None
    found = _warnings(check_data(ReferenceSet([st]), potential=morse))
    assert any("1 target values" in m and "underdetermined" in m for m in found)
    assert any("species Ag appears in no structure" in m for m in found)
    tersoff = Potential(["Si", "C"], [Tersoff(["Si", "C"], 3.0)])
    clusters = [Structure(Atoms("SiC", positions=[[0, 0, 0], [1.9, 0, 0]]), energy=-5.0, name="SiC"),
                Structure(Atoms("Si3", positions=[[0, 0, 0], [2.3, 0, 0], [1.15, 2.0, 0]]), energy=-8.0,
                          name="Si3"),
                Structure(Atoms("C3", positions=[[0, 0, 0], [1.4, 0, 0], [0.7, 1.2, 0]]), energy=-12.0,
                          name="C3")]
    found = _warnings(check_data(ReferenceSet(clusters), potential=tersoff))
    three = [m for m in found if "three-body" in m]
    assert len(three) == 1 and "Si-Si-C" in three[0] and "Si-C-C" in three[0]
    assert "Si-Si-Si" not in three[0]


def test_format_findings_and_verbose(clean: ReferenceSet) -> None:
    data = ReferenceSet(list(clean) + [copy.deepcopy(clean[15])])
    findings = check_data(data)
    text = format_findings(findings, data, verbose=True)
    lines = text.splitlines()
    assert lines[0].startswith("warning: 1 structure (rattled: 1) repeats")
    assert lines[1].strip() == "clean.extxyz:15"
    assert lines[-1] == "1 warning"
    assert all(not line.startswith("warning") for line in lines[2:-1])


def test_check_cli(tmp_path: Path, clean: ReferenceSet, capsys: pytest.CaptureFixture[str]) -> None:
    good = tmp_path / "good.extxyz"
    write_reference(clean, good)
    assert extra_main(["check", str(good), "--strict"]) == 0
    out = capsys.readouterr().out
    assert out.startswith("checked 18 structures of good.extxyz (cutoff 6 Å)") and "no warnings" in out
    shifted = copy.deepcopy(clean)
    for st in shifted:
        st.energy += 1.0 * st.n_atoms
    bad = tmp_path / "bad.extxyz"
    write_reference(shifted, bad)
    assert extra_main(["check", str(good), str(bad), "--strict", "--cutoff", "4"]) == 1
    out = capsys.readouterr().out
    assert "good.extxyz eos" in out and "bad.extxyz" in out and "energies on different scales" in out
    assert extra_main(["check", str(good), "--cutoff", "-1"]) == 2
    assert extra_main(["check"]) == 2


# --------------------------------------------------------------------------- shared DFT data


def test_shared_mlearn_si_is_clean_and_consistent() -> None:
    data = read_reference(shared_file("mlearn_Si/Si_training.extxyz"), "::3")
    findings = check_data(data)
    assert _warnings(findings) == []
    assert any(f.check == "stress" and "agree" in f.message for f in findings)


def test_shared_cu_ev_curve_has_a_pulay_stress() -> None:
    # PROVENANCE.md: the stress is offset from -dE/dV (P = 0 at 44.88 Å³ but -19 kbar at V0)
    data = read_reference(shared_file("phonopy_Cu_EV_PBEsol/Cu_EV_PBEsol.extxyz"))
    found = _by_check(check_data(data), "stress")
    assert len(found) == 1
    offset = float(re.search(r"offset by ([-+0-9.]+) GPa", found[0].message).group(1))
    assert 1.5 < offset < 2.1  # -dE/dV of a Birch-Murnaghan fit minus -tr(σ)/3: 1.6 to 2.05 GPa


def test_shared_si_sets_on_two_energy_scales() -> None:
    a = read_reference(shared_file("mlearn_Si/Si_training.extxyz"), "::6")
    b = read_reference(shared_file("gpuga_Si_diamond/Si_gpuga_train.extxyz"), "5::6")
    found = _by_check(check_data(a + b), "energy-scale")
    assert len(found) == 1 and "Si_gpuga_train.extxyz energy_virial -4.6" in found[0].message


def test_shared_pyxtal_subset_energies_are_one_scale() -> None:
    data = read_reference(shared_file("PyXtal_FF_Si_random/Si_PyXtal_Eatom_le_-4eV.extxyz"), "::60")
    findings = check_data(data)
    assert not _by_check(findings, "energy-scale")
    assert not _by_check(findings, "zero-forces")
