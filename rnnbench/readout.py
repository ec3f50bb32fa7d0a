"""Linear readout y_t = W h_t + b, applied to every scored step at once, and its backward.

Shapes: h (S, B, H), W (O, H), b (O,), y (S, B, O). With the S*B rows stacked (h2 = h as
(S*B, H), dy2 = dy as (S*B, O)) each direction is one GEMM:

    forward    y2 = h2 W^T + b                      (S*B, O)
    backward   dW = dy2^T h2                        (O, H)
               db = sum over rows of dy2            (O,)
               dh = dy2 W                           (S*B, H) -> (S, B, H)

All arrays share one float dtype; a mismatch raises instead of silently upcasting.
Parameter names follow the model's state_dict: "readout.weight", "readout.bias".
"""

from __future__ import annotations

import math

import numpy as np

_DTYPES = (np.dtype(np.float32), np.dtype(np.float64))


def _check(h: np.ndarray, weight: np.ndarray, other: np.ndarray, other_name: str) -> None:
    if h.ndim != 3 or weight.ndim != 2 or weight.shape[1] != h.shape[2]:
        raise ValueError(
            f"readout shapes must be h (S, B, H), weight (O, H), got {h.shape}, {weight.shape}"
        )
    if h.dtype not in _DTYPES or weight.dtype != h.dtype or other.dtype != h.dtype:
        raise ValueError(
            f"readout arrays must share one float dtype, got h {h.dtype}, weight {weight.dtype}, "
            f"{other_name} {other.dtype}"
        )


def readout_forward(h: np.ndarray, weight: np.ndarray, bias: np.ndarray) -> np.ndarray:
    """y = h W^T + b: (S, B, H), (O, H), (O,) -> (S, B, O)."""
    _check(h, weight, bias, "bias")
    if bias.shape != (weight.shape[0],):
        raise ValueError(f"readout bias must have shape ({weight.shape[0]},), got {bias.shape}")
    S, B, H = h.shape
    y = h.reshape(S * B, H) @ weight.T  # (S*B, O), one GEMM
    y += bias
    return y.reshape(S, B, weight.shape[0])


def readout_backward(
    h: np.ndarray, weight: np.ndarray, dy: np.ndarray
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """dy (S, B, O) -> (dW (O, H), db (O,), dh (S, B, H)) for y = h W^T + b."""
    _check(h, weight, dy, "dy")
    S, B, H = h.shape
    O = weight.shape[0]
    if dy.shape != (S, B, O):
        raise ValueError(f"readout dy must have shape {(S, B, O)}, got {dy.shape}")
    h2 = h.reshape(S * B, H)  # (S*B, H)
    dy2 = dy.reshape(S * B, O)  # (S*B, O)
    dweight = dy2.T @ h2  # (O, H)
    dbias = dy2.sum(axis=0)  # (O,)
    dh = (dy2 @ weight).reshape(S, B, H)  # (S, B, H)
    return dweight, dbias, dh


def init_readout(
    hidden_size: int, output_size: int, rng: np.random.Generator, dtype=np.float64
) -> dict[str, np.ndarray]:
    """PyTorch nn.Linear init: W and b ~ U(-1/sqrt(H), 1/sqrt(H)), W drawn first, then b."""
    for key, value in (("hidden_size", hidden_size), ("output_size", output_size)):
        if isinstance(value, bool) or not isinstance(value, int | np.integer) or value < 1:
            raise ValueError(f"readout {key} must be an integer >= 1, got {value!r}")
    if not isinstance(rng, np.random.Generator):
        raise TypeError(f"rng must be a numpy.random.Generator, got {type(rng).__name__}")
    dt = np.dtype(dtype)
    if dt not in _DTYPES:
        raise ValueError(f"dtype must be float32 or float64, got {dtype!r}")
    k = 1.0 / math.sqrt(hidden_size)
    weight = rng.uniform(-k, k, size=(output_size, hidden_size)).astype(dt)
    bias = rng.uniform(-k, k, size=output_size).astype(dt)
    return {"readout.weight": weight, "readout.bias": bias}
