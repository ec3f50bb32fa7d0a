"""The gradient diagnostics of runs: numbers as DataFrames, then figures (`gradient_figures`).

    python -m rnnbench.report gradients DIR [--steps 0 -1]

DIR is one run directory (holding ``grad_norms.parquet`` and ``diagnostics.parquet``) or a sweep
directory; every run below DIR is read (`aggregate`). Written into DIR, each figure next to a CSV
of exactly what it shows:

- ``gradient_profile.png`` / ``.csv``: ||dL/dh_t|| on a log scale against the distance from the
  loss, T - t, one line per run, at the first and the last logged training step; for tanh/relu
  RNN runs the theory's slope ln(rho) per step, anchored at t = T, is drawn dashed;
- ``gradient_rates.csv``: for those profiles (``run``: the run directory, ``label``: its name in
  the figures), the fitted per-step factor exp(slope) of
  ln ||dL/dh_t|| against T - t (least squares), the same for the Jacobian gain ||dh_T/dh_t||
  (where logged), next to rho of the top layer's recurrent matrix (largest gate block);
- ``gradient_heatmap.png``: log10 ||dL/dh_t|| over training step and t, one panel per run,
  non-finite values drawn in magenta;
- ``gradient_training.png`` / ``.csv``: the global gradient norm (before clipping) and the
  spectral radius over training, with clipping events and divergence marked.
"""

from __future__ import annotations

import argparse
import logging
import math
import sys
from pathlib import Path

import numpy as np
import pandas as pd

from ..diagnostics import GRAD_NORMS_FILE, fit_log_slope
from .aggregate import Sweep, check_root, load
from .tables import add_variants

log = logging.getLogger(__name__)

PROFILE_COLUMNS = ["run", "label", "cell", "step", "layer", "t", "steps_before_loss", "norm"]
SERIES = {  # column of gradient_training.csv <- diagnostics quantity (layer 0 for the radius)
    "grad_norm_before_clip": "grad_norm_before_clip",
    "grad_norm_after_clip": "grad_norm_after_clip",
    "grad_norm_before_clip_max": "grad_norm_before_clip_max",
    "clip_fraction": "clip_fraction",
}


def labelled(sweep: Sweep) -> pd.DataFrame:
    """The runs that logged gradient norms, each with a `label`: its variant, its seed when
    the runs have several, and its status when it did not complete."""
    runs = add_variants(sweep.runs)
    runs = runs[runs["run"].isin(set(sweep.grad_norms["run"]))].copy()
    seeds = runs["seed"].nunique(dropna=True) > 1 if len(runs) else False
    labels = []
    for r in runs.itertuples():
        label = str(r.variant)
        if seeds and pd.notna(r.seed):
            label += f", seed {int(r.seed)}"
        if r.status != "completed":
            label += f" [{r.status}]"
        labels.append(label)
    runs["label"] = pd.Series(labels, index=runs.index, dtype=object)  # str even with no runs
    twice = runs["label"].duplicated(keep=False)  # same variant and seed: name the directory
    runs.loc[twice, "label"] = runs["label"][twice] + " (" + runs["run"][twice] + ")"
    return runs.reset_index(drop=True)


def pick_steps(steps: np.ndarray, wanted: list[int]) -> list[int]:
    """Map requested steps (negative = from the end) onto logged steps, the nearest one."""
    steps = np.unique(steps)
    if steps.size == 0:
        return []
    out = []
    for w in wanted:
        target = steps[w] if w < 0 and -w <= steps.size else w
        out.append(int(steps[np.argmin(np.abs(steps - target))]))
    return list(dict.fromkeys(out))


def _top(frame: pd.DataFrame, run: str) -> pd.DataFrame:
    g = frame[frame["run"] == run]
    return g[g["layer"] == g["layer"].max()] if len(g) else g


def gradient_profiles(sweep: Sweep, runs: pd.DataFrame, steps=(0, -1)) -> pd.DataFrame:
    """||dL/dh_t|| of each run's top layer at the chosen logged steps, with T - t."""
    frames = []
    for r in runs.itertuples():
        g = _top(sweep.grad_norms, r.run)
        g = g[g["step"].isin(pick_steps(g["step"].to_numpy(), list(steps)))].sort_values(
            ["step", "t"]
        )
        T = g.groupby("step")["t"].transform("max")
        frames.append(g.assign(label=r.label, cell=r.cell, steps_before_loss=T - g["t"]))
    if not frames:
        return pd.DataFrame(columns=PROFILE_COLUMNS)
    return pd.concat(frames, ignore_index=True)[PROFILE_COLUMNS]


def _diag(sweep: Sweep, run: str, quantity: str) -> pd.DataFrame:
    d = sweep.diagnostics
    if not len(d):
        return d
    return d[(d["run"] == run) & (d["quantity"] == quantity)]


