"""Gradient diagnostics: how the gradient flowing back through time vanishes or explodes.

Everything here reads what a training step already has (the forward cache, the gradients of
`Network.backward`, the parameters) and returns long-format rows; nothing here raises on NaN or
inf. A non-finite value is stored as null with `finite = False`.

Time index: `t` runs 1..T as in the equations, h_t being the state after input t (h_0 is the
initial state), so the loss of a "last step" task sits at t = T and the distance back from it is
T - t ("steps before the loss").

Quantities (the BPTT Jacobians behind them: docs/cells.md):

- per-timestep gradient norms ``||dL/dh_t||`` (Frobenius over batch and hidden units), free from
  the training backward (`cache.dh_norms`), one row per (layer, t): `grad_norm_rows`;
- the global gradient norm before and after clipping and the norm of every parameter tensor;
- for each recurrent matrix W_hh (G*H, H) and each of its H x H gate blocks: the spectral radius
  rho = max |eig| and the largest singular value sigma_max = ||W||_2. For the tanh RNN
  dh_t/dh_{t-1} = diag(1 - h_t^2) W_hh, so ||dL/dh_t|| ~ rho^(T-t): a slope of ln(rho) per
  step on a log scale;
- gate statistics through time: the mean activation of every gate (the cell's `gate_names` in
  `rnnbench.cells`: lstm i, f, g, o; gru r, z, n; rnn h) per t or per time bin, and the fraction
  of saturated units by the gate's kind (`gate_kinds`: sigmoid < eps or > 1 - eps, tanh
  |a| > 1 - eps, relu exactly 0, "dead");
- the Jacobian-product gain ``||dh_T/dh_t||``: K random vectors v, unit per sequence, are
  backpropagated from the top layer's h_T with no loss (d_out = 0, dh_n = v), and
  sqrt(mean_k sum_b ||v_kb^T dh_T/dh_t||^2 / B) is recorded. Since E ||v^T J||^2 = ||J||_F^2 / H
  for v uniform on the unit sphere, this estimates the RMS singular value ||J||_F / sqrt(H)
  (averaged over the batch), which is exact for a scaled orthogonal J.

Tables (column order fixed by `GRAD_NORM_COLUMNS`, `DIAGNOSTIC_COLUMNS`):

    grad_norms:   step, layer, t, norm, finite
    diagnostics:  step, quantity, layer, name, t, value, finite
                  quantity in QUANTITIES; layer/t null where they do not apply; name is the
                  parameter (``weight_hh_l0``), the gate block (``weight_hh_l0:f``) or the gate
                  (``f``), else "".
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping

import numpy as np
import pandas as pd

from rnnbench.cells import CELL_SPECS

GRAD_NORMS_FILE = "grad_norms.parquet"
DIAGNOSTICS_FILE = "diagnostics.parquet"
GRAD_NORM_COLUMNS = ("step", "layer", "t", "norm", "finite")
DIAGNOSTIC_COLUMNS = ("step", "quantity", "layer", "name", "t", "value", "finite")
QUANTITIES = (
    "grad_norm_before_clip",  # global L2 norm over all parameters, this step
    "grad_norm_after_clip",
    "grad_norm_before_clip_max",  # max over the steps since the previous record
    "clip_fraction",  # fraction of the steps since the previous record that were clipped
    "param_grad_norm",  # per tensor, before clipping (name = parameter)
    "spectral_radius",  # name = weight_hh_l{k} (rnn) or weight_hh_l{k}:{gate}
    "max_singular_value",
    "gate_mean",  # name = gate, per t (or bin)
    "gate_saturated",
    "jacobian_norm",  # ||dh_T/dh_t|| (RMS gain), per layer and t
)


# --------------------------------------------------------------------------- values and rows


def clean(value) -> tuple[float | None, bool]:
    """(value as float, True) if finite, else (None, False). Never raises."""
    try:
        v = float(value)
    except (TypeError, ValueError):
        return None, False
    return (v, True) if math.isfinite(v) else (None, False)


class Table:
    """Column-wise row accumulator with a fixed schema; `frame()` gives typed pandas columns."""

    _DTYPES = {
        "step": "int64",
        "layer": "Int64",
        "t": "Int64",
        "norm": "Float64",
        "value": "Float64",
        "finite": "bool",
        "quantity": "string",
        "name": "string",
    }

    def __init__(self, columns: Iterable[str]):
        self.columns = tuple(columns)
        self.data: dict[str, list] = {c: [] for c in self.columns}

    def __len__(self) -> int:
        return len(self.data[self.columns[0]])

    def extend(self, rows: Iterable[Mapping]) -> None:
        for row in rows:
            for c in self.columns:
                self.data[c].append(row.get(c))

    def frame(self) -> pd.DataFrame:
        return pd.DataFrame(
            {c: pd.array(self.data[c], dtype=self._DTYPES[c]) for c in self.columns}
        )


def _row(step, quantity, value, layer=None, name="", t=None) -> dict:
    v, ok = clean(value)
    return {
        "step": int(step),
        "quantity": quantity,
        "layer": layer,
        "name": name,
        "t": t,
        "value": v,
        "finite": ok,
    }


def grad_norm_rows(step: int, dh_norms: np.ndarray) -> list[dict]:
    """(L, T) `cache.dh_norms` -> rows (step, layer, t = 1..T, norm, finite)."""
    a = np.asarray(dh_norms, dtype=np.float64)
    rows = []
    for k in range(a.shape[0]):
        for i in range(a.shape[1]):
            v, ok = clean(a[k, i])
            rows.append({"step": int(step), "layer": k, "t": i + 1, "norm": v, "finite": ok})
    return rows


def clip_rows(step: int, norm_before: float, norm_after: float) -> list[dict]:
    """Global gradient norm before and after clipping (as `optim.clip_gradients` returns)."""
    return [
        _row(step, "grad_norm_before_clip", norm_before),
        _row(step, "grad_norm_after_clip", norm_after),
    ]


def tensor_norm(a: np.ndarray) -> float:
    """L2 norm accumulated in float64; NaN/inf propagate (no warning)."""
    flat = np.asarray(a, dtype=np.float64).ravel()
    with np.errstate(over="ignore", invalid="ignore"):
        return math.sqrt(float(np.dot(flat, flat)))


def _layer_of(name: str) -> int | None:
    head, sep, tail = name.rpartition("_l")
    return int(tail) if sep and tail.isdigit() else None


def param_grad_norm_rows(step: int, grads: Mapping[str, np.ndarray], keys: Iterable[str]):
    """Norm of each parameter tensor's gradient, name = the parameter key."""
    return [
        _row(step, "param_grad_norm", tensor_norm(grads[k]), layer=_layer_of(k), name=k)
        for k in keys
    ]


