"""The training loop: batch, forward, readout, loss, backward, clip, step; evaluate; log; record.

One step (`train_step`), with S the scored steps (all T, or the last one):

    out, cache = net.forward(x)              x (T, B, I) -> out (T, B, H)  (train.tbptt=K:
                                             chunk by chunk, rnnbench.tbptt)
    y = out[scored] W^T + b                  (S, B, O)
    loss, dy = task.loss(y, batch)
    dW, db, dh = readout_backward(...)       dh (S, B, H) -> d_out (T, B, H), zero elsewhere
    grads = net.backward(cache, d_out)       (train.tbptt=K: cut every K steps, summed)
    ||g|| checked finite (and below train.diverge_grad_norm) BEFORE the update; then clip, step
    (and the clipped norm checked below train.diverge_grad_norm_after_clip)

After each step the learning-rate schedule (`rnnbench.sched`, section ``sched``) sets the next
step's lr (``plateau``: after each evaluation, from the eval loss); ``train.stop_when_solved``
ends the run at the first evaluation that meets the task's criterion; ``eval.seq_lens``
evaluates the final network at other lengths (`rnnbench.lengths`).

Randomness: the network draws its weights from ``default_rng(seed)``; the other streams are
children of ``SeedSequence(seed)``: training batches (a fresh batch every step), the held-out
evaluation set (sampled once, so every evaluation sees the same sequences), the readout's
weights and the diagnostics' random vectors (which never touch the training). Same config, seed
and thread counts give bit-identical metrics.

Gradient diagnostics (`rnnbench.diagnostics`): every ``diagnostics.every`` steps, from the
step's own backward; written as grad_norms.parquet and diagnostics.parquet.

Divergence. A non-finite loss or gradient norm (or one above train.diverge_grad_norm*) is a
divergent step, never applied. ``train.on_diverge=stop`` (default) ends the run "diverged"
(step and cause recorded); ``skip`` drops the update, counts it and goes on. Any other
exception ends the run "failed" (re-raised). In every case the tables and summary.json (last)
are written.

Checkpoints (`rnnbench.checkpoint`): every ``train.checkpoint_every`` steps and when SIGINT or
SIGTERM arrives (checked between steps); a signal then ends the run "interrupted". `run` on a
directory holding a checkpoint of the same config resumes from it, bit-identically.
"""

from __future__ import annotations

import dataclasses
import logging
import math
import signal
import time
import traceback
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
from omegaconf import DictConfig, OmegaConf

from rnnbench import checkpoint, diagnostics, io, lengths, runs, solve, tbptt
from rnnbench.config import (
    config_hash,
    model_options,
    optim_options,
    resolved,
    sched_options,
    task_options,
)
from rnnbench.network import Network
from rnnbench.optim import clip_gradients, make_optimizer
from rnnbench.readout import init_readout, readout_backward, readout_forward
from rnnbench.runs import MetricLog, Summary
from rnnbench.sched import Schedule, make_scheduler
from rnnbench.session import Display, Interrupted, stop_signals, thread_limits
from rnnbench.tasks import Batch, Task, make_task

log = logging.getLogger(__name__)


class Diverged(Exception):
    """Raised inside a step when the loss or the gradient norm is unusable; carries the cause."""


@dataclass
class Job:
    """Everything a run trains and records: built once by `build`, restored from a checkpoint."""

    cfg: DictConfig
    task: Task
    net: Network
    params: dict[str, np.ndarray]  # net.params plus "readout.weight", "readout.bias" (shared)
    optimizer: Any
    dtype: type
    rng: np.random.Generator  # the training batches
    eval_batch: Batch  # the held-out set, sampled once
    sched: Schedule  # the learning rate of the next step
    lengths_seq: np.random.SeedSequence  # the held-out sets of eval.seq_lens
    metrics: MetricLog = field(default_factory=MetricLog)
    diag: diagnostics.Recorder | None = None  # None when diagnostics.every = 0


