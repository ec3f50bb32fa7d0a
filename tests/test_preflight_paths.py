"""Where runs write (rnnbench/paths.py), checked by preflight before anything is written.

Every path a job writes (run directory, ``hydra.output_subdir``, logging files), resolved with
the job's overrides and every config source, must lie inside the results root and be
creatable; a run-directory name too long for the file system is shortened deterministically.
Preflight runs in-process here (it writes nothing); one sweep runs for real at the end.
"""

from __future__ import annotations

import os
import shutil
from pathlib import Path

import pytest
from conftest import TINY, compose_config, run_cli

from rnnbench import paths
from rnnbench._hydra_preflight import CONF_DIR, preflight
from rnnbench.config import ConfigError


@pytest.fixture
def root(tmp_path, monkeypatch) -> Path:
    """An empty results tree, the current directory; tmp_path/outside is outside it."""
    results = tmp_path / "results"
    results.mkdir()
    monkeypatch.chdir(results)
    return results


def refused(argv: list[str]) -> str:
    with pytest.raises(ConfigError) as err:
        preflight(argv)
    message = str(err.value)
    assert "\n" not in message
    return message


# ------------------------------------------------------------------ item 1: every config source


def test_config_dir_is_validated_too(root):
    assert refused(["--config-dir", str(root), "optim.lr=nan"]).startswith(
        "optim.lr must be a finite number > 0, got nan"
    )


def test_config_path_tree_is_path_checked(root, tmp_path):
    conf = tmp_path / "conf"
    shutil.copytree(CONF_DIR, conf)
    text = (conf / "config.yaml").read_text()
    (conf / "config.yaml").write_text(text.replace("dir: results/runs/", f"dir: {tmp_path}/x/"))
    assert refused(["--config-path", str(conf)]).startswith(
        "hydra.run.dir must be inside the results tree"
    )
    assert refused(["--config-dir", str(tmp_path / "nope")]).startswith("--config-dir ")


def test_sweep_subdir_is_checked_after_interpolation(root, tmp_path, monkeypatch):
    monkeypatch.setenv("EVIL", "../../x")
    sweep = ["-m", "seed=0", f"results_root={root}", f"hydra.sweep.dir={root}/sw"]
    assert refused([*sweep, "hydra.sweep.subdir=${oc.env:EVIL}"]).startswith(
        "hydra.sweep.subdir must be inside the results tree"
    )
    assert refused([*sweep, "hydra.sweep.subdir=${oc.env:NOT_SET_ANYWHERE}"]).startswith(
        "hydra.sweep.subdir: "
    )
    preflight([*sweep, "hydra.sweep.subdir=job_${hydra.job.num}"])  # fine, and writes nothing
    assert list(root.iterdir()) == []


@pytest.mark.parametrize(
    "override",
    [
        "hydra.output_subdir=../../../../../../../escaped",
        "hydra.output_subdir={outside}/hydra",
        "hydra.job_logging.handlers.file.filename={outside}/job.log",
        "hydra.job_logging.handlers.file.filename=../job.log",
    ],
)
def test_hydra_files_stay_inside(root, tmp_path, override):
    key = override.split("=")[0]
    override = override.replace("{outside}", str(tmp_path / "outside"))
    assert refused([override]).startswith(f"{key} must be inside the results tree")
    assert refused(["-m", "seed=0,1", override]).startswith(f"{key} must be inside")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["results"]


def test_symlink_then_dotdot_is_resolved_as_the_kernel_does(root, tmp_path):
    deep = tmp_path / "outside" / "deep"
    deep.mkdir(parents=True)
    (root / "link").symlink_to(deep)  # root/link/../x is tmp_path/outside/x for the kernel
    assert refused(["hydra.run.dir=link/../x"]).startswith("hydra.run.dir must be inside")
    assert refused(["hydra.run.dir=link/x"]).startswith("hydra.run.dir must be inside")


# ------------------------------------------------------------- item 7: paths that cannot be made


def test_results_root_naming_a_file(root):
    (root / "afile").write_text("")
    assert refused([f"results_root={root}/afile", f"hydra.run.dir={root}/afile/r"]) == (
        f"results_root must be a directory, got results_root='{root}/afile', which is a file"
    )
    assert refused(["hydra.run.dir=afile/r"]) == (
        f"hydra.run.dir: '{root}/afile' is a file, not a directory ('{root}/afile/r')"
    )


