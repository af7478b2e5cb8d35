"""Inputs outside the conformance stream where the frameworks' float32 arithmetic breaks down,
run through the real frameworks: the oracle must break down the same way, NaN for NaN.

Adafactor's factored estimate with eps1 = 1e-30 (Keras 3, tf_keras): a gradient that is zero
along a whole row and a whole column gives V_ij = R_i C_j / sum(R) below float32's smallest
subnormal, so U_ij = 0 / sqrt(0) = NaN, which the update clip spreads to every entry. torch
clamps V at eps1^2 with eps1 = float32 machine epsilon and stays finite.
"""

import numpy as np
import pytest

import eps_ref

from eps_ref.backends import BACKEND_LABELS, labels_for
from eps_ref.conformance.runner import TIMEOUT_S, _Worker, reference_trajectory

pytestmark = pytest.mark.kernel_models   # conformance/conftest.py

ZERO_ROW_AND_COLUMN = (np.array([[-1.0, 1.0, 1000.0], [0.0, 1.0, 0.5]], np.float32),
                       np.array([[[0.0, 0.0, 0.0], [1.0, 0.0, -1.0]]], np.float32))

ADAFACTOR_NAN = {"keras.optimizers.Adafactor": True, "tf_keras.optimizers.Adafactor": True,
                 "torch.optim.Adafactor": False}

CASES = [(name, label, nan) for name, nan in ADAFACTOR_NAN.items()
         for label in labels_for(eps_ref.spec(name).framework)]


@pytest.mark.parametrize("name,label,nan", CASES, ids=[f"{n}@{b}" for n, b, _ in CASES])
def test_adafactor_zero_row_and_column(name, label, nan):
    worker = _Worker(label, *BACKEND_LABELS[label])
    try:
        if not worker.ok:
            pytest.skip(worker.reason)
        p, grads = ZERO_ROW_AND_COLUMN
        kind, real = worker.run(("run_optimizer", (name, {}, p, grads)), TIMEOUT_S)
    finally:
        worker.stop()
    assert kind == "ok", real
    reference = reference_trajectory(name, {}, p, grads, label)
    np.testing.assert_array_equal(reference, real)      # NaN matches NaN
    assert np.isnan(real[1]).all() == nan and np.isnan(real[1]).any() == nan
