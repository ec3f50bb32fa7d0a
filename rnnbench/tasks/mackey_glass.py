"""Mackey-Glass forecasting: predict a chaotic series `horizon` steps ahead from a window of T.

The series solves the delay differential equation (Mackey & Glass 1977)

    dx/dt = beta x(t - tau) / (1 + x(t - tau)^n) - gamma x(t),

chaotic for the classic beta = 0.2, gamma = 0.1, n = 10, tau = 17 (the defaults, all options).
Generation, deterministic: history x(t) = 1.2 for t <= 0; classic fourth-order Runge-Kutta with
step dt = 0.1 (the delayed value at a half step is the mean of its two grid neighbours, so tau
must be a multiple of dt); the first 1000 time units are dropped; then N = 12000 samples, one per
time unit. The first 80 % form the training segment, the rest the test segment; the series is
standardised, z = (x - m) / s with the mean m and deviation s of the training segment.

One example: a window z_s .. z_{s+T-1} (input width 1, T = task.seq_len) and the target
z_{s+T-1+h}, h = task.horizon; windows lie wholly inside one segment. Training batches draw s
uniformly; the evaluation set (`held_out`) is every test window when train.eval_size is at least
their number, else a random subset fixed by the seed. One output, MSE at the last step.

Baselines, computed on every test window (and stored in summary.json as `baselines`):
    persistence   z_{t+h} ~ z_t, the memoryless forecast: `baseline_loss`
    linear_ar     least squares on the training windows: z_{t+h} ~ c + sum_{i<p} a_i z_{t-i},
                  p = task.ar_order <= T (so the network sees at least what the AR model sees)
    mean          z_{t+h} ~ 0, the training mean (MSE about the variance of the test segment)
Solved: eval MSE below the linear AR model's. No accuracy (a regression without a tolerance).
"""

from __future__ import annotations

import math
import numbers
from functools import cache

import numpy as np

from rnnbench.tasks.base import (
    Batch,
    Task,
    check_dtype,
    check_int,
    check_output,
    check_rng,
    mean_squared_error,
)

DT = 0.1  # integration step, time units
HISTORY = 1.2  # x(t) for t <= 0
WASHOUT = 1000  # time units dropped before sampling
N_SAMPLES = 12_000  # one per time unit
TRAIN_FRACTION = 0.8


def _positive(key: str, value) -> float:
    if isinstance(value, bool) or not isinstance(value, numbers.Real) or not value > 0:
        raise ValueError(f"{key} must be a finite number > 0, got {value!r}")
    if not math.isfinite(value):
        raise ValueError(f"{key} must be a finite number > 0, got {value!r}")
    return float(value)


@cache
def series(tau: float, beta: float, gamma: float, exponent: float) -> np.ndarray:
    """The N_SAMPLES raw samples x(k), k = 1..N after the washout: (N,) float64."""
    d = round(tau / DT)  # the delay in grid steps
    every = round(1 / DT)
    total = round(WASHOUT / DT) + N_SAMPLES * every
    x = [HISTORY] * (d + 1) + [0.0] * total  # x[i] is the value at grid step i - d

    def f(xt: float, xd: float) -> float:
        return beta * xd / (1.0 + xd**exponent) - gamma * xt

    for k in range(d, d + total):  # RK4 from grid step k - d to k - d + 1
        xt, xd0, xd1 = x[k], x[k - d], x[k - d + 1]
        xdh = 0.5 * (xd0 + xd1)
        k1 = f(xt, xd0)
        k2 = f(xt + 0.5 * DT * k1, xdh)
        k3 = f(xt + 0.5 * DT * k2, xdh)
        k4 = f(xt + DT * k3, xd1)
        x[k + 1] = xt + DT / 6.0 * (k1 + 2.0 * k2 + 2.0 * k3 + k4)
    start = d + round(WASHOUT / DT) + every
    return np.array(x[start::every][:N_SAMPLES])


def lagged(z: np.ndarray, T: int, h: int, p: int) -> tuple[np.ndarray, np.ndarray]:
    """Every window of segment z: (the last p values of each, newest first (W, p); targets (W,))."""
    last = np.arange(T - 1, z.size - h)  # index of each window's last step
    lags = z[last[:, None] - np.arange(p)[None, :]]  # (W, p)
    return lags, z[last + h]


