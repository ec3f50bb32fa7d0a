"""Preflight: compose and validate every job of a command line before Hydra writes anything.

`preflight(argv)` parses the arguments the way ``@hydra.main`` will, composes the config of every
job the command would launch (for ``--multirun``, every job of a basic-sweeper grid) through
Hydra's compose API, which creates nothing on disk, validates each (`rnnbench.config.validate`)
and checks that every path a job writes lies inside the results tree. Failures are a
`ConfigError` with one line.

This is the one module that uses Hydra's private API: ``hydra._internal.utils.get_args_parser``
(the command-line parser of ``@hydra.main``) and ``BasicSweeper.split_arguments`` (how the basic
sweeper expands a grid). ``tests/test_hydra_preflight.py`` fails loudly if either changes.
"""

from __future__ import annotations

from pathlib import Path

from omegaconf import DictConfig, OmegaConf

from rnnbench.config import (
    CONFIG_NAME,
    VERSION_BASE,
    ConfigError,
    check_output_dir,
    conf_dir,
    validate,
)

CONF_DIR = conf_dir()
BASIC_SWEEPER = "hydra._internal.core_plugins.basic_sweeper.BasicSweeper"


def one_line(exc: BaseException) -> str:
    """Hydra's and OmegaConf's multi-line composition errors reduced to one line."""
    from hydra.errors import MissingConfigException
    from omegaconf.errors import ConfigAttributeError, ConfigKeyError, OmegaConfBaseException

    if isinstance(exc, ConfigError):
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
        if isinstance(cause, (ConfigAttributeError, ConfigKeyError)):
            return f"{key} is not a known key"
        return f"{key}: {(cause.msg or str(cause)).splitlines()[0]}"
    lines = [s.strip() for s in str(exc).splitlines() if s.strip()]
    text = lines[0] if lines else type(exc).__name__
    if isinstance(cause, OmegaConfBaseException):
        text += f": {str(cause).splitlines()[0]}"
    return text


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
    params = OmegaConf.select(cfg, "hydra.sweeper.params") or {}
    grid = [f"{k}={v}" for k, v in params.items()] + list(overrides)
    batches = BasicSweeper.split_arguments(parser.parse_overrides(grid), max_batch_size=None)
    return [list(job) for batch in batches for job in batch]


def preflight(argv: list[str]) -> None:
    """Compose and validate every job `argv` describes; raise ConfigError (one line) if bad.

    Composes through Hydra's compose API, so nothing is created on disk.
    """
    from hydra import initialize_config_dir
    from hydra._internal.utils import get_args_parser

    parser = get_args_parser()

    def error(message: str) -> None:  # argparse would print its usage: several lines
        raise ConfigError(f"{message} (see --help)")

    parser.error = error  # type: ignore[method-assign]
    args = parser.parse_args(argv)
    if args.help or args.hydra_help or args.info or args.shell_completion:
        return
    if args.config_path or args.config_dir:
        return  # a user-supplied config tree: the job validates itself
    with initialize_config_dir(str(CONF_DIR), version_base=VERSION_BASE, job_name="rnnbench"):
        check_overrides(list(args.overrides), args.multirun, args.config_name or CONFIG_NAME)


def check_overrides(
    overrides: list[str], multirun: bool = False, config_name: str = CONFIG_NAME
) -> None:
    """Compose and validate every job of `overrides`; Hydra must be initialised (compose API).

    Raises ConfigError with one line for range errors and for Hydra's own composition errors.
    """
    from hydra import compose

    try:
        jobs = _job_overrides(config_name, overrides, multirun)
        for job in jobs:
            validate(compose(config_name, overrides=job))
        check_output(compose(config_name, overrides=jobs[0], return_hydra_config=True), multirun)
    except ConfigError:
        raise
    except Exception as exc:  # Hydra/OmegaConf composition errors: unknown keys and options
        raise ConfigError(one_line(exc)) from None


def check_output(cfg: DictConfig, multirun: bool) -> None:
    """The directory Hydra will write into must lie inside the results tree (`results_root`).

    For a multirun, ``hydra.sweep.dir`` is checked and ``hydra.sweep.subdir`` may not climb out
    of it (no ``..`` part, not absolute).
    """
    key = "hydra.sweep.dir" if multirun else "hydra.run.dir"
    try:
        path = str(OmegaConf.select(cfg, key))
    except Exception as exc:  # an interpolation that does not resolve outside a job
        raise ConfigError(f"{key}: {one_line(exc)}") from None
    check_output_dir(key, path, cfg.get("results_root"))
    if multirun:
        sub = OmegaConf.to_container(cfg.hydra.sweep, resolve=False).get("subdir")
        parts = Path(str(sub)).parts
        if sub is not None and (".." in parts or Path(str(sub)).is_absolute()):
            raise ConfigError(
                f"hydra.sweep.subdir must stay inside hydra.sweep.dir (no '..', not absolute), "
                f"got {sub!r}"
            )
