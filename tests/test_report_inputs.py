"""Hostile input to the report commands (issue 16 item 9) and blow-ups in the verdict (item 3).

Every bad path is one line on stderr and exit code 2, with nothing written; bad values inside a
run's summary.json are named (an error with --strict) and never drop the run silently.
"""

from __future__ import annotations

import json
import os
import time
from pathlib import Path

import pandas as pd
import pytest
from test_report import copy_baseline, make_run

from rnnbench.report import build, load
from rnnbench.report.__main__ import main as report_main
from rnnbench.report.files import MAX_TEXT_BYTES


def _one_line_error(capsys, code: int, expected: int = 2) -> str:
    err = capsys.readouterr().err.strip().splitlines()
    assert code == expected
    assert len(err) == 1 and err[0].startswith("error: "), err
    assert "Traceback" not in err[0]
    return err[0]


def _loop(path: Path) -> Path:
    os.symlink(path.name, path)  # a link to itself: ELOOP on every access
    return path


# --------------------------------------------------------------------------------- paths


def test_missing_directory_exits_2_and_creates_nothing(tmp_path, capsys):
    line = _one_line_error(capsys, report_main([str(tmp_path / "absent")]))
    assert "no such directory" in line
    assert not (tmp_path / "absent").exists()


def test_file_as_directory_exits_2(tmp_path, capsys):
    (tmp_path / "f.txt").write_text("x")
    line = _one_line_error(capsys, report_main([str(tmp_path / "f.txt")]))
    assert "not a directory" in line
    assert not (tmp_path / "report").exists()


def test_symlink_loop_as_directory_exits_2(tmp_path, capsys):
    line = _one_line_error(capsys, report_main([str(_loop(tmp_path / "loop"))]))
    assert "symbolic link loop" in line


def test_out_naming_a_file_or_a_loop_exits_2(tmp_path, capsys):
    make_run(tmp_path / "sweep" / "0", "rnn", 10, 0)
    (tmp_path / "out.txt").write_text("keep me")
    line = _one_line_error(
        capsys, report_main([str(tmp_path / "sweep"), "--out", str(tmp_path / "out.txt")])
    )
    assert "--out" in line and "not a directory" in line
    assert (tmp_path / "out.txt").read_text() == "keep me"
    loop = _loop(tmp_path / "outloop")
    line = _one_line_error(capsys, report_main([str(tmp_path / "sweep"), "--out", str(loop / "x")]))
    assert "symbolic link loop" in line


def test_read_only_out_exits_2(tmp_path, capsys):
    if os.geteuid() == 0:
        pytest.skip("root writes anywhere")
    make_run(tmp_path / "sweep" / "0", "rnn", 10, 0)
    ro = tmp_path / "ro"
    ro.mkdir()
    ro.chmod(0o555)
    try:
        line = _one_line_error(
            capsys, report_main([str(tmp_path / "sweep"), "--out", str(ro / "r")])
        )
        assert "not writable" in line
    finally:
        ro.chmod(0o755)


def test_gradients_command_bad_paths_exit_2(tmp_path, capsys):
    (tmp_path / "f.txt").write_text("x")
    for bad in (tmp_path / "absent", tmp_path / "f.txt", _loop(tmp_path / "loop")):
        _one_line_error(capsys, report_main(["gradients", str(bad)]))


def test_symlink_loop_inside_a_sweep_is_not_followed(tmp_path):
    make_run(tmp_path / "sweep" / "0", "rnn", 10, 0)
    os.symlink("..", tmp_path / "sweep" / "0" / "up")  # a cycle through the tree
    _loop(tmp_path / "sweep" / "self")
    assert report_main([str(tmp_path / "sweep"), "--out", str(tmp_path / "out")]) == 0
    assert len(pd.read_csv(tmp_path / "out" / "runs.csv")) == 1


# --------------------------------------------------------------------------------- values


def _summary(run: Path, **changes) -> None:
    s = json.loads((run / "summary.json").read_text())
    s.update(changes)
    (run / "summary.json").write_text(json.dumps(s))


