"""The update rules: SGD, RMSprop, Adam and AdamW, each as torch.optim's single-tensor path."""

from typing import ClassVar

import numpy as np

from .base import Optimizer, _axpy, _lerp_
from .hparams import AdamConfig, AdamWConfig, RMSpropConfig, SGDConfig

__all__ = ["SGD", "RMSprop", "Adam", "AdamW"]


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
