"""Read the run directories a sweep left on disk into tables; never re-run anything.

A *run directory* is any directory holding one of the files a run writes (``summary.json``,
``config.yaml``, ``metrics.parquet``, or Hydra's ``.hydra/``). Everything else under the given
roots (the sweep's ``multirun.yaml``, logs, an earlier report) is ignored.

Every run becomes one row of `Sweep.runs`: the flattened resolved config (``model.cell``,
``task.seq_len``, ...), the summary keys, and a few derived columns (``run``, ``status``,
``final_eval_accuracy``, ``error``). A run without ``summary.json`` is ``unfinished`` (still
running, or killed before it could write one). A file that cannot be read, is truncated, has the
wrong schema or is not ours is named once in `Sweep.problems` and skipped; nothing here raises on
bad input. `--strict` (in ``__main__``) turns any problem into a clean failure.
"""

from __future__ import annotations

import json
import logging
import os
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pyarrow.parquet as pq
import yaml

from ..runs import CONFIG_FILE, METRICS_FILE, STATUSES, SUMMARY_FILE

log = logging.getLogger(__name__)

GRAD_NORMS_FILE = "grad_norms.parquet"  # written by rnnbench.diagnostics
HYDRA_CONFIG = os.path.join(".hydra", "config.yaml")
TRACEBACK_FILES = ("traceback.txt", "error.txt")  # a failed job's traceback, if the app left one

UNFINISHED = "unfinished"  # no summary.json: running, or killed before the end
UNREADABLE = "unreadable"  # summary.json exists but could not be read
ALL_STATUSES = (*STATUSES, UNFINISHED, UNREADABLE)

METRIC_SCHEMA = {"step": "integer", "split": "string", "metric": "string", "value": "floating"}
GRAD_SCHEMA = {"step": "integer", "layer": "integer", "t": "integer", "norm": "floating"}
RUN_MARKERS = (SUMMARY_FILE, CONFIG_FILE, METRICS_FILE, HYDRA_CONFIG)


@dataclass
class Problem:
    """A file the report could not use, and why (one line)."""

    path: Path
    reason: str

    def __str__(self) -> str:
        return f"{self.path}: {self.reason}; skipped"


@dataclass
class Sweep:
    """All runs under some roots: `runs` (one row per run), `metrics` and `grad_norms` (long)."""

    roots: list[Path]
    runs: pd.DataFrame
    metrics: pd.DataFrame  # run, step, split, metric, value
    grad_norms: pd.DataFrame  # run, step, layer, t, norm
    problems: list[Problem] = field(default_factory=list)

    @property
    def finished(self) -> pd.DataFrame:
        """Runs that reached a terminal state with a readable summary."""
        return self.runs[self.runs["status"].isin(STATUSES)]


# --------------------------------------------------------------------------------- discovery


def find_run_dirs(root: Path) -> list[Path]:
    """Directories under `root` (itself included) holding a run's files, in sorted order."""
    found = []
    for dirpath, dirnames, _ in os.walk(root):
        dirnames[:] = sorted(d for d in dirnames if d != ".hydra" and not d.startswith(".submitit"))
        here = Path(dirpath)
        if any((here / m).is_file() for m in RUN_MARKERS):
            found.append(here)
    return found


# --------------------------------------------------------------------------------- readers


class _Bad(Exception):
    """A file that cannot be used; the message says why."""


def _read_json_object(path: Path) -> dict[str, Any]:
    def reject(token: str) -> Any:
        raise _Bad(f"non-standard JSON token {token}")

    try:
        data = json.loads(path.read_text(), parse_constant=reject)
    except UnicodeDecodeError as e:
        raise _Bad("not a text file (foreign or corrupt)") from e
    except json.JSONDecodeError as e:
        raise _Bad(f"not valid JSON (truncated or corrupt: {e.msg} at line {e.lineno})") from e
    if not isinstance(data, dict):
        raise _Bad(f"expected a JSON object, found {type(data).__name__} (foreign file?)")
    return data


def read_summary(path: Path) -> dict[str, Any]:
    data = _read_json_object(path)
    if "status" not in data:
        raise _Bad("no 'status' key: not an rnnbench summary (foreign file?)")
    if data["status"] not in STATUSES:
        raise _Bad(f"unknown status {data['status']!r} (expected one of {', '.join(STATUSES)})")
    return data


def read_config(path: Path) -> dict[str, Any]:
    try:
        data = yaml.safe_load(path.read_text())
    except UnicodeDecodeError as e:
        raise _Bad("not a text file (foreign or corrupt)") from e
    except yaml.YAMLError as e:
        raise _Bad(f"not valid YAML ({str(e).splitlines()[0]})") from e
    if not isinstance(data, dict):
        raise _Bad(f"expected a mapping, found {type(data).__name__} (foreign file?)")
    if "model" not in data or "task" not in data:
        raise _Bad("no 'model' or 'task' section: not an rnnbench config (foreign file?)")
    return data


