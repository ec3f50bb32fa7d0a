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

A non-finite loss or gradient norm (or one above train.diverge_grad_norm*) is a divergent
step; the offending update is never applied. ``train.on_diverge=stop`` (default) ends the run
with status "diverged" (step and cause recorded); ``skip`` drops that step's update, counts it
(``skipped_steps`` in the summary, ``skipped`` in the train metrics) and goes on. Any other
exception ends it as "failed" (and is re-raised). In every case the metric tables and
summary.json (last) are written.

Checkpoints and resuming. Every ``train.checkpoint_every`` steps, and when SIGINT or SIGTERM
arrives (checked between steps; a second signal aborts at once), ``checkpoint.npz`` is written
atomically: parameters, optimiser state, the bit-generator states of the data and diagnostics
streams, the metric and diagnostics rows so far, the counters of the loop. A signal then ends
the run as "interrupted" (exit 128 + signal number from the CLI). `run` on a directory holding
a checkpoint of the same config resumes from it, and the finished run's metrics, grad norms,
diagnostics and summary (timings aside) are bit-identical to an uninterrupted run's; a SIGKILL
loses at most the steps since the last checkpoint. The checkpoint is removed once the run has
completed or diverged. Plain npz, loaded with ``allow_pickle=False``.
"""

from __future__ import annotations

import logging
import math
import signal
import sys
import threading
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


CHECKPOINT_VERSION = 1


class Diverged(Exception):
    """Raised inside a step when the loss or the gradient norm is unusable; carries the cause."""


class Interrupted(KeyboardInterrupt):
    """The run stopped on a signal after writing its checkpoint and files; `signum` says which."""

    def __init__(self, signum: int):
        super().__init__(signal.Signals(signum).name)
        self.signum = signum


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
    skipped_steps: int = 0  # divergent steps whose update was dropped (train.on_diverge=skip)
    wall_before_s: float = 0.0  # wall time of the earlier sessions of a resumed run
    resumed_from: int | None = None  # step of the checkpoint this session started from
    signum: int | None = None  # the signal that interrupted the run


@dataclass
class LoopState:
    """The loop's own counters between steps (part of a checkpoint)."""

    step: int = 0  # last step done
    window: list[tuple[float, float, float]] = field(default_factory=list)  # since last log
    skipped_in_window: int = 0


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


