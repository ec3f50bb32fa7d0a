"""report.md: a verdict computed from the runs, the figures (relative paths), the runs table.

The verdict classifies each (variant, task, T) from its finished seeds:

    solved          every seed solved (the task's own criterion, recorded in summary.json)
    partly solved   some seeds solved
    diverged        every seed diverged (a blow-up the run's divergence rule caught)
    blew up         every seed blew up: diverged, or a final loss >= 10 x both the baseline and
                    the first eval loss (`tables.blew_up`)
    crashed         every seed failed or was interrupted
    at baseline     no seed solved; mean final loss within [0.9, 1.5] x the memoryless baseline
    above baseline  no seed solved; mean final loss above 1.5 x the baseline (but no blow-up)
    below baseline  no seed solved, but the loss fell below 0.9 x the baseline

(the loss statistics leave out the seeds that blew up; a mixed cell names them), and ranks
variants by the longest T every seed solved, then by the number of seeds solved, then by final
loss relative to the baseline.
"""

from __future__ import annotations

import math
from pathlib import Path

import pandas as pd

from .aggregate import CORE_COLUMNS, Problem, status_counts
from .files import write_markdown
from .style import cell_key

AT_BASELINE = 0.9  # final loss >= 0.9 * baseline counts as "at the memoryless baseline"
ABOVE_BASELINE = 1.5  # ... and above 1.5 * baseline as "above" it
OUTCOME_TEXT = {
    "below baseline": "learned below the baseline but did not solve",
    "at baseline": "stayed at the memoryless baseline",
    "above baseline": "ended above the memoryless baseline",
    "diverged": "blew up (diverged)",
    "blew up": "blew up (final loss >= 10x the baseline and the first eval loss)",
    "crashed": "crashed (see failed runs)",
}


def fmt(v, digits: int = 4, missing: str = "") -> str:
    """A table cell: floats to `digits` significant digits, NaN/None as `missing`."""
    if v is None or (isinstance(v, float) and math.isnan(v)) or v is pd.NA:
        return missing
    if isinstance(v, float):
        return f"{v:.{digits}g}"
    return str(v)


def md_table(frame: pd.DataFrame, columns: list[str] | None = None, **fmt_kw) -> str:
    """A Markdown table of `frame`'s `columns` (those present; default all)."""
    cols = [c for c in (columns or list(frame.columns)) if c in frame.columns]
    lines = ["| " + " | ".join(map(str, cols)) + " |", "|" + "|".join("---" for _ in cols) + "|"]
    for _, row in frame.iterrows():
        cells = [fmt(row[c], **fmt_kw).replace("|", "\\|").replace("\n", " ") for c in cols]
        lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines)


def _shown(path: Path, roots: list[Path]) -> str:
    """A path relative to the parent of the root holding it (no machine paths in the report)."""
    for root in roots:
        try:
            return path.resolve().relative_to(root.resolve().parent).as_posix()
        except ValueError:
            continue
    return path.name


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
    if row.get("n_blowup", 0) == n:
        return "blew up"
    loss, base = row.get("loss_mean"), row.get("baseline_loss")
    if pd.notna(loss) and pd.notna(base) and base > 0:
        if loss < AT_BASELINE * base:
            return "below baseline"
        return "at baseline" if loss <= ABOVE_BASELINE * base else "above baseline"
    return "diverged" if row.get("n_diverged", 0) else "crashed"


def _lengths(ts) -> str:
    return ", ".join(str(int(t)) for t in sorted(ts))


def _ratio_note(bad: pd.DataFrame) -> str:
    ratio = (bad["loss_mean"] / bad["baseline_loss"]).dropna()
    if not len(ratio):
        return ""
    lo, hi = f"{ratio.min():.2f}", f"{ratio.max():.2f}"
    return f" (loss/baseline {lo})" if lo == hi else f" (loss/baseline {lo}-{hi})"


