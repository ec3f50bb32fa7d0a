"""Learning-rate schedules with ``torch.optim.lr_scheduler``'s arithmetic, step for step.

A schedule owns one number, the learning rate lr_t in effect for training step t + 1, and
advances it after every optimiser step (``sched.step()``, torch's order: ``opt.step()`` then
``sched.step()``), or, for ``plateau``, after every evaluation (``sched.step(eval_loss)``). Each
update is torch's own recursive ("chainable") formula evaluated in the same order on Python
floats, so the lr sequence equals torch's to the last bit (float64), not just to rounding.
With eta the lr, eta_0 the optimiser's lr, e = 1, 2, ... the number of `step` calls:

    none         eta_e = eta_0
    step         eta_e = eta_{e-1} * gamma          if e % step_size == 0        (StepLR)
    multistep    eta_e = eta_{e-1} * gamma^c         c = times e is in milestones (MultiStepLR)
    exponential  eta_e = eta_{e-1} * gamma                                      (ExponentialLR)
    cosine       eta_e = (1 + cos(pi e / T)) / (1 + cos(pi (e-1) / T)) * (eta_{e-1} - eta_min)
                         + eta_min,  T = T_max - warmup_steps          (CosineAnnealingLR)
                 with warmup_steps = W > 0, first W steps of LinearLR from warmup_start_factor
                 to 1, i.e. torch's SequentialLR([LinearLR(opt, warmup_start_factor, 1.0, W),
                 CosineAnnealingLR(opt, T_max - W, eta_min)], milestones=[W])
    plateau      eta <- max(eta * factor, min_lr) when the eval loss has not improved on its best
                 (relative threshold) for more than `patience` evaluations, then `cooldown`
                 evaluations without counting                                (ReduceLROnPlateau)

The state (`state_arrays`) is a few int64/float64 scalars, npz-safe, so a run resumes with the
same lr sequence bit for bit.

    sched = make_scheduler("cosine", 1e-3, T_max=1000, warmup_steps=100)
    sched.lr                 # lr for the next optimiser step
    sched.step()             # after each optimiser step (plateau: sched.step(eval_loss))
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass, fields
from typing import Any, ClassVar

import numpy as np

from rnnbench.options import Float, Int, IntList, OptionError, check_fields, option, show
from rnnbench.state import check_state, scalars

__all__ = ["SCHEDULES", "Schedule", "make_scheduler"]

STEPS = Int(1, 10**9)
FACTOR = Float(0.0, 1.0, lo_open=True)  # a multiplicative decay: (0, 1]
NONNEGATIVE = Float(lo=0.0)


# --------------------------------------------------------------------------- the sched section


@dataclass
class NoneConfig:
    """sched=none: optim.lr throughout."""

    name: str = option("none", None, "the schedule")

    def __post_init__(self):
        check_fields(self, "sched")


@dataclass
class StepConfig:
    """sched=step: torch.optim.lr_scheduler.StepLR."""

    name: str = option("step", None, "the schedule")
    step_size: int = option(1500, STEPS, "multiply the lr by gamma every this many steps")
    gamma: float = option(0.5, FACTOR, "the factor (0.5: the adding recipe's halving)")

    def __post_init__(self):
        check_fields(self, "sched")


@dataclass
class MultiStepConfig:
    """sched=multistep: torch.optim.lr_scheduler.MultiStepLR."""

    name: str = option("multistep", None, "the schedule")
    milestones: list[int] = option([500, 750], IntList(1, 10**9), "steps after which lr *= gamma")
    gamma: float = option(0.1, FACTOR, "the factor at each milestone")

    def __post_init__(self):
        check_fields(self, "sched")


@dataclass
class ExponentialConfig:
    """sched=exponential: torch.optim.lr_scheduler.ExponentialLR."""

    name: str = option("exponential", None, "the schedule")
    gamma: float = option(0.999, FACTOR, "lr *= gamma after every step")

    def __post_init__(self):
        check_fields(self, "sched")


@dataclass
class CosineConfig:
    """sched=cosine: CosineAnnealingLR after an optional LinearLR warm-up (SequentialLR)."""

    name: str = option("cosine", None, "the schedule")
    T_max: int = option(1000, STEPS, "the step at which the cosine reaches eta_min")
    eta_min: float = option(0.0, NONNEGATIVE, "the final learning rate")
    warmup_steps: int = option(0, Int(0, 10**9), "linear warm-up steps (< T_max); 0: none")
    warmup_start_factor: float = option(
        1.0 / 3, FACTOR, "the warm-up starts at lr * this (LinearLR's start_factor)"
    )

    def __post_init__(self):
        check_fields(self, "sched")
        if self.warmup_steps >= self.T_max:
            raise OptionError(
                f"sched.warmup_steps must be < sched.T_max={self.T_max}, got {self.warmup_steps}"
            )


@dataclass
class PlateauConfig:
    """sched=plateau: ReduceLROnPlateau (mode min, relative threshold) on the eval loss."""

    name: str = option("plateau", None, "the schedule")
    factor: float = option(0.25, Float(0.0, 1.0, lo_open=True, hi_open=True), "lr *= factor")
    patience: int = option(2, Int(0, 10**9), "evaluations without improvement tolerated")
    threshold: float = option(
        1e-4, Float(0.0, 1.0, hi_open=True), "improvement: loss < best * (1 - threshold)"
    )
    cooldown: int = option(0, Int(0, 10**9), "evaluations not counted after a reduction")
    min_lr: float = option(0.0, NONNEGATIVE, "the lr never goes below this")
    eps: float = option(1e-8, NONNEGATIVE, "a reduction smaller than this is skipped")

    def __post_init__(self):
        check_fields(self, "sched")


# --------------------------------------------------------------------------- the schedules


class Schedule:
    """The lr and the count of `step` calls; subclasses give `_next(lr, e) -> lr`.

    `Config` is the dataclass of the schedule's options (the ``sched`` config section); each
    option becomes an attribute."""

    name: ClassVar[str] = "none"
    Config: ClassVar[type] = NoneConfig
    on_eval: ClassVar[bool] = False  # True: stepped with the eval loss after each evaluation

    def __init__(self, lr: float, config: Any = None):
        self.base_lr = Float(lo=0.0, lo_open=True).check("optim.lr", lr)
        config = self.Config() if config is None else config
        for f in fields(config):
            if f.name != "name":
                setattr(self, f.name, getattr(config, f.name))
        self.lr = self.base_lr
        self.last_epoch = 0

    def step(self, metric: float | None = None) -> float:
        """Advance one step (after an optimiser step); return the new lr."""
        self.last_epoch += 1
        self.lr = self._next(self.lr, self.last_epoch)
        return self.lr

    def advance(self, evaluated: Mapping[str, float] | None) -> float:
        """After a training step and its evaluation (None if none): the next step's lr.
        Plateau steps after evaluations only, on their loss; the others after every step."""
        if not self.on_eval:
            return self.step()
        return self.lr if evaluated is None else self.step(evaluated["loss"])

    def _next(self, lr: float, e: int) -> float:
        return lr

    def _extra_state(self) -> dict[str, float | int]:
        return {}

    def state_arrays(self) -> dict[str, np.ndarray]:
        """``lr`` (float64), ``last_epoch`` (int64) and the schedule's counters, npz-safe."""
        return scalars({"lr": self.lr, "last_epoch": self.last_epoch, **self._extra_state()})

    def load_state_arrays(self, d: Mapping[str, np.ndarray]) -> None:
        """Restore a `state_arrays()` dict; keys and dtypes must be this schedule's."""
        for k, v in check_state(f"{self.name} schedule", d, self.state_arrays()).items():
            setattr(self, k, float(v) if v.dtype.kind == "f" else int(v))


