"""The normalization-layer part of ``docs/semantics.md``, generated from the layer specs:
``norms_markdown()`` returns the side-by-side table, the per-spec table, the exact porting
conversions, the scale-aware unit and the declared conformance budgets. Numbers quoted in
the text (the fast-variance example) are computed by the oracle when the page is built."""

from __future__ import annotations

import numpy as np

import eps_ref
from eps_ref.spec import REQUIRED

__all__ = ["norms_markdown", "NOMINAL_LAYERS"]

# The same nominal layer in each framework (qualified names; None: the framework has none).
NOMINAL_LAYERS = {
    "BatchNorm": {"torch": ("torch.nn.BatchNorm1d", "torch.nn.BatchNorm2d",
                            "torch.nn.BatchNorm3d"),
                  "keras": ("keras.layers.BatchNormalization",),
                  "flax": ("flax.linen.BatchNorm",)},
    "LayerNorm": {"torch": ("torch.nn.LayerNorm",),
                  "keras": ("keras.layers.LayerNormalization",),
                  "flax": ("flax.linen.LayerNorm",)},
    "GroupNorm": {"torch": ("torch.nn.GroupNorm",),
                  "keras": ("keras.layers.GroupNormalization",),
                  "flax": ("flax.linen.GroupNorm",)},
    "InstanceNorm": {"torch": ("torch.nn.InstanceNorm1d", "torch.nn.InstanceNorm2d",
                               "torch.nn.InstanceNorm3d"),
                     "keras": (),
                     "flax": ("flax.linen.InstanceNorm",)},
    "RMSNorm": {"torch": ("torch.nn.RMSNorm",),
                "keras": ("keras.layers.RMSNormalization",),
                "flax": ("flax.linen.RMSNorm",)},
}
_FRAMEWORKS = ("torch", "keras", "flax")

_VARIANCE_WORDS = {
    "two_pass": "two-pass Σ(x − μ)²/n",
    "jnp_var": "two-pass Σ(x − μ)²/n (jnp.var)",
    "mean_sq_minus_sq_mean": "E[x²] − E[x]² (unclamped)",
    "mean_sq_minus_sq_mean_clamped": "max(0, E[x²] − E[x]²)",
    "torch_rowwise_welford": "Welford (RowwiseMoments), two-pass-accurate",
}
_MOMENTUM_WORDS = {
    "weight_on_batch": "r ← m·b + (1 − m)·r",
    "cumulative_average": "equal-weight average (m = 1/t)",
    "weight_on_running": "r ← m·r + (1 − m)·b",
}


def _value(v) -> str:
    return "required" if v is REQUIRED else repr(v)


def _link(name: str) -> str:
    return f"[`{name}`]({eps_ref.spec(name).reference})"


def _eps_keyword(defaults) -> str:
    for k in ("eps", "epsilon"):
        if k in defaults:
            v = defaults[k]
            return f"`{k}={v!r}`" + (" (finfo(dtype).eps ≈ 1.19e-7)" if v is None else "")
    return "-"


def _variance(sem) -> str:
    if sem.get("use_mean", True) is False:
        return "mean of x² (no centering)"
    return _VARIANCE_WORDS.get(sem.get("variance"), str(sem.get("variance", "-")))


def _momentum(s, sem) -> str:
    if sem.get("momentum_form") is None:
        return "- (no running statistics)"
    m = s.defaults.get("momentum")
    return f"`momentum={m!r}`: {_MOMENTUM_WORDS[sem['momentum_form']]}"


def _running_var(sem) -> str:
    rv = sem.get("running_variance")
    if rv is None:
        return "-"
    return "unbiased n/(n − 1)·σ²" if rv == "unbiased" else "biased σ²"


def _cell(names, what) -> str:
    if not names:
        return "(none)"
    s = eps_ref.spec(names[0])
    sem = dict(s.semantics)
    links = " ".join(_link(n) for n in names)
    return f"{links}: {what(s, sem)}"


