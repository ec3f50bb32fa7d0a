"""Config schemas (Hydra's ConfigStore) and range validation.

Hydra composes ``conf/config.yaml`` on top of the dataclass schemas below, which fixes the set
of keys and their types. `validate` then checks what types cannot: ranges, finiteness, choices
and the few rules that tie keys together. Every failure is a `ConfigError` whose message is one
line naming the key and what is allowed, e.g. ``optim.lr must be a finite number > 0, got nan``.

The tree (defaults in the dataclasses; the YAML files in ``conf/`` pick the presets):

    seed, threads
    model:  cell, hidden_size, num_layers, dtype, nonlinearity, reset_after, init,
            forget_bias, chrono_tmax, spectral_radius          (the Network keywords)
    task:   name, seq_len, + the task's options (make_task keywords)
    optim:  name, lr, + the optimiser's hyperparameters (make_optimizer keywords)
    clip:   method, max_value                                   (clip_gradients keywords)
    train:  steps, batch_size, eval_every, eval_size, log_every, diverge_grad_norm,
            diverge_grad_norm_after_clip, progress
    diagnostics: every, jacobian_vectors, time_bins, saturation_eps, spectra, gates
                                                                (diagnostics.Recorder keywords)

Every key has a rule in `RULES` (or `TASK_RULES` / `OPTIM_RULES` for the section chosen by
``task.name`` / ``optim.name``); a key without a rule is itself an error, so a new key cannot
slip in unvalidated.
"""

from __future__ import annotations

import hashlib
import json
import math
import os
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from hydra.core.config_store import ConfigStore
from hydra.errors import CompactHydraException
from omegaconf import MISSING, DictConfig, ListConfig, OmegaConf

CONFIG_NAME = "config"
VERSION_BASE = "1.3"

GROUPS = ("model", "task", "optim")  # the config groups, one per axis of variation
CELLS = ("rnn", "lstm", "gru")
DTYPES = ("float32", "float64")
NONLINEARITIES = ("tanh", "relu")
INITS = ("pytorch", "glorot", "orthogonal", "identity")
OPTIMIZERS = ("sgd", "rmsprop", "adam")
CLIP_METHODS = ("none", "norm", "value")
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


# --------------------------------------------------------------------------------- schemas


@dataclass
class ModelConfig:
    cell: str = "lstm"
    hidden_size: int = 64
    num_layers: int = 1
    dtype: str = "float64"
    nonlinearity: str = "tanh"  # rnn only
    reset_after: bool = True  # gru only
    init: str = "pytorch"
    forget_bias: float | None = None  # lstm only
    chrono_tmax: float | None = None  # lstm only
    spectral_radius: float | None = None


@dataclass
class CopyTaskConfig:
    name: str = "copy"
    seq_len: int = 100
    convention: str = "arjovsky2016"
    variable_delay: bool = False


@dataclass
class AddingTaskConfig:
    name: str = "adding"
    seq_len: int = 100
    convention: str = "le2015"


@dataclass
class TemporalOrderTaskConfig:
    name: str = "temporal_order"
    seq_len: int = 100
    convention: str = "hochreiter1997"


@dataclass
class MultiplicationTaskConfig:
    name: str = "multiplication"
    seq_len: int = 100
    convention: str = "hochreiter1997"


@dataclass
class EmbeddedReberTaskConfig:
    name: str = "embedded_reber"
    seq_len: int = 50


@dataclass
class SelectiveCopyTaskConfig:
    name: str = "selective_copy"
    seq_len: int = 100


@dataclass
class DigitsTaskConfig:
    name: str = "digits"
    seq_len: int = 64
    permuted: bool = False


@dataclass
class MNISTTaskConfig:
    name: str = "mnist"
    seq_len: int = 784
    permuted: bool = False
    path: str = "data/mnist"


