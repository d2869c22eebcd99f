"""Re-fit every shipped fit of this folder and compare its loss with the one its files were shipped with.

A config ``potentials/NAME.toml`` ships a fit when a file beside it (``NAME.json``, ``NAME.tersoff``,
``NAME.sw``, ``NAME.lmp``, ``NAME.pair.lmp``, ``NAME.eam.alloy``, ``NAME.eam.fs``) has gafit's
provenance line, ``Fitted with gafit ... loss X.``. Each is fitted again with ``gafit fit`` as a user
runs it (the config's seed, every default on) into ``OUT/NAME``, and the loss of
``OUT/NAME/summary.json`` is compared with X at the six significant figures the provenance line
prints. A change of gafit that changes what a shipped config
fits (a new default term, another GA path) shows as a row marked DIFFERS; the exit status is then 1.

``--ship`` copies a differing run's outputs over the shipped files, as they are shipped: ``.json``
the run's ``potential.json``, ``.lmp`` and ``.pair.lmp`` its ``lammps/pair.lmp``, ``.tersoff`` and
``.sw`` its ``lammps/*.tersoff`` or ``lammps/*.sw``, ``.eam.alloy`` and ``.eam.fs`` its EAM table file
whole (its provenance follows the tables); comment lines written by hand above another file's
provenance line are kept, and the repository's absolute path is taken out of the provenance. Figures
derived from a re-shipped file (docs/, README.md, the configs' comments) are not touched: regenerate
them with the commands the docs name.

Run from the repository root (one fit at a time; minutes each):

    python potentials/refit_check.py [NAME ...] [--out runs/refit_check] [--ship]
"""

from __future__ import annotations

import argparse
import json
import os
import re
import subprocess
import sys
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
#: shipped file suffixes, in the order their provenance is read
SUFFIXES = (".json", ".tersoff", ".sw", ".pair.lmp", ".lmp", ".eam.alloy", ".eam.fs")
#: shipped whole: LAMMPS reads a setfl table's first three lines as comments and writes the
#: provenance after the tables, so nothing in them is written by hand
WHOLE = (".eam.alloy", ".eam.fs")
LOSS = re.compile(r"Fitted with gafit \S+ on \S+: .*?, loss ([-+0-9.eE]+|nan|inf)\.")


def shipped_files(config: Path) -> list[Path]:
    """The fitted files shipped beside ``config`` (NAME.toml), those with gafit's provenance line."""
    name = config.name.removesuffix(".toml")
    found = [config.with_name(name + s) for s in SUFFIXES]
    return [p for p in found if p.is_file() and LOSS.search(p.read_text(encoding="utf-8"))]


def shipped_loss(path: Path) -> str:
    """The loss of ``path``'s provenance line, as printed there (6 significant figures)."""
    text = path.read_text(encoding="utf-8")
    if path.suffix == ".json":
        text = json.loads(text).get("provenance", "")
    match = LOSS.search(text)
    if match is None:
        raise ValueError(f"{path}: no 'Fitted with gafit ... loss X.' provenance line")
    return match.group(1)


def refit(config: Path, out: Path) -> tuple[float, float]:
    """``gafit fit CONFIG --out OUT --overwrite`` from the repository root: (loss, seconds)."""
    start = time.perf_counter()
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(filter(None, [str(ROOT),
                                                                        os.environ.get("PYTHONPATH")]))}
    cmd = [sys.executable, "-m", "gafit.cli", "fit", str(config.relative_to(ROOT)), "--out", str(out),
           "--overwrite"]
    log = out.with_name(out.name + ".log")
    out.parent.mkdir(parents=True, exist_ok=True)
    with log.open("w", encoding="utf-8") as fh:
        done = subprocess.run(cmd, cwd=ROOT, env=env, stdout=fh, stderr=subprocess.STDOUT, check=False)
    if done.returncode != 0:
        raise RuntimeError(f"{' '.join(cmd)} exited {done.returncode}: see {log}")
    summary = json.loads((out / "summary.json").read_text(encoding="utf-8"))
    return float(summary["loss"]), time.perf_counter() - start


def same_loss(shipped: str, loss: float) -> bool:
    """Equal at the six significant figures of the provenance line."""
    return f"{float(shipped):.6g}" == f"{loss:.6g}"


def run_file(shipped: Path, run: Path) -> Path:
    """The file of run folder ``run`` that ``shipped`` is a copy of."""
    if shipped.suffix == ".json":
        return run / "potential.json"
    if shipped.suffix == ".lmp":
        return run / "lammps" / "pair.lmp"
    found = sorted((run / "lammps").glob("*" + shipped.suffix))
    if len(found) != 1:
        raise RuntimeError(f"{run / 'lammps'}: expected one {shipped.suffix} file, found "
                           f"{len(found)}")
    return found[0]


def shipped_text(shipped: Path, new: str) -> str:
    """``new`` (a run's file) as it is shipped: repository paths relative to the repository root,
    and the hand-written comment lines above the old file's provenance line kept."""
    new = new.replace(str(ROOT) + os.sep, "")
    if shipped.suffix == ".json" or shipped.name.endswith(WHOLE):
        return new
    lines = shipped.read_text(encoding="utf-8").splitlines(keepends=True)
    at = next(i for i, line in enumerate(lines) if LOSS.search(line))
    return "".join(lines[:at]) + new


def ship(shipped: Path, run: Path) -> None:
    """Write ``run``'s counterpart of ``shipped`` over it (see :func:`shipped_text`)."""
    from gafit.io.atomic import atomic_write_text

    atomic_write_text(shipped, shipped_text(shipped, run_file(shipped, run).read_text(encoding="utf-8")))


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("names", nargs="*", help="configs to check (NAME of potentials/NAME.toml; "
                        "default: every one that ships a fit)")
    parser.add_argument("--out", default="runs/refit_check", help="folder of the runs (one per config)")
    parser.add_argument("--ship", action="store_true",
                        help="copy a differing run's outputs over the shipped files")
    args = parser.parse_args(argv)
    configs = ([HERE / f"{n}.toml" for n in args.names] if args.names
               else sorted(c for c in HERE.glob("*.toml") if shipped_files(c)))
    rows, differs = [], 0
    print("| config | shipped file(s) | shipped loss | re-fitted loss | relative change | same | fit (s) |")
    print("|---|---|---|---|---|---|---|")
    for config in configs:
        files = shipped_files(config)
        if not files:
            print(f"refit_check: {config}: no shipped fit beside it", file=sys.stderr)
            return 2
        losses = {shipped_loss(p) for p in files}
        if len(losses) != 1:
            print(f"refit_check: {config}: its shipped files disagree on the loss ({sorted(losses)})",
                  file=sys.stderr)
            return 2
        (old,) = losses
        out = (ROOT / args.out / config.stem).resolve()
        loss, seconds = refit(config, out)
        same = same_loss(old, loss)
        differs += not same
        row = (f"| `{config.name}` | {', '.join(p.name.removeprefix(config.stem) for p in files)} | "
               f"{old} | {loss:.6g} | {(loss - float(old)) / abs(float(old)):+.1e} | "
               f"{'yes' if same else 'DIFFERS'} | {seconds:.0f} |")
        rows.append(row)
        print(row, flush=True)
        if args.ship and not same:
            for p in files:
                ship(p, out)
            print(f"  shipped {', '.join(p.name for p in files)} from {out}", flush=True)
    return 1 if differs and not args.ship else 0


if __name__ == "__main__":
    raise SystemExit(main())
