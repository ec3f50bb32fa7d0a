"""Config composition and validation: every experiment composes, every validated key rejects
out-of-range, non-finite and wrong-type values with one line naming the key."""

from __future__ import annotations

import dataclasses
import math
import typing

import pytest
from conftest import compose_config
from hydra import initialize_config_dir
from idx import write_mnist
from omegaconf import OmegaConf

from rnnbench import config as C
from rnnbench._hydra_preflight import check_overrides
from rnnbench.optim import OPTIMIZERS
from rnnbench.options import Float, OptionError
from rnnbench.sched import SCHEDULES
from rnnbench.tasks import TASKS

EXPERIMENTS = sorted(p.stem for p in (C.conf_dir() / "experiment").glob("*.yaml"))
GROUPS = {g: sorted(p.stem for p in (C.conf_dir() / g).glob("*.yaml")) for g in C.GROUPS}


@pytest.fixture(scope="module")
def hydra_init():
    with initialize_config_dir(str(C.conf_dir()), version_base=C.VERSION_BASE):
        yield


def error(overrides: list[str], multirun: bool = False) -> str:
    """The one-line message for `overrides` (inside hydra_init), or fail if there is none."""
    with pytest.raises(C.ConfigError) as info:
        check_overrides(overrides, multirun)
    msg = str(info.value)
    assert "\n" not in msg and msg.strip() == msg and msg
    return msg


# --------------------------------------------------------------------------- composition


def test_experiments_exist():
    assert {"copy_task", "adding_task", "temporal_order"} <= set(EXPERIMENTS)


@pytest.mark.parametrize("name", EXPERIMENTS)
def test_every_experiment_composes_and_validates(name, tmp_path):
    write_mnist(tmp_path)  # an MNIST experiment needs the data files: it reads small ones
    cfg = compose_config([f"+experiment={name}"])
    data = [f"task.path={tmp_path}"] if cfg.task.name == "mnist" else []
    C.validate(compose_config([f"+experiment={name}", *data]))
    text = (C.conf_dir() / "experiment" / f"{name}.yaml").read_text()
    assert text.startswith("# @package _global_")
    assert "override /" in text


@pytest.mark.parametrize("name", EXPERIMENTS)
def test_job_directory_names_leave_out_paths_and_the_experiment(name):
    """An experiment that set its own exclude_keys would replace the list: results_root=/a/path
    would then nest every job directory inside path components."""
    cfg = compose_config([f"+experiment={name}"], hydra_node=True)
    excluded = set(cfg.hydra.job.config.override_dirname.exclude_keys)
    assert {"results_root", "+experiment", "experiment"} <= excluded


def test_every_group_option_composes(hydra_init, tmp_path):
    write_mnist(tmp_path)  # task=mnist checks that its data files exist
    for model in GROUPS["model"]:
        for task in GROUPS["task"]:
            data = [f"task.path={tmp_path}"] if task == "mnist" else []
            for optim in GROUPS["optim"]:
                check_overrides([f"model={model}", f"task={task}", f"optim={optim}", *data])


def test_required_keys_exist():
    cfg = compose_config()
    for key in (
        "seed",
        "threads",
        "model.cell",
        "model.hidden_size",
        "model.num_layers",
        "model.dtype",
        "task.name",
        "task.seq_len",
        "train.steps",
        "train.batch_size",
        "train.eval_every",
        "train.eval_size",
        "train.log_every",
        "optim.name",
        "optim.lr",
        "clip.method",
        "clip.max_value",
    ):
        assert OmegaConf.select(cfg, key) is not None, key
    assert cfg.threads == 1


def test_hydra_settings():
    cfg = compose_config(hydra_node=True)
    assert cfg.hydra.job.name == "rnnbench"
    assert cfg.hydra.job.chdir is False


def test_group_choice_selects_schema():
    cfg = compose_config(["task=adding", "optim=sgd", "model=gru"])
    assert cfg.task.convention == "le2015" and "variable_delay" not in cfg.task
    assert cfg.optim.name == "sgd" and "betas" not in cfg.optim
    assert cfg.model.cell == "gru"


def test_options_for_constructors():
    cfg = compose_config(["model=rnn", "model.nonlinearity=relu", "task=adding"])
    assert C.model_options(cfg)["nonlinearity"] == "relu"
    assert "reset_after" not in C.model_options(cfg)
    assert C.task_options(cfg) == {"seq_len": 100, "convention": "le2015"}
    assert C.optim_options(compose_config())["betas"] == (0.9, 0.999)


def test_config_hash_tracks_results_not_display():
    a, b = compose_config(), compose_config(["train.progress=false"])
    assert C.config_hash(a) == C.config_hash(b)
    assert C.config_hash(a) != C.config_hash(compose_config(["seed=1"]))


