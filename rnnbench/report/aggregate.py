"""The one reader of run directories: the report, the gradient figures and the studies use it.

A *run directory* is any directory holding one of the files a run writes (``summary.json``,
``config.yaml``, ``metrics.parquet``, or Hydra's ``.hydra/``). Everything else under the given
roots (the sweep's ``multirun.yaml``, logs, an earlier report) is ignored.

Every run becomes one row of `Sweep.runs`: the flattened resolved config (``model.cell``,
``task.seq_len``, ...), the summary keys, and a few derived columns (``run``, ``status``,
``final_eval_<metric>``, ``error``). A run without ``summary.json`` is ``unfinished`` (still
running, or killed before it could write one). A file that cannot be read, is truncated, too
large, has the wrong schema or is not ours is named once in `Sweep.problems` and skipped; a
summary value of the wrong type is named and ignored (the run stays in the table). Nothing here
raises on bad input; `--strict` (in ``__main__``) turns any problem into a clean failure.
"""

from __future__ import annotations

import json
import os
import types
import typing
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from ..diagnostics import DIAGNOSTICS_FILE, GRAD_NORMS_FILE
from ..runs import CONFIG_FILE, METRICS_FILE, STATUSES, SUMMARY_FILE, Summary
from .files import Bad, flatten, read_mapping, read_table, read_text

HYDRA_CONFIG = os.path.join(".hydra", "config.yaml")
TRACEBACK_FILES = ("traceback.txt", "error.txt")  # a failed job's traceback, if the app left one

UNFINISHED = "unfinished"  # no summary.json: running, or killed before the end
UNREADABLE = "unreadable"  # summary.json exists but could not be read
ALL_STATUSES = (*STATUSES, UNFINISHED, UNREADABLE)

METRIC_SCHEMA = {"step": "integer", "split": "string", "metric": "string", "value": "floating"}
GRAD_SCHEMA = {"step": "integer", "layer": "integer", "t": "integer", "norm": "floating"}
DIAG_SCHEMA = {"step": "integer", "quantity": "string", "value": "floating"}
DIAG_COLUMNS = ("step", "quantity", "layer", "name", "t", "value")
RUN_MARKERS = (SUMMARY_FILE, CONFIG_FILE, METRICS_FILE, HYDRA_CONFIG)

_NUMBER, _INT = (int, float), (int,)


def _summary_types() -> dict[str, tuple[tuple[type, ...], bool]]:
    """{key: (accepted JSON types, may be null)} from the fields of `runs.Summary`, the one
    definition of summary.json (a float field takes a JSON integer too)."""
    out = {}
    for name, hint in typing.get_type_hints(Summary).items():
        args = typing.get_args(hint) if isinstance(hint, types.UnionType) else (hint,)
        kinds = [typing.get_origin(a) or a for a in args if a is not type(None)]
        accepted = {float: _NUMBER, int: _INT}.get(kinds[0], tuple(kinds)) if kinds else ()
        out[name] = (accepted, type(None) in args)
    out.pop("status")  # checked on its own: an unknown status makes the file unreadable
    return out


SUMMARY_TYPES = _summary_types()


@dataclass
class Problem:
    """A file (or a value in it) the report could not use, why, and what was done (one line)."""

    path: Path
    reason: str
    action: str = "skipped"

    def __str__(self) -> str:
        return f"{self.path}: {self.reason}; {self.action}"


@dataclass
class Sweep:
    """All runs under some roots: `runs` (one row per run), and the long tables of their logs."""

    roots: list[Path]
    runs: pd.DataFrame
    metrics: pd.DataFrame  # run, step, split, metric, value
    grad_norms: pd.DataFrame  # run, step, layer, t, norm
    problems: list[Problem] = field(default_factory=list)
    diagnostics: pd.DataFrame = field(default_factory=pd.DataFrame)  # run, *DIAG_COLUMNS

    @property
    def finished(self) -> pd.DataFrame:
        """Runs that reached a terminal state with a readable summary."""
        return self.runs[self.runs["status"].isin(STATUSES)]


