"""The thread model: how many cores `Network.forward` / `backward` use, and for what.

    rnnbench.set_num_threads(n)        # the process-wide setting (default 1)
    rnnbench.get_num_threads()
    with rnnbench.num_threads(n): ...  # the same, restored on exit (the CLI's `threads=n`)

With n threads a layer's work is split in two kinds:

- the recurrence (the time loop, T dependent steps): the rows of a batch are independent, so
  the batch is cut into n contiguous row blocks and each block runs the whole time loop on its
  own Python thread (the kernels release the GIL), calling BLAS with **one** thread for its
  small per-step GEMMs (b x H) (H x G*H). A multi-threaded BLAS on those tiny products costs
  more in synchronisation than it saves (2-9x slower at B = 32, H = 128);
- the whole-sequence GEMMs (xp = x W_ih^T, dW_ih, dW_hh, dx: T*B rows each) run on the calling
  thread with an n-thread BLAS.

So at most n threads compute at any moment: one BLAS pool of n, or n row blocks of one BLAS
thread each. Whatever the BLAS libraries were set to (NumPy and SciPy wheels default to one
thread per core) is restored when `forward` / `backward` return. Fewer rows than threads: one
block per row.

Results at different n agree to rounding, not bit for bit: OpenBLAS picks its micro-kernels
and their summation order by the shape of each GEMM (a block of 16 rows and one of 32 round
differently), and its threaded GEMMs split the work by thread count. tests/test_threads.py
checks n = 1 against n = 2 (relative difference <= 1e-12 in float64), and the PyTorch parity
and finite-difference tests run at n = 2 with their usual tolerances.

Never oversubscribe: a sweep of w parallel jobs should give each at most cores / w threads.
"""

import os
import threading
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager

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


class Runner:
    """Runs a kernel over the row blocks of a batch of B rows with n threads.

    `run(kernel, *args)` calls ``kernel(*args, b0, b1)`` once per block, the first block on the
    calling thread and the others on the pool, and returns when all are done (re-raising the
    first error). Inside, every BLAS library has one thread; `gemm_threads` is what the
    whole-sequence GEMMs outside get.
    """

    def __init__(self, B: int, n: int, blas: "BlasThreads"):
        self.blocks = row_blocks(B, n)
        self.gemm_threads = n
        self.blas = blas

    def __call__(self, kernel, *args) -> None:
        self.blas.set(1)
        try:
            first, *rest = self.blocks
            futures = [_executor(len(rest)).submit(kernel, *args, *b) for b in rest] if rest else []
            try:
                kernel(*args, *first)
            finally:
                errors = [f.exception() for f in futures]
            for e in errors:
                if e is not None:
                    raise e
        finally:
            self.blas.set(self.gemm_threads)


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
def compute(B: int) -> Iterator[Runner]:
    """The thread setup of one forward or backward on a batch of B rows: yields the `Runner`
    for the recurrences, with the BLAS set to the current thread count for the GEMMs."""
    n = get_num_threads()
    blas = BlasThreads()
    blas.set(n)
    try:
        yield Runner(B, n, blas)
    finally:
        blas.restore()
