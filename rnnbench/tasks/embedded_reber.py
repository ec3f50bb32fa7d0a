"""Embedded Reber grammar (Hochreiter & Schmidhuber 1997, experiment 1): predict the next symbol.

Seven symbols, one-hot in this order: B, T, P, S, X, V, E (indices 0..6). The Reber grammar emits
B, then walks this graph from state 1, each of the two edges with probability 1/2, then E:

    state 1: T -> 2, P -> 3     state 2: S -> 2, X -> 4     state 3: T -> 3, V -> 5
    state 4: X -> 3, S -> 6     state 5: P -> 4, V -> 6     state 6: end (E)

An embedded Reber string is  B c R c E  with c = T or P (probability 1/2) and R a Reber string;
the second symbol c must be remembered across R until it comes back. Strings are drawn from the
grammar conditioned on their length n <= T (longer ones are redrawn): T = task.seq_len >= 9, the
shortest string (e.g. B T B T X S E T E). A batch is padded after its strings' ends to the
longest one (x is (L, B, 7), L <= T, padding steps all-zero).

Convention (the paper's): at every step but the last of a string, the target is the SET of legal
next symbols, a multi-hot vector over the 7 outputs (1 or 2 ones; after the inner E it is c alone).
Loss: sigmoid binary cross-entropy summed over the 7 outputs and averaged over the N scored steps
of the batch (padding and final steps score nothing):

    L = (1/N) sum_{n, k} softplus(y_nk) - t_nk y_nk,      dL/dy_nk = (sigmoid(y_nk) - t_nk) / N.

Everything is predictable from the grammar except c after the inner E. Baseline: a model that has
learnt the grammar but not stored c puts 1/2 on T and P there and is exact elsewhere, so it pays
2 ln 2 per string: baseline = 2 ln 2 / E[n - 1 | n <= T] (the exact expectation over the length
distribution, computed from the graph; unconditioned E[n] = 12, T = 50: 0.1260).
Metrics: "accuracy", the fraction of scored steps predicted right, i.e. whose legal successors are
exactly the most active outputs (every legal output above every illegal one, the paper's rule);
"string_accuracy", the fraction of strings with every step right. Solved: accuracy = 1, every
next-symbol prediction right on every test string.
"""

from __future__ import annotations

import math
from functools import cache

import numpy as np

from rnnbench.tasks.base import Batch, Task, check_dtype, check_int, check_output, check_rng

SYMBOLS = ("B", "T", "P", "S", "X", "V", "E")
B, T_, P, S, X, V, E = range(7)
# state -> ((symbol, next state), (symbol, next state)); state 6 ends the string with E
GRAPH = {1: ((T_, 2), (P, 3)), 2: ((S, 2), (X, 4)), 3: ((T_, 3), (V, 5)), 4: ((X, 3), (S, 6)),
         5: ((P, 4), (V, 6))}  # fmt: skip
MIN_LEN = 9  # B c B (T X S | P V V) E c E


def _successors(state: int) -> tuple[int, ...]:
    return (E,) if state == 6 else tuple(sym for sym, _ in GRAPH[state])


COINS = 64  # fair coins drawn at a time for one string (a walk rarely needs more)


def embedded_string(rng: np.random.Generator) -> tuple[list[int], list[tuple[int, ...]]]:
    """One embedded Reber string and, for each of its symbols but the last, the legal successors.

    Coins come from `rng` in blocks of COINS: the first decides c, the next ones the walk.
    """
    coins = (rng.random(COINS) < 0.5).tolist()
    c = T_ if coins[0] else P
    symbols, legal = [B, c, B], [(T_, P), (B,), (T_, P)]
    state, i = 1, 1
    while state != 6:
        if i == len(coins):
            coins += (rng.random(COINS) < 0.5).tolist()
        sym, state = GRAPH[state][coins[i]]
        i += 1
        symbols.append(sym)
        legal.append(_successors(state))
    symbols += [E, c, E]
    legal += [(c,), (E,)]
    return symbols, legal


