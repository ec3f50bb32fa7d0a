"""Outputs and every gradient against torch.nn.RNN/LSTM/GRU with the same weights and inputs."""

import numpy as np
import pytest
from oracle import import_torch

from rnnbench import Network, num_threads

torch = import_torch()

CELLS = [
    ("rnn", {"nonlinearity": "tanh"}),
    ("rnn", {"nonlinearity": "relu"}),
    ("lstm", {}),
    ("gru", {"reset_after": True}),
]
CELL_IDS = ["rnn-tanh", "rnn-relu", "lstm", "gru"]
SHAPES = [(1, 1, 1), (2, 37, 4), (3, 500, 3)]  # (num_layers, T, B)
TOLERANCE = {np.float64: 1e-10, np.float32: 1e-4}


def rel_err(a, b):
    """max |a - b| / max |b|: the error relative to the tensor's scale."""
    b = np.asarray(b, dtype=np.float64)
    return float(
        np.max(np.abs(np.asarray(a, dtype=np.float64) - b)) / max(np.max(np.abs(b)), 1e-30)
    )


def torch_module(cell, opt, I, H, L, dtype):
    kw = {"nonlinearity": opt["nonlinearity"]} if cell == "rnn" else {}
    cls = {"rnn": torch.nn.RNN, "lstm": torch.nn.LSTM, "gru": torch.nn.GRU}[cell]
    return cls(I, H, L, **kw).to(torch.float64 if dtype == np.float64 else torch.float32)


def parity_errors(cell, opt, L, T, B, dtype, I=5, H=16, seed=0):
    net = Network(cell, I, H, L, dtype=dtype, seed=seed, **opt)
    rng = np.random.default_rng(seed + 1)
    x = rng.standard_normal((T, B, I)).astype(dtype)
    h0 = (0.5 * rng.standard_normal((L, B, H))).astype(dtype)
    c0 = (0.5 * rng.standard_normal((L, B, H))).astype(dtype)
    d_out = rng.standard_normal((T, B, H)).astype(dtype)
    dh_n = rng.standard_normal((L, B, H)).astype(dtype)
    dc_n = rng.standard_normal((L, B, H)).astype(dtype)

    m = torch_module(cell, opt, I, H, L, dtype)
    m.load_state_dict({k: torch.from_numpy(v.copy()) for k, v in net.params.items()})
    xt, h0t, c0t = (torch.from_numpy(a.copy()).requires_grad_() for a in (x, h0, c0))
    if cell == "lstm":
        out, cache = net.forward(x, h0, c0)
        out_t, (hn_t, cn_t) = m(xt, (h0t, c0t))
        loss = (out_t * torch.from_numpy(d_out)).sum() + (hn_t * torch.from_numpy(dh_n)).sum()
        loss = loss + (cn_t * torch.from_numpy(dc_n)).sum()
        grads = net.backward(cache, d_out, dh_n, dc_n)
    else:
        out, cache = net.forward(x, h0)
        out_t, hn_t = m(xt, h0t)
        loss = (out_t * torch.from_numpy(d_out)).sum() + (hn_t * torch.from_numpy(dh_n)).sum()
        grads = net.backward(cache, d_out, dh_n)
    loss.backward()

    errors = {"out": rel_err(out, out_t.detach()), "h_n": rel_err(cache.h_n, hn_t.detach())}
    if cell == "lstm":
        errors["c_n"] = rel_err(cache.c_n, cn_t.detach())
        errors["c0"] = rel_err(grads["c0"], c0t.grad)
    for name, p in m.named_parameters():
        errors[name] = rel_err(grads[name], p.grad)
    errors["x"] = rel_err(grads["x"], xt.grad)
    errors["h0"] = rel_err(grads["h0"], h0t.grad)
    assert out.dtype == dtype and all(g.dtype == dtype for g in grads.values())
    return errors


@pytest.mark.parametrize("threads", [1, 2], ids=["threads1", "threads2"])
@pytest.mark.parametrize("dtype", [np.float64, np.float32], ids=["float64", "float32"])
@pytest.mark.parametrize("L,T,B", SHAPES, ids=[f"L{s[0]}-T{s[1]}-B{s[2]}" for s in SHAPES])
@pytest.mark.parametrize("cell,opt", CELLS, ids=CELL_IDS)
def test_outputs_and_every_gradient_match_pytorch(
    cell, opt, L, T, B, dtype, threads, split_small_batches
):
    with num_threads(threads):  # the same tolerance at every thread count, batch split
        errors = parity_errors(cell, opt, L, T, B, dtype)
    worst = max(errors, key=errors.get)
    assert errors[worst] <= TOLERANCE[dtype], f"{worst}: relative error {errors[worst]:.2e}"
