"""Network construction, parameter layout, initialisation schemes and bad input."""

import numpy as np
import pytest

from rnnbench import Network
from rnnbench.init import spectral_radius


@pytest.mark.parametrize("cell,G", [("rnn", 1), ("lstm", 4), ("gru", 3)])
def test_params_have_pytorch_names_shapes_and_dtype(cell, G):
    net = Network(cell, 7, 5, num_layers=3, dtype=np.float32, seed=0)
    expected = {}
    for k in range(3):
        fan_in = 7 if k == 0 else 5
        expected |= {
            f"weight_ih_l{k}": (G * 5, fan_in),
            f"weight_hh_l{k}": (G * 5, 5),
            f"bias_ih_l{k}": (G * 5,),
            f"bias_hh_l{k}": (G * 5,),
        }
    assert list(net.params) == list(expected)
    assert {k: v.shape for k, v in net.params.items()} == expected
    assert all(v.dtype == np.float32 and v.flags.writeable for v in net.params.values())


def test_params_are_writable_in_place_and_used():
    net = Network("rnn", 2, 3, seed=0)
    x = np.ones((2, 1, 2))
    before, _ = net.forward(x)
    before = before.copy()
    net.params["bias_ih_l0"][:] += 1.0
    after, _ = net.forward(x)
    assert not np.allclose(before, after)


def test_same_seed_same_weights_other_seed_other_weights():
    a, b, c = (Network("lstm", 3, 4, seed=s) for s in (1, 1, 2))
    assert all(np.array_equal(a.params[k], b.params[k]) for k in a.params)
    assert not np.array_equal(a.params["weight_hh_l0"], c.params["weight_hh_l0"])


def test_pytorch_init_is_uniform_within_one_over_sqrt_h():
    net = Network("gru", 10, 64, seed=0)
    k = 1 / np.sqrt(64)
    for v in net.params.values():
        assert np.all(np.abs(v) <= k) and np.abs(v).max() > 0.9 * k


def test_orthogonal_init_gives_orthogonal_recurrent_blocks_and_zero_biases():
    net = Network("lstm", 3, 8, init="orthogonal", seed=0)
    w = net.params["weight_hh_l0"]
    for g in range(4):
        block = w[g * 8 : (g + 1) * 8]
        np.testing.assert_allclose(block.T @ block, np.eye(8), atol=1e-12)
    assert not net.params["bias_ih_l0"].any() and not net.params["bias_hh_l0"].any()


def test_identity_init_is_irnn():
    net = Network("rnn", 2, 6, init="identity", nonlinearity="relu", seed=0)
    np.testing.assert_array_equal(net.params["weight_hh_l0"], np.eye(6))
    assert np.abs(net.params["weight_ih_l0"]).max() < 0.01
    assert not net.params["bias_ih_l0"].any()


def test_glorot_bound():
    net = Network("rnn", 4, 12, init="glorot", seed=0)
    assert np.abs(net.params["weight_ih_l0"]).max() <= np.sqrt(6 / (4 + 12))
    assert np.abs(net.params["weight_hh_l0"]).max() <= np.sqrt(6 / (12 + 12))


def test_forget_bias_sets_one_bias_vector_only():
    net = Network("lstm", 3, 5, forget_bias=1.0, seed=0)
    b = net.params["bias_ih_l0"] + net.params["bias_hh_l0"]
    np.testing.assert_allclose(b[5:10], 1.0)


def test_chrono_init_ranges():
    net = Network("lstm", 3, 50, chrono_tmax=100, seed=0)
    b = net.params["bias_ih_l0"] + net.params["bias_hh_l0"]
    b_i, b_f = b[:50], b[50:100]
    assert np.all(b_f >= 0) and np.all(b_f <= np.log(99))
    np.testing.assert_array_equal(b_i, -b_f)


