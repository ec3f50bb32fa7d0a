"""Task registry, data structure, targets, baselines, loss gradients and PyTorch parity."""

import math
from pathlib import Path

import numpy as np
import pytest
from idx import write_mnist

from rnnbench.tasks import TASKS, Batch, make_task, task_options
from rnnbench.tasks.temporal_order import B, E, X, Y

ALL = [
    "copy",
    "adding",
    "temporal_order",
    "multiplication",
    "embedded_reber",
    "selective_copy",
    "digits",
    "mnist",
    "mackey_glass",
]
VARIANTS = [
    ("copy", {}),
    ("copy", {"variable_delay": True}),
    ("adding", {}),
    ("adding", {"convention": "hochreiter1997"}),
    ("temporal_order", {}),
    ("multiplication", {}),
    ("multiplication", {"convention": "le2015"}),
    ("embedded_reber", {}),
    ("selective_copy", {}),
    ("digits", {}),
    ("digits", {"permuted": True}),
    ("mnist", {}),
    ("mackey_glass", {}),
    ("mackey_glass", {"horizon": 3, "ar_order": 5}),
]
REGRESSION = ("adding", "multiplication", "mackey_glass")  # MSE at the last step, float targets
IDS = [f"{n}-{'-'.join(map(str, o.values())) or 'default'}" for n, o in VARIANTS]


MNIST_DIR = []  # the directory of the small IDX files, set once per session


@pytest.fixture(autouse=True, scope="session")
def small_mnist(tmp_path_factory):
    MNIST_DIR.append(str(tmp_path_factory.mktemp("mnist")))
    write_mnist(Path(MNIST_DIR[0]))


def build(name, seq_len, **opts):
    """make_task, with the image tasks' T rounded down to a divisor of their pixel count and
    mnist reading the small files."""
    cls = TASKS[name]
    if hasattr(cls, "n_pixels"):
        seq_len = max(d for d in range(1, seq_len + 1) if cls.n_pixels % d == 0)
    if name == "mnist":
        opts.setdefault("path", MNIST_DIR[0])
    if name == "mackey_glass":  # T >= ar_order (10 by default)
        opts.setdefault("ar_order", min(seq_len, 10))
    return make_task(name, seq_len=seq_len, **opts)


def rng(seed=0):
    return np.random.default_rng(seed)


def random_output(task, batch, seed=1, dtype=np.float64):
    return rng(seed).normal(size=task.output_shape(batch)).astype(dtype)


# --- registry and validation ----------------------------------------------------------------------


def test_registry_names_and_attributes():
    assert sorted(TASKS) == sorted(ALL)
    for name, cls in TASKS.items():
        assert cls.name == name
        task = build(name, max(cls.min_seq_len, 30))
        assert task.loss_steps in ("all", "last")
        assert isinstance(task.input_size, int) and isinstance(task.output_size, int)
        if not hasattr(cls, "n_pixels"):  # image tasks: T rounded to a divisor by build()
            assert task.seq_len == max(cls.min_seq_len, 30)
        assert make_task(name, **task.options).options == task.options


def test_task_options_are_explicit():
    assert task_options("copy") == ("seq_len", "convention", "variable_delay")
    assert task_options("adding") == ("seq_len", "convention")
    assert task_options("temporal_order") == ("seq_len", "convention")
    assert task_options("multiplication") == ("seq_len", "convention")
    assert task_options("embedded_reber") == ("seq_len",)
    assert task_options("selective_copy") == ("seq_len",)
    assert task_options("digits") == ("seq_len", "permuted")
    assert task_options("mnist") == ("seq_len", "permuted", "path")
    assert task_options("mackey_glass") == (
        "seq_len",
        "horizon",
        "ar_order",
        "tau",
        "beta",
        "gamma",
        "exponent",
    )


def assert_one_line_naming(excinfo, key):
    msg = str(excinfo.value)
    assert key in msg and "\n" not in msg, msg


