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
crash. Example (conf/experiment/search_rnn_lr.yaml):

    python -m rnnbench -m +experiment=search_rnn_lr
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import Any

__all__ = ["OBJECTIVES", "objective_value", "uses_optuna", "with_sweeper_defaults"]

OBJECTIVES = ("final_eval_loss", "steps_to_solve")
OPTUNA_TARGET = "hydra_plugins.hydra_optuna_sweeper.optuna_sweeper.OptunaSweeper"
SWEEPER_DEFAULTS = {"max_failure_rate": "1.0"}


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
