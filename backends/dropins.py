"""Drop-in optimizers: the *source* spec's rule, as a native optimizer of the target.

``eps_ref.port(source, to=...).dropin(params)`` returns

- ``to="torch"``: a :class:`torch.optim.Optimizer` (:class:`TorchDropin`) built on
  ``params``; ``loss.backward(); opt.step()`` as with any torch optimizer;
- ``to="optax"``: an :class:`optax.GradientTransformation` (:func:`optax_dropin`);
  ``updates, state = tx.update(grads, state, params); params = optax.apply_updates(params,
  updates)`` as with any optax transformation.

How: each step takes the framework's tensors to NumPy, steps the eps_ref reference of the
source spec (the same object ``eps_ref.optimizer(source, **kwargs)`` returns) and writes the
new parameters back. So the parameters are bit for bit the source reference's, by
construction, on the host, at the reference's speed (a NumPy step per call, plus a copy to
and from the device): the price of exactness. An optax drop-in is not jittable (it leaves
jit to run NumPy) and its updates are chosen so that ``optax.apply_updates`` lands exactly
on the reference's parameters (:func:`exact_updates`).

All parameters step together as one parameter list, as the source framework steps them:
every parameter needs a gradient at every step (a torch parameter whose ``.grad`` is None
raises, rather than silently changing the moments), and the hyperparameters are fixed at
construction (a learning rate written to ``param_groups`` afterwards is refused).
"""

from __future__ import annotations

import numpy as np

__all__ = ["DROPIN_TARGETS", "dropin", "usage", "TorchDropin", "optax_dropin",
           "exact_updates"]

DROPIN_TARGETS = ("torch", "optax")


def _reference(plan):
    import eps_ref
    return eps_ref.optimizer(plan.source, **plan.source_kwargs)


def dropin(plan, params=None):
    """The drop-in optimizer of ``plan.to`` that runs ``plan.source``'s rule."""
    import eps_ref
    if eps_ref.spec(plan.source).kind != "optimizer":
        raise TypeError(f"{plan.source} is a {eps_ref.spec(plan.source).kind}: drop-ins "
                        "are optimizers; use the native configuration of the plan")
    if plan.to == "torch":
        if params is None:
            raise TypeError("a torch drop-in needs the parameters: plan.dropin(model.parameters())")
        return TorchDropin(params, _reference(plan))
    if plan.to == "optax":
        return optax_dropin(_reference(plan))
    raise NotImplementedError(f"no drop-in for target {plan.to!r} yet (drop-ins: "
                              f"{list(DROPIN_TARGETS)}); use plan.nearest")


def usage(plan) -> str:
    """How to use the drop-in of ``plan``, as code."""
    call = ", ".join([repr(plan.source), f"to={plan.to!r}",
                      *(f"{k}={v!r}" for k, v in plan.source_kwargs.items())])
    if plan.to == "torch":
        return (f"opt = eps_ref.port({call}).dropin(model.parameters())\n"
                "loss.backward(); opt.step(); opt.zero_grad()   # a torch.optim.Optimizer\n"
                "# runs the eps_ref reference on the host: exact, at NumPy speed")
    return (f"tx = eps_ref.port({call}).dropin()\n"
            "state = tx.init(params)\n"
            "updates, state = tx.update(grads, state, params)   # outside jax.jit\n"
            "params = optax.apply_updates(params, updates)\n"
            "# runs the eps_ref reference on the host: exact, at NumPy speed")


# -- torch ---------------------------------------------------------------------------------

def _torch_class():
    import torch

    class TorchDropin(torch.optim.Optimizer):
        """A ``torch.optim.Optimizer`` whose ``step`` is an eps_ref reference's step on
        the parameters' values (see the module docstring)."""

        def __init__(self, params, reference):
            super().__init__(params, {"lr": reference.hyperparams.get(
                "lr", reference.hyperparams.get("learning_rate"))})
            self.reference = reference
            self._lr = self.param_groups[0]["lr"]
            self._params = [p for group in self.param_groups for p in group["params"]]
            self._state = None

        @torch.no_grad()
        def step(self, closure=None):
            loss = None
            if closure is not None:
                with torch.enable_grad():
                    loss = closure()
            if any(g["lr"] != self._lr for g in self.param_groups):
                raise ValueError("the drop-in's hyperparameters are fixed at construction; "
                                 "build a new plan for another learning rate")
            missing = [i for i, p in enumerate(self._params) if p.grad is None]
            if missing:
                raise ValueError(f"parameters {missing} have no gradient: the drop-in steps "
                                 "every parameter together, as the source does; leave "
                                 "frozen parameters out of the optimizer")
            values = [p.detach().cpu().numpy().copy() for p in self._params]
            grads = [p.grad.detach().cpu().numpy().copy() for p in self._params]
            if self._state is None:
                self._state = self.reference.init(values)
            new, self._state = self.reference.step(values, grads, self._state)
            for p, v in zip(self._params, new):
                p.copy_(torch.from_numpy(np.ascontiguousarray(v)).to(p.device))
            return loss

    return TorchDropin


def TorchDropin(params, reference):   # noqa: N802 (a class, built once torch is imported)
    """``torch.optim.Optimizer`` running ``reference`` (an :class:`eps_ref.Optimizer`)."""
    global _TORCH_CLASS
    if _TORCH_CLASS is None:
        _TORCH_CLASS = _torch_class()
    return _TORCH_CLASS(params, reference)


_TORCH_CLASS = None


# -- optax ---------------------------------------------------------------------------------

def exact_updates(params: np.ndarray, new: np.ndarray) -> np.ndarray:
    """Updates ``u`` with ``float32(params + u) == new`` wherever one exists: the rounded
    difference, nudged by one ULP where the sum would round elsewhere (it exists whenever
    the step does not shrink a parameter by more than half of its magnitude)."""
    with np.errstate(all="ignore"):
        u = (new - params).astype(params.dtype)
        for _ in range(4):
            wrong = (params + u) != new
            wrong &= np.isfinite(new)
            if not wrong.any():
                break
            direction = np.where((params + u) < new, np.inf, -np.inf).astype(params.dtype)
            u = np.where(wrong, np.nextafter(u, direction), u)
        return u


def optax_dropin(reference):
    """An ``optax.GradientTransformation`` running ``reference`` on the host."""
    import jax
    import jax.numpy as jnp
    import optax

    def init(params):
        leaves, _ = jax.tree_util.tree_flatten(params)
        return {"reference": reference.init([np.asarray(x) for x in leaves])}

    def update(updates, state, params=None):
        if params is None:
            raise ValueError("the drop-in needs params: tx.update(grads, state, params)")
        leaves, treedef = jax.tree_util.tree_flatten(params)
        grads = jax.tree_util.tree_leaves(updates)
        values = [np.asarray(x) for x in leaves]
        new, ref_state = reference.step(values, [np.asarray(g) for g in grads],
                                        state["reference"])
        steps = [jnp.asarray(exact_updates(v, n)) for v, n in zip(values, new)]
        return jax.tree_util.tree_unflatten(treedef, steps), {"reference": ref_state}

    return optax.GradientTransformation(init, update)
