"""eps_ref.explain: telling which semantics an implementation of unknown semantics runs.

The candidates are written here as third-party code would be (tests/thirdparty.py: plain
NumPy float32, no fused multiply-add), each with the semantics of one spec and rounding of
its own; and every optimizer spec of the registry at its defaults (under EPS_REF_FULL=1
also at its second variant; by default a sample of both). Each answer is checked by
re-running the references, never taken on the explanation's word: the configuration it
names runs the same math as the expected one, and the spec the candidate could be mistaken
for (the same nominal eps placed elsewhere, the AMSGrad max on the other side of the
correction, ...) does not.
"""

from __future__ import annotations

import importlib
import json
import os

import numpy as np
import pytest

import eps_ref
import thirdparty as tp
from eps_ref import testing
from eps_ref.cli import main
from eps_ref.conformance.runner import reference_trajectory
from eps_ref.port import SAME_MATH_ULP, VERIFY_STEPS, scale_ulp
from eps_ref.spec import REQUIRED

X = importlib.import_module("eps_ref.explain")
FULL = os.environ.get("EPS_REF_FULL", "") not in ("", "0")
STREAM = testing.conformance_stream(VERIFY_STEPS)


def _ref(name, kwargs):
    kwargs = {k: v for k, v in kwargs.items() if v is not REQUIRED}
    return reference_trajectory(name, kwargs, STREAM.params0, STREAM.grads)


def _traj(candidate):
    return np.asarray(testing._runner(candidate).run(STREAM))


# (candidate, the spec whose math it runs, a spec of the same family it must not be taken for)
VALIDATION = [
    (tp.KerasStyleAdam(), ("keras.optimizers.Adam", {}),
     ("torch.optim.Adam", {"eps": 1e-7})),                       # the same eps, not eps-hat
    (tp.NaiveAdam(), ("torch.optim.Adam", {}),
     ("keras.optimizers.Adam", {"epsilon": 1e-8})),
    (tp.NaiveAdam(lr=3e-4, eps=1e-7), ("torch.optim.Adam", {"lr": 3e-4, "eps": 1e-7}),
     ("torch.optim.Adam", {"lr": 3e-4})),
    (tp.AdamEpsInsideRoot(), ("optax.adam", {"learning_rate": 1e-3, "eps": 0.0,
                                             "eps_root": 1e-8}),
     ("torch.optim.Adam", {})),
    (tp.AMSGradMaxAfterCorrection(), ("optax.amsgrad", {"learning_rate": 1e-3}),
     ("torch.optim.Adam", {"amsgrad": True})),
    (tp.AMSGradMaxBeforeCorrection(), ("torch.optim.Adam", {"amsgrad": True}),
     ("optax.amsgrad", {"learning_rate": 1e-3})),
    (tp.DecoupledAdamW(), ("torch.optim.AdamW", {}),
     ("torch.optim.Adam", {"weight_decay": 1e-2})),                # coupled L2 instead
    (tp.TFStyleRMSprop(), ("tf.compat.v1.train.RMSPropOptimizer", {"learning_rate": 1e-3}),
     ("keras.optimizers.RMSprop", {"epsilon": 1e-10})),            # mean square from 0
    (tp.TorchStyleAdagrad(), ("torch.optim.Adagrad", {}),
     ("torch.optim.Adagrad", {"initial_accumulator_value": 0.1})),
    (tp.HeavyBallSGD(), ("torch.optim.SGD", {"lr": 1e-2, "momentum": 0.9}),
     ("torch.optim.SGD", {"lr": 1e-2, "momentum": 0.9, "nesterov": True})),
]


@pytest.mark.parametrize("candidate, expected, not_this", VALIDATION,
                         ids=[type(c[0]).__name__ + (f"({c[1][1]})" if c[1][1] else "")
                              for c in VALIDATION])
def test_third_party_implementations_are_identified(candidate, expected, not_this):
    e = eps_ref.explain(candidate)
    traj = _traj(candidate)
    # The premise: the candidate runs the expected spec's math, and not the other's.
    assert scale_ulp(traj, _ref(*expected)) <= SAME_MATH_ULP
    assert scale_ulp(traj, _ref(*not_this)) > SAME_MATH_ULP
    # The answer, re-run here: the same math as the expected spec.
    assert e.same_math, str(e)
    found = _ref(e.nearest, e.kwargs)
    assert scale_ulp(traj, found) == e.scale_ulp <= SAME_MATH_ULP
    assert scale_ulp(_ref(*expected), found) <= SAME_MATH_ULP
    # ... and says what it does differently from the spec it is not.
    assert e.differences(not_this[0], **not_this[1])


def test_rounding_is_not_semantics():
    """NaiveAdam drifts from torch's Adam by rounding (no FMA): recognised, with a nonzero
    ULP count; the same code with eps 1% off is another constant, not noise."""
    e = eps_ref.explain(tp.NaiveAdam(), family="adam")
    assert e.same_math and e.max_ulp > 0
    torch_adam = _ref("torch.optim.Adam", {})
    assert 0 < scale_ulp(_traj(tp.NaiveAdam()), torch_adam) <= SAME_MATH_ULP
    assert scale_ulp(_traj(tp.NaiveAdam(eps=1.01e-8)), torch_adam) > SAME_MATH_ULP


def test_known_values_are_tried():
    """A beta no spec table holds is found from what the user knows."""
    e = eps_ref.explain(tp.NaiveAdam(b2=0.95), family="adam", betas=(0.9, 0.95))
    assert e.same_math
    assert scale_ulp(_ref(e.nearest, e.kwargs),
                     _ref("torch.optim.Adam", {"betas": (0.9, 0.95)})) <= SAME_MATH_ULP


