"""What a run leaves on disk: atomic writes, the metric table, the environment record, summary.json.

Every file goes through `atomic_write`: the bytes are written to a temporary file in the same
directory, flushed to disk, then renamed over the target with `os.replace`. A reader (or a run
killed at any moment) sees either the complete old file, the complete new one, or none.

Files of one run directory (all names are constants below; the report reads only these):

    config.yaml       the resolved job config (Hydra's .hydra/ holds the unresolved one)
    metrics.parquet   long table: step (int64), split (train|eval), metric (str), value (float64)
    environment.json  versions, thread counts, CPU, git commit
    summary.json      written last: status and the headline numbers (SUMMARY_KEYS)
    checkpoint.npz    while a run is unfinished: everything a bit-identical resume needs
                      (rnnbench.train); removed once the run has completed or diverged

JSON is strict: NaN and +-Infinity become null, and ``allow_nan=False`` guarantees no such
token is ever written. Arrays go to ``.npz`` without object arrays, so every load can use
``allow_pickle=False``.
"""

from __future__ import annotations

import io
import json
import math
import os
import platform
import subprocess
import sys
import tempfile
from collections.abc import Iterable, Iterator, Mapping
from contextlib import contextmanager, suppress
from importlib import metadata
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

CONFIG_FILE = "config.yaml"
METRICS_FILE = "metrics.parquet"
ENVIRONMENT_FILE = "environment.json"
SUMMARY_FILE = "summary.json"
CHECKPOINT_FILE = "checkpoint.npz"
RESULT_FILES = ("metrics.parquet", "grad_norms.parquet", "diagnostics.parquet")  # + summary

METRIC_COLUMNS = ("step", "split", "metric", "value")
STATUSES = ("completed", "diverged", "failed", "interrupted")
SUMMARY_KEYS = (
    "status",
    "cell",
    "task",
    "seq_len",
    "seed",
    "steps",  # steps actually taken (== train.steps when completed)
    "final_eval_loss",
    "baseline_loss",
    "solved",
    "wall_time_s",
    "steps_per_s",
    "config_hash",
)
_UMASK = os.umask(0)
os.umask(_UMASK)
FILE_MODE = 0o666 & ~_UMASK  # what open() would give; mkstemp's own default is 0o600

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


# --------------------------------------------------------------------------------- atomic writes


def atomic_write(path: str | os.PathLike, data: bytes) -> Path:
    """Write `data` to `path` atomically (temp file in the same directory, fsync, os.replace)."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "wb") as f:
            os.fchmod(f.fileno(), FILE_MODE)
            f.write(data)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        with suppress(OSError):
            os.unlink(tmp)
        raise
    return path


def to_jsonable(obj: Any) -> Any:
    """Plain JSON data: numpy scalars/arrays to Python, NaN and +-inf to None, paths to str."""
    if isinstance(obj, Mapping):
        return {str(k): to_jsonable(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return [to_jsonable(v) for v in obj]
    if isinstance(obj, np.ndarray):
        return to_jsonable(obj.tolist())
    if isinstance(obj, np.generic):
        obj = obj.item()
    if isinstance(obj, float) and not math.isfinite(obj):
        return None
    if isinstance(obj, os.PathLike):
        return os.fspath(obj)
    return obj


def write_json(path: str | os.PathLike, obj: Any) -> Path:
    """Strict JSON (no NaN/Infinity tokens), indented, atomically."""
    text = json.dumps(to_jsonable(obj), indent=2, sort_keys=True, allow_nan=False)
    return atomic_write(path, (text + "\n").encode())


def read_json(path: str | os.PathLike) -> Any:
    """Load JSON, refusing the NaN/Infinity tokens Python's json would otherwise accept."""

    def _reject(token: str) -> Any:
        raise ValueError(f"{path}: non-standard JSON token {token}")

    return json.loads(Path(path).read_text(), parse_constant=_reject)


def write_text(path: str | os.PathLike, text: str) -> Path:
    return atomic_write(path, text.encode())


def write_parquet(path: str | os.PathLike, frame: pd.DataFrame) -> Path:
    buf = io.BytesIO()
    frame.to_parquet(buf, index=False, engine="pyarrow")
    return atomic_write(path, buf.getvalue())


