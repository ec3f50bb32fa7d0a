"""Vectorizable sigmoid and tanh for the kernels: arithmetic only, no libm calls.

Numba compiles `np.exp` and `np.tanh` to one libm call per element, which stops LLVM from
vectorizing the gate loops. These versions use only +, -, *, /, floor, abs, comparisons
(selects) and an integer-to-float bit cast, so a loop over j vectorizes (AVX2/AVX-512 lanes).

    exp(-u), u >= 0:  k = floor(-u / ln2 + 1/2),  r = -u - k ln2  (|r| <= ln2 / 2, Cody-Waite
                      two-part ln2),  exp(r) by its Taylor polynomial (degree 13 in float64,
                      7 in float32: truncation below 2^-55 resp. 2^-27), times 2^k applied as
                      2^(k//2) 2^(k - k//2) so that subnormal results round once, correctly scaled.
    sigmoid(x) = 1 / (1 + e)       x >= 0,   e / (1 + e)  x < 0,   e = exp(-|x|) in (0, 1]
    tanh(x)    = sign(x) (1 - e) / (1 + e),  e = exp(-2|x|),      for |x| >= 0.625
               = x + x z P(z) / Q(z),  z = x^2 (Cephes' rational form)  for |x| < 0.625
                 (avoids the cancellation in 1 - e near 0)

Accuracy (tests/test_kernels.py checks it against NumPy on a dense grid): a few ulp in each
dtype, far inside the float64 parity tolerance. NaN propagates (selected back in at the end);
+-inf give the limits 0/1 and -1/+1.

Each public function is a plain NumPy function (used under NUMBA_DISABLE_JIT) with a Numba
overload that dispatches on the argument's type, float32 or float64, so that float32 kernels
never promote to float64.
"""

import numpy as np
from numba import types
from numba.extending import intrinsic, overload

from rnnbench.kernels._jit import jit

# ---------------------------------------------------------------- float64 constants
_LOG2E = 1.4426950408889634
_LN2_HI = 6.93147180369123816490e-01  # fdlibm: ln2 with 21 trailing zero bits, k * _LN2_HI exact
_LN2_LO = 1.90821492927058770002e-10
_EXP_MIN = -745.2  # exp(x) rounds to 0 below
# 1/n! for n = 2..13, Horner from the top
_C64 = tuple(1.0 / float(np.prod(np.arange(1, n + 1, dtype=np.float64))) for n in range(2, 14))
# Cephes tanh, |x| < 0.625: tanh x = x + x z P(z) / Q(z), Q monic
_TP0, _TP1, _TP2 = -9.64399179425052238628e-1, -9.92877231001918586564e1, -1.61468768441708447952e3
_TQ0, _TQ1, _TQ2 = 1.12811678491632931402e2, 2.23548839060100448583e3, 4.84406305325125486048e3

# ---------------------------------------------------------------- float32 constants
_F = np.float32
_LOG2E_F = _F(1.44269504088896341)
_LN2_HI_F = _F(0.693359375)  # 9 significant bits
_LN2_LO_F = _F(-2.12194440e-4)
_EXP_MIN_F = _F(-104.0)
_C32 = tuple(_F(c) for c in _C64[:6])  # 1/2! .. 1/7!
# Cephes tanhf, |x| < 0.625
_TF0, _TF1, _TF2 = _F(-5.70498872745e-3), _F(2.06390887954e-2), _F(-5.37397155531e-2)
_TF3, _TF4 = _F(1.33314422036e-1), _F(-3.33332819422e-1)
_HALF_F, _ONE_F, _TWO_F, _ZERO_F, _SMALL_F = _F(0.5), _F(1.0), _F(2.0), _F(0.0), _F(0.625)


@intrinsic
def select(typingctx, cond, a, b):
    """`a if cond else b` as one LLVM ``select``: both values are computed, no branch.

    Written as a conditional expression, the choice is a branch in Numba's IR, and whether LLVM
    turns it back into a select before it sinks each side's arithmetic into its own arm depends
    on the bytecode CPython compiles the expression to: under Python 3.12 and 3.13 the float64
    tanh kept the branch and its gate loops stopped vectorizing (float64 kernels 2.6-3.6x
    slower than under 3.11). A select has nothing to sink.
    """
    if isinstance(cond, types.Boolean) and a == b:
        return a(cond, a, b), lambda context, builder, sig, args: builder.select(*args)
    return None


