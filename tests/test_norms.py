"""The normalization-layer oracle: hand-computed values, eps placement, momentum
conventions, errors, purity, and the Array API (numpy + array_api_strict only)."""

import math

import numpy as np
import pytest

import eps_ref
from eps_ref.layer import layer

LAYERS = eps_ref.specs(kind="layer")
f32 = np.float32


def _example(name):
    s = eps_ref.spec(name)
    kwargs = dict(next(iter(s.variants.values())))
    # channels-first 4D for torch batch/instance/group norms of 2d, trailing 6 otherwise
    if name.endswith(("1d",)):
        x_shape = (4, 6, 5)
    elif name.endswith("3d"):
        x_shape = (4, 6, 2, 2, 2)
    elif name.endswith(("2d", "GroupNorm")) and name.startswith("torch"):
        x_shape = (4, 6, 3, 3)
    else:
        x_shape = (4, 3, 3, 6)
    return kwargs, x_shape


def test_layer_specs_are_registered():
    for fw in ("torch", "keras", "flax"):
        assert [n for n in LAYERS if eps_ref.spec(n).framework == fw]
    assert "torch.nn.BatchNorm2d" in LAYERS and "flax.linen.RMSNorm" in LAYERS


def test_torch_batch_norm_by_hand():
    x = np.array([[1.0], [3.0]], f32)                     # N=2, C=1
    bn = layer("torch.nn.BatchNorm1d", num_features=1)
    y, st = bn.apply(x, bn.init(x), training=True)
    np.testing.assert_allclose(y[:, 0], [-1 / math.sqrt(1 + 1e-5), 1 / math.sqrt(1 + 1e-5)],
                               rtol=1e-6)
    # running = 0.1 * batch + 0.9 * running; the unbiased variance (2) feeds it
    np.testing.assert_allclose(st["running_mean"], [0.2], rtol=1e-6)
    np.testing.assert_allclose(st["running_var"], [0.9 * 1 + 0.1 * 2.0], rtol=1e-6)
    assert st["num_batches_tracked"] == 1
    y_eval, st2 = bn.apply(x, st, training=False)
    np.testing.assert_allclose(y_eval[:, 0], (x[:, 0] - 0.2) / np.sqrt(1.1 + 1e-5), rtol=1e-6)
    assert st2 is st or st2 == st


def test_keras_batch_norm_by_hand():
    x = np.array([[1.0], [3.0]], f32)
    bn = layer("keras.layers.BatchNormalization")
    y, st = bn.apply(x, bn.init(x), training=True)
    np.testing.assert_allclose(y[:, 0], [-1 / math.sqrt(1 + 1e-3), 1 / math.sqrt(1 + 1e-3)],
                               rtol=1e-6)
    # moving = 0.99 * moving + 0.01 * batch; the biased variance (1) feeds it
    np.testing.assert_allclose(st["running_mean"], [0.02], rtol=1e-6)
    np.testing.assert_allclose(st["running_var"], [1.0], rtol=1e-6)


def test_flax_batch_norm_by_hand():
    x = np.array([[1.0], [3.0]], f32)
    bn = layer("flax.linen.BatchNorm")
    y, st = bn.apply(x, bn.init(x), training=True)
    np.testing.assert_allclose(y[:, 0], [-1 / math.sqrt(1 + 1e-5), 1 / math.sqrt(1 + 1e-5)],
                               rtol=1e-6)
    np.testing.assert_allclose(st["running_mean"], [0.02], rtol=1e-6)


def test_torch_momentum_none_is_cumulative_average():
    bn = layer("torch.nn.BatchNorm1d", num_features=1, momentum=None)
    a, b = np.array([[1.0], [3.0]], f32), np.array([[3.0], [5.0]], f32)
    st = bn.init(a)
    _, st = bn.apply(a, st, training=True)
    _, st = bn.apply(b, st, training=True)
    np.testing.assert_allclose(st["running_mean"], [3.0], rtol=1e-7)   # (2 + 4) / 2
    np.testing.assert_allclose(st["running_var"], [2.0], rtol=1e-7)    # unbiased 2 and 2


def test_torch_momentum_m_is_keras_one_minus_m_for_the_mean_only():
    rng = np.random.default_rng(0)
    xs = [rng.standard_normal((5, 3)).astype(f32) for _ in range(4)]
    t = layer("torch.nn.BatchNorm1d", num_features=3, momentum=0.25, eps=1e-3)
    k = layer("keras.layers.BatchNormalization", momentum=0.75)
    st_t, st_k = t.init(xs[0]), k.init(xs[0])
    for x in xs:
        _, st_t = t.apply(x, st_t, training=True)
        _, st_k = k.apply(x, st_k, training=True)
    np.testing.assert_allclose(st_t["running_mean"], st_k["running_mean"], rtol=1e-5)
    # torch's running variance is the Keras one with every batch variance times n/(n-1)
    assert np.all(st_t["running_var"] > st_k["running_var"])


