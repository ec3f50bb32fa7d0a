"""``python -m rnnbench.report DIR [DIR ...] [--out DIR] [--strict]``
``python -m rnnbench.report gradients DIR [--steps 0 -1]``
``python -m rnnbench.report run RUN_DIR``

The first form aggregates every run directory under the DIRs (sweep or run directories) and
writes runs.csv, the figures and report.md into DIR/report (the first DIR), or into --out. A DIR
that is missing, not a directory or a symbolic-link loop, or an --out that cannot be a directory,
is an error: one line, exit code 2, nothing written. Files that cannot be used are named in one
warning line each and skipped; with --strict the first such file or value (or a DIR without
runs) stops the command with a one-line error and exit code 1. The second form draws the
gradient-diagnostics figures (`rnnbench.report.gradients`), the third redraws the figures a run
ends with (`rnnbench.report.run_figures`). (A sweep directory named `gradients` or `run` is
given as `./gradients`.)
"""

from __future__ import annotations

import argparse
import logging
import os
import sys
from pathlib import Path

from .aggregate import check_root

log = logging.getLogger("rnnbench.report")


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python -m rnnbench.report",
        description="Compare the runs of one or more sweeps: runs.csv, figures and report.md. "
        "(`python -m rnnbench.report gradients DIR` draws the gradient figures.)",
    )
    parser.add_argument("dirs", nargs="+", metavar="DIR", help="sweep or run directories to read")
    parser.add_argument("--out", metavar="DIR", help="where to write (default: FIRST_DIR/report)")
    parser.add_argument(
        "--strict", action="store_true", help="fail (exit 1) on any unreadable or foreign file"
    )
    return parser


def check_out(out: Path) -> str | None:
    """Why `out` cannot be (created as) the output directory, in one line, or None."""
    for p in (out, *out.parents):
        if os.path.lexists(p):
            if (why := check_root(p)) is not None:
                return f"{p}: {why}" if p != out else why
            if not os.access(p, os.W_OK | os.X_OK):
                return f"{p}: not writable" if p != out else "not writable"
            return None
    return None


def _fail(message: str, code: int = 2) -> int:
    print(f"error: {message}", file=sys.stderr)
    return code


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else list(argv)
    if argv[:1] == ["gradients"]:
        from .gradients import main as gradients_main

        return gradients_main(argv[1:])
    if argv[:1] == ["run"]:
        from .run_figures import main as run_main

        return run_main(argv[1:])
    args = _parser().parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(levelname)s: %(message)s", force=True)
    for d in args.dirs:
        if (why := check_root(Path(d))) is not None:
            return _fail(f"{d}: {why}")
    out = Path(args.out) if args.out else Path(args.dirs[0]) / "report"
    if (why := check_out(out)) is not None:
        return _fail(f"--out {out}: {why}")

    from .aggregate import load

    if args.strict:
        sweep = load(args.dirs)
        if sweep.problems:
            p = sweep.problems[0]
            more = f" (and {len(sweep.problems) - 1} more)" if len(sweep.problems) > 1 else ""
            return _fail(f"{p.path}: {p.reason}{more}", 1)

    from . import build

    try:
        path, sweep = build(args.dirs, out)
    except OSError as e:
        return _fail(f"--out {out}: {e.strerror or e}")
    for p in sweep.problems:
        log.warning("%s", p)
    counts = sweep.runs["status"].value_counts().to_dict() if len(sweep.runs) else {}
    summary = ", ".join(f"{n} {s}" for s, n in sorted(counts.items())) or "no runs"
    log.info("%d run(s): %s; report: %s", len(sweep.runs), summary, Path(path))
    return 0


if __name__ == "__main__":
    sys.exit(main())
