"""Temporal order task (Hochreiter & Schmidhuber 1997, experiment 6a), positions scaled with T.

Eight symbols, one-hot in this order: E (start), B (end trigger), fillers a, b, c, d, and the
informative X, Y (indices 0..7). With length parameter T >= 10 (0-based steps):

    length  L uniform in [T, T + T//10], drawn ONCE per batch so the batch is a dense (L, B, 8)
            array (the paper draws per sequence); T = 100 gives the paper's [100, 110]
    t = 0        E;   t = L-1   B
    t1 uniform in [T//10, T//5]   (10-20 % of T; [10, 20] for T = 100), symbol X or Y
    t2 uniform in [T//2, 6T//10]  (50-60 % of T; [50, 60] for T = 100), symbol X or Y
    elsewhere    a filler drawn uniformly from a, b, c, d
    class   2 [s1 = Y] + [s2 = Y]:  XX = 0, XY = 1, YX = 2, YY = 3 (uniform)

Output: 4 logits read at the last step only (y is (1, B, 4)); loss softmax cross-entropy.
Memoryless baseline: chance, cross-entropy ln 4 (accuracy 0.25).
Metric "accuracy": argmax accuracy. Solved: accuracy >= 0.99 (the paper's criterion, every output
within 0.3 of its target, has no softmax equivalent; 0.99 matches the copy task's).
"""

from __future__ import annotations

import math

import numpy as np

from rnnbench.tasks.base import (
    Batch,
    Task,
    check_choice,
    check_dtype,
    check_int,
    check_output,
    check_rng,
    one_hot,
    softmax_cross_entropy,
)

SYMBOLS = ("E", "B", "a", "b", "c", "d", "X", "Y")
E, B, FILLER_LO, FILLER_HI, X, Y = 0, 1, 2, 5, 6, 7  # fillers are FILLER_LO..FILLER_HI
CLASSES = ("XX", "XY", "YX", "YY")


class TemporalOrderTask(Task):
    name = "temporal_order"
    min_seq_len = 10  # t1 >= T//10 >= 1 keeps step 0 for E
    loss_steps = "last"
    conventions = ("hochreiter1997",)
    input_size = len(SYMBOLS)
    output_size = len(CLASSES)
    solve_metric = "accuracy"
    solve_threshold = 0.99

    def __init__(self, seq_len: int = 100, *, convention: str = "hochreiter1997"):
        super().__init__(seq_len)
        self.convention = check_choice("task.convention", convention, self.conventions)

    @property
    def options(self) -> dict:
        return {"seq_len": self.seq_len, "convention": self.convention}

    @property
    def baseline_loss(self) -> float:
        return math.log(len(CLASSES))

    def windows(self) -> tuple[tuple[int, int], tuple[int, int]]:
        """Inclusive step ranges of t1 and t2."""
        T = self.seq_len
        return (T // 10, T // 5), (T // 2, 6 * T // 10)

    def sample(self, rng: np.random.Generator, batch_size: int, dtype=np.float64) -> Batch:
        """x: (L, B, 8) one-hot of `dtype`; target: (B,) int64 class in 0..3."""
        rng = check_rng(rng)
        b = check_int("batch_size", batch_size, 1)
        dtype = check_dtype(dtype)
        T = self.seq_len
        (lo1, hi1), (lo2, hi2) = self.windows()
        L = int(rng.integers(T, T + T // 10 + 1))  # one length per batch
        tokens = rng.integers(FILLER_LO, FILLER_HI + 1, size=(L, b))  # (L, B) fillers
        tokens[0] = E
        tokens[L - 1] = B
        t1 = rng.integers(lo1, hi1 + 1, size=b)  # (B,)
        t2 = rng.integers(lo2, hi2 + 1, size=b)
        s1 = rng.integers(0, 2, size=b)  # 0 = X, 1 = Y
        s2 = rng.integers(0, 2, size=b)
        cols = np.arange(b)
        tokens[t1, cols] = X + s1
        tokens[t2, cols] = X + s2
        target = (2 * s1 + s2).astype(np.int64)
        return Batch(x=one_hot(tokens, len(SYMBOLS), dtype), target=target)

    def loss(self, y: np.ndarray, batch: Batch) -> tuple[float, np.ndarray]:
        """y: (1, B, 4) logits -> (mean cross-entropy, dy (1, B, 4))."""
        check_output(y, self.output_shape(batch))
        return softmax_cross_entropy(y, batch.target[None, :])

    def metrics(self, y: np.ndarray, batch: Batch) -> dict[str, float]:
        loss, _ = self.loss(y, batch)
        hits = y[0].argmax(axis=-1) == batch.target
        return {"loss": loss, "accuracy": float(hits.mean())}
