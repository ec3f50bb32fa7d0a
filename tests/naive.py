"""Slow, obviously correct NumPy references: one step at a time, straight from the equations
in docs/cells.md (PyTorch's gate order and bias placement)."""

import numpy as np


def sigmoid(a):
    return 1.0 / (1.0 + np.exp(-a))


def rnn_step(p, k, x, h, nonlinearity="tanh"):
    a = (
        x @ p[f"weight_ih_l{k}"].T
        + p[f"bias_ih_l{k}"]
        + h @ p[f"weight_hh_l{k}"].T
        + p[f"bias_hh_l{k}"]
    )
    return np.tanh(a) if nonlinearity == "tanh" else np.maximum(a, 0.0)


def lstm_step(p, k, x, h, c):
    H = h.shape[-1]
    a = (
        x @ p[f"weight_ih_l{k}"].T
        + p[f"bias_ih_l{k}"]
        + h @ p[f"weight_hh_l{k}"].T
        + p[f"bias_hh_l{k}"]
    )
    i, f = sigmoid(a[:, :H]), sigmoid(a[:, H : 2 * H])
    g, o = np.tanh(a[:, 2 * H : 3 * H]), sigmoid(a[:, 3 * H :])
    c = f * c + i * g
    return o * np.tanh(c), c


def gru_step(p, k, x, h, reset_after=True):
    H = h.shape[-1]
    w_ih, w_hh = p[f"weight_ih_l{k}"], p[f"weight_hh_l{k}"]
    b_ih, b_hh = p[f"bias_ih_l{k}"], p[f"bias_hh_l{k}"]
    W_ir, W_iz, W_in = w_ih[:H], w_ih[H : 2 * H], w_ih[2 * H :]
    W_hr, W_hz, W_hn = w_hh[:H], w_hh[H : 2 * H], w_hh[2 * H :]
    b_ir, b_iz, b_in = b_ih[:H], b_ih[H : 2 * H], b_ih[2 * H :]
    b_hr, b_hz, b_hn = b_hh[:H], b_hh[H : 2 * H], b_hh[2 * H :]
    r = sigmoid(x @ W_ir.T + b_ir + h @ W_hr.T + b_hr)
    z = sigmoid(x @ W_iz.T + b_iz + h @ W_hz.T + b_hz)
    if reset_after:
        n = np.tanh(x @ W_in.T + b_in + r * (h @ W_hn.T + b_hn))
    else:
        n = np.tanh(x @ W_in.T + b_in + (r * h) @ W_hn.T + b_hn)
    return (1.0 - z) * n + z * h


def forward(cell, params, x, h0, c0=None, num_layers=1, **opt):
    """Returns (out (T, B, H), h_n (L, B, H), c_n (L, B, H) or None)."""
    inp = x
    h_n, c_n = [], []
    for k in range(num_layers):
        h, c = h0[k], (c0[k] if c0 is not None else None)
        outs = []
        for t in range(inp.shape[0]):
            if cell == "rnn":
                h = rnn_step(params, k, inp[t], h, opt.get("nonlinearity", "tanh"))
            elif cell == "lstm":
                h, c = lstm_step(params, k, inp[t], h, c)
            else:
                h = gru_step(params, k, inp[t], h, opt.get("reset_after", True))
            outs.append(h)
        inp = np.stack(outs)
        h_n.append(h)
        c_n.append(c)
    return inp, np.stack(h_n), (np.stack(c_n) if cell == "lstm" else None)
