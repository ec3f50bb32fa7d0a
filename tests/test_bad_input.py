"""Bad command lines through the real CLI, one subprocess per case (run a few at a time).

Every case must exit 2 with exactly one line on stderr, ``rnnbench: error: KEY ...`` naming the
key and what is allowed, no traceback, nothing on stdout, and nothing written: the directory the
command runs in (the results tree) stays empty and no path outside it is created.
"""

from __future__ import annotations

import subprocess
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest
from conftest import run_cli

OUTSIDE = "{outside}"  # replaced by a path next to (outside) the case's results tree

# (overrides, what stderr must start with after "rnnbench: error: ")
CASES = [
    (["optim.lr=nan"], "optim.lr must be a finite number > 0, got nan"),
    (["optim.lr=inf"], "optim.lr must be a finite number > 0, got inf"),
    (["model.hidden_size=0"], "model.hidden_size must be an integer in [1, 16384], got 0"),
    (["model.hidden_size=abc"], "model.hidden_size: Value 'abc' of type 'str' could not be"),
    (["model.hidden_size=1e309"], "model.hidden_size: Value 'inf' of type 'float'"),
    (["train.steps=1e3"], "train.steps: Value '1000.0' of type 'float'"),
    (["seed=-1"], "seed must be an integer in [0, 4294967295], got -1"),
    (["seed=[1,2]"], "seed: Value '[1, 2]' of type 'list'"),
    (["threads=0"], "threads must be an integer in [1, "),
    (["model.cell=lstmx"], "model.cell must be one of rnn, lstm, gru, got 'lstmx'"),
    (["model=nope"], "model=nope: no such option; choose one of "),
    (["optim=lbfgs"], "optim=lbfgs: no such option; choose one of adam, adamw, rmsprop, sgd"),
    (["sched=warm"], "sched=warm: no such option; choose one of cosine, exponential, "),
    (["sched=step", "sched.gamma=2"], "sched.gamma must be a number in (0, 1], got 2.0"),
    (["train.tbptt=-1"], "train.tbptt must be an integer in [0, 1000000], got -1"),
    (["eval.seq_lens=[0]"], "eval.seq_lens must be a list of integers in [1, 1000000], got [0]"),
    (["model.nope=1"], "model.nope is not a known key"),
    (["+train.foo=1"], "train.foo is not a known key"),
    (["nonsense=1"], "nonsense is not a known key"),
    (["--bogus"], "unrecognized arguments: --bogus (see --help)"),
    (["task=temporal_order", "task.seq_len=9"], "task.seq_len"),
    (["task=adding", "task.convention=hochreiter1997", "task.seq_len=21"], "task.seq_len"),
    (["clip.method=clamp"], "clip.method must be one of none, norm, value, got 'clamp'"),
    (["optim.betas=[0.9]"], "optim.betas must be a list of two numbers"),
    (["model=rnn", "model.forget_bias=1"], "model.forget_bias applies to model.cell=lstm only"),
    (["train.on_diverge=ignore"], "train.on_diverge must be one of stop, skip, got 'ignore'"),
    (["train.checkpoint_every=-1"], "train.checkpoint_every must be an integer in [0, "),
    (["diagnostics.saturation_eps=0.5"], "diagnostics.saturation_eps must be a number in (0, 0.5)"),
    (["model.cell=${oc.env:HOME}"], "model.cell may not call the resolver oc.env"),
    (["task.name=${oc.env:USER,copy}"], "task.name may not call the resolver oc.env"),
    ([f"hydra.run.dir={OUTSIDE}"], "hydra.run.dir must be inside the results tree"),
    (["hydra.run.dir=../escape"], "hydra.run.dir must be inside the results tree"),
    (["hydra.run.dir=/etc/rnnbench"], "hydra.run.dir must be inside the results tree"),
    (["hydra.run.dir="], "hydra.run.dir must be a directory path inside the results tree"),
    (["results_root=/", "hydra.run.dir=/x"], "results_root must not be a system directory"),
    (["-m", f"hydra.sweep.dir={OUTSIDE}", "seed=0,1"], "hydra.sweep.dir must be inside"),
    (["-m", "hydra.sweep.subdir=../x", "seed=0,1"], "hydra.sweep.subdir must stay inside"),
    (["-m", "seed=0,1", "train.batch_size=4,-1"], "train.batch_size must be an integer"),
]
IDS = [" ".join(args) for args, _ in CASES]


def _run(case_dir: Path, args: list[str]) -> subprocess.CompletedProcess:
    results = case_dir / "results"  # the results tree: the directory the command runs in
    results.mkdir(parents=True)
    args = [a.replace(OUTSIDE, str(case_dir / "outside")) for a in args]
    return run_cli(args, cwd=results, timeout=120)


@pytest.fixture(scope="module")
def outcomes(tmp_path_factory) -> dict[str, tuple[Path, subprocess.CompletedProcess]]:
    """Every case run once, three subprocesses at a time."""
    root = tmp_path_factory.mktemp("bad_input")
    dirs = [root / f"case{i:02d}" for i in range(len(CASES))]
    with ThreadPoolExecutor(max_workers=3) as pool:
        done = list(pool.map(_run, dirs, [args for args, _ in CASES]))
    return {case_id: (d, r) for case_id, d, r in zip(IDS, dirs, done, strict=True)}


def test_at_least_25_cases():
    assert len(CASES) >= 25


@pytest.mark.parametrize(("args", "expected"), CASES, ids=IDS)
def test_bad_input_one_line_nothing_written(outcomes, args, expected):
    case_dir, res = outcomes[" ".join(args)]
    assert res.returncode == 2, res.stderr
    assert res.stdout == ""
    assert res.stderr.count("\n") == 1, res.stderr
    assert res.stderr.startswith(f"rnnbench: error: {expected}"), res.stderr
    assert "Traceback" not in res.stderr
    assert list((case_dir / "results").iterdir()) == []  # nothing in the results tree
    assert sorted(p.name for p in case_dir.iterdir()) == ["results"]  # nor outside it
    if "resolver" in expected:  # the message shows what was typed, never what it would read
        assert " got " not in res.stderr
