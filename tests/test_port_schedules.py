"""Porting schedules (``eps_ref.port(schedule, to=...)``): each translation measured against
its source, and the equivalent ones checked against the real frameworks."""

from __future__ import annotations

import json

import numpy as np
import pytest

import eps_ref
from eps_ref.port_docs import schedule_plans
from eps_ref.port_schedules import SAME_SCHEDULE, SchedulePlan

P = "torch.optim.lr_scheduler."
ONE_CYCLE = dict(lr=0.1, max_lr=0.01, total_steps=1000)


def _torch_lrs(scheduler: str, n: int, **kwargs) -> np.ndarray:
    """The learning rates the real torch optimizer applies at its steps 1..n."""
    torch = pytest.importorskip("torch")
    w = torch.nn.Parameter(torch.zeros(1))
    opt = torch.optim.SGD([w], lr=kwargs.pop("lr"), momentum=0.9)
    sched = getattr(torch.optim.lr_scheduler, scheduler)(opt, **kwargs)
    out = []
    for _ in range(n):
        out.append(opt.param_groups[0]["lr"])
        opt.step()
        sched.step()
    return np.array(out)


def test_one_cycle_to_optax_is_piecewise_interpolation_and_real_optax_agrees():
    plan = eps_ref.port(P + "OneCycleLR", to="optax", **ONE_CYCLE)
    assert isinstance(plan, SchedulePlan)
    (name, kw), = plan.equivalent
    assert name == "optax.piecewise_interpolate_schedule"
    assert kw["boundaries_and_scales"] == {299: 25.0, 999: 1 / (25 * 1e4)}
    # optax's own one-cycle ends its phases one step later: a candidate, not the same
    onecycle = [c for c in plan.candidates if c.name == "optax.cosine_onecycle_schedule"][0]
    assert not onecycle.equivalent and onecycle.first_differing_step is not None
    # the real frameworks: optax's schedule at count t-1 against torch's lr at step t
    optax = pytest.importorskip("optax")
    fn = getattr(optax, name.split(".")[1])(**kw)
    got = np.array([float(fn(t)) for t in range(1000)])
    want = _torch_lrs("OneCycleLR", 1000, **ONE_CYCLE)
    assert np.max(np.abs(got - want)) / np.max(want) <= SAME_SCHEDULE
    # and the nearest, optax's own one-cycle, does differ from torch where the port says
    fn = optax.cosine_onecycle_schedule(**onecycle.kwargs)
    t = onecycle.first_differing_step
    assert abs(float(fn(t - 1)) - want[t - 1]) / np.max(want) > SAME_SCHEDULE


def test_one_cycle_to_keras_is_nearest_with_its_gap():
    plan = eps_ref.port(P + "OneCycleLR", to="keras", backend="tensorflow", **ONE_CYCLE)
    assert plan.equivalent == [] and plan.nearest.name.endswith("CosineDecay")
    c = plan.nearest
    assert c.first_differing_step == 2 and 0.05 < c.max_diff < 0.2
    assert "cycles the optimizer's momentum" in str(plan)
    assert "No keras schedule computes the same one" in str(plan)


def test_multistep_boundaries_are_read_after_the_increment():
    """torch changes the lr at step m + 1 of milestone m; Keras' boundary b at step b + 2:
    b = m - 1 is the same schedule, b = m differs at one step per milestone."""
    plan = eps_ref.port(P + "MultiStepLR", to="keras", backend="jax", lr=0.1,
                        milestones=[30, 80])
    same, shifted = plan.candidates
    assert same.equivalent and same.kwargs["boundaries"] == [29, 79]
    assert shifted.kwargs["boundaries"] == [30, 80]
    assert shifted.differing_steps == 2 and shifted.first_differing_step == 31
    want = _torch_lrs("MultiStepLR", 100, lr=0.1, milestones=[30, 80])
    assert want[30] < want[29] and [t for t, *_ in shifted.examples] == [31, 81]


def test_cosine_annealing_climbs_back_past_t_max():
    plan = eps_ref.port(P + "CosineAnnealingLR", to="optax", lr=0.1, T_max=100)
    c = plan.nearest
    assert c.first_differing_step == 102 and not plan.equivalent
    assert "climbs back" in str(plan)
    short = eps_ref.port(P + "CosineAnnealingLR", to="optax", gap_steps=101, lr=0.1,
                         T_max=100)
    assert short.equivalent and short.nearest.steps == 101


def test_every_documented_port_round_trips_to_json():
    plans = schedule_plans()
    assert {p.to for p in plans} == {"optax", "keras", "tf1"}
    for plan in plans:
        data = json.loads(json.dumps(plan.to_json()))
        assert data["family"] == "schedule" and data["candidates"]
        assert (data["equivalent"] == []) == bool(plan.differences)


def test_the_measure_can_fail():
    """A translation written wrong by one step is caught: StepLR's step size off by one."""
    plan = eps_ref.port(P + "StepLR", to="optax", lr=0.1, step_size=30)
    assert plan.nearest.equivalent
    from eps_ref.port_schedules import _compare
    off = _compare(
        "optax.exponential_decay", {"init_value": 0.1, "transition_steps": 31,
                                    "decay_rate": 0.1, "staircase": True},
        np.array(eps_ref.schedule(P + "StepLR", lr=0.1, step_size=30).learning_rates(100)),
        None)
    assert off.first_differing_step == 31 and off.differing_steps == 6   # 31, 61-62, 91-93
