"""The benchmark commands run and write their tables, records and plots (no speed asserted);
the peers agree with rnnbench before they are timed; bad arguments are refused in one line."""

import json
import os
import subprocess
import sys

import numpy as np
import pandas as pd
import pytest

from rnnbench import bench
from rnnbench.bench import flops, grid, peers, speedup, tables
from rnnbench.bench.peer_torch import TorchPeer


def test_step_gemms_count_the_flops_of_one_training_step():
    gemms = bench.step_gemms("lstm", B=2, H=3, T=5, I=4)
    # forward x W_ih^T, T recurrent products, T backward products, dW_ih, dW_hh, dx
    assert [c for *_, c in gemms] == [1, 5, 5, 1, 1, 1]
    G = 12
    expected = 2 * (10 * 4 * G + 5 * 2 * 3 * G * 2 + G * 10 * 4 + G * 10 * 3 + 10 * G * 4)
    assert bench.gemm_flops(gemms) == expected


def test_step_flops_add_the_elementwise_work_per_unit_row_and_step():
    gemm = bench.gemm_flops(bench.step_gemms("gru", B=2, H=3, T=5))
    assert bench.step_flops("gru", B=2, H=3, T=5) == gemm + 2 * 3 * 5 * (17 + 24)
    assert (
        bench.step_flops("rnn", 1, 1, 1) - bench.gemm_flops(bench.step_gemms("rnn", 1, 1, 1)) == 10
    )


def test_gemm_peak_is_a_positive_rate():
    assert flops.gemm_peak_gflops(np.float64, repeats=1, n=64) > 0


def _quick(tmp_path, *extra):
    return bench.main(
        "--quick --cells rnn lstm gru --batch 2 --hidden 4 --seq-len 3".split()
        + "--repeats 1 --threads 1".split()
        + list(extra)
        + ["--out", str(tmp_path)]
    )


def test_quick_run_writes_table_env_and_plots(tmp_path):
    before = os.sched_getaffinity(0) if hasattr(os, "sched_getaffinity") else None
    rows = _quick(tmp_path)
    assert len(rows) == 3 * 2  # cells x dtypes
    df = pd.read_csv(tmp_path / "bench.csv")
    assert list(df.columns) == bench.COLUMNS
    assert len(df) == 6 and set(df["cell"]) == {"rnn", "lstm", "gru"}
    assert set(df["dtype"]) == {"float32", "float64"}
    for col in ("rnnbench_ms", "gemm_bound_ms", "fraction", "flops", "gflops", "peak_gflops"):
        assert np.all(np.isfinite(df[col])) and np.all(df[col] > 0), col
    assert np.allclose(df["gflops"], df["flops"] / (df["rnnbench_ms"] * 1e6))
    assert np.allclose(df["of_peak"], df["gflops"] / df["peak_gflops"])
    pd.testing.assert_frame_equal(
        pd.read_parquet(tmp_path / "bench.parquet"), df, check_dtype=False
    )
    env = json.loads((tmp_path / "env.json").read_text())
    for key in (
        "cpu",
        "python",
        "packages",
        "threads",
        "floating_point",
        "load_average",
        "affinity",
        "gemm_peak_gflops",
        "summary",
        "command",
        "peers",
    ):
        assert key in env, key
    assert {"numpy", "numba", "llvmlite"} <= set(env["packages"])
    blas = [b for b in env["threads"]["blas"] if b["user_api"] == "blas"]
    assert blas and all(b["architecture"] and b["num_threads"] == 1 for b in blas)
    assert (
        env["threads"]["benchmark"] == env["threads"]["rnnbench"] == 1
        and env["affinity"]["cpus"] == env["affinity"]["allowed"][:1]
    )
    assert {"ftz", "daz"} <= set(env["floating_point"])
    for png in ("ratios.png", "gflops.png"):
        assert (tmp_path / png).stat().st_size > 1000
    if before is not None:  # pinned for the run only
        assert os.sched_getaffinity(0) == before