@contextmanager
def stop_signals() -> Iterator[dict[str, int | None]]:
    """While inside, SIGINT and SIGTERM only set ``flag["signum"]`` (the loop stops between
    steps); a second signal raises `Interrupted` at once. Outside the main thread (where
    handlers cannot be installed) signals keep their default behaviour."""
    flag: dict[str, int | None] = {"signum": None}

    def handler(signum: int, frame: Any) -> None:
        if flag["signum"] is not None:
            raise Interrupted(signum)
        flag["signum"] = signum
        log.warning(
            "%s: stopping after this step with a checkpoint (send it again to abort now)",
            signal.Signals(signum).name,
        )

    previous = {}
    if threading.current_thread() is threading.main_thread():
        for s in (signal.SIGINT, signal.SIGTERM):
            previous[s] = signal.signal(s, handler)
    try:
        yield flag
    finally:
        for s, old in previous.items():
            signal.signal(s, old)


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
    state: LoopState | None = None,
    stop: dict[str, int | None] | None = None,
    checkpoint: Any = None,
) -> None:
    """Train up to cfg.train.steps steps from `state` (fresh: step 0), filling `metrics` and `p`.

    Stops early on divergence (policy stop) or when ``stop["signum"]`` is set (by a signal);
    calls ``checkpoint(state)`` every train.checkpoint_every steps and before stopping on a
    signal.
    """
    t = cfg.train
    max_norm = t.diverge_grad_norm
    skip = t.on_diverge == "skip"
    state = state or LoopState()
    stop = stop if stop is not None else {"signum": None}
    window = state.window  # (loss, norm before, norm after) since the last log
    if state.step == 0:
        p.final_eval = evaluate(m, eval_batch, t.batch_size)
        metrics.add(0, "eval", p.final_eval)
    first = state.step + 1  # this session's first step: JIT compile/cache load, not timed
    last_line = time.perf_counter()
    bar = _bar(cfg)
    bar.update(state.step)
    running = None  # exponential moving average of the training loss, for the display
    postfix: dict[str, str] = {}  # what the bar shows after the counts
    try:
        for step in range(state.step + 1, t.steps + 1):
            if stop["signum"] is not None:
                break
            batch = m.task.sample(rng, t.batch_size, m.dtype)
            t0 = time.perf_counter()
            try:
                window.append(
                    _step(m, batch, cfg.clip, max_norm, step, t.diverge_grad_norm_after_clip)
                )
            except Diverged as exc:
                if m.diag is not None:
                    m.diag.on_diverged(step)  # that step's ||dL/dh_t|| and norms in the tables
                if not skip:
                    p.status, p.diverged_step, p.cause = "diverged", step, str(exc)
                    log.warning("diverged at step %d: %s", step, exc)
                    break
                p.skipped_steps += 1
                state.skipped_in_window += 1
                log.warning("step %d skipped (train.on_diverge=skip): %s", step, exc)
            if step > first:
                p.step_time_s += time.perf_counter() - t0
                p.timed_steps += 1
            p.steps = state.step = step
            if window:
                loss = window[-1][0]
                running = loss if running is None else 0.95 * running + 0.05 * loss
            if step % t.log_every == 0 or step == t.steps:
                row = {}
                if window:
                    arr = np.array(window)  # (n, 3)
                    row = {
                        "loss": arr[:, 0].mean(),
                        "grad_norm": arr[:, 1].mean(),
                        "grad_norm_max": arr[:, 1].max(),
                        "grad_norm_clipped": arr[:, 2].mean(),
                    }
                if skip:
                    row["skipped"] = state.skipped_in_window
                metrics.add(step, "train", row)
                window.clear()
                state.skipped_in_window = 0
            if step % t.eval_every == 0 or step == t.steps:
                p.final_eval = evaluate(m, eval_batch, t.batch_size)
                metrics.add(step, "eval", p.final_eval)
                if running is not None:
                    postfix["loss"] = f"{running:.4f}"
                postfix["eval"] = f"{p.final_eval['loss']:.4f}"
                bar.set_postfix(postfix)
                now = time.perf_counter()
                if bar.disable and (now - last_line > LOG_INTERVAL_S or step == t.steps):
                    last_line = now
                    log.info(
                        "step %d/%d  train loss %s  eval %s",
                        step,
                        t.steps,
                        "n/a" if running is None else f"{running:.4f}",
                        "  ".join(f"{k} {v:.4f}" for k, v in p.final_eval.items()),
                    )
            elif step % 10 == 0 and running is not None:
                postfix["loss"] = f"{running:.4f}"
                bar.set_postfix(postfix, refresh=False)
            bar.update(1)
            every = t.checkpoint_every
            if checkpoint is not None and every and step % every == 0 and step < t.steps:
                checkpoint(state)
    finally:
        bar.close()
    if stop["signum"] is not None and p.status == "completed" and state.step < t.steps:
        p.status, p.signum = "interrupted", stop["signum"]
        p.error = signal.Signals(p.signum).name
        if checkpoint is not None:
            checkpoint(state)
        log.warning("interrupted after step %d: checkpoint written", state.step)
        return
    if p.status == "diverged" and p.steps > 0 and p.steps % t.eval_every != 0:
        p.final_eval = evaluate(m, eval_batch, t.batch_size)  # the last finite parameters
        metrics.add(p.steps, "eval", p.final_eval)


# --------------------------------------------------------------------------------- checkpoints


def checkpoint_arrays(
    m: Model,
    rng: np.random.Generator,
    metrics: records.MetricLog,
    p: Progress,
    state: LoopState,
    chash: str,
    wall_s: float,
) -> dict[str, np.ndarray]:
    """Everything a bit-identical resume needs, as npz-safe arrays (no objects, no pickles)."""
    a: dict[str, np.ndarray] = {
        "version": np.asarray(CHECKPOINT_VERSION),
        "config_hash": np.asarray(chash),
        "step": np.asarray(state.step, dtype=np.int64),
        "window": np.asarray(state.window, dtype=np.float64).reshape(-1, 3),  # (n, 3)
        "skipped_in_window": np.asarray(state.skipped_in_window, dtype=np.int64),
        "progress:steps": np.asarray(p.steps, dtype=np.int64),
        "progress:skipped_steps": np.asarray(p.skipped_steps, dtype=np.int64),
        "progress:timed_steps": np.asarray(p.timed_steps, dtype=np.int64),
        "progress:step_time_s": np.asarray(p.step_time_s, dtype=np.float64),
        "progress:wall_s": np.asarray(wall_s, dtype=np.float64),
        "progress:final_eval_keys": np.asarray(list(p.final_eval), dtype=np.str_),
        "progress:final_eval_values": np.asarray(list(p.final_eval.values()), dtype=np.float64),
    }
    a.update({f"param:{k}": v for k, v in m.params.items()})
    a.update({f"optim:{k}": v for k, v in m.optimizer.state_arrays().items()})
    a.update(records.rng_state_arrays(rng, "rng:data"))
    a.update(metrics.arrays("metrics"))
    if m.diag is not None:
        a.update(m.diag.state_arrays())
        a.update(records.rng_state_arrays(m.diag.rng, "rng:diag"))
    return a


