"""End to end: real multiruns of +experiment=cell_comparison in subprocesses, then the report.

Tiny jobs (hidden 8, a dozen steps), but the real app, the real launchers (basic, joblib,
submitit_local) and the real files. Also: re-running a sweep skips completed jobs and reruns the
unfinished and failed ones; a failed job leaves its traceback in its own directory.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pandas as pd
import pytest

TINY = [
    "model.hidden_size=8",
    "train.steps=12",
    "train.batch_size=4",
    "train.eval_every=4",
    "train.eval_size=8",
    "train.log_every=2",
    "diagnostics.every=6",
]
GRID = ["task.seq_len=5,8", "seed=0"]  # with the experiment's 3 cells: 6 jobs
JOBS = 6

# Runs the app with train.build patched to fail for seed 1 (the basic launcher runs jobs in this
# process, so the patch holds for every job).
FAILING_APP = """
import sys
import rnnbench.train as train
from rnnbench.cli import main
real_build = train.build
def build(cfg):
    if cfg.seed == 1:
        raise RuntimeError("injected failure for seed 1")
    return real_build(cfg)
train.build = build
main(sys.argv[1:])
"""


def _env() -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if k != "HYDRA_FULL_ERROR"}
    env["PYTHONPATH"] = str(Path(__file__).resolve().parents[1])
    return env


def sweep(cwd: Path, *args: str, code: str | None = None) -> subprocess.CompletedProcess:
    head = ["-c", code] if code else ["-m", "rnnbench"]
    cmd = [sys.executable, *head, "-m", "+experiment=cell_comparison", *TINY, *args]
    return subprocess.run(cmd, cwd=cwd, env=_env(), capture_output=True, text=True, timeout=600)


def report(*args: str) -> subprocess.CompletedProcess:
    cmd = [sys.executable, "-m", "rnnbench.report", *map(str, args)]
    return subprocess.run(cmd, env=_env(), capture_output=True, text=True, timeout=300)


def summaries(root: Path) -> dict[str, dict]:
    return {p.parent.name: json.loads(p.read_text()) for p in root.glob("*/summary.json")}


def eval_metrics(root: Path) -> dict[str, list[float]]:
    out = {}
    for p in sorted(root.glob("*/metrics.parquet")):
        m = pd.read_parquet(p)
        out[p.parent.name] = m[m["split"] == "eval"]["value"].tolist()
    return out


@pytest.mark.slow
def test_sequential_sweep_rerun_and_report(tmp_path: Path):
    root = tmp_path / "results" / "sweeps" / "cell_comparison"
    r = sweep(tmp_path, *GRID)
    assert r.returncode == 0, r.stderr[-3000:]
    runs = summaries(root)
    assert len(runs) == JOBS and {s["status"] for s in runs.values()} == {"completed"}
    # job directories are named by their overrides (sorted, the experiment name left out)
    assert any(n.startswith("diagnostics.every=6,") and ",model=gru,seed=0,task.seq_len=5," in n
               for n in runs)  # fmt: skip

    # the same command again: every job skipped, nothing rewritten
    mtimes = {p: p.stat().st_mtime_ns for p in root.glob("*/summary.json")}
    r = sweep(tmp_path, *GRID)
    assert r.returncode == 0, r.stderr[-3000:]
    assert (r.stdout + r.stderr).count("already holds a completed run") == JOBS
    assert {p: p.stat().st_mtime_ns for p in root.glob("*/summary.json")} == mtimes

    # an unfinished job (killed before its summary) is rerun, the others are not
    victim = next(iter(sorted(root.glob("*/summary.json"))))
    victim.unlink()
    r = sweep(tmp_path, *GRID)
    assert r.returncode == 0, r.stderr[-3000:]
    assert (r.stdout + r.stderr).count("already holds a completed run") == JOBS - 1
    assert victim.is_file()

    # the report over it
    r = report(root)
    assert r.returncode == 0, r.stderr
    text = (root / "report" / "report.md").read_text()
    assert f"{JOBS} run(s) under `cell_comparison`: {JOBS} completed" in text
    assert (
        "## Verdict" in text and "**adding**" in text and "Winner" in text or "No variant" in text
    )
    for stem in ("learning_curves", "final_vs_length", "grad_norms_through_time", "speed"):
        assert (root / "report" / f"{stem}.png").is_file(), stem
    table = pd.read_csv(root / "report" / "runs.csv")
    assert sorted(table["cell"]) == sorted(["rnn", "lstm", "gru"] * 2)
    assert set(table["seq_len"]) == {5, 8}


@pytest.mark.slow
def test_failed_job_keeps_traceback_and_is_rerun(tmp_path: Path):
    root = tmp_path / "results" / "sweeps" / "cell_comparison"
    grid = ["model=rnn", "task.seq_len=5", "seed=0,1"]
    r = sweep(tmp_path, *grid, code=FAILING_APP)
    assert r.returncode != 0  # Hydra reports the failed job after running all of them
    runs = summaries(root)
    status = {f"seed={s['seed']}": s["status"] for s in runs.values()}
    assert status == {"seed=0": "completed", "seed=1": "failed"}
    failed_dir = next(root.glob("*seed=1*"))
    log = (failed_dir / "rnnbench.log").read_text()
    assert "Traceback" in log and "injected failure for seed 1" in log
    assert "injected failure" in runs[failed_dir.name]["error"]

    r = report(root)
    assert r.returncode == 0
    text = (root / "report" / "report.md").read_text()
    assert "1 completed, 1 failed" in text and "injected failure for seed 1" in text
    assert "rnnbench.log" in text  # where the traceback is

    # without the fault: the failed job reruns and completes, the completed one is skipped
    r = sweep(tmp_path, *grid)
    assert r.returncode == 0, r.stderr[-3000:]
    assert (r.stdout + r.stderr).count("already holds a completed run") == 1
    assert {s["status"] for s in summaries(root).values()} == {"completed"}


@pytest.mark.slow
def test_parallel_launchers_match_sequential(tmp_path: Path):
    """joblib and submitit_local give the same files and bit-identical metrics (threads=1)."""
    seq = tmp_path / "seq"
    r = sweep(tmp_path, *GRID, f"hydra.sweep.dir={seq}")
    assert r.returncode == 0, r.stderr[-3000:]
    expected = eval_metrics(seq)
    assert len(expected) == JOBS

    par = tmp_path / "joblib"
    r = sweep(tmp_path, *GRID, "hydra/launcher=joblib", f"hydra.sweep.dir={par}")
    assert r.returncode == 0, r.stderr[-3000:]
    assert "Joblib.Parallel" in r.stdout + r.stderr
    assert eval_metrics(par) == expected
    envs = [json.loads(p.read_text()) for p in par.glob("*/environment.json")]
    assert len(envs) == JOBS and all(e["threads"]["numba"] == 1 for e in envs)

    sub = tmp_path / "submitit"
    r = sweep(
        tmp_path, "model=rnn,gru", "task.seq_len=5", "seed=0",
        "hydra/launcher=submitit_local", f"hydra.sweep.dir={sub}",
    )  # fmt: skip
    assert r.returncode == 0, r.stderr[-3000:]
    runs = summaries(sub)
    assert len(runs) == 2 and {s["status"] for s in runs.values()} == {"completed"}
    assert eval_metrics(sub) == {k: v for k, v in expected.items() if k in runs}

    # one report over all three sweeps; submitit's own files are not mistaken for runs
    r = report(seq, par, sub, "--out", tmp_path / "report", "--strict")
    assert r.returncode == 0, r.stderr
    table = pd.read_csv(tmp_path / "report" / "runs.csv")
    assert len(table) == 2 * JOBS + 2 and set(table["status"]) == {"completed"}


@pytest.mark.slow
def test_identical_sweeps_started_together_train_each_job_once(tmp_path: Path):
    """Same command, same second: the jobs share directories, and each one is trained once."""
    cmd = [sys.executable, "-m", "rnnbench", "-m", "+experiment=cell_comparison", *TINY, *GRID]
    procs = [
        subprocess.Popen(cmd, cwd=tmp_path, env=_env(), stdout=subprocess.PIPE,
                         stderr=subprocess.STDOUT, text=True)
        for _ in range(2)
    ]  # fmt: skip
    outs = [p.communicate(timeout=600)[0] for p in procs]
    assert [p.returncode for p in procs] == [0, 0], outs
    text = "".join(outs)
    assert text.count("rnnbench.cli][INFO] - run directory") == JOBS
    skipped = text.count("being run by another process") + text.count("already holds a completed")
    assert skipped == JOBS
    runs = summaries(tmp_path / "results" / "sweeps" / "cell_comparison")
    assert len(runs) == JOBS and {s["status"] for s in runs.values()} == {"completed"}


def test_job_lock_excludes_a_second_process(tmp_path: Path):
    from rnnbench.runs import job_lock

    holder = subprocess.Popen(
        [sys.executable, "-c",
         "import sys, time; from rnnbench.runs import job_lock\n"
         "with job_lock(sys.argv[1]) as owned:\n print(owned, flush=True); time.sleep(30)",
         str(tmp_path)],
        env=_env(), stdout=subprocess.PIPE, text=True,
    )  # fmt: skip
    try:
        assert holder.stdout.readline().strip() == "True"
        with job_lock(tmp_path) as owned:
            assert owned is False
    finally:
        holder.kill()
        holder.wait()
    with job_lock(tmp_path) as owned:  # released by the kernel when the holder died
        assert owned is True
