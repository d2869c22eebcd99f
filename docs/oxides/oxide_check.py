"""The numbers of the oxide fits' targets for one potential, against a phonopy DFT data set.

    python docs/oxides/oxide_check.py POTENTIAL ../shared/data/phonopy_MgO [--points XLWK]

Prints the relaxed cell (gafit.crystals.relax), the stress at the DFT cell (the undisplaced supercell,
GPa, ASE sign), the Γ frequencies with LO–TO splitting and the frequencies at the other points against
DFT. LO–TO: phonopy's non-analytic correction (its default Gonze–Lee method, at every q-point, as
`gafit phonons --epsilon-inf born` computes it) with the model's charges as Born charges and ε∞ of the
data set's BORN file; at Γ without a direction (the TO modes) and at q → 0 along a, c and a + b. The DFT
reference has its own BORN charges.
"""

from __future__ import annotations

import argparse
from pathlib import Path

import numpy as np
from phonopy.file_IO import parse_BORN

from gafit.crystals import relax
from gafit.phonons import POINTS, lattice_type, load_reference, make_phonopy, to_ase_atoms
from gafit.potential import Potential
from gafit.potential_files import load_potential
from gafit.structures import GPa, ReferenceSet, Structure

DIRECTIONS = {"a": (1, 0, 0), "c": (0, 0, 1), "a+b": (1, 1, 0)}


def set_nac(ph, born_file: Path, charges: dict[str, float] | None) -> None:
    """NAC parameters of ``ph`` from ``born_file``; ``charges``: the model's per-species charges as
    isotropic Born charges instead of BORN's."""
    born = parse_BORN(ph.primitive, filename=str(born_file))
    if charges is not None:
        born["born"] = np.array([np.eye(3) * charges[s] for s in ph.primitive.symbols])
    ph.nac_params = {"born": born["born"], "dielectric": born["dielectric"],
                     "factor": born.get("factor", 14.399645)}


def gamma_lo_to(ph) -> dict[str, list[float]]:
    """Sorted Γ frequencies (THz) at q -> 0 along each of DIRECTIONS (Cartesian), with ph's NAC."""
    out = {}
    for name, d in DIRECTIONS.items():
        ph.run_qpoints([[0, 0, 0]], nac_q_direction=np.asarray(d, float) @ ph.primitive.cell.T)
        out[name] = np.sort(ph.qpoints.frequencies[0]).tolist()
    return out


def check(potential: Potential, data: Path, points: str) -> dict:
    ref = load_reference(data / "phonopy_disp.yaml")
    unit = to_ase_atoms(ref.phonopy.unitcell)
    supercell = to_ase_atoms(ref.phonopy.supercell)
    pred = potential.evaluate(potential.values[None],
                              potential.build_tables(ReferenceSet([Structure(supercell)], "DFT cell")))
    stress = pred.virial[0, 0] / supercell.get_volume() / GPa
    cell = relax(potential, unit.copy()).atoms
    charges = {s: float(potential.values[potential.names.index(f"{s}.q")]) for s in potential.species}
    ph = make_phonopy(potential, cell, ref.phonopy.supercell_matrix)
    set_nac(ph, data / "BORN", charges)
    set_nac(ref.phonopy, data / "BORN", None)
    labels = ["Γ"] + [c for c in points if c != "G"]
    table = POINTS[lattice_type(unit)[0]]
    q = np.array([table[c] for c in labels])
    ph.run_qpoints(q)
    model = np.sort(ph.qpoints.frequencies, axis=1)
    dft = ref.frequencies_at(q)
    return {"cellpar": cell.cell.cellpar().tolist(), "dft_cellpar": unit.cell.cellpar().tolist(),
            "stress_GPa": stress.tolist(), "charges": charges, "labels": labels,
            "model": model.tolist(), "dft": dft.tolist(),
            "model_nac": gamma_lo_to(ph), "dft_nac": gamma_lo_to(ref.phonopy),
            "rms_other_THz": float(np.sqrt(np.mean((model[1:] - dft[1:]) ** 2))) if len(q) > 1 else 0.0}


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("potential")
    p.add_argument("data", type=Path)
    p.add_argument("--points", default="XLWK")
    a = p.parse_args()
    r = check(load_potential(a.potential), a.data, a.points)
    par = np.round(r["cellpar"], 4)
    print(f"relaxed cell a b c = {par[:3]} Å (DFT {np.round(r['dft_cellpar'][:3], 4)}), "
          f"deviation {np.round(100 * (np.array(r['cellpar'][:3]) / r['dft_cellpar'][:3] - 1), 2)} %")
    print(f"stress at the DFT cell (GPa, xx yy zz yz xz xy): {np.round(r['stress_GPa'], 3)}")
    print(f"charges {r['charges']}")
    for k in DIRECTIONS:
        print(f"Γ, q -> 0 along {k:4s} model {np.round(r['model_nac'][k], 3)}")
        print(f"{'':22s} DFT   {np.round(r['dft_nac'][k], 3)}")
    for lab, m, d in zip(r["labels"], r["model"], r["dft"], strict=True):
        print(f"{lab:2s} model {np.round(m, 3)}\n   DFT   {np.round(d, 3)}")
    print(f"RMS over {''.join(r['labels'][1:])}: {r['rms_other_THz']:.3f} THz")


if __name__ == "__main__":
    main()
