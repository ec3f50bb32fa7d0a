"""The rows of the benchmark: one shape, every implementation, timed alternately.

For a row (cell, dtype, B, H, T): build our Network and each peer's Step from it, run each once
(compilation, warm-up) and compare the peer's outputs and gradients with ours (`peers`); a peer
that disagrees is not timed (its time stays empty, its error is recorded). One more untimed
round sets the repeat count: `repeats`, fewer for long rows so that a row takes about
`max_seconds`, never fewer than 3. Then the sides alternate, ours, peer 1, peer 2, ours, ... so
that all see the same machine load, and each column holds the median of its repeats.
"""

import logging
import time

import numpy as np

from . import flops
from .peers import PEER_NAMES, TOLERANCE, make_inputs, max_relative_error, rnnbench_step

log = logging.getLogger(__name__)

GRID = {
    "cells": ["rnn", "lstm", "gru"],
    "batch": [1, 32, 128],
    "hidden": [32, 128, 512],
    "seq_len": [100, 1000],
    "dtype": ["float32", "float64"],
}
QUICK = {
    "cells": ["rnn", "lstm", "gru"],
    "batch": [1, 8],
    "hidden": [16],
    "seq_len": [20],
    "dtype": ["float32", "float64"],
}


def shapes(grid):
    """The grid's rows in table order: dtype, cell, T, H, B."""
    for dt in grid["dtype"]:
        for cell in grid["cells"]:
            for T in grid["seq_len"]:
                for H in grid["hidden"]:
                    for B in grid["batch"]:
                        yield cell, dt, B, H, T


def _seconds(run) -> float:
    t0 = time.perf_counter()
    run()
    return time.perf_counter() - t0


def alternate(runs, repeats: int) -> list[float]:
    """Median seconds of each of `runs` over `repeats` rounds, one call of each per round."""
    times = [[] for _ in runs]
    for _ in range(repeats):
        for run, ts in zip(runs, times, strict=True):
            ts.append(_seconds(run))
    return [float(np.median(ts)) for ts in times]


def _agreeing(peers, ours, cell, net, x, d_out, dtype_name):
    """(peer, step) of each peer whose warm-up agrees with ours, and every peer's error."""
    timed, errors = [], {}
    reference = ours.result()
    for peer in peers:
        step = peer.step(cell, net, x, d_out)
        step.run()
        err = max_relative_error(reference, step.result())
        errors[peer.name] = err
        if err <= TOLERANCE[dtype_name]:
            timed.append((peer, step))
        else:
            log.warning(
                "%s disagrees with rnnbench on %s %s B=%d H=%d T=%d (relative error %.2e > %.0e):"
                " not timed",
                peer.name,
                cell,
                dtype_name,
                x.shape[1],
                net.hidden_size,
                x.shape[0],
                err,
                TOLERANCE[dtype_name],
            )
    return timed, errors


def bench_row(peers, cell, dtype_name, B, H, T, *, threads, repeats, max_seconds, peak):
    """One row of the table: times in ms, ratios peer / ours, bound, GFLOP/s against `peak`."""
    dtype = np.dtype(dtype_name).type
    net, x, d_out = make_inputs(cell, B, H, T, dtype)
    ours = rnnbench_step(net, x, d_out)
    ours.run()  # compiles on a cold cache
    timed, errors = _agreeing(peers, ours, cell, net, x, d_out, dtype_name)
    runs = [ours.run] + [step.run for _, step in timed]
    probe = sum(_seconds(run) for run in runs)
    n = max(3, min(repeats, int(max_seconds / max(probe, 1e-9))))
    medians = dict(zip(["rnnbench"] + [p.name for p, _ in timed], alternate(runs, n), strict=True))
    r_ms = 1e3 * medians["rnnbench"]
    gemms = flops.step_gemms(cell, B, H, T)
    bound_ms = 1e3 * flops.gemm_bound(gemms, dtype, n, np.random.default_rng(2))
    step_flops = flops.step_flops(cell, B, H, T)
    row = {
        "cell": cell,
        "dtype": dtype_name,
        "batch": B,
        "hidden": H,
        "seq_len": T,
        "threads": threads,
        "repeats": n,
        "rnnbench_ms": r_ms,
    }
    for name in PEER_NAMES:  # absent or disagreeing peers: NaN
        ms = 1e3 * medians.get(name, np.nan)
        row.update({f"{name}_ms": ms, f"{name}_ratio": ms / r_ms})
        row[f"{name}_err"] = errors.get(name, np.nan)
    gflops = step_flops / (r_ms * 1e6)
    row.update(
        gemm_bound_ms=bound_ms,
        fraction=r_ms / bound_ms,
        flops=step_flops,
        gflops=gflops,
        peak_gflops=peak[dtype_name],
        of_peak=gflops / peak[dtype_name],
        rnnbench_us_per_step=1e3 * r_ms / T,
        overhead_us_per_step=1e3 * (r_ms - bound_ms) / T,
        torch_fused=any(p.fused(cell, dtype_name) for p in peers if p.name == "torch"),
    )
    return row