@pytest.mark.parametrize(
    "name, kwargs, key",
    [
        ("nope", {"seq_len": 10}, "task.name"),
        ("copy", {"seq_len": 10, "delay": 3}, "task.delay"),
        ("adding", {"seq_len": 10, "variable_delay": True}, "task.variable_delay"),
        ("copy", {"seq_len": 0}, "task.seq_len"),
        ("copy", {"seq_len": 10.0}, "task.seq_len"),
        ("copy", {"seq_len": True}, "task.seq_len"),
        ("copy", {"seq_len": 10, "convention": "expRNN"}, "task.convention"),
        ("copy", {"seq_len": 10, "variable_delay": 1}, "task.variable_delay"),
        ("adding", {"seq_len": 1}, "task.seq_len"),
        ("adding", {"seq_len": 21, "convention": "hochreiter1997"}, "task.seq_len"),
        ("adding", {"seq_len": 10, "convention": "arjovsky"}, "task.convention"),
        ("temporal_order", {"seq_len": 9}, "task.seq_len"),
        ("temporal_order", {"seq_len": 10, "convention": "x"}, "task.convention"),
        ("multiplication", {"seq_len": 21}, "task.seq_len"),
        ("multiplication", {"seq_len": 1, "convention": "le2015"}, "task.seq_len"),
        ("multiplication", {"seq_len": 30, "convention": "x"}, "task.convention"),
        ("embedded_reber", {"seq_len": 8}, "task.seq_len"),
        ("embedded_reber", {"seq_len": 20, "convention": "x"}, "task.convention"),
        ("selective_copy", {"seq_len": 9}, "task.seq_len"),
        ("selective_copy", {"seq_len": 20, "variable_delay": True}, "task.variable_delay"),
    ],
)
def test_invalid_arguments_name_the_key(name, kwargs, key):
    with pytest.raises(ValueError) as excinfo:
        make_task(name, **kwargs)
    assert_one_line_naming(excinfo, key)


def test_min_seq_len_is_accepted():
    for name, cls in TASKS.items():  # the class's minimum is the smallest over its conventions
        opts = {"convention": "le2015"} if name in ("adding", "multiplication") else {}
        build(name, cls.min_seq_len, **opts).sample(rng(), 3)
    task = make_task("adding", seq_len=22, convention="hochreiter1997")
    assert task.min_seq_len == 22
    task.sample(rng(), 3)


@pytest.mark.parametrize("name", ALL)
def test_invalid_sample_arguments(name):
    task = build(name, 30)
    with pytest.raises(ValueError) as excinfo:
        task.sample(rng(), 0)
    assert_one_line_naming(excinfo, "batch_size")
    with pytest.raises(ValueError) as excinfo:
        task.sample(rng(), 2, np.int32)
    assert_one_line_naming(excinfo, "dtype")
    with pytest.raises(TypeError, match="rng"):
        task.sample(np.random.RandomState(0), 2)


@pytest.mark.parametrize("name", ALL)
def test_wrong_output_shape_raises(name):
    task = build(name, 30)
    batch = task.sample(rng(), 3)
    s, b, o = task.output_shape(batch)
    with pytest.raises(ValueError, match="shape"):
        task.loss(np.zeros((s, b, o + 1)), batch)
    with pytest.raises(ValueError, match="shape"):
        task.loss(np.zeros((s + 1, b, o)), batch)


# --- shapes, dtypes, determinism ------------------------------------------------------------------


@pytest.mark.parametrize("name, opts", VARIANTS, ids=IDS)
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_shapes_dtypes(name, opts, dtype):
    task = build(name, 40, **opts)
    batch = task.sample(rng(), 5, dtype)
    assert isinstance(batch, Batch)
    T, b, i = batch.x.shape
    assert b == 5 and i == task.input_size and batch.x.dtype == dtype
    if name == "copy":
        assert T == 60 and batch.target.shape == (60, 5) and batch.target.dtype == np.int64
    elif name == "selective_copy":
        assert T == 51 and batch.target.shape == (51, 5) and batch.target.dtype == np.int64
    elif name in REGRESSION:
        assert batch.target.shape == (5,) and batch.target.dtype == dtype
    elif name == "embedded_reber":
        assert T <= 40 and batch.target.shape == batch.x.shape and batch.target.dtype == dtype
    else:
        assert batch.target.shape == (5,) and batch.target.dtype == np.int64
    assert task.output_shape(batch) == ((T if task.loss_steps == "all" else 1), 5, task.output_size)
    y = random_output(task, batch, dtype=dtype)
    loss, dy = task.loss(y, batch)
    assert type(loss) is float and np.isfinite(loss)
    assert dy.shape == y.shape and dy.dtype == dtype
    metrics = task.metrics(y, batch)
    expected = {"loss", "accuracy"} | ({"string_accuracy"} if name == "embedded_reber" else set())
    if name == "mackey_glass":  # a forecast: no accuracy
        expected = {"loss"}
    assert set(metrics) == expected
    assert all(type(v) is float for v in metrics.values())
    assert metrics["loss"] == pytest.approx(loss)


