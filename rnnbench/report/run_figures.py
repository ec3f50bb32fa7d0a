"""The figures every run ends with, in its own directory: ``learning_curve.png`` (eval loss
against step, the training loss faint, the memoryless baseline dashed) and
``gradient_through_time.png`` (||dL/dh_t|| against t at the first and the last logged step).

    paths = rnnbench.report.run_figures.write(run_dir)     # the PNGs written (atomically)
    python -m rnnbench.report run RUN_DIR                  # the same, from the shell

They are drawn only from the run's files (``metrics.parquet``, ``grad_norms.parquet``,
``summary.json``), so they can be redrawn at any time; a missing or unreadable table costs its
figure only. Turned off with ``train.figures=false``.
"""

from __future__ import annotations

from pathlib import Path

import pandas as pd

from ..diagnostics import GRAD_NORMS_FILE
from ..runs import METRICS_FILE, SUMMARY_FILE
from .aggregate import read_grad_norms, read_metrics, read_summary
from .files import Bad
from .style import BASELINE, BASELINE_LABEL, figure, loss_label, save

LEARNING_CURVE = "learning_curve"
GRADIENT_PROFILE = "gradient_through_time"
MARGINS = {"left": 0.13, "right": 0.97, "bottom": 0.12, "top": 0.86}


def _read(path: Path, reader):
    try:
        return reader(path) if path.is_file() else None
    except (Bad, OSError):
        return None


def _title(summary: dict) -> str:
    """cell on task, T = ..: the outcome at a glance (final loss against the baseline)."""
    cell, task, T = (summary.get(k, "?") for k in ("cell", "task", "seq_len"))
    head = f"{cell} on {task}, T = {T}"
    loss, base = summary.get("final_eval_loss"), summary.get("baseline_loss")
    if summary.get("status") == "diverged":
        return f"{head}: blew up (diverged at step {summary.get('diverged_step')})"
    if isinstance(loss, int | float) and isinstance(base, int | float) and base > 0:
        solved = ", solved" if summary.get("solved") else ""
        return f"{head}: final eval loss {loss:.3g} = {loss / base:.2f} x baseline{solved}"
    return head


def learning_curve(metrics: pd.DataFrame, summary: dict, out: Path) -> Path:
    """Loss against training step for every split the run logged; baseline dashed."""
    fig, axes = figure(1, 1, w=6.4, h=4.0, layout=None)  # fixed margins: constrained layout
    fig.subplots_adjust(**MARGINS)  # would double the drawing time (the < 1 s budget)
    ax = axes[0, 0]
    loss = metrics[metrics["metric"] == "loss"]
    for split, s in loss.groupby("split", sort=True):
        s = s.sort_values("step")
        style = {"lw": 0.8, "alpha": 0.5} if split == "train" else {"lw": 1.6}
        ax.plot(s["step"], s["value"], label=f"{split} loss", **style)
    base = summary.get("baseline_loss")
    if isinstance(base, int | float):
        ax.axhline(base, **BASELINE, label=f"{BASELINE_LABEL} {base:.3g}")
    if summary.get("diverged_step") is not None:
        ax.axvline(summary["diverged_step"], color="tab:red", lw=1, ls=":", label="diverged")
    if (loss["value"] > 0).any():
        ax.set_yscale("log")
    ax.set_xlabel("training step")
    ax.set_ylabel(loss_label(str(summary.get("task", "")), "loss"), fontsize=8)
    ax.set_title(_title(summary), fontsize=9)
    ax.grid(alpha=0.3, which="both")
    ax.legend(fontsize=7)
    return save(fig, None, out, LEARNING_CURVE)


def gradient_profile(grads: pd.DataFrame, summary: dict, out: Path) -> Path:
    """||dL/dh_t|| against t, every layer, at the first and the last logged step."""
    fig, axes = figure(1, 1, w=6.4, h=4.0, layout=None)  # fixed margins: constrained layout
    fig.subplots_adjust(**MARGINS)  # would double the drawing time (the < 1 s budget)
    ax = axes[0, 0]
    first, last = grads["step"].min(), grads["step"].max()
    layers = sorted(grads["layer"].unique())
    for step, color in ((first, "tab:blue"), (last, "tab:orange")):
        for k, layer in enumerate(layers):
            s = grads[(grads["step"] == step) & (grads["layer"] == layer)].sort_values("t")
            name = f"step {step}" + (f", layer {layer}" if len(layers) > 1 else "")
            ax.semilogy(s["t"], s["norm"].where(s["norm"] > 0), color=color,
                        ls=("-", "--", ":", "-.")[k % 4], label=name)  # fmt: skip
        if first == last:
            break
    ax.set_xlabel("time step t (1 = first input, T = last)")
    ax.set_ylabel("||dL/dh_t|| (gradient norm, log scale)", fontsize=8)
    ax.set_title(
        f"{_title(summary)}\ngradient through time, first and last logged step", fontsize=9
    )
    ax.grid(alpha=0.3, which="both")
    ax.legend(fontsize=7)
    return save(fig, None, out, GRADIENT_PROFILE)


def write(run_dir: str | Path) -> list[Path]:
    """Draw the run's figures into `run_dir`; the paths written (none if nothing was logged)."""
    run_dir = Path(run_dir)
    summary = _read(run_dir / SUMMARY_FILE, read_summary) or {}
    written = []
    metrics = _read(run_dir / METRICS_FILE, read_metrics)
    if metrics is not None and (metrics["metric"] == "loss").any():
        written.append(learning_curve(metrics, summary, run_dir))
    grads = _read(run_dir / GRAD_NORMS_FILE, read_grad_norms)
    if grads is not None and grads["norm"].notna().any():
        written.append(gradient_profile(grads, summary, run_dir))
    return written


def main(argv: list[str]) -> int:
    """``python -m rnnbench.report run RUN_DIR``: redraw a run's figures, print their paths."""
    import argparse
    import sys

    from .aggregate import check_root

    parser = argparse.ArgumentParser(prog="python -m rnnbench.report run")
    parser.add_argument("run_dir", metavar="RUN_DIR", help="a run directory")
    args = parser.parse_args(argv)
    if (why := check_root(Path(args.run_dir))) is not None:
        print(f"error: {args.run_dir}: {why}", file=sys.stderr)
        return 2
    try:
        written = write(args.run_dir)
    except OSError as e:
        print(f"error: {args.run_dir}: {e.strerror or e}", file=sys.stderr)
        return 2
    if not written:
        print(
            f"error: {args.run_dir}: no metrics.parquet or grad_norms.parquet to draw",
            file=sys.stderr,
        )
        return 2
    for path in written:
        print(path)
    return 0
