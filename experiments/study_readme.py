"""results/<study>/README.md for the studies of issue 8, from the files the runs wrote.

    python experiments/study_readme.py STUDY

Reads results/sweeps/STUDY (summary.json, config.yaml, metrics.parquet of every run; timing.json
written by experiments/_study.sh) and results/STUDY (the report's runs.csv, the diagnostics'
gradient_rates.csv) and writes results/STUDY/README.md: the question, the command, the settings
and how they scale the paper's down, the wall and CPU time, the result table next to the
published number where tasks.md gives one, and whether it reproduces. Nothing is re-run.
"""

from __future__ import annotations

import json
import math
import sys
from pathlib import Path

import pandas as pd
import yaml

from rnnbench.tasks import make_task

ROOT = Path(__file__).resolve().parent.parent
AT_BASELINE = 0.9  # final loss >= 0.9 * baseline: "at the baseline" (as rnnbench.report)


# ----------------------------------------------------------------------------- reading runs


def load_runs(sweep: Path) -> pd.DataFrame:
    """One row per run: swept keys, summary, first steps solved and below the baseline."""
    rows = []
    for summary in sorted(sweep.glob("*/summary.json")):
        run = summary.parent
        s = json.loads(summary.read_text())
        cfg = yaml.safe_load((run / "config.yaml").read_text())
        task_opts = {k: v for k, v in cfg["task"].items() if k != "name"}
        task = make_task(cfg["task"]["name"], **task_opts)
        m = pd.read_parquet(run / "metrics.parquet")
        ev = m[m["split"] == "eval"].pivot_table(index="step", columns="metric", values="value")
        solved_at = next(
            (int(step) for step, r in ev.iterrows() if task.solved(r.dropna().to_dict())), None
        )
        left_at = next(
            (int(st) for st, r in ev.iterrows() if r["loss"] < AT_BASELINE * task.baseline_loss),
            None,
        )
        rows.append(
            {
                "run": run.name,
                "model": _model_label(cfg["model"]),
                "seq_len": cfg["task"]["seq_len"],
                "seed": cfg["seed"],
                "spectral_radius": cfg["model"].get("spectral_radius"),
                "clip": cfg["clip"]["method"],
                "status": s["status"],
                "final_loss": s.get("final_eval_loss"),
                "final_accuracy": ev["accuracy"].iloc[-1] if "accuracy" in ev else math.nan,
                "baseline": task.baseline_loss,
                "solved": bool(s.get("solved")),
                "solved_step": solved_at,
                "left_baseline_step": left_at,
                "diverged_step": s.get("diverged_step"),
                "batch_size": cfg["train"]["batch_size"],
                "wall_time_s": s.get("wall_time_s"),
                "steps_per_s": s.get("steps_per_s"),
            }
        )
    return pd.DataFrame(rows)


def _model_label(m: dict) -> str:
    """The study preset: rnn (tanh), irnn, lstm, lstm forget bias 1, lstm chrono, gru."""
    if m["cell"] == "rnn":
        return "irnn" if m.get("init") == "identity" else f"rnn ({m.get('nonlinearity', 'tanh')})"
    if m["cell"] == "lstm":
        if m.get("chrono_tmax") is not None:
            return "lstm chrono"
        if m.get("forget_bias") is not None:
            return f"lstm forget bias {m['forget_bias']:g}"
        return "lstm"
    return m["cell"]


def settings(sweep: Path) -> tuple[dict, dict]:
    """(resolved config of the first run, the swept parameters of multirun.yaml)."""
    cfg = yaml.safe_load(next(iter(sorted(sweep.glob("*/config.yaml")))).read_text())
    multirun = yaml.safe_load((sweep / "multirun.yaml").read_text())
    params = multirun["hydra"]["sweeper"].get("params") or {}
    for override in multirun["hydra"]["overrides"].get("task") or []:  # command-line sweeps
        key, _, value = override.partition("=")
        if "," in value:
            params[key] = value
    return cfg, params


def _fmt(v, digits: int = 3) -> str:
    if v is None or (isinstance(v, float) and math.isnan(v)):
        return "-"
    if isinstance(v, float):
        return f"{v:.{digits}g}"
    return str(v)


def md_table(frame: pd.DataFrame) -> str:
    cols = list(frame.columns)
    out = ["| " + " | ".join(map(str, cols)) + " |", "|" + "|".join("---" for _ in cols) + "|"]
    for _, r in frame.iterrows():
        out.append("| " + " | ".join(_fmt(r[c]) for c in cols) + " |")
    return "\n".join(out)


def _kseq(steps: float | None, batch: int) -> str:
    return "-" if steps is None or pd.isna(steps) else f"{steps * batch / 1000:.0f}k"