def test_eps_is_inside_the_sqrt_and_keeps_a_constant_channel_finite():
    x = np.full((4, 2), 3.0, f32)
    x[:, 1] = [0, 1, 2, 3]
    for name, eps in (("keras.layers.BatchNormalization", 1e-3),
                      ("flax.linen.BatchNorm", 1e-5)):
        bn = layer(name)
        st = bn.init(x)
        st["bias"] = np.array([0.5, 0.0], f32)
        y, _ = bn.apply(x, st, training=True)
        np.testing.assert_array_equal(y[:, 0], np.full(4, 0.5, f32))
        np.testing.assert_allclose(y[:, 1], (x[:, 1] - 1.5) / np.sqrt(1.25 + eps), rtol=1e-6)


def test_fast_variance_cancels_two_pass_does_not():
    x = (np.float32(1e4) + np.array([[0.0], [1.0], [0.0], [1.0]], f32)).astype(f32)
    fast = layer("flax.linen.BatchNorm")
    two = layer("flax.linen.BatchNorm", use_fast_variance=False)
    _, s_fast = fast.apply(x, fast.init(x), training=True)
    _, s_two = two.apply(x, two.init(x), training=True)
    # two-pass variance is 0.25 exactly: running var = 0.99 + 0.01 * 0.25
    np.testing.assert_allclose(s_two["running_var"], [0.99 + 0.0025], rtol=1e-7)
    assert s_fast["running_var"][0] >= 0.99                       # clamped at 0, never below
    assert s_fast["running_var"][0] != s_two["running_var"][0]


def test_layer_norm_by_hand_and_defaults():
    x = np.array([[1.0, 2.0, 3.0, 6.0]], f32)
    mean, var = 3.0, np.var([1.0, 2.0, 3.0, 6.0])
    for name, kw, eps in (("torch.nn.LayerNorm", {"normalized_shape": 4}, 1e-5),
                          ("keras.layers.LayerNormalization", {}, 1e-3),
                          ("flax.linen.LayerNorm", {}, 1e-6)):
        ln = layer(name, **kw)
        y, _ = ln.apply(x, ln.init(x), training=False)
        np.testing.assert_allclose(y[0], (x[0] - mean) / np.sqrt(var + eps), rtol=2e-6)


def test_rms_norm_eps_none_is_machine_epsilon():
    x = np.array([[1e-4, -1e-4]], f32)
    rms = layer("torch.nn.RMSNorm", normalized_shape=[2])
    y, _ = rms.apply(x, rms.init(x), training=False)
    eps = float(np.finfo(np.float32).eps)
    np.testing.assert_allclose(y[0], x[0] / np.sqrt(1e-8 + eps), rtol=1e-5)


def test_group_norm_by_hand():
    x = np.array([[[[0.0]], [[2.0]], [[4.0]], [[4.0]]]], f32)    # (1, 4, 1, 1)
    gn = layer("torch.nn.GroupNorm", num_groups=2, num_channels=4)
    y, _ = gn.apply(x, gn.init(x), training=True)
    np.testing.assert_allclose(y.reshape(-1), [-1 / math.sqrt(1 + 1e-5), 1 / math.sqrt(1 + 1e-5),
                                               0.0, 0.0], rtol=1e-6, atol=1e-7)


def test_errors():
    x = np.zeros((4, 3), f32)
    with pytest.raises(ValueError, match="channel axis 3 does not exist"):
        bn = layer("keras.layers.BatchNormalization", axis=3)
        bn.init(x)
    with pytest.raises(ValueError, match="expected 4D input"):
        layer("torch.nn.BatchNorm2d", num_features=3).init(x)
    with pytest.raises(ValueError, match="expected 3 channels"):
        layer("torch.nn.BatchNorm1d", num_features=3).init(np.zeros((4, 5), f32))
    with pytest.raises(ValueError, match="divisible"):
        layer("torch.nn.GroupNorm", num_groups=4, num_channels=6)
    with pytest.raises(ValueError, match="do not divide"):
        gn = layer("keras.layers.GroupNormalization", groups=4)
        gn.init(np.zeros((2, 6), f32))
    with pytest.raises(ValueError, match=r"expected input with shape \[\*, 5\]"):
        layer("torch.nn.LayerNorm", normalized_shape=5).init(x)
    one = np.zeros((1, 3), f32)
    bn = layer("torch.nn.BatchNorm1d", num_features=3)
    with pytest.raises(ValueError, match="more than 1 value per channel"):
        bn.apply(one, bn.init(one), training=True)
    bn.apply(one, bn.init(one), training=False)             # inference is fine
    kb = layer("keras.layers.BatchNormalization")
    kb.apply(one, kb.init(one), training=True)               # Keras allows a batch of one
    with pytest.raises(NotImplementedError, match="synchronized"):
        layer("keras.layers.BatchNormalization", synchronized=True)
    with pytest.raises(TypeError, match="did you mean 'eps'"):
        layer("torch.nn.BatchNorm1d", num_features=3, epsilon=1e-3)
    with pytest.raises(TypeError, match="missing required"):
        layer("torch.nn.BatchNorm1d")
    with pytest.raises(TypeError, match="not a layer"):
        if eps_ref.specs(kind="optimizer"):
            layer(eps_ref.specs(kind="optimizer")[0])
        else:
            raise TypeError("not a layer")


