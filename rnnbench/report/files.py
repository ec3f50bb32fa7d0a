"""Decoding the files a run wrote, and writing what the report makes; every failure is one line.

Readers raise `Bad` with a one-line reason (truncated, corrupt, foreign, too large, wrong schema);
the caller names the file and skips it. Writers go through the project's one atomic writer,
`rnnbench.io` (temporary file in the same directory, fsync, rename), so a report interrupted
half-way never leaves half a PNG or CSV behind.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pandas as pd
import pyarrow.parquet as pq
import yaml

from .. import io

# A summary.json or config.yaml is a few kB; anything this large is not one of ours, and reading
# it whole (a 2 GB file took 20 s and 4 GB of memory) is refused.
MAX_TEXT_BYTES = 1 << 20


class Bad(Exception):
    """A file that cannot be used; the message says why, in one line."""


# --------------------------------------------------------------------------------- reading


def read_text(path: Path, limit: int = MAX_TEXT_BYTES) -> str:
    """The file's text; Bad if it is larger than `limit` bytes (never read whole) or not UTF-8."""
    with open(path, "rb") as f:
        data = f.read(limit + 1)
    if len(data) > limit:
        size = path.stat().st_size
        raise Bad(f"{size} bytes, over the {limit}-byte limit for this file (not read)")
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError as e:
        raise Bad("not a text file (foreign or corrupt)") from e


def _reject_constant(token: str) -> Any:
    raise Bad(f"non-standard JSON token {token}")


def _parse_json(text: str) -> Any:
    try:
        return json.loads(text, parse_constant=_reject_constant)
    except json.JSONDecodeError as e:
        raise Bad(f"not valid JSON (truncated or corrupt: {e.msg} at line {e.lineno})") from e


def _parse_yaml(text: str) -> Any:
    try:
        return yaml.safe_load(text)
    except yaml.YAMLError as e:
        raise Bad(f"not valid YAML ({str(e).splitlines()[0]})") from e


def read_mapping(path: Path, kind: str = "json") -> dict[str, Any]:
    """A JSON object or YAML mapping from `path` (kind "json" or "yaml"), or Bad."""
    parse: Callable[[str], Any] = _parse_json if kind == "json" else _parse_yaml
    data = parse(read_text(path))
    if not isinstance(data, dict):
        what = "a JSON object" if kind == "json" else "a mapping"
        raise Bad(f"expected {what}, found {type(data).__name__} (foreign file?)")
    return data


def read_table(path: Path, schema: dict[str, str]) -> pd.DataFrame:
    """A Parquet table holding at least `schema`'s columns, each of the inferred kind given."""
    try:
        frame = pq.read_table(path).to_pandas()
    except Exception as e:  # pyarrow raises several types for truncated or foreign files
        first = str(e).splitlines()[0] if str(e) else type(e).__name__
        first = re.sub(r"^Could not open Parquet input source '[^']*': ", "", first)
        raise Bad(f"not a readable Parquet file (truncated or corrupt: {first})") from e
    missing = [c for c in schema if c not in frame.columns]
    if missing:
        raise Bad(
            f"wrong schema: missing column(s) {', '.join(missing)}; "
            f"expected {', '.join(schema)}, found {', '.join(map(str, frame.columns)) or 'none'}"
        )
    for col, kind in schema.items():
        inferred = pd.api.types.infer_dtype(frame[col], skipna=True)
        ok = inferred == kind or (
            kind == "floating" and inferred in ("integer", "mixed-integer-float")
        )
        if not ok and not frame[col].isna().all():
            raise Bad(f"wrong schema: column {col!r} holds {inferred}, expected {kind}")
    return frame


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


# --------------------------------------------------------------------------------- writing


def write_csv(path: Path, table: pd.DataFrame) -> Path:
    """`table` as CSV (no index), atomically."""
    return io.write_csv(path, table)


def write_markdown(path: Path, text: str) -> Path:
    return io.write_text(path, text)


def write_png(path: Path, fig, dpi: int) -> Path:
    """A matplotlib Figure as PNG, rendered in memory and written atomically."""
    return io.save_figure(fig, path, dpi=dpi, pil_kwargs={"compress_level": 3})
