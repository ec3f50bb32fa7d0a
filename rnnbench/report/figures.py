"""Tables and figures from an aggregated sweep: each PNG is saved next to the CSV it is drawn from.

Runs are grouped into *variants*: the cell plus any other config key that varies across the sweep
(besides the task, the sequence length and the seed), e.g. ``lstm`` or ``rnn radius=1.5``. Seeds
are the replicates of a variant at one (task, seq_len).

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
from matplotlib.figure import Figure

from ..runs import STATUSES
from .aggregate import Sweep

log = logging.getLogger(__name__)

CELL_ORDER = ("rnn", "lstm", "gru")
# Config keys that never define a variant: the replicate, the axes of the figures, bookkeeping.
NOT_VARIANT = {"seed", "task.name", "task.seq_len", "threads", "train.progress"}
# Model keys that the config carries for every cell but only one cell uses: not in other labels.
CELL_ONLY = {
    "model.nonlinearity": "rnn",
    "model.reset_after": "gru",
    "model.forget_bias": "lstm",
    "model.chrono_tmax": "lstm",
}
LOSS_UNITS = {
    "copy": "cross-entropy, nats",
    "temporal_order": "cross-entropy, nats",
    "adding": "MSE",
}
DPI = 110


# --------------------------------------------------------------------------------- variants


def variant_columns(runs: pd.DataFrame) -> list[str]:
    """Config columns (besides cell, task, T, seed) whose value differs between runs."""
    cols = []
    for col in runs.columns:
        if "." not in col or col in NOT_VARIANT or col == "model.cell":
            continue
        if col.startswith(("hydra.", "summary.")) or col.startswith("task."):
            continue
        if runs[col].astype(str).nunique(dropna=False) > 1:
            cols.append(col)
    return cols


def _tracks_length(runs: pd.DataFrame, col: str) -> bool:
    """True if the column equals task.seq_len wherever it is set, over more than one T (a key
    interpolated from the length, e.g. model.chrono_tmax: ${task.seq_len})."""
    if "task.seq_len" not in runs.columns:
        return False
    value = pd.to_numeric(runs[col], errors="coerce")
    length = pd.to_numeric(runs["task.seq_len"], errors="coerce")
    set_ = runs[col].notna()
    return (
        bool(set_.any())
        and bool((value[set_] == length[set_]).all())
        and (length[set_].nunique() > 1)
    )


def add_variants(runs: pd.DataFrame) -> pd.DataFrame:
    """A `variant` label per run, e.g. "lstm" or "rnn spectral_radius=1.5, method=norm"; a key
    that follows the length (chrono_tmax = T) is labelled "chrono_tmax=T", so the runs of one
    variant at different lengths stay one variant."""
    runs = runs.copy()
    extra = variant_columns(runs)
    per_length = {c for c in extra if _tracks_length(runs, c)}

    def label(row: pd.Series) -> str:
        cell = row.get("cell")
        parts = [str(cell) if isinstance(cell, str) else "?"]
        opts = [
            f"{c.rsplit('.', 1)[-1]}={'T' if c in per_length else row[c]}"
            for c in extra
            if pd.notna(row[c]) and CELL_ONLY.get(c, cell) == cell
        ]
        return " ".join([parts[0], ", ".join(opts)]).strip()

    runs["variant"] = runs.apply(label, axis=1) if len(runs) else pd.Series(dtype=str)
    return runs


def variant_order(runs: pd.DataFrame) -> list[str]:
    def key(v: str) -> tuple:
        cell = v.split(" ", 1)[0]
        return (CELL_ORDER.index(cell) if cell in CELL_ORDER else len(CELL_ORDER), v)

    return sorted(runs["variant"].dropna().unique(), key=key)


def colors(variants: list[str]) -> dict[str, tuple]:
    from matplotlib import colormaps

    cmap = colormaps["tab10"]
    return {v: cmap(i % 10) for i, v in enumerate(variants)}


def _grid(n_rows: int, n_cols: int, w: float = 4.2, h: float = 3.2) -> tuple[Figure, np.ndarray]:
    fig = Figure(figsize=(w * n_cols, h * n_rows + 0.6), layout="constrained")
    axes = np.atleast_2d(fig.subplots(n_rows, n_cols, squeeze=False))
    return fig, axes


def _save(fig: Figure, table: pd.DataFrame, out: Path, stem: str) -> Path:
    table.to_csv(out / f"{stem}.csv", index=False)
    path = out / f"{stem}.png"
    fig.savefig(path, dpi=DPI)
    return path


def _log_x(ax, values) -> None:
    values = sorted({int(v) for v in values if pd.notna(v)})
    if len(values) > 1 and values[-1] / max(values[0], 1) >= 4:
        ax.set_xscale("log")
    ax.set_xticks(values)
    ax.set_xticklabels([str(v) for v in values])
    from matplotlib.ticker import NullLocator

    ax.xaxis.set_minor_locator(NullLocator())  # x only: ax.minorticks_off() also hid a log y's


def _tasks(runs: pd.DataFrame) -> list[str]:
    return sorted(runs["task"].dropna().astype(str).unique())


def _lengths(runs: pd.DataFrame) -> list[int]:
    return sorted(int(v) for v in runs["seq_len"].dropna().unique())


# --------------------------------------------------------------------------------- tables


def learning_curve_table(sweep: Sweep, runs: pd.DataFrame) -> pd.DataFrame:
    """Eval loss per (task, seq_len, variant, step): mean, std, min, max over seeds."""
    m = sweep.metrics
    m = m[(m["split"] == "eval") & (m["metric"] == "loss")]
    m = m.merge(runs[["run", "task", "seq_len", "variant"]], on="run").dropna(subset=["variant"])
    if not len(m):
        return pd.DataFrame(
            columns=["task", "seq_len", "variant", "step", "mean", "std", "min", "max", "n_seeds"]
        )
    g = m.groupby(["task", "seq_len", "variant", "step"])["value"]
    table = g.agg(["mean", "std", "min", "max", "count"]).reset_index()
    return table.rename(columns={"count": "n_seeds"})


def final_table(runs: pd.DataFrame) -> pd.DataFrame:
    """Per (task, variant, seq_len): seeds finished and solved, final loss and accuracy stats."""
    done = runs[runs["status"].isin(STATUSES)].copy()
    cols = ["task", "variant", "seq_len"]
    if not len(done):
        return pd.DataFrame(columns=[*cols, "n_runs", "n_solved", "frac_solved"])
    done["solved_"] = done["solved"].fillna(False).astype(bool) & (done["status"] == "completed")
    for c in ("final_eval_loss", "final_eval_accuracy", "baseline_loss", "steps_per_s"):
        done[c] = pd.to_numeric(done[c], errors="coerce")
    g = done.groupby(cols)
    table = g.agg(
        n_runs=("run", "size"),
        n_completed=("status", lambda s: int((s == "completed").sum())),
        n_diverged=("status", lambda s: int((s == "diverged").sum())),
        n_failed=("status", lambda s: int(s.isin(["failed", "interrupted"]).sum())),
        n_solved=("solved_", "sum"),
        loss_mean=("final_eval_loss", "mean"),
        loss_min=("final_eval_loss", "min"),
        loss_max=("final_eval_loss", "max"),
        accuracy_mean=("final_eval_accuracy", "mean"),
        accuracy_min=("final_eval_accuracy", "min"),
        accuracy_max=("final_eval_accuracy", "max"),
        baseline_loss=("baseline_loss", "max"),
    ).reset_index()
    table["n_solved"] = table["n_solved"].astype(int)
    table["frac_solved"] = table["n_solved"] / table["n_runs"]
    return table


def speed_table(runs: pd.DataFrame) -> pd.DataFrame:
    r = runs[runs["status"].isin(STATUSES)].copy()
    r["steps_per_s"] = pd.to_numeric(r["steps_per_s"], errors="coerce")
    r = r.dropna(subset=["steps_per_s", "variant"])
    cols = ["task", "variant", "seq_len"]
    if "hidden_size" in r.columns:
        cols.append("hidden_size")
    if not len(r):
        return pd.DataFrame(
            columns=[*cols, "steps_per_s_mean", "steps_per_s_min", "steps_per_s_max"]
        )
    return (
        r.groupby(cols, dropna=False)["steps_per_s"]
        .agg(steps_per_s_mean="mean", steps_per_s_min="min", steps_per_s_max="max", n_runs="count")
        .reset_index()
    )


def grad_norm_table(sweep: Sweep, runs: pd.DataFrame) -> pd.DataFrame:
    """||dL/dh_t|| of layer 0 at each run's first and last logged step; geometric mean of seeds."""
    g = sweep.grad_norms
    if not len(g):
        return pd.DataFrame(columns=["task", "seq_len", "variant", "when", "step", "t", "norm"])
    g = g[g["layer"] == 0].merge(runs[["run", "task", "seq_len", "variant"]], on="run")
    g["first"] = g.groupby("run")["step"].transform("min")
    g["last"] = g.groupby("run")["step"].transform("max")
    g = g[(g["step"] == g["first"]) | (g["step"] == g["last"])].copy()
    g["when"] = np.where(g["step"] == g["last"], "last", "first")
    norm = pd.to_numeric(g["norm"], errors="coerce").astype(float)
    g["log10_norm"] = np.log10(norm.where(norm > 0))
    table = (
        g.groupby(["task", "seq_len", "variant", "when", "t"])
        .agg(step=("step", "max"), log10_norm=("log10_norm", "mean"), n_seeds=("run", "nunique"))
        .reset_index()
    )
    table["norm"] = 10.0 ** table["log10_norm"]
    return table


