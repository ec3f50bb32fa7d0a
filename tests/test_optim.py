"""rnnbench.optim against torch.optim and torch.nn.utils.clip_grad_*: updates, state, clipping."""

import io
import math

import numpy as np
import pytest

from rnnbench.optim import OPTIMIZERS, clip_gradients, global_norm, make_optimizer

SHAPES = {
    "weight_ih_l0": (12, 3),
    "weight_hh_l0": (12, 4),
    "bias_ih_l0": (12,),
    "bias_hh_l0": (12,),
    "weight_out": (2, 4, 3),
    "scalar": (1,),
}

CASES = [
    ("sgd", 0.1, {}),
    ("sgd", 0.05, {"momentum": 0.9}),
    ("sgd", 0.05, {"momentum": 0.9, "dampening": 0.3}),
    ("sgd", 0.05, {"momentum": 0.9, "nesterov": True}),
    ("sgd", 0.05, {"momentum": 0.5, "weight_decay": 1e-2}),
    ("sgd", 0.1, {"weight_decay": 0.1}),
    ("sgd", 0.02, {"momentum": 0.9, "nesterov": True, "weight_decay": 1e-3}),
    ("rmsprop", 1e-2, {}),
    ("rmsprop", 1e-3, {"alpha": 0.9}),
    ("rmsprop", 1e-3, {"alpha": 0.3}),  # lerp weight 1 - alpha >= 0.5: ATen's other branch
    ("rmsprop", 1e-2, {"centered": True}),
    ("rmsprop", 1e-2, {"momentum": 0.9}),
    ("rmsprop", 1e-2, {"centered": True, "momentum": 0.5, "weight_decay": 1e-2}),
    ("rmsprop", 1e-3, {"eps": 1e-6, "weight_decay": 0.1}),
    ("adam", 1e-3, {}),
    ("adam", 5e-3, {"betas": (0.8, 0.99)}),
    ("adam", 1e-2, {"amsgrad": True}),
    ("adam", 1e-3, {"weight_decay": 1e-2}),
    ("adam", 1e-2, {"amsgrad": True, "weight_decay": 1e-2, "betas": (0.3, 0.9), "eps": 1e-6}),
    ("adamw", 1e-3, {}),
    ("adamw", 1e-2, {"weight_decay": 0.1}),
    ("adamw", 1e-2, {"amsgrad": True, "weight_decay": 0.3, "betas": (0.3, 0.9), "eps": 1e-6}),
    ("adamw", 5e-3, {"weight_decay": 0.0}),
]
FULL_STATE = {  # every buffer the optimiser can keep
    "sgd": (0.05, {"momentum": 0.9, "nesterov": True, "weight_decay": 1e-3}),
    "rmsprop": (1e-2, {"centered": True, "momentum": 0.5, "weight_decay": 1e-2}),
    "adam": (1e-2, {"amsgrad": True, "weight_decay": 1e-2}),
    "adamw": (1e-2, {"amsgrad": True, "weight_decay": 0.1}),
}
TORCH_NAMES = {"sgd": "SGD", "rmsprop": "RMSprop", "adam": "Adam", "adamw": "AdamW"}


def make_params(dtype=np.float64, seed=0):
    rng = np.random.default_rng(seed)
    return {k: rng.standard_normal(s).astype(dtype) for k, s in SHAPES.items()}


def make_grads(n_steps, dtype=np.float64, seed=1):
    """Gradients whose scale shrinks and grows, so running maxima and averages differ."""
    rng = np.random.default_rng(seed)
    scales = [1.0, 3.0, 0.2, 0.5, 2.0, 0.05, 1.5, 0.7, 4.0, 0.1]
    out = []
    for t in range(n_steps):
        g = {k: (scales[t % 10] * rng.standard_normal(s)).astype(dtype) for k, s in SHAPES.items()}
        g["x"] = rng.standard_normal((5, 2, 3)).astype(dtype)  # not a parameter: ignored
        g["h0"] = rng.standard_normal((1, 2, 4)).astype(dtype)
        out.append(g)
    return out


def run_ours(name, lr, hparams, params, grads_seq):
    params = {k: v.copy() for k, v in params.items()}
    opt = make_optimizer(name, params, lr=lr, **hparams)
    for g in grads_seq:
        opt.step(g)
    return params, opt