@dataclass
class MackeyGlassTaskConfig:
    name: str = "mackey_glass"
    seq_len: int = 50
    horizon: int = 10
    ar_order: int = 10
    tau: float = 17.0
    beta: float = 0.2
    gamma: float = 0.1
    exponent: float = 10.0


@dataclass
class SGDConfig:  # torch.optim.SGD defaults, but lr 1e-2 (Pascanu et al. 2013) instead of 1e-3
    name: str = "sgd"
    lr: float = 1e-2
    momentum: float = 0.0
    dampening: float = 0.0
    weight_decay: float = 0.0
    nesterov: bool = False


@dataclass
class RMSpropConfig:  # torch.optim.RMSprop defaults
    name: str = "rmsprop"
    lr: float = 1e-2
    alpha: float = 0.99
    eps: float = 1e-8
    weight_decay: float = 0.0
    momentum: float = 0.0
    centered: bool = False


@dataclass
class AdamConfig:  # torch.optim.Adam defaults
    name: str = "adam"
    lr: float = 1e-3
    betas: list[float] = field(default_factory=lambda: [0.9, 0.999])
    eps: float = 1e-8
    weight_decay: float = 0.0
    amsgrad: bool = False


@dataclass
class ClipConfig:
    method: str = "none"  # none | norm (global L2 norm) | value (element-wise)
    max_value: float = 1.0


@dataclass
class TrainConfig:
    steps: int = 1000
    batch_size: int = 32
    eval_every: int = 100  # evaluate on the held-out set every this many steps (and at the end)
    eval_size: int = 512  # sequences in the fixed held-out set
    log_every: int = 10  # training metrics logged every this many steps
    diverge_grad_norm: float | None = None  # stop as diverged when ||g|| (before clipping) > this
    diverge_grad_norm_after_clip: float | None = None  # ... when the clipped ||g|| > this
    on_diverge: str = "stop"  # stop: end the run as diverged; skip: drop that update, go on
    checkpoint_every: int = 100  # write checkpoint.npz every this many steps; 0: only on signals
    progress: bool = True  # tqdm bar when stderr is a terminal


@dataclass
class DiagnosticsConfig:
    every: int = 50  # log gradient diagnostics every this many steps (and first, last); 0: off
    jacobian_vectors: int = 2  # random vectors for ||dh_T/dh_t|| (extra backwards); 0: skip
    time_bins: int = 25  # gate statistics averaged in this many bins of t; 0: every t
    saturation_eps: float = 0.05  # saturated: sigmoid < eps or > 1 - eps, |tanh| > 1 - eps
    spectra: bool = True  # spectral radius and largest singular value of each W_hh block
    gates: bool = True  # gate means and saturated fractions through time


@dataclass
class RNNBenchConfig:
    seed: int = 0
    threads: int = 1  # Numba and BLAS threads of this job
    results_root: str | None = None  # run dirs must lie inside it; null: the current directory
    model: ModelConfig = field(default_factory=ModelConfig)
    task: Any = MISSING  # one of the task schemas, chosen by the task group
    optim: Any = MISSING  # one of the optimiser schemas, chosen by the optim group
    clip: ClipConfig = field(default_factory=ClipConfig)
    train: TrainConfig = field(default_factory=TrainConfig)
    diagnostics: DiagnosticsConfig = field(default_factory=DiagnosticsConfig)


def register_configs() -> None:
    """Store the schemas: the top level as ``rnnbench_schema``, sections under ``schema/``."""
    cs = ConfigStore.instance()
    cs.store(name="rnnbench_schema", node=RNNBenchConfig)
    for group, name, node in (
        ("schema/task", "copy", CopyTaskConfig),
        ("schema/task", "adding", AddingTaskConfig),
        ("schema/task", "temporal_order", TemporalOrderTaskConfig),
        ("schema/task", "multiplication", MultiplicationTaskConfig),
        ("schema/task", "embedded_reber", EmbeddedReberTaskConfig),
        ("schema/task", "selective_copy", SelectiveCopyTaskConfig),
        ("schema/task", "digits", DigitsTaskConfig),
        ("schema/task", "mnist", MNISTTaskConfig),
        ("schema/task", "mackey_glass", MackeyGlassTaskConfig),
        ("schema/optim", "sgd", SGDConfig),
        ("schema/optim", "rmsprop", RMSpropConfig),
        ("schema/optim", "adam", AdamConfig),
    ):
        cs.store(group=group, name=name, node=node)


