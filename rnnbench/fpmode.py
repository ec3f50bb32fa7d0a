"""Floating-point mode of the calling thread: flush-to-zero (FTZ) and denormals-are-zero (DAZ).

Decision: rnnbench keeps IEEE subnormals by default (FTZ and DAZ off), as NumPy and PyTorch
do. Reasons: the project measures vanishing gradients, and with FTZ/DAZ a float32 ||dh_t||
below 1.2e-38 becomes exactly 0 instead of a tiny number; float64 parity with PyTorch is
checked with IEEE arithmetic on both sides; and the mode is per-thread processor state that
would silently change the user's other code. The cost: in float32 at long T with a loss on few
steps, gradients that decay into the subnormal range slow every implementation (rnnbench,
NumPy, PyTorch) by up to ~5x. Who wants speed over those last orders of magnitude turns flushing
on with `set_flush_subnormals(True)` (or `python -m rnnbench.bench --ftz`). The mode in force
is recorded by `describe()` in every benchmark record.

On x86-64 the mode is the MXCSR register: FTZ is bit 15, DAZ bit 6. It belongs to one thread:
setting it here changes the calling (main) thread, where the Numba kernels run; BLAS and
PyTorch worker threads keep their own mode (`torch.set_flush_denormal` sets PyTorch's). On other
processors `set_flush_subnormals` raises and `describe()` reports the mode probed from
arithmetic.
"""

import platform

import numpy as np

FTZ_BIT = 1 << 15
DAZ_BIT = 1 << 6
_X86 = platform.machine().lower() in ("x86_64", "amd64", "i386", "i686", "x86")

if _X86:
    from llvmlite import ir
    from numba import types
    from numba.core import cgutils
    from numba.extending import intrinsic

    from rnnbench.kernels._jit import jit

    @intrinsic
    def _stmxcsr(typingctx):
        def codegen(context, builder, signature, args):
            slot = cgutils.alloca_once(builder, ir.IntType(32))
            fnty = ir.FunctionType(ir.VoidType(), [ir.IntType(8).as_pointer()])
            fn = cgutils.get_or_insert_function(builder.module, fnty, "llvm.x86.sse.stmxcsr")
            builder.call(fn, [builder.bitcast(slot, ir.IntType(8).as_pointer())])
            return builder.load(slot)

        return types.uint32(), codegen

    @intrinsic
    def _ldmxcsr(typingctx, value):
        def codegen(context, builder, signature, args):
            slot = cgutils.alloca_once(builder, ir.IntType(32))
            builder.store(args[0], slot)
            fnty = ir.FunctionType(ir.VoidType(), [ir.IntType(8).as_pointer()])
            fn = cgutils.get_or_insert_function(builder.module, fnty, "llvm.x86.sse.ldmxcsr")
            builder.call(fn, [builder.bitcast(slot, ir.IntType(8).as_pointer())])
            return context.get_dummy_value()

        return types.void(types.uint32), codegen

    @jit
    def _get_mxcsr():
        return _stmxcsr()

    @jit
    def _set_mxcsr(value):
        _ldmxcsr(value)


def probe() -> dict[str, bool]:
    """What the arithmetic of this thread does with subnormals (portable, no register access)."""
    tiny = np.array([1e-30], dtype=np.float32)
    sub = np.array([1e-40], dtype=np.float32)  # a float32 subnormal
    return {
        "ftz": bool((tiny * np.float32(1e-10))[0] == 0),  # a subnormal result is flushed
        "daz": bool((sub * np.float32(1))[0] == 0),  # a subnormal input is read as zero
    }


def set_flush_subnormals(on: bool) -> None:
    """Turn FTZ and DAZ on or off together for the calling thread (x86-64 only)."""
    if not _X86:
        raise RuntimeError(
            f"setting FTZ/DAZ is implemented for x86-64 only, not {platform.machine()}"
        )
    mx = int(_get_mxcsr())
    mx = (mx | FTZ_BIT | DAZ_BIT) if on else (mx & ~(FTZ_BIT | DAZ_BIT))
    _set_mxcsr(np.uint32(mx))


def describe() -> dict:
    """The calling thread's floating-point mode, for environment records."""
    out = {"machine": platform.machine(), **probe()}
    if _X86:
        mx = int(_get_mxcsr())
        out["mxcsr"] = f"0x{mx:04x}"
        out["ftz_bit"] = bool(mx & FTZ_BIT)
        out["daz_bit"] = bool(mx & DAZ_BIT)
    return out
