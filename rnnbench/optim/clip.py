"""Gradient clipping as torch.nn.utils.clip_grad_norm_ / clip_grad_value_, and the ``clip``
config section."""

import math
from collections.abc import Iterable, Mapping
from dataclasses import dataclass

import numpy as np

from rnnbench.options import Choice, Float, check_fields, option

__all__ = ["CLIP_METHODS", "ClipConfig", "clip_gradients", "global_norm"]

CLIP_METHODS = ("none", "norm", "value")
CLIP_METHOD = Choice(CLIP_METHODS)
CLIP_MAX = Float(lo=0.0, lo_open=True)


def global_norm(grads: Mapping[str, np.ndarray], keys: Iterable[str] | None = None) -> float:
    """sqrt(sum over keys of sum(g_k^2)), accumulated in float64; NaN/inf propagate."""
    keys = grads.keys() if keys is None else keys
    total = 0.0
    for k in keys:
        flat = np.asarray(grads[k]).ravel()
        if flat.dtype != np.float64:
            flat = flat.astype(np.float64)
        total += float(np.dot(flat, flat))
    return math.sqrt(total)


@dataclass
class ClipConfig:
    """The ``clip`` section: the arguments of `clip_gradients`."""

    method: str = option("none", CLIP_METHOD, "none | norm (global L2 norm) | value (element-wise)")
    max_value: float = option(1.0, CLIP_MAX, "bound on the norm (norm) or on each entry (value)")

    def __post_init__(self):
        check_fields(self, "clip")


def clip_gradients(
    grads: dict[str, np.ndarray],
    keys: Iterable[str] | None = None,
    method: str = "none",
    max_value: float = 1.0,
) -> tuple[float, float]:
    """Clip ``grads[k]`` for k in `keys` in place; return (global L2 norm before, after).

    keys=None means every key of `grads`; with `Network.backward` output pass the parameter
    keys so that "x", "h0" are left out. Methods, as PyTorch:

    - "none":  nothing is changed.
    - "norm":  ``torch.nn.utils.clip_grad_norm_``: c = max_value / (||g|| + 1e-6) and every
      g_k <- c * g_k if c < 1, where ||g|| is the norm over all keys together.
    - "value": ``torch.nn.utils.clip_grad_value_``: g_k <- clip(g_k, -max_value, max_value).

    The norms are computed with float64 accumulation and returned as python floats. If the
    norm before clipping is not finite (NaN or inf), the gradients are NOT modified, whatever
    the method, and that norm is returned twice: deciding what a diverged step means (skip,
    stop, record) is the caller's job.
    """
    method = CLIP_METHOD.check("clip.method", method)
    if method != "none":
        max_value = CLIP_MAX.check("clip.max_value", max_value)
    keys = list(grads.keys() if keys is None else keys)
    before = global_norm(grads, keys)
    if method == "none" or not math.isfinite(before):
        return before, before
    if method == "norm":
        clip_coef = max_value / (before + 1e-6)
        if clip_coef >= 1.0:
            return before, before
        for k in keys:
            grads[k] *= clip_coef
    else:
        for k in keys:
            np.clip(grads[k], -max_value, max_value, out=grads[k])
    return before, global_norm(grads, keys)