# --------------------------------------------------------------------------------- discovery


def find_run_dirs(root: Path) -> list[Path]:
    """Directories under `root` (itself included) holding a run's files, in sorted order.
    Symbolic links to directories are not followed (a link loop cannot trap the walk)."""
    found = []
    for dirpath, dirnames, _ in os.walk(root):
        dirnames[:] = sorted(d for d in dirnames if d != ".hydra" and not d.startswith(".submitit"))
        here = Path(dirpath)
        if any((here / m).is_file() for m in RUN_MARKERS):
            found.append(here)
    return found


# --------------------------------------------------------------------------------- readers


def _type_name(types_: tuple[type, ...]) -> str:
    names = {_NUMBER: "a number", _INT: "an integer", (bool,): "true or false"}
    names |= {(str,): "a string", (dict,): "an object"}
    return names.get(types_, " or ".join(f"a {t.__name__}" for t in types_))


def _wrong_type(value: Any, types: tuple[type, ...], nullable: bool) -> bool:
    if value is None:
        return not nullable
    if isinstance(value, bool) and bool not in types:
        return True  # JSON true is not a number here
    return not isinstance(value, types)


def read_summary(path: Path, problems: list[Problem] | None = None) -> dict[str, Any]:
    """summary.json, strictly: Bad if it is not an rnnbench summary; a value of the wrong type
    is dropped and named in `problems` (with --strict that is an error)."""
    data = read_mapping(path, "json")
    if "status" not in data:
        raise Bad("no 'status' key: not an rnnbench summary (foreign file?)")
    if data["status"] not in STATUSES:
        raise Bad(f"unknown status {data['status']!r} (expected one of {', '.join(STATUSES)})")
    for key, (accepted, nullable) in SUMMARY_TYPES.items():
        if key in data and _wrong_type(data[key], accepted, nullable):
            if problems is not None:
                shown = json.dumps(data[key])[:40]
                reason = f"{key} = {shown} is not {_type_name(accepted)}"
                problems.append(Problem(path, reason, "value ignored"))
            data[key] = None
    final = data.get("final_eval") or {}
    for metric, value in list(final.items()):
        if _wrong_type(value, _NUMBER, True):
            if problems is not None:
                reason = f"final_eval.{metric} = {json.dumps(value)[:40]} is not a number"
                problems.append(Problem(path, reason, "value ignored"))
            final.pop(metric)
    return data


def read_config(path: Path) -> dict[str, Any]:
    data = read_mapping(path, "yaml")
    if "model" not in data or "task" not in data:
        raise Bad("no 'model' or 'task' section: not an rnnbench config (foreign file?)")
    return data


def read_metrics(path: Path) -> pd.DataFrame:
    frame = read_table(path, METRIC_SCHEMA)[list(METRIC_SCHEMA)].dropna(subset=["step"])
    frame["value"] = pd.to_numeric(frame["value"], errors="coerce").astype("float64")
    return frame.astype({"step": "int64", "split": "string", "metric": "string"})


def read_grad_norms(path: Path) -> pd.DataFrame:
    frame = read_table(path, GRAD_SCHEMA)
    frame = frame[[*GRAD_SCHEMA, *(["finite"] if "finite" in frame.columns else [])]]
    frame = frame.dropna(subset=["step", "layer", "t"])
    frame = frame.astype({"step": "int64", "layer": "int64", "t": "int64"})
    frame["norm"] = pd.to_numeric(frame["norm"], errors="coerce").astype("float64")  # NA -> NaN
    if "finite" in frame.columns:  # diagnostics logs non-finite norms as null + finite=False
        frame.loc[~frame["finite"].fillna(False).astype(bool), "norm"] = np.nan
        frame = frame.drop(columns="finite")
    return frame


