"""Table, figure and README of the truncated-BPTT study, computed from its run directories.

    python experiments/tbptt_readme.py [SWEEP_DIR] [OUT_DIR]
        (defaults: results/sweeps/tbptt, results/tbptt)

The prediction (criterion stated in the README): a run whose truncation length K leaves no
informative step inside the backward window of the scored step cannot learn the task and stays
at chance (final eval loss >= 0.9 x the memoryless baseline, not solved); a run whose K spans
the whole sequence solves it. The verdict per cell is computed from the runs' summaries.
"""

from __future__ import annotations

import sys
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import pandas as pd  # noqa: E402

from rnnbench import io  # noqa: E402
from rnnbench.report import aggregate  # noqa: E402

CELLS = ("rnn", "lstm", "gru")
AT_BASELINE = 0.9  # "stays at chance": final eval loss >= this fraction of the baseline


def load(sweep: Path) -> tuple[pd.DataFrame, aggregate.Sweep]:
    """One row per run (cell, K, seed, status, final loss, baseline, accuracy, solved, steps to
    solve) and the sweep as the report package reads it."""
    sw = aggregate.load([sweep])
    r = sw.runs
    table = pd.DataFrame(
        {
            "run": r["run"],
            "cell": r["model.cell"],
            "K": r["train.tbptt"].astype(int),
            "seed": r["seed"].astype(int),
            "max_len": r["task.seq_len"].astype(int) + r["task.seq_len"].astype(int) // 10,
            "status": r["status"],
            "final_eval_loss": r["final_eval_loss"],
            "baseline_loss": r["baseline_loss"],
            "accuracy": r["final_eval_accuracy"],
            "solved": r["solved"].astype(bool),
            "steps_to_solve": r["steps_to_solve"],
            "wall_time_s": r["wall_time_s"],
        }
    )
    return table.sort_values(["cell", "K", "seed"], ignore_index=True), sw


def verdicts(table: pd.DataFrame) -> dict[str, dict]:
    """Per cell: does every covering run solve, and every truncated run stay at chance?"""
    out = {}
    for cell in CELLS:
        r = table[table.cell == cell]
        covers = r.K >= r.max_len
        cut = r[~covers]
        ok_cover = bool(len(r[covers]) and r[covers].solved.all())
        at_chance = cut.final_eval_loss >= AT_BASELINE * cut.baseline_loss
        ok_cut = bool(len(cut) and (at_chance & ~cut.solved).all())
        out[cell] = {"covering_solved": ok_cover, "truncated_at_chance": ok_cut}
    return out


def figure(sw: aggregate.Sweep, table: pd.DataFrame, path: Path) -> None:
    """Top: eval loss against step per cell, one line per K (seed 0), baseline dashed.
    Bottom: ||dL/dh_t|| at the first logged step against t, per K (seed 0)."""
    fig, axes = plt.subplots(2, len(CELLS), figsize=(4.2 * len(CELLS), 7), squeeze=False)
    for j, cell in enumerate(CELLS):
        top, bottom = axes[0, j], axes[1, j]
        for _, r in table[(table.cell == cell) & (table.seed == 0)].iterrows():
            m = sw.metrics[sw.metrics.run == r.run]
            ev = m[(m.split == "eval") & (m.metric == "loss")]
            label = f"K = {r.K}" + (" (whole sequence)" if r.K >= r.max_len else "")
            top.plot(ev.step, ev.value, label=label)
            g = sw.grad_norms[(sw.grad_norms.run == r.run) & (sw.grad_norms.layer == 0)]
            g = g[g.step == g.step.min()]
            bottom.semilogy(g.t, g.norm.clip(lower=1e-12), marker=".", label=label)
        top.axhline(table.baseline_loss.iloc[0], color="k", ls="--", lw=1, label="memoryless")
        top.set(title=cell, xlabel="training step", ylabel="eval cross-entropy (nats)")
        bottom.set(xlabel="time step t", ylabel="||dL/dh_t|| at step 1 (1e-12 = zero)")
        top.legend(fontsize=8)
        bottom.legend(fontsize=8)
    fig.tight_layout()
    io.save_figure(fig, path, dpi=110)
    plt.close(fig)


def _fmt(v) -> str:
    return "-" if v is None or v != v else f"{v:.3g}"


def readme(table: pd.DataFrame, v: dict, sweep: Path) -> str:
    """The README from its template next to this script, with the table and the verdict."""
    timing_file = sweep / "timing.json"
    t = io.read_json(timing_file) if timing_file.is_file() else None
    ks = sorted(table.K.unique())
    lines = [
        "| cell | " + " | ".join(f"K={k}" for k in ks) + " |",
        "|---|" + "---|" * len(ks),
    ]
    for cell in CELLS:
        cells = []
        for k in ks:
            r = table[(table.cell == cell) & (table.K == k)]
            pairs = zip(r.final_eval_loss, r.solved, strict=True)
            cells.append(" / ".join(_fmt(x) + ("*" if s else "") for x, s in pairs))
        lines.append(f"| {cell} | " + " | ".join(cells) + " |")
    verdict = []
    for cell, r in v.items():
        holds = r["covering_solved"] and r["truncated_at_chance"]
        verdict.append(
            f"- `{cell}`: **{'holds' if holds else 'does not hold'}** (K covering the sequence: "
            f"{'every seed solved' if r['covering_solved'] else 'not every seed solved'}; "
            f"K shorter than the dependency: "
            f"{'every seed at chance' if r['truncated_at_chance'] else 'not every seed at chance'})"
        )
    template = (Path(__file__).with_name("tbptt_readme.md")).read_text()
    cut = table[(table.K < table.max_len)]
    left = cut[cut.final_eval_loss < AT_BASELINE * cut.baseline_loss]
    exceptions = (
        "Truncated runs that left chance (final loss < 0.9 x ln 4): "
        + ", ".join(
            f"{r.cell} K={r.K} seed {r.seed} (loss {r.final_eval_loss:.3g}, accuracy "
            f"{r.accuracy:.2f})"
            for r in left.itertuples()
        )
        + "."
        if len(left)
        else "Every truncated run stayed at chance."
    )
    jobs_s = float(table.wall_time_s.sum())
    timing = (
        f"{t['wall_s']} s wall for the sweep with `hydra/launcher=joblib` ({t['jobs_trained']} "
        f"of {t['jobs_total']} jobs trained in that invocation; load average "
        f"{t['loadavg_start']} at the start, the machine was shared); the jobs' own wall times "
        f"sum to {jobs_s:.0f} s"
        if t is not None
        else f"the jobs' own wall times sum to {jobs_s:.0f} s"
    )
    return template.format(
        table="\n".join(lines),
        verdict="\n".join(verdict),
        timing=timing,
        n=len(table),
        exceptions=exceptions,
        all_hold="holds for every cell"
        if all(r["covering_solved"] and r["truncated_at_chance"] for r in v.values())
        else "does not hold for every cell",
    )


def main(argv: list[str]) -> None:
    sweep = Path(argv[0] if argv else "results/sweeps/tbptt")
    out = Path(argv[1] if len(argv) > 1 else "results/tbptt")
    out.mkdir(parents=True, exist_ok=True)
    table, sw = load(sweep)
    v = verdicts(table)
    io.write_csv(out / "runs.csv", table.drop(columns="run"), index=False)
    figure(sw, table, out / "tbptt.png")
    io.write_text(out / "README.md", readme(table, v, sweep))
    print(f"wrote {out}/README.md, tbptt.png, runs.csv")


if __name__ == "__main__":
    main(sys.argv[1:])
