"""The thread model (`rnnbench.parallel`): the batch split over threads, BLAS threads per phase."""

import numpy as np
import pytest
from cells import IDS, VARIANTS
from threadpoolctl import threadpool_info, threadpool_limits

import rnnbench
from rnnbench import Network, parallel


def _run(cell, opt, dtype, threads, T=9, B=7, L=2, H=5, I=3):
    net = Network(cell, I, H, L, dtype=dtype, seed=3, **opt)
    rng = np.random.default_rng(4)
    x = rng.standard_normal((T, B, I)).astype(dtype)
    d_out = rng.standard_normal((T, B, H)).astype(dtype)
    dh_n = rng.standard_normal((L, B, H)).astype(dtype)
    with rnnbench.num_threads(threads):
        out, cache = net.forward(x)
        grads = net.backward(cache, d_out, dh_n)
    arrays = {"out": out, "h_n": cache.h_n, "dh_norms": cache.dh_norms, **grads}
    arrays.update({f"gates{k}": g for k, g in enumerate(cache.gates)})
    if cell == "lstm":
        arrays["c_n"] = cache.c_n
    return arrays


AGREE = {np.float64: 1e-12, np.float32: 1e-5}  # relative: OpenBLAS rounds by GEMM shape


@pytest.mark.parametrize("B,H", [(7, 5), (32, 33)])
@pytest.mark.parametrize("dtype", [np.float64, np.float32], ids=["float64", "float32"])
@pytest.mark.parametrize("cell,opt", VARIANTS, ids=IDS)
def test_one_and_two_threads_agree_to_rounding(cell, opt, dtype, B, H, split_small_batches):
    one, two = _run(cell, opt, dtype, 1, B=B, H=H), _run(cell, opt, dtype, 2, B=B, H=H)
    assert one.keys() == two.keys()
    for name in one:
        assert one[name].dtype == two[name].dtype and one[name].shape == two[name].shape
        scale = max(float(np.max(np.abs(one[name]))), 1e-30)
        diff = float(np.max(np.abs(one[name].astype(np.float64) - two[name]))) / scale
        assert diff <= AGREE[dtype], f"{name}: relative difference {diff:.1e}"


def test_row_blocks_cover_the_batch_in_at_most_n_blocks():
    assert parallel.row_blocks(1, 2) == [(0, 1)]
    assert parallel.row_blocks(7, 2) == [(0, 3), (3, 7)]
    assert parallel.row_blocks(2, 8) == [(0, 1), (1, 2)]
    for B in range(1, 20):
        for n in range(1, 6):
            blocks = parallel.row_blocks(B, n)
            assert len(blocks) == min(B, n) and blocks[0][0] == 0 and blocks[-1][1] == B
            sizes = [b1 - b0 for b0, b1 in blocks]
            assert all(b0 == prev for (b0, _), (_, prev) in zip(blocks[1:], blocks[:-1]))
            assert max(sizes) - min(sizes) <= 1


def _blas_threads():
    return [lib["num_threads"] for lib in threadpool_info() if lib["user_api"] == "blas"]


def test_small_problems_stay_in_one_block_large_ones_split():
    step = parallel.MIN_BLOCK_STEP_FLOPS
    assert parallel.Runner(32, 2, step_flops=step).parts == 1  # half a block is too little
    assert parallel.Runner(32, 2, step_flops=2 * step).parts == 2
    assert parallel.Runner(32, 4, step_flops=3 * step).parts == 3
    assert parallel.Runner(1, 2, step_flops=100 * step).parts == 1


def test_every_blas_call_uses_one_blas_thread_and_the_setting_is_restored():
    seen = []
    with threadpool_limits(limits=2, user_api="blas"), rnnbench.num_threads(2):
        with parallel.compute(B=4) as run:
            assert set(_blas_threads()) == {1}
            run(lambda b0, b1: seen.append((b0, b1, set(_blas_threads()))))
        assert set(_blas_threads()) == {2}  # the user's BLAS setting is given back
        Network("lstm", 2, 3).forward(np.zeros((3, 4, 2)))
        assert set(_blas_threads()) == {2}
    assert sorted(s[:2] for s in seen) == [(0, 2), (2, 4)]
    assert all(s[2] == {1} for s in seen)  # per-step GEMMs: one BLAS thread per block


def test_split_whole_sequence_operations_equal_the_unsplit_ones():
    rng = np.random.default_rng(0)
    a, b = rng.standard_normal((3000, 64)), rng.standard_normal((3000, 48))
    c, w = rng.standard_normal((64, 32)), rng.standard_normal(64)
    with rnnbench.num_threads(2), parallel.compute(B=8) as run:
        assert run.parts == 2 and len(run._ranges(3000, parallel.SPLIT_MIN_FLOPS)) == 2
        np.testing.assert_allclose(run.dot(a, c), a @ c, rtol=1e-13)
        np.testing.assert_allclose(run.dot_t(a, b), a.T @ b, rtol=1e-12, atol=1e-11)
        np.testing.assert_allclose(run.colsum(a), a.sum(axis=0), rtol=1e-12, atol=1e-11)
        c = a.copy()
        run.add(c, w)
        np.testing.assert_array_equal(c, a + w)


def test_a_kernel_error_in_a_worker_thread_reaches_the_caller():
    def kernel(b0, b1):
        if b0 > 0:
            raise RuntimeError("boom in block 2")

    with rnnbench.num_threads(2), parallel.compute(B=4) as run:
        with pytest.raises(RuntimeError, match="boom in block 2"):
            run(kernel)


def test_thread_setting_is_checked_and_restored():
    assert rnnbench.get_num_threads() == 1
    with rnnbench.num_threads(2):
        assert rnnbench.get_num_threads() == 2
    assert rnnbench.get_num_threads() == 1
    for bad in (0, -1, 1.5, True, "2"):
        with pytest.raises(ValueError, match="threads must be an integer >= 1"):
            rnnbench.set_num_threads(bad)


def test_the_cli_threads_key_sets_the_network_threads():
    from rnnbench.session import thread_limits  # what train.run wraps a job in

    with thread_limits(2):
        assert rnnbench.get_num_threads() == 2
    assert rnnbench.get_num_threads() == 1


def test_job_thread_limits_keep_blas_at_one_thread():
    """A job at threads=2 splits the batch over two threads but never threads BLAS itself:
    the small GEMMs outside the Network (readout, optimiser, diagnostics) ran slower with two."""
    from rnnbench.session import thread_limits

    with thread_limits(2):
        assert rnnbench.get_num_threads() == 2
        assert set(_blas_threads()) == {1}
    assert rnnbench.get_num_threads() == 1
