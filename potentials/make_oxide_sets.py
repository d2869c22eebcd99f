"""Write the rigid-ion oxide sets of this folder (Buckingham + Coulomb potential.json files).

The numbers are those of the cited papers, read from the project's shared transcription
``../shared/data/buckingham_parameters/buckingham_parameters.yaml`` (see its PROVENANCE.md); this
script only arranges them as gafit potentials, adding what the papers leave to the user: the
cutoffs (gafit's choice, 10 Å for Buckingham and for the real-space Ewald sum) and, for pairs a set
does not give (Si-Si in BKS, Mg-Mg), A = 0 and C = 0 with rho = 0.3 Å (any rho > 0 gives zero).
No E0 is written: the published sets give none, so ``gafit evaluate`` asks for ``--best-e0``.

Only rigid-ion sets are written; the shell-model sets of the YAML (Lewis-Catlow, Sanders-Leslie-
Catlow) split the O charge into core and shell and are a different model, which gafit lacks.

    python potentials/make_oxide_sets.py [PATH_TO_YAML]
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

import numpy as np
import yaml

from gafit.forms import get_form
from gafit.io.atomic import atomic_write_text
from gafit.potential import Potential

HERE = Path(__file__).resolve().parent
YAML = HERE.parent.parent / "shared" / "data" / "buckingham_parameters" / "buckingham_parameters.yaml"
#: how the provenance names the YAML (relative to the repository)
YAML_NAME = "../shared/data/buckingham_parameters/buckingham_parameters.yaml"
#: Å, Buckingham and Coulomb (real-space Ewald) cutoffs of every set written here
CUTOFF_BUCK = 10.0
CUTOFF_COUL = 10.0
#: Å, the harmless range given to a pair with A = 0 (it multiplies nothing)
RHO_ABSENT = 0.3

#: file name -> (YAML id, species in LAMMPS type order, caveats beyond the YAML's notes)
SETS: dict[str, tuple[str, list[str], str]] = {
    "SiO2_BKS_1990.json": (
        "SiO2_BKS_1990", ["Si", "O"],
        "Below about 1.2 Å (Si-O) the -C/r^6 term wins and the potential collapses: add a wall "
        "for hot or compressed MD (see gafit's wall report)."),
    "MgO_Henkelman_2005.json": (
        "MgO_Henkelman_2005_partial_charge", ["Mg", "O"],
        "The numbers were seen in one public file only (single_source in the YAML); check them "
        "against the paper before relying on them."),
    "MgO_rigid_ion_formal_charge.json": (
        "MgO_rigid_ion_formal_charge_variant", ["Mg", "O"],
        "PRIMARY SOURCE NOT VERIFIED: the set is commonly attributed to Lewis & Catlow (1985), "
        "but its Mg-O pair (1428.5 eV, 0.2945 Å) is not Lewis & Catlow's shell-model Mg-O "
        "(821.6 eV, 0.3242 Å); the numbers were seen in one public GULP script only."),
}


def pair_entries(species: list[str]) -> list[str]:
    """Pairs in gafit's order (i <= j in species order), e.g. Si-Si, Si-O, O-O."""
    return [f"{a}-{b}" for i, a in enumerate(species) for b in species[i:]]


def pair_values(pairs: dict, entry: str) -> tuple[float, float, float]:
    """(A eV, rho Å, C eV Å^6) of ``entry`` (either order); absent or A = C = 0: no interaction."""
    a, b = entry.split("-")
    p = pairs.get(entry) or pairs.get(f"{b}-{a}")
    if p is None or (p["A"] == 0 and p["C"] == 0):
        return 0.0, RHO_ABSENT, 0.0
    return float(p["A"]), float(p["rho"]), float(p["C"])


def provenance(entry: dict, caveat: str) -> str:
    """Citation, how the file was made and the caveats, as comment text for exported files."""
    lines = [f"{entry['id']}: {entry['model']} ({entry['system']}).",
             f"Citation: {entry['reference']}.",
             f"Numbers from the cited paper via {YAML_NAME} (verification: "
             f"{entry['verification']}); written by potentials/make_oxide_sets.py.",
             f"Cutoffs are gafit's choice: Buckingham {CUTOFF_BUCK} Å, Coulomb (Ewald real "
             f"space) {CUTOFF_COUL} Å. Pairs the set does not give have A = 0, C = 0.",
             "No E0 (not part of the published set): compare with DFT energies via --best-e0.",
             f"Caveat: {caveat}"]
    lines += [f"Note: {n}" for n in entry.get("notes", [])]
    return "\n".join(lines)


def oxide_potential(entry: dict, species: list[str], caveat: str) -> Potential:
    """The Buckingham + Coulomb potential of one YAML ``entry`` (E0 = 0)."""
    buck = get_form("buckingham")(species, CUTOFF_BUCK)
    coul = get_form("coulomb")(species, CUTOFF_COUL)
    values = [v for e in pair_entries(species) for v in pair_values(entry["pairs"], e)]
    values += [float(entry["charges"][s]) for s in species] + [0.0] * len(species)
    return Potential(species, [buck, coul], np.array(values), provenance(entry, caveat), e0_given=False)


def potential_dict(pot: Potential, citation: str) -> dict:
    """potential.json content: :meth:`Potential.to_dict` without E0 (so it reads as not given)."""
    d = {"citation": citation} | pot.to_dict()
    del d["E0"]
    return d


def oxide_sets(table: dict) -> dict[str, dict]:
    """{file name: potential.json content} of every set in :data:`SETS`, from the parsed YAML."""
    by_id = {s["id"]: s for s in table["parameter_sets"]}
    out = {}
    for name, (set_id, species, caveat) in SETS.items():
        entry = by_id[set_id]
        out[name] = potential_dict(oxide_potential(entry, species, caveat), entry["reference"])
    return out


def file_text(content: dict) -> str:
    return json.dumps(content, indent=2, ensure_ascii=False) + "\n"


def main(argv: list[str]) -> None:
    path = Path(argv[0]) if argv else YAML
    table = yaml.safe_load(path.read_text(encoding="utf-8"))
    for name, content in oxide_sets(table).items():
        atomic_write_text(HERE / name, file_text(content))
        print(f"wrote {HERE / name}")


if __name__ == "__main__":
    main(sys.argv[1:])
