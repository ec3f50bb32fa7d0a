"""The one place where the kernels' JIT options live.

`cache=True` stores the compiled machine code on disk so later runs skip compilation.
`fastmath` is limited to `contract`: LLVM may fuse a * b + c into one FMA (one rounding instead
of two, so at least as accurate, and NaN/inf propagate exactly as before). The flags that let
LLVM assume that no NaN or inf exists (`nnan`, `ninf`, or `fastmath=True`) stay off: this project
must *see* exploding gradients, not have them optimised away; `reassoc` stays off too, so sums
keep their order and results do not depend on the vector width.

`error_model="numpy"`: a float division by zero gives inf/NaN as in IEEE arithmetic instead of
raising ZeroDivisionError. Besides matching NumPy and PyTorch, it removes a branch from every
division, which is what lets the gate loops (see `_math.py`) vectorize.

Numba's cache is keyed on the kernel's own source file: after editing `_math.py` delete the
`__pycache__` of `rnnbench/kernels` (or touch the cell modules) so the kernels recompile.
"""

import numba

JIT_OPTIONS = {
    "cache": True,
    "nogil": True,
    "fastmath": {"contract"},
    "error_model": "numpy",
}


def jit(fn):
    """Compile `fn` with the project's shared Numba options."""
    return numba.njit(**JIT_OPTIONS)(fn)
