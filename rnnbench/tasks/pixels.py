"""Images read as sequences: the shared part of `digits` and `mnist`.

An image of P pixels (row-major) is read in T = task.seq_len steps of P/T consecutive pixels, so
T must divide P: T = P is pixel by pixel (the classic sequential task), T = the image height is
row by row. With ``permuted=true`` the pixels are first shuffled by one fixed permutation (drawn
from ``default_rng(PERMUTATION_SEED)``, the same for every run and seed), which spreads the
strokes over the whole sequence (Le, Jaitly & Hinton 2015, "permuted MNIST"). Pixel values are
scaled to [0, 1].

Classification of the 10 digits from the last step: y is (1, B, 10), softmax cross-entropy.
Training batches draw images uniformly with replacement from the training split; the evaluation
set (`held_out`) is the test split: all of it when train.eval_size is at least its size, else a
random subset of train.eval_size images (fixed by the seed).
Memoryless baseline: a model that ignores the pixels learns the class frequencies q of the
training split; its cross-entropy on the test split is  -(1/N) sum_n log q[label_n]  (close to
ln 10 = 2.303), accuracy that of the most frequent class. Metric "accuracy": argmax accuracy on
the evaluation set; solved at the task's threshold.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar

import numpy as np

from rnnbench.tasks.base import (
    Batch,
    Task,
    check_bool,
    check_dtype,
    check_int,
    check_output,
    check_rng,
    softmax_cross_entropy,
)

PERMUTATION_SEED = 0
N_CLASSES = 10


@dataclass(frozen=True)
class Split:
    """One split of an image data set: images (N, P) uint8 row-major, labels (N,) int64 0..9."""

    images: np.ndarray
    labels: np.ndarray


def divisors(n: int) -> list[int]:
    return [d for d in range(1, n + 1) if n % d == 0]


class PixelTask(Task):
    """Base of the image tasks; subclasses set the attributes below and implement `splits`."""

    min_seq_len = 1
    loss_steps = "last"
    output_size = N_CLASSES
    solve_metric = "accuracy"
    n_pixels: ClassVar[int]  # P
    max_value: ClassVar[float]  # the largest raw pixel value (scaled to 1)

    def __init__(self, seq_len: int, *, permuted: bool = False):
        super().__init__(seq_len)
        if self.n_pixels % self.seq_len:
            allowed = ", ".join(map(str, divisors(self.n_pixels)))
            raise ValueError(
                f"task.seq_len must divide the {self.n_pixels} pixels of task {self.name} "
                f"(one of {allowed}), got {seq_len}"
            )
        self.permuted = check_bool("task.permuted", permuted)
        self.input_size = self.n_pixels // self.seq_len

    @property
    def options(self) -> dict:
        return {"seq_len": self.seq_len, "permuted": self.permuted}

    def splits(self) -> tuple[Split, Split]:
        """(train, test), loaded on first use."""
        raise NotImplementedError

    @property
    def order(self) -> np.ndarray:
        """The order in which the P pixels are read: identity, or the fixed permutation."""
        if self.permuted:
            return np.random.default_rng(PERMUTATION_SEED).permutation(self.n_pixels)
        return np.arange(self.n_pixels)

    @property
    def baseline_loss(self) -> float:
        train, test = self.splits()
        q = np.bincount(train.labels, minlength=N_CLASSES) / train.labels.size
        return float(-np.mean(np.log(q[test.labels])))

    def _batch(self, split: Split, idx: np.ndarray, dtype) -> Batch:
        """x: (T, B, P/T) of `dtype` in [0, 1]; target: (B,) int64."""
        pixels = split.images[idx][:, self.order]  # (B, P)
        x = (pixels.astype(dtype) / dtype.type(self.max_value)).reshape(
            idx.size, self.seq_len, self.input_size
        )  # (B, T, P/T)
        return Batch(x=np.ascontiguousarray(x.transpose(1, 0, 2)), target=split.labels[idx])

    def sample(self, rng: np.random.Generator, batch_size: int, dtype=np.float64) -> Batch:
        rng = check_rng(rng)
        b = check_int("batch_size", batch_size, 1)
        dtype = check_dtype(dtype)
        train, _ = self.splits()
        return self._batch(train, rng.integers(0, train.labels.size, size=b), dtype)

    def held_out(self, rng: np.random.Generator, size: int, dtype=np.float64) -> Batch:
        rng = check_rng(rng)
        size = check_int("train.eval_size", size, 1)
        dtype = check_dtype(dtype)
        _, test = self.splits()
        n = test.labels.size
        idx = np.arange(n) if size >= n else np.sort(rng.choice(n, size=size, replace=False))
        return self._batch(test, idx, dtype)

    def loss(self, y: np.ndarray, batch: Batch) -> tuple[float, np.ndarray]:
        """y: (1, B, 10) logits -> (mean cross-entropy, dy (1, B, 10))."""
        check_output(y, self.output_shape(batch))
        return softmax_cross_entropy(y, batch.target[None, :])

    def metrics(self, y: np.ndarray, batch: Batch) -> dict[str, float]:
        loss, _ = self.loss(y, batch)
        return {"loss": loss, "accuracy": float(np.mean(y[0].argmax(axis=-1) == batch.target))}
