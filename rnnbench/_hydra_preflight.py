"""Preflight: compose and validate every job of a command line before Hydra writes anything.

`preflight(argv)` parses the arguments the way ``@hydra.main`` will, builds the config search
path Hydra will build (the app's ``conf/``, or ``--config-path``, plus ``--config-dir``),
composes the config of every job the command would launch (for ``--multirun``, every job of a
basic-sweeper grid) through Hydra's compose API, which creates nothing on disk, and checks:

- each override parses, names a key, and a sweep has at least one job;
- no job key is deleted (``~seed``): every key is required;
- a boolean key gets ``true`` or ``false``, never a number (OmegaConf would take 2 as true);
- each job validates (`rnnbench.config.validate`);
- every path the job writes, resolved with the job's own overrides, obeys `rnnbench.paths`:
  the run directory, ``hydra.output_subdir`` and each logging handler's ``filename``.

Failures are a `ConfigError` with one line.

This is the one module that uses Hydra's private API: ``hydra._internal.utils.get_args_parser``
(the command-line parser of ``@hydra.main``), ``create_automatic_config_search_path`` and
``Hydra.create_main_hydra2`` (the search path and the global Hydra of ``@hydra.main``), and
``BasicSweeper.split_arguments`` (how the basic sweeper expands a grid).
``tests/test_hydra_preflight.py`` fails loudly if any changes.
"""

from __future__ import annotations

import copy
import os
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from omegaconf import DictConfig, OmegaConf, open_dict

from rnnbench.config import CONFIG_NAME, VERSION_BASE, ConfigError, conf_dir, config_hash, validate
from rnnbench.options import Bool, OptionError
from rnnbench.paths import check_inside

CONF_DIR = conf_dir()
APP_FILE = str(Path(__file__).with_name("cli.py"))  # where @hydra.main is: --config-path base
BASIC_SWEEPER = "hydra._internal.core_plugins.basic_sweeper.BasicSweeper"


def one_line(exc: BaseException) -> str:
    """Hydra's and OmegaConf's multi-line composition errors reduced to one line."""
    from hydra.errors import MissingConfigException
    from omegaconf.errors import ConfigAttributeError, ConfigKeyError, OmegaConfBaseException

    if isinstance(exc, ConfigError | OptionError):
        return str(exc)
    if isinstance(exc, MissingConfigException) and exc.missing_cfg_file:
        name = exc.missing_cfg_file
        group, _, option = name.rpartition("/")
        options = exc.options or sorted(p.stem for p in (CONF_DIR / group).glob("*.yaml"))
        if group and options:
            return f"{group}={option}: no such option; choose one of {', '.join(options)}"
        return f"no config named {name!r}"
    cause = exc if isinstance(exc, OmegaConfBaseException) else exc.__cause__
    key = getattr(cause, "full_key", None)
    if isinstance(cause, OmegaConfBaseException) and key:
        if isinstance(cause, ConfigAttributeError | ConfigKeyError):
            return f"{key} is not a known key"
        return f"{key}: {(cause.msg or str(cause)).splitlines()[0]}"
    lines = [s.strip() for s in str(exc).splitlines() if s.strip()]
    text = lines[0] if lines else type(exc).__name__
    if isinstance(cause, OmegaConfBaseException):
        text += f": {str(cause).splitlines()[0]}"
    return text


def check_syntax(overrides: list[str]) -> None:
    """Each override parses on its own and names a key; a job key may not be deleted.

    The error names the override as typed (Hydra's parser does not).
    """
    from hydra.core.override_parser.overrides_parser import OverridesParser

    parser = OverridesParser.create()
    for text in overrides:
        try:
            o = parser.parse_override(text)
        except Exception as exc:
            raise ConfigError(f"{text!r}: cannot parse this override: {one_line(exc)}") from None
        if not o.key_or_group:
            raise ConfigError(f"{text!r}: no key before '=' (write KEY=VALUE)")
        key = o.key_or_group
        if o.is_delete() and key.split(".")[0] != "hydra":
            raise ConfigError(f"{key} is required: it may be set, not deleted (~{key})")


