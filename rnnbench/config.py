"""Config schemas (Hydra's ConfigStore) and validation: one definition per key.

Every key is one dataclass field, made with `rnnbench.options.option`: its annotation is the type
Hydra enforces when composing, then its default, its allowed values and its documentation. The
sections and where their fields are defined:

    seed, threads, results_root       RNNBenchConfig below
    model  (the Network keywords)      ModelConfig below
    task   (make_task keywords)        the task class's constructor: its signature gives the fields
                                       (name, seq_len and its options), the class checks them
    optim  (make_optimizer keywords)   the optimiser's ``Config`` dataclass in rnnbench/optim.py
    clip   (clip_gradients keywords)   optim.ClipConfig
    sched  (make_scheduler keywords)   the schedule's ``Config`` dataclass in rnnbench/sched.py
    train, diagnostics, eval           TrainConfig, DiagnosticsConfig, EvalConfig below

`validate` builds these dataclasses from a composed config; each one's ``__post_init__`` checks
its fields (and the rules that tie them together), so the command line, the library API
(`make_optimizer`, `make_task`) and ``python -m rnnbench --cfg job`` (the defaults) read the same
definition. Every failure is a `ConfigError` whose message is one line naming the key and what is
allowed, e.g. ``optim.lr must be a finite number > 0, got nan``. A key that is not a field is an
error, and so is deleting one (``~seed``).

A new key is one field (with its rule and doc) in its section's dataclass; a new task or
optimiser is its class (tasks: a typed constructor; optimisers: a ``Config``), registered in
`rnnbench.tasks.TASKS` / `rnnbench.optim.OPTIMIZERS`, plus its preset in ``conf/``.
"""

from __future__ import annotations

import dataclasses
import hashlib
import inspect
import json
import re
import typing
from dataclasses import dataclass, field, fields
from pathlib import Path
from typing import Any

from hydra.core.config_store import ConfigStore
from hydra.errors import CompactHydraException
from omegaconf import MISSING, DictConfig, OmegaConf

from rnnbench import cells as _cells
from rnnbench.optim import OPTIMIZERS, ClipConfig
from rnnbench.options import (
    Bool,
    Choice,
    Float,
    Int,
    IntList,
    OptionError,
    check_fields,
    option,
    show,
)
from rnnbench.paths import RootPath
from rnnbench.sched import SCHEDULES
from rnnbench.search import OBJECTIVES
from rnnbench.tasks import TASKS, make_task

CONFIG_NAME = "config"
VERSION_BASE = "1.3"

GROUPS = ("model", "task", "optim", "sched")  # the config groups, one per axis of variation
DTYPES = ("float32", "float64")
ON_DIVERGE = ("stop", "skip")


class ConfigError(ValueError, CompactHydraException):
    """A config value outside its allowed range; the message is one line naming the key.

    It is a CompactHydraException so that, raised inside a Hydra job, Hydra prints the message
    alone rather than a traceback.
    """


def conf_dir() -> Path:
    """The config directory: shipped inside the wheel as rnnbench/conf, else the repo's conf/."""
    here = Path(__file__).resolve().parent
    packaged = here / "conf"
    return packaged if packaged.is_dir() else here.parent / "conf"


def _max_threads() -> int:
    """Numba's thread pool size, the most `threads` can ask for on this machine."""
    import numba  # deferred: numba takes a moment to import and config.py is imported early

    return int(numba.config.NUMBA_NUM_THREADS)


POSITIVE = Float(lo=0.0, lo_open=True)
POSITIVE_OR_NULL = Float(lo=0.0, lo_open=True, optional=True)
COUNT = Int(1, 10**9)


# --------------------------------------------------------------------------------- schemas


def _cells_with_option(name: str) -> tuple[str, ...]:
    """The cells a ``model`` key applies to: a cell's own option, or the forget-gate inits."""
    if name in ("forget_bias", "chrono_tmax"):
        return _cells.cells_with_gate("f")
    return tuple(c for c, spec in _cells.CELL_SPECS.items() if name in spec.defaults())


