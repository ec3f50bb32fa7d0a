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
"""

import numpy as np

from ._jit import jit
from ._math import sigmoid, tanh


@jit
def forward_reset_after(xp, w_hh_t, b_hn, h, gates, hn):
    """reset_after=True; h[0] holds h_0 on entry.

    xp: (T, B, 3H) = x W_ih^T + b_ih + [b_hr, b_hz, 0]; w_hh_t: (H, 3H) = W_hh^T; b_hn: (H,);
    h: (T + 1, B, H); gates: (T, B, 3H) receives [r, z, n]; hn: (T, B, H) receives
    h_{t-1} W_hn^T + b_hn.
    """
    T, B, G = xp.shape
    H = G // 3
    one = xp.dtype.type(1)
    a = np.empty((B, G), dtype=xp.dtype)  # (B, 3H): h_{t-1} W_hh^T, a read-only buffer
    for t in range(T):
        np.dot(h[t], w_hh_t, a)
        x_t = xp[t]
        g_t = gates[t]
        h_prev = h[t]
        h_t = h[t + 1]
        hn_t = hn[t]
        for b in range(B):
            # one view per gate block: LLVM then sees separate arrays and vectorizes over j
            a_b = a[b]  # (3H,) reads
            x_b = x_t[b]
            ar, az, an = a_b[:H], a_b[H : 2 * H], a_b[2 * H :]
            xr, xz, xn = x_b[:H], x_b[H : 2 * H], x_b[2 * H :]
            g_b = g_t[b]  # (3H,) writes
            r_b, z_b, n_b = g_b[:H], g_b[H : 2 * H], g_b[2 * H :]
            hp_b = h_prev[b]
            hn_b = hn_t[b]
            h_b = h_t[b]
            for j in range(H):
                r = sigmoid(xr[j] + ar[j])
                z = sigmoid(xz[j] + az[j])
                hn_bj = an[j] + b_hn[j]
                n = tanh(xn[j] + r * hn_bj)
                hn_b[j] = hn_bj
                r_b[j] = r
                z_b[j] = z
                n_b[j] = n
                h_b[j] = (one - z) * n + z * hp_b[j]


@jit
def backward_reset_after(h, gates, hn, w_hh, dh_out, dh_n, da_x, da_h, dh_norms):
    """BPTT for reset_after=True; returns dL/dh_0 (B, H).

    Writes da_x: (T, B, 3H) = dL/d(xp) = [da_r, da_z, da_n] and da_h: (T, B, 3H) =
    dL/d(h_{t-1} W_hh^T + b_hh) = [da_r, da_z, r da_n], and dh_norms: (T,) = ||dh_t||.
    """
    T, B, H = dh_out.shape
    one = h.dtype.type(1)
    dh_rec = dh_n.copy()  # (B, H)
    direct = np.empty_like(dh_rec)  # (B, H): dh_t * z, the path that skips W_hh
    sq = np.empty(H, dtype=np.float64)  # (H,): sum over b of dh_t^2, per unit
    for t in range(T - 1, -1, -1):
        gt = gates[t]
        h_prev = h[t]
        hn_t = hn[t]
        d_out_t = dh_out[t]
        dx_t = da_x[t]
        dhh_t = da_h[t]
        sq[:] = 0.0
        for b in range(B):
            g_b = gt[b]  # (3H,) [r, z, n], one view per block (see forward)
            r_b, z_b, n_b = g_b[:H], g_b[H : 2 * H], g_b[2 * H :]
            dx_b = dx_t[b]  # writes
            dxr, dxz, dxn = dx_b[:H], dx_b[H : 2 * H], dx_b[2 * H :]
            dhh_b = dhh_t[b]
            dhr, dhz, dhn = dhh_b[:H], dhh_b[H : 2 * H], dhh_b[2 * H :]
            hp_b = h_prev[b]
            hn_b = hn_t[b]
            out_b = d_out_t[b]
            rec_b = dh_rec[b]
            dir_b = direct[b]
            for j in range(H):
                r = r_b[j]
                z = z_b[j]
                n = n_b[j]
                dh = out_b[j] + rec_b[j]
                sq[j] += dh * dh
                da_n = dh * (one - z) * (one - n * n)
                da_z = dh * (hp_b[j] - n) * z * (one - z)
                da_r = da_n * hn_b[j] * r * (one - r)
                dxr[j] = da_r
                dxz[j] = da_z
                dxn[j] = da_n
                dhr[j] = da_r
                dhz[j] = da_z
                dhn[j] = r * da_n
                dir_b[j] = dh * z
        dh_norms[t] = np.sqrt(np.sum(sq))
        np.dot(dhh_t, w_hh, dh_rec)
        dh_rec += direct
    return dh_rec


@jit
def forward_reset_before(xp, w_rz_t, w_n_t, h, gates, rh):
    """reset_after=False; h[0] holds h_0 on entry.

    xp: (T, B, 3H) = x W_ih^T + b_ih + b_hh; w_rz_t: (H, 2H) = [W_hr; W_hz]^T; w_n_t: (H, H) =
    W_hn^T; h: (T + 1, B, H); gates: (T, B, 3H) receives [r, z, n]; rh: (T, B, H) receives
    r * h_{t-1}.
    """
    T, B, G = xp.shape
    H = G // 3
    one = xp.dtype.type(1)
    a_rz = np.empty((B, 2 * H), dtype=xp.dtype)
    a_n = np.empty((B, H), dtype=xp.dtype)
    for t in range(T):
        np.dot(h[t], w_rz_t, a_rz)
        x_t = xp[t]
        g_t = gates[t]
        h_prev = h[t]
        h_t = h[t + 1]
        rh_t = rh[t]
        for b in range(B):
            x_b = x_t[b]  # one view per gate block (see forward_reset_after)
            xr, xz, xn = x_b[:H], x_b[H : 2 * H], x_b[2 * H :]
            a_b = a_rz[b]
            ar, az = a_b[:H], a_b[H:]
            g_b = g_t[b]
            r_b, z_b = g_b[:H], g_b[H : 2 * H]
            hp_b = h_prev[b]
            rh_b = rh_t[b]
            for j in range(H):
                r = sigmoid(xr[j] + ar[j])
                r_b[j] = r
                z_b[j] = sigmoid(xz[j] + az[j])
                rh_b[j] = r * hp_b[j]
        np.dot(rh_t, w_n_t, a_n)
        for b in range(B):
            g_b = g_t[b]
            z_b, n_b = g_b[H : 2 * H], g_b[2 * H :]
            xn = x_t[b, 2 * H :]
            an_b = a_n[b]
            hp_b = h_prev[b]
            h_b = h_t[b]
            for j in range(H):
                z = z_b[j]
                n = tanh(xn[j] + an_b[j])
                n_b[j] = n
                h_b[j] = (one - z) * n + z * hp_b[j]


@jit
def backward_reset_before(h, gates, w_rz, w_n, dh_out, dh_n, da, dh_norms):
    """BPTT for reset_after=False; returns dL/dh_0 (B, H).

    w_rz: (2H, H) = [W_hr; W_hz]; w_n: (H, H) = W_hn. Writes da: (T, B, 3H) =
    [da_r, da_z, da_n] (the gradient of both the input and the recurrent pre-activations; the n
    block's recurrent input is r * h_{t-1}) and dh_norms: (T,) = ||dh_t||.
    """
    T, B, H = dh_out.shape
    one = h.dtype.type(1)
    dh_rec = dh_n.copy()  # (B, H)
    da_n = np.empty_like(dh_rec)  # (B, H)
    d_rh = np.empty_like(dh_rec)  # (B, H): dL/d(r * h_{t-1})
    da_rz = np.empty((B, 2 * H), dtype=h.dtype)
    direct = np.empty_like(dh_rec)  # (B, H): dh z + d(rh) r
    sq = np.empty(H, dtype=np.float64)  # (H,): sum over b of dh_t^2, per unit
    for t in range(T - 1, -1, -1):
        gt = gates[t]
        h_prev = h[t]
        d_out_t = dh_out[t]
        da_t = da[t]
        sq[:] = 0.0
        for b in range(B):
            g_b = gt[b]  # one view per gate block (see forward_reset_after)
            z_b, n_b = g_b[H : 2 * H], g_b[2 * H :]
            out_b = d_out_t[b]
            rec_b = dh_rec[b]
            hp_b = h_prev[b]
            dan_b = da_n[b]
            daz_b = da_rz[b, H:]
            dir_b = direct[b]
            for j in range(H):
                z = z_b[j]
                n = n_b[j]
                dh = out_b[j] + rec_b[j]
                sq[j] += dh * dh
                dan_b[j] = dh * (one - z) * (one - n * n)
                daz_b[j] = dh * (hp_b[j] - n) * z * (one - z)
                dir_b[j] = dh * z
        dh_norms[t] = np.sqrt(np.sum(sq))
        np.dot(da_n, w_n, d_rh)
        for b in range(B):
            r_b = gt[b, :H]
            drh_b = d_rh[b]
            hp_b = h_prev[b]
            dar_b = da_rz[b, :H]
            daz_b = da_rz[b, H:]
            dan_b = da_n[b]
            dir_b = direct[b]
            da_b = da_t[b]
            dar_t, daz_t, dan_t = da_b[:H], da_b[H : 2 * H], da_b[2 * H :]
            for j in range(H):
                r = r_b[j]
                da_r = drh_b[j] * hp_b[j] * r * (one - r)
                dar_b[j] = da_r
                dir_b[j] += drh_b[j] * r
                dar_t[j] = da_r
                daz_t[j] = daz_b[j]
                dan_t[j] = dan_b[j]
        np.dot(da_rz, w_rz, dh_rec)
        dh_rec += direct
    return dh_rec
