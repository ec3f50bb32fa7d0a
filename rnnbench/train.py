"""The training loop: batch, forward, readout, loss, backward, clip, step; evaluate; log; record.

One step, with S the scored steps (all T, or the last one) and shapes as commented in `_step`:

    out, cache = net.forward(x)              x (T, B, I) -> out (T, B, H)
    y = out[scored] W^T + b                  (S, B, O)
    loss, dy = task.loss(y, batch)
    dW, db, dh = readout_backward(...)       dh (S, B, H) -> d_out (T, B, H), zero elsewhere
    grads = net.backward(cache, d_out)
    ||g|| checked finite (and below train.diverge_grad_norm) BEFORE the update; then clip, step
    (and the clipped norm checked below train.diverge_grad_norm_after_clip)

Randomness: the network draws its weights from ``default_rng(seed)``; the other streams
are children of ``SeedSequence(seed)``: training batches (a fresh batch every step), the
held-out evaluation set (sampled once, so every evaluation sees the same sequences), the
readout's weights and the diagnostics' random vectors (which never touch the training).
Same config, seed and thread counts give bit-identical metrics.

Gradient diagnostics (`rnnbench.diagnostics`, section ``diagnostics`` of the config): every
``diagnostics.every`` steps the step's own backward gives ||dL/dh_t|| per layer and t, and the
spectra, gate statistics and Jacobian gains are computed; written as grad_norms.parquet and
diagnostics.parquet next to metrics.parquet.

A non-finite loss or gradient norm stops the run with status "diverged" (step and cause
recorded, the offending update never applied); Ctrl-C stops it as "interrupted"; any other
exception as "failed" (and is re-raised). In every case the metric table and summary.json
(last) are written.
"""

from __future__ import annotations

import logging
import math
import sys
import time
import traceback
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
from omegaconf import DictConfig, OmegaConf

from rnnbench import diagnostics, records
from rnnbench.config import config_hash, model_options, optim_options, resolved, task_options
from rnnbench.network import Network
from rnnbench.optim import clip_gradients, make_optimizer
from rnnbench.readout import init_readout, readout_backward, readout_forward
from rnnbench.tasks import Batch, Task, make_task

log = logging.getLogger(__name__)

LOG_INTERVAL_S = 10.0  # without a progress bar, at most one progress line per this many seconds


class Diverged(Exception):
    """Raised inside a step when the loss or the gradient norm is unusable; carries the cause."""


@dataclass
class Model:
    """Everything a step needs: the task, the network, the readout and the optimiser."""

    task: Task
    net: Network
    params: dict[str, np.ndarray]  # net.params plus "readout.weight", "readout.bias" (shared)
    optimizer: Any
    dtype: type
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


@contextmanager
def thread_limits(threads: int) -> Iterator[None]:
    """Numba's and BLAS's thread counts set to `threads` for the duration.

    threadpoolctl limits only libraries already loaded, and the kernels' np.dot calls SciPy's
    own OpenBLAS (loaded with scipy.linalg.cython_blas), not NumPy's; so load it first. Left
    unlimited it spins extra threads and slows small GEMMs several-fold on a busy machine.
    """
    import numba
    import scipy.linalg.cython_blas  # noqa: F401  (loads the BLAS the kernels use)
    from threadpoolctl import threadpool_limits

    before = numba.get_num_threads()
    numba.set_num_threads(threads)
    try:
        with threadpool_limits(limits=threads):
            yield
    finally:
        numba.set_num_threads(before)


