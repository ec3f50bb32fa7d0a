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

Modules: `hparams` (the hyperparameter dataclasses: defaults, allowed values, docs), `base` (the
`Optimizer` base class and its state codec), `rules` (the four update rules), `clip` (gradient
clipping); this module holds the registry `OPTIMIZERS` and `make_optimizer`.
"""

import numpy as np

from .base import Optimizer
from .clip import CLIP_METHODS, ClipConfig, clip_gradients, global_norm
from .hparams import AdamConfig, AdamWConfig, RMSpropConfig, SGDConfig
from .rules import SGD, Adam, AdamW, RMSprop

__all__ = ["OPTIMIZERS", "CLIP_METHODS", "Optimizer", "SGD", "RMSprop", "Adam", "AdamW"]
__all__ += ["make_optimizer", "clip_gradients", "global_norm", "ClipConfig"]
__all__ += ["SGDConfig", "RMSpropConfig", "AdamConfig", "AdamWConfig"]

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
