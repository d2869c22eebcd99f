"""``gafit uncertainty``: parameter uncertainty of a fit (Fisher, bootstrap, MCMC) and its
calibration on held-out frames."""

from __future__ import annotations

import argparse
from typing import Any

from gafit.cli._args import command_parser
from gafit.structures import GafitInputError

HELP = "uncertainty of a fit's parameters: Fisher covariance, bootstrap or MCMC ensemble"
DESCRIPTION = """\
Estimate how well the data of a fit (RUN_DIR, written by gafit fit) determine its free
parameters, and write an ensemble of parameter vectors for propagation:

  fisher     Gauss-Newton covariance s² (JᵀJ)⁻¹ at the optimum from the fit's Jacobian, with
             s² = loss/(m - n); correlations and the parameter combinations the data cannot
             determine (SVD with a stated cut-off); members drawn from that Gaussian; also
             the cluster-robust std (each structure's residuals one cluster: compare with the
             bootstrap). Parameters the fit left pressed against a bound are held there
  bootstrap  refits (least squares from the optimum) on the training structures resampled with
             replacement
  mcmc       emcee ensemble sampler on log p = -loss/(2 s²) within the fit's bounds (same s²),
             each step one batched evaluation; at most 8 free parameters

--scale model-error (fisher, mcmc) sets s² = loss/n instead (n free parameters): the ensemble
temperature T = 2 C0/N_p of Frederiksen, Jacobsen, Brown & Sethna, Phys. Rev. Lett. 93, 165501
(2004), which widens the ensemble until it reflects the training misfit the form cannot fit (model
error) rather than noise; written as ensemble_METHOD_model-error.* beside the plain ensemble.
--scale cluster-robust (fisher) draws the members from the cluster-robust covariance instead (each
training structure's residuals one cluster: what the bootstrap over structures measures).

Writes RUN_DIR/uncertainty/ensemble_METHOD.csv (one member per row: the free parameters, then the
automatic E0 offsets solved for each), ensemble_METHOD.json (method, seed, table, what was
measured) and table_METHOD.txt, and prints the table: per parameter value, mean, std and 1σ
interval (physical units), correlations, strongly correlated pairs and undetermined parameters.
With validation data (the fit's own, or --validation DATA) it prints the calibration: the fraction
of energies and force components whose error lies within the ensemble's 1σ and 2σ."""
EXAMPLE = """\
examples:
  gafit uncertainty runs/cu --method fisher
  gafit uncertainty runs/cu --method bootstrap --samples 50 --seed 1
  gafit uncertainty runs/cu --method mcmc --steps 2000 --seed 1
  gafit uncertainty runs/si --method fisher --scale model-error
  gafit uncertainty runs/si --method fisher --validation held_out.extxyz"""


def add_parser(subparsers: Any) -> argparse.ArgumentParser:
    """Register ``gafit uncertainty``; returns its parser."""
    p = command_parser(subparsers, "uncertainty", HELP, DESCRIPTION, EXAMPLE)
    p.add_argument("run_dir", metavar="RUN_DIR", help="a run folder written by gafit fit")
    p.add_argument("--method", choices=("fisher", "bootstrap", "mcmc"), default="fisher",
                   help="default: fisher")
    p.add_argument("--samples", type=int, metavar="N",
                   help="members of the ensemble (default: fisher 200, bootstrap 50, mcmc 500)")
    p.add_argument("--seed", type=int, default=0, help="random seed (default 0)")
    p.add_argument("--steps", type=int, default=2000, help="mcmc: steps per walker (default 2000)")
    p.add_argument("--walkers", type=int, help="mcmc: walkers (default 4 x free parameters, >= 8)")
    p.add_argument("--burn", type=int, help="mcmc: steps dropped at the start (default half)")
    p.add_argument("--scale", choices=("noise", "model-error", "cluster-robust"), default="noise",
                   help="fisher, mcmc: s² of the likelihood: noise = loss/(m - n) (default), "
                        "model-error = loss/n (Frederiksen et al., PRL 93, 165501 (2004)); "
                        "fisher: cluster-robust = the sandwich covariance over structures")
    p.add_argument("--max-evaluations", type=int, default=100, metavar="N",
                   help="bootstrap: least-squares evaluations per member (default 100)")
    p.add_argument("--validation", metavar="DATA",
                   help="held-out structures to calibrate the spreads on (default: the fit's "
                        "validation set, if it has one)")
    p.add_argument("--quiet", action="store_true", help="no progress bar")
    p.set_defaults(func=run)
    return p


def run(args: argparse.Namespace) -> int:
    """Handler of ``gafit uncertainty``."""
    from gafit.uncertainty import Problem, check_scale, uncertainty
    from gafit.uncertainty.propagate import calibration_of, calibration_text

    if args.samples is not None and args.samples < 2:
        raise GafitInputError(f"--samples {args.samples}: need at least 2")
    if args.max_evaluations < 1:
        raise GafitInputError(f"--max-evaluations {args.max_evaluations}: need at least 1")
    check_scale(args.method, args.scale)
    problem = Problem.from_run(args.run_dir)
    options = ({"steps": args.steps, "walkers": args.walkers, "burn": args.burn}
               if args.method == "mcmc" else
               {"max_evaluations": args.max_evaluations} if args.method == "bootstrap" else {})
    ens = uncertainty(problem, args.method, args.samples, args.seed, not args.quiet, args.scale,
                      **options)
    lines = [ens.text()]
    if problem.at_bounds:
        lines.append("note: pressed against a bound by the loss: "
                     + ", ".join(f"{n} ({s})" for n, s in problem.at_bounds.items())
                     + "; Fisher holds them there, bootstrap and MCMC keep them within it")
    data, label = _validation(problem, args.validation)
    if data is not None:
        table = calibration_of(problem, ens.samples, data)
        ens.info["calibration"] = {"data": label, **table}
        lines.append(calibration_text(table, label))
    text = "\n".join(lines)
    ens.summary.notes += lines[1:]
    paths = ens.write(problem.run_dir)
    print(text)
    print("wrote " + ", ".join(str(p) for p in paths))
    return 0


def _validation(problem: Any, path: str | None) -> tuple[Any, str]:
    """The held-out structures to calibrate on and their label (None: there are none)."""
    if path is not None:
        from gafit.io import read_reference

        return read_reference(path), path
    valid = problem.fit.validation
    return (valid, "the fit's validation set") if valid is not None and len(valid) else (None, "")
