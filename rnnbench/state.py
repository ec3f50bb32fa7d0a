"""The codec of the state the optimisers and the schedules carry between steps (checkpoints).

A state is a flat ``{key: array}`` dict of plain numeric arrays (npz-safe, no object arrays):
the optimiser's step count and buffers, the schedule's lr and counters. `scalars` encodes Python
numbers, `check_state` decodes: the keys must be exactly the live object's, every array must
have its shape, a float array its exact dtype and an integer one an integer dtype. Nothing is
restored when anything differs, so a foreign or truncated checkpoint cannot half-load.
"""

from __future__ import annotations

from collections.abc import Mapping

import numpy as np

__all__ = ["check_state", "scalars"]


def scalars(values: Mapping[str, float | int]) -> dict[str, np.ndarray]:
    """Python numbers as 0-d arrays: floats float64, everything else int64."""
    return {
        k: np.asarray(v, dtype=np.float64 if isinstance(v, float) else np.int64)
        for k, v in values.items()
    }


def check_state(
    what: str, got: Mapping[str, np.ndarray], template: Mapping[str, np.ndarray]
) -> dict[str, np.ndarray]:
    """`got` as arrays, checked against `template` (the live object's own `state_arrays()`).

    ValueError, naming `what`, on a missing or unexpected key, or an array of another shape or
    dtype (integers: any integer dtype).
    """
    if set(got) != set(template):
        missing, extra = sorted(set(template) - set(got)), sorted(set(got) - set(template))
        raise ValueError(f"{what} state does not match: missing {missing}, unexpected {extra}")
    out = {}
    for key, ref in template.items():
        src = np.asarray(got[key])
        integer = ref.dtype.kind in "iu" and src.dtype.kind in "iu"
        if src.shape != ref.shape or not (integer or src.dtype == ref.dtype):
            raise ValueError(
                f"{what} state '{key}' must be {ref.dtype} {ref.shape}, got {src.dtype} {src.shape}"
            )
        out[key] = src
    return out