def _read_table(path: Path, schema: dict[str, str]) -> pd.DataFrame:
    try:
        table = pq.read_table(path)
    except Exception as e:  # pyarrow raises several types for truncated or foreign files
        first = str(e).splitlines()[0] if str(e) else type(e).__name__
        first = re.sub(r"^Could not open Parquet input source '[^']*': ", "", first)
        raise _Bad(f"not a readable Parquet file (truncated or corrupt: {first})") from e
    frame = table.to_pandas()
    missing = [c for c in schema if c not in frame.columns]
    if missing:
        raise _Bad(
            f"wrong schema: missing column(s) {', '.join(missing)}; "
            f"expected {', '.join(schema)}, found {', '.join(map(str, frame.columns)) or 'none'}"
        )
    for col, kind in schema.items():
        inferred = pd.api.types.infer_dtype(frame[col], skipna=True)
        ok = inferred == kind or (
            kind == "floating" and inferred in ("integer", "mixed-integer-float")
        )
        if not ok and not frame[col].isna().all():
            raise _Bad(f"wrong schema: column {col!r} holds {inferred}, expected {kind}")
    return frame


def read_metrics(path: Path) -> pd.DataFrame:
    frame = _read_table(path, METRIC_SCHEMA)[list(METRIC_SCHEMA)].dropna(subset=["step"])
    frame["value"] = pd.to_numeric(frame["value"], errors="coerce").astype("float64")
    return frame.astype({"step": "int64", "split": "string", "metric": "string"})


def read_grad_norms(path: Path) -> pd.DataFrame:
    frame = _read_table(path, GRAD_SCHEMA)
    frame = frame[[*GRAD_SCHEMA, *(["finite"] if "finite" in frame.columns else [])]]
    frame = frame.dropna(subset=["step", "layer", "t"])
    frame = frame.astype({"step": "int64", "layer": "int64", "t": "int64"})
    frame["norm"] = pd.to_numeric(frame["norm"], errors="coerce").astype("float64")  # NA -> NaN
    if "finite" in frame.columns:  # diagnostics logs non-finite norms as null + finite=False
        frame.loc[~frame["finite"].fillna(False).astype(bool), "norm"] = np.nan
        frame = frame.drop(columns="finite")
    return frame


# --------------------------------------------------------------------------------- flattening


def flatten(tree: dict[str, Any], prefix: str = "") -> dict[str, Any]:
    """{"model": {"cell": "lstm"}} -> {"model.cell": "lstm"}; lists become strings."""
    out: dict[str, Any] = {}
    for key, value in tree.items():
        name = f"{prefix}{key}"
        if isinstance(value, dict):
            out.update(flatten(value, f"{name}."))
        elif isinstance(value, list):
            out[name] = json.dumps(value)
        else:
            out[name] = value
    return out


def _last_line(text: str) -> str:
    lines = [ln.strip() for ln in text.strip().splitlines() if ln.strip()]
    return lines[-1] if lines else ""


# --------------------------------------------------------------------------------- one run


def read_run(
    run_dir: Path, name: str, problems: list[Problem]
) -> tuple[dict, pd.DataFrame | None, pd.DataFrame | None]:
    """One row for the runs table, and the run's metric and grad-norm tables (or None)."""
    row: dict[str, Any] = {"run": name}

    config = None
    for rel in (CONFIG_FILE, HYDRA_CONFIG):  # ours is resolved; Hydra's is the fallback
        path = run_dir / rel
        if path.is_file():
            try:
                config = read_config(path)
                break
            except (_Bad, OSError) as e:
                problems.append(Problem(path, str(e)))
    if config is not None:
        config.pop("hydra", None)
        row.update(flatten(config))

    summary_path = run_dir / SUMMARY_FILE
    if summary_path.is_file():
        try:
            summary = read_summary(summary_path)
            final_eval = summary.pop("final_eval", None)
            row.update(flatten(summary))  # the summary wins where it repeats a config key (seed)
            if isinstance(final_eval, dict):  # {"loss": .., "accuracy": ..} at the last eval
                for k, v in final_eval.items():
                    row.setdefault(f"final_eval_{k}", v)
        except (_Bad, OSError) as e:
            problems.append(Problem(summary_path, str(e)))
            row["status"] = UNREADABLE
    else:
        row["status"] = UNFINISHED

    if not row.get("error"):
        for fname in TRACEBACK_FILES:
            path = run_dir / fname
            if path.is_file():
                try:
                    row["error"] = _last_line(path.read_text(errors="replace"))
                except OSError:
                    pass
                row["traceback_file"] = fname
                break
    if row.get("status") in ("failed", "interrupted") and "traceback_file" not in row:
        for log_file in sorted(run_dir.glob("*.log")):  # Hydra's job log (rnnbench.log)
            try:
                if "Traceback (most recent call last)" in log_file.read_text(errors="replace"):
                    row["traceback_file"] = log_file.name
                    break
            except OSError:
                pass

    metrics = grads = None
    if (run_dir / METRICS_FILE).is_file():
        try:
            metrics = read_metrics(run_dir / METRICS_FILE)
        except (_Bad, OSError) as e:
            problems.append(Problem(run_dir / METRICS_FILE, str(e)))
    if (run_dir / GRAD_NORMS_FILE).is_file():
        try:
            grads = read_grad_norms(run_dir / GRAD_NORMS_FILE)
        except (_Bad, OSError) as e:
            problems.append(Problem(run_dir / GRAD_NORMS_FILE, str(e)))

    if metrics is not None and len(metrics):
        ev = metrics[metrics["split"] == "eval"]
        for metric in ("loss", "accuracy"):
            m = ev[ev["metric"] == metric].sort_values("step")
            if len(m):
                row.setdefault(f"final_eval_{metric}", float(m["value"].iloc[-1]))
                row["last_logged_step"] = int(
                    max(row.get("last_logged_step", 0), m["step"].iloc[-1])
                )
    return row, metrics, grads


