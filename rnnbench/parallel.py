"""The thread model: how many cores `Network.forward` / `backward` use, and for what.

    rnnbench.set_num_threads(n)        # the process-wide setting (default 1)
    rnnbench.get_num_threads()
    with rnnbench.num_threads(n): ...  # the same, restored on exit (the CLI's `threads=n`)

With n threads the batch is cut into n contiguous row blocks (the rows of a batch are
independent) and each block runs a layer's whole time loop (T dependent steps) on its own
Python thread; the Numba kernels release the GIL. A block must have enough work per step
(`MIN_BLOCK_STEP_FLOPS`, measured): smaller problems use fewer blocks, down to one. The
whole-sequence work around the loops (xp = x W_ih^T and the bias add, dW_ih, dW_hh, the bias
sums, dx) is split the same way: by rows of the output, or, for the sums over the T*B rows
(dW, db), by ranges of those rows whose partial sums are then added.

So n threads compute at any moment, each calling BLAS with **one** BLAS thread: the per-step
GEMMs (b x H) (H x G*H) are far too small for a threaded BLAS (OpenBLAS's own threads made
them 2-9x slower at B = 32, H = 128). Every BLAS library is set to one thread while `forward`
and `backward` run, and given back its previous setting when they return (NumPy's and SciPy's
wheels default to one thread per core). With one block (B = 1, n = 1, or a small problem)
everything runs on the calling thread: exactly the one-thread path.

Results at different n agree to rounding, not bit for bit: OpenBLAS picks its micro-kernels,
and so the order of its sums, by the shape of each GEMM (a block of 16 rows rounds differently
from one of 32). tests/test_threads.py checks n = 1 against n = 2 (relative difference
<= 1e-12 in float64), and the PyTorch parity and finite-difference tests run at n = 2 with
their usual tolerances.

Never oversubscribe: a sweep of w parallel jobs should give each at most cores / w threads.
"""

import os
import threading
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager

import numpy as np

_setting = {"threads": 1}
_pool: dict[str, ThreadPoolExecutor | int | None] = {"executor": None, "size": 0}
_pool_lock = threading.Lock()


def available_cores() -> int:
    """Cores this process may run on (its CPU affinity), the most threads that help."""
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # not Linux
        return os.cpu_count() or 1


def check_threads(n) -> int:
    """`n` as an int if it is an integer >= 1, else a ValueError naming `threads`."""
    if isinstance(n, bool) or not isinstance(n, int) or n < 1:
        raise ValueError(f"threads must be an integer >= 1, got {n!r}")
    return int(n)


def set_num_threads(n: int) -> None:
    """Use `n` threads in every later `Network.forward` / `backward` of this process."""
    _setting["threads"] = check_threads(n)


def get_num_threads() -> int:
    """The number of threads `Network.forward` / `backward` use (default 1)."""
    return _setting["threads"]


@contextmanager
def num_threads(n: int) -> Iterator[None]:
    """`set_num_threads(n)` for the duration of the block, the previous value restored."""
    before = get_num_threads()
    set_num_threads(n)
    try:
        yield
    finally:
        _setting["threads"] = before


