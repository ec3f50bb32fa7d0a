"""Gradient diagnostics: exact answers on an orthogonal tanh RNN, logged rows against the kernels'
backward, non-finite values as null + flag, spectral radii, and the figures."""

import math
import warnings

import numpy as np
import pandas as pd
import pytest
from cells import IDS, VARIANTS

from rnnbench import Network
from rnnbench import diagnostics as D
from rnnbench.cells import CELL_SPECS
from rnnbench.init import orthogonal

T, H = 50, 16


def orthogonal_rnn(s, B=3, seed=0):
    """tanh RNN, zero biases, W_hh = s Q, run on zero input from h_0 = 0: h_t = 0 for all t."""
    net = Network("rnn", 2, H, seed=seed)
    net.params["bias_ih_l0"][:] = 0.0
    net.params["bias_hh_l0"][:] = 0.0
    net.params["weight_hh_l0"][:] = s * orthogonal(np.random.default_rng(seed + 1), H)
    _, cache = net.forward(np.zeros((T, B, 2)))
    assert not np.any(cache.h_n)
    return net, cache


@pytest.mark.parametrize("s", [0.9, 1.1])
def test_orthogonal_rnn_norms_are_exactly_geometric(s):
    """At h = 0, tanh' = 1 and dh_{t-1} = dh_t (s Q): ||dL/dh_t|| = ||dL/dh_T|| s^(T-t)."""
    net, cache = orthogonal_rnn(s)
    B = cache.h_n.shape[1]
    dh_n = np.random.default_rng(5).standard_normal((1, B, H))
    net.backward(cache, np.zeros((T, B, H)), dh_n=dh_n)
    t = np.arange(1, T + 1)
    expected = np.linalg.norm(dh_n) * s ** (T - t)
    np.testing.assert_allclose(cache.dh_norms[0], expected, rtol=1e-10, atol=0)
    # the same through the loss at the last step instead of dh_n
    d_out = np.zeros((T, B, H))
    d_out[-1] = dh_n[0]
    net.backward(cache, d_out)
    np.testing.assert_allclose(cache.dh_norms[0], expected, rtol=1e-10, atol=0)
    # and the logged rows carry it, with t = 1..T
    rows = pd.DataFrame(D.grad_norm_rows(7, cache.dh_norms))
    assert list(rows.columns) == list(D.GRAD_NORM_COLUMNS)
    assert rows["t"].tolist() == t.tolist() and rows["finite"].all()
    np.testing.assert_allclose(rows["norm"], expected, rtol=1e-10, atol=0)
    slope, _, n = D.fit_log_slope(T - t, rows["norm"])
    assert n == T and slope == pytest.approx(math.log(s), rel=1e-10)


@pytest.mark.parametrize("s", [0.9, 1.1])
def test_jacobian_estimator_is_exact_on_the_orthogonal_rnn(s):
    net, cache = orthogonal_rnn(s)
    norms = D.jacobian_norms(net, cache, np.random.default_rng(3), num_vectors=3)
    t = np.arange(1, T + 1)
    assert norms.shape == (1, T)
    np.testing.assert_allclose(norms[0], s ** (T - t), rtol=1e-10, atol=0)
    rows = pd.DataFrame(D.jacobian_rows(0, norms))
    assert set(rows["quantity"]) == {"jacobian_norm"} and rows["finite"].all()
    np.testing.assert_allclose(rows.sort_values("t")["value"], s ** (T - t), rtol=1e-10)


def test_jacobian_estimator_is_reproducible_from_the_generator():
    net = Network("lstm", 3, 5, num_layers=2, seed=0)
    _, cache = net.forward(np.random.default_rng(0).standard_normal((8, 4, 3)))
    a = D.jacobian_norms(net, cache, np.random.default_rng(1), 2)
    b = D.jacobian_norms(net, cache, np.random.default_rng(1), 2)
    assert a.shape == (2, 8) and np.array_equal(a, b)
    assert a[1, -1] == pytest.approx(1.0, rel=1e-12)  # dh_T/dh_T = I: RMS gain 1


