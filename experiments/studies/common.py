"""What every study README is made from: the tables committed in results/<study>/.

    runs.csv             one row per run (the report's table: config, summary, variant)
    learning_curves.csv  eval loss per (variant, T, step): mean, min and max over the seeds
    gradient_*.csv       the gradient figures' tables (studies with diagnostics)
    timing.json          the sweep's wall and CPU time (experiments/_study.sh)

Nothing is re-run and no run directory is needed, so a README can be regenerated from a fresh
clone. Times to a criterion come from the learning curves' min-max band: the first evaluation at
which the *fastest seed* (the band's minimum) and at which *every seed* (its maximum) is below
the level.
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass, field
from pathlib import Path

import pandas as pd
import yaml

from rnnbench.io import write_text
from rnnbench.report.files import write_csv
from rnnbench.report.markdown import AT_BASELINE, fmt, md_table

ROOT = Path(__file__).resolve().parents[2]
TEMPLATES = Path(__file__).resolve().parent
MODEL_ORDER = ("rnn (tanh)", "irnn", "lstm", "lstm forget bias 1", "lstm chrono", "gru")
NEVER = math.inf  # "not within the budget"

__all__ = ["AT_BASELINE", "Study", "fmt", "load", "md_table", "render", "write"]


@dataclass
class Study:
    name: str
    out: Path
    runs: pd.DataFrame  # runs.csv plus `model` (the study's preset label)
    curves: pd.DataFrame  # learning_curves.csv plus `model`
    timing: dict
    params: dict  # the swept keys: conf/experiment/study_<name>.yaml
    tables: dict = field(default_factory=dict)  # name -> frame, written as study_<name>.csv

    def table(self, stem: str) -> pd.DataFrame:
        path = self.out / f"{stem}.csv"
        return pd.read_csv(path) if path.is_file() else pd.DataFrame()

    def of(self, model: str, T: int | None = None) -> pd.DataFrame:
        """The runs of one preset (at one length), in seed order."""
        r = self.runs[self.runs["model"] == model]
        return (r if T is None else r[r["seq_len"] == T]).sort_values("seed")

    @property
    def models(self) -> list[str]:
        return [m for m in MODEL_ORDER if m in set(self.runs["model"])]

    @property
    def lengths(self) -> list[int]:
        return sorted(int(t) for t in self.runs["seq_len"].unique())


def model_label(row: pd.Series) -> str:
    """The study preset: rnn (tanh), irnn, lstm, lstm forget bias 1, lstm chrono, gru."""
    cell = row["model.cell"]
    if cell == "rnn":
        return (
            "irnn" if row.get("model.init") == "identity" else f"rnn ({row['model.nonlinearity']})"
        )
    if cell == "lstm":
        if pd.notna(row.get("model.chrono_tmax")):
            return "lstm chrono"
        if pd.notna(row.get("model.forget_bias")):
            return f"lstm forget bias {row['model.forget_bias']:g}"
    return str(cell)


def load(name: str, results: Path | None = None) -> Study:
    """The study's committed tables, from results/<name> (or `results`/<name>)."""
    out = (results or ROOT / "results") / name
    runs = pd.read_csv(out / "runs.csv")
    runs["model"] = runs.apply(model_label, axis=1)
    runs["solved"] = runs["solved"].astype(str).str.lower().eq("true")
    curves = pd.read_csv(out / "learning_curves.csv")
    labels = runs.drop_duplicates("variant").set_index("variant")["model"]
    curves["model"] = curves["variant"].map(labels)
    grid = yaml.safe_load((ROOT / "conf" / "experiment" / f"study_{name}.yaml").read_text())
    timing = (
        json.loads((out / "timing.json").read_text()) if (out / "timing.json").is_file() else {}
    )
    return Study(name, out, runs, curves, timing, grid["hydra"]["sweeper"]["params"])


# --------------------------------------------------------------------------------- numbers


def first_below(study: Study, model: str, T: int, level: float, every: bool) -> float:
    """First eval step with the loss below `level`: for the fastest seed, or for every seed."""
    c = study.curves[(study.curves["model"] == model) & (study.curves["seq_len"] == T)]
    hit = c[c["max" if every else "min"] < level].sort_values("step")
    return float(hit["step"].iloc[0]) if len(hit) else NEVER