register_configs()


# --------------------------------------------------------------------------------- rules


def _show(value: Any) -> str:
    """A value as the user typed it: strings quoted, booleans and None in YAML spelling."""
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, str):
        return repr(value)
    if isinstance(value, (DictConfig, ListConfig)):
        value = OmegaConf.to_container(value)
    return str(value)


def _is_number(value: Any) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool)


@dataclass(frozen=True)
class Int:
    lo: int
    hi: int

    def check(self, key: str, value: Any) -> None:
        if not (isinstance(value, int) and not isinstance(value, bool)) or not (
            self.lo <= value <= self.hi
        ):
            raise ConfigError(
                f"{key} must be an integer in [{self.lo}, {self.hi}], got {_show(value)}"
            )


@dataclass(frozen=True)
class Float:
    lo: float = -math.inf
    hi: float = math.inf
    lo_open: bool = False
    hi_open: bool = False
    optional: bool = False

    def describe(self) -> str:
        if self.lo == -math.inf and self.hi == math.inf:
            what = "a finite number"
        elif self.hi == math.inf:
            what = f"a finite number {'>' if self.lo_open else '>='} {self.lo:g}"
        elif self.lo == -math.inf:
            what = f"a finite number {'<' if self.hi_open else '<='} {self.hi:g}"
        else:
            left, right = "(" if self.lo_open else "[", ")" if self.hi_open else "]"
            what = f"a number in {left}{self.lo:g}, {self.hi:g}{right}"
        return f"null or {what}" if self.optional else what

    def check(self, key: str, value: Any) -> None:
        if value is None and self.optional:
            return
        ok = _is_number(value) and math.isfinite(value)
        if ok:
            ok = (value > self.lo if self.lo_open else value >= self.lo) and (
                value < self.hi if self.hi_open else value <= self.hi
            )
        if not ok:
            raise ConfigError(f"{key} must be {self.describe()}, got {_show(value)}")


@dataclass(frozen=True)
class Choice:
    values: tuple[str, ...]

    def check(self, key: str, value: Any) -> None:
        if not isinstance(value, str) or value not in self.values:
            raise ConfigError(f"{key} must be one of {', '.join(self.values)}, got {_show(value)}")


@dataclass(frozen=True)
class Bool:
    def check(self, key: str, value: Any) -> None:
        if not isinstance(value, bool):
            raise ConfigError(f"{key} must be true or false, got {_show(value)}")


@dataclass(frozen=True)
class Pair:
    """A list of exactly two numbers, each satisfying `item` (Adam's betas)."""

    item: Float

    def check(self, key: str, value: Any) -> None:
        if isinstance(value, ListConfig):
            value = OmegaConf.to_container(value)
        if not isinstance(value, (list, tuple)) or len(value) != 2:
            raise ConfigError(
                f"{key} must be a list of two numbers, each {self.item.describe()}, "
                f"got {_show(value)}"
            )
        for i, v in enumerate(value):
            self.item.check(f"{key}[{i}]", v)


@dataclass(frozen=True)
class Text:
    """A non-empty string (a path the task checks itself)."""

    def check(self, key: str, value: Any) -> None:
        if not isinstance(value, str) or not value.strip():
            raise ConfigError(f"{key} must be a non-empty string, got {_show(value)}")


