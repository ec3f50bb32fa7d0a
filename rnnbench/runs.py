"""A run directory: its files, the metric table, the summary, the job lock.

Files of one run directory (the report reads only these; every one is written atomically by
`rnnbench.io`):

    config.yaml       the resolved job config (Hydra's .hydra/ holds the unresolved one)
    metrics.parquet   long table: step (int64), split (train|eval), metric (str), value (float64)
    environment.json  versions, thread counts, CPU, git commit (`rnnbench.provenance`)
    summary.json      written last: status and the headline numbers (`Summary`)
    checkpoint.npz    while a run is unfinished: everything a bit-identical resume needs
                      (`rnnbench.checkpoint`); removed once the run has completed or diverged
    grad_norms.parquet, diagnostics.parquet   the gradient diagnostics (`rnnbench.diagnostics`)
"""

from __future__ import annotations

import dataclasses
import os
import platform
from collections.abc import Iterable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from rnnbench import io, provenance

CONFIG_FILE = "config.yaml"
METRICS_FILE = "metrics.parquet"
ENVIRONMENT_FILE = "environment.json"
SUMMARY_FILE = "summary.json"
CHECKPOINT_FILE = "checkpoint.npz"
LOCK_FILE = ".lock"
RESULT_FILES = ("metrics.parquet", "grad_norms.parquet", "diagnostics.parquet")  # + summary

METRIC_COLUMNS = ("step", "split", "metric", "value")
STATUSES = ("completed", "diverged", "failed", "interrupted")
FINISHED = ("completed", "diverged")  # deterministic outcomes of a config: a rerun repeats them


# --------------------------------------------------------------------------------- summary


