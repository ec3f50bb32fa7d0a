"""The report's figures, drawn from the tables of `tables` (each PNG next to its CSV).

learning_curves     eval loss vs step, mean over seeds and a min-max band, baseline dashed
final_vs_length     final eval loss, final accuracy and fraction of seeds solved vs T
grad_norms          ||dL/dh_t|| vs t at the first and last logged step (if logged)
speed               training steps per second per variant and T
"""

from __future__ import annotations

import logging
from pathlib import Path

import numpy as np
import pandas as pd

from . import tables as tb
from .aggregate import Sweep
from .style import (
    BASELINE,
    BASELINE_LABEL,
    facets,
    figure,
    label_short_log_y,
    log_x,
    loss_label,
    save,
)
from .style import palette as make_palette

log = logging.getLogger(__name__)


def _baseline(runs: pd.DataFrame, task, T) -> float | None:
    base = runs[(runs["task"] == task) & (runs["seq_len"] == T)]["baseline_loss"]
    base = pd.to_numeric(base, errors="coerce").dropna()
    return float(base.iloc[0]) if len(base) else None


def learning_curves(table: pd.DataFrame, runs: pd.DataFrame, out: Path, palette) -> Path | None:
    if not len(table):
        return None
    fig, panels = facets(table, "task", "seq_len")
    for ax, task, T, sub in panels:
        for v in [v for v in palette if v in set(sub["variant"])]:
            s = sub[sub["variant"] == v].sort_values("step")
            n = int(s["n_seeds"].max())
            ax.plot(s["step"], s["mean"], color=palette[v], lw=1.6, label=f"{v} (n={n})")
            ax.fill_between(s["step"], s["min"], s["max"], color=palette[v], alpha=0.2, lw=0)
        if (base := _baseline(runs, task, T)) is not None:
            ax.axhline(base, **BASELINE, label=BASELINE_LABEL)
        ax.set_yscale("log")
        last = sub[sub["step"] == sub.groupby("variant")["step"].transform("max")]
        best = last.loc[last["mean"].idxmin(), "variant"] if last["mean"].notna().any() else None
        ax.set_title(
            f"{task}, T = {T}" + (f"\nlowest final loss: {best}" if best else ""), fontsize=9
        )
        ax.set_xlabel("training step")
        ax.set_ylabel(loss_label(task))
        ax.grid(alpha=0.3, which="both")
        ax.legend(fontsize=7)
    fig.suptitle("Learning curves (mean over seeds, band: min-max)", fontsize=10)
    return save(fig, table, out, "learning_curves")


def _errorbars(ax, s: pd.DataFrame, col: str, color, label: str) -> None:
    ok = s[f"{col}_mean"].notna()
    if ok.any():
        x, mid = s["seq_len"][ok], s[f"{col}_mean"][ok]
        err = [mid - s[f"{col}_min"][ok], s[f"{col}_max"][ok] - mid]
        ax.errorbar(x, mid, yerr=err, color=color, marker="o", capsize=3, label=label)


def final_vs_length(table: pd.DataFrame, out: Path, palette) -> Path | None:
    if not len(table):
        return None
    tasks = sorted(table["task"].unique())
    fig, axes = figure(len(tasks), 3)
    for (ax_loss, ax_acc, ax_sol), task in zip(axes, tasks, strict=True):
        sub = table[table["task"] == task]
        for v in [v for v in palette if v in set(sub["variant"])]:
            s = sub[sub["variant"] == v].sort_values("seq_len")
            _errorbars(ax_loss, s, "loss", palette[v], v)
            _errorbars(ax_acc, s, "accuracy", palette[v], v)
            ax_sol.plot(s["seq_len"], s["frac_solved"], color=palette[v], marker="o", label=v)
        b = sub.groupby("seq_len")["baseline_loss"].max().dropna()
        if len(b) == 1:  # one length: a line across, not a single invisible point
            ax_loss.axhline(b.iloc[0], **BASELINE, label=BASELINE_LABEL)
        elif len(b):
            ax_loss.plot(b.index, b.values, **BASELINE, label=BASELINE_LABEL)
        ax_loss.set_yscale("log")
        label_short_log_y(ax_loss)
        ax_loss.set_ylabel(loss_label(task, "final eval loss"))
        ax_acc.set_ylabel("final eval accuracy (fraction)")
        if sub["accuracy_mean"].isna().all():
            ax_acc.text(
                0.5, 0.5, "no accuracy for this task", ha="center", transform=ax_acc.transAxes
            )
        ax_sol.set_ylabel("fraction of seeds solved")
        for ax in (ax_acc, ax_sol):
            ax.set_ylim(-0.03, 1.03)
        for ax in (ax_loss, ax_acc, ax_sol):
            log_x(ax, sub["seq_len"])
            ax.set_xlabel("sequence length T (steps)")
            ax.set_title(task)
            ax.grid(alpha=0.3)
        if ax_loss.get_legend_handles_labels()[0]:
            ax_loss.legend(fontsize=7)
    fig.suptitle("Final results against sequence length (error bars: min-max over seeds)")
    return save(fig, table, out, "final_vs_length")


