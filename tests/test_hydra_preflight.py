"""Hydra's private API that preflight relies on: fail loudly here, not in users' hands.

`rnnbench._hydra_preflight` uses ``hydra._internal.utils.get_args_parser`` (the parser of
``@hydra.main``), ``create_automatic_config_search_path`` and ``Hydra.create_main_hydra2`` (the
search path ``@hydra.main`` builds, with ``--config-dir`` prepended as Hydra does) and
``BasicSweeper.split_arguments`` (the basic sweeper's grid). If a Hydra release changes any, this
test names what changed.
"""

from __future__ import annotations

import inspect

from hydra._internal.core_plugins.basic_sweeper import BasicSweeper
from hydra._internal.utils import get_args_parser
from hydra.core.override_parser.overrides_parser import OverridesParser

from rnnbench import _hydra_preflight as P


def test_get_args_parser_has_the_flags_preflight_reads():
    args = get_args_parser().parse_args(
        ["-m", "--config-dir", "d", "--config-path", "p", "--config-name", "n", "seed=1"]
    )
    for name in ("help", "hydra_help", "info", "shell_completion", "cfg", "resolve", "package"):
        assert hasattr(args, name), f"get_args_parser() no longer defines --{name}"
    assert args.multirun is True
    assert (args.config_dir, args.config_path, args.config_name) == ("d", "p", "n")
    assert args.overrides == ["seed=1"]


def test_basic_sweeper_split_arguments_expands_the_grid():
    params = list(inspect.signature(BasicSweeper.split_arguments).parameters)
    assert params == ["overrides", "max_batch_size"], params
    parsed = OverridesParser.create().parse_overrides(["seed=0,1", "model=rnn,gru", "x=1"])
    batches = BasicSweeper.split_arguments(parsed, max_batch_size=None)
    jobs = sorted(tuple(job) for batch in batches for job in batch)
    assert jobs == [
        ("seed=0", "model=gru", "x=1"),
        ("seed=0", "model=rnn", "x=1"),
        ("seed=1", "model=gru", "x=1"),
        ("seed=1", "model=rnn", "x=1"),
    ]
    assert P.BASIC_SWEEPER == f"{BasicSweeper.__module__}.{BasicSweeper.__qualname__}"


def test_app_hydra_builds_the_search_path_of_hydra_main(tmp_path):
    from hydra.core.global_hydra import GlobalHydra

    with P.app_hydra(None, str(tmp_path)):
        hydra = GlobalHydra.instance().hydra
        entries = [(e.provider, e.path) for e in hydra.config_loader.get_search_path().get_path()]
        assert ("command-line", f"file://{tmp_path}") in entries
        assert ("main", str(P.CONF_DIR)) in entries
        assert entries.index(("command-line", f"file://{tmp_path}")) < entries.index(
            next(e for e in entries if e[0] == "schema")
        )
    assert not GlobalHydra.instance().is_initialized()