@dataclass
class ModelConfig:
    """The ``model`` section: the Network's keywords, one flat section for every cell.

    Allowed values are the Network's own (`rnnbench.network.check_options` and the cell registry
    `rnnbench.cells`); the config adds ceilings on hidden_size and num_layers, and that a cell's
    option (nonlinearity, reset_after, forget_bias, chrono_tmax) is set only for its cells.
    """

    cell: str = option("lstm", Choice(_cells.cell_names), "rnn | lstm | gru (rnnbench/cells.py)")
    hidden_size: int = option(64, Int(1, 16384), "H, hidden units per layer")
    num_layers: int = option(1, Int(1, 64), "stacked layers")
    dtype: str = option("float64", Choice(DTYPES), "float32 | float64, parameters and states")
    nonlinearity: str = option("tanh", None, "rnn only: tanh | relu")
    reset_after: bool = option(
        True, None, "gru only: true r * (W_hn h + b_hn) (PyTorch, cuDNN); false W_hn (r * h)"
    )
    init: str = option("pytorch", None, "pytorch | glorot | orthogonal | identity")
    forget_bias: float | None = option(
        None, None, "lstm only: forget-gate bias (e.g. 1.0); null: the init's"
    )
    chrono_tmax: float | None = option(
        None, None, "lstm only: chrono init, b_f ~ log U[1, Tmax - 1], b_i = -b_f (Tmax > 2)"
    )
    spectral_radius: float | None = option(
        None, None, "rescale every recurrent matrix to this spectral radius (> 0)"
    )

    def __post_init__(self):
        check_fields(self, "model")
        defaults = {f.name: f.default for f in fields(self)}
        for name in ("nonlinearity", "reset_after", "forget_bias", "chrono_tmax"):
            cells = _cells_with_option(name)
            if getattr(self, name) != defaults[name] and self.cell not in cells:
                raise OptionError(
                    f"model.{name} applies to model.cell={'|'.join(cells)} only, not {self.cell}"
                )
        from rnnbench.network import check_options  # deferred: the kernels

        try:
            check_options(self.cell, 1, self.hidden_size, self.num_layers, **network_options(self))
        except (TypeError, ValueError) as exc:
            raise OptionError(f"model.{str(exc).splitlines()[0]}") from None


def network_options(m: Any) -> dict[str, Any]:
    """Network's keywords beyond (cell, input_size, hidden_size, num_layers) from a model
    section (a ModelConfig or a mapping): the cell's own options go to that cell only."""
    get = m.__getitem__ if isinstance(m, dict) else lambda k: getattr(m, k)
    keys = ["dtype", "init", "forget_bias", "chrono_tmax", "spectral_radius"]
    keys += list(_cells.get(get("cell")).defaults())
    return {k: get(k) for k in keys}


@dataclass
class TaskConfig:
    """The ``task`` section's common fields; each task's schema adds its constructor's options
    (`task_schema`) and the task class checks them (the config adds only seq_len's ceiling)."""

    name: str = option("copy", Choice(lambda: tuple(TASKS)), "the task")
    seq_len: int = option(100, Int(1, 1_000_000), "T, the length of the task's paper")

    def __post_init__(self):
        check_fields(self, "task")
        options = {f.name: getattr(self, f.name) for f in fields(self) if f.name != "name"}
        make_task(self.name, **options)  # the task's own rules, e.g. a convention's minimum T


def task_schema(name: str) -> type:
    """The dataclass of task `name`'s section, from its class's constructor signature."""
    cls = TASKS[name]
    hints = typing.get_type_hints(cls.__init__)
    extra = []
    for p in list(inspect.signature(cls.__init__).parameters.values())[1:]:
        default = MISSING if p.default is inspect.Parameter.empty else p.default
        meta = {"rule": None, "doc": f"option of {cls.__name__}"}
        if p.name == "seq_len":
            continue
        extra.append((p.name, hints[p.name], field(default=default, metadata=meta)))
    schema = dataclasses.make_dataclass(f"{cls.__name__}Config", extra, bases=(TaskConfig,))
    schema.__dataclass_fields__["name"].default = name
    return schema


