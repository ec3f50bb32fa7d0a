"""The report is generic over what a task logs: any eval metric, no accuracy, other lengths."""

from __future__ import annotations

import json

import pandas as pd
from test_report import make_run

from rnnbench.report import build


def _summary(run, **changes):
    s = json.loads((run / "summary.json").read_text())
    s.update(changes)
    (run / "summary.json").write_text(json.dumps(s))


def test_other_lengths_are_tabulated(tmp_path):
    for seed in (0, 1):
        run = make_run(tmp_path / "s" / f"lstm{seed}", "lstm", 10, seed, solved=True)
        length_eval = {
            "20": {
                "loss": 0.1 + seed,
                "baseline_loss": 0.5,
                "loss_vs_baseline": 0.2,
                "solved": seed == 0,
            },
            "40": {"loss": 0.45, "baseline_loss": 0.3, "loss_vs_baseline": 1.5, "solved": False},
        }
        _summary(run, length_eval=length_eval)
    path, sweep = build([tmp_path / "s"], tmp_path / "out")
    assert not sweep.problems
    table = pd.read_csv(tmp_path / "out" / "length_generalisation.csv")
    assert table["eval_seq_len"].tolist() == [20, 40]
    assert table["loss_mean"].round(9).tolist() == [0.6, 0.45]
    assert table["n_solved"].tolist() == [1, 0]
    assert table["loss_vs_baseline"].round(6).tolist() == [1.2, 1.5]
    text = path.read_text()
    assert (
        "## Other lengths" in text and "| copy | lstm | 10 | 20 | 0.6 | 0.5 | 1.2 | 1/2 |" in text
    )


def test_a_task_without_accuracy_and_with_its_own_metric(tmp_path):
    run = make_run(tmp_path / "s" / "0", "gru", 10, 0)
    m = pd.read_parquet(run / "metrics.parquet")
    m = m[m["metric"] != "accuracy"]
    extra = m[m["metric"] == "loss"].assign(metric="bits_per_symbol")
    pd.concat([m, extra]).to_parquet(run / "metrics.parquet", index=False)
    _summary(run, final_eval={"loss": 0.3, "bits_per_symbol": 0.43})
    path, sweep = build([tmp_path / "s"], tmp_path / "out")
    runs = pd.read_csv(tmp_path / "out" / "runs.csv")
    assert runs["final_eval_bits_per_symbol"].tolist() == [0.43]
    assert runs["final_eval_accuracy"].isna().all()
    assert (tmp_path / "out" / "final_vs_length.png").is_file()
    assert "`gru`:" in path.read_text()
    assert "## Other lengths" not in path.read_text()


def test_time_on_the_baseline_is_tabulated(tmp_path):
    for seed, (below90, solved) in enumerate(((100, 300), (200, None))):
        run = make_run(tmp_path / "s" / f"gru{seed}", "gru", 10, seed, solved=solved is not None)
        _summary(run, steps_below_90pct_baseline=below90, steps_to_solve=solved)
    path, _ = build([tmp_path / "s"], tmp_path / "out")
    table = pd.read_csv(tmp_path / "out" / "time_on_baseline.csv")
    assert table["steps_below_90pct_baseline_median"].tolist() == [150]
    assert table["steps_to_solve_n"].tolist() == [1]
    assert "| copy | gru | 10 | 150 (2/2) | 300 (1/2) |" in path.read_text()
