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
from typing import Any

import numpy as np

from . import cells as _cells
from . import init as _init
from . import parallel

CELLS = _cells.CELLS
DTYPES = (np.float32, np.float64)
NONLINEARITIES = _cells.NONLINEARITIES


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


def _check_dtype(dtype):
    try:
        dtype = np.dtype(dtype).type
    except TypeError:
        raise TypeError(f"dtype must be np.float32 or np.float64, got {dtype!r}") from None
    if dtype not in DTYPES:
        raise TypeError(f"dtype must be np.float32 or np.float64, got {np.dtype(dtype).name}")
    return dtype


def _check_optional(name, value, ok, rule):
    if value is None:
        return None
    try:
        good = bool(ok(float(value)))
    except (TypeError, ValueError):
        good = False
    if isinstance(value, bool) or not good:
        raise ValueError(f"{name} must be {rule}, got {value!r}")
    return float(value)


def check_options(
    cell: str,
    input_size: int = 1,
    hidden_size: int = 1,
    num_layers: int = 1,
    *,
    dtype=np.float64,
    seed: int = 0,
    init: str = "pytorch",
    forget_bias: float | None = None,
    chrono_tmax: float | None = None,
    spectral_radius: float | None = None,
    **cell_options,
) -> dict[str, Any]:
    """Validate `Network`'s arguments without building anything (the config's check calls it).

    Raises ValueError or TypeError with a one-line message that starts with the argument's
    name; returns the arguments normalised (dtype a NumPy type, `options` the cell's full
    option dict, defaults filled in).
    """
    spec = _cells.get(cell)
    for name, value in (
        ("input_size", input_size),
        ("hidden_size", hidden_size),
        ("num_layers", num_layers),
    ):
        _check_positive_int(name, value)
    dtype = _check_dtype(dtype)
    if isinstance(seed, bool) or not isinstance(seed, (int, np.integer)) or seed < 0:
        raise ValueError(f"seed must be an integer >= 0, got {seed!r}")
    if init not in _init.INIT_SCHEMES:
        raise ValueError(f"init must be one of {', '.join(_init.INIT_SCHEMES)}, got {init!r}")
    options = spec.resolve(cell_options)
    forget_cells = _cells.cells_with_gate("f")
    if cell not in forget_cells and (forget_bias is not None or chrono_tmax is not None):
        which = ", ".join(repr(c) for c in forget_cells)
        raise ValueError(f"forget_bias and chrono_tmax apply to cell {which} only")
    if forget_bias is not None and chrono_tmax is not None:
        raise ValueError("forget_bias and chrono_tmax are exclusive: choose one")
    finite = np.isfinite
    return {
        "cell": cell,
        "input_size": int(input_size),
        "hidden_size": int(hidden_size),
        "num_layers": int(num_layers),
        "dtype": dtype,
        "seed": int(seed),
        "init": init,
        "forget_bias": _check_optional("forget_bias", forget_bias, finite, "a finite number"),
        "chrono_tmax": _check_optional(
            "chrono_tmax", chrono_tmax, lambda v: finite(v) and v > 2, "a finite number > 2"
        ),
        "spectral_radius": _check_optional(
            "spectral_radius",
            spectral_radius,
            lambda v: finite(v) and v > 0,
            "a finite number > 0",
        ),
        "options": options,
    }


