"""Overrides preflight refuses in one line that names them (issue 16, items 6 and 11).

Deleting a job key (``~seed``, ``~model.hidden_size``, ``~model``) is refused: every key is
required. An override that does not parse, has no key or sweeps over nothing is named as typed.
A boolean key takes ``true`` or ``false`` only: OmegaConf alone would run 2 as true.
"""

from __future__ import annotations

import pytest

from rnnbench._hydra_preflight import preflight
from rnnbench.config import ConfigError


def refused(argv: list[str]) -> str:
    with pytest.raises(ConfigError) as err:
        preflight(argv)
    assert "\n" not in str(err.value)
    return str(err.value)


KEYS = ["seed", "threads", "results_root", "model", "model.hidden_size", "task.seq_len"]
KEYS += ["optim.lr", "train", "train.progress", "sched.name", "eval.seq_lens", "objective"]


def test_deleting_any_key_is_refused():
    """On main ~seed and ~threads were refused, ~model ran the schema's defaults and
    ~model.hidden_size said 'ModelConfig (DictConfig) does not support deletion'."""
    for key in KEYS:
        expected = f"{key} is required: it may be set, not deleted (~{key})"
        assert refused([f"~{key}"]) == expected
        assert refused(["-m", "seed=0,1", f"~{key}"]) == expected


@pytest.mark.parametrize(
    ("argv", "expected"),
    [
        (["model.cell=[rnn"], "'model.cell=[rnn': cannot parse this override: no viable"),
        (["-m", "seed=0,"], "'seed=0,': cannot parse this override: mismatched input"),
        (["-m", "seed=range(0,0)"], "'seed=range(0,0)': this sweep has no values, so no jobs"),
        (["-m", "seed=0", "model=choice()"], "'model=choice()': cannot parse this override"),
        (["=3"], "'=3': no key before '=' (write KEY=VALUE)"),
    ],
)
def test_bad_override_is_named(argv, expected):
    assert refused(argv).startswith(expected)


@pytest.mark.parametrize(
    ("group", "override", "shown"),
    [
        ([], "task.variable_delay=2", "2"),
        ([], "train.progress=2", "2"),
        ([], "train.figures=0", "0"),
        ([], "diagnostics.gates=1", "1"),
        ([], "train.stop_when_solved=yes", "'yes'"),
        (["model=gru"], "model.reset_after=2", "2"),
        (["optim=adam"], "optim.amsgrad=2", "2"),
        (["task=digits"], "task.permuted=2", "2"),
    ],
)
def test_integers_are_not_booleans(group, override, shown):
    key, value = override.split("=")
    assert refused([*group, override]) == f"{key} must be true or false, got {shown}"
    assert (
        refused(["-m", *group, f"{key}=true,{value}"])
        == f"{key} must be true or false, got {shown}"
    )
