"""Checkpoints and resuming: a run interrupted and resumed ends bit-identical to an unbroken one.

Interruptions are injected at chosen steps by wrapping `train.train_step`: a signal sent to this
process (SIGINT, SIGTERM: the real handlers run), an exception (a crash after a periodic
checkpoint) or, in a subprocess, SIGKILL (no handler, no cleanup). The resumed run's
metrics.parquet, grad_norms.parquet, diagnostics.parquet and summary.json (timings aside) are
compared with an uninterrupted run of the same config, exactly.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from conftest import REPO, TINY, compose_config, run_cli

from rnnbench import checkpoint, runs, train
from rnnbench import io as rio

TABLES = (runs.METRICS_FILE, "grad_norms.parquet", "diagnostics.parquet")
TIMINGS = ("wall_time_s", "steps_per_s")
# gru + SGD with momentum (optimiser state) + every diagnostic (their own RNG stream); the
# checkpoint interval (4) and the log interval (3) differ, so checkpoints fall mid-window.
CKPT = [
    *TINY,
    "model=gru",
    "optim=sgd",
    "optim.lr=0.1",
    "optim.momentum=0.9",
    "diagnostics.every=4",
    "diagnostics.jacobian_vectors=1",
    "diagnostics.time_bins=2",
    "train.checkpoint_every=4",
]


def hook_step(monkeypatch, at: int, action) -> None:
    """Run `action()` right after step `at` has been applied."""
    original = train.train_step

    def step(job, batch, step):
        out = original(job, batch, step)
        if step == at:
            action()
        return out

    monkeypatch.setattr(train, "train_step", step)


def assert_same_results(ref: Path, got: Path) -> None:
    for name in TABLES:
        a, b = pd.read_parquet(ref / name), pd.read_parquet(got / name)
        pd.testing.assert_frame_equal(a, b, check_exact=True, obj=name)
    sa, sb = runs.read_summary(ref), runs.read_summary(got)
    for s in (sa, sb):
        for k in TIMINGS:
            s.pop(k)
    assert sa == sb


@pytest.fixture(scope="module")
def reference(tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("reference")
    summary = train.run(compose_config(CKPT), out)
    assert summary["status"] == "completed"
    assert not (out / runs.CHECKPOINT_FILE).exists()  # removed once completed
    return out


@pytest.mark.parametrize("sig", [signal.SIGINT, signal.SIGTERM], ids=["SIGINT", "SIGTERM"])
@pytest.mark.parametrize("at", [1, 4, 7, 11])
def test_signal_checkpoint_then_resume_is_bit_identical(tmp_path, monkeypatch, reference, sig, at):
    cfg = compose_config(CKPT)
    with monkeypatch.context() as mp:
        hook_step(mp, at, lambda: os.kill(os.getpid(), sig))
        with pytest.raises(train.Interrupted) as info:
            train.run(cfg, tmp_path)
    assert info.value.signum == sig
    summary = runs.read_summary(tmp_path)
    assert summary["status"] == "interrupted" and summary["steps"] == at
    assert summary["error"] == signal.Signals(sig).name
    ckpt = rio.read_npz(tmp_path / runs.CHECKPOINT_FILE)  # allow_pickle=False
    assert int(ckpt["step"]) == at
    assert all(a.dtype != object for a in ckpt.values())
    assert signal.getsignal(signal.SIGINT) is signal.default_int_handler  # handlers restored

    resumed = train.run(cfg, tmp_path)
    assert resumed["status"] == "completed"
    assert rio.read_json(tmp_path / runs.ENVIRONMENT_FILE)["resumed_from"] == at
    assert_same_results(reference, tmp_path)
    assert not (tmp_path / runs.CHECKPOINT_FILE).exists()


def test_interrupted_twice(tmp_path, monkeypatch, reference):
    cfg = compose_config(CKPT)
    for at in (2, 9):
        with monkeypatch.context() as mp:
            hook_step(mp, at, lambda: os.kill(os.getpid(), signal.SIGTERM))
            with pytest.raises(train.Interrupted):
                train.run(cfg, tmp_path)
        assert runs.read_summary(tmp_path)["steps"] == at
    train.run(cfg, tmp_path)
    assert_same_results(reference, tmp_path)


def test_crash_resumes_from_the_periodic_checkpoint(tmp_path, monkeypatch, reference):
    """A crash at step 10 loses steps 9-10 only: the run resumes from the checkpoint at 8."""
    cfg = compose_config(CKPT)

    def crash():
        raise MemoryError("injected")

    with monkeypatch.context() as mp:
        hook_step(mp, 10, crash)
        with pytest.raises(MemoryError):
            train.run(cfg, tmp_path)
    assert runs.read_summary(tmp_path)["status"] == "failed"
    assert int(rio.read_npz(tmp_path / runs.CHECKPOINT_FILE)["step"]) == 8
    train.run(cfg, tmp_path)
    assert_same_results(reference, tmp_path)


def test_checkpoint_of_another_config_or_damaged_is_ignored(tmp_path, monkeypatch, reference):
    other = compose_config([*CKPT, "seed=1"])
    with monkeypatch.context() as mp:
        hook_step(mp, 5, lambda: os.kill(os.getpid(), signal.SIGINT))
        with pytest.raises(train.Interrupted):
            train.run(other, tmp_path)
    train.run(compose_config(CKPT), tmp_path)  # not seed 1's checkpoint: starts afresh
    assert_same_results(reference, tmp_path)

    damaged = tmp_path / "damaged"
    with monkeypatch.context() as mp:
        hook_step(mp, 5, lambda: os.kill(os.getpid(), signal.SIGINT))
        with pytest.raises(train.Interrupted):
            train.run(compose_config(CKPT), damaged)
    path = damaged / runs.CHECKPOINT_FILE
    path.write_bytes(path.read_bytes()[:300])  # truncated
    train.run(compose_config(CKPT), damaged)
    assert_same_results(reference, damaged)


def test_checkpoint_every_zero_writes_only_on_signals(tmp_path, monkeypatch):
    cfg = compose_config([*CKPT, "train.checkpoint_every=0"])
    seen = []
    hook_step(monkeypatch, 9, lambda: seen.append((tmp_path / runs.CHECKPOINT_FILE).exists()))
    train.run(cfg, tmp_path)
    assert seen == [False]


# --------------------------------------------------------------------------------- subprocesses

HOOKED = """
import os, signal, sys
from rnnbench import cli, train
original = train.train_step
def step(job, batch, step):
    out = original(job, batch, step)
    if step == {at}:
        os.kill(os.getpid(), signal.{sig})
    return out
