"""The numbers of the report: pure functions from the runs (and their logs) to DataFrames.

Runs are grouped into *variants*: the cell plus any other config key that varies across the sweep
(besides the task, the sequence length and the seed), e.g. ``lstm`` or ``rnn radius=1.5``. Seeds
are the replicates of a variant at one (task, seq_len).

A run *blew up* if it ended ``diverged`` (the run's own divergence rule stopped it) or its final
eval loss is infinite or at least `BLOWUP` times both the memoryless baseline and its first
evaluated loss: its loss says nothing about learning, so it is counted apart and left out of the
loss statistics.
"""

from __future__ import annotations

import re

import numpy as np
import pandas as pd

from ..cells import CELL_SPECS, cells_with_gate
from ..runs import STATUSES
from .aggregate import Sweep
from .style import cell_key

# Config keys that never define a variant: the replicate, the axes of the figures, bookkeeping.
NOT_VARIANT = {"seed", "task.name", "task.seq_len", "threads", "train.progress", "train.figures"}
# Model keys that the config carries for every cell but only some cells use (the registry's cell
# options; forget_bias and chrono_tmax set the forget gate): shown only in those cells' labels.
CELL_ONLY = {f"model.{o.name}": (s.name,) for s in CELL_SPECS.values() for o in s.options}
CELL_ONLY |= {f"model.{k}": cells_with_gate("f") for k in ("forget_bias", "chrono_tmax")}
BLOWUP = 10.0  # final loss >= 10 x baseline (or not finite): a blow-up, not a plateau


# --------------------------------------------------------------------------------- variants


def variant_columns(runs: pd.DataFrame) -> list[str]:
    """Config columns (besides cell, task, T, seed) whose value differs between runs."""
    from_config = set(runs.attrs.get("config_columns", runs.columns))  # not summary results
    cols = []
    for col in runs.columns:
        if "." not in col or col in NOT_VARIANT or col == "model.cell":
            continue
        if col.startswith(("hydra.", "summary.", "task.")) or col not in from_config:
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
        name = str(cell) if isinstance(cell, str) else "?"
        opts = [
            f"{c.rsplit('.', 1)[-1]}={'T' if c in per_length else row[c]}"
            for c in extra
            if pd.notna(row[c]) and cell in CELL_ONLY.get(c, (cell,))
        ]
        return " ".join([name, ", ".join(opts)]).strip()

    runs["variant"] = runs.apply(label, axis=1) if len(runs) else pd.Series(dtype=str)
    return runs


def variant_order(runs: pd.DataFrame) -> list[str]:
    return sorted(runs["variant"].dropna().unique(), key=cell_key)


# --------------------------------------------------------------------------------- tables


def blew_up(runs: pd.DataFrame) -> pd.Series:
    """Per run: diverged, or completed with a final loss that is infinite or at least BLOWUP
    times both the baseline and the first evaluated loss (an untrained network can start far
    above a task's baseline; a blow-up ends far above where it started)."""
    loss = pd.to_numeric(runs["final_eval_loss"], errors="coerce")
    base = pd.to_numeric(runs["baseline_loss"], errors="coerce")
    first = pd.to_numeric(runs.get("first_eval_loss", np.nan), errors="coerce")
    above_start = (loss >= BLOWUP * first) | pd.isna(first)  # no eval logged: baseline alone
    huge = (loss == np.inf) | ((loss >= BLOWUP * base) & above_start)
    return (runs["status"] == "diverged") | ((runs["status"] == "completed") & huge)


def learning_curve_table(sweep: Sweep, runs: pd.DataFrame, metric: str = "loss") -> pd.DataFrame:
    """Eval `metric` per (task, seq_len, variant, step): mean, std, min, max over seeds."""
    m = sweep.metrics
    m = m[(m["split"] == "eval") & (m["metric"] == metric)]
    m = m.merge(runs[["run", "task", "seq_len", "variant"]], on="run").dropna(subset=["variant"])
    if not len(m):
        return pd.DataFrame(
            columns=["task", "seq_len", "variant", "step", "mean", "std", "min", "max", "n_seeds"]
        )
    g = m.groupby(["task", "seq_len", "variant", "step"])["value"]
    table = g.agg(["mean", "std", "min", "max", "count"]).reset_index()
    return table.rename(columns={"count": "n_seeds"})


def final_table(runs: pd.DataFrame) -> pd.DataFrame:
    """Per (task, variant, seq_len): seeds finished, solved and blown up; final loss (runs that
    did not blow up) and accuracy statistics."""
    done = runs[runs["status"].isin(STATUSES)].copy()
    cols = ["task", "variant", "seq_len"]
    if not len(done):
        return pd.DataFrame(columns=[*cols, "n_runs", "n_solved", "n_blowup", "frac_solved"])
    done["solved_"] = done["solved"].fillna(False).astype(bool) & (done["status"] == "completed")
    for c in ("final_eval_loss", "final_eval_accuracy", "baseline_loss", "steps_per_s"):
        done[c] = pd.to_numeric(done[c], errors="coerce")
    done["blowup_"] = blew_up(done)
    done["loss_"] = done["final_eval_loss"].where(~done["blowup_"])
    table = (
        done.groupby(cols)
        .agg(
            n_runs=("run", "size"),
            n_completed=("status", lambda s: int((s == "completed").sum())),
            n_diverged=("status", lambda s: int((s == "diverged").sum())),
            n_failed=("status", lambda s: int(s.isin(["failed", "interrupted"]).sum())),
            n_solved=("solved_", "sum"),
            n_blowup=("blowup_", "sum"),
            loss_mean=("loss_", "mean"),
            loss_min=("loss_", "min"),
            loss_max=("loss_", "max"),
            accuracy_mean=("final_eval_accuracy", "mean"),
            accuracy_min=("final_eval_accuracy", "min"),
            accuracy_max=("final_eval_accuracy", "max"),
            baseline_loss=("baseline_loss", "max"),
        )
        .reset_index()
    )
    table[["n_solved", "n_blowup"]] = table[["n_solved", "n_blowup"]].astype(int)
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


