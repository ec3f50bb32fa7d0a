"""checkpoint.npz: everything a bit-identical resume needs, as plain arrays (no pickles).

A checkpoint holds the parameters (network and readout), the optimiser's state, the
bit-generator states of the training-data and diagnostics streams, the metric and diagnostics
rows so far, the loop's counters and the progress that becomes the summary. Keys:

    version, config_hash                     which config (and format) it belongs to
    step, window (n, 3), skipped_in_window   the loop's counters (`train.LoopState`)
    progress:*                               steps, timings, the last evaluation
    param:<name>, optim:<name>               arrays, in place of the live ones on load
    sched:<name>                             the lr schedule's lr and counters (rnnbench.sched)
    rng:data, rng:diag                       ``json.dumps(bit_generator.state)`` as a string
    metrics:*, diag:*                        the rows of the tables so far

JSON keeps the generators' 128-bit integers exact, so the restored streams continue
bit-identically: a resumed run's metrics, grad norms, diagnostics and summary (timings aside)
equal an uninterrupted run's. A SIGKILL loses at most the steps since the last checkpoint; the
checkpoint is removed once the run has completed or diverged. Written with
`rnnbench.io.write_npz` (atomic), read with ``allow_pickle=False``.
"""

from __future__ import annotations

import json
import logging
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from rnnbench import io
from rnnbench.runs import CHECKPOINT_FILE

if TYPE_CHECKING:  # annotations only: train imports this module
    from rnnbench.train import Job, LoopState, Progress

log = logging.getLogger(__name__)

VERSION = 3  # 3: + the lr schedule (sched:*); 2: generator states as JSON strings


def rng_state(rng: np.random.Generator) -> np.ndarray:
    """The generator's bit-generator state as a 0-d string array (JSON)."""
    return np.asarray(json.dumps(rng.bit_generator.state, sort_keys=True))


def load_rng_state(rng: np.random.Generator, saved: np.ndarray) -> None:
    """Set `rng`'s state from `rng_state` output (the inverse)."""
    state = json.loads(str(saved))
    if state.get("bit_generator") != type(rng.bit_generator).__name__:
        raise ValueError(f"checkpoint holds a {state.get('bit_generator')} state, not the rng's")
    rng.bit_generator.state = state


def arrays(
    job: Job, progress: Progress, state: LoopState, config_hash: str, wall_s: float
) -> dict[str, np.ndarray]:
    """Everything a bit-identical resume needs, as npz-safe arrays (no objects, no pickles)."""
    a: dict[str, np.ndarray] = {
        "version": np.asarray(VERSION),
        "config_hash": np.asarray(config_hash),
        "step": np.asarray(state.step, dtype=np.int64),
        "window": np.asarray(state.window, dtype=np.float64).reshape(-1, 3),  # (n, 3)
        "skipped_in_window": np.asarray(state.skipped_in_window, dtype=np.int64),
        "progress:steps": np.asarray(progress.steps, dtype=np.int64),
        "progress:skipped_steps": np.asarray(progress.skipped_steps, dtype=np.int64),
        "progress:timed_steps": np.asarray(progress.timed_steps, dtype=np.int64),
        "progress:step_time_s": np.asarray(progress.step_time_s, dtype=np.float64),
        "progress:wall_s": np.asarray(wall_s, dtype=np.float64),
        "progress:final_eval_keys": np.asarray(list(progress.final_eval), dtype=np.str_),
        "progress:final_eval_values": np.asarray(
            list(progress.final_eval.values()), dtype=np.float64
        ),
        "rng:data": rng_state(job.rng),
    }
    a.update({f"param:{k}": v for k, v in job.params.items()})
    a.update({f"optim:{k}": v for k, v in job.optimizer.state_arrays().items()})
    a.update({f"sched:{k}": v for k, v in job.sched.state_arrays().items()})
    a.update(job.metrics.arrays("metrics"))
    if job.diag is not None:
        a.update(job.diag.state_arrays())
        a["rng:diag"] = rng_state(job.diag.rng)
    return a


def save(
    run_dir: Path, job: Job, progress: Progress, state: LoopState, config_hash: str, wall_s: float
) -> Path:
    """Write run_dir/checkpoint.npz atomically."""
    a = arrays(job, progress, state, config_hash, wall_s)
    return io.write_npz(run_dir / CHECKPOINT_FILE, a)


def restore(a: dict[str, np.ndarray], job: Job, progress: Progress, state: LoopState) -> None:
    """Load `arrays` output into a freshly built job, its progress and loop state (in place)."""
    for k, v in job.params.items():  # in place: the network, the readout and the optimiser share
        saved = a[f"param:{k}"]
        if saved.shape != v.shape or saved.dtype != v.dtype:
            raise ValueError(f"checkpoint parameter {k} is {saved.dtype} {saved.shape}")
        v[...] = saved
    job.optimizer.load_state_arrays({k[6:]: v for k, v in a.items() if k.startswith("optim:")})
    job.sched.load_state_arrays({k[6:]: v for k, v in a.items() if k.startswith("sched:")})
    job.optimizer.lr = job.sched.lr
    load_rng_state(job.rng, a["rng:data"])
    job.metrics.load_arrays(a, "metrics")
    if job.diag is not None:
        job.diag.load_state_arrays(a)
        load_rng_state(job.diag.rng, a["rng:diag"])
    progress.steps = int(a["progress:steps"])
    progress.skipped_steps = int(a["progress:skipped_steps"])
    progress.timed_steps = int(a["progress:timed_steps"])
    progress.step_time_s = float(a["progress:step_time_s"])
    progress.wall_before_s = float(a["progress:wall_s"])
    keys = a["progress:final_eval_keys"].tolist()
    values = a["progress:final_eval_values"].tolist()
    progress.final_eval = dict(zip(keys, values, strict=True))
    progress.resumed_from = state.step = int(a["step"])
    state.window = [tuple(r) for r in a["window"].tolist()]
    state.skipped_in_window = int(a["skipped_in_window"])


def read(run_dir: Path, config_hash: str) -> dict[str, np.ndarray] | None:
    """The run directory's checkpoint if it belongs to this config, else None (with a warning
    when one is there but unusable)."""
    path = run_dir / CHECKPOINT_FILE
    if not path.is_file():
        return None
    try:
        a = io.read_npz(path)
        version, saved_hash = int(a["version"]), str(a["config_hash"])
    except Exception as exc:  # a damaged file is not a reason to fail: start afresh
        log.warning("ignoring unreadable checkpoint %s: %s: %s", path, type(exc).__name__, exc)
        return None
    if version != VERSION or saved_hash != config_hash:
        log.warning("%s belongs to another config or version; starting afresh", path)
        return None
    return a
