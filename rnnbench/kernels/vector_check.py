"""Check that the compiled time loops vectorize: `python -m rnnbench.kernels.vector_check`.

The gate arithmetic of every kernel is written so that LLVM vectorizes it over the hidden units
(`_math.py`, `lstm.py`). When that stops (a new Python's bytecode, a Numba or LLVM upgrade) the
kernels run several times slower with identical results, which no correctness test notices:
under Python 3.12 and 3.13 the float64 tanh stayed scalar and the float64 kernels ran 2.6-3.6x
slower than under 3.11 (fixed by `_math.select`).

The check compiles every kernel in float32 and float64 afresh (in a temporary Numba cache:
code loaded from the cache carries no IR), counts the loops LLVM vectorized in each (its
``vector.body`` blocks), and fails unless every kernel has at least one and the same number in
both dtypes (the two dtypes share their source, so a loop that vectorizes in one and not in the
other is this kind of regression). It prints the counts; exit status 1 on failure.
"""

import os
import platform
import re
import subprocess
import sys
import tempfile

VECTOR_LOOP = re.compile(r"^vector\.body[\w.]*:", re.M)


def _exercise() -> None:
    """Run every kernel once per cell variant and dtype on a tiny problem."""
    import numpy as np

    from rnnbench import Network
    from rnnbench.cells import CELL_SPECS

    for dtype in (np.float32, np.float64):
        for name, spec in CELL_SPECS.items():
            variants = [{}] + [{o.name: v} for o in spec.options for v in o.allowed]
            for opt in variants:
                net = Network(name, 2, 8, dtype=dtype, **opt)
                out, cache = net.forward(np.zeros((3, 2, 2), dtype=dtype))
                net.backward(cache, np.ones_like(out))


def vector_loops() -> dict[str, dict[str, int]]:
    """{"lstm.forward": {"float32": n, "float64": n}, ...}: vectorized loops per time loop."""
    from rnnbench.kernels import gru, lstm, rnn

    _exercise()
    out: dict[str, dict[str, int]] = {}
    for module in (rnn, lstm, gru):
        short = module.__name__.rsplit(".", 1)[1]
        for name, fn in vars(module).items():
            own = getattr(getattr(fn, "py_func", None), "__module__", None) == module.__name__
            if name.startswith("_") or not own:  # the time loops; step functions are inlined
                continue
            for sig in fn.signatures:
                count = len(VECTOR_LOOP.findall(fn.inspect_llvm(sig)))
                out.setdefault(f"{short}.{name}", {})[str(sig[0].dtype)] = count
    return out


def failures(loops: dict[str, dict[str, int]]) -> list[str]:
    """The kernels that break the rule: >= 1 vectorized loop, as many in float64 as float32."""
    bad = []
    for kernel, counts in loops.items():
        if set(counts) != {"float32", "float64"}:
            bad.append(f"{kernel}: compiled for {sorted(counts)} only")
        elif min(counts.values()) < 1 or counts["float32"] != counts["float64"]:
            bad.append(f"{kernel}: vectorized loops {counts}")
    return bad


def main() -> int:
    if not os.environ.get("RNNBENCH_FRESH_NUMBA_CACHE"):  # recompile: cached code has no IR
        with tempfile.TemporaryDirectory() as tmp:
            env = {**os.environ, "NUMBA_CACHE_DIR": tmp, "RNNBENCH_FRESH_NUMBA_CACHE": "1"}
            cmd = [sys.executable, "-m", "rnnbench.kernels.vector_check"]
            return subprocess.run(cmd, env=env, check=False).returncode
    loops = vector_loops()
    print(f"Python {platform.python_version()}: vectorized loops per kernel (float32, float64)")
    for kernel, counts in sorted(loops.items()):
        print(f"  {kernel:28s} {counts.get('float32')} {counts.get('float64')}")
    bad = failures(loops) if loops else ["no kernel compiled"]
    for line in bad:
        print(f"NOT VECTORIZED: {line}")
    return 1 if bad else 0


if __name__ == "__main__":
    sys.exit(main())
