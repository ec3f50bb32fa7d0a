"""Signals from outside: a joblib sweep stopped by Ctrl-C (SIGINT to its process group) or by
SIGTERM to the parent alone, and a single run stopped before its first step.

Each command runs in its own session (process group). Wanted: exit 128 + signal with the one-line
message last, every started job ``interrupted`` with its checkpoint (or completed before the
signal), no queued job started after it, no process of the group left (zombies waiting for init
to reap them are dead), and the same command then finishes the sweep bit-identically.

The sweep is seed=0,1 twice over a key that changes neither the results nor the config hash
(train.checkpoint_every=0, then 10^6, never reached): two workers start the first pair, the
signal stops them and the second pair must never start; after the rerun each resumed job's
metrics must equal those of its uninterrupted twin.
"""

from __future__ import annotations

import dataclasses
import inspect
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pandas as pd
import pytest
from conftest import REPO, TINY
from omegaconf import OmegaConf

from rnnbench import runs

pytest.importorskip("hydra_plugins.hydra_joblib_launcher")

from hydra.core.utils import JobReturn  # noqa: E402
from hydra_plugins.hydra_joblib_launcher import _core  # noqa: E402

from rnnbench import _hydra_joblib  # noqa: E402

MESSAGE = "rnnbench: interrupted ({}); run the same command again to resume from the checkpoint"
JOB = [*TINY, "train.steps=3000", "train.eval_every=1000", "train.log_every=500"]
TWINS = "train.checkpoint_every"  # hash-neutral: both twins are the same run


def start(args: list[str], cwd: Path) -> subprocess.Popen:
    env = {k: v for k, v in os.environ.items() if k != "HYDRA_FULL_ERROR"}
    env["PYTHONPATH"] = str(REPO)
    return subprocess.Popen(
        [sys.executable, "-m", "rnnbench", *args],
        cwd=cwd,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        start_new_session=True,  # its own process group: pgid == pid
    )


def alive_in_group(pgid: int) -> list[str]:
    """The processes of group `pgid` that are not zombies, as 'pid state' strings (/proc)."""
    out = []
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
        except OSError:  # gone meanwhile
            continue
        state, group = fields[0], int(fields[2])
        if group == pgid and state != "Z":
            out.append(f"{stat.parent.name} {state}")
    return out


def wait_until(condition, timeout: float) -> bool:
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            return False
        time.sleep(0.05)
    return True


def sweep_args(sweep: Path) -> list[str]:
    return [
        "-m", *JOB, "train.figures=false", f"{TWINS}=0,1000000", "seed=0,1",
        "hydra/launcher=joblib", "hydra.launcher.n_jobs=2", f"hydra.sweep.dir={sweep}",
    ]  # fmt: skip


def job_dirs(sweep: Path) -> dict[str, Path]:
    """{"checkpoint_every seed": job directory} of the jobs that started."""
    out = {}
    for d in sweep.glob("*/.hydra"):
        cfg = OmegaConf.load(d / "config.yaml")
        out[f"{cfg.train.checkpoint_every} {cfg.seed}"] = d.parent
    return out


@pytest.mark.parametrize("how", ["SIGINT to the group", "SIGTERM to the parent"])
def test_joblib_sweep_stops_cleanly_and_resumes(tmp_path, how):
    sweep = tmp_path / "sweep"
    proc = start(sweep_args(sweep), tmp_path)
    running = lambda: len(list(sweep.glob("*/environment.json"))) == 2  # noqa: E731
    assert wait_until(running, 120), proc.communicate()
    time.sleep(0.3)  # into the training loops
    sig = signal.SIGINT if how.startswith("SIGINT") else signal.SIGTERM
    if sig == signal.SIGINT:
        os.killpg(proc.pid, sig)
    else:
        os.kill(proc.pid, sig)
    _, err = proc.communicate(timeout=60)

    assert proc.returncode == 128 + sig, err
    assert err.strip().splitlines()[-1] == MESSAGE.format(sig.name), err
    assert "Traceback" not in err
    assert wait_until(lambda: not alive_in_group(proc.pid), 10), alive_in_group(proc.pid)
    started = job_dirs(sweep)
    assert set(started) <= {"0 0", "0 1"}, started  # the queued twins never started
    statuses = {k: runs.read_summary(d)["status"] for k, d in started.items()}
    assert "interrupted" in statuses.values(), statuses
    for k, d in started.items():
        if statuses[k] == "interrupted":
            assert (d / runs.CHECKPOINT_FILE).is_file()
        else:  # finished before the signal reached it
            assert statuses[k] == "completed"
    assert not list(sweep.glob(".stop-*"))

    if sig == signal.SIGTERM:
        return
    res = subprocess.run(
        [sys.executable, "-m", "rnnbench", *sweep_args(sweep)],
        cwd=tmp_path,
        env={**os.environ, "PYTHONPATH": str(REPO)},
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert res.returncode == 0, res.stderr[-3000:]
    done = job_dirs(sweep)
    assert {runs.read_summary(d)["status"] for d in done.values()} == {"completed"}
    for seed in (0, 1):
        resumed, twin = done[f"0 {seed}"], done[f"1000000 {seed}"]
        pd.testing.assert_frame_equal(
            pd.read_parquet(twin / runs.METRICS_FILE), pd.read_parquet(resumed / runs.METRICS_FILE)
        )


@pytest.mark.parametrize("when", ["while starting", "while the job starts"])
def test_sigterm_before_the_first_step_writes_the_summary(tmp_path, when):
    out = tmp_path / "run"
    proc = start([*JOB, "train.steps=100000", f"hydra.run.dir={out}"], tmp_path)
    if when == "while starting":
        time.sleep(0.3)  # importing numba and Hydra
    else:
        assert wait_until(lambda: (out / runs.CONFIG_FILE).exists(), 120)
    proc.send_signal(signal.SIGTERM)
    _, err = proc.communicate(timeout=120)
    assert proc.returncode == 143, err
    assert err.strip().splitlines()[-1] == MESSAGE.format("SIGTERM"), err
    summary = runs.read_summary(out)
    assert summary["status"] == "interrupted" and summary["error"] == "SIGTERM"
    if when == "while starting":
        assert summary["steps"] == 0
    assert (out / runs.CHECKPOINT_FILE).is_file()


def test_the_plugin_internals_it_patches_are_unchanged():
    """`rnnbench._hydra_joblib` replaces the plugin's _core.launch and _core.execute_job, calls
    them with these parameters and reads JobReturn's status and _return_value."""
    assert _hydra_joblib.plugin_changes() == []
    assert (
        tuple(inspect.signature(_core.launch).parameters)
        == (_hydra_joblib.PLUGIN_SIGNATURES["launch"])
    )
    assert "Parallel(**joblib_cfg)" in inspect.getsource(_hydra_joblib._launch)
    assert "delayed(execute_job)" in inspect.getsource(_hydra_joblib._launch)
    assert {"status", "_return_value"} <= {f.name for f in dataclasses.fields(JobReturn)}
