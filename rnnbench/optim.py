"""SGD, RMSprop, Adam and AdamW with PyTorch's update rules, and gradient clipping, on NumPy arrays.

Each optimiser follows the single-tensor (``foreach=False``) path of ``torch.optim`` (2.x)
operation by operation, with the same defaults, so a float64 run matches PyTorch to rounding
(not bit for bit: ATen's vectorised CPU loops fuse some multiply-adds, NumPy cannot).
Parameters live in a ``dict[str, ndarray]`` (the `Network.params` layout) and are updated in
place, in their own dtype (float32 stays float32). Scratch buffers are allocated once, at
construction, so a step allocates no parameter-sized temporaries.

Notation, per parameter tensor p with gradient g at step t = 1, 2, ...:
lr learning rate, wd weight decay (L2, added to the gradient: g <- g + wd * p).

    opt = make_optimizer("adam", params, lr=1e-3, betas=(0.9, 0.999))
    opt.step(grads)                     # grads may hold extra keys ("x", "h0"): ignored
    state = opt.state_arrays()          # plain numeric arrays, np.savez-safe
    opt.load_state_arrays(state)        # resumes bit-identically
    norm_before, norm_after = clip_gradients(grads, params.keys(), "norm", max_value=1.0)
"""

import math
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, fields
from typing import ClassVar

import numpy as np

from rnnbench.options import (
    Bool,
    Choice,
    Float,
    OptionError,
    Pair,
    check_fields,
    default_of,
    option,
)

__all__ = ["OPTIMIZERS", "CLIP_METHODS", "Optimizer", "SGD", "RMSprop", "Adam", "AdamW"]
__all__ += ["make_optimizer", "clip_gradients", "global_norm", "ClipConfig"]
__all__ += ["SGDConfig", "RMSpropConfig", "AdamConfig", "AdamWConfig"]

CLIP_METHODS = ("none", "norm", "value")
CLIP_METHOD = Choice(CLIP_METHODS)
CLIP_MAX = Float(lo=0.0, lo_open=True)


# --------------------------------------------------------------------------- validation


# Allowed values: what torch.optim's constructors accept, except that every number must be finite
# and lr > 0 (a zero learning rate trains nothing) and eps > 0 (eps = 0 divides 0 by 0 at a zero
# gradient). tests/test_optim.py checks these verdicts against torch itself.
LR = Float(lo=0.0, lo_open=True)
EPS = Float(lo=0.0, lo_open=True)
NONNEGATIVE = Float(lo=0.0)
FINITE = Float()
BETA = Float(0.0, 1.0, hi_open=True)


def _check_params(params) -> None:
    if not isinstance(params, Mapping) or len(params) == 0:
        raise ValueError("params must be a non-empty dict of str -> float32/float64 arrays")
    for k, p in params.items():
        if not isinstance(k, str):
            raise ValueError(f"params keys must be strings, got {k!r}")
        if not isinstance(p, np.ndarray) or p.dtype not in (np.float32, np.float64):
            raise ValueError(f"params[{k!r}] must be a float32 or float64 ndarray")


# --------------------------------------------------------------------------- in-place helpers


def _axpy(alpha: float, x: np.ndarray, y: np.ndarray, out: np.ndarray) -> np.ndarray:
    """out = y + alpha * x (torch ``y.add(x, alpha=alpha)``); `out` must not alias `y`."""
    np.multiply(x, alpha, out=out)
    out += y
    return out


def _lerp_(a: np.ndarray, b: np.ndarray, w: float, tmp: np.ndarray) -> None:
    """a <- lerp(a, b, w), evaluated as ATen does for a scalar weight.

    |w| < 0.5:  a + w * (b - a)        otherwise:  b - (b - a) * (1 - w)
    """
    np.subtract(b, a, out=tmp)
    if abs(w) < 0.5:
        tmp *= w
        a += tmp
    else:
        tmp *= 1.0 - w
        np.subtract(b, tmp, out=a)


# --------------------------------------------------------------------------- hyperparameters


