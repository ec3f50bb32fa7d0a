"""The training features wired into a run: lr schedules (logged, resumed), truncated BPTT,
stop when solved with its milestones, and evaluation at other lengths."""

from __future__ import annotations

import os
import signal

import numpy as np
import pandas as pd
import pytest
from conftest import TINY, compose_config
from test_checkpoint import assert_same_results, hook_step

from rnnbench import lengths, runs, train
from rnnbench.tasks.adding import AddingTask


def _train_rows(run_dir, metric):
    df = pd.read_parquet(run_dir / runs.METRICS_FILE)
    rows = df[(df.split == "train") & (df.metric == metric)]
    return dict(zip(rows.step.tolist(), rows.value.tolist(), strict=True))


def test_lr_of_each_logged_step_follows_the_schedule(tmp_path):
    cfg = compose_config([*TINY, "optim.lr=0.01", "sched=step", "sched.step_size=4"])
    train.run(cfg, tmp_path)
    lr = _train_rows(tmp_path, "lr")  # the lr used at steps 3, 6, 9, 12 (StepLR, gamma 0.5)
    assert lr == {s: 0.01 * 0.5 ** ((s - 1) // 4) for s in (3, 6, 9, 12)}


def test_cosine_warmup_starts_low_and_plateau_reduces_on_stalled_eval(tmp_path):
    cfg = compose_config([*TINY, "optim.lr=0.01", "sched=cosine", "sched.warmup_steps=6"])
    train.run(cfg, tmp_path / "cos")
    lr = _train_rows(tmp_path / "cos", "lr")
    assert lr[3] < lr[6] and lr[12] < lr[9] < 0.01
    # plateau, patience 0, a threshold no later loss can meet: the first evaluation after
    # training (step 5) sets the best, the next (step 10) does not improve on it: lr / 4
    plateau = ["sched=plateau", "sched.patience=0", "sched.threshold=0.999"]
    train.run(compose_config([*TINY, "optim.lr=0.01", *plateau]), tmp_path / "p")
    lr = _train_rows(tmp_path / "p", "lr")
    assert lr == {3: 0.01, 6: 0.01, 9: 0.01, 12: 0.0025}


SCHED_CKPT = [*TINY, "optim.lr=0.05", "train.checkpoint_every=4", "diagnostics.every=4"]


@pytest.mark.parametrize(
    "sched",
    [
        ["sched=cosine", "sched.warmup_steps=5", "sched.T_max=12"],
        ["sched=plateau", "sched.patience=0", "sched.factor=0.5", "sched.threshold=0.999"],
    ],
    ids=["cosine-warmup", "plateau"],
)
def test_schedule_survives_interrupt_and_resume_bit_identically(tmp_path, monkeypatch, sched):
    cfg = compose_config([*SCHED_CKPT, *sched])
    ref = tmp_path / "ref"
    train.run(cfg, ref)
    got = tmp_path / "got"
    with monkeypatch.context() as mp:
        hook_step(mp, 7, lambda: os.kill(os.getpid(), signal.SIGINT))
        with pytest.raises(train.Interrupted):
            train.run(cfg, got)
    assert train.run(cfg, got)["status"] == "completed"
    assert_same_results(ref, got)
    assert len(set(_train_rows(ref, "lr").values())) > 1  # the schedule did change the lr


def test_tbptt_covering_the_sequence_is_the_full_run_and_shorter_is_not(tmp_path):
    base = [*TINY, "task=adding", "task.seq_len=6", "diagnostics.every=4"]
    train.run(compose_config(base), tmp_path / "full")
    train.run(compose_config([*base, "train.tbptt=6"]), tmp_path / "k6")
    for name in (runs.METRICS_FILE, "grad_norms.parquet", "diagnostics.parquet"):
        a, b = (pd.read_parquet(tmp_path / d / name) for d in ("full", "k6"))
        pd.testing.assert_frame_equal(a, b, check_exact=True, obj=name)
    train.run(compose_config([*base, "train.tbptt=2"]), tmp_path / "k2")
    g = pd.read_parquet(tmp_path / "k2" / "grad_norms.parquet")
    first = g[g.step == g.step.min()].sort_values("t")
    assert (first.norm[first.t <= 4] == 0).all() and (first.norm[first.t > 4] > 0).all()
    full, cut = (_train_rows(tmp_path / d, "grad_norm") for d in ("full", "k2"))
    assert full[3] != cut[3]


def test_stop_when_solved_ends_at_the_first_solved_evaluation(tmp_path, monkeypatch):
    """A criterion every evaluation after step 0 meets: the run stops at the first one."""
    monkeypatch.setattr(AddingTask, "solve_threshold", 1e9)
    base = [*TINY, "task=adding", "task.seq_len=6"]
    s = train.run(compose_config([*base, "train.stop_when_solved=true"]), tmp_path / "stop")
    assert s["status"] == "completed" and s["solved"]
    assert s["steps"] == 0 and s["steps_to_solve"] == 0  # the untrained network meets it
    monkeypatch.setattr(AddingTask, "solve_threshold", -1.0)  # never solved: runs to the end
    s = train.run(compose_config([*base, "train.stop_when_solved=true"]), tmp_path / "never")
    assert s["steps"] == 12 and s["steps_to_solve"] is None


def test_stop_when_solved_mid_run_and_milestones(tmp_path, monkeypatch):
    """Solved once the loss falls below the loss at step 5: the run stops at an evaluation
    after step 0, writes its last train row, and the summary's milestones agree."""
    first = {}

    def solved(self, metrics):
        first.setdefault("loss", metrics["loss"])
        return metrics["loss"] < first["loss"]

    monkeypatch.setattr(AddingTask, "solved", solved)
    cfg = compose_config(
        [*TINY, "task=adding", "task.seq_len=4", "optim.lr=0.05", "train.steps=60"]
        + ["train.stop_when_solved=true"]
    )
    s = train.run(cfg, tmp_path)
    assert 0 < s["steps"] < 60 and s["steps"] % 5 == 0
    assert s["steps_to_solve"] == s["steps"]
    assert max(_train_rows(tmp_path, "loss")) == s["steps"]  # the last window was logged
    assert s["steps_below_90pct_baseline"] is None or s["steps_below_90pct_baseline"] >= 0


def test_length_generalisation_rows_and_summary(tmp_path):
    cfg = compose_config([*TINY, "task=adding", "task.seq_len=6", "eval.seq_lens=[3,12]"])
    s = train.run(cfg, tmp_path)
    df = pd.read_parquet(tmp_path / runs.METRICS_FILE)
    for T in (3, 12):
        rows = df[df.split == lengths.split_name(T)]
        assert set(rows.step) == {12}
        assert set(rows.metric) == {"loss", "accuracy", "baseline_loss", "solved"}
        got = s["length_eval"][str(T)]
        assert got["loss"] == rows[rows.metric == "loss"].value.item()
        assert got["baseline_loss"] == pytest.approx(1 / 6)
    assert s["length_eval"]["3"]["loss"] != s["length_eval"]["12"]["loss"]
    # its own random stream: the training and the held-out set at T are untouched
    ref = train.run(compose_config([*TINY, "task=adding", "task.seq_len=6"]), tmp_path / "ref")
    assert ref["final_eval_loss"] == s["final_eval_loss"]
    assert np.isfinite(s["length_eval"]["12"]["loss"])
