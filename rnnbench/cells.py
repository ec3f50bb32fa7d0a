"""The cell registry: every fact about a recurrent cell, defined once (equations: docs/cells.md).

A cell is a `CellSpec`: its name, its G gate blocks in PyTorch's row order (weight_ih is
(G*H, in), weight_hh (G*H, H), the gate blocks stacked top to bottom), the keyword options it
accepts with their defaults and allowed values, whether it carries a cell state c_t, how
diagnostics read each gate (`gate_kinds`), and the two layer functions `Network` calls:

    forward_layer(p, opts, xp, h, c, run)  -> (gates (T, B, G*H), extra (T, B, H) or None)
        p: the layer's parameters {"w_ih", "w_hh", "b_ih", "b_hh"}; xp (T, B, G*H) holds
        x W_ih^T (no bias yet, the cell adds the biases it sums outside the recurrence);
        h (T + 1, B, H) with h[0] = h_0 and c (T + 1, B, H) with c[0] = c_0 (or None), filled.
    backward_layer(p, opts, h, c, gates, extra, dh_out, dh_n, dc_n, da, buffer, dh_sq, run)
        -> LayerGrads: da (T, B, G*H) = dL/d(xp + biases), db_ih, dW_hh, db_hh, dh_0, dc_0

`run(kernel, *args)` executes a kernel over row blocks of the batch (`rnnbench.parallel`);
every kernel takes the batch rows [b0, b1) it computes as its last two arguments.

`CELLS` is the tuple of registered names in the project's order (rnn, lstm, gru), which the
config, the report and the benchmark use; `NONLINEARITIES` is the rnn's allowed `nonlinearity`.
Adding a cell: one kernel module and one `CellSpec` entry here.
"""

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np

from .kernels import gru, lstm, rnn


@dataclass(frozen=True)
class Option:
    """A keyword option of one cell: default and allowed values (checked by `Network`)."""

    name: str
    default: Any
    allowed: tuple
    doc: str

    def check(self, value: Any) -> Any:
        """Return the value if allowed, else raise a one-line error naming the option."""
        if all(isinstance(a, bool) for a in self.allowed):
            if not isinstance(value, (bool, np.bool_)):
                raise TypeError(f"{self.name} must be True or False, got {value!r}")
            return bool(value)
        if not isinstance(value, str) or value not in self.allowed:
            allowed = ", ".join(repr(a) for a in self.allowed)
            raise ValueError(f"{self.name} must be one of {allowed}, got {value!r}")
        return value


@dataclass(frozen=True)
class LayerGrads:
    """One layer's BPTT result: da (T, B, G*H) = dL/d(input pre-activations), the bias
    gradients db_ih, db_hh (G*H,), the recurrent weight gradient dW_hh (G*H, H), and dL/dh_0,
    dL/dc_0 (B, H). (`Network` computes dW_ih = sum_t da_t^T x_t and dx = da W_ih from da.)"""

    da: np.ndarray
    b_ih: np.ndarray
    w_hh: np.ndarray
    b_hh: np.ndarray
    h0: np.ndarray
    c0: np.ndarray | None = None


@dataclass(frozen=True)
class CellSpec:
    """Everything `Network`, init, diagnostics, config, report and bench know about a cell."""

    name: str
    gate_names: tuple[str, ...]  # the G blocks of weight_ih / weight_hh, in PyTorch's row order
    options: tuple[Option, ...]
    has_cell_state: bool  # lstm: c_t, with c0 / c_n / dc_n
    gate_kinds: Callable[[dict], tuple[str, ...]]  # opts -> "sigmoid" | "tanh" | "relu" per gate
    forward_layer: Callable
    backward_layer: Callable

    @property
    def G(self) -> int:
        """Number of gate blocks: rows of weight_ih = G * H."""
        return len(self.gate_names)

    def defaults(self) -> dict[str, Any]:
        return {o.name: o.default for o in self.options}

    def resolve(self, cell_options: dict[str, Any]) -> dict[str, Any]:
        """The cell's full option dict from user keywords; rejects unknown ones and bad values."""
        known = {o.name: o for o in self.options}
        unknown = sorted(set(cell_options) - set(known))
        if unknown:
            what = ", ".join(known) or "none"
            raise TypeError(
                f"unknown option {unknown[0]!r} for cell {self.name!r} (allowed: {what})"
            )
        return {
            name: opt.check(cell_options.get(name, opt.default)) for name, opt in known.items()
        }


# ------------------------------------------------------------------------ shared helpers
def _rows(a):
    """(T, B, N) -> (T*B, N), a view."""
    return a.reshape(-1, a.shape[-1])


def _shared_grads(da, h, dh0, dc0, run):
    """Both biases outside the recurrence (a = xp + b_ih + b_hh + h_{t-1} W_hh^T): db_hh =
    db_ih = sum da, dW_hh = sum_t da_t^T h_{t-1}."""
    db = run.colsum(_rows(da))
    w = run.dot_t(_rows(da), _rows(h[:-1]))
    return LayerGrads(da, db, w, db.copy(), dh0, dc0)


# ------------------------------------------------------------------------ rnn
def _rnn_forward(p, opts, xp, h, c, run):
    run.add(_rows(xp), p["b_ih"] + p["b_hh"])
    run(rnn.forward, xp, p["w_hh"].T.copy(), h, opts["nonlinearity"] == "relu")
    return h[1:], None


def _rnn_backward(p, opts, h, c, gates, extra, dh_out, dh_n, dc_n, da, buffer, dh_sq, run):
    dh0 = np.empty_like(dh_n)
    run(rnn.backward, h, p["w_hh"], dh_out, dh_n, opts["nonlinearity"] == "relu", da, dh_sq, dh0)
    return _shared_grads(da, h, dh0, None, run)