def restore(
    a: dict[str, np.ndarray],
    m: Model,
    rng: np.random.Generator,
    metrics: records.MetricLog,
    p: Progress,
) -> LoopState:
    """Load `checkpoint_arrays` output into freshly built objects (the inverse)."""
    for k, v in m.params.items():  # in place: the network, the readout and the optimiser share
        saved = a[f"param:{k}"]
        if saved.shape != v.shape or saved.dtype != v.dtype:
            raise ValueError(f"checkpoint parameter {k} is {saved.dtype} {saved.shape}")
        v[...] = saved
    m.optimizer.load_state_arrays({k[6:]: v for k, v in a.items() if k.startswith("optim:")})
    records.load_rng_state(rng, a, "rng:data")
    metrics.load_arrays(a, "metrics")
    if m.diag is not None:
        m.diag.load_state_arrays(a)
        records.load_rng_state(m.diag.rng, a, "rng:diag")
    p.steps = int(a["progress:steps"])
    p.skipped_steps = int(a["progress:skipped_steps"])
    p.timed_steps = int(a["progress:timed_steps"])
    p.step_time_s = float(a["progress:step_time_s"])
    p.wall_before_s = float(a["progress:wall_s"])
    keys, values = a["progress:final_eval_keys"].tolist(), a["progress:final_eval_values"].tolist()
    p.final_eval = dict(zip(keys, values, strict=True))
    p.resumed_from = int(a["step"])
    return LoopState(
        step=int(a["step"]),
        window=[tuple(r) for r in a["window"].tolist()],
        skipped_in_window=int(a["skipped_in_window"]),
    )


def read_checkpoint(run_dir: Path, chash: str) -> dict[str, np.ndarray] | None:
    """The run directory's checkpoint if it belongs to this config, else None (with a warning
    when one is there but unusable)."""
    path = run_dir / records.CHECKPOINT_FILE
    if not path.is_file():
        return None
    try:
        a = records.read_npz(path)
        version, saved_hash = int(a["version"]), str(a["config_hash"])
    except Exception as exc:  # a damaged file is not a reason to fail: start afresh
        log.warning("ignoring unreadable checkpoint %s: %s: %s", path, type(exc).__name__, exc)
        return None
    if version != CHECKPOINT_VERSION or saved_hash != chash:
        log.warning("%s belongs to another config or version; starting afresh", path)
        return None
    return a


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
    run_dir.mkdir(parents=True, exist_ok=True)
    records.remove_temporaries(run_dir)
    ckpt = read_checkpoint(run_dir, chash)
    stale = [records.SUMMARY_FILE]
    if ckpt is None:
        stale += [*records.RESULT_FILES, records.CHECKPOINT_FILE]
    for name in stale:  # the status goes first: the directory now reads "unfinished"
        (run_dir / name).unlink(missing_ok=True)
    records.write_text(run_dir / records.CONFIG_FILE, OmegaConf.to_yaml(resolved(cfg)))
    metrics = records.MetricLog()
    p = Progress()
    m = None
    try:
        with thread_limits(cfg.threads), stop_signals() as stop:
            resumed = int(ckpt["step"]) if ckpt else None
            records.write_environment(run_dir, {"config_hash": chash, "resumed_from": resumed})
            m, rng, eval_batch = build(cfg)
            state = restore(ckpt, m, rng, metrics, p) if ckpt else LoopState()
            if ckpt:
                log.info("resuming from the checkpoint at step %d", state.step)

            def checkpoint(s: LoopState) -> None:
                wall = p.wall_before_s + time.perf_counter() - start
                arrays = checkpoint_arrays(m, rng, metrics, p, s, chash, wall)
                records.write_npz(run_dir / records.CHECKPOINT_FILE, arrays)

            loop(cfg, m, rng, eval_batch, metrics, p, state, stop, checkpoint)
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
        wall = p.wall_before_s + time.perf_counter() - start
        summary = _summary(cfg, m, p, chash, wall)
        records.write_summary(run_dir, summary)
        if p.status in ("completed", "diverged"):  # finished: nothing left to resume
            (run_dir / records.CHECKPOINT_FILE).unlink(missing_ok=True)
    if p.signum is not None:
        raise Interrupted(p.signum)
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
        "skipped_steps": p.skipped_steps,
        "hidden_size": cfg.model.hidden_size,
        "num_layers": cfg.model.num_layers,
        "optim": cfg.optim.name,
        "lr": cfg.optim.lr,
        "threads": cfg.threads,
        "config_hash": chash,
    }
