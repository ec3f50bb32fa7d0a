"""GRU: the time loop of one layer (gate blocks r, z, n in PyTorch's row order), both variants.

With xp_t = x_t W_ih^T + b_ih (+ the recurrent biases that sit outside r, see below):

    r = sigma(xp_r + h_{t-1} W_hr^T + b_hr)
    z = sigma(xp_z + h_{t-1} W_hz^T + b_hz)
    reset_after=True  (PyTorch):  n = tanh(xp_n + r * (h_{t-1} W_hn^T + b_hn))
    reset_after=False (Cho 2014): n = tanh(xp_n + (r * h_{t-1}) W_hn^T + b_hn)
    h_t = (1 - z) * n + z * h_{t-1}

Backward, with dh_t the total gradient reaching h_t:

    dn = dh_t (1 - z)   dz = dh_t (h_{t-1} - n)   da_n = dn (1 - n^2)   da_z = dz z (1 - z)
    reset_after=True:   da_r = da_n hn r (1 - r),  hn = h_{t-1} W_hn^T + b_hn
                        dh_{t-1} = dh_t z + [da_r, da_z, r da_n] W_hh
    reset_after=False:  d(rh) = da_n W_hn,  da_r = d(rh) h_{t-1} r (1 - r)
                        dh_{t-1} = dh_t z + d(rh) r + [da_r, da_z] [W_hr; W_hz]

The time loops do the recurrent GEMMs with BLAS and call per-step functions for the element-wise
part, with one array view per gate block, so that it vectorizes, and compute the batch rows
[b0, b1) only (see `lstm.py`).
"""

import numpy as np

from ._jit import jit
from ._math import sigmoid, sum_of, tanh


@jit
def _forward_after_step(a, x_t, b_hn, h_prev, h_t, g_t, hn_t):
    """reset_after step. a, x_t: (B, 3H) = h_{t-1} W_hh^T and xp_t; b_hn: (H,); h_prev: (B, H);
    writes h_t: (B, H), g_t: (B, 3H) = [r, z, n] and hn_t: (B, H) = h_{t-1} W_hn^T + b_hn."""
    B, H = h_t.shape
    one = h_t.dtype.type(1)
    for b in range(B):
        a_b = a[b]  # one view per gate block: separate arrays to LLVM, so it vectorizes over j
        x_b = x_t[b]
        a_r, a_z, a_n = a_b[:H], a_b[H : 2 * H], a_b[2 * H :]
        x_r, x_z, x_n = x_b[:H], x_b[H : 2 * H], x_b[2 * H :]
        g_b = g_t[b]
        r_b, z_b, n_b = g_b[:H], g_b[H : 2 * H], g_b[2 * H :]
        h_prev_b = h_prev[b]
        hn_b = hn_t[b]
        h_b = h_t[b]
        for j in range(H):
            r = sigmoid(x_r[j] + a_r[j])
            z = sigmoid(x_z[j] + a_z[j])
            hn = a_n[j] + b_hn[j]
            n = tanh(x_n[j] + r * hn)
            hn_b[j] = hn
            r_b[j] = r
            z_b[j] = z
            n_b[j] = n
            h_b[j] = (one - z) * n + z * h_prev_b[j]


@jit
def forward_reset_after(xp, w_hh_t, b_hn, h, gates, hn, b0, b1):
    """reset_after=True, rows [b0, b1); h[0] holds h_0 on entry.

    xp: (T, B, 3H) = x W_ih^T + b_ih + [b_hr, b_hz, 0]; w_hh_t: (H, 3H) = W_hh^T; b_hn: (H,);
    h: (T + 1, B, H); gates: (T, B, 3H) receives [r, z, n]; hn: (T, B, H) receives
    h_{t-1} W_hn^T + b_hn.
    """
    T, B, G = xp.shape
    rows = slice(b0, b1)
    a = np.empty((b1 - b0, G), dtype=xp.dtype)  # (b1 - b0, 3H): h_{t-1} W_hh^T
    for t in range(T):
        np.dot(h[t, rows], w_hh_t, a)
        _forward_after_step(
            a, xp[t, rows], b_hn, h[t, rows], h[t + 1, rows], gates[t, rows], hn[t, rows]
        )