def header(study: str, title: str, question: str, scaled: str, sweep: Path, out: Path) -> list[str]:
    cfg, params = settings(sweep)
    timing = (
        json.loads((sweep / "timing.json").read_text()) if (sweep / "timing.json").exists() else {}
    )
    runs = load_runs(sweep)
    job_sum = runs["wall_time_s"].sum()
    lines = [f"# Study: {title}", "", question, "", "```bash", f"experiments/{study}.sh", "```", ""]
    lines += [
        f"Grid: `conf/experiment/study_{study}.yaml`, swept "
        + ", ".join(f"`{k}` = {v}" for k, v in params.items())
        + f" ({len(runs)} runs). Full report: [report.md](report.md).",
        "",
        "**Settings.** "
        + f"hidden {cfg['model']['hidden_size']}, {cfg['model']['dtype']}, optimiser "
        + f"{cfg['optim']['name']} lr {cfg['optim']['lr']:g}, clipping {cfg['clip']['method']}"
        + (f" at {cfg['clip']['max_value']:g}" if cfg["clip"]["method"] != "none" else "")
        + f", batch {cfg['train']['batch_size']}, {cfg['train']['steps']} steps "
        + f"({cfg['train']['steps'] * cfg['train']['batch_size'] / 1000:.0f}k sequences), "
        + f"evaluation every {cfg['train']['eval_every']} steps on {cfg['train']['eval_size']} "
        + f"held-out sequences, task convention `{cfg['task']['convention']}`, threads 1 per job.",
        "",
        f"**Scaled down.** {scaled}",
        "",
    ]
    if timing:
        lines += [
            f"**Time.** {timing['wall_s']} s wall ({timing['wall_s'] / 60:.1f} min) and "
            + (
                f"{timing['cpu_s']:.0f} s CPU"
                if timing.get("cpu_s") is not None
                else "CPU time n/a"
            )
            + f" for the sweep with `hydra/launcher=joblib` on {timing['cpus']} cores "
            + f"({timing['jobs_trained']} of {timing['jobs_total']} jobs trained in that "
            + f"invocation; load average {timing['loadavg_start']} at the start, the machine "
            + "was shared with other jobs), plus a few seconds for the report. Sum of the "
            + f"jobs' own wall times: {job_sum:.0f} s.",
            "",
        ]
    return lines


# ----------------------------------------------------------------------------- studies


def adding_length(sweep: Path, out: Path) -> list[str]:
    runs = load_runs(sweep)
    lines = header(
        "adding_length",
        "adding problem, length sweep",
        "Up to which length T does each cell beat the memoryless MSE of 1/6 on the adding problem "
        "(le2015 convention: MSE of the sum of the two marked values, read at the last step), "
        "and up to which T does it solve it (MSE < 0.01)? tanh RNN, IRNN (relu units, identity "
        "recurrent init, zero biases; Le et al. 2015), LSTM and GRU with PyTorch's init.",
        "Hochreiter & Schmidhuber (1997) went to T = 1000 with up to 853k training sequences and "
        "Le et al. (2015) to T = 400 with millions; here T <= 200, hidden 32 and 128k sequences "
        "(4000 steps of 32) per run, two seeds, Adam instead of their SGD. The ranking of the "
        "cells is what carries over, not the absolute lengths.",
        sweep,
        out,
    )
    lengths = sorted(runs["seq_len"].unique())
    order = [m for m in ("rnn (tanh)", "irnn", "lstm", "gru") if m in set(runs["model"])]
    rows = []
    for model in order:
        r = {"cell": model}
        for t in lengths:
            s = runs[(runs["model"] == model) & (runs["seq_len"] == t)].sort_values("seed")
            marks = [
                f"{x.final_loss:.3g}{'*' if x.solved else ''}"
                if x.status == "completed"
                else x.status
                for x in s.itertuples()
            ]
            r[f"T={t}"] = " / ".join(marks)
        beat = [
            t
            for t in lengths
            if (g := runs[(runs["model"] == model) & (runs["seq_len"] == t)]).size
            and (g["final_loss"] < AT_BASELINE * g["baseline"]).all()
        ]
        solved = [
            t
            for t in lengths
            if runs[(runs["model"] == model) & (runs["seq_len"] == t)]["solved"].all()
        ]
        r["beats 1/6 up to"] = _upto(beat, lengths)
        r["solved up to"] = _upto(solved, lengths)
        rows.append(r)
    table = pd.DataFrame(rows)
    table.to_csv(out / "study_table.csv", index=False)
    lines += [
        "## Result",
        "",
        "Final held-out MSE per seed (seed 0 / seed 1; `*` solved, MSE < 0.01); memoryless "
        'baseline 1/6 = 0.167. "Beats 1/6": every seed ends below 0.9 x 1/6 = 0.15, at '
        "every length up to the one named (data: [study_table.csv](study_table.csv)).",
        "",
        md_table(table),
        "",
        "![final loss against T](final_vs_length.png)",
        "",
        "![learning curves](learning_curves.png)",
        "",
    ]

    # published numbers (tasks.md)
    def seqs(model, t, col="solved_step"):
        g = runs[(runs["model"] == model) & (runs["seq_len"] == t)]
        if not len(g) or g[col].isna().any():
            return "not within the budget" + (
                f" ({g[col].notna().sum()}/{len(g)} seeds)" if len(g) else ""
            )
        return " / ".join(_kseq(v, b) for v, b in zip(g[col], g["batch_size"], strict=True))

    lstm100 = runs[(runs["model"] == "lstm") & (runs["seq_len"] == 100)]
    below001 = _first_below(sweep, lstm100, 0.001)
    rnn100 = runs[(runs["model"] == "rnn (tanh)") & (runs["seq_len"] == 100)]["final_loss"]
    lines += [
        "## Next to the published numbers",
        "",
        "| quantity | published (tasks.md) | here |",
        "|---|---|---|",
        f"| LSTM, T = 100: training sequences to solve | ~74k (Hochreiter & Schmidhuber 1997) | "
        f"{seqs('lstm', 100)} (seed 0 / 1) |",
        f"| LSTM, T = 200: training sequences to solve | between 74k (T = 100) and 209k "
        f"(T = 500) | {seqs('lstm', 200)} |",
        f"| small LSTM, T = 100: iterations to MSE < 0.001 | ~8k (hidden 8, Adam 5e-3, clip 1, "
        f"batch 32; public reproduction) | {below001} (hidden 32) |",
        f"| tanh RNN, T = 100: MSE in that budget | ~0.07 | "
        f"{' / '.join(f'{v:.3g}' for v in rnn100)} |",
        "| IRNN vs tanh RNN | IRNN solves tasks the tanh RNN cannot (Le et al. 2015) | "
        f"IRNN beats 1/6 up to T = {_cell(table, 'irnn', 'beats 1/6 up to')} and solves "
        f"{_solved_where(runs, 'irnn')}; tanh RNN beats 1/6 up to "
        f"T = {_cell(table, 'rnn (tanh)', 'beats 1/6 up to')} and solves "
        f"{_solved_where(runs, 'rnn (tanh)')} |",
        "",
        "Differences: Hochreiter & Schmidhuber's adding problem is the `hochreiter1997` "
        "convention (values in [-1, 1], target 0.5 + (X1 + X2)/4, constant-predictor MSE 1/24, "
        '"solved" = all of 2000 test sequences within 0.04 and an average error below 0.01) '
        "and their LSTM was trained by online SGD; here the `le2015` convention with Adam and "
        "mini-batches of 32, so the sequence counts are comparable in order of magnitude only. "
        "Sequence counts here are the first evaluation (every 250 steps) with MSE < 0.01, so "
        "they are rounded up to 8k.",
        "",
    ]
    lines += _verdict_adding(table, runs)
    return lines