def _run(name, kwargs, xs, to_xp, to_np, backend=None):
    lay = layer(name, backend=backend, **kwargs)
    state = lay.init(to_xp(xs[0]))
    out = []
    for i, x in enumerate(xs):
        y, state = lay.apply(to_xp(x), state, training=i < len(xs) - 1)
        out.append(to_np(y))
    return out


def _stream(x_shape, rng):
    return [(rng.standard_normal(x_shape) * 2 + 0.5).astype(f32) for _ in range(3)]


@pytest.mark.parametrize("name", LAYERS)
def test_inputs_not_mutated(name, rng):
    kwargs, shape = _example(name)
    xs = _stream(shape, rng)
    copies = [x.copy() for x in xs]
    lay = layer(name, **kwargs)
    state = lay.init(xs[0])
    frozen = {k: (v.copy() if hasattr(v, "copy") else v) for k, v in state.items()}
    lay.apply(xs[0], state, training=True)
    for k, v in frozen.items():
        np.testing.assert_array_equal(state[k], v)
    for x, c in zip(xs, copies):
        np.testing.assert_array_equal(x, c)


@pytest.mark.parametrize("name", LAYERS)
def test_array_api_strict_equals_numpy(name, rng):
    xps = pytest.importorskip("array_api_strict")
    kwargs, shape = _example(name)
    xs = _stream(shape, rng)
    ref = _run(name, kwargs, xs, lambda a: a, np.asarray)
    got = _run(name, kwargs, xs, xps.asarray, lambda a: np.asarray(a))
    for r, g in zip(ref, got):
        np.testing.assert_array_equal(g, r)


@pytest.mark.parametrize("namespace", ["torch", "jax.numpy"])
@pytest.mark.parametrize("name", LAYERS)
def test_torch_and_jax_arrays_equal_numpy(name, namespace, rng):
    """torch's float64 sqrt is MKL's and XLA:CPU flushes subnormals: the reference runs on
    NumPy copies of their CPU arrays (eps_ref._host), so the bits are NumPy's."""
    mod = pytest.importorskip(namespace)
    kwargs, shape = _example(name)
    xs = _stream(shape, rng)
    xs[0].reshape(-1)[:3] = [3e-39, -1e-40, 0.0]       # subnormals
    ref = _run(name, kwargs, xs, lambda a: a, np.asarray)
    got = _run(name, kwargs, xs, mod.asarray, lambda a: np.asarray(a))
    for r, g in zip(ref, got):
        np.testing.assert_array_equal(np.asarray(g).view(np.uint32), np.asarray(r).view(np.uint32))


def test_keras_torch_backend_semantics():
    x = (np.float32(100) + np.random.default_rng(0).standard_normal((8, 3))).astype(f32)
    a = layer("keras.layers.BatchNormalization")
    b = layer("keras.layers.BatchNormalization", backend="torch")
    assert b.rule_kwargs["variance"] == "mean_sq_minus_sq_mean"
    assert a.rule_kwargs["variance"] == "two_pass"
    ya, _ = a.apply(x, a.init(x), training=True)
    yb, _ = b.apply(x, b.init(x), training=True)
    np.testing.assert_allclose(ya, yb, atol=1e-2)


def test_docs_markdown_names_every_layer():
    from eps_ref.norms_docs import norms_markdown
    text = norms_markdown()
    for name in LAYERS:
        assert f"[`{name}`]" in text
    assert "1 - m" in text or "1 − m" in text


def test_xla_cpu_reduction_is_sequential_float32_times_reciprocal():
    from eps_ref.norms._stats import mean_and_var, reduce_sum
    x = np.array([[1.0, 1e8, -1e8]], f32)
    s, _ = reduce_sum(x, (1,), reduction="xla_cpu")
    assert s[0, 0] == 0.0                        # (1 + 1e8) rounds to 1e8 in float32
    s, _ = reduce_sum(x, (1,), reduction="unordered_float32")
    assert s[0, 0] == 1.0                        # the exact sum, rounded once
    # the mean is the sum times float32(1/3), not the sum divided by 3
    mu, var, _ = mean_and_var(np.array([[1.0, 2.0, 2.0]], f32), (1,), variance="two_pass",
                              reduction="xla_cpu")
    assert mu[0, 0] == f32(5.0) * f32(1 / 3) != f32(5.0) / f32(3)
    # the row-major order of the reduced axes, not their position in memory
    x = np.zeros((2, 2, 1), f32)
    x[0, 0, 0], x[0, 1, 0], x[1, 0, 0] = 1.0, 1e8, -1e8
    s, _ = reduce_sum(x, (0, 1), reduction="xla_cpu")
    assert s.shape == (1, 1, 1) and s[0, 0, 0] == 0.0


