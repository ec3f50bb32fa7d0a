"""Reliability: divergence policies, faults injected into every file write, the Numba cache.

Faults injected (each followed by the check that every file of the run directory is complete,
i.e. parses, or absent, and that no temporary file is left behind where the writer survives):

- ``os.replace`` raising at the k-th rename of a run, for every k;
- the k-th file write failing half-way (ENOSPC after half the bytes), for every k;
- SIGKILL of a process writing result files at random moments (no cleanup can run).
"""

from __future__ import annotations

import errno
import os
import random
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import yaml
from conftest import REPO, TINY, compose_config, run_cli

from rnnbench import io as rio
from rnnbench import runs, train

FAULTY = [*TINY, "diagnostics.every=4", "train.checkpoint_every=4"]


def hook_step(monkeypatch, action) -> None:
    """Call ``action(step)`` before each step's own work (it may raise train.Diverged)."""
    original = train.train_step

    def step(job, batch, step):
        action(step)
        return original(job, batch, step)

    monkeypatch.setattr(train, "train_step", step)


# --------------------------------------------------------------------------------- divergence


def test_skip_policy_drops_and_counts_divergent_updates(tmp_path, monkeypatch):
    def diverge(step):
        if step in (3, 7):
            raise train.Diverged("injected")

    hook_step(monkeypatch, diverge)
    summary = train.run(compose_config([*TINY, "train.on_diverge=skip"]), tmp_path)
    assert summary["status"] == "completed" and summary["steps"] == 12
    assert summary["skipped_steps"] == 2 and summary["diverged_step"] is None
    m = pd.read_parquet(tmp_path / runs.METRICS_FILE)
    skipped = m[(m.split == "train") & (m.metric == "skipped")]
    assert skipped.step.tolist() == [3, 6, 9, 12] and skipped.value.tolist() == [1, 0, 1, 0]


def test_skip_policy_never_applies_a_nonfinite_or_too_large_update(tmp_path):
    cfg = compose_config([*TINY, "train.on_diverge=skip", "train.diverge_grad_norm=1e-12"])
    summary = train.run(cfg, tmp_path)
    assert summary["status"] == "completed" and summary["skipped_steps"] == 12
    m = pd.read_parquet(tmp_path / runs.METRICS_FILE)
    evals = m[(m.split == "eval") & (m.metric == "loss")].value
    assert evals.nunique() == 1  # no update was applied: the evaluation never changed
    assert set(m[m.split == "train"].metric) == {"skipped", "lr"}


def test_stop_policy_is_the_default(tmp_path):
    summary = train.run(compose_config([*TINY, "train.diverge_grad_norm=1e-12"]), tmp_path)
    assert summary["status"] == "diverged" and summary["diverged_step"] == 1
    assert summary["skipped_steps"] == 0
    assert not (tmp_path / runs.CHECKPOINT_FILE).exists()


# --------------------------------------------------------------------------------- atomic writes


def assert_complete_or_absent(run_dir: Path, temporaries_allowed: bool = False) -> list[str]:
    """Every file of `run_dir` parses; returns the names present."""
    present = []
    for p in sorted(run_dir.iterdir()):
        if p.name.endswith(".tmp"):
            assert temporaries_allowed, f"temporary file left behind: {p.name}"
            continue
        if p.is_dir() or p.name == runs.LOCK_FILE:
            continue
        if p.suffix == ".json":
            assert isinstance(rio.read_json(p), dict), p
        elif p.suffix == ".parquet":
            pd.read_parquet(p)
        elif p.suffix == ".npz":
            assert rio.read_npz(p)
        elif p.suffix == ".yaml":
            assert isinstance(yaml.safe_load(p.read_text()), dict), p
        elif p.suffix == ".png":  # the run's figures (rnnbench.report.run_figures)
            assert p.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n", p
        else:
            raise AssertionError(f"unexpected file {p.name}")
        present.append(p.name)
    return present


