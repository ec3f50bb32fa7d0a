"""`python -m rnnbench.bench.speedup DIR_1 DIR_N`: thread speed-ups between two benchmark runs.

For every shape in both tables and every implementation (rnnbench, torch, jax): speed-up =
ms in DIR_1 / ms in DIR_N (> 1: the second run, e.g. two threads, is faster). Printed per row,
then per implementation and dtype: geometric mean, lowest row, the rows with B >= 32 and
H >= 64 below `--goal` (default 1.7, the thread-model goal) and the B = 1 rows below 1. The two
runs are separate processes (JAX's thread flags are fixed at import), so unlike the columns
within one table they did not see the same machine load: compare their env.json load averages.
"""

from pathlib import Path

import numpy as np

from ._args import OneLineParser, positive_float
from .peers import PEER_NAMES
from .tables import SHAPE

IMPLEMENTATIONS = ("rnnbench", *PEER_NAMES)


def speedups(first, second):
    """One row per shared shape: the shape, both thread counts, `<impl>_speedup` per impl."""
    merged = first.merge(second, on=SHAPE, suffixes=("_1", "_n"))
    out = merged[SHAPE + ["threads_1", "threads_n"]].copy()
    for impl in IMPLEMENTATIONS:
        out[f"{impl}_speedup"] = merged[f"{impl}_ms_1"] / merged[f"{impl}_ms_n"]
    return out


def summarize(table, goal: float) -> list[str]:
    lines = []
    for impl in IMPLEMENTATIONS:
        for dt, sub in table.groupby("dtype"):
            s = sub[np.isfinite(sub[f"{impl}_speedup"])]
            if s.empty:
                continue
            values = s[f"{impl}_speedup"].to_numpy()
            worst = s.iloc[int(np.argmin(values))]
            big = s[(s["batch"] >= 32) & (s["hidden"] >= 64)]
            small = s[s["batch"] == 1]
            lines.append(
                f"{impl}, {dt}: geometric mean {np.exp(np.log(values).mean()):.2f}, lowest "
                f"{values.min():.2f} ({worst['cell']} B{worst['batch']} H{worst['hidden']} "
                f"T{worst['seq_len']}); B>=32, H>=64: "
                f"{int((big[f'{impl}_speedup'] < goal).sum())} of {len(big)} below {goal}; "
                f"B=1: {int((small[f'{impl}_speedup'] < 1).sum())} of {len(small)} below 1"
            )
    return lines


def _table(directory: Path, parser):
    import pandas as pd

    path = directory / "bench.csv"
    if not path.is_file():
        parser.error(f"{directory}: no bench.csv (run python -m rnnbench.bench --out {directory})")
    return pd.read_csv(path)


def main(argv=None):
    parser = OneLineParser(
        prog="python -m rnnbench.bench.speedup", description=__doc__.split("\n")[0]
    )
    parser.add_argument("first", type=Path, help="run with fewer threads (e.g. one)")
    parser.add_argument("second", type=Path, help="run with more threads (e.g. two)")
    parser.add_argument("--goal", type=positive_float, default=1.7)
    parser.add_argument("--out", type=Path, help="write the per-row table here (CSV)")
    args = parser.parse_args(argv)
    if args.out is not None and args.out.is_dir():
        parser.error(f"--out {args.out} is a directory, not a file")
    table = speedups(_table(args.first, parser), _table(args.second, parser))
    if table.empty:
        parser.error(f"{args.first} and {args.second} share no shape")
    print(table.to_string(index=False, float_format=lambda v: f"{v:.2f}"))
    print("\n".join(summarize(table, args.goal)))
    if args.out is not None:
        from .. import io

        io.write_csv(args.out, table)
    return table


if __name__ == "__main__":
    main()
