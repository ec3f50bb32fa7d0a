"""report.md: a verdict computed from the runs, the figures (relative paths), the runs table.

The verdict classifies each (variant, task, T) from its finished seeds:

    solved          every seed solved (the task's own criterion, recorded in summary.json)
    partly solved   some seeds solved
    at baseline     no seed solved and the mean final loss is within 10 % of the memoryless baseline
    below baseline  no seed solved, but the loss fell clearly below the baseline
    diverged        every seed diverged
    crashed         every seed failed or was interrupted

and ranks variants by the longest T every seed solved, then by the number of seeds solved, then
by final loss relative to the baseline.
"""

from __future__ import annotations

import math
from pathlib import Path

import pandas as pd

from .aggregate import Problem, status_counts

AT_BASELINE = 0.9  # final loss >= 0.9 * baseline counts as "at the memoryless baseline"


def _fmt(v, digits: int = 4) -> str:
    if v is None or (isinstance(v, float) and math.isnan(v)):
        return ""
    if isinstance(v, float):
        return f"{v:.{digits}g}"
    return str(v)


def _shown(path: Path, roots: list[Path]) -> str:
    """A path relative to the parent of the root holding it (no machine paths in the report)."""
    for root in roots:
        try:
            return path.resolve().relative_to(root.resolve().parent).as_posix()
        except ValueError:
            continue
    return path.name


def md_table(frame: pd.DataFrame, columns: list[str]) -> str:
    cols = [c for c in columns if c in frame.columns]
    lines = ["| " + " | ".join(cols) + " |", "|" + "|".join("---" for _ in cols) + "|"]
    for _, row in frame.iterrows():
        cells = [_fmt(row[c]).replace("|", "\\|").replace("\n", " ") for c in cols]
        lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines)


def outcome(row: pd.Series) -> str:
    """One (task, variant, T) line of final_table -> a category of the verdict."""
    n, solved = int(row["n_runs"]), int(row["n_solved"])
    if n and solved == n:
        return "solved"
    if solved:
        return "partly solved"
    if row.get("n_failed", 0) == n:
        return "crashed"
    if row.get("n_diverged", 0) == n:
        return "diverged"
    loss, base = row.get("loss_mean"), row.get("baseline_loss")
    if pd.notna(loss) and pd.notna(base) and base > 0:
        return "at baseline" if loss >= AT_BASELINE * base else "below baseline"
    return "diverged" if row.get("n_diverged", 0) else "crashed"


def _ordered(variants) -> list[str]:
    """rnn, lstm, gru first (the order of the figures), then anything else by name."""
    order = {"rnn": 0, "lstm": 1, "gru": 2}
    return sorted(variants, key=lambda v: (order.get(str(v).split(" ", 1)[0], 3), str(v)))


def _lengths(ts) -> str:
    return ", ".join(str(int(t)) for t in sorted(ts))


def verdict(finals: pd.DataFrame, speeds: pd.DataFrame) -> list[str]:
    """Markdown lines: per task, which variant solved which length and where each failed."""
    if not len(finals):
        return ["No run has finished yet: nothing to compare."]
    finals = finals.copy()
    finals["outcome"] = finals.apply(outcome, axis=1)
    lines: list[str] = []
    for task, sub in finals.groupby("task", sort=True):
        ranking = []
        lines.append(f"**{task}**")
        for variant in _ordered(sub["variant"].unique()):
            s = sub[sub["variant"] == variant].sort_values("seq_len")
            parts = []
            full = s[s["outcome"] == "solved"]
            if len(full):
                parts.append(f"solved T = {_lengths(full['seq_len'])} (every seed)")
            for _, r in s[s["outcome"] == "partly solved"].iterrows():
                parts.append(
                    f"T = {int(r['seq_len'])}: {int(r['n_solved'])}/{int(r['n_runs'])} seeds"
                )
            for label, text in (
                ("below baseline", "learned below the baseline but did not solve"),
                ("at baseline", "stayed at the memoryless baseline"),
                ("diverged", "diverged"),
                ("crashed", "crashed (see failed runs)"),
            ):
                bad = s[s["outcome"] == label]
                if len(bad):
                    ratio = (bad["loss_mean"] / bad["baseline_loss"]).dropna()
                    lo, hi = (
                        (f"{ratio.min():.2f}", f"{ratio.max():.2f}") if len(ratio) else ("", "")
                    )
                    extra = f" (loss/baseline {lo})" if lo == hi else f" (loss/baseline {lo}-{hi})"
                    extra = extra if lo else ""
                    parts.append(f"{text} at T = {_lengths(bad['seq_len'])}{extra}")
            lines.append(f"- `{variant}`: " + "; ".join(parts) + ".")
            longest = int(full["seq_len"].max()) if len(full) else 0
            ratio = (s["loss_mean"] / s["baseline_loss"]).mean()
            ranking.append(
                (longest, int(s["n_solved"].sum()), -(ratio if pd.notna(ratio) else 9e9), variant)
            )
        ranking.sort(reverse=True)
        best = ranking[0]
        if best[0]:
            others = [f"`{v}` {'T = ' + str(t) if t else 'none'}" for t, _, _, v in ranking[1:]]
            tail = f" (others: {', '.join(others)})" if others else ""
            tied = [v for t, n, _, v in ranking[1:] if (t, n) == best[:2]]
            if tied:
                tail += f"; tied with `{'`, `'.join(tied)}` on lengths, ahead on final loss"
            lines.append(
                f"- **Winner: `{best[3]}`**, solving every seed up to T = {best[0]}{tail}."
            )
        elif best[1]:
            lines.append(
                f"- No variant solved any length on every seed; most seeds solved: `{best[3]}`."
            )
        else:
            lines.append(
                f"- No variant solved any length; lowest loss relative to baseline: `{best[3]}`."
            )
        sp = speeds[speeds["task"] == task] if len(speeds) else speeds
        if len(sp):
            mean = sp.groupby("variant")["steps_per_s_mean"].mean().sort_values(ascending=False)
            if len(mean) > 1:
                lines.append(
                    f"- Fastest: `{mean.index[0]}` ({mean.iloc[0]:.1f} steps/s averaged over T), "
                    f"{mean.iloc[0] / mean.iloc[-1]:.1f}x the slowest, `{mean.index[-1]}`."
                )
            else:
                lines.append(
                    f"- Speed: `{mean.index[0]}` {mean.iloc[0]:.1f} steps/s averaged over T."
                )
        lines.append("")
    return lines


