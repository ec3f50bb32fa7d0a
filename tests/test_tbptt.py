"""Truncated BPTT against PyTorch doing the same truncation (h.detach() between chunks)."""

import numpy as np
import pytest
from oracle import import_torch

from rnnbench import Network, tbptt

torch = import_torch()

CELLS = [
    ("rnn", {"nonlinearity": "tanh"}),
    ("rnn", {"nonlinearity": "relu"}),
    ("lstm", {}),
    ("gru", {"reset_after": True}),
    ("gru", {"reset_after": False}),
]
IDS = ["rnn-tanh", "rnn-relu", "lstm", "gru", "gru-reset-before"]


def _setup(cell, opt, L=2, T=23, B=3, I=4, H=6, seed=0):
    net = Network(cell, I, H, L, dtype=np.float64, seed=seed, **opt)
    rng = np.random.default_rng(seed + 1)
    x = rng.standard_normal((T, B, I))
    d_out = rng.standard_normal((T, B, H))
    return net, x, d_out


def _torch_truncated(net, cell, opt, x, d_out, K):
    """Gradients of sum(out * d_out) with torch, the state detached every K steps."""
    T = x.shape[0]
    kw = {"nonlinearity": opt["nonlinearity"]} if cell == "rnn" else {}
    cls = {"rnn": torch.nn.RNN, "lstm": torch.nn.LSTM, "gru": torch.nn.GRU}[cell]
    m = cls(net.input_size, net.hidden_size, net.num_layers, **kw).double()
    m.load_state_dict({k: torch.from_numpy(v.copy()) for k, v in net.params.items()})
    xt = torch.from_numpy(x.copy()).requires_grad_()
    outs, state = [], None
    for s in range(0, T, K if K > 0 else T):
        out, state = m(xt[s : s + K] if K > 0 else xt, state)
        outs.append(out)
        state = tuple(h.detach() for h in state) if cell == "lstm" else state.detach()
    loss = (torch.cat(outs) * torch.from_numpy(d_out)).sum()
    loss.backward()
    grads = {k: p.grad.numpy() for k, p in m.named_parameters()}
    grads["x"] = xt.grad.numpy()
    return torch.cat(outs).detach().numpy(), grads


def _rel(a, b):
    return float(np.max(np.abs(a - b)) / max(np.max(np.abs(b)), 1e-300))


@pytest.mark.parametrize(("cell", "opt"), CELLS[:4], ids=IDS[:4])  # torch has no reset-before GRU
@pytest.mark.parametrize("K", [1, 5, 7, 11])
def test_truncated_gradients_equal_torch_repackage_hidden(cell, opt, K):
    net, x, d_out = _setup(cell, opt)
    out, cache = tbptt.forward(net, x, K)
    grads = tbptt.backward(net, cache, d_out)
    out_t, ref = _torch_truncated(net, cell, opt, x, d_out, K)
    assert _rel(out, out_t) < 1e-13
    full = net.backward(net.forward(x)[1], d_out)
    for k, g in ref.items():
        assert _rel(grads[k], g) < 1e-12, k
    # the truncation matters: the full gradient is something else
    assert _rel(full["weight_hh_l0"], ref["weight_hh_l0"]) > 1e-6


@pytest.mark.parametrize(("cell", "opt"), CELLS, ids=IDS)
@pytest.mark.parametrize("K", [0, 23, 24, 1000])
def test_k_covering_t_is_full_bptt_bit_for_bit(cell, opt, K):
    net, x, d_out = _setup(cell, opt)
    out_full, cache_full = net.forward(x)
    out_full = out_full.copy()
    g_full = net.backward(cache_full, d_out)
    norms_full = cache_full.dh_norms.copy()
    out, cache = tbptt.forward(net, x, K)
    g = tbptt.backward(net, cache, d_out)
    assert np.array_equal(out, out_full)
    assert set(g) == set(g_full)
    for k in g_full:
        assert np.array_equal(g[k], g_full[k]), k
    assert np.array_equal(cache.dh_norms, norms_full)


@pytest.mark.parametrize(("cell", "opt"), CELLS[2:4], ids=IDS[2:4])
def test_dh_norms_are_cut_at_chunk_boundaries(cell, opt):
    """A loss at the last step only: ||dL/dh_t|| is zero before the last chunk, nonzero in it;
    the joined cache is the full forward pass (diagnostics read gates and states from it)."""
    net, x, _ = _setup(cell, opt, T=20)
    d_out = np.zeros((20, 3, 6))
    d_out[-1] = 1.0
    out, cache = tbptt.forward(net, x, 8)  # chunks [0, 8), [8, 16), [16, 20)
    tbptt.backward(net, cache, d_out)
    assert cache.dh_norms.shape == (2, 20)
    assert np.all(cache.dh_norms[:, :16] == 0)
    assert np.all(cache.dh_norms[:, 16:] > 0)
    full_out, full = net.forward(x)
    np.testing.assert_allclose(out, full_out, rtol=0, atol=1e-14)
    for k in range(2):
        assert cache.h[k].shape == full.h[k].shape
        assert cache.gates[k].shape == full.gates[k].shape
        np.testing.assert_allclose(cache.h[k], full.h[k], rtol=0, atol=1e-14)
        np.testing.assert_allclose(cache.gates[k], full.gates[k], rtol=0, atol=1e-14)


def test_chunk_bounds():
    assert tbptt.chunk_bounds(10, 0) == [(0, 10)]
    assert tbptt.chunk_bounds(10, 10) == [(0, 10)]
    assert tbptt.chunk_bounds(10, 4) == [(0, 4), (4, 8), (8, 10)]
    assert tbptt.chunk_bounds(3, 1) == [(0, 1), (1, 2), (2, 3)]
