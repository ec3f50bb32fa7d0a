"""Multiplication, selective copy and the embedded Reber grammar: structure, targets, baselines
(checked by Monte Carlo), accuracy and the solved criterion."""

import math

import numpy as np
import pytest

from rnnbench.tasks import make_task
from rnnbench.tasks.embedded_reber import GRAPH, SYMBOLS, length_distribution


def rng(seed=0):
    return np.random.default_rng(seed)


# --- multiplication -------------------------------------------------------------------------------


def test_multiplication_hochreiter1997_layout_and_target():
    T = 60
    task = make_task("multiplication", seq_len=T)
    assert task.convention == "hochreiter1997" and task.min_seq_len == 22
    for seed in range(10):
        batch = task.sample(rng(seed), 300)
        L = batch.x.shape[0]
        assert T <= L <= T + T // 10
        values, markers = batch.x[..., 0], batch.x[..., 1]
        assert values.min() >= 0 and values.max() <= 1 and values.min() < 0.01
        assert np.all((markers == 1).sum(0) == 2) and np.all((markers[:10] == 1).any(0))
        assert np.all((markers[T // 2 - 1 :] == 1).sum(0) == 0) and np.all(markers[L - 1] == -1)
        product = np.prod(np.where(markers == 1, values, 1.0), axis=0)
        np.testing.assert_allclose(batch.target, product, rtol=1e-12)


def test_multiplication_le2015_layout():
    task = make_task("multiplication", seq_len=20, convention="le2015")
    batch = task.sample(rng(), 100)
    values, markers = batch.x[..., 0], batch.x[..., 1]
    assert batch.x.shape[0] == 20 and np.all(markers[:10].sum(0) == 1)
    np.testing.assert_allclose(batch.target, np.prod(np.where(markers == 1, values, 1.0), 0))


@pytest.mark.parametrize("convention", ["hochreiter1997", "le2015"])
def test_multiplication_constant_predictor_hits_baseline(convention):
    task = make_task("multiplication", seq_len=30, convention=convention)
    assert task.baseline_loss == pytest.approx(7 / 144)
    batch = task.sample(rng(1), 200_000)
    m = task.metrics(np.full(task.output_shape(batch), 0.25), batch)  # E[X1 X2]
    assert m["loss"] == pytest.approx(7 / 144, rel=0.02)
    assert not task.solved(m)


def test_multiplication_accuracy_and_solved():
    task = make_task("multiplication", seq_len=30)
    batch = task.sample(rng(), 100)
    y = batch.target.reshape(1, -1, 1) + 0.03
    m = task.metrics(y, batch)
    assert m["accuracy"] == 1.0 and task.solved(m)
    y[0, :40, 0] += 0.02
    assert task.metrics(y, batch)["accuracy"] == pytest.approx(0.6)
    assert not task.solved({"loss": 0.01, "accuracy": 1.0})


# --- selective copy -------------------------------------------------------------------------------


def test_selective_copy_structure():
    T = 30
    batch = make_task("selective_copy", seq_len=T).sample(rng(), 400)
    tokens = batch.x.argmax(-1)  # (T+11, B)
    assert tokens.shape == (T + 11, 400) and np.all(batch.x.sum(-1) == 1)
    data = tokens[:T]
    assert np.all(((data >= 1) & (data <= 8)).sum(0) == 10)  # 10 symbols among blanks
    assert np.all((data == 0) | ((data >= 1) & (data <= 8)))
    assert np.all(tokens[T] == 9) and np.all(tokens[T + 1 :] == 0)
    assert np.all(batch.target[: T + 1] == 0)
    for j in range(400):
        np.testing.assert_array_equal(batch.target[T + 1 :, j], data[data[:, j] > 0, j])
    # positions are random: every step holds a symbol with probability 10/T
    freq = (data > 0).mean(1)
    np.testing.assert_allclose(freq, 10 / T, atol=0.08)
    first = (data > 0).argmax(0)
    assert len(np.unique(first)) > 5  # not a fixed layout


def test_selective_copy_memoryless_predictor_hits_baseline():
    task = make_task("selective_copy", seq_len=100)
    assert task.baseline_loss == pytest.approx(10 * math.log(8) / 111)
    assert task.baseline_loss == pytest.approx(0.1873, abs=5e-5)
    batch = task.sample(rng(), 200)
    recall = batch.target != 0
    y = np.full(task.output_shape(batch), -40.0)
    y[~recall, 0] = 40.0
    y[recall, 1:9] = 0.0
    m = task.metrics(y, batch)
    assert m["loss"] == pytest.approx(task.baseline_loss, rel=1e-9)
    assert m["accuracy"] == pytest.approx(1 / 8, abs=0.03) and not task.solved(m)
    perfect = 10.0 * np.eye(10)[batch.target]
    m = task.metrics(perfect, batch)
    assert m["accuracy"] == 1.0 and task.solved(m)


# --- embedded Reber -------------------------------------------------------------------------------


def parse(symbols):
    """Check a string against the embedded grammar; return its legal-successor sets."""
    B, T, P, S, X, V, E = range(7)
    assert symbols[0] == B and symbols[1] in (T, P) and symbols[2] == B
    assert symbols[-1] == E and symbols[-2] == symbols[1] and symbols[-3] == E
    legal, state = [{T, P}, {B}, {T, P}], 1
    for sym in symbols[3:-3]:
        edges = dict(GRAPH[state])
        assert sym in edges
        state = edges[sym]
        legal.append({E} if state == 6 else {s for s, _ in GRAPH[state]})
    assert state == 6
    return legal + [{symbols[1]}, {E}]


def test_embedded_reber_strings_follow_the_grammar():
    task = make_task("embedded_reber", seq_len=25)
    batch = task.sample(rng(), 300)
    L = batch.x.shape[0]
    assert L <= 25 and np.all(batch.x.sum(-1) <= 1)
    lengths = batch.x.sum((0, 2)).astype(int)
    assert L == lengths.max() and lengths.min() >= 9
    for j in range(300):
        n = lengths[j]
        symbols = batch.x[:n, j].argmax(-1).tolist()
        legal = parse(symbols)
        for t, succ in enumerate(legal):
            assert set(np.flatnonzero(batch.target[t, j])) == succ
        assert not batch.target[n - 1 :, j].any() and not batch.x[n:, j].any()
    assert {batch.x[1, j].argmax() for j in range(300)} == {1, 2}  # c is T or P


def test_embedded_reber_length_distribution_by_monte_carlo():
    p = length_distribution(400)
    n = np.arange(p.size)
    assert p.sum() == pytest.approx(1.0) and (n * p).sum() == pytest.approx(12.0)
    assert p[9] == pytest.approx(1 / 4)  # B c B T X S E c E and B c B P V V E c E
    batch = make_task("embedded_reber", seq_len=30).sample(rng(2), 20_000)
    lengths = batch.x.sum((0, 2)).astype(int)
    freq = np.bincount(lengths, minlength=31)[:31] / lengths.size
    np.testing.assert_allclose(freq, p[:31] / p[:31].sum(), atol=0.008)


def grammar_only_predictor(batch):
    """Exact everywhere but at the step after the inner E: 1/2 on T and P there."""
    y = np.where(batch.target > 0, 40.0, -40.0)
    critical = batch.target[..., 1:3].sum(-1) == 1  # only T or only P is legal
    critical &= batch.x[..., 6] == 1  # ... right after an E
    y[critical, 1:3] = 0.0
    return y


@pytest.mark.parametrize("T", [9, 14, 50])
def test_embedded_reber_baseline_by_monte_carlo(T):
    task = make_task("embedded_reber", seq_len=T)
    batch = task.sample(rng(T), 10_000)
    m = task.metrics(grammar_only_predictor(batch), batch)
    assert m["loss"] == pytest.approx(task.baseline_loss, rel=0.015)
    assert m["string_accuracy"] == 0.0 and not task.solved(m)
    assert task.baseline_loss == pytest.approx(
        2
        * math.log(2)
        / ((np.arange(T + 1) - 1) @ length_distribution(T) / length_distribution(T).sum())
    )


def test_embedded_reber_baseline_values():
    shortest = make_task("embedded_reber", seq_len=9)  # every string has 9 symbols, 8 scored
    assert shortest.baseline_loss == pytest.approx(2 * math.log(2) / 8)
    unbounded = make_task("embedded_reber", seq_len=400)  # E[n] = 12: 11 scored steps
    assert unbounded.baseline_loss == pytest.approx(2 * math.log(2) / 11)


def test_embedded_reber_accuracy_and_solved():
    task = make_task("embedded_reber", seq_len=20)
    batch = task.sample(rng(), 200)
    perfect = np.where(batch.target > 0, 3.0, -3.0)
    m = task.metrics(perfect, batch)
    assert m["accuracy"] == 1.0 and m["string_accuracy"] == 1.0 and task.solved(m)
    wrong = perfect.copy()
    j = 7
    n = int(batch.x[:, j].sum())
    wrong[n - 3, j, 1:3] = wrong[n - 3, j, 2:0:-1]  # swap T and P after the inner E
    m = task.metrics(wrong, batch)
    assert m["string_accuracy"] == pytest.approx(199 / 200) and not task.solved(m)
    scored = int(batch.target.any(-1).sum())
    assert m["accuracy"] == pytest.approx(1 - 1 / scored)
    _, dy = task.loss(np.zeros(task.output_shape(batch)), batch)
    assert not dy[~batch.target.any(-1)].any()  # padding and last steps get no gradient


def test_embedded_reber_symbols():
    assert SYMBOLS == ("B", "T", "P", "S", "X", "V", "E")
