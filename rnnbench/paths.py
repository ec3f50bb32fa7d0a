"""Where runs write: the results tree, the one rule every written path obeys, and run-dir names.

The rule: the final path of everything a job writes (its run directory, Hydra's
``hydra.output_subdir``, every logging handler's ``filename``) must lie strictly inside the
results root, ``results_root`` (default: the current directory). "Final" means after Hydra's
interpolation (``${oc.env:...}``, ``${hydra.job.override_dirname}``), relative paths taken from
the current directory, then ``os.path.realpath``: ``..`` and symlinks resolved as the kernel
will, so neither can escape. The root is never a system directory (`SYSTEM_DIRS`). A path must
also be creatable: each component at most `NAME_MAX` bytes, the whole at most `PATH_MAX` minus
room for the files a run writes in it, no existing part a file, and the deepest existing
directory writable (an existing run directory that is not writable is reported as such).

Run-directory names come from the command's overrides (``hydra.job.override_dirname``); about
twenty ordinary overrides make one longer than the 255 bytes a file name may have. `dir_name`
(the ``${rnnbench.dirname:...}`` resolver of ``conf/config.yaml``) keeps a name that fits exactly
as it is and shortens one that does not, deterministically, to a readable prefix plus a hash of
the whole name, so a rerun of the same command finds the same directory.
"""

from __future__ import annotations

import hashlib
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from omegaconf import OmegaConf

from rnnbench.options import OptionError, show

NAME_MAX = 255  # bytes in one path component (Linux, macOS)
PATH_MAX = 4096  # bytes in a whole path (Linux)
FILE_ROOM = 64  # bytes kept free below PATH_MAX for the files a run writes in its directory
HASH_CHARS = 12  # hex digits of sha256 in a shortened name
DIRNAME_RESOLVER = "rnnbench.dirname"

# A results root may not be (or lie inside) one of these: runs never write into the system.
SYSTEM_DIRS = (
    "/bin",
    "/boot",
    "/dev",
    "/etc",
    "/lib",
    "/lib32",
    "/lib64",
    "/proc",
    "/run",
    "/sbin",
    "/sys",
    "/usr",
)
SYSTEM_ROOTS = ("/", "/var", "/home")  # not these themselves (inside is fine)


def _system_dir(path: Path) -> bool:
    return str(path) in SYSTEM_ROOTS or any(
        path == Path(d) or Path(d) in path.parents for d in SYSTEM_DIRS
    )


@dataclass(frozen=True)
class RootPath:
    """A directory path (the results root): null, or a non-empty string, not a system directory."""

    def describe(self) -> str:
        return "null or a directory path"

    def check(self, key: str, value: Any) -> str | None:
        if value is None:
            return None
        if not isinstance(value, str) or not value.strip() or "\0" in value:
            raise OptionError(f"{key} must be {self.describe()}, got {show(value)}")
        if _system_dir(Path(os.path.abspath(os.path.expanduser(value)))):
            raise OptionError(f"{key} must not be a system directory, got {show(value)}")
        return value


def dir_name(text: Any, limit: int = NAME_MAX) -> str:
    """`text` if each ``/``-separated part fits in `limit` bytes, else ``PREFIX--HASH``.

    HASH is the first `HASH_CHARS` hex digits of sha256(text); PREFIX is the start of `text`
    (``/`` replaced by ``_``, cut on a character boundary) filling the rest of `limit` bytes.
    """
    text = str(text)
    if all(len(part.encode()) <= limit for part in text.split("/")):
        return text
    digest = hashlib.sha256(text.encode()).hexdigest()[:HASH_CHARS]
    room = limit - len(digest) - 2
    prefix = text.replace("/", "_").encode()[:room].decode("utf-8", "ignore")
    return f"{prefix}--{digest}"


if not OmegaConf.has_resolver(DIRNAME_RESOLVER):
    OmegaConf.register_new_resolver(DIRNAME_RESOLVER, dir_name)


