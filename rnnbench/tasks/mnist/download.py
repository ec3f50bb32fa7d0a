"""Fetch the four MNIST IDX files (gzipped) with their MD5 sums checked:

    python -m rnnbench.tasks.mnist download DIR

Each file comes from the first mirror that answers with the published MD5 and is written
atomically (a temporary file in DIR, then a rename); files already in DIR with the right MD5 are
kept. Offline, or on any other failure, one line on stderr and exit status 1; bad usage exit 2.
"""

from __future__ import annotations

import hashlib
import os
import sys
import tempfile
import urllib.request
from pathlib import Path

from rnnbench.paths import check_creatable

MD5 = {  # of the gzipped files as published
    "train-images-idx3-ubyte.gz": "f68b3c2dcbeaaa9fbdd348bbdeb94873",
    "train-labels-idx1-ubyte.gz": "d53e105ee54ea40749a09fcbcd1e9432",
    "t10k-images-idx3-ubyte.gz": "9fb629c4189551a2d022fa330f9573f3",
    "t10k-labels-idx1-ubyte.gz": "ec29112dd5afa0611ce80d1b7f02629c",
}
MIRRORS = ("https://ossci-datasets.s3.amazonaws.com/mnist/", "http://yann.lecun.com/exdb/mnist/")
TIMEOUT_S = 20


def fetch(name: str, timeout: float = TIMEOUT_S) -> bytes:
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
    """Fetch the four gzipped files into `directory`, MD5-checked; keep those already there with
    the right MD5. Everything is fetched before anything is written, so a failure (offline)
    leaves the file system as it was. Returns the paths."""
    out = Path(directory).expanduser()
    paths = [out / name for name in MD5]
    present = {p.name for p in paths if p.is_file() and _md5(p) == MD5[p.name]}
    fetched = {name: fetch(name) for name in MD5 if name not in present}
    if fetched:
        out.mkdir(parents=True, exist_ok=True)
    for name, data in fetched.items():
        fd, tmp = tempfile.mkstemp(dir=out, prefix=f".{name}.")
        with os.fdopen(fd, "wb") as f:
            f.write(data)
        os.replace(tmp, out / name)
    return paths


def _md5(path: Path) -> str:
    return hashlib.md5(path.read_bytes()).hexdigest()


def main(argv: list[str] | None = None) -> int:
    """python -m rnnbench.tasks.mnist download DIR"""
    args = sys.argv[1:] if argv is None else argv
    if len(args) != 2 or args[0] != "download":
        print("usage: python -m rnnbench.tasks.mnist download DIR", file=sys.stderr)
        return 2
    try:  # before fetching anything: the directory must be one this process can fill
        check_creatable("DIR", os.path.abspath(os.path.expanduser(args[1])))
    except ValueError as exc:
        print(f"mnist download: {exc}", file=sys.stderr)
        return 2
    try:
        paths = download(args[1])
    except OSError as exc:
        print(f"mnist download failed: {exc}", file=sys.stderr)
        return 1
    print(f"MNIST files in {paths[0].parent}: use task=mnist task.path={args[1]}")
    return 0