@pytest.mark.parametrize(
    "key, value, shown",
    [
        ("final_eval_loss", "0.5", 'final_eval_loss = "0.5" is not a number'),
        ("solved", 1, "solved = 1 is not true or false"),
        ("seq_len", 10.5, "seq_len = 10.5 is not an integer"),
        ("baseline_loss", True, "baseline_loss = true is not a number"),
        ("final_eval", {"loss": "low"}, 'final_eval.loss = "low" is not a number'),
    ],
)
def test_wrong_typed_summary_values_are_reported(tmp_path, capsys, key, value, shown):
    run = make_run(tmp_path / "sweep" / "0", "lstm", 10, 0, solved=True)
    make_run(tmp_path / "sweep" / "1", "lstm", 10, 1, solved=True)
    _summary(run, **{key: value})
    sweep = load([tmp_path / "sweep"])
    assert [(p.path.name, p.reason, p.action) for p in sweep.problems] == [
        ("summary.json", shown, "value ignored")
    ]
    # the run stays in the table and in the verdict's count, with its status
    assert sweep.runs["status"].tolist() == ["completed", "completed"]
    path, _ = build([tmp_path / "sweep"], tmp_path / "out")
    finals = pd.read_csv(tmp_path / "out" / "final_vs_length.csv")
    assert finals["n_runs"].tolist() == [2]
    assert shown in path.read_text()
    line = _one_line_error(capsys, report_main([str(tmp_path / "sweep"), "--strict"]), 1)
    assert shown in line


def test_huge_summary_is_refused_without_reading_it(tmp_path, capsys):
    run = make_run(tmp_path / "sweep" / "0", "rnn", 10, 0)
    with open(run / "summary.json", "r+b") as f:
        f.truncate(2 << 30)  # 2 GiB, sparse: costs nothing to make, 20 s to read whole
    t0 = time.perf_counter()
    sweep = load([tmp_path / "sweep"])
    assert time.perf_counter() - t0 < 10
    assert sweep.runs["status"].tolist() == ["unreadable"]
    (problem,) = sweep.problems
    assert f"over the {MAX_TEXT_BYTES}-byte limit" in problem.reason
    assert report_main([str(tmp_path / "sweep"), "--out", str(tmp_path / "out")]) == 0
    warnings = [ln for ln in capsys.readouterr().err.splitlines() if ln.startswith("WARNING")]
    assert len(warnings) == 1 and "byte limit" in warnings[0]


# --------------------------------------------------------------------------------- blow-ups


def test_a_blown_up_run_is_never_at_the_baseline(tmp_path):
    """The issue's run: completed, eval loss 1.6e13 against a baseline of 0.167; and a cell whose
    every seed diverged. Both are blow-ups in the verdict, neither 'stayed at the baseline'."""
    for seed in (0, 1):
        make_run(tmp_path / "s" / f"rnn{seed}", "rnn", 10, seed, final=1.6e13)
        make_run(tmp_path / "s" / f"gru{seed}", "gru", 10, seed, status="diverged")
        make_run(tmp_path / "s" / f"lstm{seed}", "lstm", 10, seed, final=copy_baseline(10))
    path, _ = build([tmp_path / "s"], tmp_path / "out")
    verdict = path.read_text().split("## Figures")[0]
    assert (
        "`rnn`: blew up (final loss >= 10x the baseline and the first eval loss) at T = 10."
        in verdict
    )
    assert "`gru`: blew up (diverged) at T = 10." in verdict
    assert "`lstm`: stayed at the memoryless baseline at T = 10" in verdict
    finals = pd.read_csv(tmp_path / "out" / "final_vs_length.csv").set_index("variant")
    assert finals.loc["rnn", "n_blowup"] == 2 and pd.isna(finals.loc["rnn", "loss_mean"])


def test_an_untrained_run_far_above_a_small_baseline_is_not_a_blow_up(tmp_path):
    """The first eval loss (ln 10 here) is 24x the copy baseline at T = 200 (0.0945): ending
    near it is no blow-up (the run never learned), though it is 10x above the baseline."""
    for seed in (0, 1):
        make_run(tmp_path / "s" / f"r{seed}", "rnn", 200, seed, final=2.3)
    path, _ = build([tmp_path / "s"], tmp_path / "out")
    assert "`rnn`: ended above the memoryless baseline at T = 200" in path.read_text()


def test_a_cell_with_some_seeds_blown_up_says_so(tmp_path):
    make_run(tmp_path / "s" / "a", "rnn", 10, 0, final=copy_baseline(10))
    make_run(tmp_path / "s" / "b", "rnn", 10, 1, status="diverged")
    path, _ = build([tmp_path / "s"], tmp_path / "out")
    text = path.read_text()
    assert "stayed at the memoryless baseline at T = 10 (loss/baseline 1.00)" in text
    assert "1/2 seeds blew up at T = 10" in text
