"""The ``flax.linen`` dialect (normalization layers), read from Flax 0.12.8.

Keyword names and defaults are the module dataclass fields (``parent`` and ``name``
excluded). Initializers and dtypes are written as plain names (``"zeros"``, ``"float32"``):
a dialect module imports no framework. Source: ``flax/linen/normalization.py``.
"""

from eps_ref.norms import BATCH_NORM, FEATURE_NORM, GROUP_NORM
from eps_ref.spec import Spec, check_nonnegative, register, unsupported

VERSION = "0.12.8"
SOURCE = "https://github.com/google/flax/blob/v0.12.8/flax/linen/normalization.py"
# use_running_average is replaced by apply(training=...); axis_name/axis_index_groups only
# matter under pmap; force_float32_reductions changes nothing for float32 inputs.
INERT = frozenset({"use_running_average", "axis_name", "axis_index_groups",
                   "force_float32_reductions", "param_dtype"})


def _common(name, epsilon, dtype, param_dtype, **inits):
    check_nonnegative(name, epsilon=epsilon)
    for k, v in (("dtype", dtype), ("param_dtype", param_dtype)):
        if v not in (None, "float32"):
            raise unsupported(name, k, v)
    for k, (v, want) in inits.items():
        if v != want:
            raise unsupported(name, k, v)


def _variance(use_fast_variance):
    return "mean_sq_minus_sq_mean_clamped" if use_fast_variance else "two_pass"


def _axes(a):
    return (a,) if isinstance(a, int) else tuple(a)


_BASE = {"dtype": None, "param_dtype": "float32"}
# Flax's statistics are eager jnp.mean calls, each one XLA:CPU reduce times float32(1/n)
# (reduction="xla_cpu_ynnpack": XLA's loop emitter under 4096 elements, YNNPACK's kernels
# from there, eps_ref.norms._xla_cpu), the E[x^2] - E[x]^2 cancellation of large-mean
# batches included; lax.rsqrt is XLA:CPU's rsqrtps estimate refined by one fused Newton step
# (rsqrt="xla_rsqrtps_newton_fma", eps_ref.rules._roots). Bit for bit on the suite's stream.
_XLA = {"reduction": "xla_cpu_ynnpack", "rsqrt": "xla_rsqrtps_newton_fma"}
# YNNPACK's column sums over more than 256 rows, and XLA with more than one thread, are
# not reproduced (eps_ref.norms._xla_cpu); conformance/test_keras_flax_norms_at_size.py
# measures them.

# Under jax.jit (backends/flax.py with EPS_REF_FLAX_MODE=jit) XLA fuses x^2 and (x - mean)^2
# into the reduces (under 4096 elements its loop emitter vectorizes them with reassociating
# adds), folds the momentum into the mean's 1/n, contracts the affine map into
# fma(x - mean, scale * rsqrt, bias) and computes rsqrt inside the fused loop. That is not
# reproduced, so there is no flax/jit label: with the fast variance, E[x^2] one ULP apart
# on a large-mean batch is another variance, outputs 1e6 units apart, a "budget" that
# would hide an eps error (tests/test_layer_drift.py). The jitted layers at real sizes are
# measured in conformance/test_keras_flax_norms_at_size.py.


def _bn_bind(use_running_average, axis, momentum, epsilon, dtype, param_dtype, use_bias,
             use_scale, bias_init, scale_init, axis_name, axis_index_groups,
             use_fast_variance, force_float32_reductions):
    name = "flax.linen.BatchNorm"
    _common(name, epsilon, dtype, param_dtype, bias_init=(bias_init, "zeros"),
            scale_init=(scale_init, "ones"))
    if not isinstance(axis, int):
        raise unsupported(name, "axis", axis)
    return dict(axis=axis, eps=float(epsilon), momentum=float(momentum),
                momentum_form="weight_on_running", running_variance="biased",
                variance=_variance(use_fast_variance), **_XLA,
                training_invstd="float32", affine_form="center_scale",
                running_var_update="float32", min_values_per_channel=0,
                learn_scale=bool(use_scale), learn_bias=bool(use_bias), name=name)


register(Spec(
    name="flax.linen.BatchNorm", framework="flax", version=VERSION, kind="layer",
    defaults={"use_running_average": None, "axis": -1, "momentum": 0.99, "epsilon": 1e-05,
              **_BASE, "use_bias": True, "use_scale": True, "bias_init": "zeros",
              "scale_init": "ones", "axis_name": None, "axis_index_groups": None,
              "use_fast_variance": True, "force_float32_reductions": True},
    rule=BATCH_NORM, bind=_bn_bind, reference=SOURCE, inert=INERT,
    variants={"defaults": {},
              "two-pass variance": {"use_fast_variance": False},
              "momentum 0.9, epsilon 1e-3": {"momentum": 0.9, "epsilon": 1e-3}},
    doc="epsilon 1e-5 inside the sqrt; var = max(0, E[x^2] - E[x]^2) by default; "
        "running = m*running + (1-m)*batch with the biased variance"))


def _ln_bind(epsilon, dtype, param_dtype, use_bias, use_scale, bias_init, scale_init,
             reduction_axes, feature_axes, axis_name, axis_index_groups, use_fast_variance,
             force_float32_reductions):
    name = "flax.linen.LayerNorm"
    _common(name, epsilon, dtype, param_dtype, bias_init=(bias_init, "zeros"),
            scale_init=(scale_init, "ones"))
    return dict(feature_axes=_axes(feature_axes), reduce_axes=_axes(reduction_axes),
                eps=float(epsilon), variance=_variance(use_fast_variance), **_XLA,
                affine_form="center_scale",
                learn_scale=bool(use_scale), learn_bias=bool(use_bias), name=name)