@dataclass
class Progress:
    """What the loop has done so far; becomes the summary."""

    status: str = "completed"
    steps: int = 0
    final_eval: dict[str, float] = field(default_factory=dict)
    diverged_step: int | None = None
    cause: str | None = None
    error: str | None = None
    step_time_s: float = 0.0  # time in training steps, the first (JIT warm-up) excluded
    timed_steps: int = 0
    skipped_steps: int = 0  # divergent steps whose update was dropped (train.on_diverge=skip)
    wall_before_s: float = 0.0  # wall time of the earlier sessions of a resumed run
    resumed_from: int | None = None  # step of the checkpoint this session started from
    signum: int | None = None  # the signal that interrupted the run
    length_eval: dict[int, dict[str, float]] = field(default_factory=dict)  # eval.seq_lens


@dataclass
class LoopState:
    """The loop's own counters between steps (part of a checkpoint)."""

    step: int = 0  # last step done
    window: list[tuple[float, float, float]] = field(default_factory=list)  # since last log
    skipped_in_window: int = 0


# --------------------------------------------------------------------------------- the job


def build(cfg: DictConfig) -> Job:
    """Task, network, readout, optimiser, the training stream and the held-out set."""
    dtype = np.dtype(cfg.model.dtype).type
    task = make_task(cfg.task.name, **task_options(cfg))
    data_seq, eval_seq, readout_seq, diag_seq, len_seq = np.random.SeedSequence(cfg.seed).spawn(5)
    net = Network(
        cfg.model.cell,
        task.input_size,
        cfg.model.hidden_size,
        cfg.model.num_layers,
        dtype=dtype,
        seed=cfg.seed,
        **model_options(cfg),
    )
    readout = init_readout(
        cfg.model.hidden_size, task.output_size, np.random.default_rng(readout_seq), dtype
    )
    params = {**net.params, **readout}
    optimizer = make_optimizer(cfg.optim.name, params, **optim_options(cfg))
    job = Job(
        cfg=cfg,
        task=task,
        net=net,
        params=params,
        optimizer=optimizer,
        dtype=dtype,
        rng=np.random.default_rng(data_seq),
        eval_batch=task.held_out(np.random.default_rng(eval_seq), cfg.train.eval_size, dtype),
        sched=make_scheduler(cfg.sched.name, optimizer.lr, **sched_options(cfg)),
        lengths_seq=len_seq,
    )
    optimizer.lr = job.sched.lr  # a warm-up starts below optim.lr
    d = cfg.diagnostics
    if d.every > 0:
        job.diag = diagnostics.Recorder(
            net,
            every=d.every,
            rng=np.random.default_rng(diag_seq),
            jacobian_vectors=d.jacobian_vectors,
            time_bins=d.time_bins,
            saturation_eps=d.saturation_eps,
            spectra=d.spectra,
            gates=d.gates,
            last_step=cfg.train.steps,
        )
    return job


def _scored(task: Task, out: np.ndarray) -> np.ndarray:
    """The top layer's states at the steps the task scores: (S, B, H)."""
    return out if task.loss_steps == "all" else out[-1:]