def read_diagnostics(path: Path) -> pd.DataFrame:
    """diagnostics.parquet: step, quantity, layer, name, t, value (NaN where not finite)."""
    frame = read_table(path, DIAG_SCHEMA)
    for col in DIAG_COLUMNS:
        if col not in frame.columns:
            frame[col] = pd.NA
    frame = frame[list(DIAG_COLUMNS)].dropna(subset=["step"])
    frame["value"] = pd.to_numeric(frame["value"], errors="coerce").astype("float64")
    frame["layer"] = pd.to_numeric(frame["layer"], errors="coerce")
    frame["t"] = pd.to_numeric(frame["t"], errors="coerce")
    return frame.astype({"step": "int64", "quantity": "string"})


# --------------------------------------------------------------------------------- one run


def _read(path: Path, reader, problems: list[Problem], *args):
    """reader(path, *args), or None with the problem named (absent files are no problem)."""
    if not path.is_file():
        return None
    try:
        return reader(path, *args)
    except (Bad, OSError) as e:
        reason = str(e) if isinstance(e, Bad) else f"cannot be read ({e.strerror or e})"
        problems.append(Problem(path, reason))
        return None


def _config_columns(run_dir: Path, problems: list[Problem]) -> dict[str, Any]:
    for rel in (CONFIG_FILE, HYDRA_CONFIG):  # ours is resolved; Hydra's is the fallback
        config = _read(run_dir / rel, read_config, problems)
        if config is not None:
            config.pop("hydra", None)
            return flatten(config)
    return {}


def _summary_columns(run_dir: Path, problems: list[Problem]) -> dict[str, Any]:
    path = run_dir / SUMMARY_FILE
    if not path.exists():
        return {"status": UNFINISHED}
    summary = _read(path, read_summary, problems, problems)
    if summary is None:
        if not path.is_file():
            problems.append(Problem(path, "not a regular file"))
        return {"status": UNREADABLE}
    final_eval = summary.pop("final_eval", None) or {}
    row = flatten(summary)  # the summary wins where it repeats a config key (seed)
    for k, v in final_eval.items():  # {"loss": .., "accuracy": ..} at the last eval
        row.setdefault(f"final_eval_{k}", v)
    return row


def _error_columns(run_dir: Path, row: dict[str, Any]) -> dict[str, Any]:
    """The last line of a traceback file the job left, and which file holds its traceback."""
    out: dict[str, Any] = {}
    for fname in TRACEBACK_FILES:
        if (run_dir / fname).is_file():
            if not row.get("error"):
                try:
                    text = read_text(run_dir / fname, limit=1 << 16)
                    lines = [ln.strip() for ln in text.splitlines() if ln.strip()]
                    out["error"] = lines[-1] if lines else ""
                except (Bad, OSError):
                    pass
            out["traceback_file"] = fname
            return out
    if row.get("status") in ("failed", "interrupted"):
        for log_file in sorted(run_dir.glob("*.log")):  # Hydra's job log (rnnbench.log)
            try:
                if "Traceback (most recent call last)" in log_file.read_text(errors="replace"):
                    return {"traceback_file": log_file.name}
            except OSError:
                pass
    return out


def _final_metric_columns(metrics: pd.DataFrame, row: dict[str, Any]) -> dict[str, Any]:
    """final_<split>_<metric> from the last logged value of every evaluation metric (whatever
    the task logs: loss, accuracy, bits per symbol, lengths other than the trained one, ...)."""
    out: dict[str, Any] = {}
    last = 0
    for (split, metric), m in metrics[metrics["split"] != "train"].groupby(["split", "metric"]):
        m = m.sort_values("step")
        key = f"final_{split}_{metric}"
        if key not in row:
            out[key] = float(m["value"].iloc[-1])
        if (split, metric) == ("eval", "loss"):
            out["first_eval_loss"] = float(m["value"].iloc[0])  # before training, usually
        last = max(last, int(m["step"].iloc[-1]))
    if last:
        out["last_logged_step"] = last
    return out