def optim_schema(name: str) -> type:
    """The dataclass of optimiser `name`'s section (its ``Config``)."""
    return OPTIMIZERS[name].Config


@dataclass
class TrainConfig:
    """The ``train`` section: the training loop."""

    steps: int = option(1000, COUNT, "optimiser steps")
    batch_size: int = option(32, Int(1, 2**20), "sequences per step")
    eval_every: int = option(100, COUNT, "evaluate on the held-out set every this many steps")
    eval_size: int = option(512, Int(1, 2**24), "sequences in the fixed held-out set")
    log_every: int = option(10, COUNT, "training metrics logged every this many steps")
    diverge_grad_norm: float | None = option(
        None, POSITIVE_OR_NULL, "stop as diverged when ||g|| (before clipping) exceeds this"
    )
    diverge_grad_norm_after_clip: float | None = option(
        None, POSITIVE_OR_NULL, "... when the norm of the clipped (applied) gradient does"
    )
    on_diverge: str = option(
        "stop", Choice(ON_DIVERGE), "stop: end as diverged; skip: drop that update, count it"
    )
    checkpoint_every: int = option(
        100, Int(0, 10**9), "checkpoint.npz every this many steps (and on signals); 0: signals"
    )
    progress: bool = option(True, Bool(), "tqdm bar with the running loss when stderr is a tty")
    tbptt: int = option(
        0, Int(0, 1_000_000), "truncated BPTT: cut the backward every this many steps; 0: full"
    )
    stop_when_solved: bool = option(
        False, Bool(), "end the run at the first evaluation that meets the task's criterion"
    )
    figures: bool = option(
        True, Bool(), "learning curve and gradient profile PNGs in the run dir at the end"
    )

    def __post_init__(self):
        check_fields(self, "train")


@dataclass
class DiagnosticsConfig:
    """The ``diagnostics`` section: gradient diagnostics (diagnostics.Recorder keywords)."""

    every: int = option(50, Int(0, 10**9), "every this many steps (and first, last); 0: off")
    jacobian_vectors: int = option(
        2, Int(0, 4096), "random vectors estimating ||dh_T/dh_t|| (one backward each); 0: skip"
    )
    time_bins: int = option(25, Int(0, 1_000_000), "gate statistics in this many bins of t; 0: all")
    saturation_eps: float = option(
        0.05,
        Float(0.0, 0.5, lo_open=True, hi_open=True),
        "saturated: sigmoid < eps or > 1 - eps, |tanh| > 1 - eps",
    )
    spectra: bool = option(True, Bool(), "spectral radius and top singular value of each W_hh")
    gates: bool = option(True, Bool(), "gate means and saturated fractions through time")

    def __post_init__(self):
        check_fields(self, "diagnostics")


@dataclass
class EvalConfig:
    """The ``eval`` section: evaluations beyond the held-out set of train.eval_size sequences."""

    seq_lens: list[int] = option(
        [], IntList(1, 1_000_000), "after training, evaluate at these lengths T' too"
    )

    def __post_init__(self):
        check_fields(self, "eval")


@dataclass
class RNNBenchConfig:
    seed: int = option(0, Int(0, 2**32 - 1), "seeds the weights, the data and the diagnostics")
    threads: int = option(1, Int(1, _max_threads), "Numba and BLAS threads of this job")
    results_root: str | None = option(
        None, RootPath(), "run and sweep dirs must lie inside it; null: the current directory"
    )
    model: ModelConfig = field(default_factory=ModelConfig)
    task: Any = MISSING  # one of the task schemas, chosen by the task group
    optim: Any = MISSING  # one of the optimiser schemas, chosen by the optim group
    clip: ClipConfig = field(default_factory=ClipConfig)
    train: TrainConfig = field(default_factory=TrainConfig)
    diagnostics: DiagnosticsConfig = field(default_factory=DiagnosticsConfig)
    sched: Any = MISSING  # one of the schedule schemas, chosen by the sched group
    eval: EvalConfig = field(default_factory=EvalConfig)
    objective: str = option(
        "final_eval_loss", Choice(OBJECTIVES), "what a job returns to the Optuna sweeper"
    )

    def __post_init__(self):
        check_fields(self, "")
        if isinstance(self.task, TaskConfig):  # each eval.seq_lens length must suit the task
            options = {f.name: getattr(self.task, f.name) for f in fields(self.task)}
            name = options.pop("name")
            for T in self.eval.seq_lens:
                try:
                    make_task(name, **{**options, "seq_len": T})
                except ValueError as exc:
                    raise OptionError(f"eval.seq_lens: {str(exc).splitlines()[0]}") from None


