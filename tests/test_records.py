"""Run records: atomic writes, strict JSON, npz without pickles, the metric table, the summary."""

from __future__ import annotations

import json
import math
import os

import numpy as np
import pandas as pd
import pytest

from rnnbench import io as rio
from rnnbench import runs


def test_atomic_write_replaces_and_leaves_no_temp(tmp_path):
    path = tmp_path / "sub" / "f.txt"
    rio.write_text(path, "one")
    rio.write_text(path, "two")
    assert path.read_text() == "two"
    assert os.listdir(path.parent) == ["f.txt"]
    assert (path.stat().st_mode & 0o777) == rio.FILE_MODE


def test_failed_write_keeps_old_file(tmp_path, monkeypatch):
    path = tmp_path / "f.json"
    rio.write_json(path, {"a": 1})

    def boom(src, dst):
        raise OSError("disk full")

    monkeypatch.setattr(rio.os, "replace", boom)
    with pytest.raises(OSError, match="disk full"):
        rio.write_json(path, {"a": 2})
    assert rio.read_json(path) == {"a": 1}
    assert os.listdir(tmp_path) == ["f.json"]


def test_json_is_strict(tmp_path):
    obj = {
        "nan": math.nan,
        "inf": -math.inf,
        "np": np.float32(np.inf),
        "ok": np.float64(0.5),
        "i": np.int64(3),
        "arr": np.array([1.0, np.nan]),
        "nested": [{"x": float("nan")}],
    }
    path = rio.write_json(tmp_path / "s.json", obj)
    text = path.read_text()
    for token in ("NaN", "Infinity"):
        assert token not in text
    data = json.loads(text, parse_constant=lambda t: pytest.fail(t))
    assert data == {
        "nan": None,
        "inf": None,
        "np": None,
        "ok": 0.5,
        "i": 3,
        "arr": [1.0, None],
        "nested": [{"x": None}],
    }
    (tmp_path / "bad.json").write_text('{"a": NaN}')
    with pytest.raises(ValueError, match="NaN"):
        rio.read_json(tmp_path / "bad.json")


def test_npz_round_trip_without_pickles(tmp_path):
    arrays = {"w": np.arange(6.0).reshape(2, 3), "step": np.asarray(7, dtype=np.int64)}
    rio.write_npz(tmp_path / "c.npz", arrays)
    back = rio.read_npz(tmp_path / "c.npz")
    assert back.keys() == arrays.keys()
    for k in arrays:
        np.testing.assert_array_equal(back[k], arrays[k])
    with pytest.raises(TypeError, match="object"):
        rio.write_npz(tmp_path / "o.npz", {"o": np.array([{}], dtype=object)})
    assert not (tmp_path / "o.npz").exists()


def test_metric_table_schema(tmp_path):
    log = runs.MetricLog()
    assert list(log.frame().columns) == list(runs.METRIC_COLUMNS)
    log.add(0, "eval", {"loss": 1.5, "accuracy": 0.25})
    log.add(10, "train", {"loss": np.float32(np.nan)})
    log.write(tmp_path)
    df = pd.read_parquet(tmp_path / runs.METRICS_FILE)
    assert list(df.columns) == ["step", "split", "metric", "value"]
    assert df["step"].dtype == np.int64 and df["value"].dtype == np.float64
    assert df["metric"].tolist() == ["loss", "accuracy", "loss"]
    assert df["split"].tolist() == ["eval", "eval", "train"]
    assert math.isnan(df["value"].iloc[2])


def _summary(**kw):
    s = {k: None for k in runs.required_keys()}
    s.update(status="completed", config_hash="abc", final_eval_loss=math.nan)
    s.update(kw)
    return s


def test_summary_requires_keys_and_status(tmp_path):
    with pytest.raises(ValueError, match="lacks"):
        runs.write_summary(tmp_path, {"status": "completed"})
    with pytest.raises(ValueError, match="status"):
        runs.write_summary(tmp_path, _summary(status="done"))
    runs.write_summary(tmp_path, _summary())
    assert runs.read_summary(tmp_path)["final_eval_loss"] is None


def test_finished_matches_status_and_hash(tmp_path):
    assert runs.finished_summary(tmp_path, "abc") is None  # nothing there
    (tmp_path / runs.SUMMARY_FILE).write_text('{"status": "comp')  # truncated
    assert runs.finished_summary(tmp_path, "abc") is None
    runs.write_summary(tmp_path, _summary())
    assert runs.finished_summary(tmp_path, "abc")["status"] == "completed"
    assert runs.finished_summary(tmp_path, "other") is None
    runs.write_summary(tmp_path, _summary(status="diverged"))
    # deterministic: not rerun
    assert runs.finished_summary(tmp_path, "abc")["status"] == "diverged"
    for status in ("failed", "interrupted"):
        runs.write_summary(tmp_path, _summary(status=status))
        assert runs.finished_summary(tmp_path, "abc") is None


def test_environment_record(tmp_path):
    runs.write_environment(tmp_path, {"config_hash": "abc"})
    env = rio.read_json(tmp_path / runs.ENVIRONMENT_FILE)
    assert env["config_hash"] == "abc"
    assert env["packages"]["numpy"] == np.__version__
    assert env["threads"]["numba"] >= 1 and isinstance(env["threads"]["blas"], list)
    assert env["python"].count(".") == 2
    assert "floating_point" in env and "git" in env
    if env["git"] is not None:
        assert len(env["git"]["commit"]) == 40