def test_time_budget_runs_the_cheapest_rows_and_lists_the_rest(tmp_path):
    rows = bench.main(
        "--quick --cells lstm rnn --batch 4 1 --hidden 3 --seq-len 2 --dtype float64".split()
        + "--repeats 1 --no-torch --no-jax --time-budget 1e-9".split()
        + ["--out", str(tmp_path)]
    )
    assert [(r["cell"], r["batch"]) for r in rows] == [("rnn", 1)]  # the fewest flops
    env = json.loads((tmp_path / "env.json").read_text())
    assert sorted(env["rows_not_run"]) == [
        "lstm B1 H3 T2 float64",
        "lstm B4 H3 T2 float64",
        "rnn B4 H3 T2 float64",
    ]
    assert len(pd.read_csv(tmp_path / "bench.csv")) == 1


def test_torch_column_agrees_and_is_timed(tmp_path):
    torch = pytest.importorskip("torch")
    rows = _quick(tmp_path, "--no-jax")
    assert all(np.isfinite(r["torch_ms"]) and r["torch_ms"] > 0 for r in rows)
    tol = {"float32": peers.TOLERANCE["float32"], "float64": peers.TOLERANCE["float64"]}
    assert all(r["torch_err"] <= tol[r["dtype"]] for r in rows)
    env = json.loads((tmp_path / "env.json").read_text())
    assert env["peers"]["torch"]["num_threads"] == 1 and env["parity_float64"]["torch"] <= 1e-12
    assert peers.check_peer(TorchPeer(torch)) <= peers.TOLERANCE["parity"]


def test_runs_without_peers(tmp_path):
    rows = bench.main(
        "--quick --cells gru --batch 1 --hidden 3 --seq-len 2 --dtype float64".split()
        + "--repeats 1 --no-torch --no-jax".split()
        + ["--out", str(tmp_path)]
    )
    for peer in peers.PEER_NAMES:
        assert np.isnan(rows[0][f"{peer}_ms"]) and np.isnan(rows[0][f"{peer}_ratio"])
    assert rows[0]["rnnbench_ms"] > 0
    assert (tmp_path / "bench.csv").exists() and (tmp_path / "ratios.png").exists()


class _Perturbed:
    """A peer that returns rnnbench's own results with one gradient off by `delta` (relative)."""

    name = "torch"

    def __init__(self, delta):
        self.delta = delta

    def fused(self, cell, dtype_name):
        return False

    def step(self, cell, net, x, d_out):
        ours = peers.rnnbench_step(net, x, d_out)

        def result():
            out, grads = ours.result()
            grads = dict(grads)
            w = grads["weight_hh_l0"].copy()
            w.flat[0] += self.delta * np.abs(w).max()
            grads["weight_hh_l0"] = w
            return out, grads

        return peers.Step(ours.run, result)


def test_a_peer_that_disagrees_is_refused_before_timing():
    assert peers.check_peer(_Perturbed(0.0)) == 0.0
    with pytest.raises(peers.PeerDisagrees, match="1.00e-06"):
        peers.check_peer(_Perturbed(1e-6))


def test_a_row_leaves_a_disagreeing_peer_untimed():
    kw = dict(threads=1, repeats=1, max_seconds=1.0, peak={"float64": 1.0})
    row = grid.bench_row([_Perturbed(1e-3)], "lstm", "float64", 2, 3, 4, **kw)
    assert np.isnan(row["torch_ms"]) and row["torch_err"] == pytest.approx(1e-3)
    row = grid.bench_row([_Perturbed(0.0)], "lstm", "float64", 2, 3, 4, **kw)
    assert row["torch_ms"] > 0 and row["torch_err"] == 0.0


def test_jax_peer_agrees_in_float64_for_every_cell(tmp_path):
    pytest.importorskip("jax")
    from rnnbench.bench.peer_jax import JaxPeer

    assert peers.check_peer(JaxPeer.load(threads=1)) <= peers.TOLERANCE["parity"]
    rows = _quick(tmp_path, "--no-torch")
    assert all(np.isfinite(r["jax_ms"]) and r["jax_ms"] > 0 for r in rows)
    env = json.loads((tmp_path / "env.json").read_text())
    assert env["peers"]["jax"]["version"] and env["parity_float64"]["jax"] <= 1e-12


