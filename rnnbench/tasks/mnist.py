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
11 MB) and checks their MD5 sums.
"""

from __future__ import annotations

import gzip
import hashlib
import os
import struct
import sys
import tempfile
import urllib.request
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
MD5 = {  # of the gzipped files as published
    "train-images-idx3-ubyte.gz": "f68b3c2dcbeaaa9fbdd348bbdeb94873",
    "train-labels-idx1-ubyte.gz": "d53e105ee54ea40749a09fcbcd1e9432",
    "t10k-images-idx3-ubyte.gz": "9fb629c4189551a2d022fa330f9573f3",
    "t10k-labels-idx1-ubyte.gz": "ec29112dd5afa0611ce80d1b7f02629c",
}
MIRRORS = ("https://ossci-datasets.s3.amazonaws.com/mnist/", "http://yann.lecun.com/exdb/mnist/")
SIDE = 28
DOWNLOAD_TIMEOUT_S = 20


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


# --------------------------------------------------------------------------------- download


def fetch(name: str, timeout: float = DOWNLOAD_TIMEOUT_S) -> bytes:
    """The gzipped file `name` from the first mirror that answers with the right MD5."""
    problems = []
    for mirror in MIRRORS:
        url = mirror + name
        try:
            with urllib.request.urlopen(url, timeout=timeout) as response:
                data = response.read()
        except OSError as exc:  # URLError, timeouts, refused connections
            problems.append(f"{url}: {getattr(exc, 'reason', exc)}")
            continue
        if hashlib.md5(data).hexdigest() == MD5[name]:
            return data
        problems.append(f"{url}: MD5 mismatch")
    raise OSError(f"cannot fetch {name} ({'; '.join(problems)})")


def download(directory: str | os.PathLike) -> list[Path]:
    """Fetch the four gzipped files into `directory` (atomically, MD5-checked); skip those
    already there with the right MD5. Returns the paths."""
    out = Path(directory).expanduser()
    out.mkdir(parents=True, exist_ok=True)
    paths = []
    for name, md5 in MD5.items():
        target = out / name
        if not (target.is_file() and hashlib.md5(target.read_bytes()).hexdigest() == md5):
            data = fetch(name)
            fd, tmp = tempfile.mkstemp(dir=out, prefix=f".{name}.")
            with os.fdopen(fd, "wb") as f:
                f.write(data)
            os.replace(tmp, target)
        paths.append(target)
    return paths


def main(argv: list[str] | None = None) -> int:
    """python -m rnnbench.tasks.mnist download DIR"""
    args = sys.argv[1:] if argv is None else argv
    if len(args) != 2 or args[0] != "download":
        print("usage: python -m rnnbench.tasks.mnist download DIR", file=sys.stderr)
        return 2
    try:
        paths = download(args[1])
    except OSError as exc:
        print(f"mnist download failed: {exc}", file=sys.stderr)
        return 1
    print(f"MNIST files in {paths[0].parent}: use task=mnist task.path={args[1]}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
