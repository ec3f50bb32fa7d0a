"""Every command the README names, each path argument pointing at each kind of path.

Kinds: an existing file, an empty directory, a missing path, a symlink loop, and a read-only
directory. Whatever the kind, the command must not crash: no "Traceback" on stderr, no death by
a signal, and an error (exit code != 0) is exactly one line on stderr. Run as root, a read-only
directory is writable, so there the read-only kind is a path below a file instead (which no
one can create); as another user it is a real ``chmod 555`` directory.

Commands whose accepted cases would be slow (the benchmark, the MNIST download, a multirun
sweep of the default config) get only the kinds that must be refused; ``python -m rnnbench``
checks its accepted cases with ``--cfg job`` (preflight runs in full, nothing trains). The
subprocesses run three at a time.
"""

from __future__ import annotations

import os
import subprocess
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest
from conftest import TINY, run_module

ROOT = os.geteuid() == 0
KINDS = ("file", "dir", "missing", "loop", "readonly")
OUT = ("file", "loop", "readonly")  # an output path of these kinds must be refused
IN = ("file", "missing", "loop")  # an input path of these kinds must be refused

# (command, the kinds to try, the kinds it must refuse); {p} is the path of the kind, {d} an
# empty directory
COMMANDS = [
    (["rnnbench", "--cfg", "job", "results_root={p}", "hydra.run.dir={p}/run"], KINDS, OUT),
    (["rnnbench", "--cfg", "job", "hydra.run.dir={p}"], KINDS, OUT),
    (["rnnbench", "-m", "hydra.sweep.dir={p}", *TINY], OUT, OUT),
    (["rnnbench", "--cfg", "job", "--config-dir", "{p}"], KINDS, IN),
    (["rnnbench", "--cfg", "job", "--config-path", "{p}"], KINDS, IN),
    (["rnnbench", "--cfg", "job", "task=mnist", "task.path={p}"], KINDS, IN),
    (["rnnbench.report", "{p}"], KINDS, IN),
    (["rnnbench.report", "{d}", "--out", "{p}"], KINDS, OUT),
    (["rnnbench.report", "gradients", "{p}"], KINDS, IN),
    (["rnnbench.report", "run", "{p}"], KINDS, IN),
    (["rnnbench.diagnostics_plots", "{p}"], ("file", "loop"), IN),
    (["rnnbench.bench", "--quick", "--out", "{p}"], OUT, OUT),
    (["rnnbench.tasks.mnist", "download", "{p}"], OUT, OUT),
]
CASES = [(cmd, kind, kind in refuse) for cmd, kinds, refuse in COMMANDS for kind in kinds]
IDS = [f"{' '.join(cmd)}[{kind}]" for cmd, kind, _ in CASES]


def _make(case_dir: Path, kind: str) -> Path:
    """The path of `kind` inside `case_dir` (created), and an empty directory `case_dir/d`."""
    case_dir.mkdir(parents=True)
    (case_dir / "d").mkdir()
    p = case_dir / "p"
    if kind == "file":
        p.write_text("not a directory\n")
    elif kind == "dir":
        p.mkdir()
    elif kind == "loop":
        p.symlink_to(p)
    elif kind == "readonly" and ROOT:  # root writes anywhere: a path below a file instead
        (case_dir / "f").write_text("")
        p = case_dir / "f" / "p"
    elif kind == "readonly":
        p.mkdir(mode=0o555)
    return p


def _run(case_dir: Path, cmd: list[str], kind: str) -> subprocess.CompletedProcess:
    p = _make(case_dir, kind)
    args = [a.replace("{p}", str(p)).replace("{d}", str(case_dir / "d")) for a in cmd]
    return run_module(args[0], args[1:], cwd=case_dir)


@pytest.fixture(scope="module")
def outcomes(tmp_path_factory) -> dict[str, subprocess.CompletedProcess]:
    root = tmp_path_factory.mktemp("commands")
    dirs = [root / f"case{i:02d}" for i in range(len(CASES))]
    with ThreadPoolExecutor(max_workers=3) as pool:
        done = pool.map(_run, dirs, [c[0] for c in CASES], [c[1] for c in CASES])
        return dict(zip(IDS, done, strict=True))


def test_every_readme_command_is_covered():
    readme = (Path(__file__).resolve().parent.parent / "README.md").read_text()
    for module in {c[0][0] for c in COMMANDS}:
        assert f"python -m {module} " in readme, module
    for sub in ("report gradients", "report run", "tasks.mnist download"):
        assert f"python -m rnnbench.{sub} " in readme


@pytest.mark.parametrize(("cmd", "kind", "refused"), CASES, ids=IDS)
def test_no_crash_and_one_line_errors(outcomes, cmd, kind, refused):
    res = outcomes[f"{' '.join(cmd)}[{kind}]"]
    assert "Traceback" not in res.stderr, res.stderr
    assert res.returncode in (0, 1, 2), (res.returncode, res.stderr)
    if refused:
        assert res.returncode != 0, res.stdout[-500:]
    if res.returncode != 0:
        assert res.stderr.count("\n") == 1 and res.stderr.strip(), res.stderr
