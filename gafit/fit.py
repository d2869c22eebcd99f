"""A whole fit, by the names the command line and older scripts use: :func:`run_fit` and the pieces
of a fit's run folder. The fit itself is :class:`gafit.fitting.Fit`; its inputs, progress log,
checkpoint and result live in :mod:`gafit.fit_data`, :mod:`gafit.fit_progress`,
:mod:`gafit.checkpoint` and :mod:`gafit.fit_result`."""

from __future__ import annotations

from gafit.checkpoint import (
    CHECKPOINT,
    CHECKPOINT_FORMAT,
    OLD_CHECKPOINT,
    Checkpoint,
    check_inputs,
    checkpoint_bytes,
    load_checkpoint,
    parse_checkpoint,
    problem_files,
    record_inputs,
    save_checkpoint,
)
from gafit.fit_data import (
    DEFAULT_CUTOFF,
    add_coulomb,
    add_forms,
    add_zbl,
    build_potential,
    drop_duplicates,
    fit_inputs,
    fit_parameters,
    read_data,
    read_files,
)
from gafit.fit_progress import GenerationLog, RefineLog
from gafit.fit_result import (
    RUN_FILES,
    FitResult,
    check_result,
    constraint_table,
    earlier_run,
    prepare_run_folder,
    provenance,
    result_problem,
    write_outputs,
)
from gafit.fitting import (
    Fit,
    FitInterrupted,
    check_cutoffs,
    feasible_end,
    keep_wall,
    run_fit,
    subset_objective,
)

__all__ = [
    "CHECKPOINT", "CHECKPOINT_FORMAT", "DEFAULT_CUTOFF", "OLD_CHECKPOINT", "RUN_FILES", "Checkpoint",
    "Fit", "FitInterrupted", "FitResult", "GenerationLog", "RefineLog", "add_coulomb", "add_forms",
    "add_zbl", "build_potential", "check_cutoffs", "check_inputs", "check_result",
    "checkpoint_bytes", "constraint_table", "drop_duplicates", "earlier_run", "feasible_end",
    "fit_inputs", "fit_parameters", "keep_wall", "load_checkpoint", "parse_checkpoint",
    "prepare_run_folder", "problem_files", "provenance", "read_data", "read_files",
    "record_inputs", "result_problem", "run_fit", "save_checkpoint", "subset_objective",
    "write_outputs",
]
