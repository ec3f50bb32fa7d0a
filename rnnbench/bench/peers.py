"""The implementations a row times, and the parity check that comes before any timing.

Each side of a row is a `Step`: `run()` does one training step and returns when the result is
ready (JAX's asynchronous dispatch included); `result()` gives the last step's outputs and
gradients as NumPy arrays, named as `Network.backward` names them (PyTorch's parameter names
plus "x"). A peer (`peer_torch`, `peer_jax`) builds its Step from our `Network`, so both sides
use the same weights, inputs and upstream gradient.

Parity: for every array, err = max|ours - theirs| / max|ours| (the error relative to the
array's scale), and a step agrees when the largest err is within the dtype's tolerance. Before
any timing `check_peer` runs every cell in float64 at a small shape (`PARITY_SHAPE`) and drops a
peer that disagrees; each row then compares its warm-up results in the row's own dtype and
leaves the peer's time empty where they disagree.
"""

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

from ..network import Network
from .flops import INPUT_SIZE

# float64: agreement to rounding (the kernels match PyTorch to ~1e-15); the per-row tolerance
# allows for T = 1000 steps of accumulation; float32: single-precision rounding over T steps.
TOLERANCE = {"parity": 1e-12, "float64": 1e-9, "float32": 2e-3}
PEER_NAMES = ("torch", "jax")  # the table's peer columns, in this order
PARITY_SHAPE = {"B": 3, "H": 5, "T": 7}
PARITY_CELLS = (
    ("rnn", {"nonlinearity": "tanh"}),
    ("rnn", {"nonlinearity": "relu"}),
    ("lstm", {}),
    ("gru", {"reset_after": True}),
)


@dataclass
class Step:
    run: Callable[[], None]
    result: Callable[[], tuple]  # () -> (out (T, B, H), {name: gradient})


class PeerDisagrees(RuntimeError):
    """A peer's outputs or gradients differ from rnnbench's beyond the tolerance."""


def make_inputs(cell, B, H, T, dtype, seed=0, **cell_options):
    """The row's network (PyTorch's default init), x ~ N(0, 1) (T, B, I) and d_out (T, B, H)."""
    net = Network(cell, INPUT_SIZE, H, 1, dtype=dtype, seed=seed, **cell_options)
    rng = np.random.default_rng(seed + 1)
    x = rng.standard_normal((T, B, INPUT_SIZE)).astype(dtype)
    d_out = rng.standard_normal((T, B, H)).astype(dtype)
    return net, x, d_out


def rnnbench_step(net, x, d_out) -> Step:
    """One training step of ours: forward over T, BPTT to every parameter and to x."""
    last = {}

    def run():
        out, cache = net.forward(x)
        last["out"], last["grads"] = out, net.backward(cache, d_out)

    def result():
        grads = {k: v for k, v in last["grads"].items() if k in net.params or k == "x"}
        return np.asarray(last["out"]), grads

    return Step(run, result)


def max_relative_error(ours: tuple, theirs: tuple) -> float:
    """Largest over the output and every gradient of max|a - b| / max|a|."""
    (out_a, grads_a), (out_b, grads_b) = ours, theirs
    if set(grads_a) != set(grads_b):
        raise PeerDisagrees(f"gradients differ in names: {sorted(grads_a)} vs {sorted(grads_b)}")
    pairs = [(out_a, out_b)] + [(grads_a[k], grads_b[k]) for k in sorted(grads_a)]
    worst = 0.0
    for a, b in pairs:
        a, b = np.asarray(a, dtype=np.float64), np.asarray(b, dtype=np.float64)
        if a.shape != b.shape:
            raise PeerDisagrees(f"shapes differ: {a.shape} vs {b.shape}")
        scale = max(float(np.abs(a).max()), np.finfo(np.float64).tiny)
        err = float(np.abs(a - b).max()) / scale
        worst = max(worst, err if np.isfinite(err) else np.inf)
    return worst


def check_peer(peer) -> float:
    """Float64 parity of `peer` with rnnbench for every cell; the largest error, or raise."""
    worst = 0.0
    for cell, options in PARITY_CELLS:
        net, x, d_out = make_inputs(cell, dtype=np.float64, **PARITY_SHAPE, **options)
        ours, theirs = rnnbench_step(net, x, d_out), peer.step(cell, net, x, d_out)
        ours.run()
        theirs.run()
        err = max_relative_error(ours.result(), theirs.result())
        if not err <= TOLERANCE["parity"]:
            raise PeerDisagrees(
                f"{peer.name} {cell} {options or ''} float64: outputs or gradients differ from "
                f"rnnbench by {err:.2e} (relative), above {TOLERANCE['parity']:.0e}"
            )
        worst = max(worst, err)
    return worst
