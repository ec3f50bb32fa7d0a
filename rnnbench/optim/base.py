"""The optimiser base class: parameters, step count, per-parameter state buffers and their
npz-safe codec, and the in-place arithmetic helpers the update rules share."""

from collections.abc import Mapping
from dataclasses import fields
from typing import ClassVar

import numpy as np

from rnnbench.options import default_of
from rnnbench.state import check_state


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

        Keys, shapes and dtypes must match this optimiser's exactly (`rnnbench.state`); nothing
        is changed if not.
        """
        loaded = check_state(self.name, d, self.state_arrays())
        if int(loaded["step"]) < 0:
            raise ValueError(f"{self.name} state 'step' must be an integer scalar >= 0")
        for b, bufs in self.state.items():
            for k, arr in bufs.items():
                np.copyto(arr, loaded[f"{b}.{k}"])
        self.step_count = int(loaded["step"])