@dataclass
class SGDConfig:
    """torch.optim.SGD's hyperparameters and defaults (the ``optim`` section for optim=sgd)."""

    name: str = option("sgd", None, "the optimiser")
    lr: float = option(1e-3, LR, "learning rate (the sgd preset uses 0.01, Pascanu et al. 2013)")
    momentum: float = option(0.0, NONNEGATIVE, "mu; 0: plain SGD")
    dampening: float = option(0.0, FINITE, "the gradient enters the momentum as (1 - dampening) g")
    weight_decay: float = option(0.0, NONNEGATIVE, "L2 penalty: g <- g + weight_decay * p")
    nesterov: bool = option(False, Bool(), "Nesterov momentum (needs momentum > 0, dampening 0)")

    def __post_init__(self):
        check_fields(self, "optim")
        if self.nesterov and (self.momentum <= 0 or self.dampening != 0):
            raise OptionError(
                "optim.nesterov requires optim.momentum > 0 and optim.dampening == 0, got "
                f"momentum={self.momentum}, dampening={self.dampening}"
            )


@dataclass
class RMSpropConfig:
    """torch.optim.RMSprop's hyperparameters and defaults (optim=rmsprop)."""

    name: str = option("rmsprop", None, "the optimiser")
    lr: float = option(1e-2, LR, "learning rate")
    alpha: float = option(0.99, NONNEGATIVE, "decay of the average of g^2")
    eps: float = option(1e-8, EPS, "added to the root mean square")
    weight_decay: float = option(0.0, NONNEGATIVE, "L2 penalty: g <- g + weight_decay * p")
    momentum: float = option(0.0, NONNEGATIVE, "momentum of the scaled step; 0: none")
    centered: bool = option(False, Bool(), "divide by the variance estimate instead")

    def __post_init__(self):
        check_fields(self, "optim")


@dataclass
class AdamConfig:
    """torch.optim.Adam's hyperparameters and defaults (optim=adam)."""

    name: str = option("adam", None, "the optimiser")
    lr: float = option(1e-3, LR, "learning rate")
    betas: list[float] = option([0.9, 0.999], Pair(BETA), "decays of the moment averages")
    eps: float = option(1e-8, EPS, "added to the denominator")
    weight_decay: float = option(0.0, NONNEGATIVE, "L2 penalty (not AdamW's decoupled decay)")
    amsgrad: bool = option(False, Bool(), "use the running maximum of the second moment")

    def __post_init__(self):
        check_fields(self, "optim")


@dataclass
class AdamWConfig:
    """torch.optim.AdamW's hyperparameters and defaults (optim=adamw)."""

    name: str = option("adamw", None, "the optimiser")
    lr: float = option(1e-3, LR, "learning rate")
    betas: list[float] = option([0.9, 0.999], Pair(BETA), "decays of the moment averages")
    eps: float = option(1e-8, EPS, "added to the denominator")
    weight_decay: float = option(
        1e-2, NONNEGATIVE, "decoupled decay: p <- p * (1 - lr * weight_decay) before each step"
    )
    amsgrad: bool = option(False, Bool(), "use the running maximum of the second moment")

    def __post_init__(self):
        check_fields(self, "optim")


# --------------------------------------------------------------------------- optimisers