# --------------------------------------------------------------------------------- figures


def learning_curves(
    table: pd.DataFrame, runs: pd.DataFrame, out: Path, palette: dict
) -> Path | None:
    if not len(table):
        return None
    tasks, lengths = _tasks(table), sorted(table["seq_len"].unique())
    fig, axes = _grid(len(tasks), len(lengths))
    for i, task in enumerate(tasks):
        for j, T in enumerate(lengths):
            ax = axes[i, j]
            sub = table[(table["task"] == task) & (table["seq_len"] == T)]
            for v in [v for v in palette if v in set(sub["variant"])]:
                s = sub[sub["variant"] == v].sort_values("step")
                n = int(s["n_seeds"].max())
                ax.plot(s["step"], s["mean"], color=palette[v], lw=1.6, label=f"{v} (n={n})")
                ax.fill_between(s["step"], s["min"], s["max"], color=palette[v], alpha=0.2, lw=0)
            base = runs[(runs["task"] == task) & (runs["seq_len"] == T)]["baseline_loss"]
            base = pd.to_numeric(base, errors="coerce").dropna()
            if len(base):
                ax.axhline(base.iloc[0], color="k", ls="--", lw=1, label="memoryless baseline")
            ax.set_yscale("log")
            ax.set_title(f"{task}, T = {T}")
            ax.set_xlabel("training step")
            ax.set_ylabel(f"eval loss ({LOSS_UNITS.get(task, 'loss')})")
            ax.grid(alpha=0.3, which="both")
            ax.legend(fontsize=7)
    fig.suptitle("Learning curves: mean over seeds, band = min-max")
    return _save(fig, table, out, "learning_curves")


