"""The figures every run ends with (issue 13): learning curve and gradient through time."""

from __future__ import annotations

import json
import time

import pytest
from test_report import make_run

from rnnbench.report import run_figures

PNG = b"\x89PNG\r\n\x1a\n"


def test_write_draws_both_figures_into_the_run_directory(tmp_path):
    run = make_run(tmp_path / "r", "lstm", 10, 0, solved=True)
    written = run_figures.write(run)
    assert [p.name for p in written] == ["learning_curve.png", "gradient_through_time.png"]
    for p in written:
        assert p.parent == run and p.read_bytes()[:8] == PNG
    assert not list(run.glob(".*.tmp"))  # atomic: no temporary left behind


def test_write_is_cheap(tmp_path):
    run = make_run(tmp_path / "r", "gru", 50, 0)
    run_figures.write(run)  # the first call pays for importing matplotlib's modules
    cpu = time.process_time()
    run_figures.write(run)
    assert time.process_time() - cpu < 1.0


def test_missing_tables_cost_only_their_figure(tmp_path):
    run = make_run(tmp_path / "r", "rnn", 10, 0, write_grads=False)
    assert [p.name for p in run_figures.write(run)] == ["learning_curve.png"]
    (run / "metrics.parquet").write_bytes(b"garbage")
    assert run_figures.write(run) == []
    assert run_figures.write(tmp_path / "empty-run") == []


@pytest.mark.parametrize(
    "changes, title",
    [
        ({"status": "diverged", "diverged_step": 7}, "blew up (diverged at step 7)"),
        ({"final_eval_loss": 0.5, "baseline_loss": 1.0, "solved": False}, "0.50 x baseline"),
    ],
)
def test_title_says_the_outcome(tmp_path, changes, title):
    run = make_run(tmp_path / "r", "rnn", 10, 0)
    s = json.loads((run / "summary.json").read_text())
    s.update(changes)
    assert title in run_figures._title(s)


def test_a_run_ends_with_its_figures_and_logs_their_paths(tmp_path, tiny_cfg, caplog):
    from rnnbench import train

    caplog.set_level("INFO", logger="rnnbench.train")
    train.run(tiny_cfg("diagnostics.every=4"), tmp_path / "on")
    names = ["learning_curve.png", "gradient_through_time.png"]
    for name in names:
        assert (tmp_path / "on" / name).read_bytes()[:8] == PNG
        assert f"figure {tmp_path / 'on' / name}" in caplog.text
    train.run(tiny_cfg("diagnostics.every=4", "train.figures=false"), tmp_path / "off")
    assert not [n for n in names if (tmp_path / "off" / n).exists()]


def test_run_command_redraws_and_refuses_bad_paths(tmp_path, capsys):
    from rnnbench.report.__main__ import main

    run = make_run(tmp_path / "r", "lstm", 10, 0)
    assert main(["run", str(run)]) == 0
    out = capsys.readouterr().out.split()
    assert out == [str(run / "learning_curve.png"), str(run / "gradient_through_time.png")]
    (tmp_path / "empty").mkdir()
    for bad in (tmp_path / "absent", run / "summary.json", tmp_path / "empty"):
        assert main(["run", str(bad)]) == 2
        err = capsys.readouterr().err.strip().splitlines()
        assert len(err) == 1 and err[0].startswith("error: ")