def _first_below(sweep: Path, runs: pd.DataFrame, level: float) -> str:
    out = []
    for r in runs.sort_values("seed").itertuples():
        m = pd.read_parquet(sweep / r.run / "metrics.parquet")
        ev = m[(m["split"] == "eval") & (m["metric"] == "loss")].sort_values("step")
        hit = ev[ev["value"] < level]
        out.append(f"{int(hit['step'].iloc[0])}" if len(hit) else "not within 4k")
    return " / ".join(out) if out else "-"


def _upto(ok: list, lengths: list) -> str:
    """The longest T such that every T up to it is ok ('none' if the first is not)."""
    best = None
    for t in lengths:
        if t not in ok:
            break
        best = t
    extra = [t for t in ok if best is None or t > best]
    text = "none" if best is None else str(best)
    return text + (f" (also T = {', '.join(map(str, extra))})" if extra else "")


def _cell(table: pd.DataFrame, model: str, col: str) -> str:
    s = table[table["cell"] == model][col]
    return s.iloc[0] if len(s) else "-"


def _solved_where(runs: pd.DataFrame, model: str) -> str:
    g = runs[runs["model"] == model].groupby("seq_len")["solved"].agg(["sum", "size"])
    parts = [f"T = {t} ({int(r['sum'])}/{int(r['size'])} seeds)" for t, r in g.iterrows()
             if r["sum"]]  # fmt: skip
    return ", ".join(parts) if parts else "no length"


def _verdict_adding(table: pd.DataFrame, runs: pd.DataFrame) -> list[str]:
    lines = ["## Verdict", ""]
    for _, r in table.iterrows():
        lines.append(
            f"- `{r['cell']}`: beats the baseline up to T = {r['beats 1/6 up to']}, solves every "
            f"seed up to T = {r['solved up to']}."
        )
    rnn = runs[(runs["model"] == "rnn (tanh)") & (runs["seq_len"] == 100)]["final_loss"]
    lines += [
        "",
        "Agreement with the papers:",
        "",
        "- Gated cells against the tanh RNN (Hochreiter & Schmidhuber 1997): **reproduces.** "
        "LSTM and GRU solve every length on every seed, the tanh RNN only the shortest and "
        "sits on the baseline beyond; the LSTM's sequence count at T = 100 is of the order "
        "of the paper's 74k.",
        "- IRNN against the tanh RNN (Le et al. 2015): **reproduces in direction, not in "
        "reach**: the IRNN leaves the baseline at lengths where the tanh RNN cannot, but within "
        "this budget it solves them on some seeds only; Le et al. trained for millions of "
        "sequences with a tuned SGD learning rate, and the IRNN's learning curves here are still "
        "falling at the last step.",
        "- The public reproduction's tanh RNN 'near 0.07' at T = 100: **does not reproduce**: "
        f"here it ends at {' / '.join(f'{v:.3g}' for v in rnn)}, on the baseline. That budget "
        "was 8k iterations against 4k here and its hidden size and init are not stated, so the "
        "difference may be budget; an RNN at 0.07 has learned one of the two values (predicting "
        "it plus 0.5 gives MSE 1/12 = 0.083), a partial solution this run never found.",
        "- The small LSTM's ~8k iterations to MSE < 0.001: faster here (see table), with 32 "
        "units instead of 8.",
        "",
    ]
    return lines