def run_torch(name, lr, hparams, params, grads_seq):
    torch = pytest.importorskip("torch")
    tparams = {k: torch.tensor(v.copy(), requires_grad=True) for k, v in params.items()}
    kwargs = {} if lr is None else {"lr": lr}
    cls = getattr(torch.optim, TORCH_NAMES[name])
    opt = cls(list(tparams.values()), foreach=False, **kwargs, **hparams)
    for g in grads_seq:
        for k, p in tparams.items():
            p.grad = torch.tensor(g[k].copy())
        opt.step()
    return {k: p.detach().numpy() for k, p in tparams.items()}


@pytest.mark.parametrize(("name", "lr", "hparams"), CASES)
def test_matches_torch_float64(name, lr, hparams):
    params, grads = make_params(), make_grads(8)
    ours, opt = run_ours(name, lr, hparams, params, grads)
    ref = run_torch(name, lr, hparams, params, grads)
    assert opt.step_count == 8
    for k in SHAPES:
        assert ours[k].dtype == np.float64
        np.testing.assert_allclose(ours[k], ref[k], rtol=1e-12, atol=1e-14, err_msg=k)
        assert not np.array_equal(ours[k], params[k])  # something happened


@pytest.mark.parametrize(
    ("name", "hparams"),
    [
        ("adamw", {}),
        ("adamw", {"amsgrad": True, "weight_decay": 0.2}),
        ("adam", {"weight_decay": 0.05}),  # L2 through the gradient, as torch.optim.Adam
        ("adam", {"weight_decay": 0.05, "amsgrad": True}),
    ],
)
def test_adam_weight_decay_matches_torch_over_many_steps(name, hparams):
    """500 steps in float64 with a decaying lr (as a schedule sets it): the decoupled decay
    p * (1 - lr wd) of AdamW and Adam's L2 gradient term stay within rounding of torch."""
    torch = pytest.importorskip("torch")
    params, grads = make_params(), make_grads(500)
    ours = {k: v.copy() for k, v in params.items()}
    opt = make_optimizer(name, ours, lr=1e-2, **hparams)
    tparams = [torch.tensor(params[k].copy(), requires_grad=True) for k in SHAPES]
    topt = getattr(torch.optim, TORCH_NAMES[name])(tparams, lr=1e-2, foreach=False, **hparams)
    for t, g in enumerate(grads):
        opt.lr = topt.param_groups[0]["lr"] = 1e-2 * 0.995**t
        opt.step(g)
        for p, k in zip(tparams, SHAPES, strict=True):
            p.grad = torch.tensor(g[k].copy())
        topt.step()
    for p, k in zip(tparams, SHAPES, strict=True):
        np.testing.assert_allclose(ours[k], p.detach().numpy(), rtol=1e-12, atol=1e-14, err_msg=k)


def test_adamw_decay_is_decoupled_from_adam_l2():
    """Same gradients, same weight_decay: AdamW and Adam end in different places (the decay is
    not in the moments); with weight_decay 0 they are identical bit for bit."""
    params, grads = make_params(), make_grads(20)
    w, _ = run_ours("adamw", 1e-2, {"weight_decay": 0.1}, params, grads)
    a, _ = run_ours("adam", 1e-2, {"weight_decay": 0.1}, params, grads)
    w0, _ = run_ours("adamw", 1e-2, {"weight_decay": 0.0}, params, grads)
    a0, _ = run_ours("adam", 1e-2, {}, params, grads)
    for k in SHAPES:
        assert not np.allclose(w[k], a[k], rtol=1e-6, atol=0), k
        assert np.array_equal(w0[k], a0[k]), k


@pytest.mark.parametrize("name", sorted(OPTIMIZERS))
def test_defaults_match_torch(name):
    torch = pytest.importorskip("torch")
    params, grads = make_params(), make_grads(5)
    ours, opt = run_ours(name, None, {}, params, grads)
    ref = run_torch(name, None, {}, params, grads)
    for k in SHAPES:
        np.testing.assert_allclose(ours[k], ref[k], rtol=1e-12, atol=1e-14, err_msg=k)
    tdefaults = getattr(torch.optim, TORCH_NAMES[name])([torch.zeros(1)]).defaults
    for key, value in opt.hparams.items():
        assert tdefaults[key] == value, key


@pytest.mark.parametrize(("name", "lr", "hparams"), CASES)
def test_float32_keeps_dtype_and_tracks_torch(name, lr, hparams):
    params, grads = make_params(np.float32), make_grads(6, np.float32)
    originals = dict(params)
    opt = make_optimizer(name, params, lr=lr, **hparams)
    for g in grads:
        opt.step(g)
    ref = run_torch(name, lr, hparams, make_params(np.float32), grads)
    for k in SHAPES:
        assert params[k] is originals[k]  # updated in place
        assert params[k].dtype == np.float32
        np.testing.assert_allclose(params[k], ref[k], rtol=2e-5, atol=2e-6, err_msg=k)
    for key, arr in opt.state_arrays().items():
        assert arr.dtype == (np.int64 if key == "step" else np.float32), key