def test_xla_cpu_loop_emitter_windows_of_32():
    """A reduced axis longer than 32 is cut into centred windows of 32 (33 = 15 pads, 17
    values | 16 values, 16 pads) before the windows are added: -1e8 + 1 in the second
    window absorbs the 1, which the sequential order keeps."""
    from eps_ref.norms._xla_cpu import loop_emitter_sum
    x = np.zeros((33, 1), f32)
    x[0], x[17], x[18] = 1e8, -1e8, 1.0
    assert loop_emitter_sum(x, (0,))[0, 0] == 0.0
    assert np.cumsum(x[:, 0], dtype=f32)[-1] == 1.0


def test_ynnpack_row_kernel_lanes_and_threshold():
    """From 4096 elements YNNPACK's k1 kernel sums a row in 16 lanes (element j in lane
    j mod 16), the lanes by halves: lane 0 holds 1e8 + 1 = 1e8 before lane 8's -1e8 joins
    it, so the 1 is lost; under 4096 elements XLA adds in order and keeps it."""
    from eps_ref.norms._stats import reduce_sum
    x = np.zeros((64, 64), f32)
    x[:, 0], x[:, 16], x[:, 8] = 1e8, 1.0, -1e8
    s, _ = reduce_sum(x, (1,), reduction="xla_cpu_ynnpack")     # 4096 elements: YNNPACK
    assert np.all(s == 0.0)
    s, _ = reduce_sum(x[:1], (1,), reduction="xla_cpu_ynnpack")  # 64 elements: XLA's loop
    assert s[0, 0] == 1.0


def test_ynnpack_column_kernel_blocks_of_four_rows():
    """YNNPACK's kn kernel adds blocks of four rows ((r0 + r1) + r2) + r3, then the blocks:
    1 | 1e8, -1e8 keeps the 1 that a running sum loses."""
    from eps_ref.norms._xla_cpu import ynn_column_sums
    x = np.zeros((16, 3), f32)
    x[0], x[4], x[5] = 1.0, 1e8, -1e8
    assert np.all(ynn_column_sums(x) == 1.0)
    assert np.all(np.cumsum(x, axis=0, dtype=f32)[-1] == 0.0)


def test_eigen_row_sum_packets_and_halving():
    """Eigen adds the packet lanes by halves (8 -> 4 -> 2 -> 1): lanes 0 and 2 meet before
    lane 1 joins, so 1e8, 1, -1e8 in lanes 0, 1, 2 sum to 1, where the running sum gives 0;
    the scalar tail comes first: tail + packet."""
    from eps_ref.norms._eigen_cpu import eigen_row_sums, reduce_sum
    x = np.zeros((1, 33), f32)
    x[0, 0], x[0, 1], x[0, 2] = 1e8, 1.0, -1e8
    assert eigen_row_sums(x)[0] == 1.0
    assert reduce_sum(x, (1,))[0, 0] == 1.0
    assert np.cumsum(x[0], dtype=f32)[-1] == 0.0


def test_jnp_var_divides_and_xla_rsqrt_is_the_kernel():
    """``variance="jnp_var"``: the mean times float32(1/n), the variance one division by n;
    ``inverse_std(method=...)`` is the rsqrt kernel applied to var + eps."""
    from eps_ref.norms._stats import inverse_std, mean_and_var
    from eps_ref.rules._roots import rsqrt
    x = np.array([[0.0, 1.0, 1.0]], f32)
    mu, var, _ = mean_and_var(x, (1,), variance="jnp_var", reduction="xla_cpu_ynnpack")
    d = x - mu
    ss = np.sum(d * d, dtype=f32)
    assert var[0, 0] == ss / f32(3) and mu[0, 0] == f32(2) * f32(1 / 3)
    v = np.linspace(0.1, 4.0, 50).astype(f32)
    for method in ("xla_rsqrtps_newton_fma", "eigen_rsqrtps_newton"):
        np.testing.assert_array_equal(inverse_std(v, 1e-3, method=method),
                                      rsqrt(v + f32(1e-3), method))


def test_scale_shift_grouped_only_where_the_shift_has_the_input_shape():
    """Grappler groups x*s + (-mu*s) before + beta only when -mu*s has x's shape."""
    from eps_ref.norms._stats import affine
    rng = np.random.default_rng(0)
    x = rng.standard_normal((4, 8)).astype(f32)
    mu = rng.standard_normal((4, 1)).astype(f32)
    inv = (1 + rng.random((4, 1))).astype(f32)
    g = rng.standard_normal(8).astype(f32)
    b = (100 * rng.standard_normal(8)).astype(f32)
    y = affine(x, mu, inv, g, b, form="scale_shift_grouped")
    s = inv * g
    np.testing.assert_array_equal(y, (x * s + -mu * s) + b)
    np.testing.assert_array_equal(affine(x, mu, inv, None, b, form="scale_shift_grouped"),
                                  affine(x, mu, inv, None, b, form="scale_shift"))


