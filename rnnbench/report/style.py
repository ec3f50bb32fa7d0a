"""The one figure style of the report package: OO matplotlib `Figure`s (no pyplot, no backend
switch), one palette, one DPI, shared axis helpers, and one saver that writes each PNG next to the
CSV it was drawn from, both atomically."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
from matplotlib.figure import Figure

from ..cells import CELLS
from ..tasks import TASKS
from .files import write_csv, write_png

DPI = 110
CELL_ORDER = CELLS  # the registry's order: rnn, lstm, gru
BASELINE = {"color": "k", "ls": "--", "lw": 1}  # the memoryless baseline, in every figure
BASELINE_LABEL = "memoryless baseline"


def loss_label(task: str, prefix: str = "eval loss") -> str:
    """`prefix` (the task's loss units, e.g. "MSE"); "loss" for a task not registered."""
    cls = TASKS.get(task)
    return f"{prefix} ({cls.loss_units if cls is not None else 'loss'})"


def figure(n_rows=1, n_cols=1, w: float = 4.2, h: float = 3.2, layout="constrained", **kw):
    """A Figure (constrained layout unless told) and its (n_rows, n_cols) array of axes."""
    fig = Figure(figsize=(w * n_cols, h * n_rows + 0.6), layout=layout)
    axes = np.atleast_2d(fig.subplots(n_rows, n_cols, squeeze=False, **kw))
    return fig, axes


def save(fig: Figure, table: pd.DataFrame | None, out: Path, stem: str) -> Path:
    """out/stem.png, and out/stem.csv holding exactly what it shows (when given)."""
    if table is not None:
        write_csv(out / f"{stem}.csv", table)
    return write_png(out / f"{stem}.png", fig, DPI)


def cell_key(variant: str) -> tuple:
    """Sort key: rnn, lstm, gru first (by the label's first word), then the rest by name."""
    cell = str(variant).split(" ", 1)[0]
    return (CELL_ORDER.index(cell) if cell in CELL_ORDER else len(CELL_ORDER), str(variant))


def palette(variants) -> dict[str, tuple]:
    """One colour per variant, in the order given (tab10, then viridis for more than ten)."""
    from matplotlib import colormaps

    variants = list(variants)
    if len(variants) <= 10:
        return {v: colormaps["tab10"](i) for i, v in enumerate(variants)}
    cmap = colormaps["viridis"]
    return {v: cmap(i / (len(variants) - 1)) for i, v in enumerate(variants)}


def facets(table: pd.DataFrame, row: str, col: str, **kw) -> tuple[Figure, list[tuple]]:
    """A grid with one panel per (row value, col value) of `table`: the Figure and a list of
    (ax, row value, col value, the rows of `table` for that panel)."""
    rows, cols = sorted(table[row].unique()), sorted(table[col].unique())
    fig, axes = figure(len(rows), len(cols), **kw)
    panels = [
        (axes[i, j], r, c, table[(table[row] == r) & (table[col] == c)])
        for i, r in enumerate(rows)
        for j, c in enumerate(cols)
    ]
    return fig, panels


def log_x(ax, values) -> None:
    """Log x axis when the values span a factor 4 or more, ticks at the values themselves."""
    values = sorted({int(v) for v in values if pd.notna(v)})
    if len(values) > 1 and values[-1] / max(values[0], 1) >= 4:
        ax.set_xscale("log")
    ax.set_xticks(values)
    ax.set_xticklabels([str(v) for v in values])
    from matplotlib.ticker import NullLocator

    ax.xaxis.set_minor_locator(NullLocator())  # x only: ax.minorticks_off() also hid a log y's


def label_short_log_y(ax) -> None:
    """A log y axis spanning less than a decade has no major tick inside: label the minor ones."""
    lo, hi = ax.get_ylim()
    if lo > 0 and hi / lo < 10:
        from matplotlib.ticker import LogFormatterSciNotation

        ax.yaxis.set_minor_formatter(
            LogFormatterSciNotation(labelOnlyBase=False, minor_thresholds=(2, 2))
        )
