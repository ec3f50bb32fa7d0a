"""mackey_glass: the series, the windows and splits, the three baselines, the solved rule."""

import numpy as np
import pytest

from rnnbench.tasks import mackey_glass as MG
from rnnbench.tasks import make_task


def rng(seed=0):
    return np.random.default_rng(seed)


def test_series_is_the_mackey_glass_equation(monkeypatch):
    """Over the first 200 time units (before chaos amplifies differences) the integrator
    converges at second order (the delayed half-step values are linear interpolations): halving
    dt divides the error about by 4; and the samples satisfy the equation."""
    monkeypatch.setattr(MG, "WASHOUT", 0)
    monkeypatch.setattr(MG, "N_SAMPLES", 200)
    runs = {}
    for dt in (0.1, 0.05, 0.025):
        monkeypatch.setattr(MG, "DT", dt)
        runs[dt] = MG.series.__wrapped__(17.0, 0.2, 0.1, 10.0)
    coarse = runs[0.1]
    e1 = np.max(np.abs(runs[0.1] - runs[0.025]))
    e2 = np.max(np.abs(runs[0.05] - runs[0.025]))
    assert e1 < 1e-3 and 3.0 < e1 / e2 < 6.0, (e1, e2)
    # the derivative from the samples (central differences, step 1) against the right-hand side
    x = np.concatenate([[1.2], coarse])  # x(0) = 1.2, then x(1) .. x(200)
    d = 17
    t = np.arange(d + 20, 190)
    delayed = x[t - d]
    rhs = 0.2 * delayed / (1 + delayed**10) - 0.1 * x[t]
    lhs = (x[t + 1] - x[t - 1]) / 2
    assert np.max(np.abs(lhs - rhs)) < 0.02 and np.std(rhs) > 0.01


def test_series_is_chaotic_and_deterministic():
    z_train, z_test = make_task("mackey_glass").segments()
    assert (z_train.size, z_test.size) == (9600, 2400)
    assert z_train.mean() == pytest.approx(0, abs=1e-12) and z_train.std() == pytest.approx(1)
    a, b = make_task("mackey_glass").segments()
    np.testing.assert_array_equal(a, z_train)
    x = MG.series(17.0, 0.2, 0.1, 10.0)
    assert 0.2 < x.min() < 0.6 and 1.1 < x.max() < 1.5  # the classic attractor's range
    assert not np.allclose(z_test[:500], z_test[1000:1500])  # not periodic at this scale


def test_windows_and_targets():
    task = make_task("mackey_glass", seq_len=20, horizon=5, ar_order=4)
    z_train, z_test = task.segments()
    batch = task.sample(rng(), 200)
    assert batch.x.shape == (20, 200, 1) and batch.target.shape == (200,)
    windows = np.lib.stride_tricks.sliding_window_view(z_train, 20)  # (9581, 20)
    for j in range(200):
        (s,) = np.flatnonzero((windows == batch.x[:, j, 0]).all(1))  # one exact match
        assert s + 19 + 5 < 9600 and batch.target[j] == z_train[s + 19 + 5]
    full = task.held_out(rng(), 10**6)
    n = 2400 - 20 - 5 + 1
    assert full.x.shape == (20, n, 1)
    np.testing.assert_array_equal(full.x[:, 0, 0], z_test[:20])
    np.testing.assert_array_equal(full.target, z_test[24:])
    a, b = task.held_out(rng(3), 300), task.held_out(rng(3), 300)
    np.testing.assert_array_equal(a.x, b.x)
    assert a.x.shape == (20, 300, 1) and len({tuple(c) for c in a.x[:, :, 0].T}) == 300
    f32 = task.sample(rng(), 4, np.float32)
    assert f32.x.dtype == np.float32 and f32.target.dtype == np.float32


def test_baselines_by_monte_carlo():
    task = make_task("mackey_glass", seq_len=12, horizon=8, ar_order=6)
    base = task.baselines
    assert set(base) == {"persistence", "linear_ar", "mean"}
    assert task.baseline_loss == base["persistence"]
    full = task.held_out(rng(), 10**6)
    m = task.metrics(full.x[-1:], full)  # persistence on every test window: exactly
    assert m["loss"] == pytest.approx(base["persistence"], rel=1e-12)
    # an AR(6) model fit independently on random training windows, scored on a random subset
    train = task.sample(rng(1), 20_000)
    design = np.hstack([train.x[::-1][:6, :, 0].T, np.ones((20_000, 1))])
    coef = np.linalg.lstsq(design, train.target, rcond=None)[0]
    test = task.held_out(rng(2), 1500)
    pred = np.hstack([test.x[::-1][:6, :, 0].T, np.ones((1500, 1))]) @ coef
    assert np.mean((pred - test.target) ** 2) == pytest.approx(base["linear_ar"], rel=0.1)
    assert np.mean(test.target**2) == pytest.approx(base["mean"], rel=0.1)
    assert base["linear_ar"] < base["mean"] and base["linear_ar"] < base["persistence"]


def test_default_baselines_and_solved():
    task = make_task("mackey_glass")
    base = task.baselines
    assert base["persistence"] == pytest.approx(1.53, abs=0.01)  # h = 10 is past a quarter cycle
    assert base["linear_ar"] == pytest.approx(0.149, abs=0.002)
    assert task.solve_threshold == base["linear_ar"]
    assert task.solved({"loss": 0.9 * base["linear_ar"]})
    assert not task.solved({"loss": base["linear_ar"]})
    batch = task.held_out(rng(), 50)
    y = batch.target.reshape(1, -1, 1).copy()
    assert task.metrics(y, batch) == {"loss": 0.0}


@pytest.mark.parametrize(
    "kwargs, key",
    [
        ({"seq_len": 9}, "task.seq_len"),  # shorter than ar_order = 10
        ({"seq_len": 5, "ar_order": 6}, "task.seq_len"),
        ({"seq_len": 2000, "horizon": 500}, "task.seq_len"),
        ({"horizon": 0}, "task.horizon"),
        ({"ar_order": 0}, "task.ar_order"),
        ({"tau": 17.05}, "task.tau"),
        ({"tau": -1.0}, "task.tau"),
        ({"beta": 0.0}, "task.beta"),
        ({"gamma": float("nan")}, "task.gamma"),
        ({"exponent": True}, "task.exponent"),
    ],
)
def test_bad_options_are_one_line(kwargs, key):
    with pytest.raises(ValueError) as excinfo:
        make_task("mackey_glass", **kwargs)
    msg = str(excinfo.value)
    assert msg.startswith(key) and "\n" not in msg, msg
