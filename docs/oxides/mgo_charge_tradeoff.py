"""What limits a rigid-ion Buckingham + Coulomb MgO: the charge trades the LO at Γ against the zone boundary.

    python docs/oxides/mgo_charge_tradeoff.py [CONFIG] [--charges 1.2 1.4 ...] [--without-lo]

Refits CONFIG (default potentials/MgO_buck_coul.toml) with the charge of Mg fixed at each value (O's
follows) and once with it as CONFIG fits it, and tabulates the targets of issue 12 for each (oxide_check.py):
relaxed a, pressure at the DFT cell, TO and LO at Γ (LO: phonopy's NAC with the charges as Born charges
and ε∞ of the BORN file), and the RMS error at X, L, W, K against DFT. ``--without-lo``: every Γ target
without its ``q_direction``, so Γ is the TO triplet alone and the LO is not fitted.
"""

from __future__ import annotations

import argparse
import copy
import sys
import tomllib
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).parent))
from oxide_check import check  # noqa: E402

from gafit.config import parse_config  # noqa: E402
from gafit.fitting import Fit  # noqa: E402

DATA = Path(__file__).parents[2] / "../shared/data/phonopy_MgO"
DFT = {"a": 4.2556, "TO": 11.198, "LO": 19.975}


def row(label: str, r: dict, q: float) -> str:
    a = r["cellpar"][0]
    to, lo = r["model_nac"]["a"][3], r["model_nac"]["a"][-1]
    p = -np.mean(r["stress_GPa"][:3])
    return (f"| {label} | {q:.3f} | {a:.4f} ({100 * (a / DFT['a'] - 1):+.2f} %) | {p:+.3f} | "
            f"{to:.3f} ({100 * (to / DFT['TO'] - 1):+.1f} %) | "
            f"{lo:.3f} ({100 * (lo / DFT['LO'] - 1):+.1f} %) | {r['rms_other_THz']:.3f} |")


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("config", nargs="?", default="potentials/MgO_buck_coul.toml", type=Path)
    p.add_argument("--charges", nargs="+", type=float, default=[1.2, 1.4, 1.6, 1.8, 1.9, 1.97, 2.1])
    p.add_argument("--without-lo", action="store_true", help="fit the TO at Γ but not the LO")
    a = p.parse_args()
    table = tomllib.loads(a.config.read_text())
    if a.without_lo:
        for ph in table.get("phonons", []):
            ph.pop("q_direction", None)
    lo_note = " and no LO target (--without-lo)" if a.without_lo else ""
    print(f"Refits of `{a.config}` (seed {table['ga'].get('seed', 1)}) with Mg.q fixed{lo_note}; DFT a = "
          f"{DFT['a']} Å, TO {DFT['TO']} THz, LO {DFT['LO']} THz (ε∞ = 3.381).\n")
    print("| Mg.q | q (e) | relaxed a (Å) | P at DFT cell (GPa) | TO Γ (THz) | LO Γ (THz) "
          "| RMS X L W K (THz) |")
    print("|---|---|---|---|---|---|---|")
    runs = [("fitted", None)] + [(f"{q:g}", q) for q in a.charges]
    for label, q in runs:
        t = copy.deepcopy(table)
        if q is not None:
            t["potential"]["charges"]["Mg"] = q
        res = Fit.from_config(parse_config(t, a.config.resolve())).run(quiet=True)
        r = check(res.potential, DATA, "XLWK")
        print(row(label, r, r["charges"]["Mg"]), flush=True)


if __name__ == "__main__":
    main()