def build(cfg: DictConfig) -> tuple[Model, np.random.Generator, Batch]:
    """Task, network, readout, optimiser, the training stream and the held-out set."""
    dtype = np.dtype(cfg.model.dtype).type
    task = make_task(cfg.task.name, **task_options(cfg))
    data_seq, eval_seq, readout_seq, diag_seq = np.random.SeedSequence(cfg.seed).spawn(4)
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
    eval_batch = task.sample(np.random.default_rng(eval_seq), cfg.train.eval_size, dtype)
    model = Model(task=task, net=net, params=params, optimizer=optimizer, dtype=dtype)
    d = cfg.diagnostics
    if d.every > 0:
        model.diag = diagnostics.Recorder(
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
    return model, np.random.default_rng(data_seq), eval_batch


def _scored(task: Task, out: np.ndarray) -> np.ndarray:
    """The top layer's states at the steps the task scores: (S, B, H)."""
    return out if task.loss_steps == "all" else out[-1:]


def _step(
    m: Model,
    batch: Batch,
    clip: DictConfig,
    max_norm: float | None,
    step: int = 0,
    max_applied: float | None = None,
) -> tuple[float, ...]:
    """One update; returns (loss, grad norm before clipping, after). Raises Diverged."""
    w, b = m.params["readout.weight"], m.params["readout.bias"]
    out, cache = m.net.forward(batch.x)  # (T, B, H)
    h = _scored(m.task, out)  # (S, B, H)
    y = readout_forward(h, w, b)  # (S, B, O)
    loss, dy = m.task.loss(y, batch)  # dy (S, B, O)
    if not math.isfinite(loss):
        raise Diverged(f"loss is {loss}")
    dw, db, dh = readout_backward(h, w, dy)  # (O, H), (O,), (S, B, H)
    d_out = np.zeros(out.shape, dtype=out.dtype)  # (T, B, H)
    d_out[out.shape[0] - h.shape[0] :] = dh
    net_grads = m.net.backward(cache, d_out)
    grads = {k: net_grads[k] for k in m.net.params}
    grads["readout.weight"], grads["readout.bias"] = dw, db
    if m.diag is not None:  # before clipping: the raw gradient's per-timestep and tensor norms
        m.diag.after_backward(step, cache, grads)
    # The norm is checked before any update: a NaN norm must never reach the parameters.
    norm_before, norm_after = clip_gradients(grads, method=clip.method, max_value=clip.max_value)
    if m.diag is not None:
        m.diag.after_clip(step, norm_before, norm_after)
    if not math.isfinite(norm_before):
        raise Diverged(f"gradient norm is {norm_before}")
    if max_norm is not None and norm_before > max_norm:
        raise Diverged(f"gradient norm {norm_before:.4g} > train.diverge_grad_norm={max_norm:g}")
    if max_applied is not None and norm_after > max_applied:  # the update about to be applied
        raise Diverged(
            f"gradient norm after clipping {norm_after:.4g} > "
            f"train.diverge_grad_norm_after_clip={max_applied:g}"
        )
    m.optimizer.step(grads)
    return loss, float(norm_before), float(norm_after)


def evaluate(m: Model, batch: Batch, chunk: int) -> dict[str, float]:
    """Task metrics on the held-out batch, forward in chunks of `chunk` sequences."""
    w, b = m.params["readout.weight"], m.params["readout.bias"]
    ys = []
    for i in range(0, batch.batch_size, chunk):
        out, _ = m.net.forward(np.ascontiguousarray(batch.x[:, i : i + chunk]))  # (T, b, H)
        ys.append(readout_forward(_scored(m.task, out), w, b))  # (S, b, O)
    y = np.concatenate(ys, axis=1)  # (S, B, O)
    return {k: float(v) for k, v in m.task.metrics(y, batch).items()}


def _bar(cfg: DictConfig):
    from tqdm.auto import tqdm

    enabled = bool(cfg.train.progress) and sys.stderr.isatty()
    return tqdm(
        total=cfg.train.steps, unit="step", disable=not enabled, dynamic_ncols=True, leave=True
    )


def loop(
    cfg: DictConfig,
    m: Model,
    rng: np.random.Generator,
    eval_batch: Batch,
    metrics: records.MetricLog,
    p: Progress,
) -> None:
    """Train for cfg.train.steps steps, filling `metrics` and `p`; stops early on divergence."""
    t = cfg.train
    max_norm = t.diverge_grad_norm
    window: list[tuple[float, float, float]] = []  # (loss, norm before, norm after) since last log
    p.final_eval = evaluate(m, eval_batch, t.batch_size)
    metrics.add(0, "eval", p.final_eval)
    last_line = time.perf_counter()
    bar = _bar(cfg)
    running = None  # exponential moving average of the training loss, for the display
    postfix: dict[str, str] = {}  # what the bar shows after the counts
    try:
        for step in range(1, t.steps + 1):
            batch = m.task.sample(rng, t.batch_size, m.dtype)
            t0 = time.perf_counter()
            try:
                window.append(
                    _step(m, batch, cfg.clip, max_norm, step, t.diverge_grad_norm_after_clip)
                )
            except Diverged as exc:
                if m.diag is not None:
                    m.diag.on_diverged(step)  # that step's ||dL/dh_t|| and norms in the tables
                p.status, p.diverged_step, p.cause = "diverged", step, str(exc)
                log.warning("diverged at step %d: %s", step, exc)
                break
            if step > 1:
                p.step_time_s += time.perf_counter() - t0
                p.timed_steps += 1
            p.steps = step
            loss = window[-1][0]
            running = loss if running is None else 0.95 * running + 0.05 * loss
            if step % t.log_every == 0 or step == t.steps:
                arr = np.array(window)  # (n, 3)
                metrics.add(
                    step,
                    "train",
                    {
                        "loss": arr[:, 0].mean(),
                        "grad_norm": arr[:, 1].mean(),
                        "grad_norm_max": arr[:, 1].max(),
                        "grad_norm_clipped": arr[:, 2].mean(),
                    },
                )
                window.clear()
            if step % t.eval_every == 0 or step == t.steps:
                p.final_eval = evaluate(m, eval_batch, t.batch_size)
                metrics.add(step, "eval", p.final_eval)
                postfix.update(loss=f"{running:.4f}", eval=f"{p.final_eval['loss']:.4f}")
                bar.set_postfix(postfix)
                now = time.perf_counter()
                if bar.disable and (now - last_line > LOG_INTERVAL_S or step == t.steps):
                    last_line = now
                    log.info(
                        "step %d/%d  train loss %.4f  eval %s",
                        step,
                        t.steps,
                        running,
                        "  ".join(f"{k} {v:.4f}" for k, v in p.final_eval.items()),
                    )
            elif step % 10 == 0:
                postfix["loss"] = f"{running:.4f}"
                bar.set_postfix(postfix, refresh=False)
            bar.update(1)
    finally:
        bar.close()
    if p.status == "diverged" and p.steps > 0 and p.steps % t.eval_every != 0:
        p.final_eval = evaluate(m, eval_batch, t.batch_size)  # the last finite parameters
        metrics.add(p.steps, "eval", p.final_eval)


def run(cfg: DictConfig, run_dir: str | Path) -> dict[str, Any]:
    """Train as `cfg` says and write the run's files into `run_dir`; returns the summary.

    config.yaml and environment.json first, metrics.parquet, then summary.json last. Exceptions
    other than divergence are recorded (status "failed" or "interrupted") and re-raised.
    """
    start = time.perf_counter()
    run_dir = Path(run_dir)
    chash = config_hash(cfg)
    records.write_text(run_dir / records.CONFIG_FILE, OmegaConf.to_yaml(resolved(cfg)))
    metrics = records.MetricLog()
    p = Progress()
    m = None
    try:
        with thread_limits(cfg.threads):
            records.write_environment(run_dir, {"config_hash": chash})
            m, rng, eval_batch = build(cfg)
            loop(cfg, m, rng, eval_batch, metrics, p)
    except KeyboardInterrupt:
        p.status, p.error = "interrupted", "KeyboardInterrupt"
        raise
    except Exception as exc:
        p.status, p.error = "failed", f"{type(exc).__name__}: {exc}"
        log.error("run failed:\n%s", traceback.format_exc())
        raise
    finally:
        metrics.write(run_dir)
        if m is not None and m.diag is not None:
            grad_norms, diag = m.diag.frames()
            records.write_parquet(run_dir / diagnostics.GRAD_NORMS_FILE, grad_norms)
            records.write_parquet(run_dir / diagnostics.DIAGNOSTICS_FILE, diag)
        summary = _summary(cfg, m, p, chash, time.perf_counter() - start)
        records.write_summary(run_dir, summary)
    return summary


def _summary(cfg: DictConfig, m: Model | None, p: Progress, chash: str, wall: float) -> dict:
    baseline = m.task.baseline_loss if m is not None else None
    final_loss = p.final_eval.get("loss")
    solved = bool(p.status == "completed" and m is not None and m.task.solved(p.final_eval))
    return {
        "status": p.status,
        "cell": cfg.model.cell,
        "task": cfg.task.name,
        "seq_len": cfg.task.seq_len,
        "seed": cfg.seed,
        "steps": p.steps,
        "max_steps": cfg.train.steps,
        "final_eval_loss": final_loss,
        "final_eval": p.final_eval,
        "baseline_loss": baseline,
        "loss_vs_baseline": final_loss / baseline if final_loss is not None and baseline else None,
        "solved": solved,
        "wall_time_s": wall,
        # training throughput: evaluation and the first step (JIT compile/load) excluded
        "steps_per_s": p.timed_steps / p.step_time_s if p.step_time_s > 0 else None,
        "diverged_step": p.diverged_step,
        "cause": p.cause,
        "error": p.error,
        "hidden_size": cfg.model.hidden_size,
        "num_layers": cfg.model.num_layers,
        "optim": cfg.optim.name,
        "lr": cfg.optim.lr,
        "threads": cfg.threads,
        "config_hash": chash,
    }
