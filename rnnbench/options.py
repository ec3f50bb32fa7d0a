"""One definition per option: its type, default, allowed values and documentation in one field.

A config section is a dataclass whose fields are made with `option`:

    @dataclass
    class ClipConfig:
        method: str = option("none", Choice(("none", "norm", "value")), "how to clip gradients")
        max_value: float = option(1.0, Float(lo=0.0, lo_open=True), "the norm or value bound")

        def __post_init__(self):
            check_fields(self, "clip")

The field's annotation is the type Hydra/OmegaConf enforce when composing, its default is the
default, its rule the allowed values, its doc the documentation. `check_fields` (called from
``__post_init__``, so it runs both for API users who build the dataclass and for the command line,
which builds it from the composed config) checks every field against its rule and replaces the
value by its normal form (a Python float, int, bool, or a tuple for a pair). A failure raises
`OptionError`, a ValueError whose message is one line naming the key:

    optim.lr must be a finite number > 0, got nan

The rules are plain values (`Int`, `Float`, `Choice`, `Bool`, `Pair`); `describe()` says in words
what they accept. Booleans are never integers and integers never booleans.
"""

from __future__ import annotations

import math
import numbers
from collections.abc import Callable
from dataclasses import MISSING, dataclass, field, fields
from typing import Any

import numpy as np


class OptionError(ValueError):
    """A value outside its allowed range or of the wrong type; the message names the key."""


def show(value: Any) -> str:
    """A value as the user typed it: strings quoted, booleans and None in YAML spelling."""
    if value is None:
        return "null"
    if isinstance(value, bool | np.bool_):
        return "true" if value else "false"
    if isinstance(value, str):
        return repr(value)
    if isinstance(value, tuple):
        value = list(value)
    if hasattr(value, "_content"):  # an OmegaConf container
        from omegaconf import OmegaConf

        value = OmegaConf.to_container(value)
    return str(value)


def is_number(value: Any) -> bool:
    """A real number that is not a boolean (Python or NumPy)."""
    return isinstance(value, numbers.Real) and not isinstance(value, bool | np.bool_)


def is_integer(value: Any) -> bool:
    return isinstance(value, numbers.Integral) and not isinstance(value, bool | np.bool_)


@dataclass(frozen=True)
class Int:
    """An integer in [lo, hi]; `hi` may be a function, evaluated when checking (the CPU count)."""

    lo: int
    hi: int | Callable[[], int]

    def describe(self) -> str:
        hi = self.hi() if callable(self.hi) else self.hi
        return f"an integer in [{self.lo}, {hi}]"

    def check(self, key: str, value: Any) -> int:
        hi = self.hi() if callable(self.hi) else self.hi
        if not is_integer(value) or not self.lo <= value <= hi:
            raise OptionError(f"{key} must be {self.describe()}, got {show(value)}")
        return int(value)


@dataclass(frozen=True)
class Float:
    """A finite number, optionally bounded (open or closed), optionally null."""

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

    def check(self, key: str, value: Any) -> float | None:
        if value is None and self.optional:
            return None
        ok = is_number(value) and math.isfinite(value)
        if ok:
            ok = (value > self.lo if self.lo_open else value >= self.lo) and (
                value < self.hi if self.hi_open else value <= self.hi
            )
        if not ok:
            raise OptionError(f"{key} must be {self.describe()}, got {show(value)}")
        return float(value)


@dataclass(frozen=True)
class Choice:
    """One of a fixed tuple of strings; `values` may be a function (a registry's keys)."""

    values: tuple[str, ...] | Callable[[], tuple[str, ...]]

    def allowed(self) -> tuple[str, ...]:
        return tuple(self.values()) if callable(self.values) else self.values

    def describe(self) -> str:
        return f"one of {', '.join(self.allowed())}"

    def check(self, key: str, value: Any) -> str:
        if not isinstance(value, str) or value not in self.allowed():
            raise OptionError(f"{key} must be {self.describe()}, got {show(value)}")
        return value


@dataclass(frozen=True)
class Bool:
    """True or false, never a number. OmegaConf turns 2 or 'yes' into true when it sets a
    bool-typed key, before any rule runs: preflight applies this rule to the command line's
    own value (`rnnbench._hydra_preflight.check_booleans`)."""

    def describe(self) -> str:
        return "true or false"

    def check(self, key: str, value: Any) -> bool:
        if not isinstance(value, bool | np.bool_):
            raise OptionError(f"{key} must be true or false, got {show(value)}")
        return bool(value)


@dataclass(frozen=True)
class Pair:
    """A list of exactly two numbers, each satisfying `item` (Adam's betas); checked as a tuple."""

    item: Float

    def describe(self) -> str:
        return f"a list of two numbers, each {self.item.describe()}"

    def check(self, key: str, value: Any) -> tuple:
        value = _plain(value)
        if not isinstance(value, list | tuple) or len(value) != 2:
            raise OptionError(f"{key} must be {self.describe()}, got {show(value)}")
        return tuple(self.item.check(f"{key}[{i}]", v) for i, v in enumerate(value))


@dataclass(frozen=True)
class IntList:
    """A list of integers, each in [lo, hi] (MultiStepLR's milestones, eval.seq_lens)."""

    lo: int
    hi: int

    def describe(self) -> str:
        return f"a list of integers in [{self.lo}, {self.hi}]"

    def check(self, key: str, value: Any) -> tuple:
        value = _plain(value)
        if not isinstance(value, list | tuple) or not all(
            is_integer(v) and self.lo <= v <= self.hi for v in value
        ):
            raise OptionError(f"{key} must be {self.describe()}, got {show(value)}")
        return tuple(int(v) for v in value)


def _plain(value: Any) -> Any:
    """A ListConfig as a plain list (other values unchanged)."""
    if hasattr(value, "_content"):
        from omegaconf import OmegaConf

        return OmegaConf.to_container(value)
    return value


Rule = Int | Float | Choice | Bool | Pair | IntList


def option(default: Any, rule: Rule | None, doc: str) -> Any:
    """A dataclass field: `default` (a list is copied per instance), its `rule` and its `doc`.

    `rule` None: the field is checked elsewhere (by the library that consumes it).
    """
    meta = {"rule": rule, "doc": doc}
    if isinstance(default, list):
        return field(default_factory=lambda: list(default), metadata=meta)
    return field(default=default, metadata=meta)


def check_fields(obj: Any, section: str) -> None:
    """Check every field of dataclass `obj` with its rule; store the normal form of the value."""
    prefix = f"{section}." if section else ""
    for f in fields(obj):
        rule = f.metadata.get("rule")
        if rule is not None:
            object.__setattr__(obj, f.name, rule.check(prefix + f.name, getattr(obj, f.name)))


def docs(schema: type) -> dict[str, str]:
    """{field name: documentation} of a dataclass made with `option`."""
    return {f.name: f.metadata.get("doc", "") for f in fields(schema)}


def default_of(f) -> Any:
    """The default value of a dataclass field (MISSING if it has none)."""
    if f.default is not MISSING:
        return f.default
    if f.default_factory is not MISSING:
        return f.default_factory()
    return MISSING


__all__ = [
    "Bool",
    "Choice",
    "Float",
    "Int",
    "IntList",
    "OptionError",
    "Pair",
    "check_fields",
    "docs",
    "option",
    "show",
]
