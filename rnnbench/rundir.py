"""The same-directory rule: which run directory a job of a given config may write into.

A run directory holds a run of the config whose hash (`rnnbench.config.config_hash`) its
summary.json records, or, while unfinished, its checkpoint.npz. A job may use the directory

    empty, or without either file              start afresh
    holding a run of the same config           skip it (completed, diverged) or resume it
    holding a run of another config            refused: ConfigError, nothing is deleted

and each of the run's files, where it exists, must be a regular file (a directory named
summary.json cannot be replaced atomically). `check` raises the one-line error; the command line
calls it in preflight for a single run (before Hydra creates anything) and at the start of every
job (sweeps, other launchers) before the job writes anything of its own.
"""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np

from rnnbench import runs
from rnnbench.config import ConfigError

RUN_FILES = (
    runs.CONFIG_FILE,
    runs.ENVIRONMENT_FILE,
    runs.SUMMARY_FILE,
    runs.CHECKPOINT_FILE,
    runs.LOCK_FILE,
    *runs.RESULT_FILES,
)
SHOWN = 12  # hex digits of a config hash in messages


def held_config_hash(run_dir: str | os.PathLike) -> str | None:
    """The config hash of the run `run_dir` holds: its summary's, else its checkpoint's (None:
    no readable record of a run; a damaged checkpoint is started afresh, as `checkpoint.read`
    does)."""
    summary = runs.read_summary(run_dir)
    if summary is not None and isinstance(summary.get("config_hash"), str):
        return summary["config_hash"]
    path = Path(run_dir) / runs.CHECKPOINT_FILE
    if not path.is_file():
        return None
    try:
        with np.load(path, allow_pickle=False) as z:  # that one entry, not the arrays
            return str(z["config_hash"])
    except Exception:  # unreadable: nothing worth keeping
        return None


def check(run_dir: str | os.PathLike, config_hash: str) -> None:
    """Raise ConfigError (one line) unless a run of `config_hash` may write into `run_dir`."""
    run_dir = Path(run_dir)
    for name in RUN_FILES:
        path = run_dir / name
        if os.path.lexists(path) and not path.is_file():
            raise ConfigError(
                f"{path} exists and is not a regular file: remove it, or choose another "
                "run directory"
            )
    held = held_config_hash(run_dir)
    if held is not None and held != config_hash:
        raise ConfigError(
            f"{run_dir} holds a run of another config (config hash {held[:SHOWN]} there, "
            f"{config_hash[:SHOWN]} now): refused, that run is kept; choose another run directory "
            "(hydra.run.dir, hydra.sweep.dir) or remove that one"
        )
