"""Shared pieces of every task: the `Batch`, the `Task` base class, argument checks and the losses.

Losses, with N the number of scored predictions (steps x batch):

    softmax cross-entropy   L = -(1/N) sum_n log softmax(y_n)[k_n]
                            log softmax(y)_c = y_c - m - log sum_j exp(y_j - m),  m = max_j y_j
                            dL/dy_n = (softmax(y_n) - onehot(k_n)) / N
    mean squared error      L = (1/N) sum_n (y_n - t_n)^2,   dL/dy_n = 2 (y_n - t_n) / N

`dy` keeps the dtype of `y` (float32 or float64); the loss is returned as a Python float.
"""

from __future__ import annotations

import numbers
from dataclasses import dataclass
from typing import ClassVar

import numpy as np

DTYPES = (np.dtype(np.float32), np.dtype(np.float64))


@dataclass(frozen=True)
class Batch:
    """One batch of a task.

    x: (T, B, I) network input of the requested float dtype.
    target: task-specific; class indices (int64) or regression targets (float, dtype of x).
    """

    x: np.ndarray
    target: np.ndarray

    @property
    def seq_len(self) -> int:
        return self.x.shape[0]

    @property
    def batch_size(self) -> int:
        return self.x.shape[1]


# --- argument checks: one-line messages that name the key ---------------------------------------


def check_int(key: str, value, minimum: int) -> int:
    if isinstance(value, bool) or not isinstance(value, numbers.Integral) or value < minimum:
        raise ValueError(f"{key} must be an integer >= {minimum}, got {value!r}")
    return int(value)


def check_bool(key: str, value) -> bool:
    if not isinstance(value, bool | np.bool_):
        raise ValueError(f"{key} must be a bool (true/false), got {value!r}")
    return bool(value)


def check_choice(key: str, value, choices) -> str:
    if value not in choices:
        raise ValueError(f"{key} must be one of {sorted(choices)}, got {value!r}")
    return value


def check_dtype(dtype) -> np.dtype:
    try:
        dt = np.dtype(dtype)
    except TypeError as err:
        raise ValueError(f"dtype must be float32 or float64, got {dtype!r}") from err
    if dt not in DTYPES:
        raise ValueError(f"dtype must be float32 or float64, got {dtype!r}")
    return dt


def check_rng(rng) -> np.random.Generator:
    if not isinstance(rng, np.random.Generator):
        raise TypeError(f"rng must be a numpy.random.Generator, got {type(rng).__name__}")
    return rng


def check_output(y: np.ndarray, shape: tuple[int, ...]) -> np.ndarray:
    """The readout output must be a float array of exactly `shape` (S, B, O)."""
    if not isinstance(y, np.ndarray) or y.dtype not in DTYPES:
        raise ValueError(f"y must be a float32/float64 ndarray, got {type(y).__name__}")
    if y.shape != shape:
        raise ValueError(f"y must have shape (S, B, O) = {shape}, got {y.shape}")
    return y


# --- encodings and losses -------------------------------------------------------------------------


def one_hot(tokens: np.ndarray, n: int, dtype) -> np.ndarray:
    """(T, B) integer tokens in [0, n) -> (T, B, n) one-hot of `dtype`."""
    return np.eye(n, dtype=dtype)[tokens]


def softmax_cross_entropy(logits: np.ndarray, labels: np.ndarray) -> tuple[float, np.ndarray]:
    """Mean softmax cross-entropy over all leading positions, computed through log-sum-exp.

    logits: (..., C) float; labels: (...) int in [0, C). Returns (loss, dlogits) with dlogits of
    the shape and dtype of `logits`: (softmax - onehot) / N, N = labels.size.
    """
    c = logits.shape[-1]
    labels = labels.reshape(-1)  # (N,)
    n = labels.size
    rows = np.arange(n)
    z = logits.reshape(n, c)
    z = z - z.max(axis=1, keepdims=True)  # (N, C), row max 0: exp cannot overflow
    e = np.exp(z)
    s = e.sum(axis=1)  # (N,), >= 1
    log_p = z[rows, labels] - np.log(s)  # (N,) log softmax at the true class
    loss = -float(log_p.sum(dtype=np.float64)) / n
    dlogits = e / s[:, None]  # softmax, (N, C)
    dlogits[rows, labels] -= 1.0
    dlogits /= n
    return loss, dlogits.reshape(logits.shape)


