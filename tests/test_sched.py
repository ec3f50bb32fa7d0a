"""rnnbench.sched against torch.optim.lr_scheduler: the lr sequence, bit for bit, and resuming."""

import io
import math
import re

import numpy as np
import pytest

from rnnbench.sched import SCHEDULES, make_scheduler

torch = pytest.importorskip("torch")
lrs = torch.optim.lr_scheduler

STEPS = 1000
LR = 0.00731  # not a power of two: rounding shows


def _torch_opt(lr=LR):
    p = torch.nn.Parameter(torch.zeros(1, dtype=torch.float64))
    return torch.optim.SGD([p], lr=lr)


def _torch_sequence(make, steps=STEPS):
    """The lr torch's optimiser uses at steps 1..steps (opt.step() then sched.step())."""
    opt = _torch_opt()
    sched = make(opt)
    out = []
    for _ in range(steps):
        out.append(opt.param_groups[0]["lr"])
        opt.step()
        sched.step()
    return out


def _ours(sched, steps=STEPS):
    out = []
    for _ in range(steps):
        out.append(sched.lr)
        sched.step()
    return out


CASES = [
    ("none", {}, lambda o: lrs.LambdaLR(o, lambda e: 1.0)),
    ("step", {}, lambda o: lrs.StepLR(o, step_size=1500, gamma=0.5)),
    ("step", {"step_size": 70, "gamma": 0.3}, lambda o: lrs.StepLR(o, 70, gamma=0.3)),
    ("multistep", {}, lambda o: lrs.MultiStepLR(o, [500, 750], gamma=0.1)),
    (
        "multistep",
        {"milestones": [3, 100, 100, 999], "gamma": 0.7},
        lambda o: lrs.MultiStepLR(o, [3, 100, 100, 999], gamma=0.7),
    ),
    ("exponential", {}, lambda o: lrs.ExponentialLR(o, gamma=0.999)),
    ("exponential", {"gamma": 0.97}, lambda o: lrs.ExponentialLR(o, gamma=0.97)),
    ("cosine", {}, lambda o: lrs.CosineAnnealingLR(o, T_max=1000)),
    # T_max < steps: torch's cosine turns back up (its restart branch)
    (
        "cosine",
        {"T_max": 300, "eta_min": 1e-4},
        lambda o: lrs.CosineAnnealingLR(o, T_max=300, eta_min=1e-4),
    ),
]

WARMUPS = [(100, 1.0 / 3, 0.0, 1000), (37, 0.01, 2e-5, 800), (1, 0.5, 0.0, 1000)]


@pytest.mark.parametrize(("name", "opts", "make"), CASES)
def test_lr_sequence_equals_torch_bit_for_bit(name, opts, make):
    ours = _ours(make_scheduler(name, LR, **opts))
    theirs = _torch_sequence(make)
    assert ours == theirs  # python floats: equality is to the last bit


@pytest.mark.parametrize(("warmup", "start", "eta_min", "t_max"), WARMUPS)
def test_cosine_warmup_equals_sequential_linear_then_cosine(warmup, start, eta_min, t_max):
    def make(o):
        return lrs.SequentialLR(
            o,
            [
                lrs.LinearLR(o, start_factor=start, end_factor=1.0, total_iters=warmup),
                lrs.CosineAnnealingLR(o, T_max=t_max - warmup, eta_min=eta_min),
            ],
            milestones=[warmup],
        )

    opts = {"T_max": t_max, "warmup_steps": warmup, "warmup_start_factor": start}
    ours = _ours(make_scheduler("cosine", LR, eta_min=eta_min, **opts))
    theirs = _torch_sequence(make)
    assert ours == theirs
    assert ours[0] == LR * start and max(ours) <= LR