def test_lr_may_change_between_steps():
    torch = pytest.importorskip("torch")
    params, grads = make_params(), make_grads(4)
    ours = {k: v.copy() for k, v in params.items()}
    opt = make_optimizer("adam", ours, lr=1e-2, amsgrad=True)
    tparams = [torch.tensor(params[k].copy(), requires_grad=True) for k in SHAPES]
    topt = torch.optim.Adam(tparams, lr=1e-2, amsgrad=True, foreach=False)
    for t, g in enumerate(grads):
        opt.lr = topt.param_groups[0]["lr"] = 1e-2 / (t + 1)
        opt.step(g)
        for p, k in zip(tparams, SHAPES, strict=True):
            p.grad = torch.tensor(g[k].copy())
        topt.step()
    for p, k in zip(tparams, SHAPES, strict=True):
        np.testing.assert_allclose(ours[k], p.detach().numpy(), rtol=1e-12, atol=1e-14)


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
@pytest.mark.parametrize("name", sorted(FULL_STATE))
def test_state_round_trip_is_bit_identical(name, dtype):
    lr, hparams = FULL_STATE[name]
    grads = make_grads(6, dtype)

    straight = make_params(dtype)
    opt = make_optimizer(name, straight, lr=lr, **hparams)
    for g in grads:
        opt.step(g)

    resumed = make_params(dtype)
    first = make_optimizer(name, resumed, lr=lr, **hparams)
    for g in grads[:3]:
        first.step(g)
    state = first.state_arrays()
    assert all(isinstance(k, str) for k in state)
    assert all(isinstance(v, np.ndarray) and v.dtype.kind in "iuf" for v in state.values())
    assert int(state["step"]) == 3
    buf = io.BytesIO()
    np.savez(buf, **state)
    buf.seek(0)
    with np.load(buf, allow_pickle=False) as npz:
        loaded = {k: npz[k] for k in npz.files}
    resumed = {k: v.copy() for k, v in resumed.items()}  # as if read back from a checkpoint
    second = make_optimizer(name, resumed, lr=lr, **hparams)
    second.load_state_arrays(loaded)
    for g in grads[3:]:
        second.step(g)

    for k in SHAPES:
        assert resumed[k].tobytes() == straight[k].tobytes(), k
    final, ref = second.state_arrays(), opt.state_arrays()
    assert final.keys() == ref.keys()
    for k in ref:
        assert final[k].tobytes() == ref[k].tobytes(), k


def test_state_arrays_are_copies():
    params, grads = make_params(), make_grads(2)
    opt = make_optimizer("adam", params, lr=1e-3)
    opt.step(grads[0])
    state = opt.state_arrays()
    saved = {k: v.copy() for k, v in state.items()}
    opt.step(grads[1])
    for k in saved:
        np.testing.assert_array_equal(state[k], saved[k])


def test_load_state_rejects_mismatches():
    params, grads = make_params(), make_grads(1)
    adam = make_optimizer("adam", params, lr=1e-3)
    adam.step(grads[0])
    state = adam.state_arrays()
    with pytest.raises(ValueError, match="missing.*max_exp_avg_sq"):
        make_optimizer("adam", make_params(), lr=1e-3, amsgrad=True).load_state_arrays(state)
    with pytest.raises(ValueError, match="unexpected.*exp_avg"):
        make_optimizer("sgd", make_params(), lr=1e-3, momentum=0.9).load_state_arrays(state)
    bad = dict(state, **{"exp_avg.bias_ih_l0": np.zeros(13)})
    fresh = make_optimizer("adam", make_params(), lr=1e-3)
    with pytest.raises(ValueError, match="exp_avg.bias_ih_l0"):
        fresh.load_state_arrays(bad)
    assert fresh.step_count == 0 and not fresh.state["exp_avg"]["weight_ih_l0"].any()
    with pytest.raises(ValueError, match="float64"):
        make_optimizer("adam", make_params(np.float32), lr=1e-3).load_state_arrays(state)


def test_step_checks_grads():
    opt = make_optimizer("sgd", make_params(), lr=0.1)
    grads = make_grads(1)[0]
    del grads["bias_hh_l0"]
    with pytest.raises(ValueError, match="bias_hh_l0"):
        opt.step(grads)
    grads = make_grads(1)[0]
    grads["weight_ih_l0"] = grads["weight_ih_l0"].T.copy()
    with pytest.raises(ValueError, match="weight_ih_l0.*shape"):
        opt.step(grads)
    assert opt.step_count == 0