def _per_seed(runs: pd.DataFrame, fmt) -> pd.DataFrame:
    """model x T table, each cell the seeds' values joined by ' / ' (seed order)."""
    lengths = sorted(runs["seq_len"].unique())
    rows = []
    for model in [m for m in MODEL_ORDER if m in set(runs["model"])]:
        r = {"cell": model}
        for t in lengths:
            s = runs[(runs["model"] == model) & (runs["seq_len"] == t)].sort_values("seed")
            r[f"T={t}"] = " / ".join(fmt(x) for x in s.itertuples())
        rows.append(r)
    return pd.DataFrame(rows)


MODEL_ORDER = (
    "rnn (tanh)", "irnn", "lstm", "lstm forget bias 1", "lstm chrono", "gru"
)  # fmt: skip


def copy_init(sweep: Path, out: Path) -> list[str]:
    runs = load_runs(sweep)
    lines = header(
        "copy_init",
        "copy task and LSTM initialisation",
        "Which runs stay on the memoryless baseline 10 ln 8 / (T + 20) of the copy task "
        "(Arjovsky et al. 2016 convention: recall 10 symbols from 1..8 after a gap of T steps, "
        "cross-entropy at every step) and which escape it? LSTM with PyTorch's init "
        "(U(-1/sqrt(H), 1/sqrt(H)), forget gate ~0.5), forget-gate bias 1, chrono init "
        "(b_f ~ ln U[1, T_max - 1], b_i = -b_f, T_max = T; Tallec & Ollivier 2018), and a GRU.",
        "Tallec & Ollivier trained LSTM-128 with RMSprop 1e-3 on copy gaps T = 500 to 2000 "
        "for tens of thousands of steps; here gaps T = 10, 20, 50 (sequences of 30 to 70 steps), "
        "hidden 64, Adam 5e-3, 5000 steps of 32 (160k sequences) per run, two seeds. A gap of "
        "50 is a tenth of their shortest, so the plateau is expected to be shorter, not absent.",
        sweep,
        out,
    )

    def ratio(x):
        if x.status != "completed":
            return x.status
        return f"{x.final_loss / x.baseline:.2f} ({x.final_accuracy:.2f})"

    def left(x):
        return "-" if pd.isna(x.left_baseline_step) else f"{int(x.left_baseline_step)}"

    table = _per_seed(runs, ratio)
    steps = _per_seed(runs, left)
    table.to_csv(out / "study_table.csv", index=False)
    steps.to_csv(out / "study_left_baseline.csv", index=False)
    base = {int(t): 10 * math.log(8) / (t + 20) for t in sorted(runs["seq_len"].unique())}
    lines += [
        "## Result",
        "",
        "Final held-out loss divided by the memoryless baseline, and in brackets the recall "
        "accuracy on the 10 symbols (chance 0.125, solved >= 0.99), seed 0 / seed 1. A ratio "
        "near 1 is the plateau; baselines: "
        + ", ".join(f"T = {t}: {b:.3f}" for t, b in base.items())
        + " nats ([study_table.csv](study_table.csv)).",
        "",
        md_table(table),
        "",
        "First evaluation step (every 250) with the loss below 0.9 x baseline, i.e. the step "
        "the run left the plateau; `-` never within 5000 steps "
        "([study_left_baseline.csv](study_left_baseline.csv)):",
        "",
        md_table(steps),
        "",
        "![learning curves](learning_curves.png)",
        "",
        "![final loss against T](final_vs_length.png)",
        "",
    ]

    def left(model, t):
        g = runs[(runs["model"] == model) & (runs["seq_len"] == t)].sort_values("seed")
        if not len(g):
            return "-"
        ratio = g["final_loss"] / g["baseline"]
        n = int((ratio < AT_BASELINE).sum())
        what = {0: "stays on the baseline", len(g): "leaves the baseline"}.get(
            n, f"{n}/{len(g)} seeds leave the baseline"
        )
        return f"{what} ({' / '.join(f'{v:.2f}' for v in ratio)})"

    tmax = int(runs["seq_len"].max())
    lines += [
        "## Next to the published result",
        "",
        f"Here: the longest gap, T = {tmax}, final loss / baseline per seed (leaving the "
        "baseline: below 0.9).",
        "",
        "| | published (tasks.md) | here |",
        "|---|---|---|",
        "| LSTM, standard init | plateaus at the memoryless baseline (copy T = 500; Tallec & "
        f"Ollivier 2018) | {left('lstm', tmax)} |",
        f"| LSTM, chrono init | solves copy T = 500 | {left('lstm chrono', tmax)} |",
        "| LSTM, forget bias 1 | the Arjovsky et al. (2016) recipe (no number in tasks.md) | "
        f"{left('lstm forget bias 1', tmax)} |",
        f"| GRU | (not in tasks.md) | {left('gru', tmax)} |",
        "",
        "Agreement: the order of the initialisations is the papers' -- PyTorch's init sits on "
        "the plateau longest, forget bias 1 shortens it a little, chrono init leaves it on "
        "every seed and length -- but nothing here *solves* the copy task (recall >= 0.99): "
        "Tallec & Ollivier's chrono LSTM solved T = 500 after far more training, and 5000 steps "
        "only show the escape from the plateau, not the end of learning. The GRU, not in the "
        "published comparison, escapes first at every length. Speeds in the report's speed "
        "figure are distorted by other jobs on the shared machine.",
        "",
    ]
    return lines