def _split_layers(net):
    """Two one-layer networks holding layer 0 and layer 1 of a two-layer `net`."""
    opts = {"nonlinearity": net.nonlinearity} if net.cell == "rnn" else {}
    if net.cell == "gru":
        opts = {"reset_after": net.reset_after}
    nets = []
    for k in range(2):
        n = Network(net.cell, net.input_size if k == 0 else H_SMALL, H_SMALL, **opts)
        for name in ("weight_ih", "weight_hh", "bias_ih", "bias_hh"):
            n.params[f"{name}_l0"][:] = net.params[f"{name}_l{k}"]
        nets.append(n)
    return nets


H_SMALL = 4


@pytest.mark.parametrize("cell,opt", VARIANTS, ids=IDS)
def test_logged_rows_equal_norms_from_the_kernels_gradients(cell, opt):
    """||dL/dh^k_t|| rebuilt from `grads` of separate backward calls: the part reaching h^k_t
    from step t (d_out, or the layer above's dL/dx_t) plus dL/dh_0 of the same layer restarted
    from h^k_t on the remaining steps."""
    T_, B, I_ = 7, 3, 2
    rng = np.random.default_rng(11)
    net = Network(cell, I_, H_SMALL, num_layers=2, seed=3, **opt)
    x = rng.standard_normal((T_, B, I_))
    d_out = rng.standard_normal((T_, B, H_SMALL))
    _, cache = net.forward(x)
    grads = net.backward(cache, d_out)
    rec = D.Recorder(net, every=1, rng=np.random.default_rng(0), jacobian_vectors=0)
    rec.after_backward(0, cache, grads)
    logged = rec.frames()[0]
    assert len(logged) == 2 * T_

    net0, net1 = _split_layers(net)
    out0, c0 = net0.forward(x)
    out0 = np.ascontiguousarray(out0)
    out1, c1 = net1.forward(out0)
    g1 = net1.backward(c1, d_out)
    direct = {1: d_out, 0: g1["x"]}  # gradient reaching h^k_t at step t from outside the layer
    states = {0: (net0, x, out0, c0), 1: (net1, out0, out1, c1)}
    for k in (0, 1):
        sub, inp, out, _ = states[k]
        for t in range(1, T_ + 1):
            dh = direct[k][t - 1].copy()
            if t < T_:
                h_t = out[t - 1][None].copy()
                kw = {}
                if cell == "lstm":
                    # c_t of the one-layer network: rerun on the prefix to get it
                    _, pre = sub.forward(np.ascontiguousarray(inp[:t]))
                    kw["c0"] = pre.c_n.copy()
                _, c_sub = sub.forward(np.ascontiguousarray(inp[t:]), h0=h_t, **kw)
                g_sub = sub.backward(c_sub, np.ascontiguousarray(direct[k][t:]))
                dh += g_sub["h0"][0]
            row = logged[(logged["layer"] == k) & (logged["t"] == t)]
            assert len(row) == 1 and bool(row["finite"].iloc[0])
            assert float(row["norm"].iloc[0]) == pytest.approx(np.linalg.norm(dh), rel=1e-12)


def test_recorder_leaves_training_gradients_and_norms_untouched():
    net = Network("gru", 2, 5, seed=0)
    rng = np.random.default_rng(0)
    _, cache = net.forward(rng.standard_normal((6, 3, 2)))
    grads = net.backward(cache, rng.standard_normal((6, 3, 5)))
    saved = {k: v.copy() for k, v in grads.items()}
    norms = cache.dh_norms.copy()
    rec = D.Recorder(net, every=1, rng=np.random.default_rng(1), jacobian_vectors=3)
    rec.after_backward(0, cache, grads)
    rec.after_clip(0, 2.0, 1.0)
    assert all(np.array_equal(grads[k], saved[k]) for k in grads)
    assert np.array_equal(cache.dh_norms, norms)
    _, diag = rec.frames()
    assert set(D.QUANTITIES) == set(diag["quantity"])
    assert list(diag.columns) == list(D.DIAGNOSTIC_COLUMNS)


