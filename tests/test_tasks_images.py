"""digits and mnist: reading order, splits, the IDX reader on small files the tests write,
the missing-file and download errors, baselines, accuracy, determinism."""

import hashlib
import urllib.error

import numpy as np
import pytest
from idx import write_mnist

from rnnbench.tasks import make_task
from rnnbench.tasks import mnist as M
from rnnbench.tasks.mnist import download as D
from rnnbench.tasks.pixels import PERMUTATION_SEED

pytest.importorskip("sklearn")  # digits needs the optional extra (in the test extra)


def rng(seed=0):
    return np.random.default_rng(seed)


# --- digits ---------------------------------------------------------------------------------------


def test_digits_pixel_by_pixel():
    from sklearn.datasets import load_digits

    data = load_digits()
    task = make_task("digits")
    assert (task.seq_len, task.input_size, task.output_size) == (64, 1, 10)
    batch = task.held_out(rng(), 10_000)  # at least the test split: all of it, in order
    assert batch.x.shape == (64, 360, 1) and batch.target.dtype == np.int64
    np.testing.assert_array_equal(batch.x[:, :, 0].T * 16, data.data[1437:])
    np.testing.assert_array_equal(batch.target, data.target[1437:])
    train = task.sample(rng(), 500)
    assert 0 <= train.x.min() and train.x.max() <= 1
    rows = {tuple(r) for r in data.data[:1437]}
    assert all(tuple(r) in rows for r in train.x[:, :, 0].T * 16)  # from the training split


def test_digits_row_by_row_and_permuted():
    plain = make_task("digits", seq_len=8).held_out(rng(), 400)
    assert plain.x.shape == (8, 360, 8)
    pixels = make_task("digits").held_out(rng(), 400).x[:, :, 0]  # (64, B)
    np.testing.assert_array_equal(plain.x.transpose(0, 2, 1).reshape(64, -1), pixels)
    perm = np.random.default_rng(PERMUTATION_SEED).permutation(64)
    permuted = make_task("digits", permuted=True).held_out(rng(), 400).x[:, :, 0]
    np.testing.assert_array_equal(permuted, pixels[perm])
    again = make_task("digits", permuted=True).held_out(rng(5), 400).x[:, :, 0]
    np.testing.assert_array_equal(again, permuted)  # one permutation for every run and seed


def test_digits_held_out_subset_is_fixed_by_the_seed():
    task = make_task("digits")
    a, b, c = task.held_out(rng(1), 100), task.held_out(rng(1), 100), task.held_out(rng(2), 100)
    np.testing.assert_array_equal(a.x, b.x)
    assert a.x.shape == (64, 100, 1) and not np.array_equal(a.x, c.x)
    rows = [tuple(r) for r in a.x[:, :, 0].T]
    assert len(set(rows)) > 95  # without replacement (a few digit images repeat)


def test_digits_baseline_and_accuracy():
    task = make_task("digits")
    batch = task.held_out(rng(), 360)
    train = make_task("digits").splits()[0]
    q = np.bincount(train.labels, minlength=10) / train.labels.size
    y = np.broadcast_to(np.log(q), (1, 360, 10)).copy()  # the class prior, whatever the pixels
    m = task.metrics(y, batch)
    assert m["loss"] == pytest.approx(task.baseline_loss, rel=1e-12)
    assert abs(task.baseline_loss - np.log(10)) < 0.01
    assert m["accuracy"] == pytest.approx(np.mean(batch.target == q.argmax()))
    assert not task.solved(m)
    perfect = 10.0 * np.eye(10)[batch.target][None]
    m = task.metrics(perfect, batch)
    assert m["accuracy"] == 1.0 and task.solved(m)
    assert not task.solved({"loss": 0.1, "accuracy": 0.94})


def test_digits_baseline_by_monte_carlo():
    # a memoryless model fit on training batches learns the training frequencies q
    task = make_task("digits")
    labels = np.concatenate([task.sample(rng(s), 1000).target for s in range(20)])
    q_hat = np.bincount(labels, minlength=10) / labels.size
    test = task.held_out(rng(), 360).target
    assert -np.mean(np.log(q_hat[test])) == pytest.approx(task.baseline_loss, rel=2e-3)


@pytest.mark.parametrize("T", [0, 10, 65])
def test_digits_seq_len_must_divide_64(T):
    with pytest.raises(ValueError) as excinfo:
        make_task("digits", seq_len=T)
    msg = str(excinfo.value)
    assert msg.startswith("task.seq_len") and "\n" not in msg


def test_digits_without_scikit_learn_is_one_line(monkeypatch):
    import importlib.util

    real = importlib.util.find_spec
    monkeypatch.setattr(
        importlib.util, "find_spec", lambda n, *a: None if n == "sklearn" else real(n, *a)
    )
    with pytest.raises(ValueError, match=r"rnnbench\[digits\]") as excinfo:
        make_task("digits")
    assert "\n" not in str(excinfo.value)


# --- mnist ----------------------------------------------------------------------------------------