def _side_by_side() -> list[str]:
    known = set(eps_ref.specs(kind="layer"))
    rows = [("eps (always inside √(σ² + ε))", lambda s, sem: _eps_keyword(s.defaults)),
            ("momentum and what it weighs", _momentum),
            ("running variance fed", lambda s, sem: _running_var(sem)),
            ("batch variance", lambda s, sem: _variance(sem))]
    lines = ["| layer | property | torch | Keras 3 | Flax (linen) |", "|---|---|---|---|---|"]
    for nominal, by_fw in NOMINAL_LAYERS.items():
        members = {fw: tuple(n for n in by_fw[fw] if n in known) for fw in _FRAMEWORKS}
        for i, (prop, what) in enumerate(rows):
            if prop.startswith(("momentum", "running")) and nominal != "BatchNorm":
                continue
            cells = " | ".join(_cell(members[fw], what) if i == 0 or not members[fw]
                               else what(eps_ref.spec(members[fw][0]),
                                         dict(eps_ref.spec(members[fw][0]).semantics))
                               for fw in _FRAMEWORKS)
            lines.append(f"| {nominal if i == 0 else ''} | {prop} | {cells} |")
    return lines


def _fast_variance_example() -> str:
    """What Flax's default variance gives on a large-mean batch, computed by the oracle."""
    rng = np.random.default_rng(0)
    x = (np.float32(1e4) + rng.standard_normal((128, 1))).astype(np.float32)
    true_var = float(np.var(x.astype(np.float64)))
    out = {}
    for fast in (True, False):
        lay = eps_ref.layer("flax.linen.BatchNorm", use_fast_variance=fast, momentum=0.0)
        _, st = lay.apply(x, lay.init(x), training=True)
        out[fast] = float(st["running_var"][0])
    return (f"On 128 values of mean 1e4 and variance {true_var:.4f} (float64), Flax's default "
            f"batch variance is {out[True]:.6g}, its two-pass one {out[False]:.6g} (the "
            "oracle, reproducing XLA:CPU's summation order bit for bit): E[x²] ≈ 1e8 is "
            "known to its ULP, 8, so the fast variance is a multiple of 8 (or 0, which "
            "divides x − μ by √ε instead of σ), whatever the batch's spread.")


def _budgets() -> list[str]:
    lines = []
    for name in eps_ref.specs(kind="layer"):
        s = eps_ref.spec(name)
        for key, b in s.budgets.items():
            units = getattr(b, "output", None)
            lines.append(f"- {_link(name)} on `{key}`: running statistics ≤ {b.ulp} ULP, "
                         f"outputs ≤ {units} scale-aware units. {b.reason}")
    return lines or ["- none: every layer case is bit-exact."]