# --------------------------------------------------------------------------- validation table

INT_MAX = {"seed": 2**32 - 1, "model.hidden_size": 16384, "task.seq_len": 1_000_000}

# (overrides that select the section, key, bad values as typed on the command line)
CASES = [
    ([], "seed", ["-1", "4294967296", "1.5", "abc"]),
    ([], "threads", ["0", "-2", "100000", "nan"]),
    ([], "model.cell", ["lstmx", "1", "''"]),
    ([], "model.hidden_size", ["0", "-1", "16385", "nan", "abc", "2.5", "true"]),
    ([], "model.num_layers", ["0", "65", "x"]),
    ([], "model.dtype", ["float16", "int32"]),
    (["model=rnn"], "model.nonlinearity", ["sigmoid"]),
    (["model=gru"], "model.reset_after", ["maybe", "1.5"]),
    ([], "model.init", ["xavier"]),
    ([], "model.forget_bias", ["nan", "inf", "-inf", "abc"]),
    ([], "model.chrono_tmax", ["2", "1", "nan", "inf", "-5"]),
    ([], "model.spectral_radius", ["0", "-1", "nan", "inf"]),
    ([], "task.name", ["copyy"]),
    ([], "task.seq_len", ["0", "-3", "1000001", "nan", "ten"]),
    ([], "task.convention", ["le2015"]),
    ([], "task.variable_delay", ["sometimes"]),
    (["task=adding"], "task.convention", ["arjovsky2016"]),
    (["task=temporal_order"], "task.convention", ["le2015"]),
    (["task=temporal_order"], "task.seq_len", ["9"]),
    (["task=multiplication"], "task.convention", ["le2016"]),
    (["task=multiplication"], "task.seq_len", ["21"]),
    (["task=embedded_reber"], "task.seq_len", ["8"]),
    (["task=selective_copy"], "task.seq_len", ["9"]),
    (["task=digits"], "task.permuted", ["maybe"]),
    (["task=digits"], "task.seq_len", ["10"]),
    (["task=mnist"], "task.permuted", ["maybe"]),
    (["task=mnist"], "task.path", ["''"]),
    (["task=mackey_glass"], "task.horizon", ["0"]),
    (["task=mackey_glass"], "task.ar_order", ["0"]),
    (["task=mackey_glass"], "task.tau", ["0", "17.05"]),
    (["task=mackey_glass"], "task.beta", ["-1"]),
    (["task=mackey_glass"], "task.gamma", ["nan"]),
    (["task=mackey_glass"], "task.exponent", ["0"]),
    (["task=mackey_glass"], "task.seq_len", ["9"]),
    (["task=adding", "task.convention=hochreiter1997"], "task.seq_len", ["21"]),
    ([], "optim.name", ["lbfgs"]),
    ([], "optim.lr", ["0", "-0.1", "nan", "inf", "-inf", "fast"]),
    ([], "optim.betas", ["[0.9]", "[0.9,1.0]", "[nan,0.999]", "[-0.1,0.9]", "0.9"]),
    ([], "optim.eps", ["0", "-1e-8", "nan"]),
    ([], "optim.weight_decay", ["-1", "inf"]),
    ([], "optim.amsgrad", ["perhaps"]),
    (["optim=sgd"], "optim.lr", ["0", "nan"]),
    (["optim=sgd"], "optim.momentum", ["-0.5", "nan"]),
    (["optim=sgd"], "optim.dampening", ["inf", "nan"]),
    (["optim=sgd"], "optim.weight_decay", ["-1", "nan"]),
    (["optim=sgd"], "optim.nesterov", ["yesno"]),
    (["optim=rmsprop"], "optim.lr", ["0"]),
    (["optim=rmsprop"], "optim.alpha", ["-0.1", "nan"]),
    (["optim=rmsprop"], "optim.eps", ["0", "inf"]),
    (["optim=rmsprop"], "optim.weight_decay", ["-1"]),
    (["optim=rmsprop"], "optim.momentum", ["-1", "nan"]),
    (["optim=rmsprop"], "optim.centered", ["x"]),
    ([], "clip.method", ["clamp", "None"]),
    ([], "clip.max_value", ["0", "-1", "nan", "inf"]),
    ([], "train.steps", ["0", "-1", "1000000001", "1e3"]),
    ([], "train.batch_size", ["0", "-1", "1048577", "nan"]),
    ([], "train.eval_every", ["0", "-5"]),
    ([], "train.eval_size", ["0", "16777217"]),
    ([], "train.log_every", ["0", "ten"]),
    ([], "train.diverge_grad_norm", ["0", "-1", "nan", "inf"]),
    ([], "train.diverge_grad_norm_after_clip", ["0", "-1", "nan", "inf"]),
    ([], "train.on_diverge", ["ignore", "1"]),
    ([], "train.checkpoint_every", ["-1", "nan", "often"]),
    ([], "train.progress", ["loud"]),
    ([], "train.figures", ["maybe"]),
    ([], "results_root", ["/", "/etc", "/usr/lib", "''"]),
    ([], "diagnostics.every", ["-1", "x"]),
    ([], "diagnostics.jacobian_vectors", ["-1", "4097"]),
    ([], "diagnostics.time_bins", ["-1"]),
    ([], "diagnostics.saturation_eps", ["0", "0.5", "nan"]),
    ([], "diagnostics.spectra", ["maybe"]),
    ([], "diagnostics.gates", ["maybe"]),
    (["optim=adamw"], "optim.lr", ["0", "nan"]),
    (["optim=adamw"], "optim.betas", ["[0.9]", "[0.9,1.0]"]),
    (["optim=adamw"], "optim.eps", ["0"]),
    (["optim=adamw"], "optim.weight_decay", ["-0.01", "inf"]),
    (["optim=adamw"], "optim.amsgrad", ["perhaps"]),
    ([], "sched.name", ["cosin"]),
    (["sched=step"], "sched.step_size", ["0", "1.5", "nan"]),
    (["sched=step"], "sched.gamma", ["0", "1.5", "nan"]),
    (["sched=multistep"], "sched.milestones", ["[0]", "[10,-1]", "5", "[1.5]"]),
    (["sched=multistep"], "sched.gamma", ["0", "2"]),
    (["sched=exponential"], "sched.gamma", ["0", "1.01", "nan"]),
    (["sched=cosine"], "sched.T_max", ["0", "x"]),
    (["sched=cosine"], "sched.eta_min", ["-1", "nan"]),
    (["sched=cosine"], "sched.warmup_steps", ["-1", "1000"]),
    (["sched=cosine"], "sched.warmup_start_factor", ["0", "1.5"]),
    (["sched=plateau"], "sched.factor", ["0", "1", "nan"]),
    (["sched=plateau"], "sched.patience", ["-1", "x"]),
    (["sched=plateau"], "sched.threshold", ["-0.1", "1"]),
    (["sched=plateau"], "sched.cooldown", ["-1"]),
    (["sched=plateau"], "sched.min_lr", ["-1", "inf"]),
    (["sched=plateau"], "sched.eps", ["-1", "nan"]),
    ([], "train.tbptt", ["-1", "1.5", "1000001", "x"]),
    ([], "train.stop_when_solved", ["sometimes"]),
    ([], "eval.seq_lens", ["[0]", "[10,-5]", "[1.5]", "[x]"]),
    (["task=temporal_order"], "eval.seq_lens", ["[5]", "[20,9]"]),
    ([], "objective", ["accuracy", "1"]),
]
FLAT = [(pre, key, v) for pre, key, values in CASES for v in values]