def test_recorder_logs_first_every_and_last_step_and_counts_clipping_in_between():
    net = Network("rnn", 2, 3, seed=0)
    rng = np.random.default_rng(0)
    rec = D.Recorder(net, every=4, rng=rng, jacobian_vectors=1, time_bins=2, last_step=9)
    for step in range(1, 10):
        _, cache = net.forward(rng.standard_normal((5, 2, 2)))
        grads = net.backward(cache, rng.standard_normal((5, 2, 3)))
        rec.after_backward(step, cache, grads)
        rec.after_clip(step, 2.0 + step, 1.0 if step % 2 else 2.0 + step)  # odd steps clipped
    gn, diag = rec.frames()
    assert sorted(set(gn["step"])) == [1, 4, 8, 9]
    frac = diag[diag["quantity"] == "clip_fraction"].set_index("step")["value"]
    assert frac.to_dict() == pytest.approx({1: 1.0, 4: 1 / 3, 8: 0.5, 9: 1.0})
    peak = diag[diag["quantity"] == "grad_norm_before_clip_max"].set_index("step")["value"]
    assert peak.to_dict() == {1: 3.0, 4: 6.0, 8: 10.0, 9: 11.0}
    gates = diag[diag["quantity"] == "gate_mean"]
    assert sorted(set(gates["t"])) == [1, 4]  # bins [1, 2] and [3, 5]: (first + last) // 2
    assert set(diag.loc[diag["quantity"] == "param_grad_norm", "name"]) == set(net.params)
    off = D.Recorder(net, every=0, rng=rng)
    off.after_backward(0, cache, grads)
    off.after_clip(0, math.nan, math.nan)
    assert len(off.grad_norms) == 0 and len(off.diagnostics) == 0


def test_gate_statistics_on_known_activations():
    T_, B, H_ = 4, 2, 5
    gates = np.empty((T_, B, 3 * H_))
    gates[..., :H_] = 0.5  # r: mean 0.5, never saturated
    gates[..., H_ : 2 * H_] = 0.99  # z: saturated everywhere
    gates[..., 2 * H_ :] = np.linspace(-1, 1, H_)  # n: |.| > 0.95 at the two ends
    stats = D.gate_statistics("gru", gates)
    t, mean, frac = stats["r"]
    assert t.tolist() == [1, 2, 3, 4] and np.allclose(mean, 0.5) and not frac.any()
    assert np.allclose(stats["z"][2], 1.0) and np.allclose(stats["z"][1], 0.99)
    assert np.allclose(stats["n"][2], 2 / 5) and np.allclose(stats["n"][1], 0.0)


