"""Figures of the gradient diagnostics, drawn only from the tables that runs wrote.

    python -m rnnbench.diagnostics_plots DIR [--steps 0 -1]

DIR is one run directory (holding ``grad_norms.parquet`` and ``diagnostics.parquet``) or a sweep
directory; every run below DIR is found. The figures, and a CSV of exactly what each one shows,
are written into DIR (for a single run: next to its tables):

- ``gradient_profile.png`` / ``.csv``: ||dL/dh_t|| on a log scale against the distance from the
  loss, T - t, one line per run, at the first and the last logged training step; for tanh/relu
  RNN runs the theory's slope ln(rho) per step, anchored at t = T, is drawn dashed;
- ``gradient_rates.csv``: for those profiles, the fitted per-step factor exp(slope) of
  ln ||dL/dh_t|| against T - t, the same for the Jacobian gain ||dh_T/dh_t|| (where logged),
  next to rho of the top layer's recurrent matrix (largest gate block);
- ``gradient_heatmap.png``: log10 ||dL/dh_t|| over training step and t, one panel per run,
  non-finite values drawn in magenta;
- ``gradient_training.png`` / ``.csv``: the global gradient norm (before clipping) and the
  spectral radius over training, with clipping events and divergence marked.
"""

from __future__ import annotations

import argparse
import json
import logging
import math
import os
import sys
import tempfile
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd

from .diagnostics import DIAGNOSTICS_FILE as DIAGNOSTICS
from .diagnostics import GRAD_NORMS_FILE as GRAD_NORMS
from .diagnostics import fit_log_slope

log = logging.getLogger(__name__)

BAD_COLOR = "magenta"


@dataclass
class Run:
    """One run's tables and what is known about it (from summary.json and the Hydra config)."""

    path: Path
    label: str
    grad_norms: pd.DataFrame
    diagnostics: pd.DataFrame
    cell: str = ""
    status: str = ""
    meta: dict = field(default_factory=dict)

    @property
    def top_layer(self) -> int:
        return int(self.grad_norms["layer"].max()) if len(self.grad_norms) else 0

    @property
    def is_rnn(self) -> bool:
        return self.cell == "rnn"


# --------------------------------------------------------------------------- loading


def _read_yaml(path: Path):
    try:
        from omegaconf import OmegaConf

        return OmegaConf.to_container(OmegaConf.load(path), resolve=False)
    except Exception:  # a missing or unreadable file only costs a label
        return None


def _overrides(path: Path) -> list[str]:
    """The job's command-line overrides (Hydra's .hydra/overrides.yaml), minus the experiment."""
    data = _read_yaml(path / ".hydra" / "overrides.yaml")
    if not isinstance(data, list):
        return []
    skip = ("+experiment", "experiment", "hydra.", "~", "train.progress")
    return [str(o) for o in data if not str(o).startswith(skip)]


def _short(override: str) -> str:
    key, _, value = override.partition("=")
    return f"{key.split('.')[-1]}={value}"


def _label_runs(runs: list[Run], root: Path) -> None:
    """Label each run by the overrides that differ between the runs (one run: its model and
    clipping overrides), else by its cell and folder; a status other than completed is shown."""
    lists = [r.meta.get("overrides", []) for r in runs]
    common = set.intersection(*map(set, lists)) if len(runs) > 1 else set()
    for run, overrides in zip(runs, lists, strict=True):
        if len(runs) > 1:
            parts = [_short(o) for o in overrides if o not in common]
        else:
            parts = [_short(o) for o in overrides if o.startswith(("model", "clip"))]
        if not parts:
            rel = "" if run.path == root else str(run.path.relative_to(root))
            parts = [run.cell or run.path.name] + ([f"({rel})"] if rel else [])
        run.label = ", ".join(parts)
        if run.status and run.status != "completed":
            run.label += f" [{run.status}]"


