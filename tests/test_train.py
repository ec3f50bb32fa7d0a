"""The training loop: the files a run writes, bit-identical reruns, divergence, failures."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
import yaml

from rnnbench import io as rio
from rnnbench import runs, train
from rnnbench.config import config_hash, resolved
from rnnbench.network import Network
from rnnbench.tasks import make_task

RUN_FILES = (runs.CONFIG_FILE, runs.METRICS_FILE, runs.ENVIRONMENT_FILE, runs.SUMMARY_FILE)
TRAIN_METRICS = {"loss", "grad_norm", "grad_norm_max", "grad_norm_clipped", "lr"}


def test_run_writes_every_file_with_its_schema(tmp_path, tiny_cfg):
    cfg = tiny_cfg()
    summary = train.run(cfg, tmp_path)
    assert runs.missing_files(tmp_path, RUN_FILES) == []
    assert not [p for p in tmp_path.iterdir() if p.name.endswith(".tmp")]

    df = pd.read_parquet(tmp_path / runs.METRICS_FILE)
    assert list(df.columns) == list(runs.METRIC_COLUMNS)
    ev = df[df.split == "eval"]
    assert sorted(set(ev.step)) == [0, 5, 10, 12]  # initial, every eval_every, final
    assert set(ev.metric) == {"loss", "accuracy"}
    tr = df[df.split == "train"]
    assert sorted(set(tr.step)) == [3, 6, 9, 12]
    assert set(tr.metric) == TRAIN_METRICS
    assert np.isfinite(df.value).all()

    on_disk = rio.read_json(tmp_path / runs.SUMMARY_FILE)  # strict: rejects NaN/Infinity tokens
    assert on_disk == rio.to_jsonable(summary)
    assert set(runs.required_keys()) <= set(on_disk)
    task = make_task("copy", seq_len=5)
    assert on_disk["status"] == "completed" and on_disk["steps"] == 12
    assert (on_disk["cell"], on_disk["task"], on_disk["seq_len"]) == ("lstm", "copy", 5)
    assert on_disk["baseline_loss"] == pytest.approx(task.baseline_loss)
    last_eval = ev[(ev.step == 12) & (ev.metric == "loss")].value.item()
    assert on_disk["final_eval_loss"] == last_eval
    assert on_disk["config_hash"] == config_hash(cfg)
    assert on_disk["steps_per_s"] > 0 and on_disk["wall_time_s"] > 0
    assert on_disk["diverged_step"] is None and on_disk["cause"] is None

    assert yaml.safe_load((tmp_path / runs.CONFIG_FILE).read_text()) == resolved(cfg)
    env = rio.read_json(tmp_path / runs.ENVIRONMENT_FILE)
    assert env["threads"]["numba"] == cfg.threads
    assert all(lib["num_threads"] == cfg.threads for lib in env["threads"]["blas"])


@pytest.mark.parametrize(
    "extra",
    [
        ["model=rnn", "optim=sgd", "clip.method=norm"],
        ["model=gru", "optim=rmsprop", "clip.method=value"],
        ["model=gru", "model.reset_after=false", "model.dtype=float32"],
        ["task=adding", "task.seq_len=6", "model.num_layers=2"],
        ["task=temporal_order", "task.seq_len=10", "model.chrono_tmax=10"],
    ],
    ids=["rnn-sgd", "gru-rmsprop", "gru-before-f32", "adding-2layers", "temporal-chrono"],
)
def test_cells_tasks_and_optimisers_run(tmp_path, tiny_cfg, extra):
    summary = train.run(tiny_cfg(*extra), tmp_path)
    assert summary["status"] == "completed"
    assert np.isfinite(summary["final_eval_loss"])


def test_same_config_seed_threads_bit_identical(tmp_path, tiny_cfg):
    frames = []
    for name, seed in (("a", 0), ("b", 0), ("c", 1)):
        train.run(tiny_cfg(f"seed={seed}"), tmp_path / name)
        frames.append(pd.read_parquet(tmp_path / name / runs.METRICS_FILE))
    a, b, c = frames
    pd.testing.assert_frame_equal(a, b, check_exact=True)
    assert a.value.to_numpy().tobytes() == b.value.to_numpy().tobytes()
    assert not np.array_equal(a.value, c.value)


def test_grad_norm_threshold_stops_as_diverged(tmp_path, tiny_cfg):
    summary = train.run(tiny_cfg("train.diverge_grad_norm=1e-12"), tmp_path)
    assert summary["status"] == "diverged"
    assert summary["diverged_step"] == 1 and summary["steps"] == 0
    assert "train.diverge_grad_norm" in summary["cause"]
    assert summary["solved"] is False
    assert runs.read_summary(tmp_path)["status"] == "diverged"


def test_nan_loss_stops_as_diverged(tmp_path, tiny_cfg, monkeypatch):
    task_cls = type(make_task("copy", seq_len=5))
    calls = {"n": 0}
    real = task_cls.loss

    def loss(self, y, batch):
        value, dy = real(self, y, batch)
        if y.shape[1] == 4:  # training batches only (eval batches have 8 sequences)
            calls["n"] += 1
            if calls["n"] == 4:
                return float("nan"), dy
        return value, dy

    monkeypatch.setattr(task_cls, "loss", loss)
    summary = train.run(tiny_cfg(), tmp_path)
    assert (summary["status"], summary["diverged_step"]) == ("diverged", 4)
    assert summary["cause"] == "loss is nan"
    assert "NaN" not in (tmp_path / runs.SUMMARY_FILE).read_text()


def test_nan_gradient_never_reaches_the_parameters(tmp_path, tiny_cfg, monkeypatch):
    real = Network.backward

    def backward(self, cache, d_out, *args, **kw):
        grads = real(self, cache, d_out, *args, **kw)
        grads["weight_hh_l0"][0, 0] = np.nan
        return grads

    monkeypatch.setattr(Network, "backward", backward)
    summary = train.run(tiny_cfg("clip.method=norm"), tmp_path)
    assert (summary["status"], summary["diverged_step"]) == ("diverged", 1)
    assert summary["cause"] == "gradient norm is nan"
    # the final evaluation ran on the untouched parameters
    assert np.isfinite(summary["final_eval_loss"])


@pytest.mark.parametrize(
    ("exc", "status"), [(RuntimeError("boom"), "failed"), (KeyboardInterrupt(), "interrupted")]
)
def test_exceptions_are_recorded_then_raised(tmp_path, tiny_cfg, monkeypatch, exc, status):
    task_cls = type(make_task("copy", seq_len=5))
    real = task_cls.sample
    calls = {"n": 0}

    def sample(self, rng, batch_size, dtype=np.float64):
        calls["n"] += 1
        if calls["n"] == 4:  # eval set, then training steps 1, 2, then raise
            raise exc
        return real(self, rng, batch_size, dtype)

    monkeypatch.setattr(task_cls, "sample", sample)
    with pytest.raises(type(exc)):
        train.run(tiny_cfg(), tmp_path)
    summary = rio.read_json(tmp_path / runs.SUMMARY_FILE)
    assert summary["status"] == status and summary["steps"] == 2
    assert runs.missing_files(tmp_path, RUN_FILES) == []


def test_chunked_evaluation_matches_whole(tiny_cfg):
    cfg = tiny_cfg("train.eval_size=10")
    with train.thread_limits(1):
        job = train.build(cfg)
        whole = train.evaluate(job, job.eval_batch, 10)
        chunked = train.evaluate(job, job.eval_batch, 3)
    assert whole.keys() == chunked.keys()
    for k in whole:
        assert chunked[k] == pytest.approx(whole[k], rel=1e-12)


def test_thread_limits_restore():
    import numba

    before = numba.get_num_threads()
    with train.thread_limits(1):
        assert numba.get_num_threads() == 1
    assert numba.get_num_threads() == before