# A results root may not be (or lie inside) one of these: runs never write into the system.
SYSTEM_DIRS = (
    "/bin",
    "/boot",
    "/dev",
    "/etc",
    "/lib",
    "/lib32",
    "/lib64",
    "/proc",
    "/run",
    "/sbin",
    "/sys",
    "/usr",
)
SYSTEM_ROOTS = ("/", "/var", "/home")  # not these themselves (inside is fine)


def _system_dir(path: Path) -> bool:
    return str(path) in SYSTEM_ROOTS or any(
        path == Path(d) or Path(d) in path.parents for d in SYSTEM_DIRS
    )


@dataclass(frozen=True)
class PathRule:
    """A directory path (the results root): a non-empty string, not a system directory."""

    optional: bool = False

    def check(self, key: str, value: Any) -> None:
        if value is None and self.optional:
            return
        if not isinstance(value, str) or not value.strip() or "\0" in value:
            raise ConfigError(
                f"{key} must be {'null or ' if self.optional else ''}a directory "
                f"path, got {_show(value)}"
            )
        if _system_dir(Path(os.path.abspath(os.path.expanduser(value)))):
            raise ConfigError(f"{key} must not be a system directory, got {_show(value)}")


def _max_threads() -> int:
    """Numba's thread pool size, the most `threads` can ask for on this machine."""
    import numba  # deferred: numba takes a moment to import and config.py is imported early

    return int(numba.config.NUMBA_NUM_THREADS)


PROBABILITY = Float(0.0, 1.0, hi_open=True)  # momentum, beta, alpha: [0, 1)
NONNEGATIVE = Float(0.0)

RULES: dict[str, Any] = {
    "seed": Int(0, 2**32 - 1),
    "threads": None,  # Int(1, _max_threads()), built at check time
    "results_root": None,  # Path(), checked at check time
    "model.cell": Choice(CELLS),
    "model.hidden_size": Int(1, 16384),
    "model.num_layers": Int(1, 64),
    "model.dtype": Choice(DTYPES),
    "model.nonlinearity": Choice(NONLINEARITIES),
    "model.reset_after": Bool(),
    "model.init": Choice(INITS),
    "model.forget_bias": Float(optional=True),
    "model.chrono_tmax": Float(lo=2.0, lo_open=True, optional=True),
    "model.spectral_radius": Float(lo=0.0, lo_open=True, optional=True),
    "task.name": None,  # Choice(registered tasks), built at check time
    "task.seq_len": Int(1, 1_000_000),
    "optim.name": Choice(OPTIMIZERS),
    "optim.lr": Float(lo=0.0, lo_open=True),
    "clip.method": Choice(CLIP_METHODS),
    "clip.max_value": Float(lo=0.0, lo_open=True),
    "train.steps": Int(1, 10**9),
    "train.batch_size": Int(1, 2**20),
    "train.eval_every": Int(1, 10**9),
    "train.eval_size": Int(1, 2**24),
    "train.log_every": Int(1, 10**9),
    "train.diverge_grad_norm": Float(lo=0.0, lo_open=True, optional=True),
    "train.diverge_grad_norm_after_clip": Float(lo=0.0, lo_open=True, optional=True),
    "train.on_diverge": Choice(ON_DIVERGE),
    "train.checkpoint_every": Int(0, 10**9),
    "train.progress": Bool(),
    "diagnostics.every": Int(0, 10**9),
    "diagnostics.jacobian_vectors": Int(0, 4096),
    "diagnostics.time_bins": Int(0, 1_000_000),
    "diagnostics.saturation_eps": Float(0.0, 0.5, lo_open=True, hi_open=True),
    "diagnostics.spectra": Bool(),
    "diagnostics.gates": Bool(),
}

