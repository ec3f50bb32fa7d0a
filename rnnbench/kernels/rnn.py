"""Vanilla RNN: the time loop of one layer.

Forward, with the input projection xp_t = x_t W_ih^T + b_ih + b_hh precomputed for all t:

    a_t = xp_t + h_{t-1} W_hh^T
    h_t = phi(a_t)                     phi = tanh or relu

Backward: with dh_t the total gradient reaching h_t (its own term plus what flows back from t+1),

    da_t       = dh_t * phi'(a_t)      tanh: 1 - h_t^2;  relu: [h_t > 0]
    dh_{t-1}  += da_t W_hh             (the Jacobian dh_t/dh_{t-1} = diag(phi'(a_t)) W_hh)
"""

import numpy as np

from ._jit import jit


@jit
def forward(xp, w_hh_t, h, relu):
    """Run the recurrence; h[0] holds h_0 on entry, h[1:] is written.

    xp: (T, B, H) input projection with both biases; w_hh_t: (H, H) = W_hh^T;
    h: (T + 1, B, H); relu: bool selects phi.
    """
    T, B, H = xp.shape
    zero = xp.dtype.type(0)
    for t in range(T):
        a = h[t + 1]  # (B, H), written in place
        np.dot(h[t], w_hh_t, a)
        x_t = xp[t]
        for b in range(B):
            for j in range(H):
                v = a[b, j] + x_t[b, j]
                if relu:
                    a[b, j] = zero if v < zero else v  # NaN passes through, as torch.relu
                else:
                    a[b, j] = np.tanh(v)


@jit
def backward(h, w_hh, dh_out, dh_n, relu, da, dh_norms):
    """BPTT through one layer; returns dL/dh_0 (B, H).

    h: (T + 1, B, H) states from `forward`; w_hh: (H, H); dh_out: (T, B, H) gradient reaching each
    h_t from outside the recurrence (the loss or the layer above); dh_n: (B, H) gradient on h_T.
    Writes da: (T, B, H) = dL/da_t and dh_norms: (T,) = ||dh_t|| (Frobenius over B and H).
    """
    T, B, H = dh_out.shape
    zero = h.dtype.type(0)
    one = h.dtype.type(1)
    dh_rec = dh_n.copy()  # (B, H): gradient flowing back from t + 1
    for t in range(T - 1, -1, -1):
        h_t = h[t + 1]
        d_out_t = dh_out[t]
        da_t = da[t]
        sq = 0.0
        for b in range(B):
            for j in range(H):
                dh = d_out_t[b, j] + dh_rec[b, j]
                sq += dh * dh
                if relu:
                    da_t[b, j] = dh if h_t[b, j] > zero else zero
                else:
                    da_t[b, j] = dh * (one - h_t[b, j] * h_t[b, j])
        dh_norms[t] = np.sqrt(sq)
        np.dot(da_t, w_hh, dh_rec)
    return dh_rec
