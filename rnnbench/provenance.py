"""Where and with what a run ran: Python and package versions, threads, CPU, git commit.

`environment()` is the record written as a run's environment.json (and the benchmark's
environment); call it inside the run's thread limits, so that the thread counts it reads are
the ones the kernels use.
"""

from __future__ import annotations

import os
import platform
import subprocess
import sys
from collections.abc import Mapping
from contextlib import suppress
from importlib import metadata
from pathlib import Path
from typing import Any

PACKAGES = (
    "rnnbench",
    "numpy",
    "numba",
    "llvmlite",
    "scipy",
    "pandas",
    "pyarrow",
    "hydra-core",
    "omegaconf",
    "tqdm",
    "threadpoolctl",
)


def package_version(package: str) -> str | None:
    """The installed version of `package`, or None."""
    try:
        return metadata.version(package)
    except metadata.PackageNotFoundError:
        return None


def cpu_model() -> str:
    """The CPU's model name (Linux /proc/cpuinfo), else what `platform` knows."""
    with suppress(OSError):
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    return platform.processor() or platform.machine()


def git_commit(directory: str | os.PathLike) -> dict[str, Any] | None:
    """{"commit", "dirty"} of the git checkout holding `directory`, or None (installed wheel)."""

    def git(*args: str) -> str:
        return subprocess.run(
            ["git", *args], cwd=directory, capture_output=True, text=True, timeout=10, check=True
        ).stdout.strip()

    try:
        commit = git("rev-parse", "HEAD")
        dirty = bool(git("status", "--porcelain", "--untracked-files=no"))
    except (OSError, subprocess.SubprocessError):
        return None
    return {"commit": commit, "dirty": dirty}


def blas_threads() -> list[dict[str, Any]]:
    """Every BLAS/OpenMP library loaded in this process, with its thread count and the kernel
    it selected (`architecture`, e.g. OpenBLAS's SkylakeX or Haswell)."""
    from threadpoolctl import threadpool_info

    keep = ("user_api", "internal_api", "prefix", "version", "architecture", "num_threads",
            "threading_layer")
    return [{k: info.get(k) for k in keep} for info in threadpool_info()]


def floating_point() -> dict[str, Any]:
    """FTZ/DAZ mode of this (the kernels') thread and the kernels' JIT options."""
    from rnnbench.kernels._jit import JIT_OPTIONS

    try:
        from rnnbench import fpmode

        mode = fpmode.describe()
    except Exception as exc:  # an unsupported processor must not cost the run its record
        mode = {"error": f"{type(exc).__name__}: {exc}"}
    return {**mode, "jit_options": {k: str(v) for k, v in JIT_OPTIONS.items()}}


def environment(extra: Mapping[str, Any] | None = None) -> dict[str, Any]:
    """Where and with what the run ran, `extra` merged in. Call it inside the thread limits."""
    import numba

    package_dir = Path(__file__).resolve().parent
    record = {
        "python": sys.version.split()[0],
        "implementation": platform.python_implementation(),
        "platform": platform.platform(),
        "hostname": platform.node(),
        "cpu": {"model": cpu_model(), "count": os.cpu_count(), "machine": platform.machine()},
        "packages": {p: package_version(p) for p in PACKAGES},
        "threads": {
            "numba": numba.get_num_threads(),
            "numba_max": numba.config.NUMBA_NUM_THREADS,
            "numba_layer": numba.config.THREADING_LAYER,
            "blas": blas_threads(),
        },
        "git": git_commit(package_dir),
        "floating_point": floating_point(),
    }
    if extra:
        record.update(extra)
    return record
