"""Shared helpers for the app's tests: composing configs and tiny, fast training runs."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
from hydra import compose, initialize_config_dir
from hydra.core.global_hydra import GlobalHydra

from rnnbench.config import CONFIG_NAME, VERSION_BASE, conf_dir

REPO = Path(__file__).resolve().parent.parent

# A run that compiles nothing new and finishes in about a second.
TINY = [
    "model.hidden_size=8",
    "task.seq_len=5",
    "train.steps=12",
    "train.batch_size=4",
    "train.eval_every=5",
    "train.eval_size=8",
    "train.log_every=3",
    "train.progress=false",
    "diagnostics.every=0",
]


def compose_config(overrides: list[str] | tuple[str, ...] = (), hydra_node: bool = False):
    """The job config `python -m rnnbench OVERRIDES` would run (with the hydra node if asked)."""
    if GlobalHydra.instance().is_initialized():  # inside a test's initialize_config_dir
        return compose(CONFIG_NAME, overrides=list(overrides), return_hydra_config=hydra_node)
    with initialize_config_dir(str(conf_dir()), version_base=VERSION_BASE, job_name="rnnbench"):
        return compose(CONFIG_NAME, overrides=list(overrides), return_hydra_config=hydra_node)


def run_cli(args: list[str], cwd: Path, python: str = sys.executable, timeout: float = 300):
    """`python -m rnnbench ARGS` in a subprocess, full Hydra errors off."""
    return run_module("rnnbench", args, cwd, python, timeout)


def run_module(
    module: str, args: list[str], cwd: Path, python: str = sys.executable, timeout: float = 300
):
    """`python -m MODULE ARGS` in a subprocess, full Hydra errors off."""
    env = {k: v for k, v in os.environ.items() if k != "HYDRA_FULL_ERROR"}
    return subprocess.run(
        [python, "-m", module, *args],
        cwd=cwd,
        env=env,
        capture_output=True,
        text=True,
        timeout=timeout,
    )


@pytest.fixture
def tiny_cfg():
    """Compose a tiny config, extra overrides appended: tiny_cfg("model=gru")."""
    return lambda *extra: compose_config([*TINY, *extra])


@pytest.fixture
def split_small_batches(monkeypatch):
    """Let `rnnbench.parallel` cut even a tiny batch into row blocks, so that small tests
    exercise the threaded path (it normally keeps small problems in one block)."""
    from rnnbench import parallel

    monkeypatch.setattr(parallel, "MIN_BLOCK_STEP_FLOPS", 0.0)