@pytest.mark.parametrize("cell", ["rnn", "lstm", "gru"])
@pytest.mark.parametrize("rho", [0.5, 3.0])
def test_spectral_radius_rescaling(cell, rho):
    net = Network(cell, 3, 16, num_layers=2, spectral_radius=rho, seed=0)
    for k in range(2):
        w = net.params[f"weight_hh_l{k}"]
        for g in range(w.shape[0] // 16):
            assert spectral_radius(w[g * 16 : (g + 1) * 16]) == pytest.approx(rho, rel=1e-10)


@pytest.mark.parametrize(
    "args,kwargs,exc,match",
    [
        (("transformer", 3, 4), {}, ValueError, "cell must be one of rnn, lstm, gru"),
        (("rnn", 0, 4), {}, ValueError, "input_size must be an integer >= 1"),
        (("rnn", 3, -1), {}, ValueError, "hidden_size must be an integer >= 1"),
        (("rnn", 3, 4, 0), {}, ValueError, "num_layers must be an integer >= 1"),
        (("rnn", 3, 4.5), {}, ValueError, "hidden_size must be an integer"),
        (("rnn", 3, 4), {"dtype": np.int32}, TypeError, "dtype must be np.float32 or np.float64"),
        (("rnn", 3, 4), {"nonlinearity": "sigmoid"}, ValueError, "nonlinearity must be"),
        (
            ("rnn", 3, 4),
            {"reset_after": True},
            TypeError,
            "unknown option 'reset_after' for cell 'rnn'",
        ),
        (("lstm", 3, 4), {"nonlinearity": "relu"}, TypeError, "unknown option 'nonlinearity'"),
        (("gru", 3, 4), {"reset_after": "yes"}, TypeError, "reset_after must be True or False"),
        (("rnn", 3, 4), {"init": "he"}, ValueError, "init must be one of"),
        (("gru", 3, 4), {"forget_bias": 1.0}, ValueError, "apply to cell 'lstm' only"),
        (
            ("lstm", 3, 4),
            {"chrono_tmax": 1.0},
            ValueError,
            "chrono_tmax must be a finite number > 2",
        ),
        (("rnn", 3, 4), {"spectral_radius": -1.0}, ValueError, "spectral_radius must be"),
        (("rnn", 3, 4), {"spectral_radius": float("nan")}, ValueError, "spectral_radius must be"),
        (("rnn", 3, 4), {"seed": -1}, ValueError, "seed must be an integer >= 0, got -1"),
    ],
)
def test_bad_construction_names_the_argument(args, kwargs, exc, match):
    with pytest.raises(exc, match=match):
        Network(*args, **kwargs)


def test_bad_forward_and_backward_inputs_name_the_argument():
    net = Network("lstm", 3, 4, num_layers=2, dtype=np.float64, seed=0)
    with pytest.raises(ValueError, match=r"x must have shape \(T, B, 3\)"):
        net.forward(np.zeros((5, 3)))
    with pytest.raises(ValueError, match=r"x must have shape \(T, B, 3\)"):
        net.forward(np.zeros((5, 2, 4)))
    with pytest.raises(ValueError, match=r"x must have shape"):
        net.forward(np.zeros((0, 2, 3)))
    with pytest.raises(TypeError, match="x has dtype float32, the network's is float64"):
        net.forward(np.zeros((5, 2, 3), dtype=np.float32))
    with pytest.raises(TypeError, match="x must be a numpy array"):
        net.forward([[[0.0, 0.0, 0.0]]])
    with pytest.raises(ValueError, match=r"h0 must have shape \(2, 2, 4\)"):
        net.forward(np.zeros((5, 2, 3)), h0=np.zeros((1, 2, 4)))
    with pytest.raises(ValueError, match=r"c0 must have shape"):
        net.forward(np.zeros((5, 2, 3)), c0=np.zeros((2, 3, 4)))
    out, cache = net.forward(np.zeros((5, 2, 3)))
    with pytest.raises(ValueError, match=r"d_out must have shape \(5, 2, 4\)"):
        net.backward(cache, np.zeros((5, 2, 3)))
    with pytest.raises(ValueError, match="c0 applies to cell 'lstm' only"):
        Network("gru", 3, 4).forward(np.zeros((5, 2, 3)), c0=np.zeros((1, 2, 4)))


def test_output_is_a_read_only_view():
    net = Network("rnn", 2, 3, seed=0)
    out, cache = net.forward(np.ones((4, 1, 2)))
    with pytest.raises(ValueError):
        out[0, 0, 0] = 1.0