def test_non_finite_values_become_null_with_a_flag_without_raising(tmp_path):
    net = Network("lstm", 2, 4, seed=0)
    rng = np.random.default_rng(0)
    rec = D.Recorder(net, every=100, rng=np.random.default_rng(1), jacobian_vectors=2)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        _, cache = net.forward(rng.standard_normal((6, 3, 2)))
        grads = net.backward(cache, rng.standard_normal((6, 3, 4)))
        rec.after_backward(1, cache, grads)  # the first step: logged, finite
        rec.after_clip(1, 1.0, 1.0)
        net.params["weight_hh_l0"][0, 0] = np.nan
        net.params["bias_ih_l0"][1] = np.inf
        _, cache = net.forward(rng.standard_normal((6, 3, 2)))
        grads = net.backward(cache, rng.standard_normal((6, 3, 4)))
        assert not np.isfinite(cache.dh_norms).all()
        rec.after_backward(3, cache, grads)  # not a logging step, but non-finite: logged
        rec.after_clip(3, math.nan, math.nan)
        rec.after_clip(4, math.inf, math.inf)
        rows = D.clip_rows(5, math.inf, -math.inf) + D.clip_rows(5, 1e400, 1.0)
        gn, diag = rec.frames()
    assert sorted(set(gn["step"])) == [1, 3] and len(gn) == 12
    assert gn.loc[gn["step"] == 1, "finite"].all() and not gn.loc[gn["step"] == 3, "finite"].all()
    assert gn.loc[~gn["finite"], "norm"].isna().all() and gn.loc[gn["finite"], "norm"].notna().all()
    bad = diag[~diag["finite"]]
    assert len(bad) > 0 and bad["value"].isna().all() and set(bad["step"]) == {3, 4}
    assert {"spectral_radius", "jacobian_norm", "gate_mean", "grad_norm_before_clip"} <= set(
        bad["quantity"]
    )
    assert sorted(set(diag.loc[diag["quantity"] == "grad_norm_before_clip", "step"])) == [1, 3, 4]
    assert [r["value"] for r in rows] == [None, None, None, 1.0]
    assert [r["finite"] for r in rows] == [False, False, False, True]
    # parquet keeps them as nulls
    gn.to_parquet(tmp_path / "g.parquet")
    diag.to_parquet(tmp_path / "d.parquet")
    back = pd.read_parquet(tmp_path / "g.parquet")
    assert back["norm"].isna().sum() == (~gn["finite"]).sum()
    import pyarrow.parquet as pq

    assert pq.read_table(tmp_path / "d.parquet").column("value").null_count == (
        (~diag["finite"]).sum()
    )
    assert D.clean("x") == (None, False) and D.clean(np.float32(2)) == (2.0, True)


@pytest.mark.parametrize("cell", ["rnn", "lstm", "gru"])
@pytest.mark.parametrize("rho", [0.5, 1.7])
def test_spectral_radius_of_a_rescaled_network_is_reported(cell, rho):
    net = Network(cell, 3, 8, num_layers=2, seed=4, spectral_radius=rho)
    df = pd.DataFrame(D.spectral_rows(2, net))
    sr = df[df["quantity"] == "spectral_radius"]
    G = {"rnn": 1, "lstm": 4, "gru": 3}[cell]
    assert len(sr) == 2 * G and sr["finite"].all()
    np.testing.assert_allclose(sr["value"], rho, rtol=1e-10)
    if cell == "rnn":
        assert set(sr["name"]) == {"weight_hh_l0", "weight_hh_l1"}
    else:
        assert f"weight_hh_l1:{CELL_SPECS[cell].gate_names[-1]}" in set(sr["name"])
    sv = df[(df["quantity"] == "max_singular_value") & (df["name"] == "weight_hh_l1")]
    w = net.params["weight_hh_l1"]
    assert float(sv["value"].iloc[0]) == pytest.approx(np.linalg.svd(w, compute_uv=False)[0])


def _fake_run(directory, cell, steps=(0, 5, 10), diverge_at=None, seed=0):
    net = Network(cell, 2, 4, seed=seed)
    rng = np.random.default_rng(seed)
    rec = D.Recorder(net, every=5, rng=np.random.default_rng(1), time_bins=3)
    for step in range(max(steps) + 1):
        _, cache = net.forward(rng.standard_normal((12, 2, 2)))
        d_out = np.zeros((12, 2, 4))
        d_out[-1] = 1.0
        if diverge_at is not None and step >= diverge_at:
            d_out[-1] = np.inf
        with np.errstate(invalid="ignore", over="ignore"):
            grads = net.backward(cache, d_out)
        rec.after_backward(step, cache, grads)
        before = D.tensor_norm(np.concatenate([g.ravel() for g in grads.values()]))
        rec.after_clip(step, before, min(before, 0.5))
        net.params["weight_hh_l0"] *= 1.02
    directory.mkdir(parents=True)
    gn, diag = rec.frames()
    gn.to_parquet(directory / "grad_norms.parquet")
    diag.to_parquet(directory / "diagnostics.parquet")
    (directory / "summary.json").write_text(f'{{"cell": "{cell}", "status": "completed"}}')


