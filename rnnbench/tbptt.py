"""Truncated backpropagation through time: the state runs on, the gradient stops every K steps.

The sequence x (T, B, I) is cut into chunks [0, K), [K, 2K), ..., the last one shorter if K does
not divide T. The forward pass runs chunk by chunk, each starting from the previous chunk's
final states (all layers' h, and c for the LSTM), so the outputs are those of the full forward
pass. The backward pass of each chunk starts with dL/dh_n = 0 (and dL/dc_n = 0) at the chunk's
end: no gradient crosses a chunk boundary. This is PyTorch's ``repackage_hidden``
(``h = h.detach()`` between chunks) from the word-language-model example.

Loss and updates: ONE update per sequence. The task's loss is computed once on the full output
(T, B, H), exactly as without truncation, and the parameter gradient is the sum over chunks of
each chunk's truncated gradient:

    dL/dtheta ~= sum_c  sum_{t in c}  dL_t/dtheta  restricted to paths inside chunk c

(the PyTorch equivalent: forward chunk by chunk with the state detached between chunks,
concatenate the outputs, compute the loss, one ``backward()``). So a training step, its batch,
the schedules, the clipping and the logged metrics mean the same with and without truncation,
and runs with different K compare equal numbers of updates on equal data. (The
word-language-model instead makes one update per chunk on a continuous text stream; on the
fixed-length tasks here, whose loss may sit only at the last step, that would add updates
without a loss.) With K = 0 or K >= T there is one chunk and the step is the full BPTT step
itself, bit for bit.

The gradient diagnostics see ||dL/dh_t|| of the truncated backward (`ChunkedCache.dh_norms`,
(L, T)): it restarts from the local loss at every chunk end, which shows where it is cut.

    out, cache = forward(net, x, K)             # out (T, B, H), cache: a ChunkedCache
    grads = backward(net, cache, d_out)         # params keys + "x" (T, B, I), "h0" (and "c0")
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from rnnbench.network import Cache, Network

__all__ = ["ChunkedCache", "chunk_bounds", "forward", "backward"]


def chunk_bounds(T: int, K: int) -> list[tuple[int, int]]:
    """[(start, stop), ...] of the chunks of length K covering 0..T-1; K = 0 or K >= T: one."""
    if K <= 0 or K >= T:
        return [(0, T)]
    return [(s, min(s + K, T)) for s in range(0, T, K)]


@dataclass
class ChunkedCache(Cache):
    """The chunks' caches joined along time (so diagnostics read it as one forward pass), plus
    `parts`, the per-chunk caches the truncated backward uses."""

    parts: list = field(default_factory=list)


def _join(parts: list[Cache], x: np.ndarray) -> ChunkedCache:
    """One Cache over all T steps: per layer h (T + 1, B, H), c, gates (T, B, G*H), extra."""
    L = len(parts[0].h)

    def cat(name: str, k: int, states: bool):
        arrays = [getattr(p, name)[k] for p in parts]
        if arrays[0] is None:
            return None
        if states:  # h and c hold the initial state at index 0: keep only the first chunk's
            arrays = [arrays[0]] + [a[1:] for a in arrays[1:]]
        return np.concatenate(arrays, axis=0)

    joined = ChunkedCache(
        x=x,
        h=[cat("h", k, True) for k in range(L)],
        c=[cat("c", k, True) for k in range(L)],
        gates=[cat("gates", k, False) for k in range(L)],
        extra=[cat("extra", k, False) for k in range(L)],
        h_n=parts[-1].h_n,
        c_n=parts[-1].c_n,
        parts=parts,
    )
    return joined


def forward(net: Network, x: np.ndarray, K: int, h0=None, c0=None):
    """x (T, B, I) -> (out (T, B, H), cache), chunk by chunk with the state carried over.

    K = 0 or K >= T: exactly ``net.forward(x, h0, c0)`` (a plain Cache)."""
    bounds = chunk_bounds(x.shape[0], K)
    if len(bounds) == 1:
        return net.forward(x, h0, c0) if c0 is not None else net.forward(x, h0)
    parts, outs = [], []
    h, c = h0, c0
    for start, stop in bounds:
        xs = np.ascontiguousarray(x[start:stop])  # (k, B, I)
        out, cache = net.forward(xs, h, c) if c is not None else net.forward(xs, h)
        parts.append(cache)
        outs.append(out)
        h, c = cache.h_n, cache.c_n  # the state runs on; the gradient will not
    out = np.concatenate(outs, axis=0)  # (T, B, H)
    out.flags.writeable = False
    return out, _join(parts, x)


def backward(net: Network, cache: Cache, d_out: np.ndarray) -> dict[str, np.ndarray]:
    """Gradients of sum(out * d_out) with the backward cut at every chunk boundary.

    Chunks are processed last to first; parameter gradients are summed over chunks; "x" is the
    concatenation of the chunks' input gradients and "h0" ("c0") the first chunk's. Fills
    ``cache.dh_norms`` (L, T). A plain Cache (one chunk) is ``net.backward(cache, d_out)``.
    """
    if not isinstance(cache, ChunkedCache):
        return net.backward(cache, d_out)
    grads: dict[str, np.ndarray] = {}
    dx, norms = [], []
    stop = d_out.shape[0]
    for part in reversed(cache.parts):
        start = stop - part.x.shape[0]
        g = net.backward(part, np.ascontiguousarray(d_out[start:stop]))  # dh_n = 0: the cut
        for k in net.params:
            if k in grads:
                grads[k] += g[k]
            else:
                grads[k] = g[k]
        dx.append(g["x"])
        norms.append(part.dh_norms)
        first = g
        stop = start
    grads["x"] = np.concatenate(dx[::-1], axis=0)
    grads["h0"] = first["h0"]
    if "c0" in first:
        grads["c0"] = first["c0"]
    cache.dh_norms = np.concatenate(norms[::-1], axis=1)  # (L, T)
    return grads