@dataclass(frozen=True)
class Summary:
    """summary.json: how the run ended and its headline numbers. One field per key."""

    status: str  # one of STATUSES
    cell: str
    task: str
    seq_len: int
    seed: int
    steps: int  # steps actually taken (== max_steps when completed)
    final_eval_loss: float | None
    baseline_loss: float | None  # the memoryless baseline of the task
    solved: bool
    wall_time_s: float
    steps_per_s: float | None  # training throughput: evaluation and the first step excluded
    config_hash: str
    max_steps: int | None = None  # train.steps
    final_eval: dict[str, float] = field(default_factory=dict)  # every eval metric, last eval
    baselines: dict[str, float] = field(default_factory=dict)  # every naive baseline, by name
    loss_vs_baseline: float | None = None
    diverged_step: int | None = None
    cause: str | None = None  # why the run diverged
    error: str | None = None  # the exception (failed) or the signal (interrupted)
    skipped_steps: int = 0  # divergent steps dropped (train.on_diverge=skip)
    hidden_size: int | None = None
    num_layers: int | None = None
    optim: str | None = None
    lr: float | None = None
    threads: int | None = None
    steps_to_solve: int | None = None  # first evaluated step that met the solved criterion
    steps_below_90pct_baseline: int | None = None  # ... with eval loss < 0.9 x the baseline
    steps_below_10pct_baseline: int | None = None  # ... with eval loss < 0.1 x the baseline
    length_eval: dict[str, dict] = field(default_factory=dict)  # eval.seq_lens: str(T) -> loss..

    def __post_init__(self) -> None:
        if self.status not in STATUSES:
            raise ValueError(f"summary status must be one of {STATUSES}, got {self.status!r}")

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> Summary:
        """The summary of a dict (summary.json's content); unknown keys are ignored."""
        names = {f.name for f in dataclasses.fields(cls)}
        missing = [n for n in required_keys() if n not in data]
        if missing:
            raise ValueError(f"summary lacks {', '.join(missing)}")
        return cls(**{k: v for k, v in data.items() if k in names})

    @classmethod
    def of_run(cls, cfg: Any, task: Any, p: Any, config_hash: str, wall_s: float) -> Summary:
        """The summary of a run of `cfg`: `task` (None if never built), `p` its
        `train.Progress`."""
        baseline = task.baseline_loss if task is not None else None
        final_loss = p.final_eval.get("loss")
        return cls(
            status=p.status,
            cell=cfg.model.cell,
            task=cfg.task.name,
            seq_len=cfg.task.seq_len,
            seed=cfg.seed,
            steps=p.steps,
            max_steps=cfg.train.steps,
            final_eval_loss=final_loss,
            final_eval=p.final_eval,
            baseline_loss=baseline,
            baselines=task.baselines if task is not None else {},
            loss_vs_baseline=final_loss / baseline if final_loss is not None and baseline else None,
            solved=bool(p.status == "completed" and task is not None and task.solved(p.final_eval)),
            wall_time_s=wall_s,
            steps_per_s=p.timed_steps / p.step_time_s if p.step_time_s > 0 else None,
            diverged_step=p.diverged_step,
            cause=p.cause,
            error=p.error,
            skipped_steps=p.skipped_steps,
            hidden_size=cfg.model.hidden_size,
            num_layers=cfg.model.num_layers,
            optim=cfg.optim.name,
            lr=cfg.optim.lr,
            threads=cfg.threads,
            config_hash=config_hash,
        )

    def as_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)

    def lines(self) -> list[str]:
        """The summary for people: what the CLI logs at the end of a job."""
        fmt = lambda v: "n/a" if v is None else f"{v:.4f}"  # noqa: E731
        extra = "  ".join(
            f"{k} {v:.4f}" for k, v in self.final_eval.items() if k != "loss" and v is not None
        )
        out = [
            f"{self.cell} {self.task} T={self.seq_len} seed={self.seed}: {self.status} "
            f"after {self.steps}/{self.max_steps} steps",
            f"final eval loss {fmt(self.final_eval_loss)} vs memoryless baseline "
            f"{fmt(self.baseline_loss)}{f'  ({extra})' if extra else ''}"
            f"{'  SOLVED' if self.solved else '  not solved'}",
        ]
        if len(self.baselines) > 1:
            out.append("baselines: " + ", ".join(f"{k} {v:.4f}" for k, v in self.baselines.items()))
        if self.cause:
            out.append(f"diverged at step {self.diverged_step}: {self.cause}")
        step = lambda v: "never" if v is None else f"step {v}"  # noqa: E731
        out.append(
            f"eval loss below 0.9x the baseline: {step(self.steps_below_90pct_baseline)}, "
            f"below 0.1x: {step(self.steps_below_10pct_baseline)}; "
            f"solved: {step(self.steps_to_solve)}"
        )
        for T, r in self.length_eval.items():
            out.append(
                f"at T={T}: eval loss {fmt(r['loss'])} vs baseline {fmt(r['baseline_loss'])}"
                f"{'  SOLVED' if r['solved'] else '  not solved'}"
            )
        rate = self.steps_per_s if self.steps_per_s is not None else float("nan")
        out.append(f"{rate:.1f} steps/s, wall time {self.wall_time_s:.1f} s")
        return out


def required_keys() -> tuple[str, ...]:
    """The keys every summary.json has (the fields of `Summary` without a default)."""
    no_default = dataclasses.MISSING
    return tuple(
        f.name
        for f in dataclasses.fields(Summary)
        if f.default is no_default and f.default_factory is no_default
    )


def write_summary(run_dir: str | os.PathLike, summary: Summary | Mapping[str, Any]) -> Path:
    """Write summary.json (call it last); a dict is checked as `Summary.from_dict` checks it."""
    if not isinstance(summary, Summary):
        summary = Summary.from_dict(summary)
    return io.write_json(Path(run_dir) / SUMMARY_FILE, summary.as_dict())


def read_summary(run_dir: str | os.PathLike) -> dict[str, Any] | None:
    """The run's summary, or None if absent or unreadable (a run that never finished)."""
    try:
        data = io.read_json(Path(run_dir) / SUMMARY_FILE)
    except (OSError, ValueError):
        return None
    return data if isinstance(data, dict) else None