def train_step(job: Job, batch: Batch, step: int) -> tuple[float, float, float]:
    """One update; returns (loss, grad norm before clipping, after). Raises Diverged."""
    t, clip = job.cfg.train, job.cfg.clip
    w, b = job.params["readout.weight"], job.params["readout.bias"]
    out, cache = tbptt.forward(job.net, batch.x, t.tbptt)  # (T, B, H); K = 0: net.forward
    h = _scored(job.task, out)  # (S, B, H)
    y = readout_forward(h, w, b)  # (S, B, O)
    loss, dy = job.task.loss(y, batch)  # dy (S, B, O)
    if not math.isfinite(loss):
        raise Diverged(f"loss is {loss}")
    dw, db, dh = readout_backward(h, w, dy)  # (O, H), (O,), (S, B, H)
    d_out = np.zeros(out.shape, dtype=out.dtype)  # (T, B, H)
    d_out[out.shape[0] - h.shape[0] :] = dh
    net_grads = tbptt.backward(job.net, cache, d_out)  # cut every K steps (K = 0: never)
    grads = {k: net_grads[k] for k in job.net.params}
    grads["readout.weight"], grads["readout.bias"] = dw, db
    if job.diag is not None:  # before clipping: the raw gradient's per-timestep and tensor norms
        job.diag.after_backward(step, cache, grads)
    # The norm is checked before any update: a NaN norm must never reach the parameters.
    norm_before, norm_after = clip_gradients(grads, method=clip.method, max_value=clip.max_value)
    if job.diag is not None:
        job.diag.after_clip(step, norm_before, norm_after)
    if not math.isfinite(norm_before):
        raise Diverged(f"gradient norm is {norm_before}")
    max_norm, max_applied = t.diverge_grad_norm, t.diverge_grad_norm_after_clip
    if max_norm is not None and norm_before > max_norm:
        raise Diverged(f"gradient norm {norm_before:.4g} > train.diverge_grad_norm={max_norm:g}")
    if max_applied is not None and norm_after > max_applied:  # the update about to be applied
        raise Diverged(
            f"gradient norm after clipping {norm_after:.4g} > "
            f"train.diverge_grad_norm_after_clip={max_applied:g}"
        )
    job.optimizer.step(grads)
    return loss, float(norm_before), float(norm_after)


def evaluate(job: Job, batch: Batch, chunk: int) -> dict[str, float]:
    """Task metrics on the held-out batch, forward in chunks of `chunk` sequences."""
    w, b = job.params["readout.weight"], job.params["readout.bias"]
    ys = []
    for i in range(0, batch.batch_size, chunk):
        out, _ = job.net.forward(np.ascontiguousarray(batch.x[:, i : i + chunk]))  # (T, b, H)
        ys.append(readout_forward(_scored(job.task, out), w, b))  # (S, b, O)
    y = np.concatenate(ys, axis=1)  # (S, B, O)
    return {k: float(v) for k, v in job.task.metrics(y, batch).items()}


# --------------------------------------------------------------------------------- the loop


def _log_window(job: Job, state: LoopState, step: int) -> None:
    """One train row: mean loss and gradient norms of the steps since the last row."""
    row = {}
    if state.window:
        arr = np.array(state.window)  # (n, 3): loss, norm before clipping, after
        row = {
            "loss": arr[:, 0].mean(),
            "grad_norm": arr[:, 1].mean(),
            "grad_norm_max": arr[:, 1].max(),
            "grad_norm_clipped": arr[:, 2].mean(),
        }
    if job.cfg.train.on_diverge == "skip":
        row["skipped"] = state.skipped_in_window
    row["lr"] = job.optimizer.lr  # the lr of this step
    job.metrics.add(step, "train", row)
    state.window.clear()
    state.skipped_in_window = 0


def _evaluate_and_log(job: Job, progress: Progress, step: int) -> dict[str, float]:
    """Evaluate on the held-out set, record the eval row; the result is the final eval so far."""
    progress.final_eval = evaluate(job, job.eval_batch, job.cfg.train.batch_size)
    job.metrics.add(step, "eval", progress.final_eval)
    return progress.final_eval


def _stop_solved(job: Job, state: LoopState, step: int, evaluated: dict | None) -> bool:
    """train.stop_when_solved: True (and the last train row written) when this evaluation
    meets the task's solved criterion."""
    t = job.cfg.train
    if not (t.stop_when_solved and evaluated and solve.solved_now(job.task, evaluated)):
        return False
    if step % t.log_every and step != t.steps:
        _log_window(job, state, step)
    log.info("solved at step %d: stopping (train.stop_when_solved)", step)
    return True


