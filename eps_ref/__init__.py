"""eps_ref: the spec oracle for deep-learning update rules across frameworks.

    import eps_ref
    opt = eps_ref.optimizer("torch.optim.Adam", lr=1e-3)
    state = opt.init(params)
    params, state = opt.step(params, grads, state)

    clipped = eps_ref.chain(eps_ref.clip("optax.clip_by_global_norm", max_norm=1.0),
                            eps_ref.optimizer("optax.adam", learning_rate=1e-3))

    layer = eps_ref.layer("torch.nn.BatchNorm1d", num_features=8)
    state = layer.init(x)
    y, state = layer.apply(x, state, training=True)

    sched = eps_ref.schedule("torch.optim.lr_scheduler.OneCycleLR", lr=0.1, max_lr=0.01,
                             total_steps=1000)
    sched.learning_rates(1000)                       # as torch computes them
    opt = eps_ref.optimizer("torch.optim.Adam", lr=sched)   # Adam + OneCycleLR

    plan = eps_ref.port("torch.optim.Adam", to="optax", lr=3e-4)   # porting
    print(plan); plan.equivalent, plan.nearest, plan.differences, plan.dropin(params)

    eps_ref.testing.assert_conforms(my_adam, "torch.optim.Adam", lr=1e-3)   # your own code
    e = eps_ref.explain(my_adam); e.nearest, e.kwargs, e.max_ulp, e.differences(name)
"""

from eps_ref import testing
from eps_ref.explain import Explanation, explain
from eps_ref.layer import Layer, layer
from eps_ref.port import Plan, port
from eps_ref.schedule import Schedule, schedule
from eps_ref.state import convert_state
from eps_ref.spec import (REQUIRED, Budget, Chain, Clip, Optimizer, Spec, chain, clip, optimizer,
                          spec, specs)
from eps_ref.ulp import ulp_distance

__version__ = "0.1.0"
__all__ = ["optimizer", "clip", "chain", "layer", "spec", "specs", "Spec", "Optimizer", "Clip",
           "Chain", "Layer", "Budget", "REQUIRED", "ulp_distance", "port", "Plan", "testing",
           "explain", "Explanation", "schedule", "Schedule", "convert_state"]
