"""rnnbench: RNN, LSTM and GRU with Numba-compiled forward passes and BPTT.

The public API is `Network`; see its docstring and the README. Threads: `set_num_threads(n)`,
`get_num_threads()` and the context manager `num_threads(n)` (see `rnnbench.parallel`).
"""

from .network import Network
from .parallel import get_num_threads, num_threads, set_num_threads

__all__ = ["Network", "get_num_threads", "num_threads", "set_num_threads"]
__version__ = "0.1.0"
