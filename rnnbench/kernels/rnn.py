"""Vanilla RNN: the time loop of one layer.

Forward, with the input projection xp_t = x_t W_ih^T + b_ih + b_hh precomputed for all t:

    a_t = xp_t + h_{t-1} W_hh^T
    h_t = phi(a_t)                     phi = tanh or relu

Backward: with dh_t the total gradient reaching h_t (its own term plus what flows back from t+1),

    da_t       = dh_t * phi'(a_t)      tanh: 1 - h_t^2;  relu: [h_t > 0]
    dh_{t-1}  += da_t W_hh             (the Jacobian dh_t/dh_{t-1} = diag(phi'(a_t)) W_hh)

The time loops do the recurrent GEMM with BLAS and call per-step functions for the element-wise
part, so that it vectorizes (see `lstm.py`). Every loop computes the batch rows [b0, b1) only
(see `lstm.py`).
"""

import numpy as np

from ._jit import jit
from ._math import select, sum_of, tanh


@jit
def _forward_step(x_t, a, relu):
    """a: (B, H) holds h_{t-1} W_hh^T on entry and h_t = phi(a + xp_t) on exit."""
    B, H = a.shape
    zero = a.dtype.type(0)
    for b in range(B):
        a_b = a[b]  # (H,)
        x_b = x_t[b]  # (H,)
        if relu:
            for j in range(H):
                v = a_b[j] + x_b[j]
                a_b[j] = select(v < zero, zero, v)  # NaN passes through, as torch.relu
        else:
            for j in range(H):
                a_b[j] = tanh(a_b[j] + x_b[j])


@jit
def forward(xp, w_hh_t, h, relu, b0, b1):
    """Run the recurrence for rows [b0, b1); h[0] holds h_0 on entry, h[1:] is written.

    xp: (T, B, H) input projection with both biases; w_hh_t: (H, H) = W_hh^T;
    h: (T + 1, B, H); relu: bool selects phi.
    """
    T = xp.shape[0]
    rows = slice(b0, b1)
    for t in range(T):
        np.dot(h[t, rows], w_hh_t, h[t + 1, rows])  # (b1 - b0, H), then phi in place
        _forward_step(xp[t, rows], h[t + 1, rows], relu)


@jit
def _backward_step(h_t, d_out_t, dh_rec, relu, da_t, sq, dh_sq_t):
    """da_t = (d_out_t + dh_rec) * phi'(a_t); dh_sq_t (B,) = sum over j of dh_t^2 per row
    (sq: (H,) scratch)."""
    B, H = h_t.shape
    zero = h_t.dtype.type(0)
    one = h_t.dtype.type(1)
    for b in range(B):
        h_b = h_t[b]
        out_b = d_out_t[b]
        rec_b = dh_rec[b]
        da_b = da_t[b]
        if relu:
            for j in range(H):
                dh = out_b[j] + rec_b[j]
                sq[j] = dh * dh
                da_b[j] = select(h_b[j] > zero, dh, zero)
        else:
            for j in range(H):
                dh = out_b[j] + rec_b[j]
                sq[j] = dh * dh
                da_b[j] = dh * (one - h_b[j] * h_b[j])
        dh_sq_t[b] = sum_of(sq)


@jit
def backward(h, w_hh, dh_out, dh_n, relu, da, dh_sq, dh0, b0, b1):
    """BPTT through one layer for rows [b0, b1).

    h: (T + 1, B, H) states from `forward`; w_hh: (H, H); dh_out: (T, B, H) gradient reaching each
    h_t from outside the recurrence (the loss or the layer above); dh_n: (B, H) gradient on h_T.
    Writes da: (T, B, H) = dL/da_t, dh_sq: (T, B) = sum over units of dh_t^2 (so that
    ||dh_t|| = sqrt(sum_b dh_sq[t, b])) and dh0: (B, H) = dL/dh_0.
    """
    T, B, H = dh_out.shape
    rows = slice(b0, b1)
    dh_rec = dh_n[rows].copy()  # (b1 - b0, H): gradient flowing back from t + 1
    sq = np.empty(H, dtype=np.float64)  # (H,): dh_t^2 of one row
    for t in range(T - 1, -1, -1):
        _backward_step(
            h[t + 1, rows], dh_out[t, rows], dh_rec, relu, da[t, rows], sq, dh_sq[t, rows]
        )
        np.dot(da[t, rows], w_hh, dh_rec)
    dh0[rows] = dh_rec