def temporal_order(sweep: Path, out: Path) -> list[str]:
    runs = load_runs(sweep)
    lines = header(
        "temporal_order",
        "temporal order (Hochreiter & Schmidhuber 1997, experiment 6a)",
        "Which cells solve the temporal order problem: classify the order (XX, XY, YX, YY) of "
        "two symbols placed at 10-20 % and 50-60 % of a sequence of fillers, read at the last "
        "step (chance: cross-entropy ln 4 = 1.386, accuracy 0.25; solved: accuracy >= 0.99 on "
        "512 held-out sequences)? tanh RNN, LSTM with PyTorch's init, LSTM with chrono init "
        "(T_max = T) and GRU, at T = 50, 100 (the paper's lengths 100-110) and 200.",
        "The paper trained one LSTM at T = 100 by online SGD until it met its criterion "
        "(~31k sequences); here hidden 32, Adam 5e-3, batch 32, 3000 steps (96k sequences, "
        "about 3x the paper's need) per run and two seeds, and T also halved and doubled.",
        sweep,
        out,
    )

    def acc(x):
        if x.status != "completed":
            return x.status
        return f"{x.final_accuracy:.2f}{'*' if x.solved else ''}"

    def seqs(x):
        return _kseq(x.solved_step, x.batch_size)

    table = _per_seed(runs, acc)
    need = _per_seed(runs, seqs)
    table.to_csv(out / "study_table.csv", index=False)
    need.to_csv(out / "study_sequences_to_solve.csv", index=False)
    lines += [
        "## Result",
        "",
        "Final held-out accuracy, seed 0 / seed 1 (`*` solved; chance 0.25) "
        "([study_table.csv](study_table.csv)):",
        "",
        md_table(table),
        "",
        "Training sequences until the first evaluation (every 100 steps = 3.2k sequences) "
        "that met the criterion; `-` not within 96k "
        "([study_sequences_to_solve.csv](study_sequences_to_solve.csv)):",
        "",
        md_table(need),
        "",
        "![learning curves](learning_curves.png)",
        "",
        "![final accuracy against T](final_vs_length.png)",
        "",
    ]

    def at100(model):
        g = runs[(runs["model"] == model) & (runs["seq_len"] == 100)].sort_values("seed")
        if not len(g):
            return "-"
        return " / ".join(
            _kseq(v, b) if pd.notna(v) else "not solved"
            for v, b in zip(g["solved_step"], g["batch_size"], strict=True)
        )

    lines += [
        "## Next to the published result",
        "",
        "| T = 100 | published (tasks.md) | here, sequences to solve (seed 0 / 1) |",
        "|---|---|---|",
        "| LSTM (Hochreiter & Schmidhuber's) | solved after ~31k sequences | "
        f"PyTorch init: {at100('lstm')}; chrono init: {at100('lstm chrono')} |",
        f"| GRU | (not in tasks.md) | {at100('gru')} |",
        f"| tanh RNN | (not in tasks.md) | {at100('rnn (tanh)')} |",
        "",
        "Differences: the paper's LSTM is the 1997 architecture (memory blocks, no forget "
        "gate) with its own initialisation, trained by online SGD to the criterion 'every "
        "output within 0.3 of its target' on sigmoid outputs; here PyTorch's LSTM, softmax "
        "cross-entropy with accuracy >= 0.99, Adam and mini-batches of 32. The sequence length "
        "is drawn once per batch here, per sequence in the paper.",
        "",
        "Agreement: **the paper's result -- an LSTM solves 6a in about 31k sequences -- "
        "reproduces only with the chrono initialisation**, which solves every length on every "
        "seed and at T = 100 needs fewer sequences than the paper (table above). The LSTM with "
        "PyTorch's init (forget gate ~0.5, so the cell state halves every step) stays at "
        "chance in 96k sequences at every T, as the tanh RNN does; the GRU solves only "
        "T = 50. That an LSTM needs an initialisation that keeps its memory open is Tallec & "
        "Ollivier's point, and the 1997 LSTM had no forget gate to close it.",
        "",
    ]
    return lines


