"""Hyperparameter search with Optuna (``hydra/sweeper=optuna``, the ``optuna`` extra).

Each trial is one job: the app returns the number the sweep optimises, named by the config key
``objective`` (minimised; the sweeper's default direction):

    final_eval_loss   the held-out loss at the end of the run (the default)
    steps_to_solve    the first evaluated step that met the task's solved criterion (with
                      ``train.stop_when_solved=true`` the run ends there); inf if never

How outcomes reach the sampler (hydra-optuna-sweeper 1.3 tells Optuna COMPLETE with the returned
float, or FAIL when the job raised or returned something Optuna rejects, such as NaN):

    completed   the objective                       COMPLETE
    diverged    inf: the worst value, so the        COMPLETE (TPE learns to avoid the region)
                sampler is told the region is bad
    failed      the job raises (its summary.json    FAIL (the sweep goes on: see below)
                says failed, with the error)

The plugin aborts the whole sweep at the first FAIL unless ``hydra.sweeper.max_failure_rate``
allows it; `with_sweeper_defaults` adds ``hydra.sweeper.max_failure_rate=1.0`` to a command line
that selects ``hydra/sweeper=optuna`` without setting it, so a failed trial is a result, not a
crash. Two endings would still be tracebacks, and `tolerate_grid_exhaustion` (installed by
`cli.main` whenever a command runs under the Optuna sweeper, chosen on the command line or by a
config's defaults) turns them into results: a grid search (``hydra/sweeper/sampler=grid``)
whose last grid point fails (Optuna 2.10's GridSampler calls ``Study.stop`` once the grid is
exhausted, which raises outside ``Study.optimize``: the plugin asks and tells trials itself, and
already caps n_trials at the grid size, so there is nothing to stop), and a sweep in which every
trial failed (one line, exit 1). Example (conf/experiment/search_rnn_lr.yaml):

    python -m rnnbench -m +experiment=search_rnn_lr
"""

from __future__ import annotations

import math
import sys
from collections.abc import Mapping
from typing import Any

__all__ = [
    "OBJECTIVES",
    "NoTrialCompleted",
    "objective_value",
    "tolerate_grid_exhaustion",
    "uses_optuna",
    "with_sweeper_defaults",
]

OBJECTIVES = ("final_eval_loss", "steps_to_solve")
OPTUNA_TARGET = "hydra_plugins.hydra_optuna_sweeper.optuna_sweeper.OptunaSweeper"
SWEEPER_DEFAULTS = {"max_failure_rate": "1.0"}
# What Optuna raises from Study.stop outside Study.optimize, and from Study.best_trial when no
# trial completed (in-memory storage, database storage); tests pin the texts.
STOP_OUTSIDE_OPTIMIZE = "`Study.stop` is supposed to be invoked inside an objective function"
NO_TRIAL = ("No trials are completed yet", "Record does not exist")


def objective_value(summary: Mapping[str, Any], objective: str) -> float:
    """The float a trial reports: the objective of a completed run, inf for a diverged one
    (and for a run that never reached it: no final loss, or never solved)."""
    if objective not in OBJECTIVES:
        raise ValueError(f"objective must be one of {', '.join(OBJECTIVES)}, got {objective!r}")
    if summary.get("status") == "diverged":
        return math.inf
    value = summary.get(objective)
    return math.inf if value is None else float(value)


def uses_optuna(sweeper_target: str | None) -> bool:
    """Whether the job runs under the Optuna sweeper (its ``hydra.sweeper._target_``)."""
    return sweeper_target == OPTUNA_TARGET


def with_sweeper_defaults(argv: list[str]) -> list[str]:
    """`argv` plus ``hydra.sweeper.<key>=<value>`` for each of `SWEEPER_DEFAULTS` the command
    does not set, when it selects ``hydra/sweeper=optuna``; otherwise `argv` unchanged."""
    if not any(a.lstrip("+~") == "hydra/sweeper=optuna" for a in argv):
        return argv
    extra = [
        f"hydra.sweeper.{key}={value}"
        for key, value in SWEEPER_DEFAULTS.items()
        if not any(a.lstrip("+~").startswith(f"hydra.sweeper.{key}=") for a in argv)
    ]
    return [*argv, *extra]


class NoTrialCompleted(SystemExit):
    """Every trial of an Optuna sweep failed: there is no best trial. Exits 1 after one line on
    stderr; a SystemExit passes through Hydra's error report, which would add a second line."""

    def __init__(self, message: str):
        sys.stderr.write(message + "\n")
        super().__init__(1)


def tolerate_grid_exhaustion() -> None:
    """Two endings of an Optuna sweep that are results, not tracebacks. Idempotent.

    - GridSampler's ``Study.stop`` at the end of its grid becomes a no-op outside
      ``optimize``: Optuna's ``Study.tell`` records the trial's values and state in a
      ``finally`` after the sampler's ``after_trial``, so swallowing that one RuntimeError
      loses nothing.
    - A sweep in which every trial failed ends with `NoTrialCompleted` (one line, exit 1)
      instead of Optuna's "Record does not exist" from ``Study.best_trial``.
    """
    from hydra_plugins.hydra_optuna_sweeper._impl import OptunaSweeperImpl
    from optuna.samplers import GridSampler

    after_trial, sweep = GridSampler.after_trial, OptunaSweeperImpl.sweep
    if getattr(sweep, "_rnnbench_tolerant", False):
        return

    def tolerant_after_trial(self, study, trial, state, values):
        try:
            after_trial(self, study, trial, state, values)
        except RuntimeError as exc:
            if STOP_OUTSIDE_OPTIMIZE not in str(exc):
                raise

    def tolerant_sweep(self, arguments):
        try:
            return sweep(self, arguments)
        except ValueError as exc:
            if not any(text in str(exc) for text in NO_TRIAL):
                raise
            raise NoTrialCompleted(
                "rnnbench: error: no trial of the Optuna sweep completed (every one failed); "
                "each trial's summary.json says why"
            ) from None

    tolerant_sweep._rnnbench_tolerant = True
    GridSampler.after_trial = tolerant_after_trial
    OptunaSweeperImpl.sweep = tolerant_sweep