def _job_overrides(config_name: str, overrides: list[str], multirun: bool) -> list[list[str]]:
    """The override list of every job the command would launch (sweeps of the basic sweeper)."""
    from hydra import compose
    from hydra._internal.core_plugins.basic_sweeper import BasicSweeper
    from hydra.core.override_parser.overrides_parser import OverridesParser

    if not multirun:
        return [overrides]
    parser = OverridesParser.create()
    parsed = parser.parse_overrides(overrides)
    base = [o.input_line for o in parsed if not o.is_sweep_override()]
    cfg = compose(config_name, overrides=base, return_hydra_config=True)
    if OmegaConf.select(cfg, "hydra.sweeper._target_") != BASIC_SWEEPER:
        return [base]  # another sweeper chooses its own jobs; each job validates itself
    for o in parsed:  # (only the basic sweeper enumerates: Optuna's interval() does not)
        if o.is_sweep_override() and not list(o.sweep_string_iterator()):
            raise ConfigError(f"{o.input_line!r}: this sweep has no values, so no jobs")
    params = OmegaConf.select(cfg, "hydra.sweeper.params") or {}
    grid = [f"{k}={v}" for k, v in params.items()] + list(overrides)
    check_syntax(grid)
    batches = BasicSweeper.split_arguments(parser.parse_overrides(grid), max_batch_size=None)
    return [list(job) for batch in batches for job in batch]


@contextmanager
def app_hydra(config_path: str | None, config_dir: str | None) -> Iterator[None]:
    """Hydra initialised with the search path ``@hydra.main`` builds for these flags."""
    from hydra import version
    from hydra._internal.hydra import Hydra
    from hydra._internal.utils import create_automatic_config_search_path
    from hydra.core.config_search_path import SearchPathQuery
    from hydra.initialize import get_gh_backup, restore_gh_from_backup

    version.setbase(VERSION_BASE)
    path = config_path if config_path is not None else str(CONF_DIR)
    if Path(path).suffix in (".yaml", ".yml"):
        raise ConfigError(f"--config-path {path!r}: name a directory, the file --config-name")
    search_path = create_automatic_config_search_path(APP_FILE, None, path)
    if config_dir is not None:
        if not os.path.isdir(config_dir):
            raise ConfigError(f"--config-dir {config_dir!r}: no such directory")
        search_path.prepend(
            provider="command-line",
            path=f"file://{os.path.abspath(config_dir)}",
            anchor=SearchPathQuery(provider="schema"),
        )
    backup = get_gh_backup()
    Hydra.create_main_hydra2(task_name="rnnbench", config_search_path=search_path)
    try:
        yield
    finally:
        restore_gh_from_backup(backup)


def preflight(argv: list[str]) -> str | None:
    """Compose and validate every job `argv` describes; raise ConfigError (one line) if bad.
    Returns the sweeper the command runs under (``hydra.sweeper._target_``; None for --help and
    the like), whether the command line or a config's defaults chose it.

    Composes through Hydra's compose API, so nothing is created on disk.
    """
    from hydra._internal.utils import get_args_parser

    parser = get_args_parser()

    def error(message: str) -> None:  # argparse would print its usage: several lines
        raise ConfigError(f"{message} (see --help)")

    parser.error = error  # type: ignore[method-assign]
    args = parser.parse_args(argv)
    if args.help or args.hydra_help or args.info or args.shell_completion:
        return None
    try:
        with app_hydra(args.config_path, args.config_dir):
            return check_overrides(
                list(args.overrides), args.multirun, args.config_name or CONFIG_NAME
            )
    except ConfigError:
        raise
    except Exception as exc:  # a search path Hydra cannot read
        raise ConfigError(one_line(exc)) from None


def check_overrides(
    overrides: list[str], multirun: bool = False, config_name: str = CONFIG_NAME
) -> str | None:
    """Compose and validate every job of `overrides`; Hydra must be initialised (compose API).
    Returns the jobs' ``hydra.sweeper._target_``.

    Raises ConfigError with one line for range errors and for Hydra's own composition errors.
    """
    from hydra import compose

    try:
        check_syntax(overrides)
        jobs = _job_overrides(config_name, overrides, multirun)
        for num, job in enumerate(jobs):
            cfg = compose(config_name, overrides=job, return_hydra_config=True)
            check_booleans(cfg, job)
            job_cfg = OmegaConf.masked_copy(cfg, [k for k in cfg if k != "hydra"])
            validate(job_cfg)
            check_output(cfg, multirun, num)
            if not multirun:  # the same-directory rule, before Hydra creates anything
                from rnnbench import rundir  # deferred: pandas, paid by valid runs only

                chash = config_hash(compose(config_name, overrides=job))  # as the job hashes
                rundir.check(str(cfg.hydra.run.dir), chash)  # (sweep jobs: at job start)
        return OmegaConf.select(cfg, "hydra.sweeper._target_")
    except ConfigError:
        raise
    except Exception as exc:  # Hydra/OmegaConf composition errors: unknown keys and options
        raise ConfigError(one_line(exc)) from None