def results_root(root: str | None, cwd: str | os.PathLike | None = None) -> Path:
    """The directory every run must write inside: `root` (relative to `cwd`) or `cwd` itself."""
    cwd = Path(cwd or os.getcwd())
    return Path(os.path.abspath(cwd / os.path.expanduser(root or ".")))


def _short(path: str, n: int = 60) -> str:
    return repr(path if len(path) <= n else f"{path[: n // 2]}...{path[-n // 2 :]}")


def writable(path: str | os.PathLike) -> bool:
    """Whether this process may create files in directory `path` (root always may)."""
    return os.access(path, os.W_OK | os.X_OK)


def check_creatable(key: str, path: str) -> None:
    """`path` (absolute) can be made a directory: lengths within the limits, no part a file,
    the deepest existing directory writable; an existing `path` must be a writable directory."""
    size = len(path.encode())
    if size > PATH_MAX - FILE_ROOM:
        raise OptionError(
            f"{key}: the path is {size} bytes, over the {PATH_MAX - FILE_ROOM} a run directory "
            f"may have (PATH_MAX {PATH_MAX} less {FILE_ROOM} for its files): {_short(path)}"
        )
    for part in Path(path).parts:
        if len(part.encode()) > NAME_MAX:
            raise OptionError(
                f"{key}: the path component {_short(part)} is {len(part.encode())} bytes, over "
                f"the {NAME_MAX} a file name may have"
            )
    existing = Path(path)
    while not os.path.lexists(existing):
        existing = existing.parent
    if not existing.is_dir():
        what = "a file" if existing.exists() else "a symlink to nothing (broken or a loop)"
        raise OptionError(f"{key}: {str(existing)!r} is {what}, not a directory ({path!r})")
    if not writable(existing):
        if str(existing) == path:
            raise OptionError(f"{key}: the directory {path!r} is not writable")
        raise OptionError(f"{key}: cannot create {path!r}: {str(existing)!r} is not writable")


def check_root(root: str | None, cwd: str | os.PathLike | None = None) -> Path:
    """The results root, resolved (``realpath``); not a system directory, not a file."""
    base = results_root(root, cwd)
    where = f"results_root={show(root)}" if root else f"the current directory {str(base)!r}"
    real = Path(os.path.realpath(base))
    if _system_dir(base) or _system_dir(real):
        raise OptionError(
            f"results_root must not be a system directory, got {where}; set results_root=DIR"
        )
    if os.path.lexists(base) and not real.is_dir():
        raise OptionError(f"results_root must be a directory, got {where}, which is a file")
    return real


def check_inside(
    key: str, path: str, root: str | None, cwd: str | os.PathLike | None = None, kind="dir"
) -> None:
    """`path` (relative to `cwd`) lies strictly inside the results root once resolved.

    Both the path as the kernel resolves it (symlinks first, then ``..``) and Hydra's
    ``os.path.abspath`` form (``..`` first) are checked: Hydra creates the one and writes its
    own files under the other. `kind` "dir": `path` must be creatable as a directory; "file":
    its directory must be, and an existing `path` a writable file; None: no such checks.
    """
    real_base = check_root(root, cwd)
    where = f"results_root={show(root)}" if root else f"the current directory {str(real_base)!r}"
    if not str(path).strip():
        raise OptionError(f"{key} must be a directory path inside the results tree, got ''")
    joined = os.path.join(os.fspath(cwd or os.getcwd()), path)
    for form in {os.path.realpath(joined), os.path.realpath(os.path.abspath(joined))}:
        if real_base not in Path(form).parents:  # strictly inside: never the root itself
            raise OptionError(
                f"{key} must be inside the results tree ({where}), got {path!r}; "
                "set results_root=DIR to write under DIR"
            )
        if kind == "dir":
            check_creatable(key, form)
        elif kind == "file":
            check_creatable(key, os.path.dirname(form))
            if os.path.lexists(form) and not (os.path.isfile(form) and os.access(form, os.W_OK)):
                raise OptionError(f"{key}: {form!r} exists and is not a writable file")