TASK_RULES: dict[str, dict[str, Any]] = {
    "copy": {"convention": Choice(("arjovsky2016",)), "variable_delay": Bool()},
    "adding": {"convention": Choice(("le2015", "hochreiter1997"))},
    "temporal_order": {"convention": Choice(("hochreiter1997",))},
    "multiplication": {"convention": Choice(("hochreiter1997", "le2015"))},
    "digits": {"permuted": Bool()},
    "mnist": {"permuted": Bool(), "path": Text()},
    "mackey_glass": {
        "horizon": Int(1, 1_000_000),
        "ar_order": Int(1, 1_000_000),
        "tau": Float(lo=0.0, lo_open=True),
        "beta": Float(lo=0.0, lo_open=True),
        "gamma": Float(lo=0.0, lo_open=True),
        "exponent": Float(lo=0.0, lo_open=True),
    },
}

OPTIM_RULES: dict[str, dict[str, Any]] = {
    "sgd": {
        "momentum": PROBABILITY,
        "dampening": Float(0.0, 1.0),
        "weight_decay": NONNEGATIVE,
        "nesterov": Bool(),
    },
    "rmsprop": {
        "alpha": PROBABILITY,
        "eps": Float(lo=0.0, lo_open=True),
        "weight_decay": NONNEGATIVE,
        "momentum": PROBABILITY,
        "centered": Bool(),
    },
    "adam": {
        "betas": Pair(PROBABILITY),
        "eps": Float(lo=0.0, lo_open=True),
        "weight_decay": NONNEGATIVE,
        "amsgrad": Bool(),
    },
}


def _rule(key: str, cfg: DictConfig) -> Any:
    section, _, name = key.partition(".")
    if key == "threads":
        return Int(1, _max_threads())
    if key == "results_root":
        return PathRule(optional=True)
    if key == "task.name":
        from rnnbench.tasks import TASKS

        return Choice(tuple(TASKS))
    if key in RULES:
        return RULES[key]
    if section == "task":
        return TASK_RULES.get(cfg.task.name, {}).get(name)
    if section == "optim":
        return OPTIM_RULES.get(cfg.optim.name, {}).get(name)
    return None


# --------------------------------------------------------------------------------- validate


def _leaves(node: Any, prefix: str = "") -> list[tuple[str, Any]]:
    """(dotted key, value) for every leaf under `node`; lists count as leaves."""
    if isinstance(node, DictConfig):
        out = []
        for k in node:
            out.extend(_leaves(node[k], f"{prefix}{k}."))
        return out
    return [(prefix[:-1], node)]


def _cross_checks(cfg: DictConfig) -> None:
    """Rules that tie keys together (each still reported as one line naming the key)."""
    m = cfg.model
    if m.nonlinearity != "tanh" and m.cell != "rnn":
        raise ConfigError(f"model.nonlinearity applies to model.cell=rnn only, not {m.cell}")
    if m.reset_after is not True and m.cell != "gru":
        raise ConfigError(f"model.reset_after applies to model.cell=gru only, not {m.cell}")
    for key in ("forget_bias", "chrono_tmax"):
        if m[key] is not None and m.cell != "lstm":
            raise ConfigError(f"model.{key} applies to model.cell=lstm only, not {m.cell}")
    if m.forget_bias is not None and m.chrono_tmax is not None:
        raise ConfigError("model.forget_bias and model.chrono_tmax are exclusive: set one to null")
    o = cfg.optim
    if o.name == "sgd" and o.nesterov and (o.momentum <= 0 or o.dampening != 0):
        raise ConfigError("optim.nesterov requires optim.momentum > 0 and optim.dampening = 0")
    # The task checks its own cross-field rules (e.g. a convention's minimum length).
    from rnnbench.tasks import make_task

    try:
        make_task(cfg.task.name, **task_options(cfg))
    except (TypeError, ValueError) as exc:
        raise ConfigError(str(exc).splitlines()[0]) from None


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
    for section in ("model", "task", "optim", "clip", "train", "diagnostics"):
        if not isinstance(cfg.get(section), DictConfig):
            raise ConfigError(f"{section} is missing: choose a {section} config")
    for key in ("task.name", "optim.name"):  # the sections' rules depend on these
        _rule(key, cfg).check(key, OmegaConf.select(cfg, key))
    for key, value in _leaves(cfg):
        if key.startswith("hydra."):
            continue
        rule = _rule(key, cfg)
        if rule is None:
            raise ConfigError(f"{key} is not a known key")
        rule.check(key, value)
    _cross_checks(cfg)