def _variant_line(variant: str, s: pd.DataFrame) -> str:
    """`variant`: solved T = ..; T = ..: k/n seeds; stayed at the baseline at T = .. ."""
    parts = []
    full = s[s["outcome"] == "solved"]
    if len(full):
        parts.append(f"solved T = {_lengths(full['seq_len'])} (every seed)")
    for _, r in s[s["outcome"] == "partly solved"].iterrows():
        parts.append(f"T = {int(r['seq_len'])}: {int(r['n_solved'])}/{int(r['n_runs'])} seeds")
    for label, text in OUTCOME_TEXT.items():
        bad = s[s["outcome"] == label]
        if len(bad):
            note = _ratio_note(bad) if label not in ("blew up", "diverged") else ""
            parts.append(f"{text} at T = {_lengths(bad['seq_len'])}{note}")
    mixed = s[(s.get("n_blowup", 0) > 0) & ~s["outcome"].isin(["blew up", "diverged"])]
    for _, r in mixed.iterrows():
        parts.append(
            f"{int(r['n_blowup'])}/{int(r['n_runs'])} seeds blew up at T = {int(r['seq_len'])}"
        )
    return f"- `{variant}`: " + "; ".join(parts) + "."


def _winner_line(ranking: list[tuple]) -> str:
    ranking.sort(reverse=True)
    best = ranking[0]
    if best[0]:
        others = [f"`{v}` {'T = ' + str(t) if t else 'none'}" for t, _, _, v in ranking[1:]]
        tail = f" (others: {', '.join(others)})" if others else ""
        tied = [v for t, n, _, v in ranking[1:] if (t, n) == best[:2]]
        if tied:
            tail += f"; tied with `{'`, `'.join(tied)}` on lengths, ahead on final loss"
        return f"- **Winner: `{best[3]}`**, solving every seed up to T = {best[0]}{tail}."
    if best[1]:
        return f"- No variant solved any length on every seed; most seeds solved: `{best[3]}`."
    return f"- No variant solved any length; lowest loss relative to baseline: `{best[3]}`."


def _speed_line(sp: pd.DataFrame) -> list[str]:
    if not len(sp):
        return []
    mean = sp.groupby("variant")["steps_per_s_mean"].mean().sort_values(ascending=False)
    if len(mean) == 1:
        return [f"- Speed: `{mean.index[0]}` {mean.iloc[0]:.1f} steps/s averaged over T."]
    return [
        f"- Fastest: `{mean.index[0]}` ({mean.iloc[0]:.1f} steps/s averaged over T), "
        f"{mean.iloc[0] / mean.iloc[-1]:.1f}x the slowest, `{mean.index[-1]}`."
    ]


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
        for variant in sorted(sub["variant"].unique(), key=cell_key):
            s = sub[sub["variant"] == variant].sort_values("seq_len")
            lines.append(_variant_line(variant, s))
            full = s[s["outcome"] == "solved"]
            longest = int(full["seq_len"].max()) if len(full) else 0
            ratio = (s["loss_mean"] / s["baseline_loss"]).mean()
            ranking.append(
                (longest, int(s["n_solved"].sum()), -(ratio if pd.notna(ratio) else 9e9), variant)
            )
        lines.append(_winner_line(ranking))
        lines += _speed_line(speeds[speeds["task"] == task] if len(speeds) else speeds)
        lines.append("")
    return lines


CAPTIONS = {
    "learning_curves": "Learning curves: eval loss against step, mean over seeds, "
    "min-max band, memoryless baseline dashed.",
    "final_vs_length": "Final eval loss, accuracy and fraction of seeds solved against "
    "sequence length.",
    "grad_norms_through_time": "Gradient norm ||dL/dh_t|| through time at the first and last "
    "logged step.",
    "speed": "Training speed, steps per second, per cell and sequence length.",
}


def _figure_lines(out: Path, products: dict[str, dict]) -> list[str]:
    lines = ["## Figures", ""]
    for name, caption in CAPTIONS.items():
        fig = products[name]["figure"]
        if fig is None:
            why = "no grad_norms.parquet in these runs" if name.startswith("grad") else "no data"
            lines += [f"_{caption.split(':')[0]}: not drawn ({why})._", ""]
            continue
        rel = Path(fig).relative_to(out).as_posix()
        lines += [f"![{caption}]({rel})", "", f"{caption} Data: [`{name}.csv`]({name}.csv).", ""]
    return lines