def find_runs(root: str | os.PathLike) -> list[Run]:
    """Every directory at or below `root` that holds grad_norms.parquet, in path order."""
    root = Path(root)
    dirs = sorted(
        {p.parent for p in root.rglob(GRAD_NORMS)},
        key=lambda p: [int(s) if s.isdigit() else s for s in p.relative_to(root).parts],
    )
    runs = []
    for d in dirs:
        try:
            gn = pd.read_parquet(d / GRAD_NORMS)
            dg = pd.read_parquet(d / DIAGNOSTICS) if (d / DIAGNOSTICS).exists() else None
        except Exception as err:  # a half-written or foreign file: skip the run, say so
            log.warning("skipping %s: %s", d, err)
            continue
        if dg is None:
            dg = pd.DataFrame(columns=["step", "quantity", "layer", "name", "t", "value", "finite"])
        summary = {}
        if (d / "summary.json").exists():
            try:
                summary = json.loads((d / "summary.json").read_text())
            except (OSError, ValueError):
                summary = {}
        cfg = _read_yaml(d / ".hydra" / "config.yaml")
        cell = summary.get("cell") or ((cfg or {}).get("model") or {}).get("cell", "")
        runs.append(
            Run(
                path=d,
                label="",
                grad_norms=gn,
                diagnostics=dg,
                cell=str(cell or ""),
                status=str(summary.get("status", "")),
                meta={"summary": summary, "config": cfg or {}, "overrides": _overrides(d)},
            )
        )
    _label_runs(runs, root)
    return runs


# --------------------------------------------------------------------------- helpers


def _values(df: pd.DataFrame, col: str) -> np.ndarray:
    """A nullable column as float64 with NaN for null."""
    return pd.to_numeric(df[col], errors="coerce").astype("float64").to_numpy()


def _pick_steps(steps: np.ndarray, wanted: list[int]) -> list[int]:
    """Map requested steps (negative = from the end) onto logged steps, the nearest one."""
    steps = np.unique(steps)
    if steps.size == 0:
        return []
    out = []
    for w in wanted:
        target = steps[w] if w < 0 and -w <= steps.size else w
        out.append(int(steps[np.argmin(np.abs(steps - target))]))
    return list(dict.fromkeys(out))


def _rho(run: Run, step: int, layer: int) -> float:
    """Spectral radius of weight_hh_l{layer} (largest over gate blocks) at the last logged step
    at or before `step` (a diverging step is logged without spectra); NaN if none."""
    d = run.diagnostics
    if not len(d):
        return math.nan
    m = (
        (d["quantity"] == "spectral_radius")
        & (d["step"] <= step)
        & (pd.to_numeric(d["layer"], errors="coerce") == layer)
    )
    d = d[m]
    if not len(d):
        return math.nan
    v = _values(d[d["step"] == d["step"].max()], "value")
    return float(np.nanmax(v)) if v.size and np.isfinite(v).any() else math.nan


def _jacobian_slope(run: Run, step: int, layer: int) -> float:
    """Fitted ln ||dh_T/dh_t|| per step back from T, from the jacobian_norm rows of `step`."""
    d = run.diagnostics
    if not len(d):
        return math.nan
    d = d[(d["quantity"] == "jacobian_norm") & (d["step"] == step)]
    d = d[pd.to_numeric(d["layer"], errors="coerce") == layer]
    if not len(d):
        return math.nan
    t = _values(d, "t")
    return fit_log_slope(np.nanmax(t) - t, _values(d, "value"))[0]


def _profile(run: Run, step: int, layer: int) -> tuple[np.ndarray, np.ndarray, int]:
    """(t, norm, T) of one logged step; norm NaN where not finite."""
    g = run.grad_norms
    g = g[(g["step"] == step) & (g["layer"] == layer)].sort_values("t")
    t = _values(g, "t")
    return t, _values(g, "norm"), int(np.nanmax(t)) if t.size else 0


def _save(fig, path: Path) -> None:
    """Write a figure atomically (temporary file in the same directory, then rename)."""
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.stem}.", suffix=path.suffix)
    os.close(fd)
    try:
        fig.savefig(tmp, dpi=110, bbox_inches="tight")
        os.replace(tmp, path)
    finally:
        if os.path.exists(tmp):
            os.unlink(tmp)


def _save_csv(df: pd.DataFrame, path: Path) -> None:
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.stem}.", suffix=".csv")
    os.close(fd)
    try:
        df.to_csv(tmp, index=False)
        os.replace(tmp, path)
    finally:
        if os.path.exists(tmp):
            os.unlink(tmp)