def test_running_variance_relation_torch_vs_keras():
    """Same batches (n values per channel each), torch momentum m, Keras momentum 1 - m:
    torch_var_T = n/(n-1) keras_var_T - (1-m)^T r0/(n-1), r0 = 1 the initial variance;
    running means equal up to rounding."""
    rng = np.random.default_rng(3)
    m, steps = 0.1, 12
    xs = [(rng.standard_normal((4, 3, 2, 2)) * rng.uniform(0.5, 3.0, (1, 3, 1, 1))
           + rng.uniform(-2, 2, (1, 3, 1, 1))).astype(f32) for _ in range(steps)]
    n = 4 * 2 * 2
    t = layer("torch.nn.BatchNorm2d", num_features=3, momentum=m)
    k = layer("keras.layers.BatchNormalization", momentum=1 - m)
    st_t = t.init(xs[0])
    st_k = k.init(np.moveaxis(xs[0], 1, -1))
    for step, x in enumerate(xs, start=1):
        _, st_t = t.apply(x, st_t, training=True)
        _, st_k = k.apply(np.moveaxis(x, 1, -1), st_k, training=True)
        k_var = st_k["running_var"].astype(np.float64)
        predicted = n / (n - 1) * k_var - (1 - m) ** step * 1.0 / (n - 1)
        np.testing.assert_allclose(st_t["running_var"], predicted, rtol=2e-6)
        np.testing.assert_allclose(st_t["running_mean"], st_k["running_mean"], rtol=2e-6,
                                   atol=1e-6)
        # the naive "unbiased Keras" guess misses the decaying initial term
        assert np.all(np.abs(st_t["running_var"] - n / (n - 1) * k_var)
                      > 0.5 * (1 - m) ** step / (n - 1))


def _keras_renorm_stats(x):
    x64 = x.astype(np.float64)
    mean, var = x64.mean(axis=0), x64.var(axis=0)
    return mean, var, np.sqrt(var + f32(1e-3))


def test_keras_renorm_by_hand():
    """First renorm step from the initial state (renorm mean 0, stddev 1): r = s, d = mean,
    so y = (x - mean)/s * s + mean = x; then the renorm and moving statistics move."""
    x = np.array([[1.0, -2.0], [3.0, 0.5], [2.5, 1.0]], f32)
    bn = layer("keras.layers.BatchNormalization", renorm=True)
    st0 = bn.init(x)
    for k in ("renorm_mean", "renorm_stddev", "moving_stddev"):
        assert st0[k].dtype == x.dtype and st0[k].shape == (2,)
    np.testing.assert_array_equal(st0["renorm_stddev"], [1.0, 1.0])
    y, st = bn.apply(x, st0, training=True)
    np.testing.assert_allclose(y, x, rtol=1e-5, atol=1e-6)
    mean, var, s = _keras_renorm_stats(x)
    np.testing.assert_allclose(st["renorm_mean"], 0.01 * mean, rtol=1e-5)
    np.testing.assert_allclose(st["renorm_stddev"], 0.99 + 0.01 * s, rtol=1e-6)
    np.testing.assert_allclose(st["running_mean"], 0.01 * mean, rtol=1e-5)
    ms = 0.99 + 0.01 * s
    np.testing.assert_allclose(st["moving_stddev"], ms, rtol=1e-6)
    # the running variance is derived from the moving stddev: max(s_m^2 - eps, 0)
    np.testing.assert_allclose(st["running_var"], ms * ms - 1e-3, rtol=1e-5)
    # renorm_momentum weighs only the renorm statistics
    bn9 = layer("keras.layers.BatchNormalization", renorm=True, renorm_momentum=0.9)
    _, st9 = bn9.apply(x, bn9.init(x), training=True)
    np.testing.assert_allclose(st9["renorm_mean"], 0.1 * mean, rtol=1e-5)
    np.testing.assert_allclose(st9["renorm_stddev"], 0.9 + 0.1 * s, rtol=1e-6)
    np.testing.assert_array_equal(st9["running_mean"], st["running_mean"])
    # inference is unchanged: the running mean and variance
    ye, _ = bn.apply(x, st, training=False)
    want = (x - st["running_mean"]) / np.sqrt(st["running_var"] + f32(1e-3))
    np.testing.assert_allclose(ye, want, rtol=1e-5)


def test_keras_renorm_clipping():
    """r is clipped to [rmin, rmax], d to [-dmax, dmax]; y = x_hat * r*gamma + d*gamma + beta."""
    x = np.array([[10.0, 0.0], [30.0, 0.001], [20.0, 0.002]], f32)
    clip = {"rmax": 3.0, "rmin": 0.5, "dmax": 1.0}
    bn = layer("keras.layers.BatchNormalization", renorm=True, renorm_clipping=clip)
    st0 = bn.init(x)
    st0["scale"] = np.array([2.0, 2.0], f32)
    st0["bias"] = np.array([1.0, -1.0], f32)
    y, _ = bn.apply(x, st0, training=True)
    mean, var, s = _keras_renorm_stats(x)
    r = np.clip(s, 0.5, 3.0)            # channel 0: s ~ 8.2 -> 3; channel 1: s ~ 0.03 -> 0.5
    d = np.clip(mean, -1.0, 1.0)        # channel 0: 20 -> 1
    assert r[0] == 3.0 and r[1] == 0.5 and d[0] == 1.0
    want = (x - mean) / s * (r * 2.0) + (d * 2.0 + [1.0, -1.0])
    np.testing.assert_allclose(y, want, rtol=1e-5, atol=1e-5)
    # without clipping y would be x * 2 + beta
    free = layer("keras.layers.BatchNormalization", renorm=True)
    yf, _ = free.apply(x, {**st0}, training=True)
    np.testing.assert_allclose(yf, x * 2 + [1.0, -1.0], rtol=1e-5, atol=1e-4)


