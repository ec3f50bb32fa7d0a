"""Adding task: remember two marked values and output their sum at the last step.

Input width 2: channel 0 the values, channel 1 the markers. One output, MSE at the last step only
(y is (1, B, 1)), averaged over the batch.

Convention "le2015" (Le, Jaitly & Hinton 2015; also Arjovsky et al. 2016), length exactly T:
    values U[0, 1]; marker 1 at exactly two steps, i1 uniform in [0, T//2) and i2 uniform in
    [T//2, T), else 0; target X1 + X2.
    Memoryless baseline: the constant 1 = E[X1 + X2] gives MSE Var(U1 + U2) = 2/12 = 1/6.

Convention "hochreiter1997" (Hochreiter & Schmidhuber 1997, experiment 4), minimal length T >= 22:
    length L uniform in [T, T + T//10], drawn ONCE per batch so the batch is a dense (L, B, 2)
    array (the paper draws per sequence; the last step is then the end of every sequence);
    values U[-1, 1]; i1 uniform among the first 10 steps [0, 10); i2 uniform among the first
    T//2 - 1 steps [0, T//2 - 1) minus i1; marker 1 at i1 and i2, -1 at the first and last step
    (unless marked), else 0; target 0.5 + (X1 + X2) / 4.
    Memoryless baseline: the constant 0.5 gives MSE Var(X1 + X2) / 16 = (2/3) / 16 = 1/24.
    The paper also sets X1 to 0 when step 0 is marked; we keep the value, so the target is always
    the scaled sum of two independent U[-1, 1] values and the baseline is exactly 1/24.

Metrics: "loss" (MSE) and "accuracy", the fraction of sequences with |y - target| < 0.04
(Hochreiter & Schmidhuber's criterion for a correct sequence). Solved: MSE < 0.01 in both
conventions (for "hochreiter1997" this is the paper's threshold on its scaled target).
"""

from __future__ import annotations

import numpy as np

from rnnbench.tasks.base import (
    Batch,
    Task,
    check_choice,
    check_dtype,
    check_int,
    check_output,
    check_rng,
    mean_squared_error,
)

TOLERANCE = 0.04  # |error| below this counts a sequence as correct
MIN_SEQ_LEN = {"le2015": 2, "hochreiter1997": 22}  # hochreiter1997: T//2 - 1 >= 10
BASELINE = {"le2015": 1.0 / 6.0, "hochreiter1997": 1.0 / 24.0}


def marked_pairs(
    rng: np.random.Generator, T: int, b: int, convention: str, low: float, dtype: np.dtype
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """The adding problem's input layout, values U[low, 1]: (x (L, B, 2), X1 (B,), X2 (B,)).

    X1 and X2 are the marked values, read back from x (of `dtype`) so they equal what the
    network sees.
    """
    cols = np.arange(b)
    if convention == "le2015":
        values = rng.uniform(low, 1.0, size=(T, b))  # (T, B)
        i1 = rng.integers(0, T // 2, size=b)  # first half
        i2 = rng.integers(T // 2, T, size=b)  # second half
        markers = np.zeros((T, b))
    else:
        L = int(rng.integers(T, T + T // 10 + 1))  # one length per batch
        values = rng.uniform(low, 1.0, size=(L, b))  # (L, B)
        window = T // 2 - 1  # >= 10, so [0, 10) lies inside [0, window)
        i1 = rng.integers(0, 10, size=b)
        j = rng.integers(0, window - 1, size=b)
        i2 = j + (j >= i1)  # uniform on [0, window) without i1
        markers = np.zeros((L, b))
        markers[0] = -1.0
        markers[L - 1] = -1.0
    markers[i1, cols] = 1.0
    markers[i2, cols] = 1.0
    x = np.stack([values, markers], axis=-1).astype(dtype)  # (L, B, 2)
    return x, x[i1, cols, 0], x[i2, cols, 0]


class AddingTask(Task):
    name = "adding"
    min_seq_len = 2  # smallest over conventions; the instance holds its convention's minimum
    loss_steps = "last"
    conventions = ("le2015", "hochreiter1997")
    input_size = 2
    output_size = 1
    solve_metric = "loss"
    solve_threshold = 0.01
    loss_units = "MSE"
    value_low = {"le2015": 0.0, "hochreiter1997": -1.0}  # values U[low, 1]

    def __init__(self, seq_len: int = 100, *, convention: str = "le2015"):
        self.convention = check_choice("task.convention", convention, self.conventions)
        self.min_seq_len = MIN_SEQ_LEN[self.convention]
        super().__init__(seq_len)

    @property
    def options(self) -> dict:
        return {"seq_len": self.seq_len, "convention": self.convention}

    @property
    def baseline_loss(self) -> float:
        return BASELINE[self.convention]

    def sample(self, rng: np.random.Generator, batch_size: int, dtype=np.float64) -> Batch:
        """x: (L, B, 2) of `dtype`; target: (B,) of `dtype`."""
        rng = check_rng(rng)
        b = check_int("batch_size", batch_size, 1)
        dtype = check_dtype(dtype)
        low = self.value_low[self.convention]
        x, x1, x2 = marked_pairs(rng, self.seq_len, b, self.convention, low, dtype)
        return Batch(x=x, target=self.combine(x1, x2).astype(dtype, copy=False))

    def combine(self, x1: np.ndarray, x2: np.ndarray) -> np.ndarray:
        """The target from the two marked values (B,), (B,) -> (B,)."""
        total = x1 + x2
        return total if self.convention == "le2015" else 0.5 + total / 4

    def loss(self, y: np.ndarray, batch: Batch) -> tuple[float, np.ndarray]:
        """y: (1, B, 1) -> (MSE over the batch, dy (1, B, 1))."""
        check_output(y, self.output_shape(batch))
        return mean_squared_error(y, batch.target.reshape(y.shape))

    def metrics(self, y: np.ndarray, batch: Batch) -> dict[str, float]:
        loss, _ = self.loss(y, batch)
        err = np.abs(y.reshape(-1) - batch.target)  # (B,)
        return {"loss": loss, "accuracy": float(np.mean(err < TOLERANCE))}
