"""Benchmark: one training step of rnnbench against PyTorch and against the GEMM-only bound.

    python -m rnnbench.bench                      # the full grid (issue 6), results/bench/
    python -m rnnbench.bench --quick              # a small subset, for CI (asserts no speed)
    python -m rnnbench.bench --cells lstm --batch 1 32 --hidden 32 --seq-len 100 --dtype float32

One training step = forward over T plus BPTT to every parameter (and to x), one layer, I = 10,
the gradient of L = sum(out * d_out) with d_out ~ N(0, 1) at every step. For each shape the
rnnbench step and the PyTorch step (torch.nn.RNN/LSTM/GRU with the same weights and inputs, the
same thread count via `torch.set_num_threads`) are timed alternately in one process; the table
holds medians over `--repeats`. rnn is the tanh RNN, gru is reset_after=True (PyTorch's).

GEMM-only bound: the time the step's matrix products alone take, each timed with BLAS at its
shape: the whole-sequence ones (x W_ih^T, dW_ih, dW_hh, dx) by `np.dot`, the per-timestep ones
(h_{t-1} W_hh^T and da_t W_hh, T of each) by a Numba loop of `np.dot` (the BLAS that the kernels
call, with no Python overhead per call). fraction = rnnbench time / bound (1 = at the bound);
GFLOP/s = the step's GEMM flops / rnnbench time.

Outputs in --out (default results/bench): bench.csv and bench.parquet (the table), env.json (CPU,
BLAS libraries and their kernels via threadpoolctl, thread counts, floating-point mode, versions),
ratios.png (torch time / rnnbench time per row, ratio = 1 line). Without PyTorch installed the
torch columns are empty.

Benchmark against NumPy's own BLAS with OPENBLAS_CORETYPE unset where the environment sets it
(it forces an older kernel); env.json records the kernel threadpoolctl reports.
"""

import argparse
import json
import logging
import os
import platform
import subprocess
import sys
import time
from pathlib import Path

import numba
import numpy as np

from . import fpmode
from .kernels._jit import jit
from .network import Network

log = logging.getLogger(__name__)

INPUT_SIZE = 10
GATES = {"rnn": 1, "lstm": 4, "gru": 3}
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
COLUMNS = [
    "cell",
    "dtype",
    "batch",
    "hidden",
    "seq_len",
    "threads",
    "repeats",
    "rnnbench_ms",
    "torch_ms",
    "ratio",
    "gemm_bound_ms",
    "fraction",
    "gflops",
    "rnnbench_us_per_step",
    "overhead_us_per_step",
    "torch_fused",
]


def _import_torch():
    try:
        import torch
    except ImportError:
        return None
    return torch


# ---------------------------------------------------------------- the step's GEMMs
def step_gemms(cell: str, B: int, H: int, T: int, I: int = INPUT_SIZE):
    """The matrix products of one step: (name, m, k, n, count), C (m, n) = A (m, k) B (k, n)."""
    G = GATES[cell] * H
    return [
        ("xp = x W_ih^T", T * B, I, G, 1),
        ("a_t = h_{t-1} W_hh^T", B, H, G, T),
        ("dh_{t-1} = da_t W_hh", B, G, H, T),
        ("dW_ih = da^T x", G, T * B, I, 1),
        ("dW_hh = da^T h", G, T * B, H, 1),
        ("dx = da W_ih", T * B, G, I, 1),
    ]


def gemm_flops(gemms) -> float:
    return float(sum(2.0 * m * k * n * c for _, m, k, n, c in gemms))


@jit
def _dot_loop(a, b, out, count):
    for _ in range(count):
        np.dot(a, b, out)


def _median_time(fn, repeats):
    times = []
    for _ in range(repeats):
        t0 = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t0)
    return float(np.median(times))


def gemm_bound(gemms, dtype, repeats: int, rng) -> float:
    """Seconds: sum over the step's GEMMs of the median time of each at its shape."""
    total = 0.0
    for _, m, k, n, count in gemms:
        a = rng.standard_normal((m, k)).astype(dtype)
        b = rng.standard_normal((k, n)).astype(dtype)
        out = np.empty((m, n), dtype=dtype)
        if count == 1:
            np.dot(a, b, out)
            total += _median_time(lambda a=a, b=b, out=out: np.dot(a, b, out), repeats)
        else:
            _dot_loop(a, b, out, 1)
            total += _median_time(
                lambda a=a, b=b, out=out, c=count: _dot_loop(a, b, out, c), repeats
            )
    return total