def test_keras_renorm_errors_and_inert_without_renorm():
    x = np.ones((2, 3), f32)
    name = "keras.layers.BatchNormalization"
    for clip in ({"rmax": 1.0, "foo": 2.0}, {"rmax": 1.0, "rmin": 2.0}, {"dmax": -1.0}):
        with pytest.raises(ValueError):
            layer(name, renorm=True, renorm_clipping=clip)
    # without renorm Keras ignores the renorm keywords
    a = layer(name, renorm_clipping={"rmax": 1.0}, renorm_momentum=0.5)
    b = layer(name)
    xs = (np.arange(6, dtype=f32).reshape(2, 3))
    np.testing.assert_array_equal(a.apply(xs, a.init(x), training=True)[0],
                                  b.apply(xs, b.init(x), training=True)[0])
    assert "renorm_mean" not in a.init(x)


def test_keras_renorm_array_api_strict_and_torch_sqrt():
    xps = pytest.importorskip("array_api_strict")
    rng = np.random.default_rng(3)
    xs = [(rng.standard_normal((4, 3, 3, 6)) * 2 + 0.5).astype(f32) for _ in range(3)]
    kw = {"renorm": True, "renorm_clipping": {"rmax": 3.0, "rmin": 0.333, "dmax": 5.0}}
    for backend in (None, "torch"):
        bn = layer("keras.layers.BatchNormalization", backend=backend, **kw)
        outs = []
        for conv in (lambda a: a, xps.asarray):
            st = bn.init(conv(xs[0]))
            ys = []
            for x in xs:
                y, st = bn.apply(conv(x), st, training=True)
                ys.append(np.asarray(y))
            ys.append(np.asarray(bn.apply(conv(xs[0]), st, training=False)[0]))
            ys += [np.asarray(st[k]) for k in ("renorm_mean", "renorm_stddev",
                                               "moving_stddev", "running_var")]
            outs.append(ys)
        for r, g in zip(*outs):
            np.testing.assert_array_equal(g, r)
    assert layer("keras.layers.BatchNormalization", backend="torch",
                 **kw).rule_kwargs["sqrt_method"] == "mkl_goldschmidt_rsqrtps"


# -- torch's CPU kernels (eps_ref.norms._torch_cpu), without torch ---------------------------

def _literal_rowwise_merge(m0, m1, m2, depth):
    """RowwiseMomentsImpl's stack loop as written in moments_utils.h, one chunk at a time
    (AddMomentsVec: m1 + c*delta, fma(m0*delta, c*delta, m2 + m2_add))."""
    from eps_ref.rules._numerics import fma

    def add(a, into):
        n = into[0] + a[0]
        c = f32(0) if n == 0 else f32(a[0]) / f32(n)
        delta = a[1] - into[1]
        cd = c * delta
        return [n, into[1] + cd, fma(delta * f32(into[0]), cd, into[2] + a[2])]

    zero = np.zeros_like(m1[0])
    stack = [[0, zero, zero] for _ in range(depth)]
    for i in range(len(m0)):
        stack[0] = add([m0[i], m1[i], m2[i]], stack[0])
        mask, j = i + 1, 1
        while j < depth and mask & 1 == 0:
            stack[j] = add(stack[j - 1], stack[j])
            stack[j - 1] = [0, zero, zero]
            mask >>= 1
            j += 1
    for j in range(1, depth):
        stack[0] = add(stack[j], stack[0])
    return stack[0][1], stack[0][2]


@pytest.mark.parametrize("chunks", [1, 2, 3, 4, 5, 7, 8, 9, 16, 17, 31, 33, 64, 100])
def test_rowwise_merge_levels_equal_the_stack_loop(chunks):
    """The level-at-a-time merge is the kernel's binary-counter stack, bit for bit, for any
    chunk count (the last chunk partial)."""
    from eps_ref.norms._torch_cpu import _ceil_log2, _merged_chunks
    rng = np.random.default_rng(chunks)
    counts = [16] * (chunks - 1) + [5]
    m1 = (rng.standard_normal((chunks, 8)) * 3 + 1e3).astype(f32)
    m2 = (rng.random((chunks, 8)) * 50).astype(f32)
    want = _literal_rowwise_merge(counts, m1, m2, _ceil_log2(chunks))
    got = _merged_chunks(np.asarray(counts, np.int64).reshape(-1, 1), m1[None], m2[None],
                         _ceil_log2(chunks))
    for w, g in zip(want, got):
        np.testing.assert_array_equal(g[0].view(np.uint32), w.view(np.uint32))