@pytest.mark.parametrize("gz", [True, False])
def test_mnist_reads_idx_files(tmp_path, gz):
    arrays = write_mnist(tmp_path, gz=gz)
    task = make_task("mnist", path=str(tmp_path))
    assert (task.seq_len, task.input_size) == (784, 1)
    batch = task.held_out(rng(), 512)  # the whole test split
    assert batch.x.shape == (784, 12, 1)
    np.testing.assert_allclose(batch.x[:, :, 0].T * 255, arrays["test_images"].reshape(12, -1))
    np.testing.assert_array_equal(batch.target, arrays["test_labels"])
    rows = make_task("mnist", path=str(tmp_path), seq_len=28).sample(rng(), 64).x  # (28, 64, 28)
    assert rows.shape == (28, 64, 28)
    train_rows = {r.tobytes() for r in arrays["train_images"].astype(np.uint8)}
    for j in range(64):
        assert np.round(rows[:, j] * 255).astype(np.uint8).tobytes() in train_rows


def test_mnist_permuted_and_baseline(tmp_path):
    arrays = write_mnist(tmp_path)
    plain = make_task("mnist", path=str(tmp_path)).held_out(rng(), 12).x[:, :, 0]
    perm = np.random.default_rng(PERMUTATION_SEED).permutation(784)
    permuted = make_task("mnist", path=str(tmp_path), permuted=True).held_out(rng(), 12)
    np.testing.assert_array_equal(permuted.x[:, :, 0], plain[perm])
    task = make_task("mnist", path=str(tmp_path))
    q = np.bincount(arrays["train_labels"], minlength=10) / 30
    assert task.baseline_loss == pytest.approx(-np.mean(np.log(q[arrays["test_labels"]])))
    y = np.broadcast_to(np.log(q), (1, 12, 10)).copy()
    assert task.metrics(y, permuted)["loss"] == pytest.approx(task.baseline_loss)


def test_mnist_missing_files_name_task_path(tmp_path):
    with pytest.raises(ValueError) as excinfo:
        make_task("mnist", path=str(tmp_path / "nowhere"))
    msg = str(excinfo.value)
    assert msg.startswith("task.path=") and "\n" not in msg and "download" in msg
    write_mnist(tmp_path)
    (tmp_path / "t10k-labels-idx1-ubyte.gz").unlink()
    with pytest.raises(ValueError, match="t10k-labels-idx1-ubyte") as excinfo:
        make_task("mnist", path=str(tmp_path))
    assert "\n" not in str(excinfo.value)


@pytest.mark.parametrize(
    "damage, match",
    [
        (lambda b: b"\x00\x00\x09" + b[3:], "not an IDX file"),
        (lambda b: b[:-5], "header says"),
        (lambda b: b[:6], "truncated IDX header"),
    ],
)
def test_mnist_damaged_file_is_one_line(tmp_path, damage, match):
    write_mnist(tmp_path, gz=False)
    f = tmp_path / M.FILES["train_images"]
    f.write_bytes(damage(f.read_bytes()))
    task = make_task("mnist", path=str(tmp_path))
    with pytest.raises(ValueError, match=match) as excinfo:
        task.sample(rng(), 2)
    assert str(excinfo.value).startswith("task.path") and "\n" not in str(excinfo.value)


def test_mnist_seq_len_must_divide_784(tmp_path):
    write_mnist(tmp_path)
    with pytest.raises(ValueError, match="task.seq_len must divide the 784 pixels"):
        make_task("mnist", path=str(tmp_path), seq_len=100)


def test_mnist_download_offline_fails_in_one_line(tmp_path, monkeypatch, capsys):
    def refuse(url, timeout):
        raise urllib.error.URLError("Name or service not known")

    monkeypatch.setattr(D.urllib.request, "urlopen", refuse)
    assert D.main(["download", str(tmp_path / "new")]) == 1
    assert not (tmp_path / "new").exists()  # nothing written
    err = capsys.readouterr().err
    assert err.startswith("mnist download failed: cannot fetch") and err.count("\n") == 1
    assert D.main(["fetch"]) == 2


class _Response:
    def __init__(self, data):
        self.data = data

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        return False

    def read(self):
        return self.data


def test_mnist_download_checks_md5_and_writes_atomically(tmp_path, monkeypatch):
    source = tmp_path / "source"
    write_mnist(source)
    served = {f.name: f.read_bytes() for f in source.iterdir()}
    monkeypatch.setattr(D, "MD5", {n: hashlib.md5(b).hexdigest() for n, b in served.items()})
    calls = []

    def serve(url, timeout):
        calls.append(url)
        return _Response(served[url.rsplit("/", 1)[1]])

    monkeypatch.setattr(D.urllib.request, "urlopen", serve)
    out = tmp_path / "out"
    assert D.main(["download", str(out)]) == 0
    assert sorted(p.name for p in out.iterdir()) == sorted(served)  # no temporaries left
    assert make_task("mnist", path=str(out)).held_out(rng(), 5).x.shape == (784, 5, 1)
    assert D.main(["download", str(out)]) == 0 and len(calls) == 4  # present: not fetched again
    bad = dict(D.MD5, **{"t10k-labels-idx1-ubyte.gz": "0" * 32})
    monkeypatch.setattr(D, "MD5", bad)
    (out / "t10k-labels-idx1-ubyte.gz").unlink()
    with pytest.raises(OSError, match="MD5 mismatch"):
        D.download(out)
    assert not (out / "t10k-labels-idx1-ubyte.gz").exists()
