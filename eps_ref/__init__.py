"""eps_ref: the spec oracle for deep-learning update rules across frameworks.

    import eps_ref
    opt = eps_ref.optimizer("torch.optim.Adam", lr=1e-3)
    state = opt.init(params)
    params, state = opt.step(params, grads, state)

    layer = eps_ref.layer("torch.nn.BatchNorm1d", num_features=8)
    state = layer.init(x)
    y, state = layer.apply(x, state, training=True)
"""

from eps_ref.layer import Layer, layer
from eps_ref.spec import REQUIRED, Budget, Optimizer, Spec, optimizer, spec, specs
from eps_ref.ulp import ulp_distance

__version__ = "0.1.0"
__all__ = ["optimizer", "layer", "spec", "specs", "Spec", "Optimizer", "Layer", "Budget",
           "REQUIRED", "ulp_distance"]