def test_plots_are_drawn_from_the_tables(tmp_path):
    from rnnbench.report import gradients as G

    _fake_run(tmp_path / "sweep" / "0", "rnn")
    _fake_run(tmp_path / "sweep" / "1", "lstm")
    _fake_run(tmp_path / "sweep" / "2", "rnn", diverge_at=7)
    written = G.write(tmp_path / "sweep")
    names = {p.name for p in written}
    assert {"gradient_profile.png", "gradient_heatmap.png", "gradient_training.png"} <= names
    for p in written:
        assert p.parent == tmp_path / "sweep" and p.exists() and p.stat().st_size > 0
    rates = pd.read_csv(tmp_path / "sweep" / "gradient_rates.csv")
    assert len(rates) == 6 and rates["spectral_radius"].notna().all()
    # a single run: figures next to its own tables; the CLI entry point works
    assert G.main([str(tmp_path / "sweep" / "1")]) == 0
    assert (tmp_path / "sweep" / "1" / "gradient_profile.png").stat().st_size > 0
    assert G.main([str(tmp_path / "nothing")]) == 2


def _compose(overrides):
    from hydra import compose, initialize_config_dir

    from rnnbench.config import CONFIG_NAME, VERSION_BASE, conf_dir, validate

    with initialize_config_dir(str(conf_dir()), version_base=VERSION_BASE, job_name="test"):
        cfg = compose(CONFIG_NAME, overrides=overrides)
    validate(cfg)
    return cfg


def test_training_writes_the_tables_and_diagnostics_do_not_change_training(tmp_path):
    from rnnbench import train

    base = [
        "model=rnn",
        "task=adding",
        "task.seq_len=12",
        "model.hidden_size=6",
        "train.steps=7",
        "train.batch_size=4",
        "train.eval_size=8",
        "train.log_every=1",
        "train.progress=false",
        "clip.method=norm",
        "clip.max_value=0.01",
    ]
    train.run(_compose(base + ["diagnostics.every=3", "diagnostics.time_bins=0"]), tmp_path / "on")
    train.run(_compose(base + ["diagnostics.every=0"]), tmp_path / "off")
    on = pd.read_parquet(tmp_path / "on" / "metrics.parquet")
    off = pd.read_parquet(tmp_path / "off" / "metrics.parquet")
    pd.testing.assert_frame_equal(on, off)  # bit-identical training
    assert not (tmp_path / "off" / D.GRAD_NORMS_FILE).exists()
    gn = pd.read_parquet(tmp_path / "on" / D.GRAD_NORMS_FILE)
    diag = pd.read_parquet(tmp_path / "on" / D.DIAGNOSTICS_FILE)
    assert list(gn.columns) == list(D.GRAD_NORM_COLUMNS)
    assert list(diag.columns) == list(D.DIAGNOSTIC_COLUMNS)
    assert sorted(set(gn["step"])) == [1, 3, 6, 7] and len(gn) == 4 * 12
    assert set(diag["quantity"]) == set(D.QUANTITIES)
    frac = diag[diag["quantity"] == "clip_fraction"]
    assert (frac["value"] == 1.0).all()  # max_value 0.01 clips every step
    before = diag[diag["quantity"] == "grad_norm_before_clip"].set_index("step")["value"]
    logged = on[(on["metric"] == "grad_norm") & on["step"].isin(before.index)]
    np.testing.assert_allclose(before.loc[logged["step"]].to_numpy(float), logged["value"])
    assert set(diag.loc[diag["quantity"] == "param_grad_norm", "name"]) >= {
        "weight_hh_l0",
        "readout.weight",
    }


