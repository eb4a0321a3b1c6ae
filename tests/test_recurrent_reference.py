"""The recurrent reference kernels (the spec) checked against a per-step loop written apart from them, and the
ops built on them against PyTorch's nn.RNN / nn.LSTM / nn.GRU (forward and gradients, float64)."""
import numpy as np
import pytest

import ember
from ember import ops
from ember.backend import reference as ref
from ember.testing.op_table_rnn import torch_rnn_weights


def _t(a, requires_grad=False):
    return ember.tensor(a, dtype=np.float64, requires_grad=requires_grad)


@pytest.fixture
def reference_backend():
    with ember.use_backend("reference"):
        yield


def _sigmoid(v):
    return 1 / (1 + np.exp(-v))


def _loop(cell, x, states, mask):
    """Batch-major x (B, T, I): run `cell(x_t, states) -> states` row by row and step by step, keeping a row's
    states where its mask is False. Returns every step's states, each (B, T, H)."""
    b, t = x.shape[:2]
    out = [np.zeros((b, t, s.shape[1])) for s in states]
    for row in range(b):
        current = [s[row] for s in states]
        for step in range(t):
            if mask is None or mask[row, step]:
                current = cell(x[row, step], current)
            for o, s in zip(out, current):
                o[row, step] = s
    return out


def _simple_rnn_cell(w, u, b, act):
    return lambda xt, s: [act(xt @ w + s[0] @ u + b)]


def _lstm_cell(w, u, b):
    def cell(xt, s):
        h, c = s
        zi, zf, zg, zo = np.split(xt @ w + h @ u + b, 4)
        c = _sigmoid(zf) * c + _sigmoid(zi) * np.tanh(zg)
        return [_sigmoid(zo) * np.tanh(c), c]

    return cell


def _gru_cell(w, u, b, reset_after):
    wz, wr, wh = np.split(w, 3, axis=1)
    uz, ur, uh = np.split(u, 3, axis=1)
    bi, br = (b[0], b[1]) if reset_after else (b, np.zeros_like(b))
    biz, bir, bih = np.split(bi, 3)
    brz, brr, brh = np.split(br, 3)

    def cell(xt, s):
        h = s[0]
        z = _sigmoid(xt @ wz + biz + h @ uz + brz)
        r = _sigmoid(xt @ wr + bir + h @ ur + brr)
        if reset_after:
            hh = np.tanh(xt @ wh + bih + r * (h @ uh + brh))
        else:
            hh = np.tanh(xt @ wh + bih + (r * h) @ uh)
        return [z * h + (1 - z) * hh]

    return cell


def _tm(a):
    return None if a is None else np.ascontiguousarray(np.swapaxes(a, 0, 1))


def _case(rng, b=3, t=5, i=4, h=3, gates=1, states=1, masked=True):
    x = rng.standard_normal((b, t, i))
    s = [rng.standard_normal((b, h)) for _ in range(states)]
    w = rng.standard_normal((i, gates * h)) / 2
    u = rng.standard_normal((h, gates * h)) / 2
    mask = None
    if masked:
        mask = rng.random((b, t)) < 0.6
        mask[-1] = False  # one sequence masked throughout
    return x, s, w, u, mask


@pytest.mark.parametrize("activation", ["tanh", "relu"])
@pytest.mark.parametrize("masked", [False, True])
def test_simple_rnn_forward_matches_a_per_step_loop(activation, masked):
    rng = np.random.default_rng(1)
    x, (h0,), w, u, mask = _case(rng, masked=masked)
    b = rng.standard_normal(3)
    act = np.tanh if activation == "tanh" else (lambda v: np.maximum(v, 0))
    (expected,) = _loop(_simple_rnn_cell(w, u, b, act), x, [h0], mask)
    h = ref.simple_rnn_forward(_tm(x), h0, w, u, b, activation, _tm(mask))
    np.testing.assert_allclose(_tm(h), expected, rtol=1e-12, atol=1e-12)


@pytest.mark.parametrize("masked", [False, True])
def test_lstm_forward_matches_a_per_step_loop(masked):
    rng = np.random.default_rng(2)
    x, (h0, c0), w, u, mask = _case(rng, gates=4, states=2, masked=masked)
    b = rng.standard_normal(12)
    expected_h, expected_c = _loop(_lstm_cell(w, u, b), x, [h0, c0], mask)
    h, c, gates = ref.lstm_forward(_tm(x), h0, c0, w, u, b, _tm(mask))
    np.testing.assert_allclose(_tm(h), expected_h, rtol=1e-12, atol=1e-12)
    np.testing.assert_allclose(_tm(c), expected_c, rtol=1e-12, atol=1e-12)
    assert gates.shape == (5, 3, 12)


