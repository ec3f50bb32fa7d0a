"""The optimisers' hyperparameters: one dataclass per optimiser, the schema of the ``optim``
config section, with PyTorch's defaults and the allowed values of every key (`rnnbench.options`).
"""

from dataclasses import dataclass

from rnnbench.options import Bool, Float, OptionError, Pair, check_fields, option

__all__ = ["SGDConfig", "RMSpropConfig", "AdamConfig", "AdamWConfig"]

# Allowed values: what torch.optim's constructors accept, except that every number must be finite
# and lr > 0 (a zero learning rate trains nothing) and eps > 0 (eps = 0 divides 0 by 0 at a zero
# gradient). tests/test_optim.py checks these verdicts against torch itself.
LR = Float(lo=0.0, lo_open=True)
EPS = Float(lo=0.0, lo_open=True)
NONNEGATIVE = Float(lo=0.0)
FINITE = Float()
BETA = Float(0.0, 1.0, hi_open=True)


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