def write(
    out: Path,
    roots: list[Path],
    runs: pd.DataFrame,
    products: dict[str, dict],
    problems: list[Problem],
) -> Path:
    finals = products["final_vs_length"]["table"]
    speeds = products["speed"]["table"]
    counts = status_counts(runs) if len(runs) else {}
    total = len(runs)
    lines = ["# rnnbench report", ""]
    lines.append(
        f"{total} run(s) under {', '.join(f'`{r.name}`' for r in roots)}: "
        + (", ".join(f"{n} {s}" for s, n in counts.items()) or "none")
        + "."
    )
    lines += ["", "## Verdict", ""]
    lines += verdict(finals, speeds)
    if counts.get("unfinished") or counts.get("unreadable"):
        lines.append(
            f"_Partial sweep: {counts.get('unfinished', 0)} run(s) unfinished (running or killed), "
            f"{counts.get('unreadable', 0)} with an unreadable summary; "
            "the verdict covers finished runs._"
        )
        lines.append("")

    captions = {
        "learning_curves": "Learning curves: eval loss against step, mean over seeds, "
        "min-max band, memoryless baseline dashed.",
        "final_vs_length": "Final eval loss, accuracy and fraction of seeds solved against "
        "sequence length.",
        "grad_norms_through_time": "Gradient norm ||dL/dh_t|| through time at the first and last "
        "logged step.",
        "speed": "Training speed, steps per second, per cell and sequence length.",
    }
    lines += ["## Figures", ""]
    for name, caption in captions.items():
        fig = products[name]["figure"]
        if fig is None:
            why = "no grad_norms.parquet in these runs" if name.startswith("grad") else "no data"
            lines += [f"_{caption.split(':')[0]}: not drawn ({why})._", ""]
            continue
        rel = Path(fig).relative_to(out).as_posix()
        lines += [f"![{caption}]({rel})", "", f"{caption} Data: [`{name}.csv`]({name}.csv).", ""]

    bad = runs[~runs["status"].isin(["completed"])] if total else runs
    if len(bad):
        lines += ["## Runs that did not complete", ""]
        cols = ["run", "status", "cell", "seq_len", "seed", "steps", "error"]
        for extra in ("diverged_step", "cause", "traceback_file"):
            if extra in bad.columns and bad[extra].notna().any():
                cols.append(extra)
        lines += [md_table(bad, cols), ""]

    if problems:
        lines += ["## Files skipped", ""]
        lines += [f"- `{_shown(p.path, roots)}`: {p.reason}" for p in problems]
        lines.append("")

    if total:
        lines += ["## All runs", "", "Full table: [`runs.csv`](runs.csv).", ""]
        cols = [
            "run",
            "status",
            "cell",
            "task",
            "seq_len",
            "seed",
            "steps",
            "final_eval_loss",
            "baseline_loss",
            "final_eval_accuracy",
            "solved",
            "wall_time_s",
            "steps_per_s",
        ]
        lines += [md_table(runs, cols), ""]

    path = out / "report.md"
    path.write_text("\n".join(lines))
    return path