def read_run(
    run_dir: Path, name: str, problems: list[Problem]
) -> tuple[dict, pd.DataFrame | None, pd.DataFrame | None, pd.DataFrame | None]:
    """One row for the runs table, and the run's metric, grad-norm and diagnostics tables."""
    config = _config_columns(run_dir, problems)
    row: dict[str, Any] = {"run": name, **config, "_config": set(config)}
    row.update(_summary_columns(run_dir, problems))
    row.update(_error_columns(run_dir, row))
    metrics = _read(run_dir / METRICS_FILE, read_metrics, problems)
    grads = _read(run_dir / GRAD_NORMS_FILE, read_grad_norms, problems)
    diags = _read(run_dir / DIAGNOSTICS_FILE, read_diagnostics, problems)
    if metrics is not None and len(metrics):
        row.update(_final_metric_columns(metrics, row))
    return row, metrics, grads, diags


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
IDENTITY = {
    "cell": "model.cell",
    "task": "task.name",
    "seq_len": "task.seq_len",
    "seed": "seed",
    "hidden_size": "model.hidden_size",
}


def _tidy(rows: list[dict], config_columns: set[str]) -> pd.DataFrame:
    """The runs table: core columns first, identity filled from the config, ints as Int64;
    ``attrs["config_columns"]`` names the columns that came from config.yaml."""
    runs = pd.DataFrame(rows)
    for col in CORE_COLUMNS:
        if col not in runs.columns:
            runs[col] = pd.Series(dtype=object)
    for col, cfg_col in IDENTITY.items():  # unfinished runs have only their config
        if cfg_col in runs.columns:
            if col not in runs.columns:
                runs[col] = runs[cfg_col]
            elif col != cfg_col:
                runs[col] = runs[col].where(runs[col].notna(), runs[cfg_col])
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
    runs.attrs["config_columns"] = sorted(config_columns)
    return runs


def _concat(frames: list[pd.DataFrame], columns) -> pd.DataFrame:
    if frames:
        return pd.concat(frames, ignore_index=True)
    return pd.DataFrame({c: pd.Series(dtype="object") for c in ("run", *columns)})


def check_root(root: Path) -> str | None:
    """Why `root` cannot be read as a sweep or run directory (one line), or None."""
    try:
        root.stat()
    except OSError as e:
        if e.errno == 40:  # ELOOP
            return "a symbolic link loop"
        return "no such directory"
    if not root.is_dir():
        return "not a directory (expected a sweep or run directory)"
    return None


def load(roots: list[str | os.PathLike]) -> Sweep:
    """Every run under `roots`, with the problems met on the way (never raises on bad files)."""
    problems: list[Problem] = []
    rows, tables = [], {"metrics": [], "grads": [], "diags": []}
    config_columns: set[str] = set()
    root_paths = [Path(r) for r in roots]
    multi = len(root_paths) > 1
    for root in root_paths:
        if (why := check_root(root)) is not None:
            problems.append(Problem(root, why))
            continue
        dirs = find_run_dirs(root)
        if not dirs:
            problems.append(Problem(root, "no run directories found (empty or foreign directory)"))
        for run_dir in dirs:
            rel = run_dir.relative_to(root).as_posix()
            name = f"{root.name}/{rel}" if multi else rel
            if name in ("", "."):
                name = root.name
            row, *frames = read_run(run_dir, name, problems)
            config_columns |= row.pop("_config")
            rows.append(row)
            for key, frame in zip(tables, frames, strict=True):
                if frame is not None:
                    tables[key].append(frame.assign(run=name))
    return Sweep(
        root_paths,
        _tidy(rows, config_columns),
        _concat(tables["metrics"], METRIC_SCHEMA),
        _concat(tables["grads"], GRAD_SCHEMA),
        problems,
        _concat(tables["diags"], DIAG_COLUMNS),
    )


def status_counts(runs: pd.DataFrame) -> dict[str, int]:
    counts = runs["status"].value_counts()
    return {s: int(counts.get(s, 0)) for s in ALL_STATUSES if counts.get(s, 0)}