class Step(Schedule):
    """StepLR: multiply by gamma every `step_size` steps."""

    name, Config = "step", StepConfig

    def _next(self, lr, e):
        return lr if e % self.step_size != 0 else lr * self.gamma


class MultiStep(Schedule):
    """MultiStepLR: multiply by gamma^c at a step listed c times in `milestones`."""

    name, Config = "multistep", MultiStepConfig

    def _next(self, lr, e):
        count = self.milestones.count(e)
        return lr if count == 0 else lr * self.gamma**count


class Exponential(Schedule):
    """ExponentialLR: multiply by gamma every step."""

    name, Config = "exponential", ExponentialConfig

    def _next(self, lr, e):
        return lr * self.gamma


class Cosine(Schedule):
    """CosineAnnealingLR over T_max - warmup_steps steps, after an optional LinearLR warm-up.

    The warm-up's first lr is ``lr * warmup_start_factor`` (torch applies LinearLR's factor at
    construction); at step ``warmup_steps`` the cosine phase starts from its closed form at 0.
    """

    name, Config = "cosine", CosineConfig

    def __init__(self, lr: float, config: Any = None):
        super().__init__(lr, config)
        if self.warmup_steps > 0:
            self.lr = self.base_lr * self.warmup_start_factor

    def _next(self, lr, e):
        W = self.warmup_steps
        if e < W:  # LinearLR.get_lr with end_factor 1 (its last_epoch is e, never > W here)
            sf, ef = self.warmup_start_factor, 1.0
            return lr * (1.0 + (ef - sf) / (W * sf + (e - 1) * (ef - sf)))
        T, t = self.T_max - W, e - W  # the cosine scheduler's own T_max and last_epoch
        if W > 0 and t == 0:  # SequentialLR's milestone: CosineAnnealingLR's closed form at 0
            return self.eta_min + (self.base_lr - self.eta_min) * (1 + math.cos(0.0)) / 2
        if (t - 1 - T) % (2 * T) == 0:
            return lr + (self.base_lr - self.eta_min) * (1 - math.cos(math.pi / T)) / 2
        return (1 + math.cos(math.pi * t / T)) / (1 + math.cos(math.pi * (t - 1) / T)) * (
            lr - self.eta_min
        ) + self.eta_min


