"""Write a start potential.json for an ``eam_spline`` fit: another EAM's tables (a gafit fit or any
setfl file) projected onto the spline's knots (:meth:`gafit.forms.eam.knots.SplineEAM.knot_values`),
E0 = 0 (a fit solves it).

Run from the repository root, e.g. (the start of examples/mlearn_Cu/eam_spline.toml)::

    python examples/mlearn_Cu/eam_spline_start.py potentials/Cu_mlearn_eam.eam.alloy \\
        examples/mlearn_Cu/eam_spline_start.json phi_knots=30 rho_knots=24 F_knots=16 rho_max=23.5
"""

from __future__ import annotations

import argparse
import json

import numpy as np

from gafit.forms.eam.evaluate import EAMGrid
from gafit.forms.eam.knots import SplineEAM
from gafit.potential import Potential
from gafit.potential_files import load_potential


def resampled(grid: EAMGrid, nr: int, dr: float) -> EAMGrid:
    """One element's tables moved onto another r grid (linear interpolation; zero beyond)."""
    r, r0 = np.arange(nr) * dr, np.arange(grid.nr) * grid.dr

    def move(table: np.ndarray) -> np.ndarray:
        return np.interp(r, r0, table, right=0.0)[None, None, None]

    return EAMGrid(nr, dr, grid.nrho, grid.drho_b, grid.frho_ber,
                   move(grid.rhor_bsdr[0, 0, 0]), move(grid.z2r_bstr[0, 0, 0]))


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("source", help="an EAM potential of one element (potential.json or setfl)")
    ap.add_argument("out", help="the potential.json to write")
    ap.add_argument("settings", nargs="*", help="NAME=VALUE settings of eam_spline")
    ap.add_argument("--cutoff", type=float, help="Å (default: the source's)")
    ap.add_argument("--bounds", action="store_true",
                    help="also print the [potential.parameters] table of a config: each knot its "
                         "start value ± 1 eV (phi, F) or ± 2 (rho, at least 0)")
    args = ap.parse_args()
    source = load_potential(args.source)
    other = source.forms[0]
    if len(source.species) != 1:
        raise SystemExit("eam_spline_start: the source must have one element")
    form = SplineEAM(list(source.species), args.cutoff or other.cutoff)
    form.apply_settings({k: float(v) for k, v in (s.split("=", 1) for s in args.settings)})
    grid = other.grid(source.values[:other.n_params][None])
    if (grid.nr, grid.dr) != form.r_grid():
        grid = resampled(grid, *form.r_grid())
    values = form.knot_values(grid)
    pot = Potential(list(source.species), [form], np.concatenate([values, [0.0]]))
    with open(args.out, "w", encoding="utf-8") as fh:
        json.dump(pot.to_dict(), fh, indent=1)
    print(f"wrote {args.out}: {form.n_params} knot values, settings {form.settings()}")
    if args.bounds:
        print(bounds_table(form, values))


def bounds_table(form: SplineEAM, values: np.ndarray) -> str:
    """The ``[potential.parameters]`` TOML lines: each knot value ± 1 (phi, F; eV) or ± 2 (rho,
    clipped at 0)."""
    lines = ["[potential.parameters]"]
    for (entry, spec), v in zip(((e, p) for e in form.entries() for p in form.params), values,
                                strict=True):
        w = 2.0 if spec.name.startswith("rho") else 1.0
        low = max(v - w, 0.0) if spec.name.startswith("rho") else v - w
        lines.append(f'"{"-".join(entry)}.{spec.name}" = [{low:.6g}, {v + w:.6g}]')
    return "\n".join(lines)


if __name__ == "__main__":
    main()
