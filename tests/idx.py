"""Small MNIST-like IDX files for the tests (the real files are never needed)."""

import gzip
import struct

import numpy as np

from rnnbench.tasks.mnist import FILES


def idx_bytes(array: np.ndarray) -> bytes:
    """An IDX file of unsigned bytes: zero, zero, type 0x08, ndim, big-endian sizes, values."""
    header = bytes([0, 0, 8, array.ndim]) + struct.pack(f">{array.ndim}I", *array.shape)
    return header + array.astype(np.uint8).tobytes()


def write_mnist(path, n_train=30, n_test=12, gz=True, seed=0) -> dict[str, np.ndarray]:
    """The four files with the standard names; random images, labels 0..9 cycling."""
    g = np.random.default_rng(seed)
    path.mkdir(parents=True, exist_ok=True)
    arrays = {
        "train_images": g.integers(0, 256, size=(n_train, 28, 28)),
        "train_labels": np.arange(n_train) % 10,
        "test_images": g.integers(0, 256, size=(n_test, 28, 28)),
        "test_labels": (np.arange(n_test) * 3) % 10,
    }
    for role, a in arrays.items():
        data = idx_bytes(a)
        name = FILES[role]
        if gz:
            (path / f"{name}.gz").write_bytes(gzip.compress(data))
        else:
            (path / name).write_bytes(data)
    return arrays
