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
"""

import numpy as np

from ._jit import jit
from ._math import sigmoid, tanh


@jit
def forward(xp, w_hh_t, h, c, gates):
    """Run the recurrence; h[0], c[0] hold h_0, c_0 on entry.

    xp: (T, B, 4H) input projection with both biases; w_hh_t: (H, 4H) = W_hh^T;
    h, c: (T + 1, B, H); gates: (T, B, 4H) receives the activations [i, f, g, o].
    """
    T, B, G = xp.shape
    H = G // 4
    a = np.empty((B, G), dtype=xp.dtype)  # (B, 4H): h_{t-1} W_hh^T, a read-only buffer
    for t in range(T):
        np.dot(h[t], w_hh_t, a)
        x_t = xp[t]
        g_t = gates[t]
        c_prev = c[t]
        c_t = c[t + 1]
        h_t = h[t + 1]
        for b in range(B):
            # one view per gate block: LLVM then sees separate arrays and vectorizes over j
            # (indexing one row at j, H + j, ... with a runtime H defeats its dependence analysis)
            a_b = a[b]  # (4H,) reads
            x_b = x_t[b]
            ai, af, ag, ao = a_b[:H], a_b[H : 2 * H], a_b[2 * H : 3 * H], a_b[3 * H :]
            xi, xf, xg, xo = x_b[:H], x_b[H : 2 * H], x_b[2 * H : 3 * H], x_b[3 * H :]
            g_b = g_t[b]  # (4H,) writes
            i_b, f_b, g_blk, o_b = g_b[:H], g_b[H : 2 * H], g_b[2 * H : 3 * H], g_b[3 * H :]
            cp_b = c_prev[b]
            c_b = c_t[b]
            h_b = h_t[b]
            for j in range(H):
                i = sigmoid(ai[j] + xi[j])
                f = sigmoid(af[j] + xf[j])
                g = tanh(ag[j] + xg[j])
                o = sigmoid(ao[j] + xo[j])
                i_b[j] = i
                f_b[j] = f
                g_blk[j] = g
                o_b[j] = o
                c_new = f * cp_b[j] + i * g
                c_b[j] = c_new
                h_b[j] = o * tanh(c_new)


@jit
def backward(gates, c, w_hh, dh_out, dh_n, dc_n, da, dh_norms):
    """BPTT through one layer; returns (dL/dh_0, dL/dc_0), each (B, H).

    gates: (T, B, 4H) activations; c: (T + 1, B, H); w_hh: (4H, H); dh_out: (T, B, H) gradient
    reaching each h_t from outside the recurrence; dh_n, dc_n: (B, H) gradients on h_T, c_T.
    Writes da: (T, B, 4H) = dL/d[a_i, a_f, a_g, a_o] and dh_norms: (T,) = ||dh_t||.
    """
    T, B, H = dh_out.shape
    one = c.dtype.type(1)
    dh_rec = dh_n.copy()  # (B, H): dL/dh_t flowing back through W_hh from t + 1
    dc = dc_n.copy()  # (B, H): dL/dc_t flowing back through f from t + 1
    sq = np.empty(H, dtype=np.float64)  # (H,): sum over b of dh_t^2, per unit
    for t in range(T - 1, -1, -1):
        gt = gates[t]
        c_prev = c[t]
        c_t = c[t + 1]
        d_out_t = dh_out[t]
        da_t = da[t]
        sq[:] = 0.0
        for b in range(B):
            g_b = gt[b]  # (4H,) [i, f, g, o], one view per block (see forward)
            i_b, f_b, g_blk, o_b = g_b[:H], g_b[H : 2 * H], g_b[2 * H : 3 * H], g_b[3 * H :]
            da_b = da_t[b]  # (4H,) writes
            dai, daf, dag, dao = da_b[:H], da_b[H : 2 * H], da_b[2 * H : 3 * H], da_b[3 * H :]
            cp_b = c_prev[b]
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
                sq[j] += dh * dh
                tanh_c = tanh(c_b[j])
                dct = dc_b[j] + dh * o * (one - tanh_c * tanh_c)
                dai[j] = dct * g * i * (one - i)
                daf[j] = dct * cp_b[j] * f * (one - f)
                dag[j] = dct * i * (one - g * g)
                dao[j] = dh * tanh_c * o * (one - o)
                dc_b[j] = dct * f
        dh_norms[t] = np.sqrt(np.sum(sq))
        np.dot(da_t, w_hh, dh_rec)
    return dh_rec, dc
