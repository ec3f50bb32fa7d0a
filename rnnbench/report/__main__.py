"""``python -m rnnbench.report DIR [DIR ...] [--out DIR] [--strict]``

Aggregates every run directory under the DIRs (sweep or run directories) and writes runs.csv,
the figures and report.md into DIR/report (the first DIR), or into --out. Files that cannot be
used are named in one warning line each and skipped; with --strict the first such file (or a
DIR without runs) stops the command with a one-line error and exit code 1.
"""

from __future__ import annotations

import argparse
import logging
import sys
from pathlib import Path

log = logging.getLogger("rnnbench.report")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m rnnbench.report",
        description="Compare the runs of one or more sweeps: runs.csv, figures and report.md.",
    )
    parser.add_argument("dirs", nargs="+", metavar="DIR", help="sweep or run directories to read")
    parser.add_argument("--out", metavar="DIR", help="where to write (default: FIRST_DIR/report)")
    parser.add_argument(
        "--strict", action="store_true", help="fail (exit 1) on any unreadable or foreign file"
    )
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(levelname)s: %(message)s", force=True)

    from .aggregate import load

    if args.strict:
        sweep = load(args.dirs)
        if sweep.problems:
            p = sweep.problems[0]
            more = f" (and {len(sweep.problems) - 1} more)" if len(sweep.problems) > 1 else ""
            print(f"error: {p.path}: {p.reason}{more}", file=sys.stderr)
            return 1

    from . import build

    path, sweep = build(args.dirs, args.out)
    for p in sweep.problems:
        log.warning("%s", p)
    counts = sweep.runs["status"].value_counts().to_dict() if len(sweep.runs) else {}
    summary = ", ".join(f"{n} {s}" for s, n in sorted(counts.items())) or "no runs"
    log.info("%d run(s): %s; report: %s", len(sweep.runs), summary, Path(path))
    return 0


if __name__ == "__main__":
    sys.exit(main())
