"""The reporting package: everything that turns the files runs wrote into tables and figures.

    python -m rnnbench.report DIR [DIR ...] [--out DIR] [--strict]   the comparison report
    python -m rnnbench.report gradients DIR [--steps 0 -1]           the gradient figures
    python -m rnnbench.report run RUN_DIR                            one run's own figures

Modules: `aggregate` (the one reader of run directories), `tables` (pure functions: runs ->
DataFrames), `figures` and `markdown` (drawing and writing the report), `gradients` (the
gradient-diagnostics numbers and figures), `run_figures` (the figures every run ends with),
`style` (the one figure style), `files` (decoding and atomic writing).
"""

from __future__ import annotations

from pathlib import Path

from .aggregate import Problem, Sweep, load

__all__ = ["Problem", "Sweep", "build", "load"]


def build(roots: list, out: str | Path | None = None) -> tuple[Path, Sweep]:
    """Aggregate the runs under `roots` and write the report into `out` (default: ROOT/report)."""
    from . import figures, markdown
    from .files import write_csv
    from .tables import add_variants, length_table, milestone_table

    sweep = load(roots)
    out = Path(out) if out is not None else Path(roots[0]) / "report"
    out.mkdir(parents=True, exist_ok=True)
    runs = add_variants(sweep.runs)
    write_csv(out / "runs.csv", runs)
    products = figures.make_all(sweep, runs, out)
    lengths = length_table(runs)  # eval.seq_lens: the trained networks at other lengths
    if len(lengths):
        write_csv(out / "length_generalisation.csv", lengths)
    products["length_generalisation"] = {"table": lengths, "figure": None}
    milestones = milestone_table(runs)  # how long each cell sat on the baseline
    if len(milestones):
        write_csv(out / "time_on_baseline.csv", milestones)
    products["time_on_baseline"] = {"table": milestones, "figure": None}
    path = markdown.write(out, sweep.roots, runs, products, sweep.problems)
    return path, sweep
