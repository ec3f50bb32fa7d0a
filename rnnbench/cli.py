"""The command line, ``python -m rnnbench [OVERRIDES]``: compose -> validate -> train -> summary.

Bad input never reaches Hydra's job machinery. `main` first composes and validates the config
itself (for ``--multirun``, every job of a basic-sweeper grid), and on a bad value, an unknown
key or an unknown group option prints ONE line on stderr,

    rnnbench: error: optim.lr must be a finite number > 0, got nan

and exits with status 2 before Hydra creates any directory or file. Only then does it hand over
to the `@hydra.main` app, which composes again, creates the run directory and trains.

Inside a job a run directory that already holds a completed run of the same resolved config is
left alone (so re-running a sweep skips finished jobs); an interrupted or unfinished one resumes
from its checkpoint. A directory holding a run of another config is refused, one line and exit 2,
with nothing deleted (`rnnbench.rundir`: in preflight for a single run, at job start in sweeps).
A diverged run exits 0; SIGINT (Ctrl-C) or SIGTERM writes a checkpoint and exits 128 + the signal
number (130, 143), also when it arrives before the first step (held from the start of `main`).

Runs write only inside the results tree: ``hydra.run.dir`` (``hydra.sweep.dir`` for -m) must lie
inside ``results_root`` (default: the current directory), checked before anything is written.
"""

from __future__ import annotations

import importlib.util
import logging
import signal
import sys
from typing import Any

import hydra
from hydra.core.hydra_config import HydraConfig
from omegaconf import DictConfig, OmegaConf

from rnnbench import search, session
from rnnbench._hydra_preflight import CONF_DIR, preflight
from rnnbench.config import CONFIG_NAME, VERSION_BASE, ConfigError, config_hash, validate

log = logging.getLogger(__name__)

EXIT_USAGE = 2


class Refused(BaseException):
    """A job refused to start (`rnnbench.rundir`): the one-line message. Not an Exception, so
    Hydra's job runner and launchers pass it on to `main`, which exits EXIT_USAGE."""


def _log_summary(s: dict[str, Any]) -> None:
    from rnnbench.runs import Summary

    for line in Summary.from_dict(s).lines():
        log.info("%s", line)


@hydra.main(config_path=str(CONF_DIR), config_name=CONFIG_NAME, version_base=VERSION_BASE)
def app(cfg: DictConfig) -> dict[str, Any] | float:
    """One job: its summary; under the Optuna sweeper the number it minimises (`objective`:
    inf for a diverged run; rnnbench.search)."""
    summary = _job(cfg)
    if search.uses_optuna(OmegaConf.select(HydraConfig.get(), "sweeper._target_")):
        return search.objective_value(summary, cfg.objective)
    return summary


def _job(cfg: DictConfig) -> dict[str, Any]:
    """Validate, skip if already finished, train, log the summary."""
    from rnnbench import rundir, runs, train  # deferred: numba, the kernels, pandas

    validate(cfg)  # again: sweepers other than the basic one compose jobs preflight never saw
    run_dir = HydraConfig.get().runtime.output_dir
    try:
        rundir.check(run_dir, config_hash(cfg))
    except ConfigError as exc:
        raise Refused(str(exc)) from None
    with runs.job_lock(run_dir) as owned:  # identical sweeps started together share job dirs
        if not owned:
            log.warning("%s is being run by another process; skipping", run_dir)
            return {"status": "running elsewhere"}
        done = runs.finished_summary(run_dir, config_hash(cfg))
        if done is not None:
            log.info("%s already holds a %s run of this config; skipping", run_dir, done["status"])
            return done
        log.info("run directory %s", run_dir)
        summary = train.run(cfg, run_dir)
    _log_summary(summary)
    return summary


def main(argv: list[str] | None = None) -> None:
    """Entry point of ``python -m rnnbench`` and the ``rnnbench`` script."""
    session.hold_signals()  # a signal before the loop's handlers: the run stops at step 0
    if importable("hydra_plugins.hydra_joblib_launcher"):
        from rnnbench import _hydra_joblib  # hydra/launcher=joblib: stopped cleanly by signals

        _hydra_joblib.install()
    argv = search.with_sweeper_defaults(sys.argv[1:] if argv is None else argv)
    try:
        sweeper = preflight(argv)
    except ConfigError as exc:
        _usage_error(str(exc))
    if search.uses_optuna(sweeper):  # chosen on the command line or by a config's defaults
        search.tolerate_grid_exhaustion()
    sys.argv = [sys.argv[0], *argv]
    try:
        app()
    except Refused as exc:
        _usage_error(str(exc))
    except KeyboardInterrupt as exc:  # Ctrl-C, or train.Interrupted after SIGINT/SIGTERM
        signum = getattr(exc, "signum", signal.SIGINT)
        sys.stderr.write(
            f"rnnbench: interrupted ({signal.Signals(signum).name}); run the same command "
            "again to resume from the checkpoint\n"
        )
        sys.exit(128 + signum)


def importable(module: str) -> bool:
    """Whether `module` can be imported, without importing it (False also when its parent
    package is missing: ``find_spec`` raises then, as for ``hydra_plugins`` on a plain install)."""
    try:
        return importlib.util.find_spec(module) is not None
    except ModuleNotFoundError:
        return False


def _usage_error(message: str) -> None:
    sys.stderr.write(f"rnnbench: error: {message}\n")
    sys.exit(EXIT_USAGE)