def test_lstm_gates_are_saved_after_their_nonlinearities_in_keras_order():
    rng = np.random.default_rng(3)
    x, (h0, c0), w, u, _ = _case(rng, t=1, gates=4, states=2, masked=False)
    b = rng.standard_normal(12)
    _, c, gates = ref.lstm_forward(_tm(x), h0, c0, w, u, b, None)
    zi, zf, zg, zo = np.split(x[:, 0] @ w + h0 @ u + b, 4, axis=1)
    expected = np.concatenate([_sigmoid(zi), _sigmoid(zf), np.tanh(zg), _sigmoid(zo)], axis=1)
    np.testing.assert_allclose(gates[0], expected, rtol=1e-12, atol=1e-12)


@pytest.mark.parametrize("reset_after", [True, False])
@pytest.mark.parametrize("masked", [False, True])
def test_gru_forward_matches_a_per_step_loop(reset_after, masked):
    rng = np.random.default_rng(4)
    x, (h0,), w, u, mask = _case(rng, gates=3, masked=masked)
    b = rng.standard_normal((2, 9) if reset_after else (9,))
    (expected,) = _loop(_gru_cell(w, u, b, reset_after), x, [h0], mask)
    h, gates = ref.gru_forward(_tm(x), h0, w, u, b, reset_after, _tm(mask))
    np.testing.assert_allclose(_tm(h), expected, rtol=1e-12, atol=1e-12)
    assert gates.shape == (5, 3, 12)  # [z, r, hh, q]


@pytest.mark.parametrize("reset_after", [True, False])
def test_gru_saves_z_r_hh_and_the_recurrent_candidate_term(reset_after):
    rng = np.random.default_rng(5)
    x, (h0,), w, u, _ = _case(rng, t=1, gates=3, masked=False)
    b = rng.standard_normal((2, 9) if reset_after else (9,))
    _, gates = ref.gru_forward(_tm(x), h0, w, u, b, reset_after, None)
    z, r, hh, q = np.split(gates[0], 4, axis=1)
    expected_q = h0 @ u[:, 6:] + b[1, 6:] if reset_after else (r * h0) @ u[:, 6:]
    np.testing.assert_allclose(q, expected_q, rtol=1e-12, atol=1e-12)
    bi = b[0] if reset_after else b
    np.testing.assert_allclose(hh, np.tanh(x[:, 0] @ w[:, 6:] + bi[6:] + (r * q if reset_after else q)), rtol=1e-12)


def test_kernels_keep_float32_and_saturate_without_overflow():
    rng = np.random.default_rng(6)
    x, (h0, c0), w, u, mask = _case(rng, gates=4, states=2)
    x32, h32, c32 = (1e4 * x).astype(np.float32), h0.astype(np.float32), c0.astype(np.float32)
    w32, u32, m = w.astype(np.float32), u.astype(np.float32), _tm(mask)
    with np.errstate(over="raise", invalid="raise"):
        h, c, gates = ref.lstm_forward(_tm(x32), h32, c32, w32, u32, None, m)
        grads = ref.lstm_backward(np.ones_like(h), np.ones_like(c), _tm(x32), h32, c32, w32, u32, m, h, c, gates)
    assert all(a.dtype == np.float32 for a in (h, c, gates, *grads))
    assert np.isfinite(h).all() and np.isfinite(gates).all() and all(np.isfinite(g).all() for g in grads)


def test_final_states_are_the_last_outputs_and_a_fully_masked_row_keeps_its_initial_states(reference_backend):
    rng = np.random.default_rng(7)
    x, (h0, c0), w, u, mask = _case(rng, gates=4, states=2)
    outputs, h_t, c_t = ops.lstm(_t(x), _t(h0), _t(c0), _t(w), _t(u), mask=mask)
    np.testing.assert_array_equal(h_t.numpy(), outputs.numpy()[:, -1])
    np.testing.assert_array_equal(h_t.numpy()[-1], h0[-1])
    np.testing.assert_array_equal(c_t.numpy()[-1], c0[-1])


def test_a_loss_on_the_final_state_only_reaches_the_weights_and_skips_inputs_without_grad(reference_backend):
    rng = np.random.default_rng(8)
    x, (h0,), w, u, _ = _case(rng, gates=3, masked=False)
    kernel, recurrent = _t(w, True), _t(u, True)
    x_t = _t(x)
    _, h_t = ops.gru(x_t, _t(h0), kernel, recurrent)
    ops.sum(h_t).backward()
    assert kernel.grad is not None and recurrent.grad is not None and x_t.grad is None


def test_h0_none_starts_from_zeros(reference_backend):
    rng = np.random.default_rng(9)
    x, _, w, u, _ = _case(rng, masked=False)
    out_none, _ = ops.simple_rnn(_t(x), None, _t(w), _t(u))
    out_zero, _ = ops.simple_rnn(_t(x), _t(np.zeros((3, 3))), _t(w), _t(u))
    np.testing.assert_array_equal(out_none.numpy(), out_zero.numpy())