def finished_summary(run_dir: str | os.PathLike, config_hash: str) -> dict[str, Any] | None:
    """The summary if this directory already holds a finished (completed or diverged) run of the
    same config, else None; failed, interrupted and unfinished runs are not finished."""
    summary = read_summary(run_dir)
    if summary and summary.get("status") in FINISHED and summary.get("config_hash") == config_hash:
        return summary
    return None


# --------------------------------------------------------------------------------- metrics


class MetricLog:
    """Rows of the long metric table, appended during the run: (step, split, metric, value)."""

    def __init__(self) -> None:
        self.rows: list[tuple[int, str, str, float]] = []

    def add(self, step: int, split: str, metrics: Mapping[str, float]) -> None:
        for name, value in metrics.items():
            self.rows.append((int(step), split, name, float(value)))

    def _columns(self) -> list[Iterable]:
        return list(zip(*self.rows, strict=True)) if self.rows else [[], [], [], []]

    def frame(self) -> pd.DataFrame:
        step, split, metric, value = self._columns()
        return pd.DataFrame(
            {
                "step": np.asarray(step, dtype=np.int64),
                "split": pd.Series(split, dtype="string"),
                "metric": pd.Series(metric, dtype="string"),
                "value": np.asarray(value, dtype=np.float64),
            }
        )

    def write(self, run_dir: str | os.PathLike) -> Path:
        return io.write_parquet(Path(run_dir) / METRICS_FILE, self.frame())

    def arrays(self, prefix: str = "metrics") -> dict[str, np.ndarray]:
        """The rows as npz-safe columns (for checkpoints); `load_arrays` is the inverse."""
        step, split, metric, value = self._columns()
        return {
            f"{prefix}:step": np.asarray(step, dtype=np.int64),
            f"{prefix}:split": np.asarray(split, dtype=np.str_),
            f"{prefix}:metric": np.asarray(metric, dtype=np.str_),
            f"{prefix}:value": np.asarray(value, dtype=np.float64),
        }

    def load_arrays(self, arrays: Mapping[str, np.ndarray], prefix: str = "metrics") -> None:
        cols = [arrays[f"{prefix}:{c}"].tolist() for c in METRIC_COLUMNS]
        self.rows = list(zip(*cols, strict=True))


# --------------------------------------------------------------------------------- the directory


def write_environment(run_dir: str | os.PathLike, extra: Mapping[str, Any] | None = None) -> Path:
    return io.write_json(Path(run_dir) / ENVIRONMENT_FILE, provenance.environment(extra))


def missing_files(run_dir: str | os.PathLike, names: Iterable[str] | None = None) -> list[str]:
    """Which of the run files (default: all four) are absent from `run_dir`."""
    names = names or (CONFIG_FILE, METRICS_FILE, ENVIRONMENT_FILE, SUMMARY_FILE)
    return [n for n in names if not (Path(run_dir) / n).is_file()]


@contextmanager
def job_lock(run_dir: str | os.PathLike) -> Iterator[bool]:
    """Hold an exclusive lock on `run_dir` while a job runs; yields False if another process has it.

    Two identical sweeps started together map their identical jobs to the same directory; the
    lock lets one run each job and the other skip it. ``flock`` on ``run_dir/.lock`` is released
    by the kernel when the holder exits, so a killed job never leaves a stale lock. Where flock
    is unavailable (not POSIX) it yields True without locking.
    """
    try:
        import fcntl
    except ImportError:  # pragma: no cover - Windows
        yield True
        return
    Path(run_dir).mkdir(parents=True, exist_ok=True)
    fd = os.open(Path(run_dir) / LOCK_FILE, os.O_CREAT | os.O_RDWR, 0o644)
    try:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            yield False
            return
        os.ftruncate(fd, 0)
        os.write(fd, f"{os.getpid()} {platform.node()}\n".encode())
        try:
            yield True
        finally:
            fcntl.flock(fd, fcntl.LOCK_UN)
    finally:
        os.close(fd)
