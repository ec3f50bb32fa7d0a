"""Copy (copying memory) task, convention "arjovsky2016" (Arjovsky, Shah & Bengio 2016).

Alphabet: 0 = blank, 1..8 = symbols to copy, 9 = delimiter; one-hot input of width 10.
Sequence length L = T + 20 (steps t = 0 .. T+19):

    input   t = 0..9          10 symbols drawn uniformly with replacement from 1..8
            t = 10..T+8       T-1 blanks
            t = T+9           delimiter
            t = T+10..T+19    10 blanks
    target  t < T+10 blank;   t = T+10..T+19 the same 10 symbols, in order

Loss: softmax cross-entropy at every step, averaged over the L steps and the batch (N = L*B).
Memoryless baseline: a model that knows where the recall window is but nothing of the symbols
predicts blank with certainty outside it and 1/8 for each symbol inside it, so
    baseline = 10 ln 8 / (T + 20)          (T = 100: 0.1733).
Metric "accuracy": argmax accuracy on the 10 recalled symbols (the steps whose target is not blank).
Solved: accuracy >= 0.99.

Option `variable_delay` (Henaff, Szlam & LeCun 2016): the gap d between the last symbol and the
delimiter is drawn uniformly from 1..T, independently for every sequence of the batch (the fixed
task is d = T). The length stays L = T + 20 by padding blanks at the end:

    input   symbols at 0..9, delimiter at 9+d, blanks elsewhere
    target  the symbols at 10+d .. 19+d, blanks elsewhere (including the T-d padding steps)

Because the length is fixed, each sequence may draw its own d and the batch stays dense. The
baseline formula is unchanged (still 10 unknown symbols among L scored steps), now for a model that
can count from the delimiter but has not stored the symbols.
"""

from __future__ import annotations

import math

import numpy as np

from rnnbench.tasks.base import (
    Batch,
    Task,
    check_bool,
    check_choice,
    check_dtype,
    check_int,
    check_output,
    check_rng,
    one_hot,
    softmax_cross_entropy,
)

BLANK, DELIMITER = 0, 9
N_SYMBOLS = 8  # symbols 1..8
N_COPY = 10  # symbols to remember
VOCAB = 10  # one-hot width: blank, 8 symbols, delimiter


class CopyTask(Task):
    name = "copy"
    min_seq_len = 1  # T - 1 >= 0 blanks before the delimiter
    loss_steps = "all"
    conventions = ("arjovsky2016",)
    input_size = VOCAB
    output_size = VOCAB
    solve_metric = "accuracy"
    solve_threshold = 0.99

    def __init__(
        self, seq_len: int = 100, *, convention: str = "arjovsky2016", variable_delay: bool = False
    ):
        super().__init__(seq_len)
        self.convention = check_choice("task.convention", convention, self.conventions)
        self.variable_delay = check_bool("task.variable_delay", variable_delay)

    @property
    def options(self) -> dict:
        return {
            "seq_len": self.seq_len,
            "convention": self.convention,
            "variable_delay": self.variable_delay,
        }

    @property
    def total_len(self) -> int:
        """L = T + 20, the length of every sequence."""
        return self.seq_len + 2 * N_COPY

    @property
    def baseline_loss(self) -> float:
        return N_COPY * math.log(N_SYMBOLS) / self.total_len

    def sample(self, rng: np.random.Generator, batch_size: int, dtype=np.float64) -> Batch:
        """x: (T+20, B, 10) one-hot of `dtype`; target: (T+20, B) int64 class indices."""
        rng = check_rng(rng)
        b = check_int("batch_size", batch_size, 1)
        dtype = check_dtype(dtype)
        T, L = self.seq_len, self.total_len
        symbols = rng.integers(1, N_SYMBOLS + 1, size=(N_COPY, b))  # (10, B)
        if self.variable_delay:
            delay = rng.integers(1, T + 1, size=b)  # (B,) gap d in 1..T
        else:
            delay = np.full(b, T)
        cols = np.arange(b)
        tokens = np.full((L, b), BLANK, dtype=np.int64)  # (L, B)
        tokens[:N_COPY] = symbols
        tokens[N_COPY - 1 + delay, cols] = DELIMITER
        target = np.full((L, b), BLANK, dtype=np.int64)  # (L, B)
        recall = N_COPY + delay[None, :] + np.arange(N_COPY)[:, None]  # (10, B) recall steps
        target[recall, cols[None, :]] = symbols
        return Batch(x=one_hot(tokens, VOCAB, dtype), target=target)

    def loss(self, y: np.ndarray, batch: Batch) -> tuple[float, np.ndarray]:
        """y: (T+20, B, 10) logits -> (mean cross-entropy, dy (T+20, B, 10))."""
        check_output(y, self.output_shape(batch))
        return softmax_cross_entropy(y, batch.target)

    def metrics(self, y: np.ndarray, batch: Batch) -> dict[str, float]:
        loss, _ = self.loss(y, batch)
        recall = batch.target != BLANK  # (L, B), 10 True per sequence
        hits = y.argmax(axis=-1)[recall] == batch.target[recall]
        return {"loss": loss, "accuracy": float(hits.mean())}
