"""The one atomic writer: every file rnnbench writes (JSON, YAML, parquet, npz, CSV, PNG) goes here.

`atomic_write` writes to a temporary file in the target's directory, flushes it to disk, then
renames it over the target with `os.replace`. A reader, or a process killed at any moment,
sees the complete old file, the complete new one, or none; never a truncated one. The
temporary file is named ``.<name>.<random>.tmp``; `remove_temporaries` deletes those a killed
writer left behind.

JSON is strict: NaN and +-Infinity become null, ``allow_nan=False`` guarantees no such token
is ever written, and `read_json` refuses them. Arrays go to ``.npz`` without object arrays, so
every load uses ``allow_pickle=False``.

    atomic_write(path, data_or_write_fn)   bytes, or a function writing to a binary file
    write_text / write_json / write_parquet / write_csv / write_npz / save_figure(fig, path)
    read_json / read_npz
"""

from __future__ import annotations

import io
import json
import math
import os
import tempfile
from collections.abc import Callable, Mapping
from contextlib import suppress
from pathlib import Path
from typing import Any, BinaryIO

import numpy as np
import pandas as pd

_UMASK = os.umask(0)
os.umask(_UMASK)
FILE_MODE = 0o666 & ~_UMASK  # what open() would give; mkstemp's own default is 0o600


def atomic_write(path: str | os.PathLike, data: bytes | Callable[[BinaryIO], Any]) -> Path:
    """Write `data` (bytes, or ``write_fn(file)``) to `path` atomically: temp file in the same
    directory, fsync, os.replace. The parent directory is created if missing."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "wb") as f:
            os.fchmod(f.fileno(), FILE_MODE)
            if callable(data):
                data(f)
            else:
                f.write(data)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        with suppress(OSError):
            os.unlink(tmp)
        raise
    return path


def _bytes_of(write_fn: Callable[[io.BytesIO], Any]) -> bytes:
    """What `write_fn` writes to a buffer (for writers that seek or need a real file object)."""
    buf = io.BytesIO()
    write_fn(buf)
    return buf.getvalue()


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
    """Strict JSON (no NaN/Infinity tokens), indented, keys sorted, atomically."""
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
    data = _bytes_of(lambda buf: frame.to_parquet(buf, index=False, engine="pyarrow"))
    return atomic_write(path, data)


def write_csv(path: str | os.PathLike, frame: pd.DataFrame, **to_csv: Any) -> Path:
    """`frame.to_csv` (index dropped unless ``index=True`` is passed), atomically."""
    to_csv.setdefault("index", False)
    return atomic_write(path, frame.to_csv(**to_csv).encode())


def save_figure(fig: Any, path: str | os.PathLike, **savefig: Any) -> Path:
    """`fig.savefig(path, **savefig)` atomically; the format is the path's suffix."""
    savefig.setdefault("format", Path(path).suffix.lstrip(".") or "png")
    return atomic_write(path, _bytes_of(lambda buf: fig.savefig(buf, **savefig)))


def write_npz(path: str | os.PathLike, arrays: Mapping[str, np.ndarray]) -> Path:
    """Arrays to .npz (no object arrays: they would need pickles to load)."""
    for name, a in arrays.items():
        if np.asarray(a).dtype == object:
            raise TypeError(f"npz array {name!r} has dtype object; store numbers only")
    return atomic_write(path, _bytes_of(lambda buf: np.savez(buf, **arrays)))


def read_npz(path: str | os.PathLike) -> dict[str, np.ndarray]:
    with np.load(path, allow_pickle=False) as z:
        return {k: z[k] for k in z.files}


def remove_temporaries(directory: str | os.PathLike) -> list[Path]:
    """Delete the temporary files `atomic_write` leaves behind when a process is killed mid-write.

    Call it only while holding the directory (a run's job lock): a live writer's temporary
    file looks the same.
    """
    gone = []
    for tmp in Path(directory).glob(".*.tmp"):
        with suppress(OSError):
            tmp.unlink()
            gone.append(tmp)
    return gone
