"""The native recurrent kernels' paths: the LSTM's inference (no history kept) and training forward agree, and the
shapes that switch on the LSTM's per-step input projection (batch >= 16) and the split of the batch's rows among
threads (>= 12 rows per thread; LSTM and GRU, forward and backward) give the reference's results, bit-identical
whatever the thread count."""
import numpy as np
import pytest

import ember
from ember import ops
from ember.backend import reference as ref

# (T, B, I, H): below and above the fused-projection and row-split thresholds, H not a multiple of the panels
SHAPES = [(5, 4, 7, 40), (6, 16, 9, 33), (4, 30, 16, 96), (3, 48, 5, 64), (1, 25, 3, 1)]


def _inputs(shape, dtype, masked, seed=0):
    T, B, I, H = shape
    rng = np.random.default_rng(seed)
    args = [rng.standard_normal((B, T, I)), rng.standard_normal((B, H)), rng.standard_normal((B, H)),
            0.3 * rng.standard_normal((I, 4 * H)), 0.3 * rng.standard_normal((H, 4 * H)), rng.standard_normal(4 * H)]
    mask = rng.random((B, T)) > 0.3 if masked else None
    return [a.astype(dtype) for a in args], mask


def _forward(args, mask, grad):
    tensors = [ember.tensor(a, dtype=a.dtype, requires_grad=grad) for a in args]
    with ember.use_backend("cpu"):
        if grad:
            return [t.numpy() for t in ops.lstm(*tensors, mask=mask)]
        with ember.no_grad():
            return [t.numpy() for t in ops.lstm(*tensors, mask=mask)]


@pytest.mark.parametrize("masked", [False, True])
@pytest.mark.parametrize("dtype", ["float32", "float64"])
@pytest.mark.parametrize("shape", SHAPES, ids=str)
def test_inference_gives_the_training_forward_bit_for_bit_and_the_reference(shape, dtype, masked):
    args, mask = _inputs(shape, dtype, masked)
    inference = _forward(args, mask, grad=False)
    training = _forward(args, mask, grad=True)
    for a, b in zip(inference, training):
        np.testing.assert_array_equal(a, b)
    tm = None if mask is None else np.ascontiguousarray(mask.T)
    h, c, _ = ref.lstm_forward(np.ascontiguousarray(args[0].transpose(1, 0, 2)), *args[1:], tm)
    tol = 1e-5 if dtype == "float32" else 1e-12
    np.testing.assert_allclose(inference[0], h.transpose(1, 0, 2), rtol=tol, atol=tol)
    np.testing.assert_allclose(inference[1], h[-1], rtol=tol, atol=tol)
    np.testing.assert_allclose(inference[2], c[-1], rtol=tol, atol=tol)


def _forward_backward(args, mask, threads):
    previous = ember.get_num_threads()
    ember.set_num_threads(threads)
    try:
        tensors = [ember.tensor(a, dtype=a.dtype, requires_grad=True) for a in args]
        with ember.use_backend("cpu"):
            outputs = ops.lstm(*tensors, mask=mask)
            loss = sum((o * ember.tensor(np.linspace(-1, 1, o.size).reshape(o.shape), dtype=o.dtype)).sum()
                       for o in outputs)
            loss.backward()
            with ember.no_grad():
                inference = ops.lstm(*tensors, mask=mask)
        return [o.numpy() for o in outputs + inference] + [t.grad.numpy() for t in tensors]
    finally:
        ember.set_num_threads(previous)


@pytest.mark.parametrize("shape", [(4, 30, 16, 96), (3, 48, 5, 64)], ids=str)
def test_the_row_split_gives_the_same_bits_on_one_and_two_threads(shape):
    args, mask = _inputs(shape, "float32", masked=True, seed=1)
    for a, b in zip(_forward_backward(args, mask, 1), _forward_backward(args, mask, 2)):
        np.testing.assert_array_equal(a, b)


