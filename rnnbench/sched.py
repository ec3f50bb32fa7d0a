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

    sched = make_scheduler("cosine", lr=1e-3, T_max=1000, warmup_steps=100)
    sched.lr                 # lr for the next optimiser step
    sched.step()             # after each optimiser step (plateau: sched.step(eval_loss))
"""

from __future__ import annotations

import inspect
import math
from collections.abc import Mapping

import numpy as np

__all__ = ["SCHEDULES", "Schedule", "make_scheduler"]


def _check(key: str, value, ok, what: str):
    if isinstance(value, bool) or not isinstance(value, (int, float, np.integer, np.floating)):
        raise ValueError(f"sched.{key} must be {what}, got {value!r}")
    if not math.isfinite(float(value)) or not ok(value):
        raise ValueError(f"sched.{key} must be {what}, got {value!r}")
    return value


def _int(key: str, value, lo: int):
    if isinstance(value, float) or (isinstance(value, np.floating)):
        raise ValueError(f"sched.{key} must be an integer >= {lo}, got {value!r}")
    return int(_check(key, value, lambda v: v >= lo, f"an integer >= {lo}"))


class Schedule:
    """The lr and the count of `step` calls; subclasses give `_next(lr, e) -> lr`."""

    name = "none"
    on_eval = False  # True: stepped with the eval loss after each evaluation (plateau)

    def __init__(self, lr: float):
        self.base_lr = float(_check("lr", lr, lambda v: v > 0, "a finite number > 0"))
        self.lr = self.base_lr
        self.last_epoch = 0

    def step(self, metric: float | None = None) -> float:
        """Advance one step (after an optimiser step); return the new lr."""
        self.last_epoch += 1
        self.lr = self._next(self.lr, self.last_epoch)
        return self.lr

    def _next(self, lr: float, e: int) -> float:
        return lr

    def _extra_state(self) -> dict[str, float | int]:
        return {}

    def state_arrays(self) -> dict[str, np.ndarray]:
        """``lr`` (float64), ``last_epoch`` (int64) and the schedule's counters, npz-safe."""
        out = {"lr": np.float64(self.lr), "last_epoch": np.int64(self.last_epoch)}
        for k, v in self._extra_state().items():
            out[k] = np.float64(v) if isinstance(v, float) else np.int64(v)
        return {k: np.asarray(v) for k, v in out.items()}

    def load_state_arrays(self, d: Mapping[str, np.ndarray]) -> None:
        expected = set(self.state_arrays())
        if set(d) != expected:
            raise ValueError(
                f"{self.name} schedule state has keys {sorted(d)}, not {sorted(expected)}"
            )
        for k in expected:
            v = np.asarray(d[k])
            setattr(self, k, float(v) if v.dtype.kind == "f" else int(v))


class Step(Schedule):
    """StepLR: multiply by gamma every `step_size` steps."""

    name = "step"

    def __init__(self, lr: float, step_size: int = 1500, gamma: float = 0.5):
        super().__init__(lr)
        self.step_size = _int("step_size", step_size, 1)
        self.gamma = float(_check("gamma", gamma, lambda v: 0 < v <= 1, "a number in (0, 1]"))

    def _next(self, lr, e):
        return lr if e % self.step_size != 0 else lr * self.gamma


class MultiStep(Schedule):
    """MultiStepLR: multiply by gamma^c at a step listed c times in `milestones`."""

    name = "multistep"

    def __init__(self, lr: float, milestones=(500, 750), gamma: float = 0.1):
        super().__init__(lr)
        if isinstance(milestones, (str, bytes)) or not hasattr(milestones, "__iter__"):
            raise ValueError(
                f"sched.milestones must be a list of integers >= 1, got {milestones!r}"
            )
        self.milestones = tuple(_int("milestones", m, 1) for m in milestones)
        self.gamma = float(_check("gamma", gamma, lambda v: 0 < v <= 1, "a number in (0, 1]"))

    def _next(self, lr, e):
        count = self.milestones.count(e)
        return lr if count == 0 else lr * self.gamma**count


class Exponential(Schedule):
    """ExponentialLR: multiply by gamma every step."""

    name = "exponential"

    def __init__(self, lr: float, gamma: float = 0.999):
        super().__init__(lr)
        self.gamma = float(_check("gamma", gamma, lambda v: 0 < v <= 1, "a number in (0, 1]"))

    def _next(self, lr, e):
        return lr * self.gamma


class Cosine(Schedule):
    """CosineAnnealingLR over T_max - warmup_steps steps, after an optional LinearLR warm-up.

    The warm-up's first lr is ``lr * warmup_start_factor`` (torch applies LinearLR's factor at
    construction); at step ``warmup_steps`` the cosine phase starts from its closed form at 0.
    """

    name = "cosine"

    def __init__(
        self,
        lr: float,
        T_max: int = 1000,
        eta_min: float = 0.0,
        warmup_steps: int = 0,
        warmup_start_factor: float = 1.0 / 3,
    ):
        super().__init__(lr)
        self.T_max = _int("T_max", T_max, 1)
        self.eta_min = float(_check("eta_min", eta_min, lambda v: v >= 0, "a finite number >= 0"))
        self.warmup_steps = _int("warmup_steps", warmup_steps, 0)
        self.warmup_start_factor = float(
            _check(
                "warmup_start_factor",
                warmup_start_factor,
                lambda v: 0 < v <= 1,
                "a number in (0, 1]",
            )
        )
        if self.warmup_steps >= self.T_max:
            raise ValueError(
                f"sched.warmup_steps must be < sched.T_max={self.T_max}, got {self.warmup_steps}"
            )
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

    name = "plateau"
    on_eval = True

    def __init__(
        self,
        lr: float,
        factor: float = 0.25,
        patience: int = 2,
        threshold: float = 1e-4,
        cooldown: int = 0,
        min_lr: float = 0.0,
        eps: float = 1e-8,
    ):
        super().__init__(lr)
        self.factor = float(_check("factor", factor, lambda v: 0 < v < 1, "a number in (0, 1)"))
        self.patience = _int("patience", patience, 0)
        self.threshold = float(
            _check("threshold", threshold, lambda v: 0 <= v < 1, "a number in [0, 1)")
        )
        self.cooldown = _int("cooldown", cooldown, 0)
        self.min_lr = float(_check("min_lr", min_lr, lambda v: v >= 0, "a finite number >= 0"))
        self.eps = float(_check("eps", eps, lambda v: v >= 0, "a finite number >= 0"))
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

    `options` are the schedule's keywords (see each class; torch's names); an unknown one or a
    value out of range raises ValueError naming ``sched.<key>``.
    """
    if name not in SCHEDULES:
        raise ValueError(f"sched.name must be one of {', '.join(SCHEDULES)}, got {name!r}")
    cls = SCHEDULES[name]
    allowed = [p for p in inspect.signature(cls.__init__).parameters if p not in ("self", "lr")]
    unknown = sorted(set(options) - set(allowed))
    if unknown:
        raise ValueError(
            f"sched.{unknown[0]} is not an option of {name} "
            f"(allowed: {', '.join(allowed) or 'none'})"
        )
    return cls(lr, **options)