def grad_norms(table: pd.DataFrame, out: Path, palette) -> Path | None:
    if not len(table) or table["norm"].notna().sum() == 0:
        return None
    fig, panels = facets(table, "task", "seq_len")
    for ax, task, T, sub in panels:
        for v in [v for v in palette if v in set(sub["variant"])]:
            for when, ls in (("first", ":"), ("last", "-")):
                s = sub[(sub["variant"] == v) & (sub["when"] == when)].sort_values("t")
                if len(s):
                    label = f"{v}, step {int(s['step'].max())}"
                    ax.plot(s["t"], s["norm"], color=palette[v], ls=ls, label=label)
        ax.set_yscale("log")
        ax.set_title(f"{task}, T = {T}")
        ax.set_xlabel("time step t")
        ax.set_ylabel("||dL/dh_t|| (layer 0, log scale)")
        ax.grid(alpha=0.3, which="both")
        ax.legend(fontsize=7)
    fig.suptitle("Gradient norm through time (dotted: first logged step, solid: last)")
    return save(fig, table, out, "grad_norms_through_time")


def _speed_panel(ax, sub: pd.DataFrame, palette) -> None:
    lengths = sorted(sub["seq_len"].unique())
    variants = [v for v in palette if v in set(sub["variant"])]
    width = 0.8 / max(len(variants), 1)
    for k, v in enumerate(variants):
        s = sub[sub["variant"] == v].set_index("seq_len").reindex(lengths)
        x = np.arange(len(lengths)) + (k - (len(variants) - 1) / 2) * width
        mid = s["steps_per_s_mean"].to_numpy(float)
        err = [
            mid - s["steps_per_s_min"].to_numpy(float),
            s["steps_per_s_max"].to_numpy(float) - mid,
        ]
        ax.bar(x, mid, width, yerr=err, color=palette[v], capsize=2, label=v)
    ax.set_xticks(np.arange(len(lengths)))
    ax.set_xticklabels([str(int(T)) for T in lengths])


def speed(table: pd.DataFrame, out: Path, palette) -> Path | None:
    if not len(table):
        return None
    tasks = sorted(table["task"].unique())
    fig, axes = figure(len(tasks), 1, w=max(5.0, 1.4 * table["seq_len"].nunique() + 2.5))
    for ax, task in zip(axes[:, 0], tasks, strict=True):
        sub = table[table["task"] == task]
        _speed_panel(ax, sub, palette)
        sizes = ""
        if "hidden_size" in sub.columns and sub["hidden_size"].nunique() == 1:
            sizes = f", hidden size {sub['hidden_size'].iloc[0]}"
        best = sub.loc[sub["steps_per_s_mean"].idxmax()]
        ax.set_title(
            f"{task}{sizes}\nfastest: {best['variant']}, "
            f"{best['steps_per_s_mean']:.1f} steps/s at T = {int(best['seq_len'])}",
            fontsize=10,
        )
        ax.set_xlabel("sequence length T (steps)")
        ax.set_ylabel("training speed (steps / s)")
        ax.grid(alpha=0.3, axis="y")
        ax.legend(fontsize=7)
    fig.suptitle("Training speed (bars: mean over seeds, whiskers: min-max)")
    return save(fig, table, out, "speed")


def make_all(sweep: Sweep, runs: pd.DataFrame, out: Path) -> dict[str, dict]:
    """Write every table and figure into `out`; {name: {"table": frame, "figure": path or None}}."""
    palette = make_palette(tb.variant_order(runs)) if len(runs) else {}
    steps = {
        "learning_curves": (
            lambda: tb.learning_curve_table(sweep, runs),
            lambda t: learning_curves(t, runs, out, palette),
        ),
        "final_vs_length": (
            lambda: tb.final_table(runs),
            lambda t: final_vs_length(t, out, palette),
        ),
        "grad_norms_through_time": (
            lambda: tb.grad_norm_table(sweep, runs),
            lambda t: grad_norms(t, out, palette),
        ),
        "speed": (lambda: tb.speed_table(runs), lambda t: speed(t, out, palette)),
    }
    products: dict[str, dict] = {}
    for name, (make_table, draw) in steps.items():
        # One figure's trouble (odd data a run wrote) must not cost the others or the report.
        table, fig = pd.DataFrame(), None
        try:
            table = make_table()
            fig = draw(table)
        except Exception as e:  # noqa: BLE001
            log.warning("%s: not drawn (%s: %s)", name, type(e).__name__, e)
        products[name] = {"table": table, "figure": fig}
    return products