# --------------------------------------------------------------------------- validation


@pytest.mark.parametrize(
    ("name", "kwargs", "message"),
    [
        ("lbfgs", {}, "optim.name must be one of sgd, rmsprop, adam, adamw, got 'lbfgs'"),
        ("adam", {"lr": math.nan}, "optim.lr must be a finite number > 0, got nan"),
        ("adam", {"lr": math.inf}, "optim.lr must be a finite number > 0, got inf"),
        ("sgd", {"lr": 0.0}, "optim.lr must be a finite number > 0, got 0.0"),
        ("sgd", {"lr": -1e-3}, "optim.lr must be a finite number > 0, got -0.001"),
        ("sgd", {"lr": "0.1"}, "optim.lr must be a finite number > 0, got '0.1'"),
        ("adam", {"betas": (1.0, 0.999)}, "optim.betas[0] must be a number in [0, 1), got 1.0"),
        ("adam", {"betas": (0.9, -0.1)}, "optim.betas[1] must be a number in [0, 1), got -0.1"),
        ("adam", {"betas": 0.9}, "optim.betas must be a list of two numbers, each a number in"),
        ("adam", {"eps": 0.0}, "optim.eps must be a finite number > 0, got 0.0"),
        ("rmsprop", {"eps": -1e-8}, "optim.eps must be a finite number > 0"),
        ("rmsprop", {"alpha": -0.5}, "optim.alpha must be a finite number >= 0, got -0.5"),
        ("sgd", {"dampening": math.nan}, "optim.dampening must be a finite number, got nan"),
        ("rmsprop", {"momentum": -0.1}, "optim.momentum must be a finite number >= 0"),
        ("sgd", {"momentum": -0.9}, "optim.momentum must be a finite number >= 0, got -0.9"),
        ("sgd", {"weight_decay": -1.0}, "optim.weight_decay must be a finite number >= 0"),
        ("sgd", {"nesterov": True}, "optim.nesterov requires optim.momentum > 0"),
        (
            "sgd",
            {"nesterov": True, "momentum": 0.9, "dampening": 0.1},
            "optim.nesterov requires optim.momentum > 0 and optim.dampening == 0",
        ),
        ("adam", {"amsgrad": "yes"}, "optim.amsgrad must be true or false, got 'yes'"),
        ("sgd", {"betas": (0.9, 0.99)}, "optim.betas is not an option of sgd (allowed: lr, "),
    ],
)
def test_validation_messages(name, kwargs, message):
    kwargs = {"lr": 1e-3, **kwargs}
    with pytest.raises(ValueError) as err:
        make_optimizer(name, make_params(), **kwargs)
    text = str(err.value)
    assert message in text
    assert "\n" not in text


# The values whose range once differed between the config and the optimisers, and their edges.
TORCH_RANGE_CASES = [
    ("rmsprop", "alpha", [-0.5, 0.0, 0.5, 0.99, 1.0, 1.5]),
    ("sgd", "momentum", [-0.5, 0.0, 0.9, 1.0, 2.0]),
    ("sgd", "dampening", [-0.5, 0.0, 0.5, 1.0, 1.5]),
    ("rmsprop", "momentum", [-0.1, 0.0, 1.0, 3.0]),
    ("adam", "weight_decay", [-1.0, 0.0, 1e3]),
]


@pytest.mark.parametrize(("name", "key", "values"), TORCH_RANGE_CASES)
def test_allowed_values_are_torchs(name, key, values):
    """One rule per hyperparameter: accepted exactly when torch.optim's constructor accepts it
    (for finite values; lr > 0 and eps > 0 are this project's stricter, documented rules)."""
    torch = pytest.importorskip("torch")
    for value in values:
        try:
            getattr(torch.optim, TORCH_NAMES[name])([torch.zeros(1)], lr=1e-3, **{key: value})
            torch_ok = True
        except ValueError:
            torch_ok = False
        try:
            make_optimizer(name, make_params(), lr=1e-3, **{key: value})
            ours_ok = True
        except ValueError as err:
            assert str(err).startswith(f"optim.{key} must be"), err
            ours_ok = False
        assert ours_ok == torch_ok, (name, key, value, torch_ok)


def test_betas_may_be_a_list():
    opt = make_optimizer("adam", make_params(), lr=1e-3, betas=[0.5, 0.9])
    assert opt.betas == (0.5, 0.9)


# --------------------------------------------------------------------------- clipping