@pytest.mark.parametrize("name, opts", VARIANTS, ids=IDS)
def test_deterministic_given_generator(name, opts):
    task = build(name, 40, **opts)
    a, b = task.sample(rng(7), 6), task.sample(rng(7), 6)
    np.testing.assert_array_equal(a.x, b.x)
    np.testing.assert_array_equal(a.target, b.target)
    c = task.sample(rng(8), 6)
    assert a.x.shape != c.x.shape or not np.array_equal(a.x, c.x)


# --- copy -----------------------------------------------------------------------------------------


# The values docs/tasks.md lists for the formula 10 ln 8 / (T + 20).
@pytest.mark.parametrize(
    "T, expected", [(100, 0.1733), (200, 0.0945), (500, 0.0400), (1000, 0.0204), (2000, 0.0103)]
)
def test_copy_baseline_values(T, expected):
    task = make_task("copy", seq_len=T)
    assert task.baseline_loss == pytest.approx(10 * math.log(8) / (T + 20))
    assert task.baseline_loss == pytest.approx(expected, abs=6e-5)


def test_copy_structure_fixed_delay():
    T = 25
    batch = make_task("copy", seq_len=T).sample(rng(), 64)
    tokens = batch.x.argmax(-1)  # (T+20, B)
    assert np.all(batch.x.sum(-1) == 1)
    assert tokens.shape == (T + 20, 64)
    assert np.all((tokens[:10] >= 1) & (tokens[:10] <= 8))
    assert np.all(tokens[10 : T + 9] == 0)
    assert np.all(tokens[T + 9] == 9)
    assert np.all(tokens[T + 10 :] == 0)
    assert np.all(batch.target[: T + 10] == 0)
    np.testing.assert_array_equal(batch.target[T + 10 :], tokens[:10])
    assert set(np.unique(tokens[:10])) == set(range(1, 9))


def test_copy_structure_variable_delay():
    T = 12
    batch = make_task("copy", seq_len=T, variable_delay=True).sample(rng(), 500)
    tokens = batch.x.argmax(-1)
    assert tokens.shape == (T + 20, 500)
    assert np.all((tokens[:10] >= 1) & (tokens[:10] <= 8))
    assert np.all((tokens == 9).sum(0) == 1)  # one delimiter per sequence
    delay = (tokens == 9).argmax(0) - 9  # delimiter at step 9 + d
    assert delay.min() == 1 and delay.max() == T  # d uniform on 1..T: every value shows up
    assert len(np.unique(delay)) == T
    assert np.all(tokens[10:][tokens[10:] != 9] == 0)  # blanks except the delimiter
    for j in range(500):
        d = delay[j]
        np.testing.assert_array_equal(batch.target[10 + d : 20 + d, j], tokens[:10, j])
        assert np.all(batch.target[: 10 + d, j] == 0) and np.all(batch.target[20 + d :, j] == 0)


@pytest.mark.parametrize("variable_delay", [False, True])
def test_copy_memoryless_predictor_hits_baseline(variable_delay):
    task = make_task("copy", seq_len=30, variable_delay=variable_delay)
    batch = task.sample(rng(), 200)
    recall = batch.target != 0  # knows where the recall window is, not the symbols
    y = np.full(task.output_shape(batch), -40.0)
    y[~recall, 0] = 40.0  # blank with certainty
    y[recall, 1:9] = 0.0  # uniform over the 8 symbols
    metrics = task.metrics(y, batch)
    assert metrics["loss"] == pytest.approx(task.baseline_loss, rel=1e-9)
    assert metrics["accuracy"] == pytest.approx(1 / 8, abs=0.03)
    assert not task.solved(metrics)


def test_copy_accuracy_and_solved():
    task = make_task("copy", seq_len=20)
    batch = task.sample(rng(), 50)
    y = 10.0 * np.eye(10)[batch.target]  # perfect
    m = task.metrics(y, batch)
    assert m["accuracy"] == 1.0 and m["loss"] < 1e-3 and task.solved(m)
    y[-1, :, :] = 10.0 * np.eye(10)[0]  # last recalled symbol always blank: 9/10 right
    m = task.metrics(y, batch)
    assert m["accuracy"] == pytest.approx(0.9) and not task.solved(m)


# --- adding ---------------------------------------------------------------------------------------