def mean_squared_error(y: np.ndarray, target: np.ndarray) -> tuple[float, np.ndarray]:
    """L = mean (y - target)^2 over all entries; dL/dy = 2 (y - target) / N, dtype of y."""
    diff = y - target.astype(y.dtype, copy=False)
    loss = float(np.mean(np.square(diff, dtype=np.float64)))
    return loss, (diff * (2.0 / diff.size)).astype(y.dtype, copy=False)


# --- the base class -------------------------------------------------------------------------------


class Task:
    """Base class. Subclasses set the class attributes and implement `sample`, `loss`, `metrics`.

    Attributes every task exposes:
        name, min_seq_len, loss_steps ("all": score every step, y is (T, B, O);
        "last": score the last step only, y is (1, B, O)), input_size, output_size, seq_len,
        baseline_loss (the analytic memoryless baseline), baselines (every naive baseline by name,
        the memoryless one included), solve_metric, solve_threshold, loss_units (the y-axis
        label of the loss, e.g. "MSE").

    Data: `sample` draws a training batch; `held_out` the evaluation set. Generated tasks draw
    both from the same distribution; tasks backed by a data set draw them from its train and
    test splits.
    """

    name: ClassVar[str]
    min_seq_len: ClassVar[int]
    loss_steps: ClassVar[str]
    input_size: int
    output_size: int
    solve_metric: str  # key of metrics() that decides `solved`
    solve_threshold: float
    loss_units: ClassVar[str] = "cross-entropy, nats"

    def __init__(self, seq_len: int):
        self.seq_len = check_int("task.seq_len", seq_len, self.min_seq_len)

    @property
    def options(self) -> dict:
        """The constructor arguments, e.g. for records: make_task(task.name, **task.options)."""
        return {"seq_len": self.seq_len}

    def __repr__(self) -> str:
        args = ", ".join(f"{k}={v!r}" for k, v in self.options.items())
        return f"{type(self).__name__}({args})"

    @property
    def baseline_loss(self) -> float:
        raise NotImplementedError

    @property
    def baselines(self) -> dict[str, float]:
        """Every naive baseline of the task by name; the memoryless one is `baseline_loss`."""
        return {"memoryless": self.baseline_loss}

    def output_shape(self, batch: Batch) -> tuple[int, int, int]:
        """Shape (S, B, O) of the readout output that `loss` and `metrics` expect."""
        s = batch.seq_len if self.loss_steps == "all" else 1
        return (s, batch.batch_size, self.output_size)

    def sample(self, rng: np.random.Generator, batch_size: int, dtype=np.float64) -> Batch:
        raise NotImplementedError

    def held_out(self, rng: np.random.Generator, size: int, dtype=np.float64) -> Batch:
        """The evaluation set: `size` fresh sequences (data-set tasks: from the test split)."""
        return self.sample(rng, size, dtype)

    def loss(self, y: np.ndarray, batch: Batch) -> tuple[float, np.ndarray]:
        raise NotImplementedError

    def metrics(self, y: np.ndarray, batch: Batch) -> dict[str, float]:
        raise NotImplementedError

    def solved(self, metrics: dict[str, float]) -> bool:
        """Accuracy-type metrics must reach the threshold; the loss must fall below it."""
        value = metrics[self.solve_metric]
        if self.solve_metric == "loss":
            return bool(value < self.solve_threshold)
        return bool(value >= self.solve_threshold)