def row_blocks(B: int, n: int) -> list[tuple[int, int]]:
    """[b0, b1) ranges cutting B rows into min(n, B) contiguous blocks, sizes within one."""
    k = max(1, min(n, B))
    edges = [i * B // k for i in range(k + 1)]
    return list(zip(edges[:-1], edges[1:], strict=True))


def _executor(workers: int) -> ThreadPoolExecutor:
    with _pool_lock:
        if _pool["size"] < workers:
            if _pool["executor"] is not None:
                _pool["executor"].shutdown(wait=True)
            _pool["executor"] = ThreadPoolExecutor(workers, thread_name_prefix="rnnbench")
            _pool["size"] = workers
        return _pool["executor"]


SPLIT_MIN_FLOPS = 2**20  # a smaller GEMM or reduction runs whole: splitting would cost more
# A row block must do at least this much recurrent GEMM work per time step, 2 b H (G H) flops
# for b rows: below it, OpenBLAS's fixed cost per call (packing W_hh) makes a half block cost
# nearly as much as the whole, and two threads were measured slower than one (B = 32: rnn
# H <= 128, gru H = 64); from 2^20 up (lstm H = 128, gru H = 128, rnn H = 256 at B = 32) the
# split paid (CPU-time critical path 1.3-1.8x).
MIN_BLOCK_STEP_FLOPS = 2**20


class Runner:
    """Runs the work of one forward or backward on a batch of B rows with n threads.

    `run(kernel, *args)` calls ``kernel(*args, b0, b1)`` once per row block, the first block on
    the calling thread and the others on the pool, and returns when all are done (re-raising
    the first error). `dot` and `add` split a whole-sequence GEMM or bias add by rows of the
    output; `dot_t` (dW = da^T x) and `colsum` (db) sum over T*B rows, so each thread sums a
    range of rows and the partial sums are added in block order. Every BLAS call uses one
    BLAS thread.
    """

    def __init__(self, B: int, n: int, step_flops: float = float("inf")):
        enough = n if step_flops >= n * MIN_BLOCK_STEP_FLOPS else step_flops // MIN_BLOCK_STEP_FLOPS
        self.blocks = row_blocks(B, max(1, int(enough)))
        self.parts = len(self.blocks)

    def _all(self, tasks) -> None:
        first, *rest = tasks
        futures = [_executor(len(rest)).submit(t) for t in rest] if rest else []
        try:
            first()
        finally:
            errors = [f.exception() for f in futures]
        for e in errors:
            if e is not None:
                raise e

    def __call__(self, kernel, *args) -> None:
        self._all([lambda b=b: kernel(*args, *b) for b in self.blocks])

    def _ranges(self, m: int, work: float) -> list[tuple[int, int]]:
        return row_blocks(m, self.parts if work >= SPLIT_MIN_FLOPS else 1)

    def dot(self, a: np.ndarray, b: np.ndarray, out: np.ndarray | None = None) -> np.ndarray:
        """out = a b, a (M, K), b (K, N): the M rows split across the threads."""
        (m, k), n = a.shape, b.shape[1]
        out = np.empty((m, n), dtype=a.dtype) if out is None else out
        ranges = self._ranges(m, 2.0 * m * k * n)
        self._all([lambda r=r: np.dot(a[r[0] : r[1]], b, out[r[0] : r[1]]) for r in ranges])
        return out

    def dot_t(self, a: np.ndarray, b: np.ndarray) -> np.ndarray:
        """a^T b, a (M, N1), b (M, N2) -> (N1, N2), a sum over the M rows: each thread sums a
        contiguous range of rows (one BLAS GEMM on contiguous blocks), then the partial sums
        are added in block order."""
        (m, n1), n2 = a.shape, b.shape[1]
        ranges = self._ranges(m, 2.0 * m * n1 * n2)
        parts = [np.empty((n1, n2), dtype=a.dtype) for _ in ranges]
        tasks = [
            lambda r=r, out=out: np.dot(a[r[0] : r[1]].T, b[r[0] : r[1]], out)
            for r, out in zip(ranges, parts, strict=True)
        ]
        self._all(tasks)
        return _add_up(parts)

    def colsum(self, a: np.ndarray) -> np.ndarray:
        """sum over the rows of a (M, N) -> (N,), by contiguous row ranges as in `dot_t`."""
        m, n = a.shape
        ranges = self._ranges(m, 16.0 * m * n)
        parts = [np.empty(n, dtype=a.dtype) for _ in ranges]
        tasks = [
            lambda r=r, out=out: np.sum(a[r[0] : r[1]], axis=0, out=out)
            for r, out in zip(ranges, parts, strict=True)
        ]
        self._all(tasks)
        return _add_up(parts)

    def add(self, a: np.ndarray, v: np.ndarray) -> None:
        """a += v in place, a (M, N), v (N,) broadcast over the rows, the rows split."""
        m, n = a.shape
        ranges = self._ranges(m, 16.0 * m * n)
        self._all([lambda r=r: np.add(a[r[0] : r[1]], v, out=a[r[0] : r[1]]) for r in ranges])


def _add_up(parts: list[np.ndarray]) -> np.ndarray:
    """parts[0] + parts[1] + ... in that order, into parts[0]."""
    total = parts[0]
    for p in parts[1:]:
        total += p
    return total


class BlasThreads:
    """Sets the thread count of every loaded BLAS (NumPy's and SciPy's, which the kernels call)
    and gives back what was there before on `restore`. Only changed values are written."""

    _controllers = None

    @classmethod
    def _libs(cls):
        if cls._controllers is None:
            import scipy.linalg.cython_blas  # noqa: F401  (loads the BLAS the kernels call)
            from threadpoolctl import ThreadpoolController

            cls._controllers = [
                lib for lib in ThreadpoolController().lib_controllers if lib.user_api == "blas"
            ]
        return cls._controllers

    def __init__(self):
        self.libs = self._libs()
        self.before = [lib.get_num_threads() for lib in self.libs]
        self.now = list(self.before)

    def set(self, n: int) -> None:
        for i, lib in enumerate(self.libs):
            if self.now[i] != n:
                lib.set_num_threads(n)
                self.now[i] = n

    def restore(self) -> None:
        for lib, before, now in zip(self.libs, self.before, self.now, strict=True):
            if before != now:
                lib.set_num_threads(before)


@contextmanager
def compute(B: int, step_flops: float = float("inf")) -> Iterator[Runner]:
    """The thread setup of one forward or backward on a batch of B rows whose recurrence costs
    `step_flops` per time step: every BLAS set to one thread (restored on exit), and the
    `Runner` that spreads the work over the threads."""
    blas = BlasThreads()
    blas.set(1)
    try:
        yield Runner(B, get_num_threads(), step_flops)
    finally:
        blas.restore()
