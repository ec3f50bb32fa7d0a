"""Network: a stack of RNN, LSTM or GRU layers with PyTorch's parameter layout.

Layer k maps its input sequence (T, B, in_k) to its states (T, B, H); in_0 = I, in_k = H above.
Parameters are named exactly as in `torch.nn.RNN/LSTM/GRU(num_layers=L).state_dict()`:
``weight_ih_l{k}`` (G*H, in_k), ``weight_hh_l{k}`` (G*H, H), ``bias_ih_l{k}`` (G*H,),
``bias_hh_l{k}`` (G*H,), G = 1, 4, 3 for rnn, lstm, gru.

Per layer the work is split as the kernels' docstrings describe: the input projection
xp = X W_ih^T + b for all T steps is one GEMM, the time loop (a Numba kernel) does only the
recurrent part, and after BPTT the weight gradients are whole-sequence GEMMs:

    dW_ih = sum_t da_t^T x_t,   dW_hh = sum_t da_t^T h_{t-1},   db = sum_t da_t,   dx_t = da_t W_ih

The purely internal (T, B, G*H) temporaries (the input projection xp and the pre-activation
gradients da) live in a per-thread workspace of the Network that is reused while T and B stay
the same: a fresh array of that size costs page faults on first touch, which at B = 32, H = 32
took longer than the time loop itself. Everything returned (outputs, the cache, the gradients)
is a fresh array, as before.
"""

import threading
from dataclasses import dataclass, field

import numpy as np

from . import init as _init
from .kernels import gru, lstm, rnn

CELLS = ("rnn", "lstm", "gru")
DTYPES = (np.float32, np.float64)
NONLINEARITIES = ("tanh", "relu")


@dataclass
class Cache:
    """What forward keeps for backward, and the final states.

    h_n, c_n: (L, B, H) final states (c_n is None unless lstm); gates: per layer (T, B, G*H)
    activations (lstm [i, f, g, o], gru [r, z, n], rnn h_t). After `Network.backward`,
    dh_norms: (L, T) with ||dL/dh_t|| (Frobenius norm over batch and hidden units) per layer.
    """

    x: np.ndarray
    h: list  # per layer (T + 1, B, H), h[0] = h_0
    c: list  # per layer (T + 1, B, H) (lstm) else None
    gates: list  # per layer (T, B, G*H)
    extra: list  # gru: hn (reset_after) or r * h_{t-1} (not reset_after), (T, B, H)
    h_n: np.ndarray = None
    c_n: np.ndarray = None
    dh_norms: np.ndarray = field(default=None)


def _check_positive_int(name, value):
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < 1:
        raise ValueError(f"{name} must be an integer >= 1, got {value!r}")