class Plateau(Schedule):
    """ReduceLROnPlateau (mode min, relative threshold) on the eval loss, one step per eval.

    Defaults follow the word-language-model recipe (divide by 4 when the held-out loss stops
    improving) with a patience of 2 evaluations; torch's own are factor 0.1, patience 10.
    """

    name, Config = "plateau", PlateauConfig
    on_eval = True

    def __init__(self, lr: float, config: Any = None):
        super().__init__(lr, config)
        self.best = math.inf
        self.num_bad_epochs = 0
        self.cooldown_counter = 0

    def step(self, metric: float | None = None) -> float:
        """One evaluation's loss `metric` (NaN counts as no improvement, as in torch)."""
        if metric is None:
            raise ValueError("the plateau schedule steps on the eval loss: step(metric)")
        current = float(metric)
        self.last_epoch += 1
        if current < self.best * (1.0 - self.threshold):
            self.best, self.num_bad_epochs = current, 0
        else:
            self.num_bad_epochs += 1
        if self.cooldown_counter > 0:
            self.cooldown_counter -= 1
            self.num_bad_epochs = 0
        if self.num_bad_epochs > self.patience:
            new_lr = max(self.lr * self.factor, self.min_lr)
            if self.lr - new_lr > self.eps:
                self.lr = new_lr
            self.cooldown_counter, self.num_bad_epochs = self.cooldown, 0
        return self.lr

    def _extra_state(self):
        return {
            "best": self.best,
            "num_bad_epochs": self.num_bad_epochs,
            "cooldown_counter": self.cooldown_counter,
        }


SCHEDULES: dict[str, type[Schedule]] = {
    cls.name: cls for cls in (Schedule, Step, MultiStep, Exponential, Cosine, Plateau)
}


def make_scheduler(name: str, lr: float, **options) -> Schedule:
    """The schedule `name` (a key of `SCHEDULES`) starting from the optimiser's `lr`.

    `options` are the fields of its ``Config`` (torch's names); an unknown one or a value out
    of range raises ValueError naming ``sched.<key>``.
    """
    if name not in SCHEDULES:
        raise OptionError(f"sched.name must be one of {', '.join(SCHEDULES)}, got {show(name)}")
    cls = SCHEDULES[name]
    allowed = [f.name for f in fields(cls.Config) if f.name != "name"]
    unknown = sorted(set(options) - set(allowed))
    if unknown:
        raise OptionError(
            f"sched.{unknown[0]} is not an option of {name} "
            f"(allowed: {', '.join(allowed) or 'none'})"
        )
    return cls(lr, cls.Config(**options))