def test_pin_holds_every_thread_of_the_process():
    if not hasattr(os, "sched_setaffinity"):
        pytest.skip("no CPU affinity on this platform")
    code = (
        "import os, threading, time\n"
        "from rnnbench.bench import machine\n"
        "ev = threading.Event(); t = threading.Thread(target=ev.wait); t.start()\n"
        "cpu = machine.allowed_cpus()[-1]; machine.pin([cpu])\n"
        "tids = [int(x) for x in os.listdir('/proc/self/task')]\n"
        "print(all(os.sched_getaffinity(i) == {cpu} for i in tids), len(tids) > 1); ev.set()\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.split() == ["True", "True"]


def _refused(capsys, argv):
    with pytest.raises(SystemExit) as exc:
        bench.main(argv)
    err = capsys.readouterr().err
    assert exc.value.code == 2 and err.count("\n") == 1 and "Traceback" not in err, err
    return err


@pytest.mark.parametrize(
    "argv, words",
    [
        (["--hidden", "-5"], ["--hidden", "integer >= 1", "-5"]),
        (["--batch", "0"], ["--batch", ">= 1"]),
        (["--seq-len", "x"], ["--seq-len", "'x'"]),
        (["--threads", "-1"], ["--threads", ">= 1"]),
        (["--threads", "0"], ["--threads", ">= 1", "0"]),
        (["--threads", "999"], ["--threads", "at most", "999"]),
        (["--max-seconds", "nan"], ["--max-seconds", "finite"]),
        (["--repeats", "0"], ["--repeats"]),
    ],
)
def test_bad_arguments_are_refused_in_one_line(capsys, tmp_path, argv, words):
    err = _refused(capsys, argv + ["--out", str(tmp_path / "out")])
    assert all(w in err for w in words), err
    assert not (tmp_path / "out").exists()


def test_out_naming_a_file_is_refused_before_anything_is_written(capsys, tmp_path):
    f = tmp_path / "file"
    f.write_text("keep")
    err = _refused(capsys, ["--quick", "--out", str(f)])
    assert "--out" in err and "not a directory" in err
    err = _refused(capsys, ["--quick", "--out", str(f / "below")])
    assert "not a directory" in err
    assert f.read_text() == "keep"


def test_speedup_compares_two_runs(tmp_path, capsys):
    base = {"cell": "lstm", "dtype": "float32", "hidden": 64, "seq_len": 10}
    one = [
        dict(base, batch=b, threads=1, rnnbench_ms=10.0, torch_ms=8.0, jax_ms=np.nan)
        for b in (1, 32)
    ]
    two = [
        dict(r, threads=2, rnnbench_ms=r["rnnbench_ms"] / s, torch_ms=4.0)
        for r, s in zip(one, (0.5, 2.0))
    ]
    for name, rows in (("t1", one), ("t2", two)):
        (tmp_path / name).mkdir()
        pd.DataFrame(rows).to_csv(tmp_path / name / "bench.csv", index=False)
    table = speedup.main(
        [str(tmp_path / "t1"), str(tmp_path / "t2"), "--out", str(tmp_path / "s.csv")]
    )
    assert list(table["rnnbench_speedup"]) == [0.5, 2.0]
    assert list(table["torch_speedup"]) == [2.0, 2.0]
    out = capsys.readouterr().out
    assert "rnnbench, float32: geometric mean 1.00, lowest 0.50 (lstm B1 H64 T10)" in out
    assert "B>=32, H>=64: 0 of 1 below 1.7; B=1: 1 of 1 below 1" in out
    assert pd.read_csv(tmp_path / "s.csv").shape == (2, len(tables.SHAPE) + 2 + 3)
    with pytest.raises(SystemExit) as exc:
        speedup.main([str(tmp_path / "t1"), str(tmp_path / "missing")])
    assert exc.value.code == 2 and "no bench.csv" in capsys.readouterr().err


def test_python_check_compares_interpreters(tmp_path):
    """Two workers of this same interpreter: the table, the versions, one row per shape."""
    cmd = [
        sys.executable,
        "-m",
        "rnnbench.bench.pythons",
        sys.executable,
        sys.executable,
        "--cells",
        "rnn",
        "--batch",
        "2",
        "--hidden",
        "3",
        "--seq-len",
        "4",
        "--dtype",
        "float64",
        "--repeats",
        "3",
        "--limit",
        "1000",
    ]
    out = subprocess.run(cmd, capture_output=True, text=True, timeout=300)
    assert out.returncode == 0, out.stderr
    assert out.stdout.count("numba 0.") == 2
    assert "more than 1000.0x slower than the fastest: 0 of 1" in out.stdout
    bad = subprocess.run(cmd[:3] + [str(tmp_path / "nopython")], capture_output=True, text=True)
    assert bad.returncode == 2 and "no interpreter at" in bad.stderr
