"""The report over a synthetic sweep: every kind of job a real sweep leaves behind, and bad files.

`make_run` writes a run directory with the files and schemas the app writes (config.yaml,
.hydra/config.yaml, metrics.parquet, grad_norms.parquet, environment.json, summary.json); the
sweep below mixes completed, diverged, failed and unfinished jobs with a corrupt Parquet file, a
truncated JSON file and a foreign file, and the tests check the table, the figures, the verdict
and the exit codes of ``python -m rnnbench.report``.
"""

from __future__ import annotations

import json
import math
import subprocess
import sys
from pathlib import Path

import pandas as pd
import pytest
import yaml

from rnnbench.report import build, load
from rnnbench.report.__main__ import main as report_main
from rnnbench.report.markdown import verdict

REPO = Path(__file__).resolve().parents[1]


def copy_baseline(T: int) -> float:
    return 10 * math.log(8) / (T + 20)


def make_run(
    path: Path,
    cell: str,
    seq_len: int,
    seed: int,
    status: str | None = "completed",
    *,
    solved: bool = False,
    final: float | None = None,
    steps: int = 200,
    steps_per_s: float = 100.0,
    grad_decay: float = 1.0,
    write_grads: bool = True,
) -> Path:
    """One run directory as the app writes it; status None leaves it unfinished (no summary)."""
    path.mkdir(parents=True)
    base = copy_baseline(seq_len)
    config = {
        "seed": seed,
        "threads": 1,
        "model": {"cell": cell, "hidden_size": 16, "num_layers": 1},
        "task": {"name": "copy", "seq_len": seq_len, "convention": "arjovsky2016"},
        "optim": {"name": "adam", "lr": 0.001, "betas": [0.9, 0.999]},
        "clip": {"method": "none", "max_value": 1.0},
        "train": {"steps": steps, "batch_size": 8, "eval_every": 50, "progress": False},
    }
    text = yaml.safe_dump(config)
    (path / "config.yaml").write_text(text)
    (path / ".hydra").mkdir()
    (path / ".hydra" / "config.yaml").write_text(text)
    (path / "environment.json").write_text(json.dumps({"threads": {"numba": 1}}))

    if final is None:
        final = 0.01 * base if solved else base * 1.01
    logged = range(0, (steps if status != "unfinished" else steps // 2) + 1, 50)
    rows = []
    for step in logged:
        frac = step / steps
        loss = math.log(10) * (1 - frac) + final * frac + 0.001 * seed
        acc = (0.999 if solved else 0.12) * frac
        rows += [(step, "eval", "loss", loss), (step, "eval", "accuracy", acc)]
        rows += [(step, "train", "loss", loss * 1.05)]
    metrics = pd.DataFrame(rows, columns=["step", "split", "metric", "value"])
    metrics.to_parquet(path / "metrics.parquet", index=False)

    if write_grads:
        T = seq_len + 20
        g = [
            (step, 0, t, float(grad_decay ** (T - 1 - t)), True)
            for step in (0, steps)
            for t in range(T)
        ]
        frame = pd.DataFrame(g, columns=["step", "layer", "t", "norm", "finite"])
        # the nullable dtypes diagnostics writes, and a non-finite entry (null + finite=False)
        frame = frame.astype({"layer": "Int64", "t": "Int64", "norm": "Float64"})
        frame.loc[frame.index[:2], "norm"] = pd.NA
        frame.loc[frame.index[:2], "finite"] = False
        frame.to_parquet(path / "grad_norms.parquet", index=False)

    if status is not None:
        summary = {
            "status": status,
            "cell": cell,
            "task": "copy",
            "seq_len": seq_len,
            "seed": seed,
            "steps": steps if status == "completed" else steps // 2,
            "max_steps": steps,
            "final_eval_loss": None if status == "failed" else final,
            "final_eval": {} if status == "failed" else {"loss": final, "accuracy": 0.5},
            "baseline_loss": base,
            "solved": bool(solved and status == "completed"),
            "wall_time_s": steps / steps_per_s + 1.0,
            "steps_per_s": steps_per_s,
            "diverged_step": steps // 2 if status == "diverged" else None,
            "cause": "non-finite gradient norm" if status == "diverged" else None,
            "error": "RuntimeError: injected failure" if status == "failed" else None,
            "hidden_size": 16,
            "config_hash": f"hash-{cell}-{seq_len}-{seed}",
        }
        (path / "summary.json").write_text(json.dumps(summary, allow_nan=False))
    return path


@pytest.fixture
def sweep_dir(tmp_path: Path) -> Path:
    """3 cells x T in (10, 50) x 2 seeds, like a Hydra multirun, with trouble mixed in.

    lstm solves both lengths; gru solves T=10 and one seed of T=50; rnn solves nothing and sits
    at the baseline. One rnn job diverged, one gru job failed, one lstm job is unfinished, and
    three files are bad: a corrupt metrics.parquet, a truncated summary.json and a foreign
    grad_norms.parquet (someone else's table).
    """
    root = tmp_path / "sweep"
    root.mkdir()
    (root / "multirun.yaml").write_text("hydra: {}\n")
    speed = {"rnn": 300.0, "lstm": 100.0, "gru": 130.0}
    decay = {"rnn": 0.8, "lstm": 1.0, "gru": 0.99}
    n = 0
    for cell in ("rnn", "lstm", "gru"):
        for T in (10, 50):
            for seed in (0, 1):
                solved = cell == "lstm" or (cell == "gru" and (T == 10 or seed == 0))
                status = "completed"
                if (cell, T, seed) == ("rnn", 50, 1):
                    status = "diverged"
                if (cell, T, seed) == ("gru", 50, 1):
                    status = "failed"
                if (cell, T, seed) == ("lstm", 50, 1):
                    status = None
                make_run(
                    root / f"model={cell},seed={seed},task.seq_len={T}",
                    cell,
                    T,
                    seed,
                    status,
                    solved=solved,
                    steps_per_s=speed[cell] * (10 / T) ** 0.5,
                    grad_decay=decay[cell],
                )
                n += 1
    # the trouble
    bad = root / "model=rnn,seed=0,task.seq_len=10"
    (bad / "metrics.parquet").write_bytes(b"PAR1\x00\x01garbage")
    truncated = root / "model=gru,seed=0,task.seq_len=10" / "summary.json"
    truncated.write_text(truncated.read_text()[:40])
    foreign = root / "model=lstm,seed=0,task.seq_len=10" / "grad_norms.parquet"
    pd.DataFrame({"x": [1.0], "y": [2.0]}).to_parquet(foreign)
    (root / "notes").mkdir()  # a directory with nothing of ours: ignored
    (root / "notes" / "todo.txt").write_text("nothing to see")
    return root


# --------------------------------------------------------------------------------- aggregation


def test_aggregate_table_has_every_run_and_status(sweep_dir: Path):
    sweep = load([sweep_dir])
    runs = sweep.runs
    assert len(runs) == 12
    status = dict(zip(runs["run"], runs["status"], strict=True))
    assert status["model=rnn,seed=1,task.seq_len=50"] == "diverged"
    assert status["model=gru,seed=1,task.seq_len=50"] == "failed"
    assert status["model=lstm,seed=1,task.seq_len=50"] == "unfinished"
    assert status["model=gru,seed=0,task.seq_len=10"] == "unreadable"
    assert (runs["status"] == "completed").sum() == 8
    # config columns flattened, identity filled from the config for the runs without a summary
    for col in ("model.cell", "task.seq_len", "optim.lr", "train.steps", "seed"):
        assert col in runs.columns
    unfinished = runs[runs["status"] == "unfinished"].iloc[0]
    assert (unfinished["cell"], unfinished["seq_len"], unfinished["seed"]) == ("lstm", 50, 1)
    failed = runs[runs["status"] == "failed"].iloc[0]
    assert "injected failure" in failed["error"]
    # final accuracy taken from the summary's final_eval
    done = runs[runs["status"] == "completed"]
    assert done["final_eval_accuracy"].notna().all()


def test_bad_files_each_named_once_and_skipped(sweep_dir: Path):
    sweep = load([sweep_dir])
    named = sorted(p.path.relative_to(sweep_dir).as_posix() for p in sweep.problems)
    assert named == [
        "model=gru,seed=0,task.seq_len=10/summary.json",
        "model=lstm,seed=0,task.seq_len=10/grad_norms.parquet",
        "model=rnn,seed=0,task.seq_len=10/metrics.parquet",
    ]
    reasons = {p.path.name: p.reason for p in sweep.problems}
    assert "truncated" in reasons["summary.json"]
    assert "wrong schema" in reasons["grad_norms.parquet"]
    assert "Parquet" in reasons["metrics.parquet"]
    # the corrupt metrics are skipped; the other runs' metrics are there
    assert "model=rnn,seed=0,task.seq_len=10" not in set(sweep.metrics["run"])
    assert sweep.metrics["run"].nunique() == 11
    # non-finite grad norms (finite=False) are NaN, never a crash
    assert sweep.grad_norms["norm"].isna().sum() > 0


@pytest.mark.parametrize(
    "content, reason",
    [
        (b"", "not valid JSON"),
        (b'{"status": "completed", "cell": ', "truncated"),
        (b'{"status": "completed", "final_eval_loss": NaN}', "NaN"),
        (b"[1, 2, 3]", "foreign"),
        (b'{"name": "something else"}', "not an rnnbench summary"),
        (b'{"status": "exploded"}', "unknown status"),
        (b"\xff\xfe\x00binary", "not a text file"),
    ],
)
def test_bad_summary_variants(tmp_path: Path, content: bytes, reason: str):
    run = make_run(tmp_path / "r", "lstm", 10, 0)
    (run / "summary.json").write_bytes(content)
    sweep = load([tmp_path])
    assert len(sweep.problems) == 1 and reason in sweep.problems[0].reason
    assert sweep.runs["status"].tolist() == ["unreadable"]


@pytest.mark.parametrize(
    "name, frame_or_bytes, reason",
    [
        ("metrics.parquet", b"", "not a readable Parquet"),
        ("metrics.parquet", pd.DataFrame({"step": [1], "value": [0.5]}), "missing column"),
        (
            "metrics.parquet",
            pd.DataFrame({"step": ["a"], "split": ["eval"], "metric": ["loss"], "value": [1.0]}),
            "column 'step'",
        ),
        ("grad_norms.parquet", b"not parquet at all", "not a readable Parquet"),
        ("config.yaml", b"model: [unclosed", "not valid YAML"),
        ("config.yaml", b"just a string", "foreign"),
    ],
)
def test_bad_tables_and_configs(tmp_path: Path, name, frame_or_bytes, reason):
    run = make_run(tmp_path / "r", "gru", 10, 0)
    if isinstance(frame_or_bytes, bytes):
        (run / name).write_bytes(frame_or_bytes)
    else:
        frame_or_bytes.to_parquet(run / name)
    sweep = load([tmp_path])
    assert [p.path.name for p in sweep.problems] == [name]
    assert reason in sweep.problems[0].reason
    assert sweep.runs["status"].tolist() == ["completed"]  # the run itself is still reported


def test_empty_and_missing_directories_are_problems_not_crashes(tmp_path: Path):
    (tmp_path / "empty").mkdir()
    sweep = load([tmp_path / "empty", tmp_path / "absent"])
    assert len(sweep.runs) == 0
    assert [p.reason.split(" (")[0] for p in sweep.problems] == [
        "no run directories found",
        "no such directory",
    ]
    path, _ = build([tmp_path / "empty"], tmp_path / "out")
    assert "No run has finished yet" in path.read_text()


# --------------------------------------------------------------------------------- report


def test_report_files_and_verdict(sweep_dir: Path, tmp_path: Path):
    out = tmp_path / "out"
    path, sweep = build([sweep_dir], out)
    for stem in ("learning_curves", "final_vs_length", "grad_norms_through_time", "speed"):
        png = out / f"{stem}.png"
        assert png.is_file() and png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n", stem
        assert (out / f"{stem}.csv").is_file(), stem
    runs = pd.read_csv(out / "runs.csv")
    assert len(runs) == 12 and "variant" in runs.columns

    text = path.read_text()
    # self-contained: figures embedded by relative path, all of which exist
    links = [ln.split("](", 1)[1].rstrip(")") for ln in text.splitlines() if ln.startswith("![")]
    assert len(links) == 4 and all((out / link).is_file() for link in links)
    assert str(tmp_path) not in text  # no machine paths

    head = text.split("## Figures")[0]
    assert "`lstm`: solved T = 10, 50 (every seed)" in head
    assert "`gru`: solved T = 10 (every seed); T = 50: 1/2 seeds" in head
    assert "`rnn`:" in head and "stayed at the memoryless baseline at T = 10" in head
    assert "Winner: `lstm`**, solving every seed up to T = 50" in head
    assert "Fastest: `rnn`" in head
    assert "1 run(s) unfinished" in head
    # non-completed runs listed with their cause, skipped files named
    assert "injected failure" in text and "non-finite gradient norm" in text
    assert "## Files skipped" in text and "metrics.parquet" in text


def test_learning_curve_band_over_seeds(sweep_dir: Path, tmp_path: Path):
    build([sweep_dir], tmp_path / "out")
    curves = pd.read_csv(tmp_path / "out" / "learning_curves.csv")
    lstm10 = curves[(curves["variant"] == "lstm") & (curves["seq_len"] == 10)]
    assert (lstm10["n_seeds"] == 2).all()
    assert (lstm10["min"] <= lstm10["mean"]).all() and (lstm10["mean"] <= lstm10["max"]).all()
    assert (lstm10["max"] - lstm10["min"]).max() == pytest.approx(0.001)


def test_final_table_fractions(sweep_dir: Path, tmp_path: Path):
    build([sweep_dir], tmp_path / "out")
    f = pd.read_csv(tmp_path / "out" / "final_vs_length.csv").set_index(["variant", "seq_len"])
    assert f.loc[("lstm", 50), "n_runs"] == 1  # the unfinished seed is not counted
    assert f.loc[("gru", 50), "frac_solved"] == 0.5  # one solved, one failed
    assert f.loc[("rnn", 50), "n_diverged"] == 1
    assert ("gru", 10) not in f.index or f.loc[("gru", 10), "n_runs"] == 1  # unreadable one out


def test_verdict_from_data_alone():
    finals = pd.DataFrame(
        [
            # task, variant, T, n, solved, diverged, failed, loss, baseline
            ("adding", "gru", 50, 3, 3, 0, 0, 0.001, 0.167),
            ("adding", "gru", 100, 3, 0, 0, 0, 0.05, 0.167),
            ("adding", "rnn", 50, 3, 0, 0, 0, 0.166, 0.167),
            ("adding", "rnn", 100, 3, 0, 3, 0, float("nan"), 0.167),
        ],
        columns=[
            "task",
            "variant",
            "seq_len",
            "n_runs",
            "n_solved",
            "n_diverged",
            "n_failed",
            "loss_mean",
            "baseline_loss",
        ],
    )
    speeds = pd.DataFrame(
        {"task": ["adding"] * 2, "variant": ["gru", "rnn"], "steps_per_s_mean": [50.0, 150.0]}
    )
    text = "\n".join(verdict(finals, speeds))
    assert (
        "`gru`: solved T = 50 (every seed); learned below the baseline but did not solve at "
        "T = 100 (loss/baseline 0.30)." in text
    )
    assert (
        "`rnn`: stayed at the memoryless baseline at T = 50 (loss/baseline 0.99); blew up "
        "(diverged) at T = 100." in text  # issue 16 item 3: a diverged cell is a blow-up
    )
    assert "Winner: `gru`**, solving every seed up to T = 50 (others: `rnn` none)" in text
    assert "Fastest: `rnn` (150.0 steps/s averaged over T), 3.0x the slowest, `gru`" in text


def test_variants_separate_other_swept_keys(tmp_path: Path):
    for radius in (0.5, 3.0):
        run = make_run(tmp_path / f"r{radius}", "rnn", 10, 0)
        cfg = yaml.safe_load((run / "config.yaml").read_text())
        cfg["model"]["spectral_radius"] = radius
        (run / "config.yaml").write_text(yaml.safe_dump(cfg))
    build([tmp_path], tmp_path / "out")
    runs = pd.read_csv(tmp_path / "out" / "runs.csv")
    assert sorted(runs["variant"]) == ["rnn spectral_radius=0.5", "rnn spectral_radius=3.0"]


def test_variant_key_that_follows_the_length_is_one_variant(tmp_path: Path):
    # model.chrono_tmax: ${task.seq_len} differs with T but names one variant, not one per T
    for seq_len in (10, 50):
        for tmax in (None, seq_len):
            run = make_run(tmp_path / f"T{seq_len}-{tmax}", "lstm", seq_len, 0)
            cfg = yaml.safe_load((run / "config.yaml").read_text())
            cfg["model"]["chrono_tmax"] = tmax
            (run / "config.yaml").write_text(yaml.safe_dump(cfg))
    build([tmp_path], tmp_path / "out")
    runs = pd.read_csv(tmp_path / "out" / "runs.csv")
    assert sorted(set(runs["variant"])) == ["lstm", "lstm chrono_tmax=T"]


def test_variant_labels_skip_keys_of_other_cells(tmp_path: Path):
    # the schema gives every cell model.nonlinearity; only the rnn's label may show it
    for cell, nonlinearity in (("rnn", "tanh"), ("rnn", "relu"), ("lstm", "tanh")):
        run = make_run(tmp_path / f"{cell}-{nonlinearity}", cell, 10, 0)
        cfg = yaml.safe_load((run / "config.yaml").read_text())
        cfg["model"]["nonlinearity"] = nonlinearity
        (run / "config.yaml").write_text(yaml.safe_dump(cfg))
    build([tmp_path], tmp_path / "out")
    runs = pd.read_csv(tmp_path / "out" / "runs.csv")
    assert sorted(runs["variant"]) == ["lstm", "rnn nonlinearity=relu", "rnn nonlinearity=tanh"]


def test_several_roots_and_default_out(sweep_dir: Path, tmp_path: Path):
    other = tmp_path / "other"
    make_run(other / "0", "lstm", 100, 0, solved=True)
    assert report_main([str(sweep_dir), str(other)]) == 0
    runs = pd.read_csv(sweep_dir / "report" / "runs.csv")
    assert len(runs) == 13 and runs["run"].str.startswith(("sweep/", "other/")).all()
    # a second report over the same dirs ignores the first report's outputs
    assert report_main([str(sweep_dir)]) == 0
    assert len(pd.read_csv(sweep_dir / "report" / "runs.csv")) == 12


# --------------------------------------------------------------------------------- the command


def _run_cli(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "rnnbench.report", *args],
        capture_output=True,
        text=True,
        cwd=REPO,
        timeout=120,
    )


def test_cli_warns_once_per_bad_file(sweep_dir: Path, tmp_path: Path):
    r = _run_cli(str(sweep_dir), "--out", str(tmp_path / "out"))
    assert r.returncode == 0, r.stderr
    warnings = [ln for ln in r.stderr.splitlines() if ln.startswith("WARNING")]
    assert len(warnings) == 3
    assert all("; skipped" in w for w in warnings)
    assert "Traceback" not in r.stderr
    assert (tmp_path / "out" / "report.md").is_file()


def test_cli_strict_fails_cleanly(sweep_dir: Path, tmp_path: Path):
    r = _run_cli(str(sweep_dir), "--out", str(tmp_path / "out"), "--strict")
    assert r.returncode == 1
    lines = r.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: ") and "(and 2 more)" in lines[0]
    assert not (tmp_path / "out").exists()


def test_cli_strict_passes_on_clean_sweep(tmp_path: Path):
    make_run(tmp_path / "sweep" / "0", "rnn", 10, 0)
    make_run(tmp_path / "sweep" / "1", "lstm", 10, 0, solved=True, status=None)
    assert report_main([str(tmp_path / "sweep"), "--strict"]) == 0
    assert (tmp_path / "sweep" / "report" / "report.md").is_file()


def test_cli_strict_empty_dir(tmp_path: Path, capsys):
    assert report_main([str(tmp_path), "--strict"]) == 1
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "no run directories found" in err[0]


def test_verdict_tie_broken_by_loss():
    cols = ["task", "variant", "seq_len", "n_runs", "n_solved", "n_diverged", "n_failed",
            "loss_mean", "baseline_loss"]  # fmt: skip
    finals = pd.DataFrame(
        [("copy", "lstm", 50, 2, 2, 0, 0, 0.002, 0.3), ("copy", "gru", 50, 2, 2, 0, 0, 0.001, 0.3)],
        columns=cols,
    )
    text = "\n".join(verdict(finals, pd.DataFrame()))
    assert "Winner: `gru`**" in text and "tied with `lstm` on lengths, ahead on final loss" in text
