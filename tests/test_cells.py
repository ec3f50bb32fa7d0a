"""The cell registry (`rnnbench.cells`) is the one definition of each cell's facts."""

import re
from pathlib import Path

import numpy as np
import pytest
from cells import VARIANTS

from rnnbench import Network, cells
from rnnbench.network import check_options

PACKAGE = Path(cells.__file__).resolve().parent


def test_registry_order_and_gate_facts():
    assert cells.CELLS == cells.cell_names() == ("rnn", "lstm", "gru")
    for name, spec in cells.CELL_SPECS.items():
        assert spec.name == name
        assert len(spec.gate_kinds(spec.defaults())) == spec.G == len(spec.gate_names)
        net = Network(name, 2, 3, seed=0)
        assert net.params["weight_ih_l0"].shape == (spec.G * 3, 2)
        assert net.gates == spec.G and net.options == spec.defaults()
    assert cells.cells_with_gate("f") == ("lstm",)
    assert cells.CELL_SPECS["rnn"].gate_kinds({"nonlinearity": "relu"}) == ("relu",)


def test_kernel_tests_cover_every_registered_option_value():
    covered = {(cell, name, value) for cell, opt in VARIANTS for name, value in opt.items()}
    for spec in cells.CELL_SPECS.values():
        assert any(cell == spec.name for cell, _ in VARIANTS)
        for opt in spec.options:
            for value in opt.allowed:
                assert (spec.name, opt.name, value) in covered


def test_check_options_normalises_without_building(monkeypatch):
    import rnnbench.init as init

    monkeypatch.setattr(init, "init_layer", lambda *a: pytest.fail("check_options built weights"))
    a = check_options("gru", hidden_size=8, dtype="float32", reset_after=False)
    assert a["dtype"] is np.float32 and a["options"] == {"reset_after": False}
    assert check_options("rnn")["options"] == {"nonlinearity": "tanh"}


@pytest.mark.parametrize(
    "kwargs,exc,match",
    [
        ({"cell": "transformer"}, ValueError, r"^cell must be one of rnn, lstm, gru"),
        ({"cell": "rnn", "seed": -1}, ValueError, r"^seed must be an integer >= 0, got -1"),
        ({"cell": "rnn", "seed": 1.5}, ValueError, r"^seed must be an integer"),
        ({"cell": "rnn", "hidden_size": 0}, ValueError, r"^hidden_size must be"),
        ({"cell": "lstm", "forget_bias": "x"}, ValueError, r"^forget_bias must be a finite"),
        ({"cell": "gru", "reset_after": 1}, TypeError, r"^reset_after must be True or False"),
        ({"cell": "rnn", "nonlinearity": "gelu"}, ValueError, r"^nonlinearity must be one of"),
    ],
)
def test_check_options_errors_start_with_the_argument_name(kwargs, exc, match):
    with pytest.raises(exc, match=match):
        check_options(**kwargs)


# The one JIT policy: nothing outside kernels/_jit.py compiles with its own options.
FORBIDDEN = re.compile(r"\bnjit\b|fastmath\s*=|numba\.jit\b|\bvectorize\(|\bguvectorize\(")


def test_every_compiled_function_goes_through_the_jit_module():
    offenders = []
    for path in sorted(PACKAGE.rglob("*.py")):
        if path.name == "_jit.py" and path.parent.name == "kernels":
            continue
        for n, line in enumerate(path.read_text().splitlines(), 1):
            if FORBIDDEN.search(line.split("#")[0]):
                offenders.append(f"{path.relative_to(PACKAGE)}:{n}: {line.strip()}")
    assert not offenders, "compile through rnnbench.kernels._jit.jit:\n" + "\n".join(offenders)


def test_the_policy_grep_would_catch_a_bypass():
    assert FORBIDDEN.search("@numba.njit(cache=True)") and FORBIDDEN.search("fastmath=True")
    assert not FORBIDDEN.search("@jit") and not FORBIDDEN.search("from ._jit import jit")


def test_jit_overrides_may_not_widen_fastmath():
    from rnnbench.kernels._jit import jit

    with pytest.raises(ValueError, match="fastmath"):
        jit(fastmath=True)
    with pytest.raises(ValueError, match="fastmath"):
        jit(fastmath={"contract", "nnan"})