def count_writes(tmp_path: Path, monkeypatch) -> int:
    calls = []
    real = rio.atomic_write
    monkeypatch.setattr(
        rio, "atomic_write", lambda path, data: calls.append(path) or real(path, data)
    )
    train.run(compose_config(FAULTY), tmp_path / "count")
    monkeypatch.undo()
    return len(calls)


def test_rename_fails_at_every_write(tmp_path, monkeypatch):
    """os.replace raises at the k-th rename into the run dir: the run fails, files stay whole."""
    n = count_writes(tmp_path, monkeypatch)
    assert n >= 8  # config, environment, 2 checkpoints, 3 tables, summary
    real_replace = os.replace
    for k in range(n):
        run_dir = tmp_path / f"k{k}"
        seen = []

        def replace(src, dst, *, _k=k, _dir=str(run_dir), _seen=seen):
            if str(dst).startswith(_dir):
                _seen.append(dst)
                if len(_seen) == _k + 1:
                    raise OSError(errno.EIO, "injected rename failure")
            return real_replace(src, dst)

        with monkeypatch.context() as mp:
            mp.setattr(os, "replace", replace)
            with pytest.raises(OSError, match="injected"):
                train.run(compose_config(FAULTY), run_dir)
        assert_complete_or_absent(run_dir)