class Network:
    """A stack of `num_layers` recurrent layers of one cell type, computed by Numba kernels.

    Network(cell, input_size, hidden_size, num_layers=1, *, dtype=np.float64, seed=0,
            nonlinearity="tanh" (rnn), reset_after=True (gru), init="pytorch",
            forget_bias=None (lstm), chrono_tmax=None (lstm), spectral_radius=None)

    The cells and their options are those of `rnnbench.cells.CELL_SPECS`; the arguments'
    rules are `check_options`. Threads: `rnnbench.set_num_threads` (see `rnnbench.parallel`).
    """

    def __init__(self, cell: str, input_size: int, hidden_size: int, num_layers: int = 1, **kw):
        a = check_options(cell, input_size, hidden_size, num_layers, **kw)
        self.spec = _cells.get(cell)
        self.cell = cell
        self.options = a["options"]  # the cell's options, defaults filled in
        self.nonlinearity = self.options.get("nonlinearity", "tanh")
        self.reset_after = self.options.get("reset_after", True)
        self.input_size = a["input_size"]
        self.hidden_size = a["hidden_size"]
        self.num_layers = a["num_layers"]
        self.dtype = a["dtype"]
        self.gates = self.spec.G
        self._workspace = threading.local()
        self.params = self._init_params(np.random.default_rng(a["seed"]), a)

    def _init_params(self, rng, a) -> dict[str, np.ndarray]:
        H, names = self.hidden_size, self.spec.gate_names
        params = {}
        for k in range(self.num_layers):
            fan_in = self.input_size if k == 0 else H
            w_ih, w_hh, b_ih, b_hh = _init.init_layer(rng, a["init"], self.gates, H, fan_in)
            if a["forget_bias"] is not None:
                _init.set_forget_bias(b_ih, b_hh, H, a["forget_bias"], names)
            if a["chrono_tmax"] is not None:
                _init.set_chrono(rng, b_ih, b_hh, H, a["chrono_tmax"], names)
            if a["spectral_radius"] is not None:
                _init.rescale_spectral_radius(w_hh, H, a["spectral_radius"])
            for name, value in (
                ("weight_ih", w_ih),
                ("weight_hh", w_hh),
                ("bias_ih", b_ih),
                ("bias_hh", b_hh),
            ):
                params[f"{name}_l{k}"] = np.ascontiguousarray(value, dtype=self.dtype)
        return params

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
        has_c = self.spec.has_cell_state
        if c0 is not None and not has_c:
            raise ValueError(f"c0 applies to cell 'lstm' only, not {self.cell!r}")
        h0 = self._state("h0", h0, B)
        c0 = self._state("c0", c0, B) if has_c else None
        H, G, dt = self.hidden_size, self.gates, self.dtype
        cache = Cache(x=x, h=[], c=[], gates=[], extra=[])
        inp = x
        with parallel.compute(B, 2.0 * B * H * G * H) as run:
            for k in range(self.num_layers):
                p = self._layer(k)
                xp = self._buffer("xp", (T, B, G * H))  # (T, B, G*H)
                run.dot(inp.reshape(T * B, -1), p["w_ih"].T, xp.reshape(T * B, G * H))
                h = np.empty((T + 1, B, H), dtype=dt)
                h[0] = h0[k]
                c = None
                if has_c:
                    c = np.empty((T + 1, B, H), dtype=dt)
                    c[0] = c0[k]
                gates, extra = self.spec.forward_layer(p, self.options, xp, h, c, run)
                cache.h.append(h)
                cache.c.append(c)
                cache.gates.append(gates)
                cache.extra.append(extra)
                inp = h[1:]
        cache.h_n = np.stack([h[T] for h in cache.h])
        if has_c:
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
        has_c = self.spec.has_cell_state
        d_out = self._check_array("d_out", d_out, (T, B, H))
        if dc_n is not None and not has_c:
            raise ValueError(f"dc_n applies to cell 'lstm' only, not {self.cell!r}")
        dh_n = self._state("dh_n", dh_n, B)
        dc_n = self._state("dc_n", dc_n, B) if has_c else None
        grads: dict[str, np.ndarray] = {}
        dh0 = np.empty((L, B, H), dtype=self.dtype)
        dc0 = np.empty((L, B, H), dtype=self.dtype) if has_c else None
        dh_norms = np.empty((L, T), dtype=np.float64)
        dh_sq = np.empty((T, B), dtype=np.float64)  # per row: sum over units of dh_t^2
        dh_out = d_out
        with parallel.compute(B, 2.0 * B * H * G * H) as run:
            for k in range(L - 1, -1, -1):
                p = self._layer(k)
                inp = cache.x if k == 0 else cache.h[k - 1][1:]
                da = self._buffer("da", (T, B, G * H))  # dL/d(input pre-activations)
                state = (cache.h[k], cache.c[k], cache.gates[k], cache.extra[k])
                dc_n_k = dc_n[k] if has_c else None
                lg = self.spec.backward_layer(
                    p, self.options, *state, dh_out, dh_n[k], dc_n_k, da, self._buffer, dh_sq, run
                )
                dh_norms[k] = np.sqrt(dh_sq.sum(axis=1))
                dh0[k] = lg.h0
                if has_c:
                    dc0[k] = lg.c0
                da2 = da.reshape(T * B, G * H)
                grads[f"weight_ih_l{k}"] = run.dot_t(da2, inp.reshape(T * B, -1))
                grads[f"bias_ih_l{k}"] = lg.b_ih
                grads[f"weight_hh_l{k}"] = lg.w_hh
                grads[f"bias_hh_l{k}"] = lg.b_hh
                dh_out = run.dot(da2, p["w_ih"]).reshape(T, B, -1)  # dL/d(input of layer k)
        grads["x"] = dh_out
        grads["h0"] = dh0
        if has_c:
            grads["c0"] = dc0
        cache.dh_norms = dh_norms
        return grads