def test_fused_square_sum_is_the_fma_loop():
    """The binade-run evaluation of acc = fma(d, d, acc) equals the row-by-row loop: ordinary
    data, integers (ties once the accumulator passes 2^24), tiny, huge (overflow), zeros,
    inf and NaN."""
    from eps_ref.norms._torch_cpu import _fused_square_sum
    from eps_ref.rules._numerics import fma
    rng = np.random.default_rng(0)
    nonfinite = rng.standard_normal((300, 3)).astype(f32)
    nonfinite[100, 1], nonfinite[200, 2] = np.inf, np.nan
    cases = [rng.standard_normal((5000, 4)), rng.integers(-3000, 3000, (3000, 3)),
             (rng.integers(-999, 999, (2000, 2)) * 0.5), rng.standard_normal((300, 2)) * 1e-30,
             rng.standard_normal((300, 2)) * 1e19, np.zeros((70, 2)), nonfinite]
    with np.errstate(all="ignore"):
        for d in cases:
            d = np.asarray(d, f32)
            acc = np.zeros(d.shape[1:], f32)
            for row in d:
                acc = fma(row, row, acc)
            np.testing.assert_array_equal(_fused_square_sum(d).view(np.uint32),
                                          acc.view(np.uint32))


def test_torch_batch_norm_stats_layouts_and_threads():
    """(N, C) and channels-last inputs: float32 sums per thread slice, the slices added in
    float64; a contiguous (N, C, L): float64 per channel. Shown on a column whose float32
    sum loses the small values."""
    from eps_ref.norms._torch_cpu import batch_norm_stats, memory_format
    col = np.array([1e8, 1.0, 1.0, 1.0, -1e8, 1.0], f32)
    x = np.stack([col, col], axis=1)                                # (6, 2)
    mean1, _ = batch_norm_stats(x, threads=1)
    s1 = f32(0)
    for v in col:
        s1 = f32(s1 + v)
    assert mean1[0] == f32(float(s1) / 6)                           # float32 sum: 0
    mean2, _ = batch_norm_stats(x, threads=2)                       # slices of 3 rows
    a, b = f32(0), f32(0)
    for v in col[:3]:
        a = f32(a + v)
    for v in col[3:]:
        b = f32(b + v)
    assert mean2[0] == f32((float(a) + float(b)) / 6) and mean2[0] != mean1[0]
    # the same column as a contiguous (1, 2, 6): float64, the exact 4/6
    xc = np.ascontiguousarray(x.T[None])
    assert memory_format(xc) == "contiguous"
    assert batch_norm_stats(xc, threads=2)[0][0] == f32(4 / 6)
    # channels-last memory (a moved NHWC array) takes the per-thread kernel
    nhwc = np.ascontiguousarray(x.reshape(1, 2, 3, 2))
    nchw = np.moveaxis(nhwc, -1, 1)
    assert memory_format(nchw) == "channels_last"
    np.testing.assert_array_equal(batch_norm_stats(nchw, threads=2)[0], mean2)
    with pytest.raises(ValueError, match="neither contiguous nor channels-last"):
        batch_norm_stats(np.ones((4, 3, 5), f32)[:, :, ::2], threads=1)


def test_torch_batch_norm_rows_at_most_threads():
    """N <= threads: up to 16 channels one float32 pass, divided by N in float32; 17 to
    2048 channels float64, as the contiguous kernel; more rows than threads: per thread."""
    from eps_ref.norms._torch_cpu import batch_norm_stats
    x = np.zeros((3, 17), f32)
    x[:, 0] = [1e8, 1.0, -1e8]
    assert batch_norm_stats(np.ascontiguousarray(x[:, :16]), threads=4)[0][0] == 0
    assert batch_norm_stats(x, threads=4)[0][0] == f32(1 / 3)     # float64
    assert batch_norm_stats(x, threads=1)[0][0] == 0              # one slice, float32
    bn = layer("torch.nn.BatchNorm1d", num_features=17, affine=False)
    assert bn.rule_kwargs["threads"] == 1
    bn4 = layer("torch.nn.BatchNorm1d", num_features=17, affine=False, threads=4)
    y1, y4 = (b.apply(x, b.init(x), training=True)[0] for b in (bn, bn4))
    assert y1[1, 0] != y4[1, 0]


