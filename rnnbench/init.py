"""Initialisation schemes for the recurrent weights, in PyTorch's parameter layout.

Every scheme draws from one NumPy Generator, layer by layer in the order weight_ih, weight_hh,
bias_ih, bias_hh, so a seed fixes the network.

- ``pytorch``:    every weight and bias ~ U(-1/sqrt(H), 1/sqrt(H)) (torch.nn.RNN/LSTM/GRU).
- ``glorot``:     each gate block of W_ih and W_hh ~ U(-a, a), a = sqrt(6 / (fan_in + H));
                  zero biases.
- ``orthogonal``: Keras' recurrent default: Glorot-uniform W_ih blocks, orthogonal W_hh blocks,
                  zero biases.
- ``identity``:   IRNN (Le, Jaitly & Hinton 2015): W_hh blocks = I, W_ih ~ N(0, 0.001^2),
                  zero biases.

Modifiers applied afterwards:
- ``forget_bias`` (LSTM): the f block of bias_ih set to the value, that of bias_hh to 0, so the
  effective forget bias b_ih + b_hh is the value (Jozefowicz et al. 2015), not twice it.
- ``chrono_tmax`` (LSTM, Tallec & Ollivier 2018): b_f ~ log U[1, T_max - 1], b_i = -b_f, again in
  bias_ih only, with the matching blocks of bias_hh set to 0.
- ``spectral_radius``: each H x H gate block of W_hh rescaled to that spectral radius max |eig|.
"""

import numpy as np

INIT_SCHEMES = ("pytorch", "glorot", "orthogonal", "identity")


def orthogonal(rng: np.random.Generator, n: int) -> np.ndarray:
    """A Haar-distributed n x n orthogonal matrix (QR of a Gaussian, signs fixed by diag(R))."""
    q, r = np.linalg.qr(rng.standard_normal((n, n)))
    return q * np.sign(np.diag(r))


def spectral_radius(w: np.ndarray) -> float:
    """max |eigenvalue| of a square matrix."""
    return float(np.max(np.abs(np.linalg.eigvals(w.astype(np.float64)))))


def _glorot(rng, gates, hidden, fan_in):
    a = np.sqrt(6.0 / (fan_in + hidden))
    return rng.uniform(-a, a, size=(gates * hidden, fan_in))


def init_layer(rng, scheme, gates, hidden, fan_in):
    """Return (weight_ih (G*H, fan_in), weight_hh (G*H, H), bias_ih (G*H,), bias_hh (G*H,))."""
    gh = gates * hidden
    if scheme == "pytorch":
        k = 1.0 / np.sqrt(hidden)
        w_ih = rng.uniform(-k, k, size=(gh, fan_in))
        w_hh = rng.uniform(-k, k, size=(gh, hidden))
        return w_ih, w_hh, rng.uniform(-k, k, size=gh), rng.uniform(-k, k, size=gh)
    if scheme == "glorot":
        w_ih = _glorot(rng, gates, hidden, fan_in)
        w_hh = _glorot(rng, gates, hidden, hidden)
    elif scheme == "orthogonal":
        w_ih = _glorot(rng, gates, hidden, fan_in)
        w_hh = np.concatenate([orthogonal(rng, hidden) for _ in range(gates)])
    elif scheme == "identity":
        w_ih = rng.normal(0.0, 1e-3, size=(gh, fan_in))
        w_hh = np.concatenate([np.eye(hidden) for _ in range(gates)])
    else:
        raise ValueError(f"init must be one of {', '.join(INIT_SCHEMES)}, got {scheme!r}")
    return w_ih, w_hh, np.zeros(gh), np.zeros(gh)


def _block(gate_names, gate, hidden):
    """The rows of gate block `gate` in a (G*H, ...) parameter (`rnnbench.cells` row order)."""
    g = gate_names.index(gate)
    return slice(g * hidden, (g + 1) * hidden)


def set_forget_bias(bias_ih, bias_hh, hidden, value, gate_names):
    """Effective forget-gate bias = value, written into the f block of bias_ih only."""
    f = _block(gate_names, "f", hidden)
    bias_ih[f] = value
    bias_hh[f] = 0.0


def set_chrono(rng, bias_ih, bias_hh, hidden, t_max, gate_names):
    """Chrono init: b_f ~ log U[1, t_max - 1], b_i = -b_f (bias_ih only; bias_hh's i, f zero)."""
    i, f = _block(gate_names, "i", hidden), _block(gate_names, "f", hidden)
    b_f = np.log(rng.uniform(1.0, t_max - 1.0, size=hidden))
    bias_ih[i] = -b_f
    bias_ih[f] = b_f
    bias_hh[i] = 0.0
    bias_hh[f] = 0.0


def rescale_spectral_radius(w_hh, hidden, radius):
    """Rescale each H x H gate block of w_hh (in place) to spectral radius `radius`."""
    for k in range(w_hh.shape[0] // hidden):
        block = w_hh[k * hidden : (k + 1) * hidden]
        rho = spectral_radius(block)
        if rho == 0.0:
            raise ValueError(
                "spectral_radius: a recurrent block is nilpotent (radius 0); cannot rescale"
            )
        block *= radius / rho