register(Spec(
    name="flax.linen.LayerNorm", framework="flax", version=VERSION, kind="layer",
    defaults={"epsilon": 1e-06, **_BASE, "use_bias": True, "use_scale": True,
              "bias_init": "zeros", "scale_init": "ones", "reduction_axes": -1,
              "feature_axes": -1, "axis_name": None, "axis_index_groups": None,
              "use_fast_variance": True, "force_float32_reductions": True},
    rule=FEATURE_NORM, bind=_ln_bind, reference=SOURCE, inert=INERT,
    variants={"defaults": {}, "two-pass variance": {"use_fast_variance": False},
              "epsilon 1e-3": {"epsilon": 1e-3}},
    doc="epsilon 1e-6 inside the sqrt; var = max(0, E[x^2] - E[x]^2) by default; "
        "y = (x - mean) * (scale * rsqrt(var + eps)) + bias"))


def _gn_bind(num_groups, group_size, epsilon, dtype, param_dtype, use_bias, use_scale,
             bias_init, scale_init, reduction_axes, axis_name, axis_index_groups,
             use_fast_variance, force_float32_reductions):
    name = "flax.linen.GroupNorm"
    _common(name, epsilon, dtype, param_dtype, bias_init=(bias_init, "zeros"),
            scale_init=(scale_init, "ones"))
    if (num_groups is None) == (group_size is None):
        raise ValueError(f"{name}: either num_groups or group_size should be specified")
    if reduction_axes is not None:
        raise unsupported(name, "reduction_axes", reduction_axes)
    if group_size is not None:
        raise unsupported(name, "group_size", group_size)
    return dict(groups=num_groups, channel_axis=-1, eps=float(epsilon),
                variance=_variance(use_fast_variance), **_XLA,
                affine_form="center_scale", learn_scale=bool(use_scale),
                learn_bias=bool(use_bias), name=name)


register(Spec(
    name="flax.linen.GroupNorm", framework="flax", version=VERSION, kind="layer",
    defaults={"num_groups": 32, "group_size": None, "epsilon": 1e-06, **_BASE,
              "use_bias": True, "use_scale": True, "bias_init": "zeros", "scale_init": "ones",
              "reduction_axes": None, "axis_name": None, "axis_index_groups": None,
              "use_fast_variance": True, "force_float32_reductions": True},
    rule=GROUP_NORM, bind=_gn_bind, reference=SOURCE, inert=INERT,
    variants={"defaults": {"num_groups": 3},
              "two-pass variance": {"num_groups": 3, "use_fast_variance": False}},
    doc="epsilon 1e-6 inside the sqrt; statistics per sample and group of channels (last "
        "axis); fast variance by default"))


def _in_bind(epsilon, dtype, param_dtype, use_bias, use_scale, bias_init, scale_init,
             feature_axes, axis_name, axis_index_groups, use_fast_variance,
             force_float32_reductions):
    name = "flax.linen.InstanceNorm"
    _common(name, epsilon, dtype, param_dtype, bias_init=(bias_init, "zeros"),
            scale_init=(scale_init, "ones"))
    return dict(feature_axes=_axes(feature_axes), reduce_axes="spatial", eps=float(epsilon),
                variance=_variance(use_fast_variance), **_XLA,
                affine_form="center_scale", learn_scale=bool(use_scale),
                learn_bias=bool(use_bias), min_ndim=3, name=name)


register(Spec(
    name="flax.linen.InstanceNorm", framework="flax", version=VERSION, kind="layer",
    defaults={"epsilon": 1e-06, **_BASE, "use_bias": True, "use_scale": True,
              "bias_init": "zeros", "scale_init": "ones", "feature_axes": -1,
              "axis_name": None, "axis_index_groups": None, "use_fast_variance": True,
              "force_float32_reductions": True},
    rule=FEATURE_NORM, bind=_in_bind, reference=SOURCE, inert=INERT,
    variants={"defaults": {}, "two-pass variance": {"use_fast_variance": False}},
    doc="epsilon 1e-6 inside the sqrt; statistics per sample and channel over the spatial "
        "axes; learned scale and bias by default (torch: none)"))


def _rms_bind(epsilon, dtype, param_dtype, use_scale, scale_init, reduction_axes,
              feature_axes, axis_name, axis_index_groups, use_fast_variance,
              force_float32_reductions):
    name = "flax.linen.RMSNorm"
    _common(name, epsilon, dtype, param_dtype, scale_init=(scale_init, "ones"))
    return dict(feature_axes=_axes(feature_axes), reduce_axes=_axes(reduction_axes),
                eps=float(epsilon), use_mean=False, variance="two_pass", **_XLA,
                affine_form="center_scale",
                learn_scale=bool(use_scale), learn_bias=False, name=name)


register(Spec(
    name="flax.linen.RMSNorm", framework="flax", version=VERSION, kind="layer",
    defaults={"epsilon": 1e-06, **_BASE, "use_scale": True, "scale_init": "ones",
              "reduction_axes": -1, "feature_axes": -1, "axis_name": None,
              "axis_index_groups": None, "use_fast_variance": True,
              "force_float32_reductions": True},
    rule=FEATURE_NORM, bind=_rms_bind, reference=SOURCE, inert=INERT | {"use_fast_variance"},
    variants={"defaults": {}, "epsilon 1e-3": {"epsilon": 1e-3}},
    doc="epsilon 1e-6 inside the sqrt; y = x * (scale * rsqrt(mean(x^2) + eps))"))
