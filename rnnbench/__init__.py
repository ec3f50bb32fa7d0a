"""rnnbench: RNN, LSTM and GRU with Numba-compiled forward passes and BPTT.

The public API is `Network`; see its docstring and the README.
"""

from .network import Network

__all__ = ["Network"]
__version__ = "0.1.0"