def norms_markdown() -> str:
    lines = [
        "## Normalization layers",
        "",
        "Every layer adds eps to the variance inside the square root: "
        "y = γ (x − μ) / √(σ² + ε) + β. What differs is the default eps, what the momentum "
        "weighs, which batch variance feeds the running one, how the variance is computed, "
        "and the operation order of the affine map.",
        "",
        "### The same nominal layer, side by side",
        "",
    ]
    lines += _side_by_side()
    lines += [
        "",
        "### Every layer spec",
        "",
        "| layer | eps default | momentum default | momentum weighs | running variance | "
        "batch variance | reduction | affine order | semantics |",
        "|---|---|---|---|---|---|---|---|---|",
    ]
    for name in eps_ref.specs(kind="layer"):
        s = eps_ref.spec(name)
        sem = dict(s.semantics)
        momentum = "-" if "momentum" in s.inert else s.defaults.get("momentum", "-")
        form = sem.get("momentum_form", "-")
        doc = s.doc.replace("|", "\\|")
        lines.append(
            f"| {_link(name)} | {_eps_keyword(s.defaults)} | "
            f"{momentum if momentum == '-' else _value(momentum)} | {form} | "
            f"{sem.get('running_variance', '-')} | {_variance(sem)} | "
            f"`{sem.get('reduction', '-')}` | `{sem.get('affine_form', '-')}` | {doc} |")
    lines += [
        "",
        "Momentum forms: `weight_on_batch` is torch's r ← m·b + (1 − m)·r (default m = 0.1); "
        "`cumulative_average` is torch's `momentum=None`, m = 1/t after t training calls; "
        "`weight_on_running` is Keras' and Flax's r ← m·r + (1 − m)·b (default m = 0.99). "
        "Reductions: `sequential_float64` (torch instance norm statistics), "
        "`torch_cpu_batch_norm` (torch's batch-norm statistics kernel: float64 per channel, "
        "or float32 per thread for (N, C) and channels-last inputs), "
        "`torch_cpu_avx2` (torch's float32 cascade sum), `xla_cpu` (jnp.mean on XLA:CPU's "
        "small path: float32 in row-major order, times float32(1/n)), `xla_cpu_ynnpack` "
        "(jnp.mean at any size: XLA's loop emitter with windows of 32 under 4096 elements, "
        "YNNPACK's reduce kernels from there, times float32(1/n)), `eigen_cpu` "
        "(tf.reduce_mean: Eigen's reducers, the sum divided by n), `unordered_float32` (a "
        "float32 sum whose kernel order is not reproduced; the reference rounds the exact "
        "sum). The table shows each spec's first backend; Keras on JAX and torch, and in a "
        "tf.function, declare their own kernels (`eps_ref.layer(name, backend=...)`).",
        "",
        "### Porting BatchNorm exactly",
        "",
        "- **Momentum.** torch `momentum=m` corresponds to Keras/Flax `momentum=1 - m` "
        "(torch 0.1 ↔ Keras 0.99 is *not* the same: torch's 0.1 ↔ Keras 0.9). With that "
        "conversion the running **mean** agrees up to float32 rounding (torch computes "
        "`m*b + (1-m)*r` in float32, Keras `r*(1-m) + b*m'` with `m' = float32(1 - (1 - m))`, "
        "which can differ from `float32(m)` by an ULP).",
        "- **Running variance.** torch feeds the *unbiased* batch variance n/(n − 1)·σ²_B "
        "(n = values per channel = batch × spatial size) and normalizes with the biased σ²_B; "
        "Keras and Flax feed σ²_B. From the same initial value r₀ (1 in all three), after T "
        "training calls with the same n each, torch `momentum=m` and Keras/Flax "
        "`momentum=1 - m` satisfy exactly (up to float32 rounding; checked with the oracle in "
        "`tests/test_norms.py::test_running_variance_relation_torch_vs_keras`):",
        "",
        "  torch_var_T = n/(n − 1) · keras_var_T − (1 − m)^T · r₀/(n − 1)",
        "",
        "  (the difference D_T = torch_var_T − n/(n − 1)·keras_var_T obeys "
        "D_T = (1 − m)·D_{T−1}, D_0 = r₀ − n/(n − 1)·r₀). No choice of Keras momentum "
        "reproduces torch's running variance. To port a trained torch `running_var` to Keras "
        "or Flax, keras_var_T = (n − 1)/n · (torch_var_T + (1 − m)^T·r₀/(n − 1)) (the "
        "second term is negligible after a few hundred steps); this is exact only if every "
        "batch had the same n.",
        "- **Cumulative average.** torch `momentum=None` has no Keras/Flax equivalent (their "
        "momentum is constant).",
        "- **eps.** Keras 1e-3, torch and Flax 1e-5 for BatchNorm; LayerNorm 1e-5 (torch), "
        "1e-3 (Keras), 1e-6 (Flax); RMSNorm finfo(float32).eps ≈ 1.19e-7 (torch `eps=None`), "
        "1e-6 (Keras, Flax). The eps is always added to the variance, never to the standard "
        "deviation.",
        "- **Variance formula.** Flax computes E[x²] − E[x]² clamped at 0 by default "
        "(`use_fast_variance=True`); Keras on its torch backend computes it unclamped (a "
        "negative variance larger than eps gives NaN); torch, Keras on TensorFlow and JAX "
        "compute the two-pass Σ(x − μ)²/n. For inputs with |mean| ≫ std the fast form loses "
        "all digits: use `use_fast_variance=False` when porting to Flax. "
        + _fast_variance_example(),
        "- **Keras on torch.** LayerNormalization and RMSNormalization call torch's own "
        "`layer_norm`/`rms_norm` kernels when the axes are contiguous, so they follow torch's "
        "operation order, not Keras' TensorFlow/JAX one.",
        "",
        "### Conformance units and budgets",
        "",
        "Running statistics are compared in plain float32 ULP. Outputs are compared in "
        "*scale-aware units*: per element, |y − y_ref| / u with "
        "u = ulp(max_g |y_ref|) + ulp(max_g |x|) · max|γ| / √(σ_g² + ε), the maximum over the "
        "element's normalization group g (σ_g² its float64 variance in training, the running "
        "variance in inference). That is one rounding of the output plus the output's "
        "response to one rounding of the input's magnitude, which is what a different "
        "summation order or a last-bit rsqrt moves the mean and the scale by; raw ULP of an "
        "output that is rounding noise around 0 can reach 1e9 for the same one-bit cause. "
        "A semantic error is thousands to millions of units: every spec's declared budget is "
        "checked to stay 100 times below eps 1e-3 in place of the default and below the other "
        "momentum convention (`tests/test_layer_drift.py`). NaN against a number is never "
        "within a budget.",
        "",
        "Declared budgets (every other layer case is 0 ULP on every call):",
        "",
    ]
    lines += _budgets()
    lines.append("")
    return "\n".join(lines)
