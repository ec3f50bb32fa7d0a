"""JAX as a peer: the same three cells as a jitted `lax.scan`, gradients by `jax.vjp`.

The optional extra `jax` (JAX needs Python >= 3.12). Per cell, with PyTorch's layout and gate
order (lstm [i, f, g, o], gru [r, z, n]) and xp_t = x_t W_ih^T + b_ih computed for all t first:

    rnn   h_t = act(xp_t + h_{t-1} W_hh^T + b_hh),             act = tanh or relu
    lstm  a_t = xp_t + h_{t-1} W_hh^T + b_hh -> i, f, g, o;   c_t = s(f) c_{t-1} + s(i) tanh(g),
          h_t = s(o) tanh(c_t)
    gru   hh_t = h_{t-1} W_hh^T + b_hh -> hr, hz, hn;  r = s(xr + hr), z = s(xz + hz),
          n = tanh(xn + r hn), h_t = (1 - z) n + z h_{t-1}          (reset_after)

One step is `jax.vjp` of (params, x) -> h_1..h_T pulled back with d_out, jitted as a whole; a
timed call waits for its result (`block_until_ready`). float64 needs `jax_enable_x64`, which
`load` switches on. Threads: XLA's flags do not hold JAX to one core; the benchmark pins the
whole process with a CPU affinity, and with one thread also turns off XLA's multi-threaded
Eigen (`XLA_FLAGS`, which only takes effect when set before JAX is imported).
"""

import os

import numpy as np

from .peers import Step

ONE_THREAD_FLAGS = "--xla_cpu_multi_thread_eigen=false"
NAMES = ("weight_ih_l0", "weight_hh_l0", "bias_ih_l0", "bias_hh_l0")


def _forward(jax, cell, relu):
    """(params, x (T, B, I)) -> h_1..h_T (T, B, H), the equations of the module docstring."""
    jnp, lax, sigmoid = jax.numpy, jax.lax, jax.nn.sigmoid

    def forward(params, x):
        w_ih, w_hh, b_ih, b_hh = (params[k] for k in NAMES)
        H, B = w_hh.shape[1], x.shape[1]
        h0 = jnp.zeros((B, H), dtype=x.dtype)
        xp = x @ w_ih.T + b_ih  # (T, B, G*H)
        if cell == "rnn":

            def f(h, xp_t):
                a = xp_t + h @ w_hh.T + b_hh
                h = jnp.maximum(a, 0) if relu else jnp.tanh(a)
                return h, h

            init = h0
        elif cell == "lstm":

            def f(carry, xp_t):
                h, c = carry
                i, fg, g, o = jnp.split(xp_t + h @ w_hh.T + b_hh, 4, axis=-1)
                c = sigmoid(fg) * c + sigmoid(i) * jnp.tanh(g)
                h = sigmoid(o) * jnp.tanh(c)
                return (h, c), h

            init = (h0, h0)
        else:

            def f(h, xp_t):
                xr, xz, xn = jnp.split(xp_t, 3, axis=-1)
                hr, hz, hn = jnp.split(h @ w_hh.T + b_hh, 3, axis=-1)
                r, z = sigmoid(xr + hr), sigmoid(xz + hz)
                n = jnp.tanh(xn + r * hn)
                h = (1 - z) * n + z * h
                return h, h

            init = h0
        return lax.scan(f, init, xp)[1]

    return forward


class JaxPeer:
    name = "jax"

    def __init__(self, jax):
        self.jax = jax
        self._steps = {}

    @classmethod
    def load(cls, threads: int):
        """The peer, or None when JAX is not installed. Sets XLA's flags first (one thread)."""
        os.environ.setdefault("JAX_PLATFORMS", "cpu")
        if threads == 1:
            os.environ["XLA_FLAGS"] = f"{os.environ.get('XLA_FLAGS', '')} {ONE_THREAD_FLAGS}"
        try:
            import jax
        except ImportError:
            return None
        jax.config.update("jax_enable_x64", True)
        return cls(jax)

    def configure(self, threads: int, ftz: bool) -> None:
        """Nothing to set at run time: the affinity and XLA_FLAGS (see `load`) hold the threads."""

    def fused(self, cell: str, dtype_name: str) -> bool:
        return False

    def _compiled(self, cell, relu):
        key = (cell, relu)
        if key not in self._steps:
            forward = _forward(self.jax, cell, relu)

            def step(params, x, d_out):
                out, pull = self.jax.vjp(forward, params, x)
                grads, dx = pull(d_out)
                return out, grads, dx

            self._steps[key] = self.jax.jit(step)
        return self._steps[key]

    def step(self, cell, net, x, d_out) -> Step:
        jax = self.jax
        if cell == "gru" and not net.reset_after:
            raise ValueError("the JAX peer implements the reset_after GRU only")
        fn = self._compiled(cell, cell == "rnn" and net.nonlinearity == "relu")
        params = {k: jax.device_put(net.params[k]) for k in NAMES}
        xj, dj = jax.device_put(x), jax.device_put(d_out)
        last = {}

        def run():
            last["res"] = jax.block_until_ready(fn(params, xj, dj))

        def result():
            out, grads, dx = last["res"]
            named = {k: np.asarray(v) for k, v in grads.items()}
            named["x"] = np.asarray(dx)
            return np.asarray(out), named

        return Step(run, result)

    def describe(self) -> dict:
        import jaxlib

        return {
            "version": self.jax.__version__,
            "jaxlib": jaxlib.__version__,
            "devices": [str(d) for d in self.jax.devices()],
            "xla_flags": os.environ.get("XLA_FLAGS", ""),
        }