def _gru_inputs(shape, reset_after, seed=2):
    T, B, I, H = shape
    rng = np.random.default_rng(seed)
    bias = rng.standard_normal((2, 3 * H) if reset_after else 3 * H)
    args = [rng.standard_normal((B, T, I)), rng.standard_normal((B, H)), 0.3 * rng.standard_normal((I, 3 * H)),
            0.3 * rng.standard_normal((H, 3 * H)), bias]
    return [a.astype(np.float32) for a in args], rng.random((B, T)) > 0.3


def _gru_forward_backward(args, mask, reset_after, threads):
    previous = ember.get_num_threads()
    ember.set_num_threads(threads)
    try:
        tensors = [ember.tensor(a, dtype=a.dtype, requires_grad=True) for a in args]
        with ember.use_backend("cpu"):
            outputs = ops.gru(*tensors, reset_after=reset_after, mask=mask)
            loss = sum((o * ember.tensor(np.linspace(-1, 1, o.size).reshape(o.shape), dtype=o.dtype)).sum()
                       for o in outputs)
            loss.backward()
        return [o.numpy() for o in outputs] + [t.grad.numpy() for t in tensors]
    finally:
        ember.set_num_threads(previous)


@pytest.mark.parametrize("reset_after", [True, False])
@pytest.mark.parametrize("shape", [(4, 30, 16, 96), (3, 48, 5, 64)], ids=str)
def test_the_gru_row_split_gives_the_reference_and_the_same_bits_on_one_and_two_threads(shape, reset_after):
    args, mask = _gru_inputs(shape, reset_after)
    one = _gru_forward_backward(args, mask, reset_after, 1)
    two = _gru_forward_backward(args, mask, reset_after, 2)
    for a, b in zip(one, two):
        np.testing.assert_array_equal(a, b)
    h, _ = ref.gru_forward(np.ascontiguousarray(args[0].transpose(1, 0, 2)), *args[1:], reset_after,
                           np.ascontiguousarray(mask.T))
    np.testing.assert_allclose(two[0], h.transpose(1, 0, 2), rtol=1e-5, atol=1e-5)


@pytest.mark.parametrize("cell", ["lstm", "simple_rnn"])
@pytest.mark.parametrize("shape", [(5, 4, 7, 40), (3, 20, 6, 33)], ids=str)
def test_weight_gradients_written_in_place_equal_those_copied_out_of_the_workspace(cell, shape):
    """ember.backend.cpu hands the backward kernel, recurrent kernel and bias gradients as consecutive rows of one
    array, which the weight-gradient GEMM writes in place; separate arrays take the workspace-and-copy path. Both
    must give the same bits."""
    from ember import _C
    from ember.backend import cpu

    T, B, I, H = shape
    gates = 4 if cell == "lstm" else 1
    rng = np.random.default_rng(7)
    x, gy = rng.standard_normal((T, B, I), dtype=np.float32), rng.standard_normal((T, B, H), dtype=np.float32)
    h0 = rng.standard_normal((B, H), dtype=np.float32)
    w = (0.3 * rng.standard_normal((I, gates * H))).astype(np.float32)
    u = (0.3 * rng.standard_normal((H, gates * H))).astype(np.float32)
    b = rng.standard_normal(gates * H).astype(np.float32)
    separate = [np.full_like(w, np.nan), np.full_like(u, np.nan), np.full_like(b, np.nan)]
    if cell == "lstm":
        h, c, g = cpu.lstm_forward(x, h0, h0, w, u, b, None)
        stacked = cpu.lstm_backward(gy, np.zeros_like(gy), x, h0, h0, w, u, None, h, c, g)[3:]
        _C.lstm_backward(gy, np.zeros_like(gy), x, h0, h0, w, u, None, h, c, g, np.empty_like(x),
                         np.empty_like(h0), np.empty_like(h0), *separate)
    else:
        h = cpu.simple_rnn_forward(x, h0, w, u, b, "tanh", None)
        stacked = cpu.simple_rnn_backward(gy, x, h0, w, u, "tanh", None, h)[2:]
        _C.simple_rnn_backward(gy, x, h0, w, u, "tanh", None, h, np.empty_like(x), np.empty_like(h0), *separate)
    assert stacked[0].base is stacked[1].base is stacked[2].base is not None
    for got, want in zip(separate, stacked):
        np.testing.assert_array_equal(got, want)