class Optimizer:
    """Base class: holds the params dict, the step count and per-parameter state buffers.

    Subclasses declare `name`, `Config` (the dataclass of their hyperparameters: each one's
    default, PyTorch's, its allowed values and its documentation; it is also the schema of the
    ``optim`` config section), `_buffer_names()` (the per-parameter state they keep) and
    `_update`. Each hyperparameter becomes an attribute; the learning rate `lr` may be changed
    between steps (schedules). `defaults` holds the hyperparameters besides lr.
    """

    name: ClassVar[str] = ""
    Config: ClassVar[type]
    defaults: ClassVar[dict] = {}

    def __init_subclass__(cls, **kwargs):
        super().__init_subclass__(**kwargs)
        cls.defaults = {
            f.name: tuple(d) if isinstance(d := default_of(f), list) else d
            for f in fields(cls.Config)
            if f.name not in ("name", "lr")
        }

    def __init__(self, params: dict[str, np.ndarray], lr: float | None = None, **hparams):
        _check_params(params)
        self.params = params  # the caller's dict: updated in place, arrays looked up each step
        config = self.Config(**hparams) if lr is None else self.Config(lr=lr, **hparams)
        for f in fields(config):
            if f.name != "name":
                setattr(self, f.name, getattr(config, f.name))
        self.step_count = 0
        self.state: dict[str, dict[str, np.ndarray]] = {
            b: {k: np.zeros_like(p) for k, p in params.items()} for b in self._buffer_names()
        }
        self._scratch = [{k: np.empty_like(p) for k, p in params.items()} for _ in range(2)]

    # -- to be provided by subclasses
    def _buffer_names(self) -> tuple[str, ...]:
        return ()

    def _update(self, k: str, p: np.ndarray, g: np.ndarray, s1, s2) -> None:
        raise NotImplementedError  # pragma: no cover - abstract

    # -- public API
    @property
    def hparams(self) -> dict:
        """The hyperparameters in effect (lr included), as plain python values."""
        return {"lr": self.lr, **{key: getattr(self, key) for key in self.defaults}}

    def __repr__(self) -> str:
        args = ", ".join(f"{k}={v!r}" for k, v in self.hparams.items())
        return f"{type(self).__name__}({args})"

    def step(self, grads: Mapping[str, np.ndarray]) -> None:
        """Apply one update to every parameter; keys of `grads` not in params are ignored."""
        grads_ok = {}
        for k, p in self.params.items():
            if k not in grads:
                raise ValueError(f"grads has no entry for parameter {k!r}")
            g = grads[k]
            if not isinstance(g, np.ndarray) or g.shape != p.shape or g.dtype != p.dtype:
                raise ValueError(
                    f"grads[{k!r}] must be a {p.dtype} array of shape {p.shape}, got "
                    f"{getattr(g, 'dtype', type(g).__name__)} {getattr(g, 'shape', '')}"
                )
            grads_ok[k] = g
        for k, p in self.params.items():
            self._update(k, p, grads_ok[k], self._scratch[0][k], self._scratch[1][k])
        self.step_count += 1

    def state_arrays(self) -> dict[str, np.ndarray]:
        """Copies of everything a bit-identical resume needs.

        ``step`` (int64 scalar) and one array per buffer and parameter, keyed
        ``"<buffer>.<param>"`` (e.g. ``exp_avg.weight_hh_l0``); npz-safe, no objects.
        """
        out = {"step": np.asarray(self.step_count, dtype=np.int64)}
        for b, bufs in self.state.items():
            for k, arr in bufs.items():
                out[f"{b}.{k}"] = arr.copy()
        return out

    def load_state_arrays(self, d: Mapping[str, np.ndarray]) -> None:
        """Restore a `state_arrays()` dict (or an ``np.load``-ed npz) into this optimiser.

        Keys, shapes and dtypes must match this optimiser's exactly; nothing is changed if not.
        """
        expected = {"step"} | {f"{b}.{k}" for b, bufs in self.state.items() for k in bufs}
        got = set(d.keys())
        if got != expected:
            missing, extra = sorted(expected - got), sorted(got - expected)
            raise ValueError(
                f"{self.name} state does not match: missing {missing}, unexpected {extra}"
            )
        step = np.asarray(d["step"])
        if step.shape != () or step.dtype.kind not in "iu" or int(step) < 0:
            raise ValueError(f"{self.name} state 'step' must be an integer scalar >= 0")
        loaded = {}
        for b, bufs in self.state.items():
            for k, arr in bufs.items():
                src = np.asarray(d[f"{b}.{k}"])
                if src.shape != arr.shape or src.dtype != arr.dtype:
                    raise ValueError(
                        f"{self.name} state '{b}.{k}' must be {arr.dtype} {arr.shape}, "
                        f"got {src.dtype} {src.shape}"
                    )
                loaded[b, k] = src
        for (b, k), src in loaded.items():
            np.copyto(self.state[b][k], src)
        self.step_count = int(step)


