"""TensorFlow's seeded normal noise (eps_ref.rules._philox) and glibc's sinf, against the real
TensorFlow and the real libm; noisy_linear_cosine_decay built on them."""

from __future__ import annotations

import ctypes
import ctypes.util

import numpy as np
import pytest

import eps_ref
from eps_ref.rules._libm_cos import sinf_glibc
from eps_ref.rules._philox import eager_normals, normal_pairs_first, philox4x32_10

NOISY = "tf.compat.v1.train.noisy_linear_cosine_decay"


def test_philox_known_answer():
    """Philox4x32-10's published test vector (Salmon et al. 2011, Random123 kat_vectors):
    counter and key all ones."""
    ones = np.uint32(0xFFFFFFFF)
    out = philox4x32_10([ones] * 4, [ones] * 2)
    assert [int(x) for x in out] == [0x408F276D, 0x41C83B0E, 0xA20BC7C6, 0x6D5451FD]


def test_sinf_is_glibc_s():
    path = ctypes.util.find_library("m")
    if path is None:
        pytest.skip("no libm to compare with")
    libm = ctypes.CDLL(path)
    libm.sinf.restype, libm.sinf.argtypes = ctypes.c_float, [ctypes.c_float]
    rng = np.random.default_rng(5)
    x = np.concatenate([rng.uniform(0, 2 * np.pi, 50000), rng.uniform(-119, 119, 20000),
                        [0.0, -0.0, 1e-40, 2.0 ** -12, np.pi / 4]]).astype(np.float32)
    want = np.array([libm.sinf(float(v)) for v in x], dtype=np.float32)
    assert np.array_equal(sinf_glibc(x).view(np.int32), want.view(np.int32))


@pytest.mark.parametrize("global_seed", [42, 0, 2 ** 31 - 1, 123456789012])
def test_eager_normals_are_tensorflow_s(global_seed):
    tf = pytest.importorskip("tensorflow")
    tf.random.set_seed(global_seed)
    got = np.array([tf.random.normal([]).numpy() for _ in range(300)], dtype=np.float32)
    assert np.array_equal(got.view(np.int32), eager_normals(global_seed, 300).view(np.int32))


def test_a_cached_kernel_continues_its_stream():
    """The same seed pair twice: eager TensorFlow reuses the kernel, 256 counters on."""
    tf = pytest.importorskip("tensorflow")
    from tensorflow.python.ops import gen_random_ops
    shape = tf.constant([], tf.int32)
    first, second = (gen_random_ops.random_standard_normal(shape, tf.float32, seed=7,
                                                            seed2=9).numpy()
                     for _ in range(2))
    assert first == normal_pairs_first(7, 9, 0) and second == normal_pairs_first(7, 9, 256)
    assert first != second


def test_noisy_linear_cosine_decay_needs_the_global_seed():
    with pytest.raises(TypeError, match="missing required keyword"):
        eps_ref.schedule(NOISY, learning_rate=0.1, global_step=0, decay_steps=100)
    with pytest.raises(TypeError, match="not reproducible"):
        eps_ref.schedule(NOISY, learning_rate=0.1, global_step=0, decay_steps=100,
                         global_seed=None)


def test_noisy_linear_cosine_decay_is_tensorflow_s_and_the_noise_matters():
    tf = pytest.importorskip("tensorflow")
    kw = dict(learning_rate=0.1, decay_steps=300, initial_variance=0.5)
    step = tf.Variable(0, dtype=tf.int64)
    tf.random.set_seed(11)
    decay = tf.compat.v1.train.noisy_linear_cosine_decay(global_step=step, **kw)
    real = []
    for _ in range(400):
        real.append(float(decay()))
        step.assign_add(1)
    ours = eps_ref.schedule(NOISY, global_step=0, global_seed=11, **kw).learning_rates(400)
    assert ours == real
    other = eps_ref.schedule(NOISY, global_step=0, global_seed=12, **kw).learning_rates(400)
    # another seed moves every step of the decay (past decay_steps the cosine is 0)
    assert sum(a != b for a, b in zip(other[:300], real[:300])) >= 295