def write_npz(path: str | os.PathLike, arrays: Mapping[str, np.ndarray]) -> Path:
    """Arrays to .npz (no object arrays: they would need pickles to load)."""
    for name, a in arrays.items():
        if np.asarray(a).dtype == object:
            raise TypeError(f"npz array {name!r} has dtype object; store numbers only")
    buf = io.BytesIO()
    np.savez(buf, **arrays)
    return atomic_write(path, buf.getvalue())


def read_npz(path: str | os.PathLike) -> dict[str, np.ndarray]:
    with np.load(path, allow_pickle=False) as z:
        return {k: z[k] for k in z.files}


def remove_temporaries(run_dir: str | os.PathLike) -> list[Path]:
    """Delete the temporary files `atomic_write` leaves behind when a process is killed mid-write.

    Call it only while holding the run directory (the job lock): a live writer's temporary
    file looks the same.
    """
    gone = []
    for tmp in Path(run_dir).glob(".*.tmp"):
        with suppress(OSError):
            tmp.unlink()
            gone.append(tmp)
    return gone


# --------------------------------------------------------------------------------- RNG states


def _limbs(value: int) -> np.ndarray:
    """A non-negative integer of any size as little-endian uint64 words."""
    if value < 0:
        raise ValueError(f"cannot store negative RNG state word {value}")
    words = []
    while True:
        words.append(value & 0xFFFFFFFFFFFFFFFF)
        value >>= 64
        if not value:
            return np.asarray(words, dtype=np.uint64)


def rng_state_arrays(rng: np.random.Generator, prefix: str) -> dict[str, np.ndarray]:
    """``rng.bit_generator.state`` flattened to npz-safe arrays: ints as uint64 words, strs as
    unicode arrays, keyed ``prefix:path:to:field``."""
    out: dict[str, np.ndarray] = {}

    def walk(node: Any, key: str) -> None:
        if isinstance(node, Mapping):
            for k, v in node.items():
                walk(v, f"{key}:{k}")
        elif isinstance(node, str):
            out[key] = np.asarray(node)
        elif isinstance(node, (int, np.integer)) and not isinstance(node, bool):
            out[key] = _limbs(int(node))
        else:
            raise TypeError(f"RNG state field {key} is a {type(node).__name__}")

    walk(rng.bit_generator.state, prefix)
    return out


def load_rng_state(rng: np.random.Generator, arrays: Mapping[str, np.ndarray], prefix: str) -> None:
    """Set `rng`'s state from `rng_state_arrays` output (the inverse)."""
    state: dict[str, Any] = {}
    for key, a in arrays.items():
        if not key.startswith(prefix + ":"):
            continue
        *path, leaf = key[len(prefix) + 1 :].split(":")
        node = state
        for part in path:
            node = node.setdefault(part, {})
        if a.dtype.kind == "U":
            node[leaf] = str(a)
        else:
            node[leaf] = sum(int(w) << (64 * i) for i, w in enumerate(a.tolist()))
    if state.get("bit_generator") != type(rng.bit_generator).__name__:
        raise ValueError(f"checkpoint holds a {state.get('bit_generator')} state, not the rng's")
    rng.bit_generator.state = state


# --------------------------------------------------------------------------------- metrics


class MetricLog:
    """Rows of the long metric table, appended during the run: (step, split, metric, value)."""

    def __init__(self) -> None:
        self.rows: list[tuple[int, str, str, float]] = []

    def add(self, step: int, split: str, metrics: Mapping[str, float]) -> None:
        for name, value in metrics.items():
            self.rows.append((int(step), split, name, float(value)))

    def frame(self) -> pd.DataFrame:
        cols = list(zip(*self.rows, strict=True)) if self.rows else [[], [], [], []]
        return pd.DataFrame(
            {
                "step": np.asarray(cols[0], dtype=np.int64),
                "split": pd.Series(cols[1], dtype="string"),
                "metric": pd.Series(cols[2], dtype="string"),
                "value": np.asarray(cols[3], dtype=np.float64),
            }
        )

    def write(self, run_dir: str | os.PathLike) -> Path:
        return write_parquet(Path(run_dir) / METRICS_FILE, self.frame())

    def arrays(self, prefix: str = "metrics") -> dict[str, np.ndarray]:
        """The rows as npz-safe columns (for checkpoints); `load_arrays` is the inverse."""
        cols = list(zip(*self.rows, strict=True)) if self.rows else [[], [], [], []]
        return {
            f"{prefix}:step": np.asarray(cols[0], dtype=np.int64),
            f"{prefix}:split": np.asarray(cols[1], dtype=np.str_),
            f"{prefix}:metric": np.asarray(cols[2], dtype=np.str_),
            f"{prefix}:value": np.asarray(cols[3], dtype=np.float64),
        }

    def load_arrays(self, arrays: Mapping[str, np.ndarray], prefix: str = "metrics") -> None:
        cols = [arrays[f"{prefix}:{c}"].tolist() for c in METRIC_COLUMNS]
        self.rows = list(zip(*cols, strict=True))