def test_the_explanation():
    e = eps_ref.explain(tp.KerasStyleAdam())
    assert e.nearest == e.ranking[0].name and e.kwargs == dict(e.ranking[0].kwargs)
    assert [c.scale_ulp for c in e.ranking] == sorted(c.scale_ulp for c in e.ranking)
    assert e.equivalent[0] == (e.nearest, e.kwargs)
    assert all(c.equivalent for c in e.ranking[:len(e.equivalent)])
    assert e.config().startswith(e.nearest + "(")
    against = e.differences("torch.optim.Adam")
    assert any(line.startswith("eps_placement:") and "eps_hat" in line for line in against)
    assert e.differences(e.nearest, **e.kwargs) == []
    text = str(e)
    assert f"Same math as {e.config()}" in text and "Runners-up" in text
    json.dumps(e.to_json())
    runner_up = next(c for c in e.ranking if not c.equivalent)
    assert runner_up.differences        # what it does differently from the nearest


@pytest.mark.kernel_models       # against a real framework: the host's kernels count
def test_native_candidates():
    torch = pytest.importorskip("torch")
    e = eps_ref.explain(torch.optim.Adagrad)
    assert e.same_math and e.max_ulp == 0
    assert scale_ulp(_ref(e.nearest, e.kwargs), _ref("torch.optim.Adagrad", {})) == 0


def _registry(which):
    out = []
    for name in eps_ref.specs(kind="optimizer"):
        variants = list(eps_ref.spec(name).variants.values()) or [{}]
        if which == "defaults":
            out.append((name, dict(variants[0])))
        elif len(variants) > 1:
            out.append((name, {**variants[0], **variants[1]}))
    return out


REGISTRY = _registry("defaults") + _registry("second")
SAMPLE = REGISTRY if FULL else REGISTRY[::17]
"""Every optimizer spec at its defaults and at its second variant under EPS_REF_FULL=1
(about 3 minutes here); by default every 17th of them."""


@pytest.mark.parametrize("name, kwargs", SAMPLE,
                         ids=[f"{n}({k})" if k else n for n, k in SAMPLE])
def test_every_spec_is_recognised(name, kwargs):
    e = eps_ref.explain(eps_ref.optimizer(name, **kwargs))
    assert e.same_math, str(e)
    assert scale_ulp(_ref(name, kwargs), _ref(e.nearest, e.kwargs)) <= SAME_MATH_ULP


# -- bad input -----------------------------------------------------------------------------

def test_bad_input():
    with pytest.raises(ValueError, match="unknown family 'adm' \\(did you mean 'adam'\\?\\)"):
        eps_ref.explain(tp.NaiveAdam(), family="adm")
    with pytest.raises(TypeError, match="has no init/step"):
        eps_ref.explain(object())
    rec = testing.record(tp.NaiveAdam(), steps=5)
    with pytest.raises(ValueError, match="the recording has 5"):
        eps_ref.explain(rec, steps=6)
    e = eps_ref.explain(rec, family="adam")
    with pytest.raises(KeyError, match="did you mean 'torch.optim.Adam'"):
        e.differences("torch.optim.Adm")
    with pytest.raises(TypeError, match="is a clip, not an optimizer"):
        e.differences("optax.clip_by_global_norm")


# -- the command line ----------------------------------------------------------------------

def _cli(capsys, *argv):
    code = main(["explain", *argv])
    out = capsys.readouterr()
    return code, out.out, out.err


def test_cli_explains_a_recording(tmp_path, capsys):
    path = tmp_path / "mine.npz"
    testing.record(tp.TFStyleRMSprop(), steps=30).save(path)
    code, out, _ = _cli(capsys, str(path), "--against", "keras.optimizers.RMSprop")
    e = eps_ref.explain(path)
    assert code == 0 and f"Same math as {e.config()}" in out
    assert "30 steps of the conformance stream" in out
    assert "What it does differently from keras.optimizers.RMSprop:" in out
    assert "initial_square_avg" in out
    code, out, _ = _cli(capsys, str(path), "--json", "--family", "rmsprop", "--steps", "20",
                        "learning_rate=1e-3")
    data = json.loads(out)
    assert code == 0 and data["same_math"] and data["families"] == ["rmsprop"]
    assert data["stream"] == "20 steps of the conformance stream"


def test_cli_bad_input_exits_2(tmp_path, capsys):
    rec = testing.record(tp.NaiveAdam(), steps=4)
    good = tmp_path / "good.npz"
    rec.save(good)
    np.savez(tmp_path / "partial.npz", params0=rec.params0, grads=rec.grads)
    np.savez(tmp_path / "shapes.npz", params0=rec.params0, grads=rec.grads,
             trajectory=rec.trajectory[:, :2])
    for argv, message in [
        ([str(tmp_path / "none.npz")], "no such recording"),
        ([str(tmp_path / "partial.npz")], "missing array(s) ['trajectory']"),
        ([str(tmp_path / "shapes.npz")], "trajectory must have the shape of grads"),
        ([str(good), "--family", "adm"], "did you mean 'adam'"),
        ([str(good), "--against", "torch.optim.Adm"], "did you mean 'torch.optim.Adam'"),
        ([str(good), "--steps", "9"], "the recording has 4"),
        ([str(good), "lr"], "key=value"),
    ]:
        code, out, err = _cli(capsys, *argv)
        assert code == 2 and message in err and not out, (argv, err)