@pytest.mark.parametrize(("pre", "key", "value"), FLAT, ids=[f"{k}={v}" for _, k, v in FLAT])
def test_bad_value_is_one_line_naming_the_key(hydra_init, pre, key, value):
    msg = error([*pre, f"{key}={value}"])
    assert msg.startswith(key), msg


def _checked_fields(schema, prefix=""):
    """Dotted keys of every field of `schema` (nested sections included)."""
    out, hints = set(), typing.get_type_hints(schema)
    for f in dataclasses.fields(schema):
        if dataclasses.is_dataclass(hints[f.name]) or f.name in C.SECTION_SCHEMAS:
            continue
        out.add(prefix + f.name)
    return out


def test_every_key_has_cases():
    """Each field of each section schema (each task's and optimiser's too) has bad values above."""
    covered = {(tuple(pre), key) for pre, key, _ in CASES}
    plain = {key for pre, key in covered if not pre}
    assert _checked_fields(C.RNNBenchConfig) <= plain
    for section, schema in (
        ("model", C.ModelConfig),
        ("clip", C.ClipConfig),
        ("train", C.TrainConfig),
        ("diagnostics", C.DiagnosticsConfig),
        ("eval", C.EvalConfig),
    ):
        assert _checked_fields(schema, f"{section}.") <= {key for _, key in covered}, section
    for group, registry in (("task", TASKS), ("optim", OPTIMIZERS), ("sched", SCHEDULES)):
        for name in registry:
            chosen = {k for pre, k in covered if f"{group}={name}" in pre}
            if name in ("copy", "adam", "none"):  # the defaults: cases without a group choice
                chosen |= plain
            keys = _checked_fields(C.SECTION_SCHEMAS[group](name), f"{group}.")
            missing = keys - chosen - {f"{group}.name"} - (plain if group == "task" else set())
            assert not missing, (name, missing)


