"""Property test: any value for any config key is accepted as typed or refused in one line.

Hypothesis draws a config (the defaults, or one option of one group), one to three of its keys
(every job key of every group option, plus Hydra's path keys) and for each a value: integers in
and far out of range, floats with NaN, infinities and 1e308, booleans, null, lists, strings
(YAML words, interpolations, resolver calls, paths, quotes and brackets), or a deletion (``~key``),
with or without ``-m`` and a second sweep value. `preflight` must then either

- raise `ConfigError` whose message is one line (never another exception), or
- accept, and then the composed config holds the value as typed: no deletion is accepted and no
  value is silently converted (2 is no boolean; 1 may widen to 1.0).
"""

from __future__ import annotations

import contextlib
import math

import pytest
from conftest import compose_config
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from omegaconf import DictConfig, ListConfig, OmegaConf

from rnnbench._hydra_preflight import CONF_DIR, preflight
from rnnbench.config import GROUPS, ConfigError

PATH_KEYS = ["hydra.run.dir", "hydra.output_subdir", "hydra.job_logging.handlers.file.filename"]


def _leaves(node, prefix=""):
    for key, value in node.items():
        if isinstance(value, DictConfig):
            yield from _leaves(value, f"{prefix}{key}.")
        else:
            yield f"{prefix}{key}"


def _configs() -> list[tuple[list[str], list[str]]]:
    """(group override, its job keys) for the defaults and every option of every group."""
    out = [([], list(_leaves(compose_config())))]
    for group in GROUPS:
        for option in sorted(p.stem for p in (CONF_DIR / group).glob("*.yaml")):
            choice = [f"{group}={option}"]
            out.append((choice, list(_leaves(compose_config(choice)))))
    return out


CONFIGS = _configs()

WORDS = ["", "nan", "inf", "-inf", "1e309", "yes", "no", "on", "null", "None", "true", "~",
         "${seed}", "${nope}", "${oc.env:HOME}", "${oc.decode:2}", "../..", "/etc", "a/b",
         "[1,2", "{a:1}", "x" * 300, "é", "'", "\\", "1,2", "=", "range(0,0)"]  # fmt: skip


def _quote(text: str) -> str:
    return "'" + text.replace("\\", "\\\\").replace("'", "\\'") + "'"


def _float(x: float) -> str:
    return {math.inf: "inf", -math.inf: "-inf"}.get(x, "nan" if math.isnan(x) else repr(x))


VALUES = st.one_of(
    st.integers(-(2**70), 2**70).map(str),
    st.integers(-3, 70_000).map(str),
    st.floats(allow_nan=True, allow_infinity=True).map(_float),
    st.sampled_from(["true", "false", "null", "[]", "[0]", "[1,2]", "[0.5,0.999]", "[true]"]),
    st.sampled_from(WORDS),
    st.sampled_from(WORDS).map(_quote),
    st.text(st.characters(codec="utf-8", exclude_categories=("Cs",)), max_size=12),
    st.text("abc_/.,=[]{}()$:~'\" \\", max_size=12),
)


@st.composite
def command_lines(draw) -> list[str]:
    group, keys = draw(st.sampled_from(CONFIGS))
    chosen = draw(st.lists(st.sampled_from(keys + PATH_KEYS), min_size=1, max_size=3, unique=True))
    multirun = draw(st.booleans())
    argv = ["-m"] if multirun else []
    argv += group
    for key in chosen:
        if draw(st.integers(0, 9)) == 0:
            argv.append(f"~{key}")
            continue
        value = draw(VALUES)
        if multirun and draw(st.booleans()):
            value = f"{value},{draw(VALUES)}"
        argv.append(f"{key}={value}")
    return argv


def _same(typed, composed) -> bool:
    """The composed value is the typed one (an int may widen to a float, a number or a word
    become a string key's text)."""
    if isinstance(composed, DictConfig | ListConfig):
        composed = OmegaConf.to_container(composed)
    if isinstance(typed, list) and isinstance(composed, list):
        return len(typed) == len(composed) and all(map(_same, typed, composed))
    if isinstance(typed, bool) or isinstance(composed, bool):
        return typed is composed
    if isinstance(composed, str) and not isinstance(typed, str | list | dict | type(None)):
        return composed == str(typed)
    if isinstance(typed, float) and math.isnan(typed):
        return isinstance(composed, float) and math.isnan(composed)
    return typed == composed


def _check_accepted(argv: list[str]) -> None:
    from hydra.core.override_parser.overrides_parser import OverridesParser

    overrides = [a for a in argv if a != "-m"]
    parsed = OverridesParser.create().parse_overrides(overrides)
    assert not any(o.is_delete() for o in parsed), f"accepted a deletion: {argv}"
    plain = [o for o in parsed if not o.is_sweep_override()]
    cfg = compose_config([o.input_line for o in plain], hydra_node=True)
    for o in plain:
        typed = o.value()
        if isinstance(typed, str) and "${" in typed:
            continue  # an interpolation: its target's rule applies
        if o.key_or_group in GROUPS or o.key_or_group.startswith("hydra."):
            continue  # a group's option; Hydra's own keys (paths: their rule is rnnbench.paths)
        composed = OmegaConf.select(cfg, o.key_or_group)
        assert _same(typed, composed), f"{o.input_line} accepted as {composed!r}: {argv}"


@pytest.fixture(scope="module")
def results_tree(tmp_path_factory):
    root = tmp_path_factory.mktemp("properties")
    with contextlib.chdir(root):
        yield root


@settings(
    max_examples=200,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(argv=command_lines())
def test_any_value_for_any_key_is_accepted_as_typed_or_refused_in_one_line(results_tree, argv):
    try:
        preflight(argv)
    except ConfigError as exc:
        assert "\n" not in str(exc) and str(exc).strip(), repr(str(exc))
    else:
        _check_accepted(argv)
    assert list(results_tree.iterdir()) == [], f"preflight wrote into the results tree: {argv}"