@cache
def length_distribution(max_len: int) -> np.ndarray:
    """P(n = k) for k = 0..max_len, n the length of an unconditioned embedded Reber string."""
    p = np.zeros(max_len + 1)
    mass = {1: 1.0}  # probability of being in each state after m symbols of the walk
    for m in range(1, max_len - 6 + 1):  # n = m + 6: B c B, the m walk symbols, then E c E
        nxt: dict[int, float] = {}
        for state, q in mass.items():
            for _, to in GRAPH[state]:
                nxt[to] = nxt.get(to, 0.0) + q / 2
        p[m + 6] = nxt.pop(6, 0.0)
        mass = nxt
    return p


class EmbeddedReberTask(Task):
    name = "embedded_reber"
    min_seq_len = MIN_LEN
    loss_steps = "all"
    input_size = len(SYMBOLS)
    output_size = len(SYMBOLS)
    solve_metric = "accuracy"
    solve_threshold = 1.0
    loss_units = "binary cross-entropy, nats per step"

    def __init__(self, seq_len: int = 50):
        super().__init__(seq_len)

    @property
    def baseline_loss(self) -> float:
        p = length_distribution(self.seq_len)
        n = np.arange(p.size)
        return 2 * math.log(2) / float(((n - 1) * p).sum() / p.sum())

    def sample(self, rng: np.random.Generator, batch_size: int, dtype=np.float64) -> Batch:
        """x: (L, B, 7) one-hot of `dtype` (padding all-zero); target: (L, B, 7) multi-hot of
        the legal next symbols, of `dtype`, all-zero at the steps that are not scored."""
        rng = check_rng(rng)
        b = check_int("batch_size", batch_size, 1)
        dtype = check_dtype(dtype)
        strings = []
        while len(strings) < b:
            s = embedded_string(rng)
            if len(s[0]) <= self.seq_len:
                strings.append(s)
        L = max(len(s) for s, _ in strings)
        steps, cols, syms = [], [], []  # the one-hot entries of x ...
        t_steps, t_cols, t_syms = [], [], []  # ... and the multi-hot entries of the target
        for j, (symbols, legal) in enumerate(strings):
            steps += range(len(symbols))
            cols += [j] * len(symbols)
            syms += symbols
            for t, succ in enumerate(legal):
                t_steps += [t] * len(succ)
                t_cols += [j] * len(succ)
                t_syms += succ
        x = np.zeros((L, b, len(SYMBOLS)), dtype=dtype)
        x[steps, cols, syms] = 1.0
        target = np.zeros((L, b, len(SYMBOLS)), dtype=dtype)
        target[t_steps, t_cols, t_syms] = 1.0
        return Batch(x=x, target=target)

    def loss(self, y: np.ndarray, batch: Batch) -> tuple[float, np.ndarray]:
        """y: (L, B, 7) logits -> (BCE per scored step, dy (L, B, 7), zero where not scored)."""
        check_output(y, self.output_shape(batch))
        t = batch.target.astype(y.dtype, copy=False)
        scored = t.any(axis=-1, keepdims=True)  # (L, B, 1)
        n = int(scored.sum())
        softplus = np.maximum(y, 0) + np.log1p(np.exp(-np.abs(y)))  # log(1 + e^y), stable
        loss = float(np.where(scored, softplus - t * y, 0).sum(dtype=np.float64)) / n
        sigmoid = np.exp(y - softplus)  # e^y / (1 + e^y), no overflow
        dy = np.where(scored, (sigmoid - t) / n, 0).astype(y.dtype, copy=False)
        return loss, dy

    def metrics(self, y: np.ndarray, batch: Batch) -> dict[str, float]:
        loss, _ = self.loss(y, batch)
        legal = batch.target > 0  # (L, B, 7)
        scored = legal.any(axis=-1)  # (L, B)
        lowest_legal = np.where(legal, y, np.inf).min(axis=-1)
        highest_illegal = np.where(legal, -np.inf, y).max(axis=-1)
        right = lowest_legal > highest_illegal  # (L, B)
        string_right = np.all(right | ~scored, axis=0)  # (B,)
        return {
            "loss": loss,
            "accuracy": float(right[scored].mean()),
            "string_accuracy": float(string_right.mean()),
        }