# --------------------------------------------------------------------------- spectra


def spectral_radius(w: np.ndarray) -> float:
    """max |eig(w)| of a square matrix; NaN if w is not finite (never raises)."""
    w = np.asarray(w, dtype=np.float64)
    if not np.isfinite(w).all():
        return math.nan
    try:
        return float(np.max(np.abs(np.linalg.eigvals(w))))
    except np.linalg.LinAlgError:
        return math.nan


def max_singular_value(w: np.ndarray) -> float:
    """||w||_2, the largest singular value; NaN if w is not finite (never raises)."""
    w = np.asarray(w, dtype=np.float64)
    if not np.isfinite(w).all():
        return math.nan
    try:
        return float(np.linalg.norm(w, 2))
    except np.linalg.LinAlgError:
        return math.nan


def spectral_rows(step: int, net) -> list[dict]:
    """rho and sigma_max of each weight_hh_l{k} and of each of its H x H gate blocks.

    The full (G*H, H) matrix of a gated cell is not square: only sigma_max is reported for it.
    For the rnn the matrix is its single block, named ``weight_hh_l{k}``.
    """
    H = net.hidden_size
    gates = CELL_SPECS[net.cell].gate_names
    rows = []
    for k in range(net.num_layers):
        name = f"weight_hh_l{k}"
        w = net.params[name]
        if len(gates) == 1:
            rows.append(_row(step, "spectral_radius", spectral_radius(w), k, name))
            rows.append(_row(step, "max_singular_value", max_singular_value(w), k, name))
            continue
        rows.append(_row(step, "max_singular_value", max_singular_value(w), k, name))
        for g, gate in enumerate(gates):
            block = w[g * H : (g + 1) * H]
            rows.append(_row(step, "spectral_radius", spectral_radius(block), k, f"{name}:{gate}"))
            rows.append(
                _row(step, "max_singular_value", max_singular_value(block), k, f"{name}:{gate}")
            )
    return rows


# --------------------------------------------------------------------------- gates


def time_bins(T: int, bins: int | None) -> list[tuple[int, int]]:
    """Split steps 0..T-1 into `bins` contiguous half-open ranges (every step if None or >= T)."""
    n = T if not bins or bins >= T else int(bins)
    edges = np.linspace(0, T, n + 1).round().astype(int)
    return [(int(a), int(b)) for a, b in zip(edges[:-1], edges[1:], strict=True) if b > a]


