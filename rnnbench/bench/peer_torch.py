"""PyTorch as a peer: torch.nn.RNN / LSTM / GRU with our weights (the optional extra `torch`).

PyTorch's GRU is reset_after (the hidden bias inside r * (W_hn h + b_hn)), as is ours by
default; its float32 LSTM on CPU takes the fused oneDNN path (`fused` in the table).
"""

import numpy as np

from .flops import INPUT_SIZE
from .peers import Step


class TorchPeer:
    name = "torch"

    def __init__(self, torch):
        self.torch = torch

    @classmethod
    def load(cls):
        """The peer, or None when PyTorch is not installed."""
        try:
            import torch
        except ImportError:
            return None
        return cls(torch)

    def configure(self, threads: int, ftz: bool) -> None:
        self.torch.set_num_threads(threads)
        if ftz:
            self.torch.set_flush_denormal(True)

    def fused(self, cell: str, dtype_name: str) -> bool:
        return cell == "lstm" and dtype_name == "float32"

    def step(self, cell, net, x, d_out) -> Step:
        torch = self.torch
        tdt = torch.float64 if net.dtype == np.float64 else torch.float32
        if cell == "rnn":
            m = torch.nn.RNN(INPUT_SIZE, net.hidden_size, 1, nonlinearity=net.nonlinearity)
        elif cell == "gru" and not net.reset_after:
            raise ValueError("PyTorch's GRU is reset_after only")
        else:
            m = {"lstm": torch.nn.LSTM, "gru": torch.nn.GRU}[cell](INPUT_SIZE, net.hidden_size, 1)
        m = m.to(tdt)
        m.load_state_dict({k: torch.from_numpy(v.copy()) for k, v in net.params.items()})
        xt = torch.from_numpy(x.copy()).requires_grad_()
        dt = torch.from_numpy(d_out.copy())
        last = {}

        def run():
            m.zero_grad(set_to_none=True)
            xt.grad = None
            out, _ = m(xt)
            out.backward(dt)
            last["out"] = out

        def result():
            grads = {k: p.grad.numpy() for k, p in m.named_parameters()}
            grads["x"] = xt.grad.numpy()
            return last["out"].detach().numpy(), grads

        return Step(run, result)

    def describe(self) -> dict:
        torch = self.torch
        return {
            "version": torch.__version__,
            "num_threads": torch.get_num_threads(),
            "num_interop_threads": torch.get_num_interop_threads(),
            "mkldnn": bool(torch.backends.mkldnn.is_available()),
            "config": torch.__config__.show(),
        }