def _rates(out: Path) -> pd.DataFrame:
    path = out / "gradient_rates.csv"
    return pd.read_csv(path) if path.exists() else pd.DataFrame()


def exploding(sweep: Path, out: Path) -> list[str]:
    runs = load_runs(sweep)
    lines = header(
        "exploding",
        "exploding gradients and clipping (Pascanu, Mikolov & Bengio 2013)",
        "A tanh RNN whose recurrent matrix is rescaled to spectral radius rho, trained by plain "
        "SGD on the adding problem, without clipping and with the global gradient norm clipped "
        "at 1: how fast does ||dL/dh_t|| grow back in time, which runs diverge (a step whose "
        "applied gradient exceeds 100 stops the run as `diverged`), and does clipping recover "
        "learning?",
        "Pascanu et al. trained 50 tanh units by SGD (lr 0.01, batch 20, clip 1) on T = 50 "
        "to 200 for up to millions of sequences; here the same network and clipping at T = 25, "
        "lr 0.05 (at 0.01 nothing learns visibly in this budget), 6000 steps of 20 (120k "
        "sequences), two seeds.",
        sweep,
        out,
    )
    rates = _rates(out)
    first = {}
    for r in runs.itertuples():
        d = pd.read_parquet(sweep / r.run / "diagnostics.parquet")
        g = d[d["quantity"] == "grad_norm_before_clip"].sort_values("step")
        top = d[d["quantity"] == "grad_norm_before_clip_max"]["value"]
        first[r.run] = (
            float(g["value"].iloc[0]) if len(g) else math.nan,  # null (inf/NaN) -> nan
            float(top.max()) if len(top) else math.nan,
        )
    rows = []
    for rho in sorted(runs["spectral_radius"].unique()):
        row = {"rho": rho}
        for clip in ("none", "norm"):
            s = runs[(runs["spectral_radius"] == rho) & (runs["clip"] == clip)].sort_values("seed")
            row[f"clip {clip}: outcome"] = " / ".join(
                f"diverged @ {int(x.diverged_step)}"
                if x.status == "diverged"
                else (f"{x.final_loss:.3g}" if x.status == "completed" else x.status)
                for x in s.itertuples()
            )
            if clip == "none":
                row["grad norm at step 1"] = " / ".join(
                    f"{first[x.run][0]:.2g}" for x in s.itertuples()
                )
            row[f"clip {clip}: largest grad norm"] = " / ".join(
                f"{first[x.run][1]:.2g}" for x in s.itertuples()
            )
        if len(rates):
            rr = rates[
                rates["run"].str.contains(f"spectral_radius={rho}", regex=False)
                & rates["run"].str.contains("method=norm", regex=False)
            ]
            f0 = rr[rr["step"] == rr["step"].min()]["fitted_rate_per_step"]
            f1 = rr[rr["step"] == rr["step"].max()]["fitted_rate_per_step"]
            row["gradient factor per step, first step"] = f0.mean() if len(f0) else math.nan
            row["... last step (clipped)"] = f1.mean() if len(f1) else math.nan
        rows.append(row)
    table = pd.DataFrame(rows)
    table.to_csv(out / "study_table.csv", index=False)
    _exploding_figure(runs, out)
    lines += [
        "## Result",
        "",
        "![gradient through time at the first step, and the outcome against rho]"
        "(study_exploding.png)",
        "",
        "Left: ||dL/dh_t|| against the distance to the loss at the first step (seed 0; the "
        "clipped and unclipped runs start identical), with the theory rho^(T-t) dashed in the "
        "same colour. Right: final MSE against rho without and with clipping (x: diverged, "
        "drawn at the top). Data: `gradient_profile.csv`, `runs.csv`. The dashed lines are the "
        "linear-regime prediction; for rho > 1 the hidden units saturate within a few steps and "
        "tanh' < 1 cuts the growth to the fitted factors in the table (Pascanu et al.'s "
        "condition is on rho times the bound of the derivative, not on rho alone).",
        "",
        "Final held-out MSE (memoryless baseline 1/6 = 0.167; solved < 0.01) or the step the "
        "run diverged, seed 0 / seed 1; the global gradient norm at the first step and the "
        "largest over the run (before clipping; `nan`: not finite); and the fitted per-step "
        "factor of ||dL/dh_t|| going back from the loss, at the first and the last step of the "
        "clipped runs (mean of two seeds; the theory for a tanh RNN near the origin is rho, "
        "less once units saturate) ([study_table.csv](study_table.csv)):",
        "",
        md_table(table),
        "",
        "![gradient norm and spectral radius over training](gradient_training.png)",
        "",
        "![gradient profile](gradient_profile.png)",
        "",
        "![learning curves](learning_curves.png)",
        "",
    ]

    def rhos(mask) -> str:
        v = sorted(runs[mask]["spectral_radius"].unique())
        return ", ".join(f"{x:g}" for x in v) if v else "none"

    div = runs["status"] == "diverged"
    none, norm = runs["clip"] == "none", runs["clip"] == "norm"
    clear = runs["final_loss"] < 0.6 * runs["baseline"]  # 0.1 on adding: clearly learned
    learned = norm & clear.groupby([runs["spectral_radius"], runs["clip"]]).transform("all")
    lines += [
        "## Next to the published result",
        "",
        "Pascanu et al. (2013) give no number for this setting (tasks.md: the recipe only); "
        "their findings, and what happens here:",
        "",
        "| Pascanu et al. 2013 | here |",
        "|---|---|",
        "| rho > 1 is necessary for exploding gradients; below 1 they vanish | the per-step "
        "factor at initialisation grows with rho: below 1 at rho <= 1, above 1 for rho > 1 "
        "(table) |",
        "| an exploding gradient throws SGD off (the 'cliff') | without clipping, runs "
        f"diverge at rho = {rhos(none & div)}, within the first 10 steps |",
        "| clipping the gradient norm lets the same model train | with clipping no run "
        f"diverges ({rhos(norm & div)} diverged) and the runs at rho = {rhos(learned)} "
        "learn (MSE < 0.1 = 0.6 x baseline on both seeds) |",
        "| clipping does not cure vanishing gradients | at rho = 0.5 clipped and unclipped "
        "runs are the same and stay at the baseline |",
        "",
        "Agreement: **reproduces qualitatively.** Differences: T = 25 instead of 50-200 and "
        "lr 0.05 instead of 0.01, so the budget shows learning at all; no run solves the "
        "task (MSE < 0.01) in 120k sequences, and at rho = 3 the clipped runs train without "
        "diverging but stay near the baseline.",
        "",
    ]
    return lines


