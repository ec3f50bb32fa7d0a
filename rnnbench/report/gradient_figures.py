"""Drawing the gradient diagnostics (`gradients` computes the tables drawn here)."""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import pandas as pd

from .aggregate import Sweep
from .files import write_csv
from .style import figure, palette, save

BAD_COLOR = "magenta"


def _step_titles(n_panels: int, steps) -> list[str]:
    if len(steps) == 2 and n_panels <= 2:
        return ["first logged step", "last logged step"][:n_panels]
    return [f"requested step {s}" for s in steps][:n_panels]


def _theory(ax, p: pd.DataFrame, rate: pd.Series, color, lo: float, hi: float) -> bool:
    """Dashed rho^(T-t), anchored at the norm at t = T, cut to the data's log range [lo, hi]."""
    rho, y0 = rate["spectral_radius"], rate["norm_at_loss"]
    if not (np.isfinite(rho) and rho > 0 and np.isfinite(y0) and y0 > 0):
        return False
    d = p["steps_before_loss"].to_numpy(float)
    ln_ref = math.log(y0) + math.log(rho) * d
    ref = np.where((ln_ref >= lo) & (ln_ref <= hi), np.exp(np.clip(ln_ref, lo, hi)), np.nan)
    ax.semilogy(d, ref, color=color, lw=0.9, ls="--", alpha=0.8)
    return True


def profiles(table: pd.DataFrame, rates: pd.DataFrame, out: Path, steps=(0, -1)) -> list[Path]:
    """gradient_profile.png/.csv: ||dL/dh_t|| against T - t, one panel per chosen step."""
    labels = list(dict.fromkeys(table["label"]))
    colors = palette(labels)
    ranks = table.groupby("label")["step"].rank(method="dense").astype(int) - 1
    n_panels = max(1, int(ranks.max()) + 1) if len(table) else 1
    fig, axes = figure(1, n_panels, w=6.2, h=4.4, sharey=True)
    axes = axes[0]
    norm = table["norm"].to_numpy(float)
    ok = np.isfinite(norm) & (norm > 0)
    lo, hi = (np.log(norm[ok].min()) - 1.0, np.log(norm[ok].max()) + 1.0) if ok.any() else (0, 1)
    theory = False
    for (label, step), p in table.assign(rank=ranks).groupby(["label", "step"], sort=False):
        ax = axes[int(p["rank"].iloc[0])]
        shown = p["norm"].where(p["norm"] > 0)
        ax.semilogy(p["steps_before_loss"], shown, color=colors[label], lw=1.4, label=label)
        rate = rates[(rates["label"] == label) & (rates["step"] == step)]
        if len(rate) and p["cell"].iloc[0] == "rnn":
            theory |= _theory(ax, p, rate.iloc[0], colors[label], lo, hi)
    if ok.any():
        axes[0].set_ylim(math.exp(lo), math.exp(hi))
    for ax, which in zip(axes, _step_titles(n_panels, steps), strict=False):
        ax.set_title(f"||dL/dh_t|| through time, {which}")
        ax.set_xlabel("steps before the loss, T - t (time steps)")
        ax.grid(True, which="major", alpha=0.3)
    axes[0].set_ylabel("||dL/dh_t|| (gradient norm, log scale)")
    handles, names = axes[0].get_legend_handles_labels()
    if theory:
        from matplotlib.lines import Line2D

        handles.append(Line2D([], [], color="gray", ls="--"))
        names.append("theory: rho^(T-t) (RNN)")
    axes[-1].legend(handles, names, fontsize=7, loc="best")
    png = save(fig, table, out, "gradient_profile")
    return [png, out / "gradient_profile.csv"]


def write_rates(rates: pd.DataFrame, out: Path) -> Path:
    return write_csv(out / "gradient_rates.csv", rates)


def _edges(centres: np.ndarray) -> np.ndarray:
    """Cell edges around sorted centres (for pcolormesh)."""
    if centres.size == 1:
        return np.array([centres[0] - 0.5, centres[0] + 0.5])
    mid = (centres[:-1] + centres[1:]) / 2
    return np.concatenate([[2 * centres[0] - mid[0]], mid, [2 * centres[-1] - mid[-1]]])