def _plt():
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def _colors(n: int):
    plt = _plt()
    cmap = plt.get_cmap("tab10" if n <= 10 else "viridis")
    return [cmap(i if n <= 10 else i / max(n - 1, 1)) for i in range(n)]


# --------------------------------------------------------------------------- figures


def plot_profiles(runs: list[Run], out_dir: Path, steps=(0, -1)) -> tuple[Path, Path]:
    """Figure 1: ||dL/dh_t|| against T - t, at the chosen logged steps; also the fitted rates."""
    plt = _plt()
    chosen = {id(r): _pick_steps(r.grad_norms["step"].to_numpy(), list(steps)) for r in runs}
    n_panels = max(1, max((len(v) for v in chosen.values()), default=1))
    fig, axes = plt.subplots(1, n_panels, figsize=(6.2 * n_panels, 4.6), squeeze=False, sharey=True)
    axes = axes[0]
    profile_rows, rate_rows, refs = [], [], []
    for run, color in zip(runs, _colors(len(runs)), strict=True):
        layer = run.top_layer
        for p, step in enumerate(chosen[id(run)]):
            ax = axes[p]
            t, norm, T = _profile(run, step, layer)
            d = T - t
            with np.errstate(divide="ignore", invalid="ignore"):
                shown = np.where(np.isfinite(norm) & (norm > 0), norm, np.nan)
            ax.semilogy(d, shown, color=color, lw=1.4, label=run.label)
            rho = _rho(run, step, layer)
            slope, _, npts = fit_log_slope(d, norm)
            j_slope = _jacobian_slope(run, step, layer)
            if run.is_rnn and np.isfinite(rho) and rho > 0:
                y0 = shown[d == 0]
                if y0.size and np.isfinite(y0[0]):
                    ln_ref = math.log(y0[0]) + math.log(rho) * d.astype(float)
                    refs.append((ax, d, ln_ref, color))  # drawn once the data's range is known
            profile_rows += [
                {"run": run.label, "cell": run.cell, "step": step, "layer": layer,
                 "t": int(ti), "steps_before_loss": int(di), "norm": ni}
                for ti, di, ni in zip(t, d, norm, strict=True)
            ]  # fmt: skip
            rate_rows.append(
                {
                    "run": run.label,
                    "cell": run.cell,
                    "step": step,
                    "layer": layer,
                    "seq_len": T,
                    "fitted_log_rate_per_step": slope,
                    "fitted_rate_per_step": math.exp(slope) if np.isfinite(slope) else math.nan,
                    "jacobian_rate_per_step": math.exp(j_slope)
                    if np.isfinite(j_slope)
                    else math.nan,
                    "spectral_radius": rho,
                    "log_spectral_radius": math.log(rho) if rho > 0 else math.nan,
                    "points": npts,
                    "norm_at_loss": float(norm[d == 0][0]) if (d == 0).any() else math.nan,
                    "norm_at_start": float(norm[t == 1][0]) if (t == 1).any() else math.nan,
                }
            )
    # y range from the data alone; theory lines are cut to it (rho^T can overflow)
    ys = np.array([r["norm"] for r in profile_rows], dtype=float)
    ys = ys[np.isfinite(ys) & (ys > 0)]
    if ys.size:
        lo, hi = np.log(ys.min()) - 1.0, np.log(ys.max()) + 1.0
        for ax, d, ln_ref, color in refs:
            ref = np.where((ln_ref >= lo) & (ln_ref <= hi), np.exp(np.clip(ln_ref, lo, hi)), np.nan)
            ax.semilogy(d, ref, color=color, lw=0.9, ls="--", alpha=0.8)
        axes[0].set_ylim(math.exp(lo), math.exp(hi))
    for p, ax in enumerate(axes):
        which = "first logged step" if p == 0 else "last logged step"
        if len(steps) != 2:
            which = f"requested step {steps[p]}"
        ax.set_title(f"||dL/dh_t|| through time, {which}")
        ax.set_xlabel("steps before the loss, T - t (time steps)")
        ax.grid(True, which="major", alpha=0.3)
    axes[0].set_ylabel("||dL/dh_t|| (gradient norm, log scale)")
    handles, labels = axes[0].get_legend_handles_labels()
    if any(r.is_rnn for r in runs):
        from matplotlib.lines import Line2D

        handles.append(Line2D([], [], color="gray", ls="--"))
        labels.append("theory: rho^(T-t) (tanh RNN)")
    axes[-1].legend(handles, labels, fontsize=7, loc="best")
    fig.tight_layout()
    png = out_dir / "gradient_profile.png"
    _save_csv(pd.DataFrame(profile_rows), out_dir / "gradient_profile.csv")
    _save_csv(pd.DataFrame(rate_rows), out_dir / "gradient_rates.csv")
    _save(fig, png)
    plt.close(fig)
    return png, out_dir / "gradient_rates.csv"


