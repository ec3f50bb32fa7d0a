"""LSTM: the time loop of one layer (gate blocks i, f, g, o in PyTorch's row order).

Forward, with xp_t = x_t W_ih^T + b_ih + b_hh precomputed for all t:

    [a_i, a_f, a_g, a_o] = xp_t + h_{t-1} W_hh^T
    i = sigma(a_i)   f = sigma(a_f)   g = tanh(a_g)   o = sigma(a_o)
    c_t = f * c_{t-1} + i * g
    h_t = o * tanh(c_t)

Backward, with dh_t and dc_t the total gradients reaching h_t and c_t:

    do = dh_t * tanh(c_t)
    dc_t += dh_t * o * (1 - tanh(c_t)^2)
    di = dc_t * g    df = dc_t * c_{t-1}    dg = dc_t * i
    da_i = di i (1 - i)   da_f = df f (1 - f)   da_g = dg (1 - g^2)   da_o = do o (1 - o)
    dc_{t-1} = dc_t * f                 (the cell path: diag(f) carries the gradient)
    dh_{t-1} = da_t W_hh

Layout of the code (the same in every cell module): the time loop does the recurrent GEMM with
BLAS and calls a per-step function for the element-wise part. Keeping that part in its own
compiled function, with one array view per gate block, is what lets LLVM vectorize it (inlined
into the loop next to the BLAS call it was left scalar, ~5x slower); see `_math.py` for the
vectorizable sigmoid and tanh.

Every time loop computes the batch rows [b0, b1) only (its last two arguments): the rows of a
batch are independent, so `rnnbench.parallel` runs row blocks on separate threads. The squared
gradient norms are summed per row (`dh_sq`), so the caller adds up any split the same way.
"""

import numpy as np

from ._jit import jit
from ._math import sigmoid, sum_of, tanh


@jit
def _forward_step(a, x_t, c_prev, c_t, h_t, g_t):
    """One step's gates and states. a, x_t: (B, 4H) = h_{t-1} W_hh^T and xp_t;
    c_prev: (B, H) = c_{t-1}; writes c_t, h_t: (B, H) and g_t: (B, 4H) = [i, f, g, o]."""
    B, H = c_t.shape
    for b in range(B):
        a_b = a[b]  # one view per gate block: separate arrays to LLVM, so it vectorizes over j
        x_b = x_t[b]
        a_i, a_f, a_g, a_o = a_b[:H], a_b[H : 2 * H], a_b[2 * H : 3 * H], a_b[3 * H :]
        x_i, x_f, x_g, x_o = x_b[:H], x_b[H : 2 * H], x_b[2 * H : 3 * H], x_b[3 * H :]
        g_b = g_t[b]
        i_b, f_b, g_blk, o_b = g_b[:H], g_b[H : 2 * H], g_b[2 * H : 3 * H], g_b[3 * H :]
        c_prev_b = c_prev[b]
        c_b = c_t[b]
        h_b = h_t[b]
        for j in range(H):
            i = sigmoid(a_i[j] + x_i[j])
            f = sigmoid(a_f[j] + x_f[j])
            g = tanh(a_g[j] + x_g[j])
            o = sigmoid(a_o[j] + x_o[j])
            i_b[j] = i
            f_b[j] = f
            g_blk[j] = g
            o_b[j] = o
            c_new = f * c_prev_b[j] + i * g
            c_b[j] = c_new
            h_b[j] = o * tanh(c_new)


@jit
def forward(xp, w_hh_t, h, c, gates, b0, b1):
    """Run the recurrence for rows [b0, b1); h[0], c[0] hold h_0, c_0 on entry.

    xp: (T, B, 4H) input projection with both biases; w_hh_t: (H, 4H) = W_hh^T;
    h, c: (T + 1, B, H); gates: (T, B, 4H) receives the activations [i, f, g, o].
    """
    T, B, G = xp.shape
    rows = slice(b0, b1)
    a = np.empty((b1 - b0, G), dtype=xp.dtype)  # (b1 - b0, 4H): h_{t-1} W_hh^T
    for t in range(T):
        np.dot(h[t, rows], w_hh_t, a)
        _forward_step(a, xp[t, rows], c[t, rows], c[t + 1, rows], h[t + 1, rows], gates[t, rows])


@jit
def _backward_step(g_t, c_prev, c_t, d_out_t, dh_rec, dc, da_t, sq, dh_sq_t):
    """One step back. g_t: (B, 4H) [i, f, g, o]; c_prev, c_t: (B, H); d_out_t: (B, H) the
    gradient from outside; dh_rec: (B, H) the gradient through W_hh from t + 1; dc: (B, H)
    dL/dc_t from t + 1, overwritten with dL/dc_{t-1}; writes da_t: (B, 4H) and dh_sq_t: (B,)
    = sum over j of dh_t^2 per row (sq: (H,) scratch)."""
    B, H = c_t.shape
    one = c_t.dtype.type(1)
    for b in range(B):
        g_b = g_t[b]  # one view per gate block (see _forward_step)
        i_b, f_b, g_blk, o_b = g_b[:H], g_b[H : 2 * H], g_b[2 * H : 3 * H], g_b[3 * H :]
        da_b = da_t[b]
        da_i, da_f, da_g, da_o = da_b[:H], da_b[H : 2 * H], da_b[2 * H : 3 * H], da_b[3 * H :]
        c_prev_b = c_prev[b]
        c_b = c_t[b]
        out_b = d_out_t[b]
        rec_b = dh_rec[b]
        dc_b = dc[b]
        for j in range(H):
            i = i_b[j]
            f = f_b[j]
            g = g_blk[j]
            o = o_b[j]
            dh = out_b[j] + rec_b[j]
            sq[j] = dh * dh
            tanh_c = tanh(c_b[j])
            dct = dc_b[j] + dh * o * (one - tanh_c * tanh_c)
            da_i[j] = dct * g * i * (one - i)
            da_f[j] = dct * c_prev_b[j] * f * (one - f)
            da_g[j] = dct * i * (one - g * g)
            da_o[j] = dh * tanh_c * o * (one - o)
            dc_b[j] = dct * f
        dh_sq_t[b] = sum_of(sq)


@jit
def backward(gates, c, w_hh, dh_out, dh_n, dc_n, da, dh_sq, dh0, dc0, b0, b1):
    """BPTT through one layer for rows [b0, b1).

    gates: (T, B, 4H) activations; c: (T + 1, B, H); w_hh: (4H, H); dh_out: (T, B, H) gradient
    reaching each h_t from outside the recurrence; dh_n, dc_n: (B, H) gradients on h_T, c_T.
    Writes da: (T, B, 4H) = dL/d[a_i, a_f, a_g, a_o], dh_sq: (T, B) = sum over units of
    dh_t^2, and dh0, dc0: (B, H) = dL/dh_0, dL/dc_0.
    """
    T, B, H = dh_out.shape
    rows = slice(b0, b1)
    dh_rec = dh_n[rows].copy()  # (b1 - b0, H): dL/dh_t flowing back through W_hh from t + 1
    dc = dc_n[rows].copy()  # (b1 - b0, H): dL/dc_t flowing back through f from t + 1
    sq = np.empty(H, dtype=np.float64)  # (H,): dh_t^2 of one row
    for t in range(T - 1, -1, -1):
        _backward_step(
            gates[t, rows], c[t, rows], c[t + 1, rows], dh_out[t, rows], dh_rec, dc,
            da[t, rows], sq, dh_sq[t, rows],
        )
        np.dot(da[t, rows], w_hh, dh_rec)
    dh0[rows] = dh_rec
    dc0[rows] = dc
