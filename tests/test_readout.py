"""Linear readout: forward against a naive loop, backward against finite differences and PyTorch."""

import math

import numpy as np
import pytest

from rnnbench.readout import init_readout, readout_backward, readout_forward


def setup(S=4, B=3, H=5, O=6, dtype=np.float64, seed=0):
    rng = np.random.default_rng(seed)
    h = rng.normal(size=(S, B, H)).astype(dtype)
    w = rng.normal(size=(O, H)).astype(dtype)
    b = rng.normal(size=O).astype(dtype)
    return h, w, b


def test_forward_matches_naive_loop():
    h, w, b = setup()
    y = readout_forward(h, w, b)
    assert y.shape == (4, 3, 6)
    for s in range(4):
        for j in range(3):
            np.testing.assert_allclose(y[s, j], w @ h[s, j] + b, rtol=1e-12)


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_dtype_kept(dtype):
    h, w, b = setup(dtype=dtype)
    y = readout_forward(h, w, b)
    assert y.dtype == dtype
    grads = readout_backward(h, w, np.ones_like(y))
    assert all(g.dtype == dtype for g in grads)


def test_non_contiguous_hidden_states():
    h, w, b = setup(S=6)
    last = h[::2]  # strided view
    np.testing.assert_allclose(readout_forward(last, w, b), readout_forward(last.copy(), w, b))


def test_backward_finite_differences():
    h, w, b = setup()
    g = np.random.default_rng(9).normal(size=(4, 3, 6))  # L = sum(g * y), so dL/dy = g

    def loss():
        return float(np.sum(g * readout_forward(h, w, b)))

    dw, db, dh = readout_backward(h, w, g)
    assert dw.shape == w.shape and db.shape == b.shape and dh.shape == h.shape
    eps = 1e-6
    for arr, grad in ((w, dw), (b, db), (h, dh)):
        num = np.zeros_like(arr)
        flat, nflat = arr.reshape(-1), num.reshape(-1)
        for k in range(flat.size):
            old = flat[k]
            flat[k] = old + eps
            lp = loss()
            flat[k] = old - eps
            lm = loss()
            flat[k] = old
            nflat[k] = (lp - lm) / (2 * eps)
        np.testing.assert_allclose(grad, num, rtol=1e-7, atol=1e-8)


def test_matches_torch_linear():
    torch = pytest.importorskip("torch")
    h, w, b = setup(S=7, B=2, H=8, O=3)
    g = np.random.default_rng(1).normal(size=(7, 2, 3))
    lin = torch.nn.Linear(8, 3).double()
    with torch.no_grad():
        lin.weight.copy_(torch.tensor(w))
        lin.bias.copy_(torch.tensor(b))
    ht = torch.tensor(h, requires_grad=True)
    yt = lin(ht)
    yt.backward(torch.tensor(g))
    np.testing.assert_allclose(readout_forward(h, w, b), yt.detach().numpy(), rtol=1e-12)
    dw, db, dh = readout_backward(h, w, g)
    np.testing.assert_allclose(dw, lin.weight.grad.numpy(), rtol=1e-12)
    np.testing.assert_allclose(db, lin.bias.grad.numpy(), rtol=1e-12)
    np.testing.assert_allclose(dh, ht.grad.numpy(), rtol=1e-12)


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_init_readout(dtype):
    p = init_readout(64, 10, np.random.default_rng(0), dtype)
    assert set(p) == {"readout.weight", "readout.bias"}
    w, b = p["readout.weight"], p["readout.bias"]
    assert w.shape == (10, 64) and b.shape == (10,)
    assert w.dtype == dtype and b.dtype == dtype
    k = 1 / math.sqrt(64)
    assert np.abs(w).max() <= k and np.abs(b).max() <= k
    assert w.min() < -0.9 * k and w.max() > 0.9 * k  # spans the interval, not a narrower one
    assert abs(w.std() - k / math.sqrt(3)) < 0.1 * k  # U(-k, k) has std k / sqrt(3)
    q = init_readout(64, 10, np.random.default_rng(0), dtype)
    np.testing.assert_array_equal(w, q["readout.weight"])
    np.testing.assert_array_equal(b, q["readout.bias"])


def test_invalid_arguments():
    h, w, b = setup()
    with pytest.raises(ValueError, match="dtype"):
        readout_forward(h.astype(np.float32), w, b)
    with pytest.raises(ValueError, match="shape"):
        readout_forward(h, w[:, :-1], b)
    with pytest.raises(ValueError, match="bias"):
        readout_forward(h, w, b[:-1])
    with pytest.raises(ValueError, match="dy"):
        readout_backward(h, w, np.zeros((4, 3, 5)))
    with pytest.raises(ValueError, match="hidden_size"):
        init_readout(0, 3, np.random.default_rng(0))
    with pytest.raises(ValueError, match="output_size"):
        init_readout(3, 2.0, np.random.default_rng(0))