# --------------------------------------------------------------------------------- summary


def write_summary(run_dir: str | os.PathLike, summary: Mapping[str, Any]) -> Path:
    """Write summary.json (call it last). Requires every key of SUMMARY_KEYS and a known status."""
    missing = [k for k in SUMMARY_KEYS if k not in summary]
    if missing:
        raise ValueError(f"summary lacks {', '.join(missing)}")
    if summary["status"] not in STATUSES:
        raise ValueError(f"summary status must be one of {STATUSES}, got {summary['status']!r}")
    return write_json(Path(run_dir) / SUMMARY_FILE, summary)


def read_summary(run_dir: str | os.PathLike) -> dict[str, Any] | None:
    """The run's summary, or None if absent or unreadable (a run that never finished)."""
    try:
        data = read_json(Path(run_dir) / SUMMARY_FILE)
    except (OSError, ValueError):
        return None
    return data if isinstance(data, dict) else None


FINISHED = ("completed", "diverged")  # deterministic outcomes of a config: a rerun repeats them


def finished(run_dir: str | os.PathLike, config_hash: str) -> dict[str, Any] | None:
    """The summary if this directory already holds a finished (completed or diverged) run of the
    same config; failed, interrupted and unfinished runs are not finished."""
    summary = read_summary(run_dir)
    if (
        summary
        and summary.get("status") in FINISHED
        and summary.get("config_hash") == config_hash
    ):
        return summary
    return None


# --------------------------------------------------------------------------------- job lock

LOCK_FILE = ".lock"


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


# --------------------------------------------------------------------------------- environment


def _version(package: str) -> str | None:
    try:
        return metadata.version(package)
    except metadata.PackageNotFoundError:
        return None


def _cpu_model() -> str:
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


def _blas_threads() -> list[dict[str, Any]]:
    from threadpoolctl import threadpool_info

    keep = ("user_api", "internal_api", "prefix", "version", "num_threads", "threading_layer")
    return [{k: info.get(k) for k in keep} for info in threadpool_info()]


def _floating_point() -> dict[str, Any]:
    """FTZ/DAZ mode of this (the kernels') thread and the kernels' JIT options."""
    from rnnbench.kernels._jit import JIT_OPTIONS

    try:
        from rnnbench import fpmode

        mode = fpmode.describe()
    except Exception as exc:  # an unsupported processor must not cost the run its record
        mode = {"error": f"{type(exc).__name__}: {exc}"}
    return {**mode, "jit_options": {k: str(v) for k, v in JIT_OPTIONS.items()}}


def environment(extra: Mapping[str, Any] | None = None) -> dict[str, Any]:
    """Where and with what the run ran. Call it inside the run's thread limits."""
    import numba

    package_dir = Path(__file__).resolve().parent
    record = {
        "python": sys.version.split()[0],
        "implementation": platform.python_implementation(),
        "platform": platform.platform(),
        "hostname": platform.node(),
        "cpu": {"model": _cpu_model(), "count": os.cpu_count(), "machine": platform.machine()},
        "packages": {p: _version(p) for p in PACKAGES},
        "threads": {
            "numba": numba.get_num_threads(),
            "numba_max": numba.config.NUMBA_NUM_THREADS,
            "numba_layer": numba.config.THREADING_LAYER,
            "blas": _blas_threads(),
        },
        "git": git_commit(package_dir),
        "floating_point": _floating_point(),
    }
    if extra:
        record.update(extra)
    return record


def write_environment(run_dir: str | os.PathLike, extra: Mapping[str, Any] | None = None) -> Path:
    return write_json(Path(run_dir) / ENVIRONMENT_FILE, environment(extra))


def missing_files(run_dir: str | os.PathLike, names: Iterable[str] | None = None) -> list[str]:
    """Which of the run files (default: all four) are absent from `run_dir`."""
    names = names or (CONFIG_FILE, METRICS_FILE, ENVIRONMENT_FILE, SUMMARY_FILE)
    return [n for n in names if not (Path(run_dir) / n).is_file()]
