"""`python -m rnnbench.bench`: arguments (checked before anything is compiled or written), main."""

import logging
import math
import os
import sys
import time
from pathlib import Path

from . import flops, grid, machine, tables
from ._args import OneLineParser, positive_float, positive_int
from .peers import PeerDisagrees, check_peer

log = logging.getLogger(__name__)
PROG = "python -m rnnbench.bench"


def _parser() -> OneLineParser:
    p = OneLineParser(prog=PROG, description=sys.modules[__package__].__doc__.split("\n")[0])
    p.add_argument("--quick", action="store_true", help="small subset for CI (tiny shapes)")
    p.add_argument("--cells", nargs="+", choices=list(flops.GATES))
    p.add_argument("--batch", nargs="+", type=positive_int)
    p.add_argument("--hidden", nargs="+", type=positive_int)
    p.add_argument("--seq-len", nargs="+", type=positive_int)
    p.add_argument("--dtype", nargs="+", choices=["float32", "float64"])
    p.add_argument(
        "--threads",
        type=positive_int,
        default=1,
        help="threads of every side: Numba, BLAS, torch.set_num_threads, and the CPUs the process "
        "is pinned to (default 1; at most the CPUs this process may use)",
    )
    p.add_argument(
        "--repeats",
        type=positive_int,
        default=None,
        help="timed steps per row (default 7; 3 with --quick); long rows use fewer, at least 3",
    )
    p.add_argument(
        "--max-seconds",
        type=positive_float,
        default=20.0,
        help="target time per row, cuts repeats of long rows (default 20)",
    )
    p.add_argument(
        "--ftz",
        action="store_true",
        help="flush subnormals (FTZ/DAZ) on the main thread and in torch (default off: IEEE "
        "subnormals, see rnnbench.fpmode)",
    )
    p.add_argument(
        "--time-budget",
        type=positive_float,
        default=None,
        help="minutes: start no row after this (rows run cheapest first; env.json lists the "
        "rows not run)",
    )
    p.add_argument("--no-torch", action="store_true", help="no PyTorch column")
    p.add_argument("--no-jax", action="store_true", help="no JAX column")
    p.add_argument(
        "--no-pin",
        action="store_true",
        help="do not pin the process to --threads CPUs (the default pins: only an affinity "
        "holds JAX to one core)",
    )
    p.add_argument("--out", type=Path, default=Path("results/bench"), help="output directory")
    return p


def _check_out(out: Path) -> str | None:
    """Why `out` cannot be the output directory, or None (nothing is created here)."""
    if os.path.lexists(out):  # a symlink loop exists without existing
        if not out.is_dir():
            return f"--out {out} exists and is not a directory"
        target = out
    else:
        target = next((p for p in out.absolute().parents if os.path.lexists(p)), Path("/"))
        if not target.is_dir():
            return f"--out {out}: {target} is not a directory"
    if not os.access(target, os.W_OK | os.X_OK):
        return f"--out {out}: {target} is not writable"
    return None


def parse_args(argv=None):
    parser = _parser()
    args = parser.parse_args(argv)
    import numba

    most = min(len(machine.allowed_cpus()), numba.config.NUMBA_NUM_THREADS)
    if args.threads > most:
        parser.error(
            f"argument --threads: at most {most} (the CPUs this process may use), "
            f"got {args.threads}"
        )
    problem = _check_out(args.out)
    if problem:
        parser.error(problem)
    return args


def _peers(args):
    """The peers to time: loaded, configured, and agreeing with rnnbench in float64."""
    from .peer_jax import JaxPeer
    from .peer_torch import TorchPeer

    candidates = []
    if not args.no_torch:
        candidates.append(("PyTorch", TorchPeer.load()))
    if not args.no_jax:
        candidates.append(("JAX", JaxPeer.load(args.threads)))
    peers, parity = [], {}
    for what, peer in candidates:
        if peer is None:
            log.info("%s not installed: no %s column", what, what)
            continue
        peer.configure(args.threads, args.ftz)
        try:
            parity[peer.name] = check_peer(peer)
        except PeerDisagrees as exc:
            log.error("%s: not timed", exc)
            continue
        log.info(
            "%s agrees with rnnbench in float64 (largest relative error %.1e)",
            peer.name,
            parity[peer.name],
        )
        peers.append(peer)
    return peers, parity


def _rows(args, chosen, affinity, command):
    """Inside the thread limits (Numba, BLAS, `rnnbench.num_threads`): peers and their parity,
    GEMM peaks, the record, then the rows, cheapest first, the table rewritten after each."""
    from .. import fpmode, parallel
    from ..session import thread_limits

    order = list(grid.shapes(chosen))  # the table's order
    deadline = time.monotonic() + 60 * args.time_budget if args.time_budget else math.inf
    rows = []
    with thread_limits(args.threads), parallel.num_threads(args.threads):
        if args.ftz:
            fpmode.set_flush_subnormals(True)
        peers, parity = _peers(args)
        peak = {dt: flops.gemm_peak_gflops(dt) for dt in chosen["dtype"]}
        log.info(
            "GEMM peak (n=%d, %d thread(s)): %s",
            flops.PEAK_N,
            args.threads,
            ", ".join(f"{dt} {v:.1f} GFLOP/s" for dt, v in peak.items()),
        )
        extra = {"gemm_peak_gflops": peak, "parity_float64": parity, "command": command}
        env = machine.environment(args.threads, affinity, peers, extra=extra)
        repeats = args.repeats or (3 if args.quick else 7)
        todo = sorted(order, key=lambda s: flops.step_flops(s[0], *s[2:]))
        for i, (cell, dt, B, H, T) in enumerate(todo):
            if rows and time.monotonic() > deadline:
                env["rows_not_run"] = [
                    tables.label(dict(zip(tables.SHAPE, s, strict=True))) + f" {s[1]}"
                    for s in todo[i:]
                ]
                log.warning("time budget spent: %d rows not run", len(todo) - i)
                tables.write_table(rows, env, args.out)
                break
            row = grid.bench_row(
                peers,
                cell,
                dt,
                B,
                H,
                T,
                threads=args.threads,
                repeats=repeats,
                max_seconds=args.max_seconds,
                peak=peak,
            )
            rows.append(row)
            rows.sort(key=lambda r: order.index(tuple(r[k] for k in tables.SHAPE)))
            log.info(tables.format_table([row]).splitlines()[-1])
            tables.write_table(rows, env, args.out)
    return rows, env


def main(argv=None) -> list[dict]:
    """Run the benchmark; the process is pinned for the run and its affinity restored after."""
    args = parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(message)s")
    chosen = dict(grid.QUICK if args.quick else grid.GRID)
    for key in ("cells", "batch", "hidden", "seq_len", "dtype"):
        if getattr(args, key) is not None:
            chosen[key] = getattr(args, key)
    allowed = machine.allowed_cpus()
    cpus = allowed[: args.threads]
    affinity = {"allowed": allowed, "cpus": cpus, "pinned": not args.no_pin and machine.pin(cpus)}
    command = [PROG, *(sys.argv[1:] if argv is None else argv)]
    try:
        rows, env = _rows(args, chosen, affinity, command)
    finally:
        if affinity["pinned"]:
            machine.pin(allowed)
    print(tables.format_table(rows))
    print(tables.format_summary(rows))
    tables.write_plots(rows, args.out)
    print(f"wrote {args.out}/: bench.csv, bench.parquet, env.json, ratios.png, gflops.png")
    return rows
