"""How much arithmetic one training step is, and how fast this machine can do it.

A step is the forward pass over T and BPTT to every parameter and to x (one layer, input size I,
G = 1, 4, 3 gate blocks of H for rnn, lstm, gru). Its flops are

    flops = GEMM flops + T * B * H * (EW_forward + EW_backward)

GEMM flops: 2 m k n for every product C (m, n) = A (m, k) B (k, n) of `step_gemms`. Element-wise
flops, per hidden unit, batch row and time step, counted from the cell equations (one flop per
add, subtract, multiply, and per tanh / sigmoid / exp, as a convention: a transcendental costs
an implementation 10-20 instructions, which the GEMMs dwarf from H = 32 on anyway):

    rnn   forward  4: a = xp + b_ih + (h W_hh^T + b_hh) (3), h = tanh(a) (1)
          backward 6: g = d_out + dh (1), da = g (1 - h^2) (3), db_ih, db_hh (2)
    lstm  forward 21: 4 pre-activations with both biases (12), 3 sigmoids + tanh (4),
                      c = f c + i g (3), tanh(c) (1), h = o tanh(c) (1)
          backward 31: dh (1), do (1) and its sigmoid' (3), dc (5), di, dg, df with their
                      derivatives (4 each), dc_{t-1} = dc f (1), 4 x 2 bias sums (8)
    gru   forward 17: r, z pre-activations (6), n's input and hidden parts with r hn (4),
                      2 sigmoids + tanh (3), h = (1 - z) n + z h_{t-1} (4)
          backward 24: dh (1), dn, dz (4), dh direct (1), the three derivatives (9), dr, dhn (2),
                      dh_{t-1} accumulation (1), 3 x 2 bias sums (6)

The machine's GEMM peak for a dtype is the rate of one large square product (n = 1024) at the
row's thread count and affinity: what BLAS reaches when the shape is no obstacle.
"""

import time

import numpy as np

from ..kernels._jit import jit

INPUT_SIZE = 10
GATES = {"rnn": 1, "lstm": 4, "gru": 3}
ELEMENTWISE_FLOPS = {"rnn": (4, 6), "lstm": (21, 31), "gru": (17, 24)}  # (forward, backward)
PEAK_N = 1024


def step_gemms(cell: str, B: int, H: int, T: int, I: int = INPUT_SIZE):
    """The matrix products of one step: (name, m, k, n, count), C (m, n) = A (m, k) B (k, n)."""
    G = GATES[cell] * H
    return [
        ("xp = x W_ih^T", T * B, I, G, 1),
        ("a_t = h_{t-1} W_hh^T", B, H, G, T),
        ("dh_{t-1} = da_t W_hh", B, G, H, T),
        ("dW_ih = da^T x", G, T * B, I, 1),
        ("dW_hh = da^T h", G, T * B, H, 1),
        ("dx = da W_ih", T * B, G, I, 1),
    ]


def gemm_flops(gemms) -> float:
    """2 m k n per product, times its count."""
    return float(sum(2.0 * m * k * n * c for _, m, k, n, c in gemms))


def elementwise_flops(cell: str, B: int, H: int, T: int) -> float:
    """T B H (EW_forward + EW_backward), the counts of the module docstring."""
    return float(T * B * H * sum(ELEMENTWISE_FLOPS[cell]))


def step_flops(cell: str, B: int, H: int, T: int, I: int = INPUT_SIZE) -> float:
    """All flops of one training step: GEMMs plus element-wise work."""
    return gemm_flops(step_gemms(cell, B, H, T, I)) + elementwise_flops(cell, B, H, T)


@jit
def _dot_loop(a, b, out, count):
    for _ in range(count):
        np.dot(a, b, out)


def median_seconds(fn, repeats: int) -> float:
    """Median wall time of `repeats` calls of fn()."""
    times = []
    for _ in range(repeats):
        t0 = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t0)
    return float(np.median(times))


def gemm_bound(gemms, dtype, repeats: int, rng) -> float:
    """Seconds: sum over the step's GEMMs of the median time of each at its shape.

    Whole-sequence products by `np.dot`; the per-timestep ones (count T) by a compiled loop of
    `np.dot` (the BLAS that the kernels call, without Python overhead per call).
    """
    total = 0.0
    for _, m, k, n, count in gemms:
        a = rng.standard_normal((m, k)).astype(dtype)
        b = rng.standard_normal((k, n)).astype(dtype)
        out = np.empty((m, n), dtype=dtype)
        if count == 1:
            np.dot(a, b, out)
            total += median_seconds(lambda a=a, b=b, out=out: np.dot(a, b, out), repeats)
        else:
            _dot_loop(a, b, out, 1)
            total += median_seconds(
                lambda a=a, b=b, out=out, c=count: _dot_loop(a, b, out, c), repeats
            )
    return total


def gemm_peak_gflops(dtype, repeats: int = 5, n: int = PEAK_N) -> float:
    """GFLOP/s of an n x n x n product in `dtype`: the faster of NumPy's `np.dot` and the
    kernels' compiled `np.dot` (each may call its own BLAS), medians of `repeats` after a warm-up.

    Call it inside the benchmark's BLAS thread limit and CPU affinity: that is the peak the rows
    are measured against.
    """
    rng = np.random.default_rng(3)
    a = rng.standard_normal((n, n)).astype(dtype)
    b = rng.standard_normal((n, n)).astype(dtype)
    out = np.empty((n, n), dtype=dtype)
    best = np.inf
    for product in (lambda: np.dot(a, b, out), lambda: _dot_loop(a, b, out, 1)):
        product()
        best = min(best, median_seconds(product, repeats))
    return 2.0 * n**3 / best / 1e9
