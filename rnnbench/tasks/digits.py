"""Sequential digits: scikit-learn's bundled 8x8 handwritten digits read pixel by pixel (T = 64).

The data set (`sklearn.datasets.load_digits`, a copy of the UCI optical-digits test set shipped
inside scikit-learn, so it works offline): 1797 images of 8 x 8 pixels with values 0..16,
classes 0..9 about equally frequent. Split, fixed: the first 1437 images (80 %) train, the last
360 test. Everything else, the reading order, the optional permutation, loss, baseline and
metrics, is `rnnbench.tasks.pixels`. Solved: test accuracy >= 0.95.

scikit-learn is an optional extra (``pip install 'rnnbench[digits]'``): it is a large package
needed only for this one file of data, so the core install stays small; without it the task
says so in one line.
"""

from __future__ import annotations

import importlib.util
from functools import cache

import numpy as np

from rnnbench.tasks.pixels import PixelTask, Split

N_TRAIN = 1437


@cache
def load_splits() -> tuple[Split, Split]:
    """The bundled digits as (train, test) splits of (N, 64) uint8 images."""
    from sklearn.datasets import load_digits

    data = load_digits()
    images = data.data.astype(np.uint8)  # (1797, 64), values 0..16
    labels = data.target.astype(np.int64)
    return Split(images[:N_TRAIN], labels[:N_TRAIN]), Split(images[N_TRAIN:], labels[N_TRAIN:])


class DigitsTask(PixelTask):
    name = "digits"
    n_pixels = 64
    max_value = 16.0
    solve_threshold = 0.95

    def __init__(self, seq_len: int = 64, *, permuted: bool = False):
        if importlib.util.find_spec("sklearn") is None:
            raise ValueError(
                "task=digits needs scikit-learn, which is not installed: "
                "pip install 'rnnbench[digits]'"
            )
        super().__init__(seq_len, permuted=permuted)

    def splits(self) -> tuple[Split, Split]:
        return load_splits()