def kseq(steps: float, batch: int) -> str:
    """Training steps -> thousands of training sequences ("-" if never)."""
    return "-" if steps == NEVER else f"{steps * batch / 1000:.0f}k"


def upto(ok: list, lengths: list) -> str:
    """The longest T such that every T up to it is ok ('none' if the first is not)."""
    best = None
    for t in lengths:
        if t not in ok:
            break
        best = t
    extra = [t for t in ok if best is None or t > best]
    text = "none" if best is None else str(best)
    return text + (f" (also T = {', '.join(map(str, extra))})" if extra else "")


def per_seed(study: Study, cell) -> pd.DataFrame:
    """Preset x T table, each entry cell(run) over the seeds joined by ' / ' (seed order)."""
    rows = []
    for model in study.models:
        row = {"cell": model}
        for T in study.lengths:
            row[f"T={T}"] = " / ".join(cell(r) for r in study.of(model, T).itertuples())
        rows.append(row)
    return pd.DataFrame(rows)


def per_model(study: Study, cell) -> pd.DataFrame:
    """Preset x T table, each entry cell(model, T)."""
    return pd.DataFrame(
        [{"cell": m, **{f"T={T}": cell(m, T) for T in study.lengths}} for m in study.models]
    )


def final(r) -> str:
    """A run's final loss (`*` solved), or its status."""
    if r.status != "completed":
        return str(r.status)
    return f"{r.final_eval_loss:.3g}{'*' if r.solved else ''}"


def agreement(holds: bool, partly: bool = False) -> str:
    """The verdict word for a published claim, from whether its criterion holds."""
    return "reproduces" if holds else ("reproduces in part" if partly else "does not reproduce")


# --------------------------------------------------------------------------------- README


def _settings(study: Study) -> str:
    c = study.runs.iloc[0]
    clip = c["clip.method"] + (f" at {c['clip.max_value']:g}" if c["clip.method"] != "none" else "")
    steps, batch = int(c["train.steps"]), int(c["train.batch_size"])
    return (
        f"hidden {int(c['model.hidden_size'])}, {c['model.dtype']}, optimiser {c['optim.name']} "
        f"lr {c['optim.lr']:g}, clipping {clip}, batch {batch}, {steps} steps "
        f"({steps * batch / 1000:.0f}k sequences), evaluation every {int(c['train.eval_every'])} "
        f"steps on {int(c['train.eval_size'])} held-out sequences, task convention "
        f"`{c['task.convention']}`, threads {int(c['threads'])} per job."
    )


def _time(study: Study) -> str:
    t = study.timing
    if not t:
        return "not recorded (no timing.json)."
    cpu = f"{t['cpu_s']:.0f} s CPU" if t.get("cpu_s") is not None else "CPU time n/a"
    return (
        f"{t['wall_s']} s wall ({t['wall_s'] / 60:.1f} min) and {cpu} for the sweep with "
        f"`hydra/launcher=joblib` on {t['cpus']} cores ({t['jobs_trained']} of "
        f"{t['jobs_total']} jobs trained in that invocation; load average "
        f"{t['loadavg_start']} at the start, the machine was shared with other jobs). Sum of "
        f"the jobs' own wall times: {study.runs['wall_time_s'].sum():.0f} s."
    )


def header_values(study: Study) -> dict:
    grid = ", ".join(f"`{k}` = {v}" for k, v in study.params.items())
    return {
        "name": study.name,
        "grid": f"`conf/experiment/study_{study.name}.yaml`, swept {grid} ({len(study.runs)} runs)",
        "settings": _settings(study),
        "time": _time(study),
    }


def render(study: Study, values: dict) -> str:
    """experiments/studies/<name>.md with its {placeholders} filled (header ones included)."""
    template = (TEMPLATES / f"{study.name}.md").read_text()
    head = header_values(study)
    header = (TEMPLATES / "_header.md").read_text().format_map(head)
    return template.format_map({**head, "header": header.rstrip(), **values})


def write(study: Study, text: str) -> list[Path]:
    """README.md and the study's tables (study_<name>.csv), atomically."""
    paths = [write_csv(study.out / f"study_{k}.csv", t) for k, t in study.tables.items()]
    return [*paths, write_text(study.out / "README.md", text.rstrip() + "\n")]