# --------------------------------------------------------------------------------- all runs

# Columns every runs table has, whatever the runs held (a partial sweep may lack most).
CORE_COLUMNS = (
    "run",
    "status",
    "cell",
    "task",
    "seq_len",
    "seed",
    "steps",
    "final_eval_loss",
    "final_eval_accuracy",
    "baseline_loss",
    "solved",
    "wall_time_s",
    "steps_per_s",
    "error",
)


def _fill_identity(runs: pd.DataFrame) -> pd.DataFrame:
    """cell/task/seq_len/seed from the config where the summary is missing (unfinished runs)."""
    for col, cfg_col in (
        ("cell", "model.cell"),
        ("task", "task.name"),
        ("seq_len", "task.seq_len"),
        ("seed", "seed"),
        ("hidden_size", "model.hidden_size"),
    ):
        if cfg_col in runs.columns:
            if col not in runs.columns:
                runs[col] = runs[cfg_col]
            elif col != cfg_col:
                runs[col] = runs[col].where(runs[col].notna(), runs[cfg_col])
    return runs


def load(roots: list[str | os.PathLike]) -> Sweep:
    """Every run under `roots`, with the problems met on the way (never raises on bad files)."""
    problems: list[Problem] = []
    rows, metric_frames, grad_frames = [], [], []
    root_paths = [Path(r) for r in roots]
    multi = len(root_paths) > 1
    for root in root_paths:
        if not root.exists():
            problems.append(Problem(root, "no such directory"))
            continue
        if not root.is_dir():
            problems.append(Problem(root, "not a directory (expected a sweep or run directory)"))
            continue
        dirs = find_run_dirs(root)
        if not dirs:
            problems.append(Problem(root, "no run directories found (empty or foreign directory)"))
        for run_dir in dirs:
            rel = run_dir.relative_to(root).as_posix()
            name = f"{root.name}/{rel}" if multi else rel
            if name in ("", "."):
                name = root.name
            row, metrics, grads = read_run(run_dir, name, problems)
            rows.append(row)
            if metrics is not None:
                metric_frames.append(metrics.assign(run=name))
            if grads is not None:
                grad_frames.append(grads.assign(run=name))

    runs = pd.DataFrame(rows)
    for col in CORE_COLUMNS:
        if col not in runs.columns:
            runs[col] = pd.Series(dtype=object)
    runs = _fill_identity(runs)
    for col in ("seq_len", "seed", "steps", "hidden_size"):  # ints, even with gaps (Int64)
        if col in runs.columns:
            num = pd.to_numeric(runs[col], errors="coerce")
            if (num.dropna() % 1 == 0).all():
                runs[col] = num.astype("Int64")
    if len(runs):
        runs["solved"] = runs["solved"].map(
            lambda v: bool(v) if isinstance(v, bool | np.bool_) else v
        )
        sort = [c for c in ("task", "cell", "seq_len", "seed", "run") if runs[c].notna().any()]
        runs = runs.sort_values(sort, na_position="last", kind="stable").reset_index(drop=True)
    front = [c for c in CORE_COLUMNS if c in runs.columns]
    runs = runs[front + sorted(c for c in runs.columns if c not in front)]

    metrics = (
        pd.concat(metric_frames, ignore_index=True)
        if metric_frames
        else pd.DataFrame({c: pd.Series(dtype="object") for c in ("run", *METRIC_SCHEMA)})
    )
    grads = (
        pd.concat(grad_frames, ignore_index=True)
        if grad_frames
        else pd.DataFrame({c: pd.Series(dtype="object") for c in ("run", *GRAD_SCHEMA)})
    )
    return Sweep(root_paths, runs, metrics, grads, problems)


def status_counts(runs: pd.DataFrame) -> dict[str, int]:
    counts = runs["status"].value_counts()
    return {s: int(counts.get(s, 0)) for s in ALL_STATUSES if counts.get(s, 0)}
