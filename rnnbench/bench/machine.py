"""The machine side of a benchmark: CPU affinity, thread counts, and the environment record.

Pinning: `pin(cpus)` sets the CPU affinity of every thread of this process (Linux
`sched_setaffinity` per thread id); threads started later inherit it from their creator. It is
the only way to hold JAX to one core (XLA's thread flags do not), and it keeps every side of a
comparison on the same cores. Without `os.sched_setaffinity` (macOS, Windows) nothing is pinned
and the record says so.
"""

import os
import platform
import sys
from pathlib import Path


def allowed_cpus() -> list[int]:
    """The CPUs this process may run on, in order."""
    if hasattr(os, "sched_getaffinity"):
        return sorted(os.sched_getaffinity(0))
    return list(range(os.cpu_count() or 1))


def pin(cpus) -> bool:
    """Restrict every thread of this process to `cpus`; False where the OS has no affinity."""
    if not hasattr(os, "sched_setaffinity"):
        return False
    tasks = Path("/proc/self/task")
    tids = [int(t.name) for t in tasks.iterdir()] if tasks.is_dir() else [0]
    for tid in tids:
        try:
            os.sched_setaffinity(tid, cpus)
        except ProcessLookupError:  # a thread that ended meanwhile
            pass
    return True


def environment(threads: int, affinity: dict, peers, extra=None) -> dict:
    """The project's environment record plus what a benchmark needs to be read later.

    Call it inside the benchmark's thread limits and affinity. Adds: the load average,
    `affinity` (the CPUs allowed, those used, whether pinned), every peer's versions and
    threads, and the OPENBLAS_* variables (they change OpenBLAS's kernel choice).
    """
    from .. import parallel, provenance

    record = provenance.environment()
    record.update(
        python_executable=Path(sys.executable).name,
        machine=platform.machine(),
        load_average=list(os.getloadavg()) if hasattr(os, "getloadavg") else None,
        affinity=affinity,
        threads=dict(record["threads"], benchmark=threads, rnnbench=parallel.get_num_threads()),
        openblas_env={k: v for k, v in os.environ.items() if k.startswith("OPENBLAS_")},
        peers={p.name: p.describe() for p in peers},
    )
    record.update(extra or {})
    return record