# -- PyTorch as an oracle ------------------------------------------------------------------------------------------
def _torch_module(torch, name, i, h, weights, nonlinearity="tanh"):
    if name == "lstm":
        module = torch.nn.LSTM(i, h, batch_first=True)
    elif name == "gru":
        module = torch.nn.GRU(i, h, batch_first=True)
    else:
        module = torch.nn.RNN(i, h, nonlinearity=nonlinearity, batch_first=True)
    module = module.double()
    with torch.no_grad():
        for pname, value in weights.items():
            getattr(module, pname).copy_(torch.from_numpy(np.ascontiguousarray(value)))
    return module


def _ember_run(name, x, states, w, u, b, activation):
    if name == "lstm":
        return ops.lstm(x, *states, w, u, b)
    if name == "gru":
        return ops.gru(x, *states, w, u, b)
    return ops.simple_rnn(x, *states, w, u, b, activation=activation)


@pytest.mark.parametrize("name, activation", [("simple_rnn", "tanh"), ("simple_rnn", "relu"), ("lstm", None),
                                              ("gru", None)])
@pytest.mark.parametrize("backend", ["reference", "cpu"])
def test_forward_and_gradients_match_pytorch(name, activation, backend):
    torch = pytest.importorskip("torch")
    rng = np.random.default_rng(10)
    gates, states = {"simple_rnn": (1, 1), "lstm": (4, 2), "gru": (3, 1)}[name]
    b_, t, i, h = 3, 6, 4, 5
    x, s, w, u, _ = _case(rng, b_, t, i, h, gates=gates, states=states, masked=False)
    b = rng.standard_normal((2, gates * h) if name == "gru" else (gates * h,))
    cot = [rng.standard_normal((b_, t, h))] + [rng.standard_normal((b_, h)) for _ in range(states)]

    module = _torch_module(torch, name, i, h, torch_rnn_weights(name, w, u, b), activation or "tanh")
    tx = torch.tensor(x, requires_grad=True)
    ts = [torch.tensor(a[None], requires_grad=True) for a in s]
    out, final = module(tx, tuple(ts) if name == "lstm" else ts[0])
    finals = list(final) if name == "lstm" else [final]
    loss = (out * torch.from_numpy(cot[0])).sum() + sum((f[0] * torch.from_numpy(c)).sum()
                                                       for f, c in zip(finals, cot[1:]))
    loss.backward()

    ex = _t(x, True)
    es = [_t(a, True) for a in s]
    ew, eu, eb = (_t(a, True) for a in (w, u, b))
    with ember.use_backend(backend):
        results = _ember_run(name, ex, es, ew, eu, eb, activation)
        eloss = sum(ops.sum(r * _t(c)) for r, c in zip(results, cot))
        eloss.backward()

    for r, expected in zip(results, [out] + [f[0] for f in finals]):
        np.testing.assert_allclose(r.numpy(), expected.detach().numpy(), rtol=1e-10, atol=1e-10)
    np.testing.assert_allclose(ex.grad.numpy(), tx.grad.numpy(), rtol=1e-9, atol=1e-10)
    for e, tt in zip(es, ts):
        np.testing.assert_allclose(e.grad.numpy(), tt.grad.numpy()[0], rtol=1e-9, atol=1e-10)
    grads = torch_rnn_weights(name, ew.grad.numpy(), eu.grad.numpy(), eb.grad.numpy())
    for pname in ("weight_ih_l0", "weight_hh_l0"):
        np.testing.assert_allclose(grads[pname], getattr(module, pname).grad.numpy(), rtol=1e-9, atol=1e-10)
    if name == "gru":  # the two biases are separate parameters in both
        np.testing.assert_allclose(grads["bias_hh_l0"], module.bias_hh_l0.grad.numpy(), rtol=1e-9, atol=1e-10)
    np.testing.assert_allclose(grads["bias_ih_l0"], module.bias_ih_l0.grad.numpy(), rtol=1e-9, atol=1e-10)


@pytest.mark.parametrize("name, kw", [("simple_rnn", {}), ("lstm", {}), ("gru", {"reset_after": True}),
                                      ("gru", {"reset_after": False})])
def test_a_nan_at_a_masked_step_reaches_neither_outputs_nor_gradients(name, kw, reference_backend):
    rng = np.random.default_rng(11)
    gates, states = {"simple_rnn": (1, 1), "lstm": (4, 2), "gru": (3, 1)}[name]
    x, s, w, u, mask = _case(rng, gates=gates, states=states)
    mask[0, 2] = False
    x[0, 2, 1] = np.nan
    ex, ew, eu = _t(x, True), _t(w, True), _t(u, True)
    run = {"simple_rnn": ops.simple_rnn, "lstm": ops.lstm, "gru": ops.gru}[name]
    results = run(ex, *[_t(a, True) for a in s], ew, eu, mask=mask, **kw)
    sum(ops.sum(r) for r in results).backward()
    assert all(np.isfinite(r.numpy()).all() for r in results)
    assert np.isfinite(ew.grad.numpy()).all() and np.isfinite(eu.grad.numpy()).all()
    assert ex.grad.numpy()[0, 2, 1] == 0
