"""When a run left the memoryless baseline and when it solved its task, from its eval rows.

Papers show a long-dependency learning curve sitting on the memoryless baseline for thousands
of steps before it falls; these numbers tabulate that. From the held-out evaluations (every
``train.eval_every`` steps, and step 0) of a run, with b the task's memoryless baseline loss:

    steps_to_solve              first evaluated step whose metrics meet the task's solved
                                criterion (`Task.solved`, e.g. adding: MSE < 0.01)
    steps_below_90pct_baseline  first evaluated step with eval loss < 0.9 b (left the baseline)
    steps_below_10pct_baseline  first evaluated step with eval loss < 0.1 b (an order of
                                magnitude below it)

Each is None when it never happened. They are computed from the metric rows, so a resumed run
gives the same numbers as an uninterrupted one. ``train.stop_when_solved`` ends the run at the
step `steps_to_solve` names (`solved_now` is the check the loop makes at each evaluation).
"""

from __future__ import annotations

from collections.abc import Iterable

__all__ = ["BASELINE_FRACTIONS", "milestone_keys", "milestones", "solved_now"]

BASELINE_FRACTIONS = (0.9, 0.1)


def milestone_keys() -> list[str]:
    """The summary keys `milestones` returns, in order."""
    return ["steps_to_solve"] + [
        f"steps_below_{round(100 * f)}pct_baseline" for f in BASELINE_FRACTIONS
    ]


def _evals(rows: Iterable[tuple[int, str, str, float]], split: str) -> list[tuple[int, dict]]:
    """(step, {metric: value}) of the `split` rows, by step."""
    by_step: dict[int, dict[str, float]] = {}
    for step, s, metric, value in rows:
        if s == split:
            by_step.setdefault(int(step), {})[metric] = float(value)
    return sorted(by_step.items())


def solved_now(task, metrics: dict[str, float]) -> bool:
    """The task's solved criterion on one evaluation (False when its metric is missing)."""
    return task.solve_metric in metrics and bool(task.solved(metrics))


def milestones(rows, task, split: str = "eval") -> dict[str, int | None]:
    """`milestone_keys()` -> first step (or None) from the metric rows (step, split, metric,
    value) of a run on `task` (anything with ``baseline_loss``, ``solve_metric`` and
    ``solved(metrics)``)."""
    keys = milestone_keys()
    out: dict[str, int | None] = dict.fromkeys(keys)
    b = task.baseline_loss
    for step, metrics in _evals(rows, split):
        if out["steps_to_solve"] is None and solved_now(task, metrics):
            out["steps_to_solve"] = step
        loss = metrics.get("loss")
        for f, key in zip(BASELINE_FRACTIONS, keys[1:], strict=True):
            if out[key] is None and loss is not None and loss < f * b:
                out[key] = step
    return out
