"""`python -m rnnbench.bench.pythons PY [PY ...]`: the kernels under each Python, side by side.

Each PY is an interpreter with rnnbench and its dependencies installed (a throwaway virtualenv
per Python version, outside the checkout):

    python3.12 -m venv ~/rb312 && ~/rb312/bin/pip install -e .
    python -m rnnbench.bench.pythons ~/rb311/bin/python ~/rb312/bin/python \
        ~/rb313/bin/python

Every interpreter runs a worker process (this module with `--worker`), all pinned to the same
one CPU with one thread. For each row every worker builds the same step (our forward + BPTT, as
in `python -m rnnbench.bench`) and compiles it; then the workers take turns, one step each, for
`--repeats` rounds, so that all see the same machine load. The table gives each Python's median
ms and its ratio to the fastest Python for that row; a row is flagged when some Python is more
than `--limit` (default 1.25) times slower than the fastest. Exit status 1 when a row is flagged.
"""

import argparse
import json
import subprocess
import sys
from pathlib import Path

import numpy as np

from . import grid
from ._args import OneLineParser, positive_float, positive_int

CHECK_GRID = dict(grid.GRID, batch=[1, 32, 128], hidden=[32, 128], seq_len=[100])
VERSIONS = ("numpy", "numba", "llvmlite", "scipy")


def _worker() -> None:
    """Serve requests on stdin, one JSON object per line: {"row": [...]}, {"time": n}."""
    from importlib import metadata

    from ..session import thread_limits
    from .peers import make_inputs, rnnbench_step

    step = None
    with thread_limits(1):
        for line in sys.stdin:
            request = json.loads(line)
            if "row" in request:
                cell, dt, B, H, T = request["row"]
                step = rnnbench_step(*make_inputs(cell, B, H, T, np.dtype(dt).type))
                step.run()  # compile / warm up
                reply = {"ready": True}
            elif "time" in request:
                reply = {"seconds": [grid.alternate([step.run], 1)[0]]}
            else:
                reply = {
                    "python": sys.version.split()[0],
                    **{p: metadata.version(p) for p in VERSIONS},
                }
            print(json.dumps(reply), flush=True)


class Worker:
    def __init__(self, python: str):
        self.python = python
        self.proc = subprocess.Popen(
            [python, "-m", "rnnbench.bench.pythons", "--worker"],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            text=True,
        )

    def ask(self, **request) -> dict:
        self.proc.stdin.write(json.dumps(request) + "\n")
        self.proc.stdin.flush()
        line = self.proc.stdout.readline()
        if not line:
            raise RuntimeError(f"{self.python}: the worker died (is rnnbench installed there?)")
        return json.loads(line)

    def close(self) -> None:
        self.proc.stdin.close()
        self.proc.wait(timeout=60)


def compare(workers, shapes, repeats: int) -> list[dict]:
    """Per row: each worker's median ms (turns alternate within every round)."""
    rows = []
    for cell, dt, B, H, T in shapes:
        for w in workers:
            w.ask(row=[cell, dt, B, H, T])
        times = [[] for _ in workers]
        for _ in range(repeats):
            for w, ts in zip(workers, times, strict=True):
                ts += w.ask(time=1)["seconds"]
        ms = [1e3 * float(np.median(ts)) for ts in times]
        rows.append({"row": (cell, dt, B, H, T), "ms": ms})
        print(_format(rows[-1], None), flush=True)
    return rows


def _format(row, limit) -> str:
    cell, dt, B, H, T = row["row"]
    fastest = min(row["ms"])
    cols = "".join(f"{m:>10.3f}{m / fastest:>6.2f}" for m in row["ms"])
    flag = "  SLOW" if limit is not None and max(row["ms"]) > limit * fastest else ""
    return f"{cell:<5}{dt:>8}{B:>5}{H:>5}{T:>6}{cols}{flag}"


def main(argv=None) -> int:
    p = OneLineParser(prog="python -m rnnbench.bench.pythons", description=__doc__.split("\n")[0])
    p.add_argument("pythons", nargs="*", help="interpreters, each with rnnbench installed")
    p.add_argument("--worker", action="store_true", help=argparse.SUPPRESS)
    for key in ("batch", "hidden", "seq_len"):
        p.add_argument(f"--{key.replace('_', '-')}", nargs="+", type=positive_int)
    p.add_argument("--cells", nargs="+", choices=grid.GRID["cells"])
    p.add_argument("--dtype", nargs="+", choices=grid.GRID["dtype"])
    p.add_argument("--repeats", type=positive_int, default=7)
    p.add_argument("--limit", type=positive_float, default=1.25)
    args = p.parse_args(argv)
    if args.worker:
        _worker()
        return 0
    missing = [py for py in args.pythons if not Path(py).is_file()]
    if missing:
        p.error(f"no interpreter at {', '.join(missing)}")
    if len(args.pythons) < 2:
        p.error("give two or more interpreters to compare")
    chosen = dict(CHECK_GRID)
    chosen.update({k: getattr(args, k) for k in chosen if getattr(args, k) is not None})
    from . import machine

    machine.pin(machine.allowed_cpus()[:1])  # the workers inherit the affinity
    workers = [Worker(py) for py in args.pythons]
    try:
        versions = [w.ask(versions=True) for w in workers]
        for py, v in zip(args.pythons, versions, strict=True):
            print(f"{py}: " + ", ".join(f"{k} {x}" for k, x in v.items()))
        head = "".join(f"{'py' + v['python']:>10}{'ratio':>6}" for v in versions)
        print(f"{'cell':<5}{'dtype':>8}{'B':>5}{'H':>5}{'T':>6}{head}  (ms, ratio to fastest)")
        rows = compare(workers, grid.shapes(chosen), args.repeats)
    finally:
        for w in workers:
            w.close()
    slow = [r for r in rows if max(r["ms"]) > args.limit * min(r["ms"])]
    print(
        f"\nrows where a Python is more than {args.limit}x slower than the fastest: "
        f"{len(slow)} of {len(rows)}"
    )
    for r in slow:
        print(_format(r, args.limit))
    return 1 if slow else 0


if __name__ == "__main__":
    sys.exit(main())
