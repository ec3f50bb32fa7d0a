"""Stopping a ``hydra/launcher=joblib`` sweep on SIGINT or SIGTERM: every started job ends
``interrupted`` with its checkpoint, no queued job starts, no worker outlives the command.

hydra-joblib-launcher runs ``joblib.Parallel(backend="loky")`` over its module-level
``execute_job``; loky's workers are reused processes of the same process group. Unpatched, a
Ctrl-C killed idle workers (a broken pool: joblib then killed the busy ones mid-checkpoint), and a
SIGTERM to the parent alone orphaned the workers, which went on starting queued jobs. `install`
replaces the two functions of its ``_core`` module (Hydra's plugin scan re-executes
``joblib_launcher.py``, so a patched JoblibLauncher.launch would not last), nothing else:

    _core.launch            the parent: while the jobs run, the first SIGINT/SIGTERM writes the
                            stop file ``<sweep dir>/.stop-<parent pid>`` and is forwarded to every
                            worker; when joblib has collected every job it raises `Interrupted`
                            (the command exits 128 + signal, `rnnbench.cli`); a second signal
                            kills the workers at once (their runs keep the last periodic
                            checkpoint) and raises
    _core.execute_job       in a worker: a job whose stop file exists, or whose worker holds a
                            signal, is not started; an interrupted job (it wrote its checkpoint
                            and summary) is returned as a failed JobReturn, not raised, so that
                            joblib keeps collecting the others instead of killing them

and the workers start with `session.hold_signals` (abort=False) as joblib's ``initializer``: an
idle worker keeps a signal instead of dying, a busy one stops after its step and a duplicate (a
Ctrl-C reaches the whole group, the parent forwards it again) changes nothing. A worker that is
still starting (about half a second) dies of a signal as before. ``tests/test_interrupt.py``
fails loudly if the plugin's ``launch``/``execute_job`` signatures or JobReturn change.
"""

from __future__ import annotations

import inspect
import logging
import multiprocessing
import os
import signal
import sys
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from hydra.core.utils import JobReturn, JobStatus
from hydra_plugins.hydra_joblib_launcher import _core
from joblib.externals.loky import get_reusable_executor

from rnnbench import session
from rnnbench.session import STOP_SIGNALS, Interrupted

log = logging.getLogger(__name__)

_execute_job = _core.execute_job  # the plugin's own, run by `execute_job`
_launch = _core.launch
PLUGIN_SIGNATURES = {  # what `install` relies on
    "launch": ("launcher", "job_overrides", "initial_job_idx"),
    "execute_job": (
        "idx", "overrides", "hydra_context", "config", "task_function", "singleton_state",
    ),
}  # fmt: skip


def stop_file(config: Any) -> Path:
    """The file whose existence tells this sweep's jobs not to start: named after the sweep's
    process (a worker's parent; the process itself under joblib's sequential fallback), so that
    an identical sweep sharing the directory is not stopped with it."""
    parent = multiprocessing.parent_process()
    sweep_pid = parent.pid if parent is not None else os.getpid()
    return Path(str(config.hydra.sweep.dir)) / f".stop-{sweep_pid}"


def _interrupted(overrides: Sequence[str], signum: int) -> JobReturn:
    """What a worker returns for a job interrupted or not started: failed with `Interrupted`."""
    ret = JobReturn(overrides=list(overrides), status=JobStatus.FAILED)
    ret.return_value = Interrupted(signum)
    return ret


def execute_job(
    idx: int,
    overrides: Sequence[str],
    hydra_context: Any,
    config: Any,
    task_function: Any,
    singleton_state: dict[Any, Any],
) -> JobReturn:
    """In a worker: the plugin's execute_job, unless the sweep is stopping (not started, no job
    directory); an interruption is returned. Either way the stop file is left for the next job."""
    stop = stop_file(config)
    held = session.held_signal()
    if held is None and stop.exists():
        held = int(stop.read_text() or signal.SIGTERM)
    if held is not None:
        stop.write_text(str(held))
        return _interrupted(overrides, held)
    try:
        return _execute_job(idx, overrides, hydra_context, config, task_function, singleton_state)
    except Interrupted as exc:
        stop.write_text(str(exc.signum))
        return _interrupted(overrides, exc.signum)


def _worker_init() -> None:
    session.hold_signals(abort=False)


@contextmanager
def _parent_signals(stop: Path) -> Iterator[dict[str, int | None]]:
    """While the jobs run: the first signal writes `stop` and reaches every worker; a second
    kills them and raises `Interrupted`. ``flag["signum"]``: the first signal (None: none)."""
    flag: dict[str, int | None] = {"signum": None}

    def handler(signum: int, frame: Any) -> None:
        workers = multiprocessing.active_children()
        if flag["signum"] is not None:
            for p in workers:
                os.kill(p.pid, signal.SIGKILL)
            raise Interrupted(signum)
        flag["signum"] = signum
        stop.write_text(str(signum))
        for p in workers:
            os.kill(p.pid, signum)
        log.warning(
            "%s: stopping the sweep after each running job's step; queued jobs will not start "
            "(send it again to kill the workers now)",
            signal.Signals(signum).name,
        )

    previous = {s: signal.signal(s, handler) for s in STOP_SIGNALS}
    flag["signum"] = session.held_signal()  # held before: no job starts
    try:
        yield flag
    finally:
        for s, old in previous.items():
            signal.signal(s, old)
        stop.unlink(missing_ok=True)


def launch(
    launcher: Any, job_overrides: Sequence[Sequence[str]], initial_job_idx: int
) -> Sequence[JobReturn]:
    """The plugin's launch, stopped as the module docstring says."""
    launcher.joblib = {**launcher.joblib, "initializer": _worker_init}
    Path(str(launcher.config.hydra.sweep.dir)).mkdir(parents=True, exist_ok=True)
    rets: Sequence[JobReturn] = []
    with _parent_signals(stop_file(launcher.config)) as flag:
        if flag["signum"] is None:
            rets = _launch(launcher, job_overrides, initial_job_idx)
    stopped = [r._return_value.signum for r in rets if isinstance(r._return_value, Interrupted)]
    if flag["signum"] is not None or stopped:
        if multiprocessing.active_children():  # loky's (none in joblib's sequential fallback)
            _shutdown_workers()
        raise Interrupted(flag["signum"] or stopped[0])
    return rets


def _shutdown_workers() -> None:
    """End loky's reusable workers now (they would otherwise wait for more jobs until exit)."""
    get_reusable_executor(reuse=True).shutdown(wait=True)


def plugin_changes() -> list[str]:
    """How the plugin's functions differ from `PLUGIN_SIGNATURES` (empty: as expected)."""
    found = {"launch": _launch, "execute_job": _execute_job}
    params = {name: tuple(inspect.signature(f).parameters) for name, f in found.items()}
    return [f"_core.{n}{params[n]}" for n in PLUGIN_SIGNATURES if params[n] != PLUGIN_SIGNATURES[n]]


def install() -> None:
    """Route hydra-joblib-launcher's launch and execute_job through this module (idempotent);
    a plugin whose functions changed is left alone, with one warning line."""
    changed = plugin_changes()
    if changed:
        sys.stderr.write(
            f"rnnbench: warning: hydra-joblib-launcher changed ({', '.join(changed)}); "
            "signals will not stop joblib sweeps cleanly\n"
        )
        return
    _core.launch, _core.execute_job = launch, execute_job