def test_torch_sum_splits_one_output_over_threads():
    """A reduction to one value of >= 32768 elements: the flat input in ceil(n / threads)
    slices, each summed on its own, then the slots summed; below that, or with several
    outputs, the thread count does not matter."""
    from eps_ref.norms._torch_cpu import GRAIN_SIZE, torch_sum
    rng = np.random.default_rng(0)
    x = (rng.standard_normal(GRAIN_SIZE + 5) * np.logspace(-3, 3, GRAIN_SIZE + 5)).astype(f32)
    half = -(-x.size // 2)
    slots = [torch_sum(x[:half], (0,)), torch_sum(x[half:], (0,))]
    want = torch_sum(np.concatenate(slots), (0,))
    got = torch_sum(x, (0,), threads=2)
    assert got.view(np.uint32) == want.view(np.uint32)
    assert got.view(np.uint32) != torch_sum(x, (0,)).view(np.uint32)
    small, rows = x[:GRAIN_SIZE - 1], np.stack([x, x[::-1]])
    assert torch_sum(small, (0,), threads=2) == torch_sum(small, (0,))
    np.testing.assert_array_equal(torch_sum(rows, (1,), threads=2), torch_sum(rows, (1,)))


def test_torch_group_norm_rstd_in_float64_and_no_affine():
    """group_norm_kernel.cpp: rstd = 1/sqrt(max(var, 0) + eps) in float64, rounded once;
    without weight and bias y = (x - mean) * rstd."""
    from eps_ref.norms._torch_cpu import rowwise_moments
    rng = np.random.default_rng(4)
    x = (rng.standard_normal((3, 4, 5)) * 2 + 1).astype(f32)
    gn = layer("torch.nn.GroupNorm", num_groups=2, num_channels=4, affine=False)
    y, _ = gn.apply(x, gn.init(x), training=True)
    mean, var = rowwise_moments(x.reshape(3, 2, 10))
    rstd = (1 / np.sqrt(np.maximum(var, 0).astype(np.float64) + 1e-5)).astype(f32)
    want = (x.reshape(3, 2, 10) - mean[..., None]) * rstd[..., None]
    np.testing.assert_array_equal(y.reshape(3, 2, 10).view(np.uint32), want.view(np.uint32))


def test_torch_instance_norm_refuses_one_spatial_value():
    inorm = layer("torch.nn.InstanceNorm1d", num_features=3)
    x = np.ones((2, 3, 1), f32)
    with pytest.raises(ValueError, match="more than 1 value"):
        inorm.apply(x, inorm.init(x), training=True)


def test_torch_kernels_at_size_array_api_strict():
    """The real-size kernels run on array_api_strict arrays too, bit for bit as on numpy."""
    xps = pytest.importorskip("array_api_strict")
    rng = np.random.default_rng(5)
    for name, kw, shape in (("torch.nn.LayerNorm", {"normalized_shape": [1000]}, (3, 1000)),
                            ("torch.nn.BatchNorm1d", {"num_features": 5}, (300, 5)),
                            ("torch.nn.GroupNorm", {"num_groups": 2, "num_channels": 4},
                             (2, 4, 130))):
        x = (rng.standard_normal(shape) * 3 + 10).astype(f32)
        lay = layer(name, threads=2, **kw)
        want = lay.apply(x, lay.init(x), training=True)[0]
        got = lay.apply(xps.asarray(x), lay.init(xps.asarray(x)), training=True)[0]
        np.testing.assert_array_equal(np.asarray(got).view(np.uint32), want.view(np.uint32))


def test_torch_group_norm_channels_last_kernel():
    """A channels-last input takes GroupNormKernelImplChannelsLastInternal: lane sums of
    x and x*x per group (8 lanes over the group's channels, added position by position),
    then var = fma(sum(x^2), s, -mean^2); its output differs from the contiguous kernel's
    where E[x^2] - E[x]^2 cancels."""
    from eps_ref.norms._torch_cpu import group_norm_channels_last, memory_format
    from eps_ref.rules._numerics import fma
    rng = np.random.default_rng(6)
    x = (300 + rng.standard_normal((2, 16, 3, 2))).astype(f32)
    x_cl = np.moveaxis(np.ascontiguousarray(np.moveaxis(x, 1, -1)), -1, 1)
    assert memory_format(x_cl) == "channels_last"
    mean, var = group_norm_channels_last(x_cl, 2)
    lanes = np.moveaxis(x, 1, -1).reshape(2, 6, 2, 8)               # (N, HW, G, 8 channels)
    acc, acc_sq = np.zeros((2, 2, 8), f32), np.zeros((2, 2, 8), f32)
    for m in range(6):
        acc, acc_sq = acc + lanes[:, m], acc_sq + lanes[:, m] * lanes[:, m]

    def lane_sum(v):
        return ((v[..., 0] + v[..., 4]) + (v[..., 2] + v[..., 6])) + (
            (v[..., 1] + v[..., 5]) + (v[..., 3] + v[..., 7]))

    s = f32(1) / f32(48)
    want_mean = lane_sum(acc) * s
    want_var = np.maximum(fma(lane_sum(acc_sq), np.full((2, 2), s, f32),
                              -(want_mean * want_mean)), 0)
    np.testing.assert_array_equal(mean, want_mean)
    np.testing.assert_array_equal(var, want_var)
    gn = layer("torch.nn.GroupNorm", num_groups=2, num_channels=16)
    y_cl = gn.apply(x_cl, gn.init(x), training=True)[0]
    y = gn.apply(x, gn.init(x), training=True)[0]
    assert not np.array_equal(y_cl, y)


def test_torch_batch_norm_contiguous_small_batch_stays_float64():
    """A contiguous input with a spatial size above 1 takes the float64 kernel whatever
    the thread count (the N <= threads rule is the channels-last kernel's)."""
    from eps_ref.norms._torch_cpu import batch_norm_stats
    x = np.zeros((1, 2, 3), f32)
    x[0, 0] = [1e8, 1.0, -1e8]
    assert batch_norm_stats(x, threads=4)[0][0] == f32(1 / 3)