# ---------------------------------------------------------------- the two steps
def make_inputs(cell, B, H, T, dtype, seed=0):
    net = Network(cell, INPUT_SIZE, H, 1, dtype=dtype, seed=seed)
    rng = np.random.default_rng(seed + 1)
    x = rng.standard_normal((T, B, INPUT_SIZE)).astype(dtype)
    d_out = rng.standard_normal((T, B, H)).astype(dtype)
    return net, x, d_out


def rnnbench_step(net, x, d_out):
    """One training step: forward over T, BPTT to every parameter and to x."""

    def step():
        _, cache = net.forward(x)
        return net.backward(cache, d_out)

    return step


def torch_step(torch, cell, net, x, d_out):
    """The same step in PyTorch: same weights, inputs and upstream gradient."""
    tdt = torch.float64 if net.dtype == np.float64 else torch.float32
    cls = {"rnn": torch.nn.RNN, "lstm": torch.nn.LSTM, "gru": torch.nn.GRU}[cell]
    m = cls(INPUT_SIZE, net.hidden_size, 1).to(tdt)
    m.load_state_dict({k: torch.from_numpy(v.copy()) for k, v in net.params.items()})
    xt = torch.from_numpy(x.copy()).requires_grad_()
    dt = torch.from_numpy(d_out.copy())

    def step():
        m.zero_grad(set_to_none=True)
        xt.grad = None
        out, _ = m(xt)
        out.backward(dt)

    return step


def bench_row(torch, cell, B, H, T, dtype_name, threads, repeats, max_seconds):
    dtype = np.dtype(dtype_name).type
    net, x, d_out = make_inputs(cell, B, H, T, dtype)
    ours = rnnbench_step(net, x, d_out)
    theirs = torch_step(torch, cell, net, x, d_out) if torch is not None else None
    t0 = time.perf_counter()
    ours()  # warm-up (compiles on a cold cache)
    if theirs is not None:
        theirs()
    warm = time.perf_counter() - t0
    # long rows: fewer repeats, at least 3, so that a row stays within max_seconds
    n = max(3, min(repeats, int(max_seconds / max(warm, 1e-9))))
    t_ours, t_theirs = [], []
    for _ in range(n):  # alternate, so both see the same machine load
        t_ours.append(_median_time(ours, 1))
        if theirs is not None:
            t_theirs.append(_median_time(theirs, 1))
    r_ms = 1e3 * float(np.median(t_ours))
    t_ms = 1e3 * float(np.median(t_theirs)) if theirs is not None else float("nan")
    gemms = step_gemms(cell, B, H, T)
    bound_ms = 1e3 * gemm_bound(gemms, dtype, n, np.random.default_rng(2))
    return {
        "cell": cell,
        "dtype": dtype_name,
        "batch": B,
        "hidden": H,
        "seq_len": T,
        "threads": threads,
        "repeats": n,
        "rnnbench_ms": r_ms,
        "torch_ms": t_ms,
        "ratio": t_ms / r_ms,
        "gemm_bound_ms": bound_ms,
        "fraction": r_ms / bound_ms,
        "gflops": gemm_flops(gemms) / (r_ms * 1e6),
        "rnnbench_us_per_step": 1e3 * r_ms / T,
        "overhead_us_per_step": 1e3 * (r_ms - bound_ms) / T,
        "torch_fused": bool(torch is not None and cell == "lstm" and dtype_name == "float32"),
    }


# ---------------------------------------------------------------- environment
def _cpu_model() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def _git_commit() -> str | None:
    try:
        out = subprocess.run(
            ["git", "rev-parse", "HEAD"],
            capture_output=True,
            text=True,
            timeout=10,
            cwd=Path(__file__).resolve().parent,
        )
        return out.stdout.strip() or None
    except (OSError, subprocess.SubprocessError):
        return None


