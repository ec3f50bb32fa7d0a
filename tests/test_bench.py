"""The benchmark command runs and writes its table, environment record and plot (no speed
asserted)."""

import json

import numpy as np
import pandas as pd

from rnnbench import bench


def test_step_gemms_count_the_flops_of_one_training_step():
    gemms = bench.step_gemms("lstm", B=2, H=3, T=5, I=4)
    # forward x W_ih^T, T recurrent products, T backward products, dW_ih, dW_hh, dx
    assert [c for *_, c in gemms] == [1, 5, 5, 1, 1, 1]
    G = 12
    expected = 2 * (10 * 4 * G + 5 * 2 * 3 * G * 2 + G * 10 * 4 + G * 10 * 3 + 10 * G * 4)
    assert bench.gemm_flops(gemms) == expected


def test_quick_run_writes_table_env_and_plot(tmp_path):
    rows = bench.main(
        "--quick --cells rnn lstm gru --batch 2 --hidden 4 --seq-len 3".split()
        + "--repeats 1 --threads 1".split()
        + ["--out", str(tmp_path)]
    )
    assert len(rows) == 3 * 2  # cells x dtypes
    df = pd.read_csv(tmp_path / "bench.csv")
    assert list(df.columns) == bench.COLUMNS
    assert len(df) == 6 and set(df["cell"]) == {"rnn", "lstm", "gru"}
    assert set(df["dtype"]) == {"float32", "float64"}
    for col in ("rnnbench_ms", "gemm_bound_ms", "fraction", "gflops"):
        assert np.all(np.isfinite(df[col])) and np.all(df[col] > 0), col
    pd.testing.assert_frame_equal(
        pd.read_parquet(tmp_path / "bench.parquet"), df, check_dtype=False
    )
    env = json.loads((tmp_path / "env.json").read_text())
    for key in ("cpu", "blas", "threads", "fp_mode", "numpy", "numba", "summary"):
        assert key in env, key
    assert {"ftz", "daz"} <= set(env["fp_mode"])
    assert (tmp_path / "ratios.png").stat().st_size > 1000


def test_runs_without_torch(tmp_path):
    rows = bench.main(
        "--quick --cells gru --batch 1 --hidden 3 --seq-len 2 --dtype float64".split()
        + "--repeats 1 --no-torch".split()
        + ["--out", str(tmp_path)]
    )
    assert np.isnan(rows[0]["torch_ms"]) and np.isnan(rows[0]["ratio"])
    assert rows[0]["rnnbench_ms"] > 0
    assert (tmp_path / "bench.csv").exists() and (tmp_path / "ratios.png").exists()
