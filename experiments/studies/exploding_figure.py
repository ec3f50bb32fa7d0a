"""study_exploding.png: the gradient through time at initialisation against rho, and the outcome
after training against rho without and with clipping (drawn from the study's tables)."""

from __future__ import annotations

import numpy as np
import pandas as pd
from matplotlib import colormaps

from rnnbench.report.style import BASELINE, BASELINE_LABEL, figure, save


def _profiles(ax, profile: pd.DataFrame, rhos: list[float]) -> None:
    """Seed 0, clipped runs (at step 1 clipped and unclipped are identical), theory dashed."""
    cmap = colormaps["plasma"]
    for i, rho in enumerate(rhos):
        c = cmap(i / max(len(rhos) - 1, 1) * 0.85)
        sel = profile[
            (profile["model.spectral_radius"] == rho)
            & (profile["clip.method"] == "norm")
            & (profile["seed"] == 0)
        ]
        sel = sel[sel["step"] == sel["step"].min()].sort_values("steps_before_loss")
        if not len(sel):
            continue
        d, n = sel["steps_before_loss"].to_numpy(float), sel["norm"].to_numpy(float)
        ax.semilogy(d, n, color=c, lw=1.8, label=f"rho = {rho:g}")
        ax.semilogy(d, n[d == 0][0] * rho**d, color=c, lw=1, ls="--")
    ax.set_xlabel("steps before the loss, T - t (time steps)")
    ax.set_ylabel("||dL/dh_t|| at step 1 (log scale)")
    ax.set_title("gradient through time at initialisation (dashed: rho^(T-t))", fontsize=10)
    ax.grid(alpha=0.3)
    ax.legend(fontsize=8)


def _outcomes(ax, runs: pd.DataFrame, rhos: list[float]) -> None:
    """Final MSE against rho; a diverged run is an x at the top of the axis."""
    top = 1.0
    for clip, marker, c, dx in (("none", "o", "tab:red", -0.06), ("norm", "s", "tab:blue", 0.06)):
        g = runs[runs["clip.method"] == clip]
        ok, bad = g[g["status"] == "completed"], g[g["status"] == "diverged"]
        jitter = dx + np.where(ok["seed"] == 0, -0.02, 0.02)
        ax.scatter(ok["model.spectral_radius"] + jitter, ok["final_eval_loss"], marker=marker,
                   color=c, label=f"clip {clip}")  # fmt: skip
        if len(bad):
            ax.scatter(bad["model.spectral_radius"] + dx, np.full(len(bad), top), marker="x",
                       color=c, s=60, label=f"clip {clip}: diverged")  # fmt: skip
    base = float(runs["baseline_loss"].iloc[0])
    ax.axhline(base, **BASELINE, label=f"{BASELINE_LABEL} {base:.3g}")
    ax.set_yscale("log")
    ax.set_xlabel("spectral radius rho of W_hh at initialisation")
    ax.set_ylabel("final held-out MSE (log scale)")
    ax.set_title("outcome after training (two seeds; x: diverged)", fontsize=10)
    ax.set_xticks(rhos)
    ax.grid(alpha=0.3)
    ax.legend(fontsize=8)


def draw(study, profile: pd.DataFrame):
    """Write results/exploding/study_exploding.png (atomically)."""
    rhos = sorted(study.runs["model.spectral_radius"].unique())
    fig, axes = figure(1, 2, w=5.5, h=4.0)
    _profiles(axes[0, 0], profile, rhos)
    _outcomes(axes[0, 1], study.runs, rhos)
    return save(fig, None, study.out, "study_exploding")