def test_the_step_where_a_run_diverges_is_logged_once():
    net = Network("rnn", 2, 3, seed=0)
    rng = np.random.default_rng(0)
    rec = D.Recorder(net, every=10, rng=rng, jacobian_vectors=0)
    for step in (1, 2, 3):
        _, cache = net.forward(rng.standard_normal((5, 2, 2)))
        grads = net.backward(cache, rng.standard_normal((5, 2, 3)))
        rec.after_backward(step, cache, grads)
        rec.after_clip(step, 1e9 if step == 3 else 1.0, 1.0)
    rec.on_diverged(3)  # e.g. train.diverge_grad_norm exceeded at step 3
    rec.on_diverged(3)
    gn, diag = rec.frames()
    assert sorted(set(gn["step"])) == [1, 3] and len(gn) == 10
    np.testing.assert_array_equal(gn[gn["step"] == 3]["norm"].to_numpy(float), cache.dh_norms[0])
    before = diag[diag["quantity"] == "grad_norm_before_clip"]
    assert before["step"].tolist() == [1, 3] and before["value"].tolist() == [1.0, 1e9]
    assert diag[diag["quantity"] == "clip_fraction"]["value"].tolist() == [0.0, 0.5]


def test_divergence_on_the_clipped_norm_is_recorded_with_its_step(tmp_path):
    """train.diverge_grad_norm_after_clip: unclipped, a big gradient stops the run as diverged
    (its step's norms in the tables); clipped to below the threshold, the same run trains on."""
    from rnnbench import train

    base = [
        "model=rnn",
        "model.spectral_radius=3.0",
        "task=adding",
        "task.seq_len=60",
        "model.hidden_size=16",
        "train.steps=6",
        "train.batch_size=4",
        "train.eval_size=8",
        "train.progress=false",
        "optim=sgd",
        "train.diverge_grad_norm_after_clip=10",
        "diagnostics.every=50",
    ]
    s = train.run(_compose(base + ["clip.method=none"]), tmp_path / "none")
    assert s["status"] == "diverged" and s["diverged_step"] == 1
    assert "diverge_grad_norm_after_clip" in s["cause"]
    gn = pd.read_parquet(tmp_path / "none" / D.GRAD_NORMS_FILE)
    assert set(gn["step"]) == {1}
    s = train.run(_compose(base + ["clip.method=norm"]), tmp_path / "norm")
    assert s["status"] == "completed"
    diag = pd.read_parquet(tmp_path / "norm" / D.DIAGNOSTICS_FILE)
    before = diag[diag["quantity"] == "grad_norm_before_clip"]["value"].astype(float)
    assert before.max() > 10  # the raw gradient was large; the clipped one was applied


@pytest.mark.parametrize(
    "name,jobs",
    [
        ("vanishing_gradients", {("model", "rnn"), ("model", "lstm_chrono"), ("model", "gru")}),
        (
            "exploding_gradients",
            {
                (f"model.spectral_radius={r}", f"clip.method={c}")
                for r in ("0.5", "1.0", "1.5", "3.0")
                for c in ("none", "norm")
            },
        ),
    ],
)
def test_gradient_experiments_sweep_the_documented_grid(name, jobs):
    from hydra import initialize_config_dir

    from rnnbench._hydra_preflight import _job_overrides, check_overrides
    from rnnbench.config import CONFIG_NAME, VERSION_BASE, conf_dir, validate

    with initialize_config_dir(str(conf_dir()), version_base=VERSION_BASE, job_name="test"):
        check_overrides([f"+experiment={name}"], multirun=True)  # every job validates
        grid = _job_overrides(CONFIG_NAME, [f"+experiment={name}"], True)
    cfg = _compose([f"+experiment={name}"])
    swept = {tuple(o for o in job if not o.startswith("+experiment")) for job in grid}
    if name == "vanishing_gradients":
        swept = {tuple(o.split("=")) for (o,) in swept}
    assert swept == jobs
    validate(cfg)
    assert cfg.task.name == "adding" and cfg.task.seq_len >= 100 and cfg.diagnostics.every > 0
    if name == "exploding_gradients":
        assert cfg.model.cell == "rnn" and cfg.model.nonlinearity == "tanh"
        assert cfg.train.diverge_grad_norm_after_clip is not None


def test_lstm_chrono_preset_uses_the_task_length():
    cfg = _compose(["model=lstm_chrono", "task=adding", "task.seq_len=123"])
    assert cfg.model.cell == "lstm" and cfg.model.chrono_tmax == 123
