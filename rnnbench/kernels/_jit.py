"""The one place where the kernels' JIT options live.

`cache=True` stores the compiled machine code on disk so later runs skip compilation.
`fastmath` stays off: flags such as `nnan`/`ninf` would let LLVM assume that no NaN or inf
exists, and this project must *see* exploding gradients, not have them optimised away.
"""

import numba

JIT_OPTIONS = {"cache": True, "nogil": True, "fastmath": False}


def jit(fn):
    """Compile `fn` with the project's shared Numba options."""
    return numba.njit(**JIT_OPTIONS)(fn)
