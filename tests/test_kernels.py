"""Forward against the naive NumPy reference; BPTT against float64 central finite differences."""

import numpy as np
import pytest
from cells import IDS, VARIANTS
from naive import forward as naive_forward

from rnnbench import Network, num_threads


def make_problem(cell, opt, T, B, I=2, H=3, L=2, seed=0, dtype=np.float64):
    net = Network(cell, I, H, L, dtype=dtype, seed=seed, **opt)
    rng = np.random.default_rng(seed + 100)
    x = rng.standard_normal((T, B, I)).astype(dtype)
    h0 = rng.standard_normal((L, B, H)).astype(dtype) * 0.5
    c0 = rng.standard_normal((L, B, H)).astype(dtype) * 0.5 if cell == "lstm" else None
    return net, x, h0, c0, rng


@pytest.mark.parametrize("cell,opt", VARIANTS, ids=IDS)
@pytest.mark.parametrize("T,B", [(1, 1), (6, 3)])
def test_forward_matches_naive_reference(cell, opt, T, B):
    net, x, h0, c0, _ = make_problem(cell, opt, T, B, L=3)
    out, cache = net.forward(x, h0, c0)
    ref_out, ref_hn, ref_cn = naive_forward(cell, net.params, x, h0, c0, num_layers=3, **opt)
    np.testing.assert_allclose(out, ref_out, rtol=1e-13, atol=1e-14)
    np.testing.assert_allclose(cache.h_n, ref_hn, rtol=1e-13, atol=1e-14)
    if cell == "lstm":
        np.testing.assert_allclose(cache.c_n, ref_cn, rtol=1e-13, atol=1e-14)
    else:
        assert cache.c_n is None


@pytest.mark.parametrize("threads", [1, 2], ids=["threads1", "threads2"])
@pytest.mark.parametrize("cell,opt", VARIANTS, ids=IDS)
@pytest.mark.parametrize("T,B", [(1, 1), (5, 3)])
def test_backward_matches_central_finite_differences(cell, opt, T, B, threads, split_small_batches):
    """L = sum(out * d_out) + sum(h_n * dh_n) (+ sum(c_n * dc_n)); every input checked, with
    the batch split over `threads` row blocks (the same tolerances)."""
    with num_threads(threads):
        _check_finite_differences(cell, opt, T, B)


def _check_finite_differences(cell, opt, T, B):
    net, x, h0, c0, rng = make_problem(cell, opt, T, B)
    L_, H = net.num_layers, net.hidden_size
    d_out = rng.standard_normal((T, B, H))
    dh_n = rng.standard_normal((L_, B, H))
    dc_n = rng.standard_normal((L_, B, H)) if cell == "lstm" else None

    def loss():
        out, cache = net.forward(x, h0, c0)
        val = np.sum(out * d_out) + np.sum(cache.h_n * dh_n)
        return val + (np.sum(cache.c_n * dc_n) if cell == "lstm" else 0.0)

    out, cache = net.forward(x, h0, c0)
    grads = net.backward(cache, d_out, dh_n, dc_n)
    arrays = dict(net.params, x=x, h0=h0)
    if cell == "lstm":
        arrays["c0"] = c0
    assert set(grads) == set(arrays)
    eps = 1e-6
    for name, a in arrays.items():
        fd = np.empty_like(a)
        for idx in np.ndindex(a.shape):
            saved = a[idx]
            a[idx] = saved + eps
            up = loss()
            a[idx] = saved - eps
            down = loss()
            a[idx] = saved
            fd[idx] = (up - down) / (2 * eps)
        assert grads[name].shape == a.shape, name
        np.testing.assert_allclose(grads[name], fd, rtol=1e-6, atol=1e-8, err_msg=name)


@pytest.mark.parametrize("cell,opt", VARIANTS, ids=IDS)
def test_dh_norms_are_the_norms_of_the_total_gradient_on_h_t(cell, opt):
    """dL/dh_t of the top layer = d_out[t] + dL/dh_0 of the same network run on x[t+1:] from h_t."""
    T, B = 6, 2
    net, x, h0, c0, rng = make_problem(cell, opt, T, B, L=2)
    d_out = rng.standard_normal((T, B, net.hidden_size))
    out, cache = net.forward(x, h0, c0)
    net.backward(cache, d_out)
    assert cache.dh_norms.shape == (2, T)
    for t in range(T - 1):
        h_t = np.stack([h[t + 1] for h in cache.h])
        c_t = np.stack([c[t + 1] for c in cache.c]) if cell == "lstm" else None
        _, suffix = net.forward(x[t + 1 :], h_t, c_t)
        g = net.backward(suffix, d_out[t + 1 :])
        expected = np.linalg.norm(d_out[t] + g["h0"][1])
        np.testing.assert_allclose(cache.dh_norms[1, t], expected, rtol=1e-12)
    np.testing.assert_allclose(cache.dh_norms[1, T - 1], np.linalg.norm(d_out[T - 1]), rtol=1e-12)


@pytest.mark.parametrize("cell,opt", VARIANTS, ids=IDS)
def test_float32_is_a_compiled_path_that_keeps_its_dtype(cell, opt):
    net, x, h0, c0, rng = make_problem(cell, opt, 5, 2, dtype=np.float32)
    out, cache = net.forward(x, h0, c0)
    grads = net.backward(cache, rng.standard_normal(out.shape).astype(np.float32))
    assert out.dtype == np.float32 and cache.h_n.dtype == np.float32
    assert all(g.dtype == np.float32 for g in grads.values())
    ref_out, _, _ = naive_forward(
        cell,
        {k: v.astype(np.float64) for k, v in net.params.items()},
        x.astype(np.float64),
        h0.astype(np.float64),
        None if c0 is None else c0.astype(np.float64),
        num_layers=2,
        **opt,
    )
    np.testing.assert_allclose(out, ref_out, rtol=1e-5, atol=1e-6)


