"""The command line in subprocesses: one-line errors, exit codes, the run directory, skipping.

The slow test builds the wheel, installs it into a fresh virtualenv and runs the installed app
from another directory.
"""

from __future__ import annotations

import subprocess
import sys
import sysconfig
import venv
from pathlib import Path

import pytest
from conftest import REPO, TINY, run_cli

from rnnbench import runs


@pytest.mark.parametrize(
    ("args", "start"),
    [
        (["optim.lr=nan"], "rnnbench: error: optim.lr must be a finite number > 0, got nan"),
        (["model.hidden_size=0"], "rnnbench: error: model.hidden_size must be an integer in"),
        (["model.nope=1"], "rnnbench: error: model.nope is not a known key"),
        (["model=nope"], "rnnbench: error: model=nope: no such option; choose one of gru,"),
        (["-m", "seed=0,1", "train.batch_size=4,-1"], "rnnbench: error: train.batch_size"),
    ],
    ids=["nan-lr", "hidden-0", "unknown-key", "unknown-option", "bad-sweep-job"],
)
def test_bad_input_one_line_exit_2_nothing_written(tmp_path, args, start):
    out = tmp_path / "out"
    res = run_cli([*args, f"hydra.run.dir={out}", f"hydra.sweep.dir={out}"], cwd=tmp_path)
    assert res.returncode == 2
    assert res.stderr.count("\n") == 1 and res.stderr.startswith(start), res.stderr
    assert "Traceback" not in res.stderr + res.stdout and res.stdout == ""
    assert not out.exists()
    assert sorted(p.name for p in tmp_path.iterdir()) == ["out"] or not any(tmp_path.iterdir())


def test_run_then_rerun_skips_completed(tmp_path):
    out = tmp_path / "run"
    res = run_cli([*TINY, f"hydra.run.dir={out}"], cwd=tmp_path)
    assert res.returncode == 0, res.stderr
    assert runs.missing_files(out) == []
    assert (out / ".hydra" / "config.yaml").is_file()
    log = res.stdout + res.stderr
    assert "final eval loss" in log and "memoryless baseline" in log and "steps/s" in log
    before = (out / runs.SUMMARY_FILE).stat().st_mtime_ns

    res = run_cli([*TINY, f"hydra.run.dir={out}"], cwd=tmp_path)
    assert res.returncode == 0 and "skipping" in res.stdout + res.stderr
    assert (out / runs.SUMMARY_FILE).stat().st_mtime_ns == before

    res = run_cli([*TINY, "seed=1", f"hydra.run.dir={out}"], cwd=tmp_path)  # other config:
    assert res.returncode == 2 and "holds a run of another config" in res.stderr  # refused,
    assert runs.read_summary(out)["seed"] == 0  # and the run there is kept (issue 16 item 4)


def test_diverged_run_exits_0(tmp_path):
    out = tmp_path / "run"
    res = run_cli([*TINY, "train.diverge_grad_norm=1e-12", f"hydra.run.dir={out}"], cwd=tmp_path)
    assert res.returncode == 0, res.stderr
    assert runs.read_summary(out)["status"] == "diverged"
    rerun = run_cli([*TINY, "train.diverge_grad_norm=1e-12", f"hydra.run.dir={out}"], cwd=tmp_path)
    assert rerun.returncode == 0 and "already holds a diverged run" in rerun.stdout


def test_multirun_writes_one_directory_per_job(tmp_path):
    out = tmp_path / "sweep"
    res = run_cli(["-m", *TINY, "seed=0,1", f"hydra.sweep.dir={out}"], cwd=tmp_path)
    assert res.returncode == 0, res.stderr
    dirs = sorted(p for p in out.iterdir() if p.is_dir())  # named by the job's overrides
    assert [d.name.split("seed=")[1].split(",")[0] for d in dirs] == ["0", "1"]
    summaries = [runs.read_summary(d) for d in dirs]
    assert [s["seed"] for s in summaries] == [0, 1]
    assert all(s["status"] == "completed" for s in summaries)


@pytest.mark.slow
def test_installed_wheel_runs_from_elsewhere(tmp_path):
    dist = tmp_path / "dist"
    subprocess.run(
        [sys.executable, "-m", "build", "--wheel", "--outdir", str(dist), str(REPO)],
        check=True,
        capture_output=True,
        timeout=600,
    )
    (wheel,) = dist.glob("rnnbench-*.whl")
    # A fresh venv that sees this environment's dependencies (through a .pth line; .pth files
    # found there, such as an editable install of rnnbench, are not processed) but not rnnbench.
    env_dir = tmp_path / "venv"
    venv.create(env_dir, with_pip=False)
    python = str(env_dir / "bin" / "python")
    site = subprocess.run(
        [python, "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])"],
        capture_output=True,
        text=True,
        check=True,
    ).stdout.strip()
    deps = sysconfig.get_paths()["purelib"]
    (Path(site) / "deps.pth").write_text(deps + "\n")
    subprocess.run(
        [sys.executable, "-m", "pip", "--python", python, "install", "--no-deps", str(wheel)],
        check=True,
        capture_output=True,
        timeout=600,
    )
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    where = subprocess.run(
        [python, "-c", "import rnnbench, pathlib; print(pathlib.Path(rnnbench.__file__).parent)"],
        cwd=elsewhere,
        capture_output=True,
        text=True,
        check=True,
    ).stdout.strip()
    assert where == str(Path(site) / "rnnbench")
    assert (Path(where) / "conf" / "experiment" / "copy_task.yaml").is_file()
    out = elsewhere / "run"
    res = run_cli(
        ["+experiment=copy_task", "train.steps=20", "train.eval_every=10", f"hydra.run.dir={out}"],
        cwd=elsewhere,
        python=python,
    )
    assert res.returncode == 0, res.stderr
    summary = runs.read_summary(out)
    assert summary["status"] == "completed" and summary["steps"] == 20
    assert runs.missing_files(out) == []


def test_optional_plugins_are_looked_up_without_failing_when_absent():
    """A plain install (no extras) has no ``hydra_plugins`` package at all: looking up the
    joblib launcher must say no, not raise (the main job crashed with ModuleNotFoundError)."""
    from rnnbench.cli import importable

    assert importable("json.decoder")
    assert not importable("no_such_package_rnnbench.sub")
    assert not importable("no_such_module_rnnbench")