class SGD(Optimizer):
    """Stochastic gradient descent with optional (Nesterov) momentum, as ``torch.optim.SGD``.

        g <- g + wd * p                                   (if wd != 0)
        b_1 = g;   b_t = mu * b_{t-1} + (1 - dampening) * g   (if mu != 0)
        g <- g + mu * b_t  (nesterov)   or   g <- b_t
        p <- p - lr * g

    Defaults: lr=1e-3, momentum=0, dampening=0, weight_decay=0, nesterov=False. Nesterov needs
    momentum > 0 and dampening == 0. State: ``momentum_buffer`` (only when momentum != 0).
    """

    name = "sgd"
    Config = SGDConfig

    def _buffer_names(self):
        return ("momentum_buffer",) if self.momentum != 0 else ()

    def _update(self, k, p, g, s1, s2):
        if self.weight_decay != 0:
            g = _axpy(self.weight_decay, p, g, out=s1)
        if self.momentum != 0:
            buf = self.state["momentum_buffer"][k]
            if self.step_count == 0:
                np.copyto(buf, g)  # torch: buf = grad.clone() on the first step, no dampening
            else:
                buf *= self.momentum
                if self.dampening == 0:
                    buf += g
                else:
                    np.multiply(g, 1.0 - self.dampening, out=s2)
                    buf += s2
            g = _axpy(self.momentum, buf, g, out=s2) if self.nesterov else buf
        np.multiply(g, -self.lr, out=s2)
        p += s2


class RMSprop(Optimizer):
    """RMSprop as ``torch.optim.RMSprop`` (square-average decay `alpha`, optional centering).

        g <- g + wd * p                                   (if wd != 0)
        v_t = alpha * v_{t-1} + (1 - alpha) * g^2          (square_avg, v_0 = 0)
        centered:  m_t = lerp(m_{t-1}, g, 1 - alpha),  avg = sqrt(v_t - m_t^2) + eps
        else:      avg = sqrt(v_t) + eps
        momentum > 0:  b_t = mu * b_{t-1} + g / avg,  p <- p - lr * b_t
        else:          p <- p - lr * g / avg

    Defaults: lr=1e-2, alpha=0.99, eps=1e-8, weight_decay=0, momentum=0, centered=False.
    State: ``square_avg``, plus ``grad_avg`` (centered) and ``momentum_buffer`` (momentum > 0).
    """

    name = "rmsprop"
    Config = RMSpropConfig

    def _buffer_names(self):
        names = ("square_avg",)
        names += ("grad_avg",) if self.centered else ()
        return names + (("momentum_buffer",) if self.momentum > 0 else ())

    def _update(self, k, p, g, s1, s2):
        if self.weight_decay != 0:
            g = _axpy(self.weight_decay, p, g, out=s1)
        square_avg = self.state["square_avg"][k]
        square_avg *= self.alpha
        np.multiply(g, 1.0 - self.alpha, out=s2)  # torch addcmul: v + (value * g) * g
        s2 *= g
        square_avg += s2
        avg = s2
        if self.centered:
            grad_avg = self.state["grad_avg"][k]
            _lerp_(grad_avg, g, 1.0 - self.alpha, tmp=avg)
            np.multiply(grad_avg, grad_avg, out=avg)
            np.subtract(square_avg, avg, out=avg)
            np.sqrt(avg, out=avg)
        else:
            np.sqrt(square_avg, out=avg)
        avg += self.eps
        if self.momentum > 0:
            buf = self.state["momentum_buffer"][k]
            buf *= self.momentum
            np.divide(g, avg, out=avg)
            buf += avg
            np.multiply(buf, -self.lr, out=avg)
        else:
            np.divide(g, avg, out=avg)
            avg *= -self.lr
        p += avg