@pytest.mark.parametrize("cell,opt", VARIANTS, ids=IDS)
def test_nan_in_the_input_propagates(cell, opt):
    net, x, h0, c0, rng = make_problem(cell, opt, 4, 2)
    x[1, 0, 0] = np.nan
    out, cache = net.forward(x, h0, c0)
    assert np.all(np.isfinite(out[0])) and np.isnan(out[1:, 0]).any()
    grads = net.backward(cache, np.ones_like(out))
    assert np.isnan(grads["weight_ih_l0"]).any()


@pytest.mark.parametrize("dtype", [np.float64, np.float32], ids=["float64", "float32"])
def test_vectorizable_sigmoid_and_tanh_are_accurate_to_a_few_ulp(dtype):
    """kernels._math against the long-double reference: <= 2 ulp relative, limits and NaN exact."""
    import numba

    from rnnbench.kernels._jit import JIT_OPTIONS
    from rnnbench.kernels._math import sigmoid, tanh

    opts = dict(JIT_OPTIONS, cache=False)

    @numba.njit(**opts)
    def apply(x, s, t):
        for i in range(x.size):
            s[i] = sigmoid(x[i])
            t[i] = tanh(x[i])

    tiny = -320 if dtype == np.float64 else -44
    rng = np.random.default_rng(0)
    mag = np.logspace(tiny, 3, 20001)
    x = np.concatenate(
        [
            np.linspace(-800, 800, 40001),
            4 * rng.standard_normal(40000),
            mag,
            -mag,
            [0.0, -0.0, 0.625, -0.625, np.nextafter(0.625, 0)],
        ]
    ).astype(dtype)
    s, t = np.empty_like(x), np.empty_like(x)
    apply(x, s, t)
    xl = x.astype(np.longdouble)
    eps, smallest = np.finfo(dtype).eps, np.finfo(dtype).tiny
    for got, ref in ((s, 1 / (1 + np.exp(-xl))), (t, np.tanh(xl))):
        normal = np.abs(ref) >= smallest
        rel = np.abs(got.astype(np.longdouble) - ref)[normal] / np.abs(ref[normal])
        assert rel.max() <= 2 * eps
        assert np.abs(got.astype(np.longdouble) - ref).max() <= 2 * eps
    special = np.array([np.inf, -np.inf, np.nan], dtype=dtype)
    s, t = np.empty_like(special), np.empty_like(special)
    apply(special, s, t)
    assert s[0] == 1 and s[1] == 0 and np.isnan(s[2])
    assert t[0] == 1 and t[1] == -1 and np.isnan(t[2])
    assert s.dtype == dtype and t.dtype == dtype


@pytest.mark.parametrize("cell,opt", VARIANTS, ids=IDS)
def test_reused_workspace_leaves_earlier_caches_and_gradients_intact(cell, opt):
    """The internal buffers are reused across calls; nothing handed out may change with them."""
    import copy

    net, x, h0, c0, rng = make_problem(cell, opt, 5, 3)
    d_out = rng.standard_normal((5, 3, net.hidden_size))
    out1, cache1 = net.forward(x, h0, c0)
    saved = out1.copy(), [g.copy() for g in cache1.gates]
    g1 = net.backward(cache1, d_out)
    g1_saved = {k: v.copy() for k, v in g1.items()}
    out2, cache2 = net.forward(2 * x, h0, c0)  # same shapes: same buffers
    net.backward(cache2, 3 * d_out)
    np.testing.assert_array_equal(out1, saved[0])
    for g, s in zip(cache1.gates, saved[1], strict=True):
        np.testing.assert_array_equal(g, s)
    for k, v in g1.items():
        np.testing.assert_array_equal(v, g1_saved[k], err_msg=k)
    again = net.backward(cache1, d_out)  # a cache from before still gives its own gradients
    for k, v in again.items():
        np.testing.assert_array_equal(v, g1_saved[k], err_msg=k)
    twin = copy.deepcopy(net)
    np.testing.assert_array_equal(twin.forward(x, h0, c0)[0], out1)


def test_vector_check_rule_flags_a_loop_left_scalar_in_one_dtype():
    from rnnbench.kernels.vector_check import failures

    assert failures({"lstm.forward": {"float32": 2, "float64": 2}}) == []
    assert failures({"lstm.forward": {"float32": 2, "float64": 0}})  # the Python 3.12 bug
    assert failures({"rnn.forward": {"float32": 4, "float64": 2}})
    assert failures({"gru.backward": {"float32": 0, "float64": 0}})
    assert failures({"gru.backward": {"float64": 3}})


@pytest.mark.slow
def test_every_kernel_vectorizes_its_loops_under_this_python():
    """Compiles every kernel afresh and counts LLVM's vectorized loops (see vector_check)."""
    import subprocess
    import sys

    cmd = [sys.executable, "-m", "rnnbench.kernels.vector_check"]
    done = subprocess.run(cmd, capture_output=True, text=True, timeout=900)
    assert done.returncode == 0, done.stdout + done.stderr
    assert "lstm.forward" in done.stdout