@jit
def _backward_after_step(g_t, h_prev, hn_t, d_out_t, dh_rec, dx_t, dhh_t, direct, sq, dh_sq_t):
    """reset_after step back. Writes dx_t = [da_r, da_z, da_n], dhh_t = [da_r, da_z, r da_n]
    (B, 3H), direct = dh_t z (B, H), dh_sq_t (B,) = sum over j of dh_t^2 (sq: (H,) scratch)."""
    B, H = h_prev.shape
    one = h_prev.dtype.type(1)
    for b in range(B):
        g_b = g_t[b]  # one view per gate block (see _forward_after_step)
        r_b, z_b, n_b = g_b[:H], g_b[H : 2 * H], g_b[2 * H :]
        dx_b = dx_t[b]
        dx_r, dx_z, dx_n = dx_b[:H], dx_b[H : 2 * H], dx_b[2 * H :]
        dhh_b = dhh_t[b]
        dhh_r, dhh_z, dhh_n = dhh_b[:H], dhh_b[H : 2 * H], dhh_b[2 * H :]
        h_prev_b = h_prev[b]
        hn_b = hn_t[b]
        out_b = d_out_t[b]
        rec_b = dh_rec[b]
        direct_b = direct[b]
        for j in range(H):
            r = r_b[j]
            z = z_b[j]
            n = n_b[j]
            dh = out_b[j] + rec_b[j]
            sq[j] = dh * dh
            da_n = dh * (one - z) * (one - n * n)
            da_z = dh * (h_prev_b[j] - n) * z * (one - z)
            da_r = da_n * hn_b[j] * r * (one - r)
            dx_r[j] = da_r
            dx_z[j] = da_z
            dx_n[j] = da_n
            dhh_r[j] = da_r
            dhh_z[j] = da_z
            dhh_n[j] = r * da_n
            direct_b[j] = dh * z
        dh_sq_t[b] = sum_of(sq)


@jit
def backward_reset_after(h, gates, hn, w_hh, dh_out, dh_n, da_x, da_h, dh_sq, dh0, b0, b1):
    """BPTT for reset_after=True, rows [b0, b1).

    Writes da_x: (T, B, 3H) = dL/d(xp) = [da_r, da_z, da_n], da_h: (T, B, 3H) =
    dL/d(h_{t-1} W_hh^T + b_hh) = [da_r, da_z, r da_n], dh_sq: (T, B) = sum over units of
    dh_t^2, and dh0: (B, H) = dL/dh_0.
    """
    T, B, H = dh_out.shape
    rows = slice(b0, b1)
    dh_rec = dh_n[rows].copy()  # (b1 - b0, H)
    direct = np.empty_like(dh_rec)  # (b1 - b0, H): dh_t * z, the path that skips W_hh
    sq = np.empty(H, dtype=np.float64)  # (H,): dh_t^2 of one row
    for t in range(T - 1, -1, -1):
        _backward_after_step(
            gates[t, rows], h[t, rows], hn[t, rows], dh_out[t, rows], dh_rec, da_x[t, rows],
            da_h[t, rows], direct, sq, dh_sq[t, rows],
        )
        np.dot(da_h[t, rows], w_hh, dh_rec)
        dh_rec += direct
    dh0[rows] = dh_rec


@jit
def _forward_before_rz(a_rz, x_t, h_prev, g_t, rh_t):
    """reset_before, first half of a step: r, z into g_t, r * h_{t-1} into rh_t."""
    B, H = h_prev.shape
    for b in range(B):
        x_b = x_t[b]  # one view per gate block (see _forward_after_step)
        x_r, x_z = x_b[:H], x_b[H : 2 * H]
        a_b = a_rz[b]
        a_r, a_z = a_b[:H], a_b[H:]
        g_b = g_t[b]
        r_b, z_b = g_b[:H], g_b[H : 2 * H]
        h_prev_b = h_prev[b]
        rh_b = rh_t[b]
        for j in range(H):
            r = sigmoid(x_r[j] + a_r[j])
            r_b[j] = r
            z_b[j] = sigmoid(x_z[j] + a_z[j])
            rh_b[j] = r * h_prev_b[j]


@jit
def _forward_before_n(a_n, x_t, h_prev, h_t, g_t):
    """reset_before, second half: n = tanh(xp_n + (r h_{t-1}) W_hn^T + b_hn), then h_t."""
    B, H = h_prev.shape
    one = h_prev.dtype.type(1)
    for b in range(B):
        g_b = g_t[b]
        z_b, n_b = g_b[H : 2 * H], g_b[2 * H :]
        x_n = x_t[b, 2 * H :]
        a_n_b = a_n[b]
        h_prev_b = h_prev[b]
        h_b = h_t[b]
        for j in range(H):
            z = z_b[j]
            n = tanh(x_n[j] + a_n_b[j])
            n_b[j] = n
            h_b[j] = (one - z) * n + z * h_prev_b[j]