def _on_diverged(job: Job, progress: Progress, state: LoopState, step: int, exc: Diverged) -> bool:
    """Apply train.on_diverge to a divergent step; True if the run goes on (policy skip)."""
    if job.diag is not None:
        job.diag.on_diverged(step)  # that step's ||dL/dh_t|| and norms in the tables
    if job.cfg.train.on_diverge != "skip":
        progress.status, progress.diverged_step, progress.cause = "diverged", step, str(exc)
        log.warning("diverged at step %d: %s", step, exc)
        return False
    progress.skipped_steps += 1
    state.skipped_in_window += 1
    log.warning("step %d skipped (train.on_diverge=skip): %s", step, exc)
    return True


def loop(
    job: Job,
    progress: Progress,
    state: LoopState,
    stop: dict[str, int | None],
    save: Callable[[LoopState], Any] | None = None,
) -> None:
    """Train up to train.steps steps from `state` (fresh: step 0), filling `job.metrics` and
    `progress`. Stops early on divergence (policy stop) or when ``stop["signum"]`` is set (by a
    signal); calls ``save(state)`` every train.checkpoint_every steps and before stopping on a
    signal."""
    t = job.cfg.train
    last = t.steps
    if state.step == 0:  # the untrained network (if it meets train.stop_when_solved: no steps)
        last = 0 if _stop_solved(job, state, 0, _evaluate_and_log(job, progress, 0)) else last
    first = state.step + 1  # this session's first step: JIT compile/cache load, not timed
    display = Display(job.cfg, state.step)
    try:
        for step in range(state.step + 1, last + 1):
            # termination on a signal: checked between steps
            if stop["signum"] is not None:
                break
            # a fresh training batch
            batch = job.task.sample(job.rng, t.batch_size, job.dtype)
            # forward, backward, clip, update; a divergent step is never applied
            t0 = time.perf_counter()
            try:
                state.window.append(train_step(job, batch, step))
            except Diverged as exc:
                if not _on_diverged(job, progress, state, step, exc):
                    break
            # timing: throughput over the steps after the first
            if step > first:
                progress.step_time_s += time.perf_counter() - t0
                progress.timed_steps += 1
            progress.steps = state.step = step
            if state.window:
                display.train_loss(state.window[-1][0])
            # logging: one train row per train.log_every steps
            if step % t.log_every == 0 or step == t.steps:
                _log_window(job, state, step)
            # evaluation on the held-out set
            evaluated = None
            if step % t.eval_every == 0 or step == t.steps:
                evaluated = _evaluate_and_log(job, progress, step)
            display.step_done(step, evaluated)
            if _stop_solved(job, state, step, evaluated):
                break
            # the learning-rate schedule: the lr of the next step
            job.optimizer.lr = job.sched.advance(evaluated)
            # periodic checkpoint
            if save is not None and t.checkpoint_every and step % t.checkpoint_every == 0:
                if step < t.steps:
                    save(state)
    finally:
        display.close()
    _finish(job, progress, state, stop, save)


def _finish(
    job: Job,
    progress: Progress,
    state: LoopState,
    stop: dict[str, int | None],
    save: Callable[[LoopState], Any] | None,
) -> None:
    """End of the loop: an interrupted run is checkpointed; a diverged one is evaluated on its
    last finite parameters (unless that evaluation was just made)."""
    t = job.cfg.train
    if stop["signum"] is not None and progress.status == "completed" and state.step < t.steps:
        progress.status, progress.signum = "interrupted", stop["signum"]
        progress.error = signal.Signals(progress.signum).name
        if save is not None:
            save(state)
        log.warning("interrupted after step %d: checkpoint written", state.step)
        return
    if progress.status == "diverged" and progress.steps > 0 and progress.steps % t.eval_every:
        _evaluate_and_log(job, progress, progress.steps)
    if progress.status == "completed" and job.cfg.eval.seq_lens:  # the trained network at T'
        progress.length_eval = lengths.evaluate_lengths(job, progress.steps, evaluate)


# --------------------------------------------------------------------------------- the run