class Network:
    """A stack of `num_layers` recurrent layers of one cell type, computed by Numba kernels.

    Network(cell, input_size, hidden_size, num_layers=1, *, dtype=np.float64, seed=0,
            nonlinearity="tanh" (rnn), reset_after=True (gru), init="pytorch",
            forget_bias=None (lstm), chrono_tmax=None (lstm), spectral_radius=None)
    """

    def __init__(
        self,
        cell: str,
        input_size: int,
        hidden_size: int,
        num_layers: int = 1,
        *,
        dtype=np.float64,
        seed: int = 0,
        init: str = "pytorch",
        forget_bias: float | None = None,
        chrono_tmax: float | None = None,
        spectral_radius: float | None = None,
        **cell_options,
    ):
        if cell not in CELLS:
            raise ValueError(f"cell must be one of {', '.join(CELLS)}, got {cell!r}")
        _check_positive_int("input_size", input_size)
        _check_positive_int("hidden_size", hidden_size)
        _check_positive_int("num_layers", num_layers)
        try:
            dtype = np.dtype(dtype).type
        except TypeError:
            raise TypeError(f"dtype must be np.float32 or np.float64, got {dtype!r}") from None
        if dtype not in DTYPES:
            raise TypeError(f"dtype must be np.float32 or np.float64, got {np.dtype(dtype).name}")
        if init not in _init.INIT_SCHEMES:
            raise ValueError(f"init must be one of {', '.join(_init.INIT_SCHEMES)}, got {init!r}")
        allowed = {"rnn": {"nonlinearity"}, "gru": {"reset_after"}, "lstm": set()}[cell]
        unknown = set(cell_options) - allowed
        if unknown:
            what = ", ".join(sorted(allowed)) or "none"
            raise TypeError(
                f"unknown option {sorted(unknown)[0]!r} for cell {cell!r} (allowed: {what})"
            )
        self.nonlinearity = cell_options.get("nonlinearity", "tanh")
        if self.nonlinearity not in NONLINEARITIES:
            raise ValueError(f"nonlinearity must be 'tanh' or 'relu', got {self.nonlinearity!r}")
        self.reset_after = cell_options.get("reset_after", True)
        if not isinstance(self.reset_after, (bool, np.bool_)):
            raise TypeError(f"reset_after must be True or False, got {self.reset_after!r}")
        if cell != "lstm" and (forget_bias is not None or chrono_tmax is not None):
            raise ValueError("forget_bias and chrono_tmax apply to cell 'lstm' only")
        if forget_bias is not None and chrono_tmax is not None:
            raise ValueError("forget_bias and chrono_tmax are exclusive: choose one")
        if forget_bias is not None and not np.isfinite(forget_bias):
            raise ValueError(f"forget_bias must be a finite number, got {forget_bias!r}")
        if chrono_tmax is not None and not (np.isfinite(chrono_tmax) and chrono_tmax > 2):
            raise ValueError(f"chrono_tmax must be a finite number > 2, got {chrono_tmax!r}")
        if spectral_radius is not None and not (
            np.isfinite(spectral_radius) and spectral_radius > 0
        ):
            raise ValueError(
                f"spectral_radius must be a finite number > 0, got {spectral_radius!r}"
            )

        self.cell = cell
        self.input_size = int(input_size)
        self.hidden_size = H = int(hidden_size)
        self.num_layers = int(num_layers)
        self.dtype = dtype
        self.gates = _init.GATES[cell]
        rng = np.random.default_rng(seed)
        self._workspace = threading.local()
        self.params: dict[str, np.ndarray] = {}
        for k in range(self.num_layers):
            fan_in = self.input_size if k == 0 else H
            w_ih, w_hh, b_ih, b_hh = _init.init_layer(rng, init, self.gates, H, fan_in)
            if forget_bias is not None:
                _init.set_forget_bias(b_ih, b_hh, H, forget_bias)
            if chrono_tmax is not None:
                _init.set_chrono(rng, b_ih, b_hh, H, chrono_tmax)
            if spectral_radius is not None:
                _init.rescale_spectral_radius(w_hh, H, spectral_radius)
            for name, value in (
                ("weight_ih", w_ih),
                ("weight_hh", w_hh),
                ("bias_ih", b_ih),
                ("bias_hh", b_hh),
            ):
                self.params[f"{name}_l{k}"] = np.ascontiguousarray(value, dtype=dtype)

    # ------------------------------------------------------------------ checks
    def _check_array(self, name, a, shape):
        if not isinstance(a, np.ndarray):
            raise TypeError(f"{name} must be a numpy array, got {type(a).__name__}")
        if a.dtype != self.dtype:
            raise TypeError(
                f"{name} has dtype {a.dtype}, the network's is {np.dtype(self.dtype).name}"
            )
        if a.shape != shape:
            raise ValueError(f"{name} must have shape {shape}, got {a.shape}")
        return np.ascontiguousarray(a)

    def _check_x(self, x):
        if not isinstance(x, np.ndarray):
            raise TypeError(f"x must be a numpy array, got {type(x).__name__}")
        if x.ndim != 3 or x.shape[0] < 1 or x.shape[1] < 1 or x.shape[2] != self.input_size:
            raise ValueError(
                f"x must have shape (T, B, {self.input_size}) with T, B >= 1, got {x.shape}"
            )
        return self._check_array("x", x, x.shape)

    def _state(self, name, s, B):
        shape = (self.num_layers, B, self.hidden_size)
        if s is None:
            return np.zeros(shape, dtype=self.dtype)
        return self._check_array(name, s, shape)

    def __getstate__(self):  # copies and pickles leave the workspace behind
        state = self.__dict__.copy()
        state.pop("_workspace", None)
        return state

    def __setstate__(self, state):
        self.__dict__.update(state)
        self._workspace = threading.local()

    def _buffer(self, name, shape):
        """A reusable internal array (this thread's), never handed out; contents undefined."""
        ws = self._workspace.__dict__
        buf = ws.get(name)
        if buf is None or buf.shape != shape:
            buf = ws[name] = np.empty(shape, dtype=self.dtype)
        return buf

    # ------------------------------------------------------------------ forward
    def forward(self, x: np.ndarray, h0: np.ndarray | None = None, c0: np.ndarray | None = None):
        """x (T, B, I) -> (out (T, B, H) the top layer's h_1..h_T (read-only view), cache)."""
        x = self._check_x(x)
        T, B, _ = x.shape
        if c0 is not None and self.cell != "lstm":
            raise ValueError(f"c0 applies to cell 'lstm' only, not {self.cell!r}")
        h0 = self._state("h0", h0, B)
        c0 = self._state("c0", c0, B) if self.cell == "lstm" else None
        H, G, dt = self.hidden_size, self.gates, self.dtype
        cache = Cache(x=x, h=[], c=[], gates=[], extra=[])
        inp = x
        for k in range(self.num_layers):
            p = self._layer(k)
            xp = self._buffer("xp", (T, B, G * H))  # (T, B, G*H)
            np.dot(inp.reshape(T * B, -1), p["w_ih"].T, xp.reshape(T * B, G * H))
            h = np.empty((T + 1, B, H), dtype=dt)
            h[0] = h0[k]
            gates = np.empty((T, B, G * H), dtype=dt)
            c = extra = None
            if self.cell == "rnn":
                xp += p["b_ih"] + p["b_hh"]
                rnn.forward(xp, p["w_hh"].T.copy(), h, self.nonlinearity == "relu")
                gates = h[1:]
            elif self.cell == "lstm":
                xp += p["b_ih"] + p["b_hh"]
                c = np.empty((T + 1, B, H), dtype=dt)
                c[0] = c0[k]
                lstm.forward(xp, p["w_hh"].T.copy(), h, c, gates)
            elif self.reset_after:
                xp += p["b_ih"]
                xp[..., : 2 * H] += p["b_hh"][: 2 * H]
                extra = np.empty((T, B, H), dtype=dt)
                gru.forward_reset_after(
                    xp, p["w_hh"].T.copy(), p["b_hh"][2 * H :].copy(), h, gates, extra
                )
            else:
                xp += p["b_ih"] + p["b_hh"]
                extra = np.empty((T, B, H), dtype=dt)
                w_rz_t = p["w_hh"][: 2 * H].T.copy()
                w_n_t = p["w_hh"][2 * H :].T.copy()
                gru.forward_reset_before(xp, w_rz_t, w_n_t, h, gates, extra)
            cache.h.append(h)
            cache.c.append(c)
            cache.gates.append(gates)
            cache.extra.append(extra)
            inp = h[1:]
        cache.h_n = np.stack([h[T] for h in cache.h])
        if self.cell == "lstm":
            cache.c_n = np.stack([c[T] for c in cache.c])
        out = cache.h[-1][1:]
        out.flags.writeable = False
        return out, cache

    def _layer(self, k):
        p = self.params
        return {
            "w_ih": p[f"weight_ih_l{k}"],
            "w_hh": p[f"weight_hh_l{k}"],
            "b_ih": p[f"bias_ih_l{k}"],
            "b_hh": p[f"bias_hh_l{k}"],
        }

    # ------------------------------------------------------------------ backward
    def backward(
        self, cache: Cache, d_out: np.ndarray, dh_n=None, dc_n=None
    ) -> dict[str, np.ndarray]:
        """Gradients of L = sum(out * d_out) (+ sum(h_n * dh_n) + sum(c_n * dc_n)).

        d_out: (T, B, H); dh_n, dc_n: (L, B, H) or None (zeros). Returns a dict with every key
        of `params` plus "x", "h0" (and "c0" for lstm); fills `cache.dh_norms` (L, T).
        """
        T, B, _ = cache.x.shape
        H, G, L = self.hidden_size, self.gates, self.num_layers
        d_out = self._check_array("d_out", d_out, (T, B, H))
        if dc_n is not None and self.cell != "lstm":
            raise ValueError(f"dc_n applies to cell 'lstm' only, not {self.cell!r}")
        dh_n = self._state("dh_n", dh_n, B)
        dc_n = self._state("dc_n", dc_n, B) if self.cell == "lstm" else None
        grads: dict[str, np.ndarray] = {}
        dh0 = np.empty((L, B, H), dtype=self.dtype)
        dc0 = np.empty((L, B, H), dtype=self.dtype) if self.cell == "lstm" else None
        dh_norms = np.empty((L, T), dtype=np.float64)
        dh_out = d_out
        for k in range(L - 1, -1, -1):
            p = self._layer(k)
            h, gates, extra = cache.h[k], cache.gates[k], cache.extra[k]
            inp = cache.x if k == 0 else cache.h[k - 1][1:]
            da = self._buffer("da", (T, B, G * H))  # dL/d(input pre-activations)
            da_h = da  # dL/d(recurrent pre-activations), differs for gru
            h_rec_in = h[:-1]  # the input of W_hh at each step
            if self.cell == "rnn":
                dh0[k] = rnn.backward(
                    h, p["w_hh"], dh_out, dh_n[k], self.nonlinearity == "relu", da, dh_norms[k]
                )
            elif self.cell == "lstm":
                dh0[k], dc0[k] = lstm.backward(
                    gates, cache.c[k], p["w_hh"], dh_out, dh_n[k], dc_n[k], da, dh_norms[k]
                )
            elif self.reset_after:
                da_h = self._buffer("da_h", (T, B, G * H))
                dh0[k] = gru.backward_reset_after(
                    h, gates, extra, p["w_hh"], dh_out, dh_n[k], da, da_h, dh_norms[k]
                )
            else:
                w_rz, w_n = p["w_hh"][: 2 * H], p["w_hh"][2 * H :]
                dh0[k] = gru.backward_reset_before(
                    h, gates, w_rz, w_n, dh_out, dh_n[k], da, dh_norms[k]
                )
            da2 = da.reshape(T * B, G * H)
            grads[f"weight_ih_l{k}"] = np.dot(da2.T, inp.reshape(T * B, -1))
            grads[f"bias_ih_l{k}"] = da2.sum(axis=0)
            if self.cell == "gru" and not self.reset_after:
                # W_hr, W_hz act on h_{t-1}; W_hn acts on r * h_{t-1}
                w_grad = np.empty((G * H, H), dtype=self.dtype)
                w_grad[: 2 * H] = np.dot(da2[:, : 2 * H].T, h_rec_in.reshape(T * B, H))
                w_grad[2 * H :] = np.dot(da2[:, 2 * H :].T, extra.reshape(T * B, H))
                grads[f"weight_hh_l{k}"] = w_grad
                grads[f"bias_hh_l{k}"] = grads[f"bias_ih_l{k}"].copy()
            else:
                dah2 = da_h.reshape(T * B, G * H)
                grads[f"weight_hh_l{k}"] = np.dot(dah2.T, h_rec_in.reshape(T * B, H))
                grads[f"bias_hh_l{k}"] = (
                    dah2.sum(axis=0) if da_h is not da else grads[f"bias_ih_l{k}"].copy()
                )
            dh_out = np.dot(da2, p["w_ih"]).reshape(T, B, -1)  # dL/d(input of layer k)
        grads["x"] = dh_out
        grads["h0"] = dh0
        if self.cell == "lstm":
            grads["c0"] = dc0
        cache.dh_norms = dh_norms
        return grads