def plot_heatmaps(runs: list[Run], out_dir: Path) -> Path:
    """Figure 2: log10 ||dL/dh_t|| over (training step, t), one panel per run."""
    plt = _plt()
    n = max(1, len(runs))
    cols = min(n, 4)
    rows = math.ceil(n / cols)
    fig, axes = plt.subplots(rows, cols, figsize=(4.4 * cols, 3.6 * rows), squeeze=False)
    cmap = plt.get_cmap("viridis").with_extremes(bad=BAD_COLOR)
    for ax, run in zip(axes.flat, runs, strict=False):
        g = run.grad_norms[run.grad_norms["layer"] == run.top_layer]
        table = g.assign(norm=_values(g, "norm")).pivot_table(
            index="step", columns="t", values="norm", aggfunc="first", dropna=False
        )
        with np.errstate(divide="ignore", invalid="ignore"):
            z = np.log10(table.to_numpy(dtype=float))
        z = np.ma.masked_invalid(z)
        steps = table.index.to_numpy(dtype=float)
        ts = table.columns.to_numpy(dtype=float)
        if z.count():
            mesh = ax.pcolormesh(
                _edges(ts), _edges(steps), z, cmap=cmap, shading="flat", rasterized=True
            )
            fig.colorbar(mesh, ax=ax, label="log10 ||dL/dh_t||")
        else:
            ax.text(0.5, 0.5, "no finite values", ha="center", transform=ax.transAxes)
        ax.set_title(run.label, fontsize=8)
        ax.set_xlabel("time step t (loss at t = T)")
        ax.set_ylabel("training step")
    for ax in list(axes.flat)[len(runs) :]:
        ax.axis("off")
    fig.suptitle(f"log10 ||dL/dh_t|| (non-finite: {BAD_COLOR})", fontsize=10)
    fig.tight_layout()
    png = out_dir / "gradient_heatmap.png"
    _save(fig, png)
    plt.close(fig)
    return png


def _edges(centres: np.ndarray) -> np.ndarray:
    """Cell edges around sorted centres (for pcolormesh)."""
    if centres.size == 1:
        return np.array([centres[0] - 0.5, centres[0] + 0.5])
    mid = (centres[:-1] + centres[1:]) / 2
    return np.concatenate([[2 * centres[0] - mid[0]], mid, [2 * centres[-1] - mid[-1]]])


