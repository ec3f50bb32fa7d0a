"""The process around a run: thread limits, stop signals, the progress display.

`thread_limits` pins Numba's and BLAS's thread counts; `stop_signals` turns SIGINT and SIGTERM
into a flag the training loop checks between steps (a second signal raises `Interrupted` at
once); `hold_signals` (installed by the command line at process start, and in joblib workers)
keeps a signal that arrives before `stop_signals` or between runs, so that the next run stops
before its first step and still writes its files; `Display` is the progress bar or, without a
terminal, a throttled log line.
"""

from __future__ import annotations

import logging
import signal
import sys
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from omegaconf import DictConfig

log = logging.getLogger(__name__)

LOG_INTERVAL_S = 10.0  # without a progress bar, at most one progress line per this many seconds
STOP_SIGNALS = (signal.SIGINT, signal.SIGTERM)
# The signal held since `hold_signals` (None: none yet); abort: whether a second signal raises
# at once (False in a joblib worker: there the sweep's parent decides).
_HELD: dict[str, Any] = {"signum": None, "abort": True}


class Interrupted(KeyboardInterrupt):
    """The run stopped on a signal after writing its checkpoint and files; `signum` says which."""

    def __init__(self, signum: int):
        super().__init__(signal.Signals(signum).name)
        self.signum = signum

    def __reduce__(self):  # survives pickling (joblib workers send it to the parent)
        return type(self), (self.signum,)


@contextmanager
def thread_limits(threads: int) -> Iterator[None]:
    """Numba's and the Network's thread counts set to `threads`, BLAS's to one, for the duration
    (`rnnbench.parallel`: the batch split over `threads` row blocks, each calling a one-thread
    BLAS). Everything else a training step does with BLAS (readout, optimiser, diagnostics)
    is a small GEMM that a threaded BLAS only slows down: with BLAS at `threads` a GRU-128,
    batch 32, copy T=10 run at threads=2 trained at 0.77x the speed of threads=1; with BLAS
    at one thread it trains at 1.22x (measured side by side, 1500 steps each, twice).

    threadpoolctl limits only libraries already loaded, and the kernels' np.dot calls SciPy's
    own OpenBLAS (loaded with scipy.linalg.cython_blas), not NumPy's; so load it first. Left
    unlimited it spins extra threads and slows small GEMMs several-fold on a busy machine.
    """
    import numba
    import scipy.linalg.cython_blas  # noqa: F401  (loads the BLAS the kernels use)
    from threadpoolctl import threadpool_limits

    from rnnbench.parallel import num_threads

    before = numba.get_num_threads()
    numba.set_num_threads(threads)
    try:
        with threadpool_limits(limits=1), num_threads(threads):
            yield
    finally:
        numba.set_num_threads(before)


def hold_signals(abort: bool = True) -> None:
    """From now on SIGINT and SIGTERM outside `stop_signals` are held, not fatal: the first one is
    remembered (`held_signal`) and the next `stop_signals` starts with it set, so the run stops
    before its first step with its checkpoint and summary; a second one raises `Interrupted`
    (with `abort` False, in a joblib worker, it is ignored: the sweep's parent decides).
    Main thread only (the command line, a loky worker)."""
    _HELD["abort"] = abort

    def handler(signum: int, frame: Any) -> None:
        if _HELD["signum"] is not None and _HELD["abort"]:
            raise Interrupted(signum)
        _HELD["signum"] = _HELD["signum"] or signum

    for s in STOP_SIGNALS:
        signal.signal(s, handler)


def held_signal() -> int | None:
    """The signal `hold_signals` has kept and no run has taken yet (None: none)."""
    return _HELD["signum"]


@contextmanager
def stop_signals() -> Iterator[dict[str, int | None]]:
    """While inside, SIGINT and SIGTERM only set ``flag["signum"]`` (the loop stops between
    steps); a second signal raises `Interrupted` at once (unless `hold_signals` said not to
    abort). A signal held before (`hold_signals`) is taken over: the flag starts set. Outside the
    main thread (where handlers cannot be installed) signals keep their default behaviour."""
    flag: dict[str, int | None] = {"signum": None}

    def handler(signum: int, frame: Any) -> None:
        if flag["signum"] is not None:
            if _HELD["abort"]:
                raise Interrupted(signum)
            return
        flag["signum"] = signum
        log.warning(
            "%s: stopping after this step with a checkpoint (send it again to abort now)",
            signal.Signals(signum).name,
        )

    previous = {}
    if threading.current_thread() is threading.main_thread():
        for s in STOP_SIGNALS:
            previous[s] = signal.signal(s, handler)
        flag["signum"], _HELD["signum"] = _HELD["signum"], None
    try:
        yield flag
    finally:
        for s, old in previous.items():
            signal.signal(s, old)


class Display:
    """A tqdm bar on a terminal; without one, a log line at most every LOG_INTERVAL_S.

    Shows an exponential moving average of the training loss and the last evaluation.
    """

    def __init__(self, cfg: DictConfig, done: int):
        from tqdm.auto import tqdm

        self.total = cfg.train.steps
        enabled = bool(cfg.train.progress) and sys.stderr.isatty()
        self.bar = tqdm(
            total=self.total, unit="step", disable=not enabled, dynamic_ncols=True, leave=True
        )
        self.bar.update(done)
        self.running: float | None = None  # EMA of the training loss
        self.postfix: dict[str, str] = {}  # what the bar shows after the counts
        self.last_line = time.perf_counter()

    def train_loss(self, loss: float) -> None:
        self.running = loss if self.running is None else 0.95 * self.running + 0.05 * loss

    def step_done(self, step: int, evaluated: dict[str, float] | None) -> None:
        """After `step`; `evaluated` holds the evaluation made at this step, if any."""
        running = None if self.running is None else f"{self.running:.4f}"
        if evaluated is not None:
            if running is not None:
                self.postfix["loss"] = running
            self.postfix["eval"] = f"{evaluated['loss']:.4f}"
            self.bar.set_postfix(self.postfix)
            now = time.perf_counter()
            if self.bar.disable and (now - self.last_line > LOG_INTERVAL_S or step == self.total):
                self.last_line = now
                scores = "  ".join(f"{k} {v:.4f}" for k, v in evaluated.items())
                log.info(
                    "step %d/%d  train loss %s  eval %s", step, self.total, running or "n/a", scores
                )
        elif step % 10 == 0 and running is not None:
            self.postfix["loss"] = running
            self.bar.set_postfix(self.postfix, refresh=False)
        self.bar.update(1)

    def close(self) -> None:
        self.bar.close()
