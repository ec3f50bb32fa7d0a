"""The benchmark's table, its summary, and the files it writes (atomically).

Columns: shape (cell, dtype, batch, hidden, seq_len), threads, repeats; per implementation the
median ms of one step; per peer (torch, jax) `<peer>_ratio` = peer ms / rnnbench ms (> 1:
rnnbench faster) and `<peer>_err`, its warm-up's largest relative error against rnnbench;
`gemm_bound_ms` and `fraction` = rnnbench ms / bound; `flops` of the step (`flops` module),
`gflops` = flops / rnnbench time, `peak_gflops` the machine's GEMM peak for the dtype at the
row's threads and `of_peak` = gflops / peak; per-timestep cost and its part above the bound;
`torch_fused` (PyTorch's oneDNN LSTM).
"""

import logging
from pathlib import Path

import numpy as np

from .peers import PEER_NAMES

log = logging.getLogger(__name__)

SHAPE = ["cell", "dtype", "batch", "hidden", "seq_len"]
COLUMNS = (
    SHAPE
    + ["threads", "repeats", "rnnbench_ms"]
    + [f"{p}_{c}" for p in PEER_NAMES for c in ("ms", "ratio", "err")]
    + ["gemm_bound_ms", "fraction", "flops", "gflops", "peak_gflops", "of_peak"]
    + ["rnnbench_us_per_step", "overhead_us_per_step", "torch_fused"]
)
COLOR = {"rnnbench": "tab:blue", "torch": "tab:red", "jax": "tab:green"}


def label(row) -> str:
    return f"{row['cell']} B{row['batch']} H{row['hidden']} T{row['seq_len']}"


def format_table(rows) -> str:
    head = (
        f"{'cell':<5}{'dtype':>8}{'B':>5}{'H':>5}{'T':>6} {'rnnbench ms':>12}{'torch ms':>10}"
        f"{'ratio':>7}{'jax ms':>10}{'ratio':>7}{'GEMM ms':>10}{'fract':>7}{'GFLOP/s':>9}"
        f"{'of peak':>8}"
    )
    lines = [head, "-" * len(head)]
    for r in rows:
        lines.append(
            f"{r['cell']:<5}{r['dtype']:>8}{r['batch']:>5}{r['hidden']:>5}{r['seq_len']:>6} "
            f"{r['rnnbench_ms']:>12.3f}{r['torch_ms']:>10.3f}{r['torch_ratio']:>7.2f}"
            f"{r['jax_ms']:>10.3f}{r['jax_ratio']:>7.2f}{r['gemm_bound_ms']:>10.3f}"
            f"{r['fraction']:>7.2f}{r['gflops']:>9.2f}{r['of_peak']:>8.3f}"
        )
    return "\n".join(lines)


def _geomean(values) -> float:
    return float(np.exp(np.mean(np.log(values))))


def summary(rows) -> dict:
    """Per peer and dtype: geometric mean ratio, per-cell geomeans, the worst row, rows below 1."""
    out = {}
    for peer in PEER_NAMES:
        for dt in sorted({r["dtype"] for r in rows}):
            sel = [r for r in rows if r["dtype"] == dt and np.isfinite(r[f"{peer}_ratio"])]
            if not sel:
                continue
            ratios = np.array([r[f"{peer}_ratio"] for r in sel])
            worst = sel[int(np.argmin(ratios))]
            cells = sorted({r["cell"] for r in sel})
            out.setdefault(peer, {})[dt] = {
                "geomean_ratio": _geomean(ratios),
                "per_cell": {
                    c: _geomean([r[f"{peer}_ratio"] for r in sel if r["cell"] == c]) for c in cells
                },
                "min_ratio": float(ratios.min()),
                "worst_row": label(worst),
                "rows_below_1": int((ratios < 1).sum()),
                "rows": len(sel),
            }
    return out


