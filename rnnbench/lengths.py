"""Length generalisation: the trained network evaluated at sequence lengths it was not trained on.

``eval.seq_lens=[T1, T2, ...]`` evaluates the final network, after training, on a held-out set
of ``train.eval_size`` sequences of the same task (same convention and options) at each length
T', drawn from its own random stream (a child of the run's seed: the training data, the
evaluation set and the diagnostics are untouched). The recurrent weights and the readout do
not depend on T, so the network runs unchanged; only the task's memoryless baseline and its
solved criterion are the ones of length T'.

Rows in metrics.parquet: split ``eval_T{T'}`` (e.g. ``eval_T200``) at the run's last step, with
the task's metrics (``loss``, ``accuracy``, ...), ``baseline_loss`` (the memoryless baseline
at T') and ``solved`` (1 or 0, the task's criterion at T'). The config rejects a length the
task does not allow (e.g. below its minimum) before the run starts. The summary's
``length_eval`` maps str(T') to {loss, baseline_loss, loss_vs_baseline, solved}.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import replace
from typing import Any

import numpy as np
from omegaconf import OmegaConf

from rnnbench.tasks import make_task

__all__ = ["SPLIT_PREFIX", "split_name", "evaluate_lengths", "summarise"]

SPLIT_PREFIX = "eval_T"


def split_name(seq_len: int) -> str:
    """The metrics.parquet split of the evaluation at length `seq_len`: ``eval_T{seq_len}``."""
    return f"{SPLIT_PREFIX}{seq_len}"


def evaluate_lengths(
    job: Any, step: int, evaluate: Callable[[Any, Any, int], dict[str, float]]
) -> dict[int, dict[str, float]]:
    """{T': metrics + baseline_loss + solved} for each T' of ``eval.seq_lens``, evaluating the
    trained `job` (its ``task`` swapped for the task at T') with ``evaluate(job, batch, chunk)``
    and adding the rows (split ``eval_T{T'}``) to ``job.metrics`` at `step`."""
    cfg = job.cfg
    options = {k: v for k, v in OmegaConf.to_container(cfg.task, resolve=True).items()}
    options.pop("name")
    out: dict[int, dict[str, float]] = {}
    seq_lens = [int(T) for T in cfg.eval.seq_lens]
    for T, stream in zip(seq_lens, job.lengths_seq.spawn(len(seq_lens)), strict=True):
        task = make_task(job.task.name, **{**options, "seq_len": T})
        batch = task.sample(np.random.default_rng(stream), cfg.train.eval_size, job.dtype)
        metrics = evaluate(replace(job, task=task), batch, cfg.train.batch_size)
        out[T] = {**metrics, "baseline_loss": float(task.baseline_loss)}
        out[T]["solved"] = float(task.solved(metrics))
        job.metrics.add(step, split_name(T), out[T])
    return out


def summarise(results: dict[int, dict[str, float]]) -> dict[str, dict[str, Any]]:
    """The summary's ``length_eval``: str(T') -> loss, baseline_loss, loss_vs_baseline, solved."""
    out = {}
    for T, r in sorted(results.items()):
        loss, base = r.get("loss"), r["baseline_loss"]
        out[str(T)] = {
            "loss": loss,
            "baseline_loss": base,
            "loss_vs_baseline": loss / base if loss is not None and base else None,
            "solved": bool(r["solved"]),
        }
    return out
