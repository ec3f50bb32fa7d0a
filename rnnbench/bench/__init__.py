"""Benchmark: one training step of rnnbench against PyTorch and JAX, the GEMM bound and peak.

    python -m rnnbench.bench                      # the full grid, one thread, results/bench/
    python -m rnnbench.bench --threads 2          # both sides with two threads (two CPUs)
    python -m rnnbench.bench --quick              # a small subset, for CI (asserts no speed)
    python -m rnnbench.bench --cells lstm --batch 1 32 --hidden 32 --seq-len 100 --dtype float32
    python -m rnnbench.bench.speedup DIR_1 DIR_2  # thread speed-ups between two runs
    python -m rnnbench.bench.pythons PY_311 PY_312 PY_313   # the kernels under each Python

One training step = forward over T plus BPTT to every parameter (and to x), one layer, I = 10,
the gradient of L = sum(out * d_out) with d_out ~ N(0, 1) at every step; rnn is the tanh RNN,
gru is reset_after (PyTorch's form). Peers, with the same weights, inputs and d_out:

- PyTorch (`peer_torch`): torch.nn.RNN / LSTM / GRU, `torch.set_num_threads(threads)`;
- JAX (`peer_jax`): a jitted `lax.scan` of the same equations, gradients by `jax.vjp`.

Before any timing each peer must agree with rnnbench in float64 (outputs and every gradient,
every cell, `peers.check_peer`); each row then checks its warm-up in the row's dtype. Timing
(`grid`): the implementations alternate within one process, medians over `--repeats`.
Threads: `--threads N` sets Numba's and BLAS's threads, PyTorch's, and pins the whole process
to N CPUs (`machine.pin`; XLA's flags alone do not hold JAX to one core). A peer that is not
installed leaves its columns empty (JAX needs Python >= 3.12: the extra `jax`).

Close to the machine (`flops`): the GEMM-only bound (the step's matrix products alone, each at
the rate BLAS reaches for its shape), the step's flops (GEMMs plus element-wise work, counted as
`flops` documents), the achieved GFLOP/s and its fraction of the machine's measured GEMM peak
for the dtype at the row's threads.

Rows run cheapest first (by flops) and the table is rewritten after each, so a run cut short
keeps what it measured; `--time-budget MINUTES` starts no row after that and env.json lists the
rows not run. Outputs in --out (default results/bench), written atomically: bench.csv and
bench.parquet (the columns are documented in `tables`), env.json (Python and package versions,
CPU, load average, affinity, thread counts, BLAS and its kernel, floating-point mode, the
peers' versions, GEMM peaks, float64 parity errors, the command, and the summary), ratios.png
(peer time / rnnbench time per row) and gflops.png (achieved GFLOP/s per implementation
against the peak).

Benchmark against NumPy's own BLAS with OPENBLAS_CORETYPE unset where the environment sets it
(it forces an older kernel); env.json records the kernel threadpoolctl reports.
"""

from .cli import main
from .flops import gemm_flops, step_flops, step_gemms
from .tables import COLUMNS

__all__ = ["COLUMNS", "gemm_flops", "main", "step_flops", "step_gemms"]
