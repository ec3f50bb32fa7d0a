"""The same-directory rule (`rnnbench.rundir`): a run directory holding a run of another config is
refused in one line (exit 2) and kept as it was; a run file that is a directory is refused too.

The runs put in place are made in this process (`train.run`, a second); the command lines under
test are refused before anything trains, so each subprocess costs its start-up only.
"""

from __future__ import annotations

import hashlib
from pathlib import Path

import pytest
from conftest import TINY, compose_config, run_cli

from rnnbench import io, rundir, runs, train
from rnnbench.config import ConfigError, config_hash

QUICK = [*TINY, "train.figures=false"]


def snapshot(directory: Path) -> dict[str, str]:
    """Every file below `directory` with a digest of its content."""
    return {
        str(p.relative_to(directory)): hashlib.sha256(p.read_bytes()).hexdigest()
        for p in sorted(directory.rglob("*"))
        if p.is_file()
    }


def assert_refused_in_one_line(res, directory: Path, held: str, now: str) -> None:
    assert res.returncode == 2, res.stderr
    lines = res.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("rnnbench: error: "), res.stderr
    assert str(directory.name) in lines[0] and "another config" in lines[0]
    assert f"config hash {held[: rundir.SHOWN]} there, {now[: rundir.SHOWN]} now" in lines[0]


@pytest.fixture(scope="module")
def completed(tmp_path_factory) -> tuple[Path, str]:
    """A completed run of the QUICK config (seed 0) and its config hash."""
    out = tmp_path_factory.mktemp("completed") / "run"
    cfg = compose_config(QUICK)
    assert train.run(cfg, out)["status"] == "completed"
    return out, config_hash(cfg)


def test_single_run_of_another_config_is_refused_and_the_run_kept(tmp_path, completed):
    out, held = completed
    before = snapshot(out)
    other = [*QUICK, "seed=1"]
    res = run_cli([*other, f"hydra.run.dir={out}"], cwd=out.parent)
    assert_refused_in_one_line(res, out, held, config_hash(compose_config(other)))
    assert snapshot(out) == before  # refused in preflight: not even .hydra/ was written
    assert res.stdout == ""


def test_sweep_job_into_an_interrupted_run_of_another_config_is_refused(tmp_path):
    """A job directory with only a checkpoint (an interrupted run of thousands of steps, here a
    stand-in with its config hash) is kept; the sweep stops with exit 2 at that job."""
    job = tmp_path / "sweep" / "job"
    job.mkdir(parents=True)
    held = "ab" * 32
    io.write_npz(job / runs.CHECKPOINT_FILE, {"version": 3, "config_hash": held, "step": 4000})
    before = (job / runs.CHECKPOINT_FILE).read_bytes()
    args = ["-m", *QUICK, "seed=3", f"hydra.sweep.dir={job.parent}", "hydra.sweep.subdir=job"]
    res = run_cli(args, cwd=tmp_path)
    assert_refused_in_one_line(res, job, held, config_hash(compose_config([*QUICK, "seed=3"])))
    assert (job / runs.CHECKPOINT_FILE).read_bytes() == before
    assert not (job / runs.SUMMARY_FILE).exists() and not (job / runs.CONFIG_FILE).exists()


def test_same_config_may_reuse_its_directory(completed, tmp_path):
    out, held = completed
    rundir.check(out, held)  # completed: skipped by the job
    rundir.check(tmp_path / "missing", held)  # nothing there yet
    io.write_npz(tmp_path / runs.CHECKPOINT_FILE, {"config_hash": held})
    rundir.check(tmp_path, held)  # its checkpoint: resumed
    (tmp_path / runs.CHECKPOINT_FILE).write_bytes(b"damaged")
    rundir.check(tmp_path, "0" * 64)  # unreadable: started afresh, as checkpoint.read does


def test_summary_hash_wins_over_a_checkpoint(tmp_path):
    io.write_json(tmp_path / runs.SUMMARY_FILE, {"status": "failed", "config_hash": "1" * 64})
    io.write_npz(tmp_path / runs.CHECKPOINT_FILE, {"config_hash": "2" * 64})
    assert rundir.held_config_hash(tmp_path) == "1" * 64
    with pytest.raises(ConfigError, match="another config"):
        rundir.check(tmp_path, "2" * 64)


@pytest.mark.parametrize("name", [runs.SUMMARY_FILE, runs.CHECKPOINT_FILE])
def test_run_file_that_is_a_directory_is_one_line(tmp_path, name):
    out = tmp_path / "sweep" / "run"
    (out / name).mkdir(parents=True)
    res = run_cli([*QUICK, f"hydra.run.dir={out}"], cwd=tmp_path)
    assert res.returncode == 2, res.stderr
    lines = res.stderr.strip().splitlines()
    assert lines == [
        f"rnnbench: error: {out / name} exists and is not a regular file: remove it, or choose "
        "another run directory"
    ]
    res = run_cli(
        ["-m", *QUICK, f"hydra.sweep.dir={out.parent}", "hydra.sweep.subdir=run"], tmp_path
    )
    assert res.returncode == 2 and res.stderr.strip().splitlines()[-1] == lines[0], res.stderr
    assert "Traceback" not in res.stderr