def _prepare(cfg: DictConfig, run_dir: Path, chash: str) -> dict[str, np.ndarray] | None:
    """Make the run directory current: leftovers removed, config.yaml written; returns the
    checkpoint to resume from (None: start afresh, stale result files removed)."""
    run_dir.mkdir(parents=True, exist_ok=True)
    io.remove_temporaries(run_dir)
    ckpt = checkpoint.read(run_dir, chash)
    stale = [runs.SUMMARY_FILE]
    if ckpt is None:
        stale += [*runs.RESULT_FILES, runs.CHECKPOINT_FILE]
    for name in stale:  # the status goes first: the directory now reads "unfinished"
        (run_dir / name).unlink(missing_ok=True)
    io.write_text(run_dir / runs.CONFIG_FILE, OmegaConf.to_yaml(resolved(cfg)))
    return ckpt


def run(cfg: DictConfig, run_dir: str | Path) -> dict[str, Any]:
    """Train as `cfg` says and write the run's files into `run_dir`; returns the summary.

    Resumes from ``run_dir/checkpoint.npz`` if it holds a checkpoint of the same config.
    config.yaml and environment.json first, the tables, then summary.json last (a stale
    summary is removed first, so an unfinished run never shows an old status). Exceptions
    other than divergence are recorded (status "failed" or "interrupted") and re-raised; a
    signal ends it as "interrupted" and raises `Interrupted` after the files are written.
    """
    start = time.perf_counter()
    run_dir = Path(run_dir)
    chash = config_hash(cfg)
    ckpt = _prepare(cfg, run_dir, chash)
    progress = Progress()
    job = None
    try:
        with thread_limits(cfg.threads), stop_signals() as stop:
            resumed = int(ckpt["step"]) if ckpt else None
            runs.write_environment(run_dir, {"config_hash": chash, "resumed_from": resumed})
            job = build(cfg)
            state = LoopState()
            if ckpt:
                checkpoint.restore(ckpt, job, progress, state)
                log.info("resuming from the checkpoint at step %d", state.step)

            def save(s: LoopState) -> None:
                wall = progress.wall_before_s + time.perf_counter() - start
                checkpoint.save(run_dir, job, progress, s, chash, wall)

            loop(job, progress, state, stop, save)
    except KeyboardInterrupt:
        progress.status, progress.error = "interrupted", "KeyboardInterrupt"
        raise
    except Exception as exc:
        progress.status, progress.error = "failed", f"{type(exc).__name__}: {exc}"
        log.error("run failed:\n%s", traceback.format_exc())
        raise
    finally:
        summary = _write_results(cfg, run_dir, job, progress, chash, start)
    if progress.signum is not None:
        raise Interrupted(progress.signum)
    if cfg.train.figures:
        _draw_figures(run_dir)
    return summary.as_dict()


def _draw_figures(run_dir: Path) -> None:
    """The run's learning curve and gradient profile, drawn from its files (< 1 s)."""
    from .report import run_figures  # matplotlib is loaded only by runs that draw

    for path in run_figures.write(run_dir):
        log.info("figure %s", path)


def _write_results(
    cfg: DictConfig, run_dir: Path, job: Job | None, progress: Progress, chash: str, start: float
) -> Summary:
    """The tables, then summary.json; a finished run's checkpoint is removed."""
    (job.metrics if job is not None else MetricLog()).write(run_dir)
    if job is not None and job.diag is not None:
        grad_norms, diag = job.diag.frames()
        io.write_parquet(run_dir / diagnostics.GRAD_NORMS_FILE, grad_norms)
        io.write_parquet(run_dir / diagnostics.DIAGNOSTICS_FILE, diag)
    wall = progress.wall_before_s + time.perf_counter() - start
    summary = Summary.of_run(cfg, job.task if job else None, progress, chash, wall)
    if job is not None:  # when the run left the baseline and solved the task; other lengths
        milestones = solve.milestones(job.metrics.rows, job.task)
        length_eval = lengths.summarise(progress.length_eval)
        summary = dataclasses.replace(summary, **milestones, length_eval=length_eval)
    runs.write_summary(run_dir, summary)
    if progress.status in runs.FINISHED:  # nothing left to resume
        (run_dir / runs.CHECKPOINT_FILE).unlink(missing_ok=True)
    return summary
