"""``[validate]`` of a fit config: run a ``gafit validate`` suite on the fitted potential at the end
of ``gafit fit`` and write its outputs into RUN_DIR/validate (as ``gafit validate --out``).

A failing suite does not fail the fit: the fit's summary line says so, and the report shows the table.
"""

from __future__ import annotations

from pathlib import Path

from gafit.config import ValidateConfig
from gafit.potential import Potential
from gafit.validate import Outcome, Suite, builtin_suites, load_suite, run_suite, write_outputs

#: the sub-folder of a run folder the suite's outputs go to, and the files in it
VALIDATE_DIR = "validate"
VALIDATE_FILES = ("index.html", "summary.png", "validate.csv", "validate.json")
#: its sub-folders of plots
PLOT_DIRS = ("phonons", "ev", "melt_quench")


def config_suite(vc: ValidateConfig) -> Suite:
    """The suite ``[validate] suite`` names: a built-in name, otherwise a suite file."""
    builtin = builtin_suites()
    if isinstance(vc.suite, str) and vc.suite in builtin:
        return load_suite(builtin[vc.suite])
    return load_suite(vc.suite)


def validate_fit(potential: Potential, run_dir: Path, vc: ValidateConfig, quiet: bool = False
                 ) -> list[Outcome]:
    """Run the suite of ``vc`` on ``potential`` (the fit's result), writing RUN_DIR/validate/
    (validate.json, validate.csv, index.html, summary.png, phonons/, ev/, melt_quench/); progress on
    stderr unless ``quiet``."""
    from gafit.validate import SuiteProgress

    suite = config_suite(vc)
    out = Path(run_dir) / VALIDATE_DIR
    progress = SuiteProgress(quiet)
    try:
        outcomes = run_suite(potential, suite, out, vc.data, progress.check, progress.md)
    finally:
        progress.close()
    write_outputs(out, suite, outcomes, str(Path(run_dir) / "potential.json"))
    return outcomes


def validation_line(outcomes: list[Outcome]) -> str:
    """One line for the fit's printed summary: 'validation: FAILED (k of n checks)' or 'validation:
    passed (n checks, s skipped)'."""
    n = len(outcomes)
    k = sum(o.failed for o in outcomes)
    if k:
        return f"validation: FAILED ({k} of {n} checks)"
    skipped = sum(o.status == "skipped" for o in outcomes)
    return f"validation: passed ({n} checks" + (f", {skipped} skipped)" if skipped else ")")


def earlier_files(run_dir: Path) -> list[Path]:
    """The files an earlier fit's suite run left in RUN_DIR/validate (none without validate.json)."""
    folder = Path(run_dir) / VALIDATE_DIR
    if not (folder / "validate.json").is_file():
        return []
    files = [folder / n for n in VALIDATE_FILES if (folder / n).is_file()]
    return files + sorted(p for d in PLOT_DIRS for p in (folder / d).rglob("*") if p.is_file())


def remove_empty_folders(run_dir: Path) -> None:
    """Remove RUN_DIR/validate and its sub-folders where they are empty (deepest first)."""
    folder = Path(run_dir) / VALIDATE_DIR
    if not folder.is_dir():
        return
    for d in sorted((p for p in folder.rglob("*") if p.is_dir()), key=lambda p: -len(p.parts)):
        if not any(d.iterdir()):
            d.rmdir()
    if not any(folder.iterdir()):
        folder.rmdir()