def check_booleans(cfg: DictConfig, overrides: list[str]) -> None:
    """A key whose value is a boolean takes ``true`` or ``false`` from the command line only.

    OmegaConf converts 2, 0 or 'yes' to a boolean when it sets a bool-typed key, so the
    `Bool` rule would never see them: the override's own value is checked against it here.
    """
    from hydra.core.override_parser.overrides_parser import OverridesParser

    for o in OverridesParser.create().parse_overrides(overrides):
        key, value = o.key_or_group, o.value()
        if o.is_delete() or key.split(".")[0] == "hydra" or o.is_sweep_override():
            continue
        if isinstance(value, str) and "${" in value:  # an interpolation: checked once resolved
            continue
        if isinstance(OmegaConf.select(cfg, key, default=None), bool):
            Bool().check(key, value)


def job_paths(cfg: DictConfig, multirun: bool, num: int) -> list[tuple[str, str, bool]]:
    """(key, path, is a directory) of everything Hydra makes job number `num` write, resolved
    as its launcher will: job.num and job.id set, runtime.output_dir the job's directory."""
    cfg = copy.deepcopy(cfg)
    with open_dict(cfg):
        cfg.hydra.job.num = num
        cfg.hydra.job.id = num
    if multirun:
        sweep_dir = _select(cfg, "hydra.sweep.dir")
        out = os.path.join(sweep_dir, _select(cfg, "hydra.sweep.subdir"))
        paths = [("hydra.sweep.dir", sweep_dir, True), ("hydra.sweep.subdir", out, True)]
    else:
        out = _select(cfg, "hydra.run.dir")
        paths = [("hydra.run.dir", out, True)]
    with open_dict(cfg):
        cfg.hydra.runtime.output_dir = os.path.abspath(out)
    if OmegaConf.select(cfg, "hydra.output_subdir") is not None:
        sub = os.path.join(cfg.hydra.runtime.output_dir, _select(cfg, "hydra.output_subdir"))
        paths.append(("hydra.output_subdir", sub, True))
    base = cfg.hydra.runtime.output_dir if OmegaConf.select(cfg, "hydra.job.chdir") else "."
    for section in ("job_logging", "hydra_logging"):
        handlers = OmegaConf.select(cfg, f"hydra.{section}.handlers") or {}
        for name, handler in handlers.items():
            if isinstance(handler, DictConfig) and "filename" in handler:
                key = f"hydra.{section}.handlers.{name}.filename"
                paths.append((key, os.path.join(base, _select(cfg, key)), False))
    return paths


def _select(cfg: DictConfig, key: str) -> str:
    try:
        return str(OmegaConf.select(cfg, key, throw_on_missing=True))
    except Exception as exc:  # an interpolation that does not resolve
        text = one_line(exc)
        raise ConfigError(text if text.startswith(key) else f"{key}: {text}") from None


def check_output(cfg: DictConfig, multirun: bool, num: int = 0) -> None:
    """Everything job `num` writes lies inside the results tree (`rnnbench.paths`), and a
    sweep's jobs inside ``hydra.sweep.dir``."""
    root = cfg.get("results_root")
    paths = job_paths(cfg, multirun, num)
    try:
        for key, path, is_dir in paths:
            check_inside(key, path, root, kind="dir" if is_dir else "file")
    except OptionError as exc:
        raise ConfigError(str(exc)) from None
    if multirun:
        sweep, job = (Path(os.path.realpath(p)) for _, p, _ in paths[:2])
        # Another sweeper (Optuna) adds its parameters to each job's overrides; the job checked
        # here has none of them, so its directory may resolve to the sweep directory itself.
        own_jobs = OmegaConf.select(cfg, "hydra.sweeper._target_") != BASIC_SWEEPER
        if sweep not in job.parents and not (own_jobs and job == sweep):
            sub = OmegaConf.to_container(cfg.hydra.sweep, resolve=False).get("subdir")
            raise ConfigError(
                f"hydra.sweep.subdir must stay inside hydra.sweep.dir, got {sub!r} "
                f"(resolves to {paths[1][1]!r})"
            )
