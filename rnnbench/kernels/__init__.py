"""Numba kernels: the recurrent part of one layer's forward pass and its BPTT, per cell.

Each cell module exposes `forward(...)` and `backward(...)` kernels that run the time loop only;
the input projection and the weight gradients are whole-sequence GEMMs done by the caller
(`rnnbench.network`).
"""