def spectral_radius(sweep: Sweep, run: str, step: int, layer: int) -> float:
    """rho of weight_hh_l{layer} (largest over gate blocks) at the last logged step at or
    before `step` (a diverging step is logged without spectra); NaN if none."""
    d = _diag(sweep, run, "spectral_radius")
    d = d[(d["step"] <= step) & (d["layer"] == layer)] if len(d) else d
    if not len(d):
        return math.nan
    v = d[d["step"] == d["step"].max()]["value"].to_numpy(float)
    return float(np.nanmax(v)) if np.isfinite(v).any() else math.nan


def _jacobian_slope(sweep: Sweep, run: str, step: int, layer: int) -> float:
    """Fitted ln ||dh_T/dh_t|| per step back from T, from the jacobian_norm rows of `step`."""
    d = _diag(sweep, run, "jacobian_norm")
    d = d[(d["step"] == step) & (d["layer"] == layer)] if len(d) else d
    if not len(d):
        return math.nan
    t = d["t"].to_numpy(float)
    return fit_log_slope(np.nanmax(t) - t, d["value"].to_numpy(float))[0]


def _exp(x: float) -> float:
    return math.exp(x) if np.isfinite(x) else math.nan


def gradient_rates(sweep: Sweep, profiles: pd.DataFrame) -> pd.DataFrame:
    """Per run and profiled step: the fitted per-step factor of ||dL/dh_t|| back from the loss,
    the same for the Jacobian gain, rho(W_hh), and the norms at t = T and t = 1."""
    rows = []
    for (run, step), p in profiles.groupby(["run", "step"], sort=False):
        layer, d, norm = int(p["layer"].iloc[0]), p["steps_before_loss"], p["norm"]
        slope, _, npts = fit_log_slope(d.to_numpy(float), norm.to_numpy(float))
        rho = spectral_radius(sweep, run, step, layer)
        rows.append(
            {
                "run": run,
                "label": p["label"].iloc[0],
                "cell": p["cell"].iloc[0],
                "step": step,
                "layer": layer,
                "seq_len": int(p["t"].max()),
                "fitted_log_rate_per_step": slope,
                "fitted_rate_per_step": _exp(slope),
                "jacobian_rate_per_step": _exp(_jacobian_slope(sweep, run, step, layer)),
                "spectral_radius": rho,
                "log_spectral_radius": math.log(rho) if rho > 0 else math.nan,
                "points": npts,
                "norm_at_loss": float(norm[d == 0].iloc[0]) if (d == 0).any() else math.nan,
                "norm_at_start": float(norm[p["t"] == 1].iloc[0])
                if (p["t"] == 1).any()
                else math.nan,
            }
        )
    return pd.DataFrame(rows)


def training_series(sweep: Sweep, runs: pd.DataFrame) -> pd.DataFrame:
    """Per run and logged step: the global gradient norm before and after clipping (and the
    largest since the previous record), the clipped fraction, rho of layer 0."""
    frames = []
    for r in runs.itertuples():
        cols = {
            c: _diag(sweep, r.run, q).groupby("step")["value"].first() for c, q in SERIES.items()
        }
        rho = _diag(sweep, r.run, "spectral_radius")
        cols["spectral_radius_l0"] = rho[rho["layer"] == 0].groupby("step")["value"].max()
        frame = pd.DataFrame(cols)
        frame.index.name = "step"
        frames.append(frame.reset_index().assign(run=r.run, label=r.label, cell=r.cell))
    return pd.concat(frames, ignore_index=True) if frames else pd.DataFrame()


def write(directory: str | Path, steps=(0, -1)) -> list[Path]:
    """Draw every gradient figure for the runs at or below `directory`; the files written."""
    from . import gradient_figures as gf

    directory = Path(directory)
    sweep = load([directory])
    runs = labelled(sweep)
    if not len(runs):
        raise FileNotFoundError(f"no readable {GRAD_NORMS_FILE} at or below {directory}")
    profiles = gradient_profiles(sweep, runs, steps)
    rates = gradient_rates(sweep, profiles)
    series = training_series(sweep, runs)
    return [
        *gf.profiles(profiles, rates, directory, steps),
        gf.write_rates(rates, directory),
        gf.heatmaps(sweep, runs, directory),
        *gf.training(series, runs, directory),
    ]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m rnnbench.report gradients",
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
    logging.basicConfig(level=logging.INFO, format="%(message)s", force=True)
    if (why := check_root(Path(args.directory))) is not None:
        print(f"error: {args.directory}: {why}", file=sys.stderr)
        return 2
    try:
        written = write(args.directory, tuple(args.steps))
    except FileNotFoundError as err:
        print(f"error: {err}", file=sys.stderr)
        return 2
    except OSError as err:
        print(f"error: {args.directory}: {err.strerror or err}", file=sys.stderr)
        return 2
    for p in written:
        log.info("wrote %s", p)
    rates = pd.read_csv(next(p for p in written if p.name == "gradient_rates.csv"))
    cols = ["label", "step", "fitted_rate_per_step", "jacobian_rate_per_step", "spectral_radius"]
    with pd.option_context("display.width", 160, "display.max_columns", 20):
        log.info("%s", rates[cols].to_string(index=False, float_format=lambda v: f"{v:.4g}"))
    return 0


if __name__ == "__main__":
    sys.exit(main())