def test_write_fails_half_way_at_every_write(tmp_path, monkeypatch):
    """The k-th file write stops after half its bytes (disk full): nothing truncated remains,
    and the old version of a file being replaced survives."""
    n = count_writes(tmp_path, monkeypatch)
    real_fdopen = os.fdopen
    for k in range(n):
        run_dir = tmp_path / f"k{k}"
        opened = []

        class HalfFile:
            def __init__(self, f):
                self.f = f

            def __enter__(self):
                return self

            def __exit__(self, *exc):
                return self.f.__exit__(*exc)

            def write(self, data):
                self.f.write(data[: len(data) // 2])
                raise OSError(errno.ENOSPC, "injected: no space left")

            def __getattr__(self, name):
                return getattr(self.f, name)

        def fdopen(fd, *args, _k=k, _opened=opened, **kw):
            f = real_fdopen(fd, *args, **kw)
            _opened.append(f)
            return HalfFile(f) if len(_opened) == _k + 1 else f

        with monkeypatch.context() as mp:
            mp.setattr(rio.os, "fdopen", fdopen)
            with pytest.raises(OSError, match="injected"):
                train.run(compose_config(FAULTY), run_dir)
        assert_complete_or_absent(run_dir)


WRITER = """
import itertools, sys
import numpy as np, pandas as pd
from rnnbench import io as rio
run_dir = sys.argv[1]
rng = np.random.default_rng(0)
frame = pd.DataFrame({"step": np.arange(200_000), "value": rng.standard_normal(200_000)})
print("ready", flush=True)
for i in itertools.count():
    rio.write_parquet(f"{run_dir}/metrics.parquet", frame)
    summary = {"status": "completed", "i": i, "x": list(range(5000))}
    rio.write_json(f"{run_dir}/summary.json", summary)
    rio.write_npz(f"{run_dir}/checkpoint.npz", {"a": rng.standard_normal(300_000)})
    rio.write_text(f"{run_dir}/config.yaml", "seed: %d\\n" % i + "a: 1\\n" * 20000)
"""


def test_sigkill_at_random_moments_leaves_whole_files(tmp_path):
    """A writer of result files killed at 8 random moments: every file parses or is absent;
    the temporary files it could not clean up are removed by `remove_temporaries`."""
    rnd = random.Random(7)
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    script = textwrap.dedent(WRITER)
    for i in range(8):
        run_dir = tmp_path / f"kill{i % 3}"  # later kills land on files earlier ones left
        run_dir.mkdir(exist_ok=True)
        proc = subprocess.Popen(
            [sys.executable, "-c", script, str(run_dir)], env=env, stdout=subprocess.PIPE, text=True
        )
        assert proc.stdout.readline().strip() == "ready"
        time.sleep(rnd.uniform(0.0, 0.3))
        proc.send_signal(signal.SIGKILL)
        proc.wait(timeout=30)
        assert_complete_or_absent(run_dir, temporaries_allowed=True)
    for i in range(3):
        rio.remove_temporaries(tmp_path / f"kill{i}")
        assert_complete_or_absent(tmp_path / f"kill{i}")


# --------------------------------------------------------------------------------- Numba cache


def _tiny_run(tmp_path: Path, name: str, cache_dir: Path, *extra: str):
    out = tmp_path / name
    env = {k: v for k, v in os.environ.items() if k != "HYDRA_FULL_ERROR"}
    env["NUMBA_CACHE_DIR"] = str(cache_dir)
    return out, subprocess.Popen(
        [sys.executable, "-m", "rnnbench", *TINY, *extra, f"hydra.run.dir={out}"],
        cwd=tmp_path,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


def _same_metrics(a: Path, b: Path) -> None:
    pd.testing.assert_frame_equal(
        pd.read_parquet(a / runs.METRICS_FILE),
        pd.read_parquet(b / runs.METRICS_FILE),
        check_exact=True,
    )


def test_unwritable_cache_dir_compiles_without_cache_one_warning(tmp_path):
    """NUMBA_CACHE_DIR below a regular file cannot be created, not even by root."""
    blocker = tmp_path / "not_a_dir"
    blocker.write_text("")
    ref = tmp_path / "ref"
    assert run_cli([*TINY, "model=rnn", f"hydra.run.dir={ref}"], cwd=tmp_path).returncode == 0
    out, proc = _tiny_run(tmp_path, "run", blocker / "cache", "model=rnn")
    stdout, stderr = proc.communicate(timeout=300)
    assert proc.returncode == 0, stderr
    text = (stdout + stderr).splitlines()
    lines = [s for s in text if "NUMBA_CACHE_DIR" in s or "warn" in s.lower()]
    assert len(lines) == 1 and lines[0].endswith("compiling the kernels without a cache"), lines
    assert "Traceback" not in stderr
    assert runs.read_summary(out)["status"] == "completed"
    env = rio.read_json(out / runs.ENVIRONMENT_FILE)
    assert env["floating_point"]["jit_options"]["cache"] == "False"
    _same_metrics(ref, out)


@pytest.mark.slow
def test_two_processes_fill_one_empty_cache(tmp_path):
    """Two jobs compile every kernel of a cell into one empty cache at once: both succeed with
    identical results, and a third run loading that cache agrees."""
    cache = tmp_path / "numba_cache"
    cache.mkdir()
    extra = ("model=lstm", "model.dtype=float32", "diagnostics.every=4")
    jobs = [_tiny_run(tmp_path, f"job{i}", cache, *extra) for i in range(2)]
    for out, proc in jobs:
        _, stderr = proc.communicate(timeout=600)
        assert proc.returncode == 0, stderr
        assert runs.read_summary(out)["status"] == "completed"
    assert any(cache.rglob("*.nbi")) and any(cache.rglob("*.nbc"))
    out3, proc3 = _tiny_run(tmp_path, "job2", cache, *extra)
    assert proc3.wait(timeout=600) == 0
    for out in (jobs[1][0], out3):
        _same_metrics(jobs[0][0], out)
        pd.testing.assert_frame_equal(
            pd.read_parquet(jobs[0][0] / "grad_norms.parquet"),
            pd.read_parquet(out / "grad_norms.parquet"),
            check_exact=True,
        )


def test_environment_records_thread_counts(tmp_path):
    train.run(compose_config(TINY), tmp_path)
    threads = rio.read_json(tmp_path / runs.ENVIRONMENT_FILE)["threads"]
    assert threads["numba"] == 1 and threads["numba_max"] >= 1
    assert threads["blas"] and all(lib["num_threads"] == 1 for lib in threads["blas"])
    assert np.isscalar(threads["numba_max"])