def _label_short_log_y(ax) -> None:
    """A log y axis spanning less than a decade has no major tick inside: label the minor ones."""
    lo, hi = ax.get_ylim()
    if lo > 0 and hi / lo < 10:
        from matplotlib.ticker import LogFormatterSciNotation

        ax.yaxis.set_minor_formatter(
            LogFormatterSciNotation(labelOnlyBase=False, minor_thresholds=(2, 2))
        )


def final_vs_length(table: pd.DataFrame, out: Path, palette: dict) -> Path | None:
    if not len(table):
        return None
    tasks = _tasks(table)
    fig, axes = _grid(len(tasks), 3)
    for i, task in enumerate(tasks):
        sub = table[table["task"] == task]
        ax_loss, ax_acc, ax_sol = axes[i]
        for v in [v for v in palette if v in set(sub["variant"])]:
            s = sub[sub["variant"] == v].sort_values("seq_len")
            c = palette[v]
            for ax, col in ((ax_loss, "loss"), (ax_acc, "accuracy")):
                ok = s[f"{col}_mean"].notna()
                if ok.any():
                    x, mid = s["seq_len"][ok], s[f"{col}_mean"][ok]
                    err = [mid - s[f"{col}_min"][ok], s[f"{col}_max"][ok] - mid]
                    ax.errorbar(x, mid, yerr=err, color=c, marker="o", capsize=3, label=v)
            ax_sol.plot(s["seq_len"], s["frac_solved"], color=c, marker="o", label=v)
        b = sub.groupby("seq_len")["baseline_loss"].max().dropna()
        if len(b):
            ax_loss.plot(b.index, b.values, "k--", lw=1, label="memoryless baseline")
        ax_loss.set_yscale("log")
        _label_short_log_y(ax_loss)
        ax_loss.set_ylabel(f"final eval loss ({LOSS_UNITS.get(task, 'loss')})")
        ax_acc.set_ylabel("final eval accuracy (fraction)")
        ax_acc.set_ylim(-0.03, 1.03)
        ax_sol.set_ylabel("fraction of seeds solved")
        ax_sol.set_ylim(-0.03, 1.03)
        for ax in (ax_loss, ax_acc, ax_sol):
            _log_x(ax, sub["seq_len"])
            ax.set_xlabel("sequence length T (steps)")
            ax.set_title(task)
            ax.grid(alpha=0.3)
        ax_loss.legend(fontsize=7)
    fig.suptitle("Final results against sequence length (error bars: min-max over seeds)")
    return _save(fig, table, out, "final_vs_length")