@jit
def _exp_neg_f64(v):
    """exp(v) for v <= 0 (NaN: undefined here, the callers select it back)."""
    v = select(v > _EXP_MIN, v, _EXP_MIN)
    k = np.floor(v * _LOG2E + 0.5)
    r = (v - k * _LN2_HI) - k * _LN2_LO
    c = _C64
    q = c[11]
    q = q * r + c[10]
    q = q * r + c[9]
    q = q * r + c[8]
    q = q * r + c[7]
    q = q * r + c[6]
    q = q * r + c[5]
    q = q * r + c[4]
    q = q * r + c[3]
    q = q * r + c[2]
    q = q * r + c[1]
    q = q * r + c[0]
    p = 1.0 + (r + r * r * q)
    ki = np.int64(k)
    k1 = ki >> 1
    k2 = ki - k1
    s1 = np.int64((k1 + 1023) << 52).view(np.float64)
    s2 = np.int64((k2 + 1023) << 52).view(np.float64)
    return (p * s1) * s2


@jit
def _exp_neg_f32(v):
    v = select(v > _EXP_MIN_F, v, _EXP_MIN_F)
    k = np.floor(v * _LOG2E_F + _HALF_F)
    r = (v - k * _LN2_HI_F) - k * _LN2_LO_F
    c = _C32
    q = c[5]
    q = q * r + c[4]
    q = q * r + c[3]
    q = q * r + c[2]
    q = q * r + c[1]
    q = q * r + c[0]
    p = _ONE_F + (r + r * r * q)
    ki = np.int32(k)
    k1 = ki >> np.int32(1)
    k2 = ki - k1
    s1 = np.int32((k1 + np.int32(127)) << np.int32(23)).view(np.float32)
    s2 = np.int32((k2 + np.int32(127)) << np.int32(23)).view(np.float32)
    return (p * s1) * s2


@jit
def _sigmoid_f64(x):
    e = _exp_neg_f64(-abs(x))
    s = 1.0 / (1.0 + e)
    s = select(x >= 0.0, s, e * s)
    return select(x == x, s, x)


@jit
def _sigmoid_f32(x):
    e = _exp_neg_f32(-abs(x))
    s = _ONE_F / (_ONE_F + e)
    s = select(x >= _ZERO_F, s, e * s)
    return select(x == x, s, x)


@jit
def _tanh_f64(x):
    ax = abs(x)
    e = _exp_neg_f64(-2.0 * ax)
    big = (1.0 - e) / (1.0 + e)
    big = select(x >= 0.0, big, -big)
    z = x * x
    num = (_TP0 * z + _TP1) * z + _TP2
    den = ((z + _TQ0) * z + _TQ1) * z + _TQ2
    small = x + x * z * (num / den)
    t = select(ax < 0.625, small, big)
    return select(x == x, t, x)


@jit
def _tanh_f32(x):
    ax = abs(x)
    e = _exp_neg_f32(-_TWO_F * ax)
    big = (_ONE_F - e) / (_ONE_F + e)
    big = select(x >= _ZERO_F, big, -big)
    z = x * x
    small = ((((_TF0 * z + _TF1) * z + _TF2) * z + _TF3) * z + _TF4) * z * x + x
    t = select(ax < _SMALL_F, small, big)
    return select(x == x, t, x)


@jit
def sum_of(v):
    """sum of a 1-D float64 array in a fixed order: four interleaved partial sums, then
    (s0 + s1) + (s2 + s3). Four chains instead of one (the adds pipeline), and the same bits
    whatever the caller's batch split (the kernels sum each row's dh^2 with it)."""
    n = v.shape[0]
    m = n - n % 4
    s0 = s1 = s2 = s3 = 0.0
    for j in range(0, m, 4):
        s0 += v[j]
        s1 += v[j + 1]
        s2 += v[j + 2]
        s3 += v[j + 3]
    for j in range(m, n):
        s0 += v[j]
    return (s0 + s1) + (s2 + s3)


def sigmoid(x):
    """sigma(x) = 1 / (1 + exp(-x)) (NumPy version, used when Numba's JIT is off)."""
    return x.dtype.type(1) / (x.dtype.type(1) + np.exp(-x))


def tanh(x):
    """tanh(x) (NumPy version, used when Numba's JIT is off)."""
    return np.tanh(x)


@overload(sigmoid)
def _sigmoid_overload(x):
    if x == types.float32:
        return lambda x: _sigmoid_f32(x)
    if x == types.float64:
        return lambda x: _sigmoid_f64(x)


@overload(tanh)
def _tanh_overload(x):
    if x == types.float32:
        return lambda x: _tanh_f32(x)
    if x == types.float64:
        return lambda x: _tanh_f64(x)
