"""rnnbench: RNN, LSTM and GRU with Numba-compiled forward passes and BPTT.

The public API is `Network`; see its docstring and the README. Threads: `set_num_threads(n)`,
`get_num_threads()` and the context manager `num_threads(n)` (see `rnnbench.parallel`).
These are imported on first use (numba and NumPy take most of a second), so that
``python -m rnnbench`` holds SIGINT and SIGTERM as it starts (`rnnbench.session.hold_signals`).
"""

from importlib import import_module
from typing import Any

_HOMES = {
    "Network": ".network",
    "get_num_threads": ".parallel",
    "num_threads": ".parallel",
    "set_num_threads": ".parallel",
}
__all__ = list(_HOMES)
__version__ = "0.1.0"


def __getattr__(name: str) -> Any:
    if name not in _HOMES:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    return getattr(import_module(_HOMES[name], __name__), name)
