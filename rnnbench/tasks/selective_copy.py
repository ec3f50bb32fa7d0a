"""Selective copy: recall K = 10 symbols scattered at random positions among blanks.

The selective copying task of Gu & Dao 2023 ("Mamba: linear-time sequence modeling with selective
state spaces", section 3.1), itself the denoise task of Jing et al. 2019 ("Gated orthogonal
recurrent units", Neural Computation 31(4)): the symbols to remember sit at random positions, so
a network cannot solve it with a fixed delay line; it must notice which inputs matter. The
alphabet and loss follow the copy task (`rnnbench.tasks.copy`) so the two compare directly:
0 = blank, 1..8 = symbols, 9 = delimiter, one-hot input of width 10. With data length T >= 10,
the sequence has L = T + 11 steps (t = 0 .. T+10):

    input   t = 0..T-1        10 symbols, drawn uniformly with replacement from 1..8, at 10
                              distinct positions drawn uniformly among the T steps (independently
                              for every sequence); blanks elsewhere
            t = T             delimiter
            t = T+1..T+10     blanks
    target  t <= T blank;     t = T+1..T+10 the 10 symbols in their order of appearance

Loss: softmax cross-entropy at every step, averaged over the L steps and the batch.
Memoryless baseline (as for copy: a model that knows where the recall window is but not the
symbols predicts blank outside it and 1/8 for each symbol inside it):
    baseline = 10 ln 8 / (T + 11)          (T = 100: 0.1873).
Metric "accuracy": argmax accuracy on the 10 recalled symbols. Solved: accuracy >= 0.99.
"""

from __future__ import annotations

import math

import numpy as np

from rnnbench.tasks.base import (
    Batch,
    Task,
    check_dtype,
    check_int,
    check_rng,
    one_hot,
)
from rnnbench.tasks.copy import BLANK, DELIMITER, N_COPY, N_SYMBOLS, VOCAB, CopyTask


class SelectiveCopyTask(Task):
    name = "selective_copy"
    min_seq_len = N_COPY  # room for 10 distinct positions
    loss_steps = "all"
    input_size = VOCAB
    output_size = VOCAB
    solve_metric = "accuracy"
    solve_threshold = 0.99

    def __init__(self, seq_len: int = 100):
        super().__init__(seq_len)

    @property
    def total_len(self) -> int:
        """L = T + 11: the data, the delimiter, the recall window."""
        return self.seq_len + 1 + N_COPY

    @property
    def baseline_loss(self) -> float:
        return N_COPY * math.log(N_SYMBOLS) / self.total_len

    def sample(self, rng: np.random.Generator, batch_size: int, dtype=np.float64) -> Batch:
        """x: (T+11, B, 10) one-hot of `dtype`; target: (T+11, B) int64 class indices."""
        rng = check_rng(rng)
        b = check_int("batch_size", batch_size, 1)
        dtype = check_dtype(dtype)
        T, L = self.seq_len, self.total_len
        symbols = rng.integers(1, N_SYMBOLS + 1, size=(N_COPY, b))  # (10, B)
        # 10 distinct positions per sequence, uniform among the T steps, in increasing order
        where = np.sort(np.argsort(rng.random((T, b)), axis=0)[:N_COPY], axis=0)  # (10, B)
        cols = np.arange(b)[None, :]
        tokens = np.full((L, b), BLANK, dtype=np.int64)  # (L, B)
        tokens[where, cols] = symbols
        tokens[T] = DELIMITER
        target = np.full((L, b), BLANK, dtype=np.int64)  # (L, B)
        target[T + 1 :] = symbols
        return Batch(x=one_hot(tokens, VOCAB, dtype), target=target)

    # The copy task's scoring, unchanged: cross-entropy at every step, recall accuracy on the
    # 10 non-blank targets (y: (T+11, B, 10) logits here).
    loss = CopyTask.loss
    metrics = CopyTask.metrics