def heatmaps(sweep: Sweep, runs: pd.DataFrame, out: Path) -> Path:
    """gradient_heatmap.png: log10 ||dL/dh_t|| over (training step, t), one panel per run."""
    from matplotlib import colormaps

    n = max(1, len(runs))
    cols = min(n, 4)
    fig, axes = figure(math.ceil(n / cols), cols, w=4.4, h=3.6)
    cmap = colormaps["viridis"].with_extremes(bad=BAD_COLOR)
    for ax, r in zip(axes.flat, runs.itertuples(), strict=False):
        g = sweep.grad_norms[sweep.grad_norms["run"] == r.run]
        g = g[g["layer"] == g["layer"].max()]
        table = g.pivot_table(
            index="step", columns="t", values="norm", aggfunc="first", dropna=False
        )
        with np.errstate(divide="ignore", invalid="ignore"):
            z = np.ma.masked_invalid(np.log10(table.to_numpy(dtype=float)))
        if z.count():
            x, y = _edges(table.columns.to_numpy(float)), _edges(table.index.to_numpy(float))
            mesh = ax.pcolormesh(x, y, z, cmap=cmap, shading="flat", rasterized=True)
            fig.colorbar(mesh, ax=ax, label="log10 ||dL/dh_t||")
        else:
            ax.text(0.5, 0.5, "no finite values", ha="center", transform=ax.transAxes)
        ax.set_title(r.label, fontsize=8)
        ax.set_xlabel("time step t (loss at t = T)")
        ax.set_ylabel("training step")
    for ax in list(axes.flat)[len(runs) :]:
        ax.axis("off")
    fig.suptitle(f"log10 ||dL/dh_t|| (non-finite: {BAD_COLOR})", fontsize=10)
    return save(fig, None, out, "gradient_heatmap")


def _mark_divergence(ax, before: pd.Series, stop, color) -> None:
    """X at the step summary.json names (else the first non-finite norm), with its step."""
    bad = before.index[~np.isfinite(before.to_numpy(float))]
    if (stop is None or pd.isna(stop)) and len(bad):
        stop = int(bad[0])
    if stop is None or pd.isna(stop):
        return
    ok = before[np.isfinite(before.to_numpy(float)) & (before.index <= stop)]
    y = ok.iloc[-1] if len(ok) else 1.0
    ax.semilogy([stop], [y], "X", color=color, ms=10, mec="k")
    ax.annotate(f"diverged (step {int(stop)})", (stop, y), fontsize=7, xytext=(4, 4),
                textcoords="offset points", color=color)  # fmt: skip


def _training_run(ax_g, ax_r, s: pd.DataFrame, label: str, stop, color) -> None:
    s = s.set_index("step").sort_index()
    before, frac = s["grad_norm_before_clip"].dropna(), s["clip_fraction"].dropna()
    few = {"marker": "o", "ms": 4} if len(before) <= 3 else {}
    ax_g.semilogy(before.index, before.to_numpy(), color=color, lw=1.3, label=label, **few)
    peak = s["grad_norm_before_clip_max"].dropna()
    if len(peak):
        ax_g.semilogy(peak.index, peak.to_numpy(), color=color, lw=0.6, ls=":", alpha=0.7)
    clipped = frac[frac > 0].index
    if len(clipped):
        ys = before.reindex(clipped).to_numpy()
        ax_g.semilogy(clipped, ys, "v", color=color, ms=4, mfc="none")
    _mark_divergence(ax_g, before, stop, color)
    rho = s["spectral_radius_l0"].dropna()
    ax_r.plot(rho.index, rho.to_numpy(), color=color, lw=1.3, label=label, **few)


def training(series: pd.DataFrame, runs: pd.DataFrame, out: Path) -> list[Path]:
    """gradient_training.png/.csv: global gradient norm and spectral radius over training."""
    from matplotlib.ticker import FuncFormatter, LogLocator

    fig, axes = figure(2, 1, w=8, h=3.1, sharex=True)
    ax_g, ax_r = axes[:, 0]
    colors = palette(list(runs["label"]))
    stops = runs.set_index("label")["diverged_step"] if "diverged_step" in runs else {}
    for label, s in series.groupby("label", sort=False) if len(series) else ():
        _training_run(ax_g, ax_r, s, label, stops.get(label), colors[label])
    ax_g.set_ylabel("global ||dL/dtheta|| before clipping")
    ax_g.set_title("gradient norm over training (v: clipped since the last log, X: diverged, "
                   "dotted: max since the last log)", fontsize=9)  # fmt: skip
    ax_g.grid(True, alpha=0.3)
    ax_g.legend(fontsize=7, loc="best")
    ax_r.axhline(1.0, color="gray", lw=0.8, ls="--")
    ax_r.set_yscale("log")
    ax_r.yaxis.set_major_formatter(FuncFormatter(lambda v, _: f"{v:g}"))
    ax_r.yaxis.set_minor_locator(LogLocator(subs=(2.0, 3.0, 5.0)))
    ax_r.yaxis.set_minor_formatter(FuncFormatter(lambda v, _: f"{v:g}"))
    ax_r.set_ylabel("spectral radius of W_hh\n(layer 0, largest gate block; log scale)")
    ax_r.set_xlabel("training step")
    ax_r.grid(True, alpha=0.3)
    png = save(fig, series if len(series) else None, out, "gradient_training")
    return [png] + ([out / "gradient_training.csv"] if len(series) else [])
