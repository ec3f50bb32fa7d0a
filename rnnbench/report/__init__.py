"""The comparison report: ``python -m rnnbench.report DIR [DIR ...] [--out DIR] [--strict]``.

Reads only what runs wrote (summary.json, config.yaml, metrics.parquet, grad_norms.parquet)
and writes runs.csv, the figures (each next to its CSV) and a self-contained report.md.
"""

from __future__ import annotations

from pathlib import Path

from .aggregate import Problem, Sweep, load

__all__ = ["Problem", "Sweep", "build", "load"]


def build(roots: list, out: str | Path | None = None) -> tuple[Path, Sweep]:
    """Aggregate the runs under `roots` and write the report into `out` (default: ROOT/report)."""
    from . import figures, markdown

    sweep = load(roots)
    out = Path(out) if out is not None else Path(roots[0]) / "report"
    out.mkdir(parents=True, exist_ok=True)
    runs = figures.add_variants(sweep.runs)
    runs.to_csv(out / "runs.csv", index=False)
    products = figures.make_all(sweep, runs, out)
    path = markdown.write(out, sweep.roots, runs, products, sweep.problems)
    return path, sweep