def torch_clip(grads, keys, method, max_value):
    torch = pytest.importorskip("torch")
    ps = []
    for k in keys:
        p = torch.zeros(grads[k].shape, dtype=torch.float64, requires_grad=True)
        p.grad = torch.tensor(grads[k].copy())
        ps.append(p)
    if method == "norm":
        norm = float(torch.nn.utils.clip_grad_norm_(ps, max_value, foreach=False))
    else:
        norm = None
        torch.nn.utils.clip_grad_value_(ps, max_value, foreach=False)
    return {k: p.grad.numpy() for k, p in zip(keys, ps, strict=True)}, norm


@pytest.mark.parametrize("max_value", [0.5, 3.0, 1e3])
@pytest.mark.parametrize("method", ["norm", "value"])
def test_clipping_matches_torch(method, max_value):
    grads = make_grads(1)[0]
    keys = list(SHAPES)
    expected_before = float(np.sqrt(sum((grads[k].astype(np.float64) ** 2).sum() for k in keys)))
    x_before = grads["x"].copy()
    ref, torch_norm = torch_clip(grads, keys, method, max_value)
    before, after = clip_gradients(grads, keys, method=method, max_value=max_value)
    assert isinstance(before, float) and isinstance(after, float)
    assert before == pytest.approx(expected_before, rel=1e-12)
    if torch_norm is not None:
        assert before == pytest.approx(torch_norm, rel=1e-12)
    for k in keys:
        np.testing.assert_allclose(grads[k], ref[k], rtol=1e-12, atol=0, err_msg=k)
    np.testing.assert_array_equal(grads["x"], x_before)  # not in keys: untouched
    assert after == pytest.approx(global_norm(grads, keys), rel=1e-12)
    if method == "norm":
        assert after == pytest.approx(min(before, max_value), rel=1e-5)
    else:
        assert after <= before


def test_clip_none_and_defaults():
    grads = make_grads(1)[0]
    copy = {k: v.copy() for k, v in grads.items()}
    before, after = clip_gradients(grads, SHAPES, method="none")
    assert before == after == pytest.approx(global_norm(copy, SHAPES), rel=0)
    for k in grads:
        np.testing.assert_array_equal(grads[k], copy[k])
    # keys=None: every key of grads
    before_all, _ = clip_gradients(grads)
    assert before_all == pytest.approx(global_norm(copy), rel=0)
    assert before_all > before


@pytest.mark.parametrize("method", ["norm", "value"])
def test_clipping_float32_keeps_dtype(method):
    grads = make_grads(1, np.float32)[0]
    keys = list(SHAPES)
    ref, _ = torch_clip({k: grads[k].astype(np.float64) for k in keys}, keys, method, 0.5)
    before, after = clip_gradients(grads, keys, method=method, max_value=0.5)
    for k in keys:
        assert grads[k].dtype == np.float32
        np.testing.assert_allclose(grads[k], ref[k], rtol=1e-6, atol=1e-7, err_msg=k)
    assert after < before


def test_norm_accumulates_in_float64():
    big = {"w": np.full(4, 3e30, dtype=np.float32)}  # squares overflow float32, not float64
    before, after = clip_gradients(big, method="norm", max_value=1.0)
    assert before == pytest.approx(6e30, rel=1e-6)
    assert after == pytest.approx(1.0, rel=1e-5)
    assert big["w"].dtype == np.float32 and np.all(np.isfinite(big["w"]))


@pytest.mark.parametrize("bad", [math.nan, math.inf, -math.inf])
@pytest.mark.parametrize("method", ["none", "norm", "value"])
def test_nonfinite_norm_leaves_grads_untouched(method, bad):
    grads = make_grads(1)[0]
    grads["weight_hh_l0"][3, 1] = bad
    copy = {k: v.copy() for k, v in grads.items()}
    before, after = clip_gradients(grads, SHAPES, method=method, max_value=0.1)
    assert not math.isfinite(before)
    assert math.isnan(before) if math.isnan(bad) else before == math.inf
    assert after is before or (math.isnan(after) and math.isnan(before))
    for k in grads:
        np.testing.assert_array_equal(grads[k], copy[k])


def test_clip_validation():
    grads = make_grads(1)[0]
    with pytest.raises(ValueError, match="method must be one of none, norm, value, got 'l1'"):
        clip_gradients(grads, SHAPES, method="l1")
    for bad in (0.0, -1.0, math.nan, math.inf):
        with pytest.raises(ValueError, match="max_value must be a finite number > 0"):
            clip_gradients(grads, SHAPES, method="norm", max_value=bad)