def _length_lines(table: pd.DataFrame | None) -> list[str]:
    """The trained networks at other lengths (eval.seq_lens), if any run evaluated them."""
    if table is None or not len(table):
        return []
    t = table.assign(seeds_solved=table["n_solved"].astype(str) + "/" + table["n_runs"].astype(str))
    t = t.rename(columns={"seq_len": "trained T", "eval_seq_len": "evaluated T"})
    cols = ["task", "variant", "trained T", "evaluated T", "loss_mean", "baseline_loss",
            "loss_vs_baseline", "seeds_solved"]  # fmt: skip
    return [
        "## Other lengths",
        "",
        "The trained networks evaluated at lengths they were not trained on (`eval.seq_lens`): "
        "mean final eval loss over the completed seeds, the memoryless baseline at that length, "
        "and the seeds that meet the task's criterion there. Data: "
        "[`length_generalisation.csv`](length_generalisation.csv).",
        "",
        md_table(t, cols),
        "",
    ]


def _milestone_lines(table: pd.DataFrame | None) -> list[str]:
    """Median first step below 0.9x / 0.1x the baseline and solved, with the seeds reaching it."""
    if table is None or not len(table):
        return []
    t = table.copy()
    names = {
        "steps_below_90pct_baseline": "below 0.9x baseline",
        "steps_below_10pct_baseline": "below 0.1x baseline",
        "steps_to_solve": "solved",
    }
    cols = ["task", "variant", "seq_len"]
    for m, name in names.items():
        if f"{m}_median" in t.columns:
            n = t[f"{m}_n"].astype(int).astype(str) + "/" + t["n_runs"].astype(str)
            t[name] = t[f"{m}_median"].map(lambda v: fmt(v, missing="-")) + " (" + n + ")"
            cols.append(name)
    return [
        "## Time on the baseline",
        "",
        "First evaluated step at which the eval loss fell below 0.9x and 0.1x the memoryless "
        "baseline, and at which the task was solved: median over the seeds that got there "
        "(how many of all). Data: [`time_on_baseline.csv`](time_on_baseline.csv).",
        "",
        md_table(t, cols),
        "",
    ]


def _trouble_lines(runs: pd.DataFrame, problems: list[Problem], roots: list[Path]) -> list[str]:
    lines = []
    bad = runs[~runs["status"].isin(["completed"])] if len(runs) else runs
    if len(bad):
        cols = ["run", "status", "cell", "seq_len", "seed", "steps", "error"]
        cols += [
            c
            for c in ("diverged_step", "cause", "traceback_file")
            if c in bad.columns and bad[c].notna().any()
        ]
        lines += ["## Runs that did not complete", "", md_table(bad, cols), ""]
    if problems:
        lines += ["## Files skipped or values ignored", ""]
        lines += [f"- `{_shown(p.path, roots)}`: {p.reason} ({p.action})" for p in problems]
        lines.append("")
    return lines


def write(
    out: Path,
    roots: list[Path],
    runs: pd.DataFrame,
    products: dict[str, dict],
    problems: list[Problem],
) -> Path:
    """out/report.md (atomically): header, verdict, figures, trouble, the runs table."""
    counts = status_counts(runs) if len(runs) else {}
    lines = ["# rnnbench report", ""]
    lines.append(
        f"{len(runs)} run(s) under {', '.join(f'`{r.name}`' for r in roots)}: "
        + (", ".join(f"{n} {s}" for s, n in counts.items()) or "none")
        + "."
    )
    lines += ["", "## Verdict", ""]
    lines += verdict(products["final_vs_length"]["table"], products["speed"]["table"])
    if counts.get("unfinished") or counts.get("unreadable"):
        lines += [
            f"_Partial sweep: {counts.get('unfinished', 0)} run(s) unfinished (running or "
            f"killed), {counts.get('unreadable', 0)} with an unreadable summary; "
            "the verdict covers finished runs._",
            "",
        ]
    lines += _figure_lines(out, products)
    lines += _length_lines(products.get("length_generalisation", {}).get("table"))
    lines += _milestone_lines(products.get("time_on_baseline", {}).get("table"))
    lines += _trouble_lines(runs, problems, roots)
    if len(runs):
        cols = [c for c in CORE_COLUMNS if c != "error"]
        lines += ["## All runs", "", "Full table: [`runs.csv`](runs.csv).", ""]
        lines += [md_table(runs, cols), ""]
    return write_markdown(out / "report.md", "\n".join(lines))