def _saturated(kind: str, x: np.ndarray, eps: float) -> np.ndarray:
    """Saturated units of a gate of that kind: sigmoid < eps or > 1 - eps; tanh |a| > 1 - eps;
    relu exactly 0."""
    if kind == "relu":
        return x == 0.0
    if kind == "sigmoid":
        return (x < eps) | (x > 1.0 - eps)
    return np.abs(x) > 1.0 - eps


def gate_statistics(
    cell: str,
    gates: np.ndarray,
    *,
    bins: int | None = None,
    eps: float = 0.05,
    options: Mapping | None = None,
) -> dict[str, tuple[np.ndarray, np.ndarray, np.ndarray]]:
    """Per gate: (t, mean, saturated fraction) over batch and units, per time bin.

    gates: (T, B, G*H) post-activation values of one layer (`cache.gates[k]`); options: the
    cell's options (`Network.options`, defaults if None), which fix each gate's kind.
    t of a bin is its middle step, 1-based: (first + last) // 2 with first, last in 1..T.
    """
    spec = CELL_SPECS[cell]
    names = spec.gate_names
    kinds = spec.gate_kinds({**spec.defaults(), **(options or {})})
    T, B, GH = gates.shape
    H = GH // len(names)
    a = np.asarray(gates).reshape(T, B, len(names), H)
    out = {}
    ranges = time_bins(T, bins)
    t_mid = np.array([(lo + 1 + hi) // 2 for lo, hi in ranges])
    with np.errstate(invalid="ignore", over="ignore"):
        for g, (gate, kind) in enumerate(zip(names, kinds, strict=True)):
            x = a[:, :, g, :].astype(np.float64).reshape(T, B * H)  # (T, B*H)
            sat = _saturated(kind, x, eps)
            sat = np.where(np.isfinite(x), sat, np.nan)  # a NaN unit makes the bin's value NaN
            mean_t = x.mean(axis=1)
            sat_t = sat.mean(axis=1)
            mean = np.array([mean_t[lo:hi].mean() for lo, hi in ranges])
            frac = np.array([sat_t[lo:hi].mean() for lo, hi in ranges])
            out[gate] = (t_mid, mean, frac)
    return out


def gate_rows(step: int, net, cache, *, bins: int | None = None, eps: float = 0.05):
    """Gate statistics of every layer as rows (quantity gate_mean / gate_saturated)."""
    rows = []
    for k, gates in enumerate(cache.gates):
        stats = gate_statistics(net.cell, gates, bins=bins, eps=eps, options=net.options)
        for gate, (t_mid, mean, frac) in stats.items():
            for t, m, f in zip(t_mid, mean, frac, strict=True):
                rows.append(_row(step, "gate_mean", m, k, gate, int(t)))
                rows.append(_row(step, "gate_saturated", f, k, gate, int(t)))
    return rows


# --------------------------------------------------------------------------- Jacobian products


def jacobian_norms(net, cache, rng: np.random.Generator, num_vectors: int = 4) -> np.ndarray:
    """(L, T) estimate of ||dh_T/dh_t|| for t = 1..T, h_T the top layer's last state.

    For each of `num_vectors` draws, every sequence b gets its own v_b uniform on the unit
    sphere of R^H, and `net.backward(cache, 0, dh_n=v)` computes u_t = v^T dh_T/dh_t for every
    layer; `cache.dh_norms` then holds sqrt(sum_b ||u_bt||^2). Returned:
    sqrt(mean over draws of dh_norms^2 / B), the RMS gain ||J||_F / sqrt(H) averaged over the
    batch; at t = T it is exactly 1. Overwrites `cache.dh_norms`: read the training norms
    first. NaN/inf propagate into the result; nothing raises on them.
    """
    if not isinstance(rng, np.random.Generator):
        raise TypeError(f"rng must be a numpy.random.Generator, got {type(rng).__name__}")
    if int(num_vectors) < 1:
        raise ValueError(f"num_vectors must be >= 1, got {num_vectors!r}")
    T, B = cache.gates[0].shape[:2]
    L, H, dt = net.num_layers, net.hidden_size, net.dtype
    d_out = np.zeros((T, B, H), dtype=dt)
    acc = np.zeros((L, T), dtype=np.float64)
    with np.errstate(over="ignore", invalid="ignore"):
        for _ in range(int(num_vectors)):
            v = rng.standard_normal((B, H))
            v /= np.linalg.norm(v, axis=1, keepdims=True)
            dh_n = np.zeros((L, B, H), dtype=dt)
            dh_n[-1] = v
            net.backward(cache, d_out, dh_n=dh_n)
            acc += np.asarray(cache.dh_norms, dtype=np.float64) ** 2
        return np.sqrt(acc / (int(num_vectors) * B))


def jacobian_rows(step: int, norms: np.ndarray) -> list[dict]:
    """(L, T) `jacobian_norms` -> rows (quantity jacobian_norm, layer, t = 1..T)."""
    norms = np.asarray(norms)
    return [
        _row(step, "jacobian_norm", norms[k, i], k, "", i + 1)
        for k in range(norms.shape[0])
        for i in range(norms.shape[1])
    ]


# --------------------------------------------------------------------------- fits


def fit_log_slope(x: np.ndarray, norms: np.ndarray) -> tuple[float, float, int]:
    """Least-squares fit ln(norm) = a + slope * x over the finite, positive points.

    Returns (slope, a, number of points used); slope and a are NaN with fewer than 2 points.
    With x the distance back from the loss, T - t, exp(slope) is the measured factor per step
    back in time, to be compared with rho of the recurrent matrix (ln rho per step).
    """
    x = np.asarray(x, dtype=np.float64)
    y = np.asarray(norms, dtype=np.float64)
    with np.errstate(divide="ignore", invalid="ignore"):
        ok = np.isfinite(y) & (y > 0) & np.isfinite(x)
    n = int(ok.sum())
    if n < 2 or np.ptp(x[ok]) == 0:
        return math.nan, math.nan, n
    slope, a = np.polyfit(x[ok], np.log(y[ok]), 1)
    return float(slope), float(a), n


# --------------------------------------------------------------------------- the recorder


class Recorder:
    """Collects grad_norms and diagnostics rows during training.

    Call `after_backward` right after each backward, with every parameter's gradient, before
    clipping (the per-tensor norms are the raw gradient's), and `after_clip` after each
    `optim.clip_gradients`. Full diagnostics are recorded at the first step seen, every `every`
    steps, at `last_step`, and at any step whose gradient is not finite (so the step where a
    run diverges is in the tables); `every <= 0` turns everything off.

    The per-timestep norms cost nothing (the training backward computes them); the spectra cost
    one eigendecomposition and one SVD per H x H block; the Jacobian estimate costs
    `jacobian_vectors` extra backward passes on the training cache, run after the training
    gradients are read (`Network.backward` returns fresh arrays, so `grads` is left untouched,
    and `cache.dh_norms` is restored).
    """

    def __init__(
        self,
        net,
        *,
        every: int = 50,
        rng: np.random.Generator,
        jacobian_vectors: int = 2,
        time_bins: int | None = 20,
        saturation_eps: float = 0.05,
        spectra: bool = True,
        gates: bool = True,
        last_step: int | None = None,
    ):
        self.net = net
        self.every = int(every)
        self.rng = rng
        self.jacobian_vectors = int(jacobian_vectors)
        self.bins = time_bins or None
        self.eps = float(saturation_eps)
        self.spectra = bool(spectra)
        self.gates = bool(gates)
        self.last_step = last_step
        self.grad_norms = Table(GRAD_NORM_COLUMNS)
        self.diagnostics = Table(DIAGNOSTIC_COLUMNS)
        self._started = False
        self._n_since = 0
        self._clipped_since = 0
        self._max_before = -math.inf
        self._logged_step = None
        self._last_dh = None  # (step, (L, T) norms) of the latest step, for `on_diverged`
        self._last_clip = None  # (step, before, after)
        self._clip_logged_step = None

    def due(self, step: int) -> bool:
        """Whether `step` is a logging step (the first seen, every `every`-th, the last)."""
        if self.every <= 0:
            return False
        return not self._started or step % self.every == 0 or step == self.last_step

    def after_backward(self, step: int, cache, grads: Mapping[str, np.ndarray]) -> None:
        """Record at logging steps (or if non-finite): dh norms, tensor norms, spectra, gates,
        Jacobian gains. `grads`: parameter name -> gradient ("x", "h0", "c0" are skipped)."""
        if self.every <= 0:
            return
        dh = np.array(cache.dh_norms, dtype=np.float64)  # a copy: (L, T)
        due = self.due(step)
        self._started = True
        self._last_dh = (step, dh)
        if not (due or not np.isfinite(dh).all()):
            self._logged_step = None
            return
        self._logged_step = step
        self.grad_norms.extend(grad_norm_rows(step, dh))
        keys = [k for k in grads if k not in ("x", "h0", "c0")]
        rows = param_grad_norm_rows(step, grads, keys)
        if self.spectra:
            rows += spectral_rows(step, self.net)
        if self.gates:
            rows += gate_rows(step, self.net, cache, bins=self.bins, eps=self.eps)
        if self.jacobian_vectors > 0:
            saved = cache.dh_norms
            norms = jacobian_norms(self.net, cache, self.rng, self.jacobian_vectors)
            rows += jacobian_rows(step, norms)
            cache.dh_norms = saved  # the training norms, for any later reader
        self.diagnostics.extend(rows)

    def after_clip(self, step: int, norm_before: float, norm_after: float) -> None:
        """Count clipping every step; record the norms at logging steps (or if non-finite)."""
        if self.every <= 0:
            return
        self._n_since += 1
        self._last_clip = (step, norm_before, norm_after)
        if math.isfinite(norm_before):
            self._max_before = max(self._max_before, norm_before)
            self._clipped_since += norm_after < norm_before
        if not (self._logged_step == step or not math.isfinite(norm_before)):
            return
        self._log_clip(step, norm_before, norm_after)

    def _log_clip(self, step: int, norm_before: float, norm_after: float) -> None:
        self._clip_logged_step = step
        rows = clip_rows(step, norm_before, norm_after)
        rows.append(_row(step, "grad_norm_before_clip_max", self._max_before))
        rows.append(_row(step, "clip_fraction", self._clipped_since / self._n_since))
        self.diagnostics.extend(rows)
        self._n_since = self._clipped_since = 0
        self._max_before = -math.inf

    def on_diverged(self, step: int) -> None:
        """The run stops at `step`: make sure that step's ||dL/dh_t|| and global gradient norms
        are in the tables even if it was not a logging step (the cache is gone by then, so the
        spectra, gates and Jacobian gains are not recorded)."""
        if self.every <= 0:
            return
        if self._logged_step != step and self._last_dh is not None and self._last_dh[0] == step:
            self.grad_norms.extend(grad_norm_rows(step, self._last_dh[1]))
            self._logged_step = step
        last = self._last_clip
        if self._clip_logged_step != step and last is not None and last[0] == step:
            self._log_clip(*last)

    def frames(self) -> tuple[pd.DataFrame, pd.DataFrame]:
        """(grad_norms, diagnostics) as typed DataFrames, ready for parquet."""
        return self.grad_norms.frame(), self.diagnostics.frame()

    # -- checkpoints (rnnbench.train): the state between two steps, as npz-safe arrays
    _COUNTERS = ("_n_since", "_clipped_since", "_max_before", "_started")

    def state_arrays(self) -> dict[str, np.ndarray]:
        """Rows so far, counters since the last record and the random vectors' stream, keyed
        ``diag:...``; no object arrays (a null cell is a masked entry). The RNG state is added
        by the caller (it owns the Generator's encoding)."""
        out = {f"diag:{c}": np.asarray(getattr(self, c)) for c in self._COUNTERS}
        for name, table in (("grad_norms", self.grad_norms), ("diagnostics", self.diagnostics)):
            for c in table.columns:
                out.update(_column_arrays(f"diag:{name}:{c}", table.data[c], table._DTYPES[c]))
        return out

    def load_state_arrays(self, arrays: Mapping[str, np.ndarray]) -> None:
        """Restore `state_arrays` output (the inverse; the RNG is restored by the caller)."""
        for c in self._COUNTERS:
            setattr(self, c, arrays[f"diag:{c}"].item())
        for name, table in (("grad_norms", self.grad_norms), ("diagnostics", self.diagnostics)):
            table.data = {c: _column_list(arrays, f"diag:{name}:{c}") for c in table.columns}


def _column_arrays(key: str, values: list, dtype: str) -> dict[str, np.ndarray]:
    """One Table column as (values, null mask) arrays of a plain dtype."""
    kind = {"string": np.str_, "bool": np.bool_, "int64": np.int64, "Int64": np.int64}
    np_dtype = kind.get(dtype, np.float64)
    fill = {np.str_: "", np.bool_: False, np.int64: 0}.get(np_dtype, 0.0)
    mask = np.array([v is None for v in values], dtype=bool)
    data = np.array([fill if v is None else v for v in values], dtype=np_dtype)
    return {key: data, f"{key}:null": mask}


def _column_list(arrays: Mapping[str, np.ndarray], key: str) -> list:
    values, mask = arrays[key].tolist(), arrays[f"{key}:null"].tolist()
    return [None if m else v for v, m in zip(values, mask, strict=True)]