# ------------------------------------------------------------------------ lstm
def _lstm_forward(p, opts, xp, h, c, run):
    run.add(_rows(xp), p["b_ih"] + p["b_hh"])
    gates = np.empty_like(xp)
    run(lstm.forward, xp, p["w_hh"].T.copy(), h, c, gates)
    return gates, None


def _lstm_backward(p, opts, h, c, gates, extra, dh_out, dh_n, dc_n, da, buffer, dh_sq, run):
    dh0, dc0 = np.empty_like(dh_n), np.empty_like(dc_n)
    run(lstm.backward, gates, c, p["w_hh"], dh_out, dh_n, dc_n, da, dh_sq, dh0, dc0)
    return _shared_grads(da, h, dh0, dc0, run)


# ------------------------------------------------------------------------ gru
def _gru_forward(p, opts, xp, h, c, run):
    T, B, GH = xp.shape
    H = GH // 3
    gates = np.empty_like(xp)
    extra = np.empty((T, B, H), dtype=xp.dtype)  # hn (reset_after) or r * h_{t-1}
    if opts["reset_after"]:  # b_hn sits inside r * (h W_hn^T + b_hn)
        bias = p["b_ih"].copy()
        bias[: 2 * H] += p["b_hh"][: 2 * H]
        run.add(_rows(xp), bias)
        b_hn = p["b_hh"][2 * H :].copy()
        run(gru.forward_reset_after, xp, p["w_hh"].T.copy(), b_hn, h, gates, extra)
    else:
        run.add(_rows(xp), p["b_ih"] + p["b_hh"])
        w_rz_t, w_n_t = p["w_hh"][: 2 * H].T.copy(), p["w_hh"][2 * H :].T.copy()
        run(gru.forward_reset_before, xp, w_rz_t, w_n_t, h, gates, extra)
    return gates, extra


def _gru_backward(p, opts, h, c, gates, extra, dh_out, dh_n, dc_n, da, buffer, dh_sq, run):
    T, B, GH = da.shape
    H = GH // 3
    dh0 = np.empty_like(dh_n)
    w_hh = p["w_hh"]
    if opts["reset_after"]:
        da_h = buffer("da_h", da.shape)  # dL/d(h_{t-1} W_hh^T + b_hh) = [da_r, da_z, r da_n]
        args = (h, gates, extra, w_hh, dh_out, dh_n, da, da_h, dh_sq, dh0)
        run(gru.backward_reset_after, *args)
        w = run.dot_t(_rows(da_h), _rows(h[:-1]))
        return LayerGrads(da, run.colsum(_rows(da)), w, run.colsum(_rows(da_h)), dh0)
    w_rz, w_n = w_hh[: 2 * H], w_hh[2 * H :]  # act on h_{t-1} and on r * h_{t-1}
    run(gru.backward_reset_before, h, gates, w_rz, w_n, dh_out, dh_n, da, dh_sq, dh0)
    da2 = _rows(da)
    w = np.empty((GH, H), dtype=da.dtype)  # W_hr, W_hz act on h_{t-1}; W_hn on r * h_{t-1}
    w[: 2 * H] = run.dot_t(da2[:, : 2 * H], _rows(h[:-1]))
    w[2 * H :] = run.dot_t(da2[:, 2 * H :], _rows(extra))
    db = run.colsum(da2)
    return LayerGrads(da, db, w, db.copy(), dh0)


# ------------------------------------------------------------------------ the registry
NONLINEARITIES = ("tanh", "relu")

CELL_SPECS: dict[str, CellSpec] = {
    "rnn": CellSpec(
        name="rnn",
        gate_names=("h",),
        options=(Option("nonlinearity", "tanh", NONLINEARITIES, "phi in h_t = phi(a_t)"),),
        has_cell_state=False,
        gate_kinds=lambda opts: (opts["nonlinearity"],),
        forward_layer=_rnn_forward,
        backward_layer=_rnn_backward,
    ),
    "lstm": CellSpec(
        name="lstm",
        gate_names=("i", "f", "g", "o"),
        options=(),
        has_cell_state=True,
        gate_kinds=lambda opts: ("sigmoid", "sigmoid", "tanh", "sigmoid"),
        forward_layer=_lstm_forward,
        backward_layer=_lstm_backward,
    ),
    "gru": CellSpec(
        name="gru",
        gate_names=("r", "z", "n"),
        options=(
            Option(
                "reset_after",
                True,
                (True, False),
                "True: n = tanh(xp_n + r * (h W_hn^T + b_hn)) (PyTorch, cuDNN); "
                "False: n = tanh(xp_n + (r * h) W_hn^T + b_hn) (Cho et al. 2014)",
            ),
        ),
        has_cell_state=False,
        gate_kinds=lambda opts: ("sigmoid", "sigmoid", "tanh"),
        forward_layer=_gru_forward,
        backward_layer=_gru_backward,
    ),
}
CELLS = tuple(CELL_SPECS)


def cell_names() -> tuple[str, ...]:
    """The registered cells, in the project's order."""
    return CELLS


def get(cell: str) -> CellSpec:
    """The spec of `cell`; ValueError naming `cell` and the allowed names otherwise."""
    spec = CELL_SPECS.get(cell) if isinstance(cell, str) else None
    if spec is None:
        raise ValueError(f"cell must be one of {', '.join(CELLS)}, got {cell!r}")
    return spec


def cells_with_gate(gate: str) -> tuple[str, ...]:
    """The cells that have a gate of that name (e.g. "f": the cells forget_bias applies to)."""
    return tuple(name for name, spec in CELL_SPECS.items() if gate in spec.gate_names)
