"""Sequential MNIST: the 28 x 28 MNIST digits read pixel by pixel (T = 784), or permuted.

Data: the four standard IDX files in the directory ``task.path``, gzipped or not,

    train-images-idx3-ubyte  train-labels-idx1-ubyte    60000 training images and labels
    t10k-images-idx3-ubyte   t10k-labels-idx1-ubyte     10000 test images and labels

(each name alone or with ``.gz``), the standard train/test split. An IDX file is a big-endian
header, two zero bytes, the type code 0x08 (unsigned byte), the number of dimensions d, then d
32-bit sizes, followed by the values in row-major order. The reading order, the optional fixed
permutation (``permuted=true``: permuted MNIST, Le, Jaitly & Hinton 2015), loss, baseline and
metrics are `rnnbench.tasks.pixels`. Solved: test accuracy >= 0.97 (the level of Le et al.'s
IRNN on pixel-by-pixel MNIST).

The files are not shipped; ``python -m rnnbench.tasks.mnist download DIR`` fetches them (about
11 MB) and checks their MD5 sums (`rnnbench.tasks.mnist.download`).
"""

from __future__ import annotations

import gzip
import struct
from functools import cache
from pathlib import Path

import numpy as np

from rnnbench.tasks.pixels import PixelTask, Split

FILES = {  # role -> standard file name (without .gz)
    "train_images": "train-images-idx3-ubyte",
    "train_labels": "train-labels-idx1-ubyte",
    "test_images": "t10k-images-idx3-ubyte",
    "test_labels": "t10k-labels-idx1-ubyte",
}
SIDE = 28


def find_file(path: Path, name: str) -> Path | None:
    """`name` or `name`.gz inside `path`, whichever exists (the plain file first)."""
    for candidate in (path / name, path / f"{name}.gz"):
        if candidate.is_file():
            return candidate
    return None


def check_files(path: str) -> dict[str, Path]:
    """The four files in `path`; a missing one raises ValueError naming task.path."""
    if not isinstance(path, str) or not path.strip():
        raise ValueError(f"task.path must be the directory of the MNIST IDX files, got {path!r}")
    where = Path(path).expanduser()
    found = {role: find_file(where, name) for role, name in FILES.items()}
    missing = [FILES[role] for role, file in found.items() if file is None]
    if missing:
        raise ValueError(
            f"task.path={path!r} lacks the MNIST file {missing[0]}[.gz]"
            f"{f' (and {len(missing) - 1} more)' if len(missing) > 1 else ''}; "
            f"fetch them with: python -m rnnbench.tasks.mnist download {path}"
        )
    return found


def read_idx(file: Path) -> np.ndarray:
    """An IDX file of unsigned bytes (gzipped if its name ends in .gz) as a uint8 array."""
    opener = gzip.open if file.suffix == ".gz" else open
    try:
        with opener(file, "rb") as f:
            data = f.read()
    except (OSError, EOFError) as exc:
        raise ValueError(f"task.path: cannot read {file}: {exc}") from None
    if len(data) < 4 or data[:3] != b"\x00\x00\x08":
        raise ValueError(f"task.path: {file} is not an IDX file of unsigned bytes")
    ndim = data[3]
    header = 4 + 4 * ndim
    if len(data) < header:
        raise ValueError(f"task.path: {file} has a truncated IDX header")
    shape = struct.unpack(f">{ndim}I", data[4:header])
    if len(data) - header != int(np.prod(shape)):
        raise ValueError(
            f"task.path: {file} holds {len(data) - header} values, its header says {shape}"
        )
    return np.frombuffer(data, dtype=np.uint8, offset=header).reshape(shape)


def read_split(images_file: Path, labels_file: Path) -> Split:
    images, labels = read_idx(images_file), read_idx(labels_file)
    if images.ndim != 3 or images.shape[1:] != (SIDE, SIDE):
        raise ValueError(f"task.path: {images_file} must hold N x 28 x 28 images")
    if labels.ndim != 1 or labels.size != images.shape[0] or labels.max(initial=0) > 9:
        raise ValueError(f"task.path: {labels_file} must hold one label 0..9 per image")
    return Split(images.reshape(-1, SIDE * SIDE), labels.astype(np.int64))


@cache
def load_splits(files: tuple[tuple[str, Path], ...]) -> tuple[Split, Split]:
    f = dict(files)
    return (
        read_split(f["train_images"], f["train_labels"]),
        read_split(f["test_images"], f["test_labels"]),
    )


class MNISTTask(PixelTask):
    name = "mnist"
    n_pixels = SIDE * SIDE
    max_value = 255.0
    solve_threshold = 0.97

    def __init__(self, seq_len: int = 784, *, permuted: bool = False, path: str = "data/mnist"):
        super().__init__(seq_len, permuted=permuted)
        self.path = path
        self.files = check_files(path)

    @property
    def options(self) -> dict:
        return {**super().options, "path": self.path}

    def splits(self) -> tuple[Split, Split]:
        return load_splits(tuple(sorted(self.files.items())))