def plot_training(runs: list[Run], out_dir: Path) -> Path:
    """Figure 3: global gradient norm and spectral radius over training; clipping, divergence."""
    plt = _plt()
    fig, (ax_g, ax_r) = plt.subplots(2, 1, figsize=(8, 6.5), sharex=True)
    table = []
    for run, color in zip(runs, _colors(len(runs)), strict=True):
        d = run.diagnostics

        def series(q, d=d):
            s = d[d["quantity"] == q]
            return s.assign(v=_values(s, "value")).groupby("step")["v"].first()

        before = series("grad_norm_before_clip")
        after = series("grad_norm_after_clip")
        peak = series("grad_norm_before_clip_max")
        frac = series("clip_fraction")
        rho = (
            d[(d["quantity"] == "spectral_radius") & (d["layer"] == 0)]
            .assign(v=lambda s: _values(s, "value"))
            .groupby("step")["v"]
            .max()
        )
        few = dict(marker="o", ms=4) if len(before) <= 3 else {}
        ax_g.semilogy(before.index, before.to_numpy(), color=color, lw=1.3, label=run.label, **few)
        if len(peak):
            ax_g.semilogy(peak.index, peak.to_numpy(), color=color, lw=0.6, ls=":", alpha=0.7)
        clipped = frac[frac > 0].index if len(frac) else after.index[(after < before).to_numpy()]
        if len(clipped):
            ax_g.semilogy(
                clipped, before.reindex(clipped).to_numpy(), "v", color=color, ms=4, mfc="none"
            )
        # divergence: the step summary.json names, else the first non-finite norm
        stop = run.meta.get("summary", {}).get("diverged_step")
        bad = before.index[~np.isfinite(before.to_numpy())]
        if stop is None and len(bad):
            stop = int(bad[0])
        if stop is not None:
            ok = before[np.isfinite(before.to_numpy()) & (before.index <= stop)]
            y = ok.iloc[-1] if len(ok) else 1.0
            ax_g.semilogy([stop], [y], "X", color=color, ms=10, mec="k")
            ax_g.annotate(f"diverged (step {stop})", (stop, y), fontsize=7, xytext=(4, 4),
                          textcoords="offset points", color=color)  # fmt: skip
        ax_r.plot(rho.index, rho.to_numpy(), color=color, lw=1.3, label=run.label, **few)
        frame = pd.DataFrame(
            {"grad_norm_before_clip": before, "grad_norm_after_clip": after,
             "clip_fraction": frac, "spectral_radius_l0": rho}
        )  # fmt: skip
        frame.index.name = "step"
        table.append(frame.reset_index().assign(run=run.label, cell=run.cell))
    ax_g.set_ylabel("global ||dL/dtheta|| before clipping")
    ax_g.set_title(
        "gradient norm over training (v: clipped since the last log, X: diverged, "
        "dotted: max since the last log)",
        fontsize=9,
    )
    ax_g.grid(True, alpha=0.3)
    ax_g.legend(fontsize=7, loc="best")
    ax_r.axhline(1.0, color="gray", lw=0.8, ls="--")
    ax_r.set_yscale("log")
    from matplotlib.ticker import FuncFormatter, LogLocator

    ax_r.yaxis.set_major_formatter(FuncFormatter(lambda v, _: f"{v:g}"))
    ax_r.yaxis.set_minor_locator(LogLocator(subs=(2.0, 3.0, 5.0)))
    ax_r.yaxis.set_minor_formatter(FuncFormatter(lambda v, _: f"{v:g}"))
    ax_r.set_ylabel("spectral radius of W_hh\n(layer 0, largest gate block; log scale)")
    ax_r.set_xlabel("training step")
    ax_r.grid(True, alpha=0.3)
    fig.tight_layout()
    png = out_dir / "gradient_training.png"
    if table:
        _save_csv(pd.concat(table, ignore_index=True), out_dir / "gradient_training.csv")
    _save(fig, png)
    plt.close(fig)
    return png


def plot_directory(directory: str | os.PathLike, steps=(0, -1)) -> list[Path]:
    """Draw every figure for the runs at or below `directory`; return the files written."""
    directory = Path(directory)
    runs = find_runs(directory)
    if not runs:
        raise FileNotFoundError(f"no {GRAD_NORMS} at or below {directory}")
    png1, rates = plot_profiles(runs, directory, steps)
    return [png1, rates, plot_heatmaps(runs, directory), plot_training(runs, directory)]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m rnnbench.diagnostics_plots",
        description="Draw the gradient-diagnostics figures of a run or sweep directory.",
    )
    parser.add_argument("directory", help="a run directory or a sweep directory")
    parser.add_argument(
        "--steps",
        type=int,
        nargs="+",
        default=[0, -1],
        help="training steps of the profile figure; negative counts from the last logged step",
    )
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(message)s")
    try:
        written = plot_directory(args.directory, tuple(args.steps))
    except FileNotFoundError as err:
        print(f"error: {err}", file=sys.stderr)
        return 2
    for p in written:
        log.info("wrote %s", p)
    rates = pd.read_csv(written[1])
    with pd.option_context("display.width", 160, "display.max_columns", 20):
        log.info(
            "%s",
            rates[
                ["run", "step", "fitted_rate_per_step", "jacobian_rate_per_step", "spectral_radius"]
            ].to_string(index=False, float_format=lambda v: f"{v:.4g}"),
        )
    return 0


if __name__ == "__main__":
    sys.exit(main())