def results_root(root: str | None, cwd: str | os.PathLike | None = None) -> Path:
    """The directory every run must write inside: `root` (relative to `cwd`) or `cwd` itself."""
    cwd = Path(cwd or os.getcwd())
    return Path(os.path.abspath(cwd / os.path.expanduser(root or ".")))


def check_output_dir(
    key: str, path: str, root: str | None, cwd: str | os.PathLike | None = None
) -> None:
    """`path` (hydra.run.dir or hydra.sweep.dir) must be a directory below the results root.

    Paths are made absolute and normalised (``..`` collapsed) before comparing, and symlinks
    resolved, so ``../x`` or a link cannot escape; the root may not be a system directory.
    """
    base = results_root(root, cwd)
    where = f"results_root={_show(root)}" if root else f"the current directory {str(base)!r}"
    if _system_dir(base):
        raise ConfigError(
            f"results_root must not be a system directory, got {where}; set results_root=DIR"
        )
    if not path.strip():
        raise ConfigError(f"{key} must be a directory path inside the results tree, got ''")
    target = Path(os.path.abspath(Path(cwd or os.getcwd()) / os.path.expanduser(path)))
    real_base, real_target = base.resolve(), target.resolve()
    if real_base not in real_target.parents:  # strictly inside: never the root itself
        raise ConfigError(
            f"{key} must be inside the results tree ({where}), got {path!r}; "
            "set results_root=DIR to write under DIR"
        )


# --------------------------------------------------------------------------------- helpers


def task_options(cfg: DictConfig) -> dict[str, Any]:
    """Keyword arguments of make_task: the task section minus its name."""
    return {k: v for k, v in OmegaConf.to_container(cfg.task, resolve=True).items() if k != "name"}


def optim_options(cfg: DictConfig) -> dict[str, Any]:
    """Keyword arguments of make_optimizer: the optim section minus its name (lists -> tuples)."""
    opts = OmegaConf.to_container(cfg.optim, resolve=True)
    opts.pop("name")
    return {k: tuple(v) if isinstance(v, list) else v for k, v in opts.items()}


def model_options(cfg: DictConfig) -> dict[str, Any]:
    """Keyword arguments of Network beyond (cell, input_size, hidden_size, num_layers).

    Cell-specific options go only to their cell (Network rejects the others).
    """
    m = OmegaConf.to_container(cfg.model, resolve=True)
    opts = {k: m[k] for k in ("init", "forget_bias", "chrono_tmax", "spectral_radius")}
    if m["cell"] == "rnn":
        opts["nonlinearity"] = m["nonlinearity"]
    if m["cell"] == "gru":
        opts["reset_after"] = m["reset_after"]
    return opts


def resolved(cfg: DictConfig) -> dict[str, Any]:
    """The job config as plain data, interpolations resolved, without the hydra node."""
    data = OmegaConf.to_container(cfg, resolve=True)
    data.pop("hydra", None)
    return data


HASH_NEUTRAL = ("train.progress", "train.checkpoint_every", "results_root")
HASH_IF_NOT = {"train.on_diverge": "stop"}  # keys added later: hashed only when changed


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
    text = json.dumps(data, sort_keys=True, separators=(",", ":"), allow_nan=False)
    return hashlib.sha256(text.encode()).hexdigest()


__all__: list[str] = [
    "ConfigError",
    "RNNBenchConfig",
    "conf_dir",
    "config_hash",
    "model_options",
    "optim_options",
    "task_options",
    "validate",
]