def sched_schema(name: str) -> type:
    """The dataclass of schedule `name`'s section (its ``Config``)."""
    return SCHEDULES[name].Config


SECTION_SCHEMAS = {"task": task_schema, "optim": optim_schema, "sched": sched_schema}
REGISTRIES = {"task": TASKS, "optim": OPTIMIZERS, "sched": SCHEDULES}  # the names they choose


def register_configs() -> None:
    """Store the schemas: the top level as ``rnnbench_schema``, sections under ``schema/``."""
    cs = ConfigStore.instance()
    cs.store(name="rnnbench_schema", node=RNNBenchConfig)
    for group, registry in REGISTRIES.items():
        for name in registry:
            cs.store(group=f"schema/{group}", name=name, node=SECTION_SCHEMAS[group](name))


register_configs()


# --------------------------------------------------------------------------------- validate


def _build(schema: type, data: Any, prefix: str) -> Any:
    """An instance of dataclass `schema` from plain `data`: its ``__post_init__`` checks run.

    Unknown keys and deleted ones are errors; sections typed Any take the schema their
    ``name`` chooses.
    """
    section = prefix[:-1]
    if not isinstance(data, dict):
        raise ConfigError(f"{section} is missing: choose a {section} config")
    names = [f.name for f in fields(schema)]
    for key in data:
        if key not in names:
            raise ConfigError(f"{prefix}{key} is not a known key")
    hints = typing.get_type_hints(schema)
    kwargs = {}
    for name in names:
        key = prefix + name
        if name not in data:
            if dataclasses.is_dataclass(hints[name]) or name in SECTION_SCHEMAS:
                raise ConfigError(f"{key} is missing: choose a {key} config")
            raise ConfigError(f"{key} is required: it may be set, not deleted (~{key})")
        value = data[name]
        if name in SECTION_SCHEMAS and not prefix:
            value = _build(_section_schema(name, value), value, f"{key}.")
        elif dataclasses.is_dataclass(hints[name]):
            value = _build(hints[name], value, f"{key}.")
        kwargs[name] = value
    try:
        return schema(**kwargs)
    except ConfigError:
        raise
    except (TypeError, ValueError) as exc:  # OptionError, or a library's own check
        raise ConfigError(str(exc).splitlines()[0]) from None


def _section_schema(section: str, data: Any) -> type:
    if not isinstance(data, dict):
        raise ConfigError(f"{section} is missing: choose a {section} config")
    registry = REGISTRIES[section]
    name = data.get("name")
    if name not in registry:
        raise ConfigError(f"{section}.name must be one of {', '.join(registry)}, got {show(name)}")
    return SECTION_SCHEMAS[section](name)


_RESOLVER = re.compile(r"\$\{\s*([A-Za-z_][\w.\-]*)\s*:")
RESOLVERS_ALLOWED = {"results_root": ("oc.env",)}  # a path may come from the environment


def _unresolved_leaves(node: Any, prefix: str = "") -> list[tuple[str, Any]]:
    if isinstance(node, dict):
        out = []
        for k, v in node.items():
            out.extend(_unresolved_leaves(v, f"{prefix}{k}."))
        return out
    if isinstance(node, list):
        items = [_unresolved_leaves(v, f"{prefix[:-1]}[{i}].") for i, v in enumerate(node)]
        return [x for item in items for x in item]
    return [(prefix[:-1], node)]