@jit
def forward_reset_before(xp, w_rz_t, w_n_t, h, gates, rh, b0, b1):
    """reset_after=False, rows [b0, b1); h[0] holds h_0 on entry.

    xp: (T, B, 3H) = x W_ih^T + b_ih + b_hh; w_rz_t: (H, 2H) = [W_hr; W_hz]^T; w_n_t: (H, H) =
    W_hn^T; h: (T + 1, B, H); gates: (T, B, 3H) receives [r, z, n]; rh: (T, B, H) receives
    r * h_{t-1}.
    """
    T, B, G = xp.shape
    H = G // 3
    rows = slice(b0, b1)
    a_rz = np.empty((b1 - b0, 2 * H), dtype=xp.dtype)
    a_n = np.empty((b1 - b0, H), dtype=xp.dtype)
    for t in range(T):
        np.dot(h[t, rows], w_rz_t, a_rz)
        _forward_before_rz(a_rz, xp[t, rows], h[t, rows], gates[t, rows], rh[t, rows])
        np.dot(rh[t, rows], w_n_t, a_n)
        _forward_before_n(a_n, xp[t, rows], h[t, rows], h[t + 1, rows], gates[t, rows])


@jit
def _backward_before_zn(g_t, h_prev, d_out_t, dh_rec, da_n, da_rz, direct, sq, dh_sq_t):
    """reset_before, first half of a step back: da_n, da_z, direct = dh z, and dh_sq_t (B,) =
    sum over j of dh^2 (sq: (H,) scratch)."""
    B, H = h_prev.shape
    one = h_prev.dtype.type(1)
    for b in range(B):
        g_b = g_t[b]  # one view per gate block (see _forward_after_step)
        z_b, n_b = g_b[H : 2 * H], g_b[2 * H :]
        out_b = d_out_t[b]
        rec_b = dh_rec[b]
        h_prev_b = h_prev[b]
        da_n_b = da_n[b]
        da_z_b = da_rz[b, H:]
        direct_b = direct[b]
        for j in range(H):
            z = z_b[j]
            n = n_b[j]
            dh = out_b[j] + rec_b[j]
            sq[j] = dh * dh
            da_n_b[j] = dh * (one - z) * (one - n * n)
            da_z_b[j] = dh * (h_prev_b[j] - n) * z * (one - z)
            direct_b[j] = dh * z
        dh_sq_t[b] = sum_of(sq)


@jit
def _backward_before_r(g_t, h_prev, d_rh, da_n, da_rz, direct, da_t):
    """reset_before, second half: da_r from d(rh) = da_n W_hn, direct += d(rh) r, and da_t."""
    B, H = h_prev.shape
    one = h_prev.dtype.type(1)
    for b in range(B):
        r_b = g_t[b, :H]
        d_rh_b = d_rh[b]
        h_prev_b = h_prev[b]
        da_r_b = da_rz[b, :H]
        da_z_b = da_rz[b, H:]
        da_n_b = da_n[b]
        direct_b = direct[b]
        da_b = da_t[b]
        da_r_t, da_z_t, da_n_t = da_b[:H], da_b[H : 2 * H], da_b[2 * H :]
        for j in range(H):
            r = r_b[j]
            da_r = d_rh_b[j] * h_prev_b[j] * r * (one - r)
            da_r_b[j] = da_r
            direct_b[j] += d_rh_b[j] * r
            da_r_t[j] = da_r
            da_z_t[j] = da_z_b[j]
            da_n_t[j] = da_n_b[j]


@jit
def backward_reset_before(h, gates, w_rz, w_n, dh_out, dh_n, da, dh_sq, dh0, b0, b1):
    """BPTT for reset_after=False, rows [b0, b1).

    w_rz: (2H, H) = [W_hr; W_hz]; w_n: (H, H) = W_hn. Writes da: (T, B, 3H) =
    [da_r, da_z, da_n] (the gradient of both the input and the recurrent pre-activations; the n
    block's recurrent input is r * h_{t-1}), dh_sq: (T, B) = sum over units of dh_t^2, and
    dh0: (B, H) = dL/dh_0.
    """
    T, B, H = dh_out.shape
    rows = slice(b0, b1)
    dh_rec = dh_n[rows].copy()  # (b1 - b0, H)
    da_n = np.empty_like(dh_rec)  # (b1 - b0, H)
    d_rh = np.empty_like(dh_rec)  # (b1 - b0, H): dL/d(r * h_{t-1})
    da_rz = np.empty((b1 - b0, 2 * H), dtype=h.dtype)
    direct = np.empty_like(dh_rec)  # (b1 - b0, H): dh z + d(rh) r
    sq = np.empty(H, dtype=np.float64)  # (H,): dh_t^2 of one row
    for t in range(T - 1, -1, -1):
        g_t, h_prev = gates[t, rows], h[t, rows]
        _backward_before_zn(
            g_t, h_prev, dh_out[t, rows], dh_rec, da_n, da_rz, direct, sq, dh_sq[t, rows]
        )
        np.dot(da_n, w_n, d_rh)
        _backward_before_r(g_t, h_prev, d_rh, da_n, da_rz, direct, da[t, rows])
        np.dot(da_rz, w_rz, dh_rec)
        dh_rec += direct
    dh0[rows] = dh_rec