def grad_norms(table: pd.DataFrame, out: Path, palette: dict) -> Path | None:
    if not len(table) or table["norm"].notna().sum() == 0:
        return None
    tasks, lengths = _tasks(table), sorted(table["seq_len"].unique())
    fig, axes = _grid(len(tasks), len(lengths))
    for i, task in enumerate(tasks):
        for j, T in enumerate(lengths):
            ax = axes[i, j]
            sub = table[(table["task"] == task) & (table["seq_len"] == T)]
            for v in [v for v in palette if v in set(sub["variant"])]:
                for when, ls in (("first", ":"), ("last", "-")):
                    s = sub[(sub["variant"] == v) & (sub["when"] == when)].sort_values("t")
                    if len(s):
                        step = int(s["step"].max())
                        ax.plot(
                            s["t"], s["norm"], color=palette[v], ls=ls, label=f"{v}, step {step}"
                        )
            ax.set_yscale("log")
            ax.set_title(f"{task}, T = {T}")
            ax.set_xlabel("time step t")
            ax.set_ylabel("||dL/dh_t|| (layer 0, log scale)")
            ax.grid(alpha=0.3, which="both")
            ax.legend(fontsize=7)
    fig.suptitle("Gradient norm through time (dotted: first logged step, solid: last)")
    return _save(fig, table, out, "grad_norms_through_time")


def speed(table: pd.DataFrame, out: Path, palette: dict) -> Path | None:
    if not len(table):
        return None
    tasks = _tasks(table)
    fig, axes = _grid(len(tasks), 1, w=max(5.0, 1.4 * table["seq_len"].nunique() + 2.5))
    for i, task in enumerate(tasks):
        ax = axes[i, 0]
        sub = table[table["task"] == task]
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
        sizes = ""
        if "hidden_size" in sub.columns and sub["hidden_size"].nunique() == 1:
            sizes = f", hidden size {sub['hidden_size'].iloc[0]}"
        ax.set_xticklabels([str(int(T)) for T in lengths])
        ax.set_xlabel("sequence length T (steps)")
        ax.set_ylabel("training speed (steps / s)")
        best = sub.loc[sub["steps_per_s_mean"].idxmax()]
        ax.set_title(
            f"{task}{sizes}\nfastest: {best['variant']}, "
            f"{best['steps_per_s_mean']:.1f} steps/s at T = {int(best['seq_len'])}",
            fontsize=10,
        )
        ax.grid(alpha=0.3, axis="y")
        ax.legend(fontsize=7)
    fig.suptitle("Training speed (bars: mean over seeds, whiskers: min-max)")
    return _save(fig, table, out, "speed")


def make_all(sweep: Sweep, runs: pd.DataFrame, out: Path) -> dict[str, dict]:
    """Write every table and figure into `out`; {name: {"table": frame, "figure": path or None}}."""
    palette = colors(variant_order(runs)) if len(runs) else {}
    steps = {
        "learning_curves": (
            lambda: learning_curve_table(sweep, runs),
            lambda t: learning_curves(t, runs, out, palette),
        ),
        "final_vs_length": (lambda: final_table(runs), lambda t: final_vs_length(t, out, palette)),
        "grad_norms_through_time": (
            lambda: grad_norm_table(sweep, runs),
            lambda t: grad_norms(t, out, palette),
        ),
        "speed": (lambda: speed_table(runs), lambda t: speed(t, out, palette)),
    }
    products: dict[str, dict] = {}
    for name, (make_table, draw) in steps.items():
        # One figure's trouble (odd data a run wrote) must not cost the others or the report.
        table, figure = pd.DataFrame(), None
        try:
            table = make_table()
            figure = draw(table)
        except Exception as e:  # noqa: BLE001
            log.warning("%s: not drawn (%s: %s)", name, type(e).__name__, e)
        products[name] = {"table": table, "figure": figure}
    return products