def check_interpolations(cfg: DictConfig) -> None:
    """Only ``${other.key}`` references: no resolver calls (``${oc.env:HOME}``) in job keys.

    A resolver would let a name field read the environment (or anything else) at run time,
    and the error for a bad value would echo what it read. Checked before anything resolves.
    """
    data = OmegaConf.to_container(cfg, resolve=False)
    data.pop("hydra", None)
    for key, value in _unresolved_leaves(data):
        if not isinstance(value, str):
            continue
        for name in _RESOLVER.findall(value):
            if name not in RESOLVERS_ALLOWED.get(key, ()):
                raise ConfigError(
                    f"{key} may not call the resolver {name} ({value!r}): write the value, or "
                    "${other.key} to reuse another key's"
                )


def validate(cfg: DictConfig) -> None:
    """Check every key of a composed config; raise ConfigError (one line) on the first failure.

    Runs before anything is compiled or written: cheap, no side effects. The ``hydra`` node,
    if present, is Hydra's business and skipped.
    """
    check_interpolations(cfg)
    _build(RNNBenchConfig, resolved(cfg), "")


# --------------------------------------------------------------------------------- helpers


def task_options(cfg: DictConfig) -> dict[str, Any]:
    """Keyword arguments of make_task: the task section minus its name."""
    return {k: v for k, v in OmegaConf.to_container(cfg.task, resolve=True).items() if k != "name"}


def optim_options(cfg: DictConfig) -> dict[str, Any]:
    """Keyword arguments of make_optimizer: the optim section minus its name (lists -> tuples)."""
    opts = OmegaConf.to_container(cfg.optim, resolve=True)
    opts.pop("name")
    return {k: tuple(v) if isinstance(v, list) else v for k, v in opts.items()}


def sched_options(cfg: DictConfig) -> dict[str, Any]:
    """Keyword arguments of make_scheduler: the sched section minus its name (resolved)."""
    opts = OmegaConf.to_container(cfg.sched, resolve=True)
    opts.pop("name")
    return opts


def model_options(cfg: DictConfig) -> dict[str, Any]:
    """Keyword arguments of Network beyond (cell, input_size, hidden_size, num_layers, dtype)."""
    opts = network_options(OmegaConf.to_container(cfg.model, resolve=True))
    opts.pop("dtype")
    return opts


def resolved(cfg: DictConfig) -> dict[str, Any]:
    """The job config as plain data, interpolations resolved, without the hydra node."""
    data = OmegaConf.to_container(cfg, resolve=True)
    data.pop("hydra", None)
    return data


HASH_NEUTRAL = (
    "train.progress",
    "train.checkpoint_every",
    "train.figures",
    "results_root",
    "objective",
)
HASH_IF_NOT = {  # keys added later: hashed only when changed
    "train.on_diverge": "stop",
    "train.tbptt": 0,
    "train.stop_when_solved": False,
    "sched.name": "none",
    "eval.seq_lens": [],
}


def config_hash(cfg: DictConfig) -> str:
    """sha256 of the resolved config's canonical JSON: equal hashes mean equal runs.

    Keys that change what the terminal shows or where files go, not the results, are excluded
    (`HASH_NEUTRAL`); keys added after runs were recorded count only when set away from their
    default (`HASH_IF_NOT`), so those runs keep their hash and are still skipped on rerun.
    """
    data = resolved(cfg)
    drop = list(HASH_NEUTRAL)
    drop += [k for k, default in HASH_IF_NOT.items() if OmegaConf.select(cfg, k) == default]
    for key in drop:
        section, _, name = key.rpartition(".")
        (data.get(section, {}) if section else data).pop(name, None)
        if section and data.get(section) == {}:  # a section added later, all at its defaults
            del data[section]
    text = json.dumps(data, sort_keys=True, separators=(",", ":"), allow_nan=False)
    return hashlib.sha256(text.encode()).hexdigest()


__all__: list[str] = [
    "ConfigError",
    "RNNBenchConfig",
    "conf_dir",
    "config_hash",
    "model_options",
    "optim_options",
    "sched_options",
    "task_options",
    "validate",
]
