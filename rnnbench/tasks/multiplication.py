"""Multiplication problem (Hochreiter & Schmidhuber 1997, experiment 5): the adding problem's
layout with the product of the two marked values as the target.

Input width 2 (values, markers), one output, MSE at the last step only (y is (1, B, 1)).
The layouts are the adding task's (`rnnbench.tasks.adding`), with values U[0, 1] in both:

    "hochreiter1997" (default, the paper's): length L uniform in [T, T + T//10] (once per batch),
        markers -1 at the first and last step, i1 uniform in [0, 10), i2 uniform in
        [0, T//2 - 1) minus i1; minimal T = 22.
    "le2015": length T, i1 uniform in the first half, i2 in the second half; minimal T = 2.

Target X1 * X2. Memoryless baseline: the constant E[X1 X2] = 1/4 gives
    MSE = Var(X1 X2) = E[X1^2] E[X2^2] - 1/16 = 1/9 - 1/16 = 7/144 = 0.0486.
Metrics: "loss" (MSE) and "accuracy", the fraction of sequences with |y - X1 X2| < 0.04 (the
paper's criterion for a correct sequence). Solved: MSE < 0.01, the adding task's threshold
(about a fifth of the baseline).
"""

from __future__ import annotations

import numpy as np

from rnnbench.tasks.adding import AddingTask

BASELINE = 1.0 / 9.0 - 1.0 / 16.0  # Var(X1 X2) for independent U[0, 1] values


class MultiplicationTask(AddingTask):
    name = "multiplication"
    conventions = ("hochreiter1997", "le2015")
    value_low = {"le2015": 0.0, "hochreiter1997": 0.0}

    def __init__(self, seq_len: int = 100, *, convention: str = "hochreiter1997"):
        super().__init__(seq_len, convention=convention)

    @property
    def baseline_loss(self) -> float:
        return BASELINE

    def combine(self, x1: np.ndarray, x2: np.ndarray) -> np.ndarray:
        """X1 * X2, (B,)."""
        return x1 * x2