def test_component_over_name_max_and_path_over_path_max(root):
    assert refused([f"hydra.run.dir={'a' * 256}"]).startswith(
        "hydra.run.dir: the path component 'aaaa"
    )
    assert "is 256 bytes, over the 255 a file name may have" in refused(
        [f"hydra.run.dir={'a' * 256}"]
    )
    deep = "/".join(["d" * 200] * 21)  # every component fits, the whole does not
    assert refused([f"hydra.run.dir={deep}"]).startswith("hydra.run.dir: the path is ")
    assert refused(["-m", f"hydra.sweep.dir={deep}", "seed=0"]).startswith("hydra.sweep.dir: ")


def test_read_only_directory_simulated(root, monkeypatch):
    """Root may write anywhere, so the read-only case is simulated where paths asks."""
    (root / "ro").mkdir()
    monkeypatch.setattr(paths, "writable", lambda p: Path(p) != root / "ro")
    assert (
        refused(["hydra.run.dir=ro"]) == f"hydra.run.dir: the directory '{root}/ro' is not writable"
    )
    assert refused(["hydra.run.dir=ro/r"]) == (
        f"hydra.run.dir: cannot create '{root}/ro/r': '{root}/ro' is not writable"
    )


@pytest.mark.skipif(os.geteuid() == 0, reason="root writes into read-only directories")
def test_read_only_directory(root):
    (root / "ro").mkdir(mode=0o555)
    assert refused(["hydra.run.dir=ro/r"]).endswith("is not writable")


# ---------------------------------------------------------- item 7: long names are shortened

LONG = [  # 23 ordinary overrides: the default run-dir name would be over 500 bytes
    "train.steps=100000000",
    "train.batch_size=1024",
    "train.eval_every=1000000",
    "train.eval_size=100000",
    "train.log_every=100000",
    "train.checkpoint_every=100000",
    "train.tbptt=1000",
    "train.diverge_grad_norm=1000000.0",
    "train.diverge_grad_norm_after_clip=100000.0",
    "train.on_diverge=skip",
    "train.stop_when_solved=true",
    "model.hidden_size=1024",
    "model.num_layers=4",
    "model.dtype=float32",
    "model.init=orthogonal",
    "model.spectral_radius=0.95",
    "optim.lr=0.00031622776",
    "clip.method=norm",
    "clip.max_value=1.0",
    "diagnostics.every=1000",
    "diagnostics.jacobian_vectors=8",
    "diagnostics.time_bins=50",
    "seed=1234567",
]


def test_dir_name_keeps_names_that_fit():
    for text in ["", "seed=1", "a" * 255, "task.path='a/b',seed=1", "/".join(["x" * 255] * 3)]:
        assert paths.dir_name(text) == text


def test_dir_name_shortens_deterministically():
    long = ",".join(LONG)
    short = paths.dir_name(long)
    assert len(short.encode()) == 255 and "/" not in short
    assert short.startswith(long[:200]) and short == paths.dir_name(long)
    assert paths.dir_name(long + "0") != short
    unicode = paths.dir_name("é" * 200)  # two bytes each: the cut keeps whole characters
    assert len(unicode.encode()) <= 255 and unicode.startswith("é" * 100)


def test_default_dir_names_fit_and_short_ones_are_unchanged():
    cfg = compose_config(LONG, hydra_node=True)
    run_name = Path(cfg.hydra.run.dir).name
    assert len(run_name.encode()) <= 255 and len(cfg.hydra.sweep.subdir.encode()) <= 255
    assert run_name[9:].startswith("clip.max_value=1.0,clip.method=norm,diagnostics.every=")
    cfg = compose_config(["seed=3", "model=gru"], hydra_node=True)
    assert cfg.hydra.sweep.subdir == "model=gru,seed=3"
    assert Path(cfg.hydra.run.dir).name.endswith("_model=gru,seed=3")


@pytest.mark.slow
def test_long_sweep_runs_and_reruns_into_the_same_job(tmp_path):
    """A tiny run named by 23 overrides (over 400 bytes): its job directory is created, and a
    rerun of the same command finds it and skips."""
    more = LONG[7:11] + LONG[14:22] + ["train.figures=false", "train.checkpoint_every=1000"]
    argv = ["-m", "hydra.sweep.dir=sw", *TINY, *more]
    assert len(",".join(argv[2:])) > 400
    first = run_cli(argv, tmp_path)
    assert first.returncode == 0, first.stderr
    (job,) = [p for p in (tmp_path / "sw").iterdir() if p.is_dir()]
    assert len(job.name.encode()) == 255 and (job / "summary.json").is_file()
    again = run_cli(argv, tmp_path)
    assert again.returncode == 0, again.stderr
    assert "already holds a completed run of this config; skipping" in again.stdout + again.stderr