def test_torch_ranges_win(hydra_init):
    """Where the config and the optimisers once disagreed, torch's constructor checks win."""
    check_overrides(["optim=sgd", "optim.momentum=1", "optim.dampening=1.5"])
    check_overrides(["optim=sgd", "optim.dampening=-0.1"])
    check_overrides(["optim=rmsprop", "optim.alpha=1.5"])
    assert error(["optim=rmsprop", "optim.alpha=-0.1"]).startswith(
        "optim.alpha must be a finite number >= 0, got -0.1"
    )


def test_one_definition_serves_cli_and_api():
    """The optim section's schema is the optimiser's own Config; defaults are torch's."""
    assert C.SECTION_SCHEMAS["optim"]("rmsprop") is OPTIMIZERS["rmsprop"].Config
    assert OPTIMIZERS["sgd"].defaults == {
        "momentum": 0.0, "dampening": 0.0, "weight_decay": 0.0, "nesterov": False
    }
    assert C.optim_options(compose_config(["optim=sgd"]))["lr"] == 0.01  # the preset's lr
    assert OPTIMIZERS["sgd"].Config().lr == 1e-3  # torch's default
    schema = C.task_schema("copy")
    assert {f.name: f.default for f in dataclasses.fields(schema)} == {
        "name": "copy", "seq_len": 100, "convention": "arjovsky2016", "variable_delay": False
    }
    assert "variable_delay" not in {f.name for f in dataclasses.fields(C.task_schema("adding"))}


@pytest.mark.parametrize(
    ("overrides", "expected"),
    [
        (["optim.lr=nan"], "optim.lr must be a finite number > 0, got nan"),
        (["optim.lr=-0.1"], "optim.lr must be a finite number > 0, got -0.1"),
        (["model.hidden_size=0"], "model.hidden_size must be an integer in [1, 16384], got 0"),
        (["train.batch_size=-1"], "train.batch_size must be an integer in [1, 1048576], got -1"),
        (["task.seq_len=0"], "task.seq_len must be an integer in [1, 1000000], got 0"),
        (["model.cell=foo"], "model.cell must be one of rnn, lstm, gru, got 'foo'"),
        (["model.forget_bias=inf"], "model.forget_bias must be a finite number, got inf"),
        (["clip.method=l2"], "clip.method must be one of none, norm, value, got 'l2'"),
        (
            ["model=nope"],
            "model=nope: no such option; choose one of gru, irnn, lstm, lstm_chrono, "
            "lstm_forget1, rnn",
        ),
        (["+experiment=nope"], "experiment=nope: no such option; choose one of "),
        (["foo=1"], "foo is not a known key"),
        (["+foo=1"], "foo is not a known key"),
        (["model.foo=1"], "model.foo is not a known key"),
        (["hydra.foo=1"], "hydra.foo is not a known key"),
        (["model.hidden_size=abc"], "model.hidden_size: Value 'abc' of type 'str' could not be"),
        (
            ["task.seq_len=${oc.env:RNNBENCH_SURELY_UNSET}"],
            "task.seq_len may not call the resolver oc.env",
        ),
        (["model.nonlinearity=relu"], "model.nonlinearity applies to model.cell=rnn only"),
        (["model=gru", "model.forget_bias=1"], "model.forget_bias applies to model.cell=lstm"),
        (["model=rnn", "model.chrono_tmax=10"], "model.chrono_tmax applies to model.cell=lstm"),
        (["model.reset_after=false"], "model.reset_after applies to model.cell=gru only"),
        (["model.forget_bias=1", "model.chrono_tmax=10"], "model.forget_bias and chrono_tmax are"),
        (["optim=sgd", "optim.nesterov=true"], "optim.nesterov requires optim.momentum > 0"),
        (["task=adding", "task.convention=hochreiter1997", "task.seq_len=10"], "task.seq_len"),
    ],
)
def test_messages(hydra_init, overrides, expected):
    assert error(overrides).startswith(expected)


def test_sweep_jobs_are_each_validated(hydra_init):
    check_overrides(["model.hidden_size=4,8", "seed=0,1"], multirun=True)
    assert error(["model.hidden_size=4,0"], multirun=True).startswith("model.hidden_size")
    assert error(["optim.lr=0.1,nan"], multirun=True).startswith("optim.lr")


def test_unknown_leaf_is_rejected():
    cfg = OmegaConf.create(OmegaConf.to_container(compose_config()))  # untyped copy
    cfg.train.extra = 1
    with pytest.raises(C.ConfigError, match=r"^train\.extra is not a known key$"):
        C.validate(cfg)


def test_float_rule_describe():
    assert Float(0.0, 1.0, hi_open=True).describe() == "a number in [0, 1)"
    assert Float(lo=0.0, lo_open=True, optional=True).describe() == "null or a finite number > 0"
    Float().check("k", 1e300)
    with pytest.raises(OptionError):
        Float().check("k", math.nan)