def environment(torch, threads: int) -> dict:
    from threadpoolctl import threadpool_info

    blas = [
        {
            "library": Path(i["filepath"]).name,
            "internal_api": i.get("internal_api"),
            "version": i.get("version"),
            "kernel": i.get("architecture"),
            "threading_layer": i.get("threading_layer"),
            "num_threads": i.get("num_threads"),
        }
        for i in threadpool_info()
    ]
    env = {
        "cpu": _cpu_model(),
        "logical_cpus": os.cpu_count(),
        "machine": platform.machine(),
        "python": platform.python_version(),
        "numpy": np.__version__,
        "numba": numba.__version__,
        "threads": threads,
        "numba_threads": numba.get_num_threads(),
        "blas": blas,
        "openblas_env": {
            k: os.environ[k] for k in ("OPENBLAS_CORETYPE", "OPENBLAS_L2_SIZE") if k in os.environ
        },
        "fp_mode": fpmode.describe(),
        "git_commit": _git_commit(),
        "torch": None,
    }
    if torch is not None:
        env["torch"] = {
            "version": torch.__version__,
            "num_threads": torch.get_num_threads(),
            "num_interop_threads": torch.get_num_interop_threads(),
            "mkldnn": bool(torch.backends.mkldnn.is_available()),
            "config": torch.__config__.show(),
        }
    return env


# ---------------------------------------------------------------- output
def format_table(rows) -> str:
    head = (
        f"{'cell':<5}{'dtype':>8}{'B':>5}{'H':>5}{'T':>6} {'rnnbench ms':>12}{'torch ms':>11}"
        f"{'ratio':>8}{'GEMM ms':>10}{'fraction':>9}{'GFLOP/s':>9}"
    )
    lines = [head, "-" * len(head)]
    for r in rows:
        lines.append(
            f"{r['cell']:<5}{r['dtype']:>8}{r['batch']:>5}{r['hidden']:>5}{r['seq_len']:>6} "
            f"{r['rnnbench_ms']:>12.3f}{r['torch_ms']:>11.3f}{r['ratio']:>8.2f}"
            f"{r['gemm_bound_ms']:>10.3f}{r['fraction']:>9.2f}{r['gflops']:>9.2f}"
        )
    return "\n".join(lines)


def summary(rows) -> dict:
    """Geometric mean of the ratio per dtype, the worst rows, the count of rows below 1."""
    out = {}
    for dt in sorted({r["dtype"] for r in rows}):
        ratios = np.array([r["ratio"] for r in rows if r["dtype"] == dt], dtype=float)
        ratios = ratios[np.isfinite(ratios)]
        if ratios.size:
            out[dt] = {
                "geomean_ratio": float(np.exp(np.mean(np.log(ratios)))),
                "min_ratio": float(ratios.min()),
                "rows_below_1": int((ratios < 1).sum()),
                "rows": int(ratios.size),
            }
    return out


def write_outputs(rows, env, out_dir: Path):
    import pandas as pd

    out_dir.mkdir(parents=True, exist_ok=True)
    df = pd.DataFrame(rows, columns=COLUMNS)
    df.to_csv(out_dir / "bench.csv", index=False)
    try:
        df.to_parquet(out_dir / "bench.parquet", index=False)
    except ImportError:  # no pyarrow/fastparquet: CSV only
        log.warning("no Parquet engine installed: wrote bench.csv only")
    env = dict(env, summary=summary(rows))
    (out_dir / "env.json").write_text(json.dumps(env, indent=2, default=str) + "\n")
    plot_ratios(df, out_dir / "ratios.png")