class Adam(Optimizer):
    """Adam (Kingma & Ba 2015) as ``torch.optim.Adam``, with L2 weight decay and AMSGrad.

        g <- g + wd * p                                   (if wd != 0; L2, not AdamW)
        m_t = lerp(m_{t-1}, g, 1 - beta1)                  (exp_avg)
        v_t = beta2 * v_{t-1} + (1 - beta2) * g^2          (exp_avg_sq)
        amsgrad:  vmax_t = max(vmax_{t-1}, v_t), and vmax_t replaces v_t below
        step_size = lr / (1 - beta1^t)
        denom = sqrt(v_t) / sqrt(1 - beta2^t) + eps
        p <- p - step_size * m_t / denom

    Defaults: lr=1e-3, betas=(0.9, 0.999), eps=1e-8, weight_decay=0, amsgrad=False.
    State: ``exp_avg``, ``exp_avg_sq``, plus ``max_exp_avg_sq`` (amsgrad); t is ``step``.
    """

    name = "adam"
    Config = AdamConfig
    decoupled: ClassVar[bool] = False  # AdamW: weight decay on the parameter, not the gradient

    def _buffer_names(self):
        return ("exp_avg", "exp_avg_sq") + (("max_exp_avg_sq",) if self.amsgrad else ())

    def _update(self, k, p, g, s1, s2):
        beta1, beta2 = self.betas
        t = self.step_count + 1
        if self.weight_decay != 0 and self.decoupled:
            p *= 1.0 - self.lr * self.weight_decay  # torch: param.mul_(1 - lr * weight_decay)
        elif self.weight_decay != 0:
            g = _axpy(self.weight_decay, p, g, out=s1)
        exp_avg, exp_avg_sq = self.state["exp_avg"][k], self.state["exp_avg_sq"][k]
        _lerp_(exp_avg, g, 1.0 - beta1, tmp=s2)
        exp_avg_sq *= beta2
        np.multiply(g, 1.0 - beta2, out=s2)  # torch addcmul: v + (value * g) * g
        s2 *= g
        exp_avg_sq += s2

        bias_correction1 = 1.0 - beta1 ** float(t)
        bias_correction2 = 1.0 - beta2 ** float(t)
        step_size = self.lr / bias_correction1
        bias_correction2_sqrt = bias_correction2**0.5

        v = exp_avg_sq
        if self.amsgrad:
            v = self.state["max_exp_avg_sq"][k]
            np.maximum(v, exp_avg_sq, out=v)
        denom = s2
        np.sqrt(v, out=denom)
        denom /= bias_correction2_sqrt
        denom += self.eps
        np.divide(exp_avg, denom, out=denom)
        denom *= -step_size
        p += denom


class AdamW(Adam):
    """AdamW (Loshchilov & Hutter 2019) as ``torch.optim.AdamW``: decoupled weight decay.

        p <- p * (1 - lr * wd)                             (before the Adam update; g untouched)
        then the Adam update above with wd = 0 in the gradient

    Defaults: lr=1e-3, betas=(0.9, 0.999), eps=1e-8, weight_decay=1e-2 (torch's), amsgrad=False.
    The decay follows the current lr, so a schedule scales it too (as in torch).
    """

    name = "adamw"
    Config = AdamWConfig
    decoupled = True


OPTIMIZERS: dict[str, type[Optimizer]] = {
    "sgd": SGD,
    "rmsprop": RMSprop,
    "adam": Adam,
    "adamw": AdamW,
}


def make_optimizer(
    name: str, params: dict[str, np.ndarray], lr: float | None = None, **hparams
) -> Optimizer:
    """Build the optimiser `name` (a key of `OPTIMIZERS`) over `params` (updated in place).

    lr=None takes PyTorch's default for that optimiser (sgd 1e-3, rmsprop 1e-2, adam and adamw
    1e-3).

    `hparams` are the keyword arguments of the torch optimiser of that name (see each class);
    every value is validated and an error names the offending key as ``optim.<key>``.
    """
    if name not in OPTIMIZERS:
        raise ValueError(f"optim.name must be one of {', '.join(OPTIMIZERS)}, got {name!r}")
    cls = OPTIMIZERS[name]
    unknown = sorted(set(hparams) - set(cls.defaults))
    if unknown:
        raise ValueError(
            f"optim.{unknown[0]} is not an option of {name} "
            f"(allowed: lr, {', '.join(cls.defaults)})"
        )
    return cls(params, lr, **hparams)


# --------------------------------------------------------------------------- clipping


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