train.train_step = step
cli.main(sys.argv[1:])
"""


def run_hooked(tmp_path: Path, args: list[str], at: int, sig: str):
    script = textwrap.dedent(HOOKED.format(at=at, sig=sig))
    env = {k: v for k, v in os.environ.items() if k != "HYDRA_FULL_ERROR"}
    return subprocess.run(
        [sys.executable, "-c", script, *args],
        cwd=tmp_path,
        env={**env, "PYTHONPATH": str(REPO)},
        capture_output=True,
        text=True,
        timeout=300,
    )


@pytest.mark.parametrize(("sig", "code"), [("SIGTERM", 143), ("SIGKILL", -9)])
def test_cli_killed_then_same_command_resumes(tmp_path, reference, sig, code):
    out = tmp_path / "run"
    args = [*CKPT, f"hydra.run.dir={out}"]
    res = run_hooked(tmp_path, args, at=10, sig=sig)
    assert res.returncode == code, res.stderr
    if sig == "SIGKILL":  # no handler ran: no summary, the periodic checkpoint of step 8
        assert runs.read_summary(out) is None
        assert int(rio.read_npz(out / runs.CHECKPOINT_FILE)["step"]) == 8
    else:
        assert res.stderr.strip().endswith("to resume from the checkpoint")
        assert runs.read_summary(out)["status"] == "interrupted"
        assert int(rio.read_npz(out / runs.CHECKPOINT_FILE)["step"]) == 10
    res = run_cli(args, cwd=tmp_path)
    assert res.returncode == 0, res.stderr
    assert "resuming from the checkpoint at step" in res.stdout + res.stderr
    assert not list(out.glob(".*.tmp"))
    assert_same_results(reference, out)


@pytest.mark.slow
def test_real_sigint_at_an_arbitrary_moment(tmp_path):
    """`python -m rnnbench` gets SIGINT from outside once a checkpoint exists, wherever it is."""
    long = [*CKPT, "train.steps=1500", "train.eval_every=100", "diagnostics.every=100"]
    ref = tmp_path / "ref"
    train.run(compose_config(long), ref)
    out = tmp_path / "run"
    env = {k: v for k, v in os.environ.items() if k != "HYDRA_FULL_ERROR"}
    proc = subprocess.Popen(
        [sys.executable, "-m", "rnnbench", *long, f"hydra.run.dir={out}"],
        cwd=tmp_path,
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
    )
    deadline = time.monotonic() + 120
    while not (out / runs.CHECKPOINT_FILE).exists() and time.monotonic() < deadline:
        time.sleep(0.005)
    proc.send_signal(signal.SIGINT)
    _, err = proc.communicate(timeout=120)
    summary = runs.read_summary(out)
    if summary["status"] == "completed":  # pragma: no cover - the machine outran the signal
        pytest.skip("run finished before the signal arrived")
    assert proc.returncode == 130, err
    assert summary["status"] == "interrupted" and 0 < summary["steps"] < 1500
    res = run_cli([*long, f"hydra.run.dir={out}"], cwd=tmp_path)
    assert res.returncode == 0, res.stderr
    assert_same_results(ref, out)


def test_rng_state_roundtrip():
    rng = np.random.default_rng(12345)
    rng.standard_normal(7)
    saved = checkpoint.rng_state(rng)
    assert saved.dtype.kind == "U"  # npz-safe: no object array, no pickle
    other = np.random.default_rng(0)
    checkpoint.load_rng_state(other, saved)
    assert np.array_equal(rng.standard_normal(5), other.standard_normal(5))


def test_interrupted_survives_pickling():
    """joblib's workers send a job's exception to the parent pickled."""
    import pickle

    back = pickle.loads(pickle.dumps(train.Interrupted(signal.SIGTERM)))
    assert isinstance(back, train.Interrupted) and back.signum == signal.SIGTERM
    assert str(back) == "SIGTERM"