def _exploding_figure(runs: pd.DataFrame, out: Path) -> None:
    """study_exploding.png from gradient_profile.csv (diagnostics_plots) and the run summaries."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    import numpy as np

    prof = pd.read_csv(out / "gradient_profile.csv")
    fig, (ax, bx) = plt.subplots(1, 2, figsize=(11, 4.2))
    rhos = sorted(runs["spectral_radius"].unique())
    cmap = plt.get_cmap("plasma")
    for i, rho in enumerate(rhos):
        c = cmap(i / max(len(rhos) - 1, 1) * 0.85)
        sel = prof[
            prof["run"].str.contains(f"spectral_radius={rho},", regex=False)
            & prof["run"].str.contains("method=norm", regex=False)
            & prof["run"].str.contains("seed=0", regex=False)
        ]
        sel = sel[sel["step"] == sel["step"].min()].sort_values("steps_before_loss")
        if not len(sel):
            continue
        d, n = sel["steps_before_loss"].to_numpy(), sel["norm"].to_numpy()
        ax.semilogy(d, n, color=c, lw=1.8, label=f"rho = {rho:g}")
        ax.semilogy(d, n[d == 0][0] * rho ** d.astype(float), color=c, lw=1, ls="--")
    ax.set_xlabel("steps before the loss, T - t")
    ax.set_ylabel("||dL/dh_t|| at step 1 (log)")
    ax.set_title("gradient through time at initialisation (dashed: rho^(T-t))")
    ax.grid(alpha=0.3)
    ax.legend(fontsize=8)
    top = 1.0
    for clip, marker, c, dx in (("none", "o", "tab:red", -0.06), ("norm", "s", "tab:blue", 0.06)):
        g = runs[runs["clip"] == clip]
        ok = g[g["status"] == "completed"]
        bad = g[g["status"] == "diverged"]
        jitter = dx + np.where(ok["seed"] == 0, -0.02, 0.02)
        bx.scatter(ok["spectral_radius"] + jitter, ok["final_loss"], marker=marker, color=c,
                   label=f"clip {clip}")  # fmt: skip
        if len(bad):
            bx.scatter(bad["spectral_radius"] + dx, np.full(len(bad), top), marker="x", color=c,
                       s=60, label=f"clip {clip}: diverged")  # fmt: skip
    bx.axhline(1 / 6, color="k", ls="--", lw=1, label="memoryless baseline 1/6")
    bx.set_yscale("log")
    bx.set_xlabel("spectral radius rho of W_hh at initialisation")
    bx.set_ylabel("final held-out MSE (log)")
    bx.set_title("outcome after training (two seeds)")
    bx.set_xticks(rhos)
    bx.grid(alpha=0.3)
    bx.legend(fontsize=8)
    fig.tight_layout()
    fig.savefig(out / "study_exploding.png", dpi=110)
    plt.close(fig)


def vanishing(sweep: Path, out: Path) -> list[str]:
    runs = load_runs(sweep)
    lines = header(
        "vanishing",
        "vanishing gradients through time",
        "How does ||dL/dh_t|| fall off with the distance T - t to the loss, for the tanh RNN, "
        "the LSTM (PyTorch's init and chrono init) and the GRU, at initialisation and after "
        "training? Adding problem, T = 100, loss at the last step only. For a tanh RNN near the "
        "origin the theory is a factor rho(W_hh) per step (Bengio et al. 1994; Pascanu et al. "
        "2013), drawn dashed in the profile figure.",
        "Builds on `vanishing_gradients` (hidden 64, Adam 1e-3, 3000 steps of 32: 96k "
        "sequences, the paper-scale runs go to millions) and adds the LSTM with PyTorch's init "
        "and a second seed.",
        sweep,
        out,
    )
    rates = _rates(out)
    if len(rates):
        r = rates.copy()
        r["when"] = ["init" if s == r[r["run"] == run]["step"].min() else "trained"
                     for run, s in zip(r["run"], r["step"], strict=True)]  # fmt: skip
        r["dh_1 / dh_T"] = r["norm_at_start"] / r["norm_at_loss"]
        keep = ["run", "when", "step", "fitted_rate_per_step", "jacobian_rate_per_step",
                "spectral_radius", "dh_1 / dh_T"]  # fmt: skip
        table = r[keep].sort_values(["run", "step"])
        table.to_csv(out / "study_table.csv", index=False)
        lines += [
            "## Result",
            "",
            "Per-step factor of ||dL/dh_t|| going back from the loss (least squares of ln norm "
            "against T - t), the same from the Jacobian gain ||dh_T/dh_t||, rho(W_hh) (largest "
            "gate block), and the ratio of the gradient at t = 1 to the one at t = T, at the "
            "first update (step 1, the initial weights) and at the last step "
            "([study_table.csv](study_table.csv)):",
            "",
            md_table(table),
            "",
        ]
    finals = _per_seed(
        runs,
        lambda x: (
            f"{x.final_loss:.3g}{'*' if x.solved else ''}" if x.status == "completed" else x.status
        ),
    )
    lines += [
        "Final held-out MSE (seed 0 / seed 1; `*` solved, MSE < 0.01; baseline 1/6):",
        "",
        md_table(finals),
        "",
        "![gradient profile at init and after training](gradient_profile.png)",
        "",
        "![gradient heatmap over training](gradient_heatmap.png)",
        "",
    ]
    if len(rates):
        rnn0 = r[(r["cell"] == "rnn") & (r["when"] == "init")]
        dev = (rnn0["fitted_rate_per_step"] / rnn0["spectral_radius"] - 1).abs().max()
        lines += [
            "## Next to the theory and the papers",
            "",
            "tasks.md gives no number for this figure; the references are the theory and the "
            "qualitative findings of Bengio et al. (1994), Hochreiter & Schmidhuber (1997) and "
            "Tallec & Ollivier (2018):",
            "",
            "- tanh RNN at initialisation: ||dL/dh_t|| decays by rho(W_hh) per step, as the "
            f"linear theory says (fitted factor within {dev:.0%} of rho on both seeds: the "
            "units sit near 0 where tanh' = 1), about 1e-20 at t = 1. After training rho has "
            "grown past 1 on one seed but the factor has not: saturated units (tanh' < 1) keep "
            "the gradient vanishing, the linear prediction rho^(T-t) no longer applies, and "
            "the run stays at the baseline. **Agrees.**",
            "- LSTM with PyTorch's init: decays like the RNN at the start (forget gate ~0.5 "
            "halves the cell state every step) and is still vanishing after training; it does "
            "not learn T = 100 with lr 1e-3 in this budget (the adding_length study, lr 5e-3, "
            "does). The 1997 paper's constant error carousel is the chrono LSTM's picture, not "
            "this one's.",
            "- LSTM with chrono init: nearly flat from the first step (factor ~0.97, the "
            "forget gates near 1) and flatter after training; it solves the task. **Agrees** "
            "with Tallec & Ollivier.",
            "- GRU: starts decaying like the RNN (update gate ~0.5) and becomes flat (factor "
            "~0.995) as it learns; it solves the task.",
            "",
            "Seed 0 reproduces the numbers measured for `+experiment=vanishing_gradients` in the "
            "README to the printed digits (same config, seed and thread count).",
            "",
        ]
    return lines


STUDIES = {
    "adding_length": adding_length,
    "copy_init": copy_init,
    "exploding": exploding,
    "vanishing": vanishing,
    "temporal_order": temporal_order,
}


def main(argv: list[str]) -> int:
    if len(argv) != 1 or argv[0] not in STUDIES:
        print(f"usage: study_readme.py {{{','.join(STUDIES)}}}", file=sys.stderr)
        return 2
    study = argv[0]
    sweep, out = Path("results/sweeps") / study, Path("results") / study
    out.mkdir(parents=True, exist_ok=True)
    lines = STUDIES[study](sweep, out)
    (out / "README.md").write_text("\n".join(lines).rstrip() + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