def format_summary(rows) -> str:
    lines = []
    for peer, by_dtype in summary(rows).items():
        for dt, s in by_dtype.items():
            lines.append(
                f"{peer} / rnnbench, {dt}: geometric mean {s['geomean_ratio']:.2f}, "
                f"lowest {s['min_ratio']:.2f} ({s['worst_row']}), "
                f"{s['rows_below_1']} of {s['rows']} rows below 1"
            )
    return "\n".join(lines)


def write_table(rows, env, out_dir: Path):
    """bench.csv, bench.parquet, env.json (with the summary)."""
    import pandas as pd

    from .. import io

    df = pd.DataFrame(rows, columns=COLUMNS)
    io.write_csv(out_dir / "bench.csv", df)
    io.write_parquet(out_dir / "bench.parquet", df)
    io.write_json(out_dir / "env.json", dict(env, summary=summary(rows)))


def write_plots(rows, out_dir: Path):
    """ratios.png and gflops.png."""
    import pandas as pd

    from .. import io

    df = pd.DataFrame(rows, columns=COLUMNS)
    for name, draw in (("ratios.png", plot_ratios), ("gflops.png", plot_gflops)):
        fig = draw(df)
        io.save_figure(fig, out_dir / name, dpi=110)
        _pyplot().close(fig)


def _pyplot():
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def _figure(df, ylabel, title):
    plt = _pyplot()
    dtypes = sorted(set(df["dtype"]))
    width = max(6.0, 0.22 * len(df) / max(len(dtypes), 1) + 2)
    fig, axes = plt.subplots(len(dtypes), 1, figsize=(width, 4.0 * len(dtypes)), squeeze=False)
    panels = []
    for ax, dt in zip(axes[:, 0], dtypes, strict=True):
        sub = df[df["dtype"] == dt]
        x = np.arange(len(sub))
        ax.set_xticks(x, [label(r) for _, r in sub.iterrows()], rotation=90, fontsize=6)
        ax.set_ylabel(ylabel)
        ax.set_title(f"{title}, {dt}", fontsize=10)
        panels.append((ax, sub, x))
    return fig, panels


def _finish(fig):
    fig.supxlabel("cell, batch B, hidden H, seq_len T", fontsize=9)
    fig.tight_layout()
    return fig


def plot_ratios(df):
    """Bars of peer ms / rnnbench ms per row, one panel per dtype, the ratio = 1 line."""
    fig, panels = _figure(
        df,
        "peer ms / rnnbench ms (> 1: rnnbench faster)",
        f"One training step, same weights and inputs, {df['threads'].iloc[0]} thread(s)",
    )
    for ax, sub, x in panels:
        for i, peer in enumerate(PEER_NAMES):
            ratio = sub[f"{peer}_ratio"].to_numpy(dtype=float)
            if np.isfinite(ratio).any():
                bars = np.nan_to_num(ratio)
                ax.bar(x + (i - 0.5) * 0.4, bars, 0.4, color=COLOR[peer], label=peer)
        ax.axhline(1.0, color="black", lw=1, ls="--", label="ratio = 1 (as fast as rnnbench)")
        ax.set_yscale("log")
        ax.legend(loc="upper right", fontsize=7)
    return _finish(fig)


def plot_gflops(df):
    """Achieved GFLOP/s per row and implementation against the dtype's measured GEMM peak."""
    fig, panels = _figure(df, "GFLOP/s (step flops / time)", "Achieved rate against GEMM peak")
    for ax, sub, x in panels:
        for name in ("rnnbench", *PEER_NAMES):
            ms = sub[f"{name}_ms"].to_numpy(dtype=float)
            rate = sub["flops"].to_numpy(dtype=float) / (ms * 1e6)
            if np.isfinite(rate).any():
                ax.plot(x, rate, "o", ms=3, color=COLOR[name], label=name)
        peak = float(sub["peak_gflops"].iloc[0])
        ax.axhline(peak, color="black", lw=1, ls="--", label=f"GEMM peak {peak:.0f} GFLOP/s")
        ax.set_yscale("log")
        ax.legend(loc="lower right", fontsize=7)
    return _finish(fig)