def plot_ratios(df, path: Path):
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    labels = [
        f"{r.cell} {r.dtype[5:]} B{r.batch} H{r.hidden} T{r.seq_len}" for r in df.itertuples()
    ]
    ratio = df["ratio"].to_numpy(dtype=float)
    fig, ax = plt.subplots(figsize=(max(6.0, 0.18 * len(df) + 2), 6.0))
    colors = ["tab:blue" if d == "float32" else "tab:orange" for d in df["dtype"]]
    x = np.arange(len(df))
    ax.bar(x, np.where(np.isfinite(ratio), ratio, 0.0), color=colors)
    ax.axhline(1.0, color="black", lw=1, ls="--", label="ratio = 1 (as fast as PyTorch)")
    if np.isfinite(ratio).any() and np.nanmax(ratio) / max(np.nanmin(ratio), 1e-9) > 20:
        ax.set_yscale("log")
    ax.set_xticks(x, labels, rotation=90, fontsize=6)
    ax.set_ylabel("PyTorch ms / rnnbench ms (> 1: rnnbench faster)")
    ax.set_xlabel("cell, dtype (blue float32, orange float64), batch B, hidden H, seq_len T")
    ax.set_title("One training step (forward + BPTT), same weights and inputs, same threads")
    ax.legend(loc="upper right", fontsize=8)
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)


# ---------------------------------------------------------------- CLI
def parse_args(argv=None):
    p = argparse.ArgumentParser(prog="python -m rnnbench.bench", description=__doc__.split("\n")[0])
    p.add_argument("--quick", action="store_true", help="small subset for CI (tiny shapes)")
    p.add_argument("--cells", nargs="+", choices=list(GATES))
    p.add_argument("--batch", nargs="+", type=int)
    p.add_argument("--hidden", nargs="+", type=int)
    p.add_argument("--seq-len", nargs="+", type=int)
    p.add_argument("--dtype", nargs="+", choices=["float32", "float64"])
    p.add_argument(
        "--threads",
        type=int,
        default=None,
        help="Numba, BLAS and torch threads (default: all logical CPUs)",
    )
    p.add_argument(
        "--repeats",
        type=int,
        default=None,
        help="timed steps per row (default 7; 3 with --quick); long rows use fewer, at least 3",
    )
    p.add_argument(
        "--max-seconds",
        type=float,
        default=20.0,
        help="target time per row, cuts repeats of long rows (default 20)",
    )
    p.add_argument(
        "--ftz",
        action="store_true",
        help="flush subnormals (FTZ/DAZ) on the main "
        "thread and in torch (default off: IEEE subnormals, see rnnbench.fpmode)",
    )
    p.add_argument("--no-torch", action="store_true", help="rnnbench columns only")
    p.add_argument("--out", type=Path, default=Path("results/bench"))
    return p.parse_args(argv)


def main(argv=None) -> list[dict]:
    args = parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(message)s")
    grid = dict(QUICK if args.quick else GRID)
    for key in ("cells", "batch", "hidden", "seq_len", "dtype"):
        if getattr(args, key) is not None:
            grid[key] = getattr(args, key)
    repeats = args.repeats or (3 if args.quick else 7)
    threads = args.threads or os.cpu_count() or 1
    torch = None if args.no_torch else _import_torch()
    if torch is None:
        log.info("PyTorch not available: rnnbench columns only")

    import scipy.linalg  # noqa: F401  (load the BLAS that Numba's np.dot calls before limiting)
    from threadpoolctl import threadpool_limits

    numba.set_num_threads(min(threads, numba.config.NUMBA_NUM_THREADS))
    if torch is not None:
        torch.set_num_threads(threads)
    if args.ftz:
        fpmode.set_flush_subnormals(True)
        if torch is not None:
            torch.set_flush_denormal(True)
    rows = []
    with threadpool_limits(limits=threads, user_api="blas"):
        env = environment(torch, threads)
        for dt in grid["dtype"]:
            for cell in grid["cells"]:
                for T in grid["seq_len"]:
                    for H in grid["hidden"]:
                        for B in grid["batch"]:
                            row = bench_row(
                                torch, cell, B, H, T, dt, threads, repeats, args.max_seconds
                            )
                            rows.append(row)
                            log.info(format_table([row]).splitlines()[-1])
                            sys.stdout.flush()
    print(format_table(rows))
    for dt, s in summary(rows).items():
        print(
            f"{dt}: geometric mean ratio {s['geomean_ratio']:.2f}, min {s['min_ratio']:.2f}, "
            f"{s['rows_below_1']} of {s['rows']} rows below 1"
        )
    write_outputs(rows, env, args.out)
    print(f"wrote {args.out}/bench.csv, bench.parquet, env.json, ratios.png")
    return rows


if __name__ == "__main__":
    main()
