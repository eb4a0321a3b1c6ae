"""Saturated recurrent units: tanh of a pre-activation past 9.02 is exactly 1 in float32 (correctly rounded), so the
gates hold exactly 1 and a saturated unit passes no gradient. The AVX-512 cells clamped at 9 and gave 1 - 2^-24."""
import numpy as np
import pytest

from ember.backend import cpu


@pytest.mark.parametrize("scale", [9.5, 12.0, 50.0, np.inf])
def test_lstm_candidate_gate_saturates_to_exactly_one(scale):
    x = np.ones((3, 2, 1), np.float32)
    kernel = np.full((1, 64), scale, np.float32)
    zeros_state = np.zeros((2, 16), np.float32)
    _, _, gates = cpu.lstm_forward(x, zeros_state, zeros_state, kernel, np.zeros((16, 64), np.float32),
                                   np.zeros(64, np.float32), None)
    np.testing.assert_array_equal(gates[..., 32:48], np.float32(np.tanh(np.float64(scale))))  # correctly rounded: 1


@pytest.mark.parametrize("scale", [9.5, 50.0])
def test_simple_rnn_state_saturates_to_exactly_one(scale):
    x = np.ones((2, 3, 1), np.float32)
    h = cpu.simple_rnn_forward(x, np.zeros((3, 32), np.float32), np.full((1, 32), scale, np.float32),
                               np.zeros((32, 32), np.float32), None, "tanh", None)
    np.testing.assert_array_equal(h, np.float32(1.0))