def _losses(n=400, seed=3):
    """An eval-loss sequence with plateaus, improvements below the threshold, and a NaN."""
    rng = np.random.default_rng(seed)
    base = np.repeat(np.linspace(1.0, 0.2, n // 8), 8)
    noise = rng.normal(0, 0.02, n) * (rng.random(n) < 0.5)
    out = (base + noise).tolist()
    out[50] = math.nan
    out[60:64] = [out[59] * (1 - 1e-5)] * 4  # better, but not by the relative threshold
    return out


@pytest.mark.parametrize(
    "opts",
    [
        {},
        {"factor": 0.5, "patience": 0, "cooldown": 3},
        {"factor": 0.1, "patience": 5, "threshold": 0.0, "min_lr": 1e-4},
        {"factor": 0.9, "patience": 1, "eps": 3e-4},  # eps ends the reductions
    ],
)
def test_plateau_equals_reduce_lr_on_plateau(opts):
    losses = _losses()
    theirs_kw = {"factor": 0.25, "patience": 2, **opts}
    opt = _torch_opt()
    plateau = lrs.ReduceLROnPlateau(opt, **theirs_kw)
    ours = make_scheduler("plateau", LR, **opts)
    assert ours.on_eval
    seen = []
    for loss in losses:
        opt.step()
        plateau.step(loss)
        ours.step(loss)
        seen.append(ours.lr)
        assert ours.lr == opt.param_groups[0]["lr"]
    assert len(set(seen)) > 2  # the sequence did reduce, more than once


@pytest.mark.parametrize(
    ("name", "opts"),
    [("step", {"step_size": 7}), ("cosine", {"T_max": 90, "warmup_steps": 10}), ("plateau", {})],
)
def test_state_round_trip_resumes_bit_identically(name, opts):
    losses = _losses(120)
    full = make_scheduler(name, LR, **opts)
    first = make_scheduler(name, LR, **opts)

    def advance(s, i):
        s.step(losses[i]) if s.on_eval else s.step()

    for i in range(50):
        advance(full, i)
        advance(first, i)
    saved = {k: v.copy() for k, v in first.state_arrays().items()}
    np.savez(buf := io.BytesIO(), **saved)
    buf.seek(0)
    loaded = dict(np.load(buf, allow_pickle=False))
    resumed = make_scheduler(name, LR, **opts)
    resumed.load_state_arrays(loaded)
    for i in range(50, 120):
        advance(full, i)
        advance(resumed, i)
        assert resumed.lr == full.lr


@pytest.mark.parametrize(
    ("name", "opts", "message"),
    [
        ("cosin", {}, "sched.name must be one of none, step, multistep"),
        ("step", {"step_size": 0}, "sched.step_size must be an integer in [1, 1000000000]"),
        ("step", {"step_size": 2.5}, "sched.step_size must be an integer"),
        ("step", {"gamma": 1.5}, "sched.gamma must be a number in (0, 1]"),
        ("multistep", {"milestones": 5}, "sched.milestones must be a list of integers"),
        ("multistep", {"milestones": [0]}, "sched.milestones must be a list of integers in [1,"),
        ("multistep", {"milestones": [3, True]}, "sched.milestones must be a list of integers"),
        ("cosine", {"T_max": 10, "warmup_steps": 10}, "sched.warmup_steps must be < sched.T_max"),
        ("cosine", {"eta_min": -1.0}, "sched.eta_min must be a finite number >= 0"),
        ("plateau", {"factor": 1.0}, "sched.factor must be a number in (0, 1)"),
        ("plateau", {"gamma": 0.5}, "sched.gamma is not an option of plateau"),
        ("exponential", {"gamma": float("nan")}, "sched.gamma must be a number in (0, 1]"),
    ],
)
def test_bad_options_name_the_key(name, opts, message):
    with pytest.raises(ValueError, match="^" + re.escape(message)):
        make_scheduler(name, LR, **opts)


def test_every_schedule_has_working_defaults():
    for name, cls in SCHEDULES.items():
        s = make_scheduler(name, LR)
        for i in range(20):
            s.step(1.0) if cls.on_eval else s.step()
        assert 0 < s.lr <= LR
