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

Where Numba cannot write its cache (``NUMBA_CACHE_DIR`` unwritable, or no writable location at
all) the kernels are compiled without a cache, with one warning: `CACHE` is False then, and every
compiled function of the package, which all go through `jit` (a test greps the package for any
other ``njit``/``fastmath``), takes it. Numba itself would otherwise silently fall back to
``__pycache__`` in the source tree, or refuse to import the kernels.
"""

import logging
import os
import tempfile

import numba

log = logging.getLogger(__name__)


def _cache_problem() -> str | None:
    """Why Numba cannot write compiled code where it would put it, or None."""
    cache_dir = numba.config.CACHE_DIR
    if cache_dir:  # NUMBA_CACHE_DIR: the place the user asked for, or none
        try:
            os.makedirs(cache_dir, exist_ok=True)
            tempfile.TemporaryFile(dir=cache_dir).close()
        except OSError as exc:
            return f"NUMBA_CACHE_DIR={cache_dir} is not writable ({exc.strerror or exc})"
        return None
    try:  # otherwise Numba's own search: __pycache__ next to the sources, then the user's cache
        from numba.core.caching import CacheImpl

        for cls in CacheImpl._locator_classes:
            locator = cls.from_function(_cache_problem, __file__)
            if locator is None:
                continue
            try:
                locator.ensure_cache_path()
            except OSError:
                continue
            return None
    except Exception:  # a Numba without this internal API: let Numba decide
        return None
    return "no writable Numba cache directory next to the sources or in the user's cache"


_PROBLEM = _cache_problem()
CACHE = _PROBLEM is None  # every compiled function of the package: cache=CACHE
if _PROBLEM:
    log.warning("%s: compiling the kernels without a cache", _PROBLEM)

JIT_OPTIONS = {
    "cache": CACHE,
    "nogil": True,
    "fastmath": {"contract"},
    "error_model": "numpy",
}


def jit(fn=None, **overrides):
    """Compile `fn` with the project's shared Numba options: ``@jit`` or ``@jit(nogil=False)``.

    `overrides` replace single options (e.g. ``inline="always"``); a `fastmath` override may
    only narrow the policy above, never add flags that assume no NaN or inf.
    """
    options = {**JIT_OPTIONS, **overrides}
    extra = set(options["fastmath"] if options["fastmath"] is not True else {"fast"})
    if extra - JIT_OPTIONS["fastmath"]:
        raise ValueError(f"fastmath flags {sorted(extra)} go beyond the policy {{'contract'}}")
    compile_ = numba.njit(**options)
    return compile_ if fn is None else compile_(fn)