def first_and_last(g: pd.DataFrame) -> pd.DataFrame:
    """The rows of each run's first and last logged step, with `when` = "first" / "last"."""
    first = g.groupby("run")["step"].transform("min")
    last = g.groupby("run")["step"].transform("max")
    g = g[(g["step"] == first) | (g["step"] == last)].copy()
    g["when"] = np.where(g["step"] == last.loc[g.index], "last", "first")
    return g


def grad_norm_table(sweep: Sweep, runs: pd.DataFrame) -> pd.DataFrame:
    """||dL/dh_t|| of layer 0 at each run's first and last logged step; geometric mean of seeds."""
    g = sweep.grad_norms
    if not len(g):
        return pd.DataFrame(columns=["task", "seq_len", "variant", "when", "step", "t", "norm"])
    g = g[g["layer"] == 0].merge(runs[["run", "task", "seq_len", "variant"]], on="run")
    g = first_and_last(g)
    norm = pd.to_numeric(g["norm"], errors="coerce").astype(float)
    g["log10_norm"] = np.log10(norm.where(norm > 0))
    table = (
        g.groupby(["task", "seq_len", "variant", "when", "t"])
        .agg(step=("step", "max"), log10_norm=("log10_norm", "mean"), n_seeds=("run", "nunique"))
        .reset_index()
    )
    table["norm"] = 10.0 ** table["log10_norm"]
    return table


LENGTH_KEY = re.compile(r"^length_eval\.(\d+)\.loss$")  # summary.json length_eval: {T': {...}}


def length_table(runs: pd.DataFrame) -> pd.DataFrame:
    """The trained networks evaluated at other lengths T' (``eval.seq_lens``): per (task,
    variant, trained T, T'), the mean eval loss, the baseline at T', their ratio and the seeds
    solved, over the completed runs."""
    cols = ["task", "variant", "seq_len", "eval_seq_len", "n_runs", "n_solved", "loss_mean",
            "baseline_loss", "loss_vs_baseline"]  # fmt: skip
    done = runs[runs["status"] == "completed"]
    frames = []
    for T2 in sorted({int(m.group(1)) for c in runs.columns if (m := LENGTH_KEY.match(c))}):
        key = f"length_eval.{T2}."
        sub = done[["task", "variant", "seq_len"]].assign(
            eval_seq_len=T2,
            loss=pd.to_numeric(done[f"{key}loss"], errors="coerce"),
            base=pd.to_numeric(done.get(f"{key}baseline_loss"), errors="coerce"),
            solved=done.get(f"{key}solved", pd.Series(False, index=done.index)).fillna(False),
        )
        frames.append(sub.dropna(subset=["loss"]))
    if not frames or not sum(len(f) for f in frames):
        return pd.DataFrame(columns=cols)
    g = pd.concat(frames).groupby(["task", "variant", "seq_len", "eval_seq_len"])
    table = g.agg(
        n_runs=("loss", "size"),
        n_solved=("solved", lambda s: int(s.astype(bool).sum())),
        loss_mean=("loss", "mean"),
        baseline_loss=("base", "max"),
    ).reset_index()
    table["loss_vs_baseline"] = table["loss_mean"] / table["baseline_loss"]
    return table[cols]


MILESTONES = ("steps_below_90pct_baseline", "steps_below_10pct_baseline", "steps_to_solve")


def milestone_table(runs: pd.DataFrame) -> pd.DataFrame:
    """How long each (task, variant, T) sat on the memoryless baseline: per milestone the
    summary records (first step below 0.9x and 0.1x the baseline, first step solved), the
    median over the seeds that reached it and how many did; empty for runs without them."""
    present = [m for m in MILESTONES if m in runs.columns]
    done = runs[runs["status"].isin(STATUSES)]
    if not present or not len(done) or done[present].isna().all().all():
        return pd.DataFrame()
    g = done.groupby(["task", "variant", "seq_len"])
    table = g.size().rename("n_runs").to_frame()
    for m in present:
        steps = pd.to_numeric(done[m], errors="coerce")
        table[f"{m}_median"] = steps.groupby(
            [done["task"], done["variant"], done["seq_len"]]
        ).median()
        table[f"{m}_n"] = (
            steps.notna().groupby([done["task"], done["variant"], done["seq_len"]]).sum()
        )
    return table.reset_index()