def test_adding_le2015_structure_and_target():
    T = 31
    task = make_task("adding", seq_len=T)
    batch = task.sample(rng(), 300)
    values, markers = batch.x[..., 0], batch.x[..., 1]
    assert batch.x.shape[0] == T
    assert np.all((values >= 0) & (values <= 1))
    assert set(np.unique(markers)) == {0.0, 1.0}
    assert np.all(markers[: T // 2].sum(0) == 1) and np.all(markers[T // 2 :].sum(0) == 1)
    np.testing.assert_allclose(batch.target, (values * markers).sum(0), rtol=1e-12)
    assert task.baseline_loss == pytest.approx(1 / 6)


def test_adding_hochreiter1997_structure_and_target():
    T = 100
    task = make_task("adding", seq_len=T, convention="hochreiter1997")
    lengths = set()
    for seed in range(30):
        batch = task.sample(rng(seed), 200)
        L = batch.x.shape[0]
        lengths.add(L)
        assert T <= L <= T + T // 10
        values, markers = batch.x[..., 0], batch.x[..., 1]
        assert np.all((values >= -1) & (values <= 1)) and values.min() < -0.9
        assert np.all((markers == 1).sum(0) == 2)
        i1 = (markers[:10] == 1).any(0)  # a marked pair among the first 10
        assert np.all(i1)
        assert np.all((markers[T // 2 - 1 :] == 1).sum(0) == 0)  # both among the first T/2-1
        assert np.all(markers[L - 1] == -1)
        assert np.all(markers[0] == np.where(markers[0] == 1, 1, -1))
        assert np.all(markers[1 : L - 1] >= 0)
        marked = np.where(markers == 1, values, 0.0).sum(0)
        np.testing.assert_allclose(batch.target, 0.5 + marked / 4, rtol=1e-12)
    assert len(lengths) > 3
    assert task.baseline_loss == pytest.approx(1 / 24)


def test_adding_hochreiter1997_marker_windows():
    # i1 uniform on [0, 10); i2 uniform on [0, T/2-1) minus i1. Over many draws every position
    # of the second window is hit, and positions beyond 10 are only ever the second marker.
    task = make_task("adding", seq_len=40, convention="hochreiter1997")
    markers = task.sample(rng(), 20000).x[..., 1]
    counts = (markers == 1).sum(1)
    assert np.all(counts[: 40 // 2 - 1] > 0) and np.all(counts[40 // 2 - 1 :] == 0)
    # expected count at p >= 10: N / (window - 1) with window = 19 (i2 only)
    np.testing.assert_allclose(counts[10:19], 20000 / 18, rtol=0.15)


@pytest.mark.parametrize("convention, constant", [("le2015", 1.0), ("hochreiter1997", 0.5)])
def test_adding_constant_predictor_hits_baseline(convention, constant):
    task = make_task("adding", seq_len=30, convention=convention)
    batch = task.sample(rng(), 200_000)
    y = np.full(task.output_shape(batch), constant)
    m = task.metrics(y, batch)
    assert m["loss"] == pytest.approx(task.baseline_loss, rel=0.02)
    assert not task.solved(m)


def test_adding_accuracy_and_solved():
    task = make_task("adding", seq_len=10)
    batch = task.sample(rng(), 100)
    y = batch.target.reshape(1, -1, 1) + 0.03
    m = task.metrics(y, batch)
    assert m["accuracy"] == 1.0 and m["loss"] == pytest.approx(9e-4) and task.solved(m)
    y[0, :25, 0] += 0.02  # error 0.05 on a quarter
    m = task.metrics(y, batch)
    assert m["accuracy"] == pytest.approx(0.75)
    assert not task.solved({"loss": 0.01, "accuracy": 1.0})


# --- temporal order -------------------------------------------------------------------------------


def test_temporal_order_structure_and_target():
    T = 100
    task = make_task("temporal_order", seq_len=T)
    assert task.windows() == ((10, 20), (50, 60))
    lengths, classes = set(), []
    for seed in range(20):
        batch = task.sample(rng(seed), 100)
        tokens = batch.x.argmax(-1)
        assert np.all(batch.x.sum(-1) == 1)
        L = tokens.shape[0]
        lengths.add(L)
        assert T <= L <= T + T // 10
        assert np.all(tokens[0] == E) and np.all(tokens[L - 1] == B)
        assert np.all((tokens[1 : L - 1] >= 2) & (tokens[1 : L - 1] <= Y))  # no E/B inside
        info = (tokens == X) | (tokens == Y)
        assert np.all(info.sum(0) == 2)
        assert np.all(info[10:21].sum(0) == 1) and np.all(info[50:61].sum(0) == 1)
        t1 = info[10:21].argmax(0)
        t2 = info[50:61].argmax(0)
        cols = np.arange(100)
        s1 = tokens[10 + t1, cols] == Y
        s2 = tokens[50 + t2, cols] == Y
        np.testing.assert_array_equal(batch.target, 2 * s1 + s2)
        classes.append(batch.target)
    assert len(lengths) > 3
    freq = np.bincount(np.concatenate(classes), minlength=4) / 2000
    np.testing.assert_allclose(freq, 0.25, atol=0.04)


def test_temporal_order_windows_scale_with_T():
    task = make_task("temporal_order", seq_len=500)
    assert task.windows() == ((50, 100), (250, 300))
    tokens = task.sample(rng(), 300).x.argmax(-1)
    t = np.argwhere((tokens == X) | (tokens == Y))[:, 0]
    assert t.min() >= 50 and t.max() <= 300 and not np.any((t > 100) & (t < 250))


def test_temporal_order_baseline():
    task = make_task("temporal_order", seq_len=50)
    assert task.baseline_loss == pytest.approx(math.log(4))
    batch = task.sample(rng(), 40_000)
    m = task.metrics(np.zeros(task.output_shape(batch)), batch)  # uniform logits
    assert m["loss"] == pytest.approx(math.log(4), rel=1e-12)
    assert m["accuracy"] == pytest.approx(0.25, abs=0.01)  # argmax ties -> class 0
    y = 10.0 * np.eye(4)[batch.target][None]
    m = task.metrics(y, batch)
    assert m["accuracy"] == 1.0 and task.solved(m)
    assert not task.solved({"loss": 0.1, "accuracy": 0.98})


# --- loss gradients -------------------------------------------------------------------------------


@pytest.mark.parametrize("name, opts", VARIANTS, ids=IDS)
def test_loss_gradient_finite_differences(name, opts):
    seq_len = max(10, build(name, 100, **opts).min_seq_len)
    task = build(name, seq_len, **opts)
    batch = task.sample(rng(3), 3)
    y = random_output(task, batch, seed=4) * 2.0
    _, dy = task.loss(y, batch)
    eps = 1e-6
    num = np.zeros_like(y)
    flat, nflat = y.reshape(-1), num.reshape(-1)
    for k in range(flat.size):
        old = flat[k]
        flat[k] = old + eps
        lp, _ = task.loss(y, batch)
        flat[k] = old - eps
        lm, _ = task.loss(y, batch)
        flat[k] = old
        nflat[k] = (lp - lm) / (2 * eps)
    np.testing.assert_allclose(dy, num, rtol=1e-6, atol=1e-9)


def test_softmax_cross_entropy_is_stable():
    task = make_task("copy", seq_len=5)
    batch = task.sample(rng(), 2)
    y = random_output(task, batch) + 1e4  # naive exp overflows
    y32 = y.astype(np.float32)
    for arr in (y, y32):
        loss, dy = task.loss(arr, batch)
        assert np.isfinite(loss) and np.all(np.isfinite(dy)) and dy.dtype == arr.dtype
    l64, _ = task.loss(y - 1e4, batch)
    assert task.loss(y, batch)[0] == pytest.approx(l64, rel=1e-9)


@pytest.mark.parametrize("name, opts", VARIANTS, ids=IDS)
def test_loss_matches_torch(name, opts):
    torch = pytest.importorskip("torch")
    task = build(name, 30, **opts)
    batch = task.sample(rng(5), 7)
    y = random_output(task, batch, seed=6)
    loss, dy = task.loss(y, batch)
    yt = torch.tensor(y, dtype=torch.float64, requires_grad=True)
    if name in REGRESSION:
        ref = torch.nn.functional.mse_loss(yt.reshape(-1), torch.tensor(batch.target))
    elif name == "embedded_reber":  # summed over the outputs, averaged over the scored steps
        scored = torch.tensor(batch.target.any(-1))
        bce = torch.nn.functional.binary_cross_entropy_with_logits(
            yt[scored], torch.tensor(batch.target)[scored], reduction="sum"
        )
        ref = bce / scored.sum()
    else:
        target = batch.target if task.loss_steps == "all" else batch.target[None]
        o = task.output_size
        ref = torch.nn.functional.cross_entropy(yt.reshape(-1, o), torch.tensor(target).reshape(-1))
    ref.backward()
    assert loss == pytest.approx(ref.item(), rel=1e-12)
    np.testing.assert_allclose(dy, yt.grad.numpy(), rtol=1e-10, atol=1e-15)


@pytest.mark.parametrize(
    "name, opts", [("adding", {"convention": "hochreiter1997"}), ("temporal_order", {})]
)
def test_length_uniform_on_closed_range(name, opts):
    task = make_task(name, seq_len=50, **opts)
    generator = rng(11)
    lengths = [task.sample(generator, 1).x.shape[0] for _ in range(600)]
    counts = np.bincount(lengths, minlength=56)
    assert set(lengths) == set(range(50, 56))  # [T, T + T//10], both ends included
    np.testing.assert_allclose(counts[50:56], 100, rtol=0.35)