class MackeyGlassTask(Task):
    name = "mackey_glass"
    min_seq_len = 1
    loss_steps = "last"
    input_size = 1
    output_size = 1
    solve_metric = "loss"
    loss_units = "MSE, standardised series"

    def __init__(
        self,
        seq_len: int = 50,
        *,
        horizon: int = 10,
        ar_order: int = 10,
        tau: float = 17.0,
        beta: float = 0.2,
        gamma: float = 0.1,
        exponent: float = 10.0,
    ):
        self.ar_order = check_int("task.ar_order", ar_order, 1)
        self.min_seq_len = self.ar_order
        super().__init__(seq_len)  # T >= p: the window holds the AR model's lags
        self.horizon = check_int("task.horizon", horizon, 1)
        self.tau = _positive("task.tau", tau)
        if abs(self.tau / DT - round(self.tau / DT)) > 1e-9:
            raise ValueError(f"task.tau must be a multiple of the step {DT}, got {tau!r}")
        self.beta = _positive("task.beta", beta)
        self.gamma = _positive("task.gamma", gamma)
        self.exponent = _positive("task.exponent", exponent)
        windows = N_SAMPLES - round(N_SAMPLES * TRAIN_FRACTION) - self.seq_len - self.horizon + 1
        if windows < 1:
            raise ValueError(
                f"task.seq_len + task.horizon must leave a test window in the "
                f"{N_SAMPLES - round(N_SAMPLES * TRAIN_FRACTION)} test samples, "
                f"got {self.seq_len} + {self.horizon}"
            )

    @property
    def options(self) -> dict:
        return {
            "seq_len": self.seq_len,
            "horizon": self.horizon,
            "ar_order": self.ar_order,
            "tau": self.tau,
            "beta": self.beta,
            "gamma": self.gamma,
            "exponent": self.exponent,
        }

    @property
    def params(self) -> tuple[float, float, float, float]:
        """(tau, beta, gamma, exponent): what the series depends on."""
        return (self.tau, self.beta, self.gamma, self.exponent)

    def segments(self) -> tuple[np.ndarray, np.ndarray]:
        """The standardised (train, test) segments, float64."""
        return segments(*self.params)

    @property
    def baselines(self) -> dict[str, float]:
        return dict(_baselines(self.seq_len, self.horizon, self.ar_order, self.params))

    @property
    def baseline_loss(self) -> float:
        return self.baselines["persistence"]

    @property
    def solve_threshold(self) -> float:
        return self.baselines["linear_ar"]

    def _batch(self, z: np.ndarray, starts: np.ndarray, dtype) -> Batch:
        """x: (T, B, 1) of `dtype`; target: (B,) of `dtype`."""
        T = self.seq_len
        x = z[starts[None, :] + np.arange(T)[:, None]]  # (T, B)
        target = z[starts + T - 1 + self.horizon]
        return Batch(x=x[:, :, None].astype(dtype), target=target.astype(dtype))

    def _starts(self, z: np.ndarray) -> int:
        return z.size - self.seq_len - self.horizon + 1  # number of windows in the segment

    def sample(self, rng: np.random.Generator, batch_size: int, dtype=np.float64) -> Batch:
        rng = check_rng(rng)
        b = check_int("batch_size", batch_size, 1)
        dtype = check_dtype(dtype)
        train, _ = self.segments()
        return self._batch(train, rng.integers(0, self._starts(train), size=b), dtype)

    def held_out(self, rng: np.random.Generator, size: int, dtype=np.float64) -> Batch:
        rng = check_rng(rng)
        size = check_int("train.eval_size", size, 1)
        dtype = check_dtype(dtype)
        _, test = self.segments()
        n = self._starts(test)
        starts = np.arange(n) if size >= n else np.sort(rng.choice(n, size=size, replace=False))
        return self._batch(test, starts, dtype)

    def loss(self, y: np.ndarray, batch: Batch) -> tuple[float, np.ndarray]:
        """y: (1, B, 1) -> (MSE over the batch, dy (1, B, 1))."""
        check_output(y, self.output_shape(batch))
        return mean_squared_error(y, batch.target.reshape(y.shape))

    def metrics(self, y: np.ndarray, batch: Batch) -> dict[str, float]:
        loss, _ = self.loss(y, batch)
        return {"loss": loss}


@cache
def segments(tau: float, beta: float, gamma: float, exponent: float):
    """The standardised (train, test) segments of the series, float64."""
    x = series(tau, beta, gamma, exponent)
    if not np.all(np.isfinite(x)):
        raise ValueError("task: the Mackey-Glass series diverges for these parameters")
    n = round(N_SAMPLES * TRAIN_FRACTION)
    m, s = x[:n].mean(), x[:n].std()
    if not s > 1e-9 * max(1.0, abs(m)):
        raise ValueError("task: the Mackey-Glass series is constant for these parameters")
    z = (x - m) / s
    z.flags.writeable = False  # shared by every task with these parameters
    return z[:n], z[n:]


@cache
def _baselines(T: int, h: int, p: int, params: tuple) -> tuple[tuple[str, float], ...]:
    """MSE of the persistence, linear AR(p) and mean forecasts on every test window."""
    train, test = segments(*params)
    lags, target = lagged(train, T, h, p)
    design = np.hstack([lags, np.ones((lags.shape[0], 1))])  # (W, p + 1)
    coef, *_ = np.linalg.lstsq(design, target, rcond=None)
    test_lags, test_target = lagged(test, T, h, p)
    ar = np.hstack([test_lags, np.ones((test_lags.shape[0], 1))]) @ coef
    return (
        ("persistence", float(np.mean((test_target - test_lags[:, 0]) ** 2))),
        ("linear_ar", float(np.mean((test_target - ar) ** 2))),
        ("mean", float(np.mean(test_target**2))),
    )
