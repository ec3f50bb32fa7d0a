"""The new tasks end to end: a tiny training run of each (summary, baselines, the test split as
the evaluation set, gradient diagnostics), determinism per seed, and bad command lines (one
line, exit 2, nothing written)."""

from __future__ import annotations

import os
import subprocess
import sys
from concurrent.futures import ThreadPoolExecutor

import numpy as np
import pandas as pd
import pytest
from conftest import run_cli
from idx import write_mnist

from rnnbench import io, train
from rnnbench.config import task_options
from rnnbench.tasks import make_task

pytest.importorskip("sklearn")

NEW = {  # task -> overrides that keep its run tiny
    "multiplication": ["task=multiplication", "task.seq_len=22"],
    "embedded_reber": ["task=embedded_reber", "task.seq_len=12"],
    "selective_copy": ["task=selective_copy", "task.seq_len=10"],
    "digits": ["task=digits", "task.seq_len=8"],
    "mnist": ["task=mnist", "task.seq_len=28"],
    "mackey_glass": ["task=mackey_glass", "task.seq_len=10", "task.horizon=3"],
}


def overrides(name, data_dir):
    extra = [f"task.path={data_dir}"] if name == "mnist" else []
    return [*NEW[name], *extra, "diagnostics.every=4", "diagnostics.jacobian_vectors=1"]


@pytest.mark.parametrize("name", sorted(NEW))
def test_tiny_run_of_each_task(tmp_path, tiny_cfg, name):
    write_mnist(tmp_path / "mnist")
    cfg = tiny_cfg(*overrides(name, tmp_path / "mnist"))
    summary = train.run(cfg, tmp_path / "a")
    assert summary["status"] == "completed" and summary["task"] == name
    task = make_task(name, **task_options(cfg))
    assert summary["baseline_loss"] == pytest.approx(task.baseline_loss)
    assert summary["baselines"] == pytest.approx(task.baselines)
    batch = task.held_out(np.random.default_rng(0), 4)
    assert set(summary["final_eval"]) == set(
        task.metrics(np.zeros(task.output_shape(batch)), batch)
    )
    on_disk = io.read_json(tmp_path / "a" / "summary.json")
    assert on_disk["baselines"] == pytest.approx(task.baselines)
    grads = pd.read_parquet(tmp_path / "a" / "grad_norms.parquet")
    assert len(grads) > 0 and grads["finite"].all()
    again = train.run(cfg, tmp_path / "b")  # the same seed: the same numbers
    assert again["final_eval"] == summary["final_eval"]


def test_mackey_glass_summary_has_the_three_baselines(tmp_path, tiny_cfg):
    cfg = tiny_cfg(*overrides("mackey_glass", tmp_path))
    summary = train.run(cfg, tmp_path)
    assert set(summary["baselines"]) == {"persistence", "linear_ar", "mean"}
    assert summary["baseline_loss"] == summary["baselines"]["persistence"]
    assert set(summary["final_eval"]) == {"loss"}


def test_digits_evaluates_on_the_test_split(tmp_path, tiny_cfg):
    cfg = tiny_cfg("task=digits", "task.seq_len=8", "train.eval_size=1000")
    train.run(cfg, tmp_path)
    task = make_task("digits", seq_len=8)
    job_eval = train.build(cfg).eval_batch
    assert job_eval.batch_size == 360  # every test image, none of the training ones
    assert (job_eval.target == task.splits()[1].labels).all()


BAD = [
    (["task=mnist"], "task.path='data/mnist' lacks the MNIST file"),
    (["task=mnist", "task.path=nowhere", "task.seq_len=28"], "task.path='nowhere' lacks"),
    (["task=digits", "task.seq_len=10"], "task.seq_len must divide the 64 pixels"),
    (["task=mnist", "task.seq_len=100"], "task.seq_len must divide the 784 pixels"),
    (["task=embedded_reber", "task.seq_len=8"], "task.seq_len must be an integer >= 9"),
    (["task=selective_copy", "task.seq_len=9"], "task.seq_len must be an integer >= 10"),
    (["task=multiplication", "task.seq_len=21"], "task.seq_len must be an integer >= 22"),
    (["task=mackey_glass", "task.seq_len=5"], "task.seq_len must be an integer >= 10"),
    (["task=mackey_glass", "task.tau=17.05"], "task.tau must be a multiple of"),
]


@pytest.fixture(scope="module")
def bad_outcomes(tmp_path_factory):
    root = tmp_path_factory.mktemp("bad_tasks")
    dirs = [root / f"case{i}" for i in range(len(BAD))]
    for d in dirs:
        d.mkdir()
    with ThreadPoolExecutor(max_workers=3) as pool:
        return list(pool.map(lambda d, a: run_cli(a, d), dirs, [a for a, _ in BAD])), dirs


@pytest.mark.parametrize("i", range(len(BAD)), ids=[" ".join(a) for a, _ in BAD])
def test_bad_task_input_is_one_line_exit_2(bad_outcomes, i):
    results, dirs = bad_outcomes
    res, expected = results[i], BAD[i][1]
    assert res.returncode == 2 and res.stdout == "", res.stderr
    assert res.stderr.startswith(f"rnnbench: error: {expected}") and res.stderr.count("\n") == 1
    assert list(dirs[i].iterdir()) == []  # nothing written


@pytest.mark.parametrize(
    "args, code, start",
    [
        (["download", "DIR"], 1, "mnist download failed: cannot fetch"),  # offline (no network)
        (["download", "FILE"], 2, "mnist download:"),  # refused before fetching anything
        ([], 2, "usage: python -m rnnbench.tasks.mnist download DIR"),
    ],
)
def test_mnist_download_command_is_one_line(tmp_path, monkeypatch, args, code, start):
    """Through the real command (`python -m`), with the network refused by a proxy that does
    not exist, so the test never reaches the internet."""
    (tmp_path / "FILE").write_text("x")
    argv = [str(tmp_path / a) if a in ("DIR", "FILE") else a for a in args]
    env = {**os.environ, "https_proxy": "http://127.0.0.1:9", "http_proxy": "http://127.0.0.1:9"}
    res = subprocess.run(
        [sys.executable, "-m", "rnnbench.tasks.mnist", *argv],
        capture_output=True,
        text=True,
        env=env,
        timeout=120,
    )
    assert res.returncode == code and res.stdout == ""
    assert res.stderr.startswith(start) and res.stderr.count("\n") == 1, res.stderr
    assert not (tmp_path / "DIR").exists()
