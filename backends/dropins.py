"""Drop-in optimizers: the *source* spec's rule, as a native optimizer of the target.

``eps_ref.port(source, to=...).dropin(params)`` returns

- ``to="torch"``: a :class:`torch.optim.Optimizer` (:class:`TorchDropin`) built on
  ``params``; ``loss.backward(); opt.step()`` as with any torch optimizer;
- ``to="optax"``: an :class:`optax.GradientTransformation` (:func:`optax_dropin`);
  ``updates, state = tx.update(grads, state, params); params = optax.apply_updates(params,
  updates)`` as with any optax transformation;
- ``to="keras"``: a ``keras.optimizers.Optimizer`` (:class:`KerasDropin`), on any Keras
  backend, in eager execution: ``opt.apply(grads, model.trainable_variables)`` in a custom
  loop, or ``model.compile(optimizer=opt, run_eagerly=True)`` for ``fit`` (a compiled
  train step cannot leave the graph to run NumPy).

How: each step takes the framework's tensors to NumPy, steps the eps_ref reference of the
source spec (the same object ``eps_ref.optimizer(source, **kwargs)`` returns) and writes the
new parameters back. So the parameters are bit for bit the source reference's, by
construction, on the host, at the reference's speed (a NumPy step per call, plus a copy to
and from the device): the price of exactness. An optax drop-in is not jittable (it leaves
jit to run NumPy) and its updates are chosen so that ``optax.apply_updates`` lands exactly
on the reference's parameters (:func:`exact_updates`) wherever a float32 update can; where
none can (a tie in the addition, a step that shrinks a parameter by more than half), they
land within 1 ULP of the addition (:data:`APPLY_UPDATES_BUDGET`), while the drop-in's state
keeps stepping the exact reference trajectory (:func:`exact_params`).

All parameters step together as one parameter list, as the source framework steps them;
a parameter without a gradient (a torch ``.grad`` of None, a Keras gradient of None) is
left to the source rule, which skips it as its framework does (its parameter and state
unchanged). The hyperparameters are fixed at construction (a learning rate written to
``param_groups`` afterwards is refused).
"""

from __future__ import annotations

import numpy as np

__all__ = ["DROPIN_TARGETS", "dropin", "dropin_for", "usage", "TorchDropin", "KerasDropin",
           "optax_dropin",
           "exact_updates", "exact_params", "APPLY_UPDATES_BUDGET"]

DROPIN_TARGETS = ("torch", "optax", "keras")


def dropin(plan, params=None):
    """The drop-in optimizer of ``plan.to`` that runs ``plan.source``'s rule."""
    return dropin_for(plan.source, plan.to, params, **plan.source_kwargs)


def dropin_for(source: str, to: str, params=None, **source_kwargs):
    """The drop-in of framework ``to`` running ``source(**source_kwargs)``'s reference."""
    import eps_ref
    kind = eps_ref.spec(source).kind
    if kind != "optimizer":
        raise TypeError(f"{source} is a {kind}: drop-ins are optimizers; use the plan's "
                        "native configuration")
    reference = eps_ref.optimizer(source, **source_kwargs)
    if to == "torch":
        if params is None:
            raise TypeError("a torch drop-in needs the parameters: "
                            "plan.dropin(model.parameters())")
        return TorchDropin(params, reference)
    if to == "optax":
        return optax_dropin(reference)
    if to == "keras":
        return KerasDropin(reference)
    raise NotImplementedError(f"no drop-in for target {to!r} yet (drop-ins: "
                              f"{list(DROPIN_TARGETS)}); use plan.nearest")


def _keras_class():
    import keras

    class KerasDropin(keras.optimizers.Optimizer):
        """A ``keras.optimizers.Optimizer`` whose ``apply`` is an eps_ref reference's step
        on the variables' values (see the module docstring); eager execution only."""

        def __init__(self, reference, name="eps_ref_dropin"):
            lr = reference.hyperparams.get("lr", reference.hyperparams.get("learning_rate"))
            super().__init__(learning_rate=float(lr) if isinstance(lr, (int, float)) else 0.0,
                             name=name)
            self.reference = reference
            self._reference_state = None
            self._dropin_variables = None

        def apply(self, grads, trainable_variables=None):
            grads = list(grads)
            variables = (self._dropin_variables if trainable_variables is None
                         else list(trainable_variables))
            if variables is None:
                raise ValueError("give the variables on the first call: "
                                 "opt.apply(grads, model.trainable_variables)")
            if len(grads) != len(variables):
                raise ValueError(f"{len(grads)} gradients for {len(variables)} variables")
            values, grads = _to_numpy(keras, variables), _to_numpy(keras, grads)
            if self._reference_state is None:
                self._dropin_variables = variables
                self._reference_state = self.reference.init(values)
            new, self._reference_state = self.reference.step(values, grads,
                                                             self._reference_state)
            for v, n in zip(variables, new):
                v.assign(np.ascontiguousarray(n))
            self.iterations.assign(self.iterations + 1)
            return self.iterations

        def apply_gradients(self, grads_and_vars):
            grads, variables = zip(*grads_and_vars)
            return self.apply(grads, variables)

    KerasDropin.__qualname__ = "KerasDropin"
    KerasDropin.__module__ = __name__
    return KerasDropin


_KERAS_CLASS = None


def _to_numpy(keras, tensors) -> list:
    """Host copies; Keras' TensorFlow conversion warns about NumPy 2's copy keyword on
    every call, which says nothing about these values."""
    import warnings
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)
        return [None if x is None else np.array(keras.ops.convert_to_numpy(x))
                for x in tensors]


def KerasDropin(reference):   # noqa: N802 (a class, built once keras is imported)
    """``keras.optimizers.Optimizer`` running ``reference`` (an :class:`eps_ref.Optimizer`)."""
    global _KERAS_CLASS
    if _KERAS_CLASS is None:
        _KERAS_CLASS = _keras_class()
    return _KERAS_CLASS(reference)


def usage(plan) -> str:
    """How to use the drop-in of ``plan``, as code."""
    call = ", ".join([repr(plan.source), f"to={plan.to!r}",
                      *(f"{k}={v!r}" for k, v in plan.source_kwargs.items())])
    if plan.to == "torch":
        return (f"opt = eps_ref.port({call}).dropin(model.parameters())\n"
                "loss.backward(); opt.step(); opt.zero_grad()   # a torch.optim.Optimizer\n"
                "# runs the eps_ref reference on the host: exact, at NumPy speed")
    if plan.to == "keras":
        return (f"opt = eps_ref.port({call}).dropin()   # a keras.optimizers.Optimizer\n"
                "opt.apply(grads, model.trainable_variables)   # eager; or\n"
                "model.compile(optimizer=opt, loss=..., run_eagerly=True)\n"
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
            values = [p.detach().cpu().numpy().copy() for p in self._params]
            grads = [None if p.grad is None else p.grad.detach().cpu().numpy().copy()
                     for p in self._params]
            if self._state is None:
                self._state = self.reference.init(values)
            new, self._state = self.reference.step(values, grads, self._state)
            for p, v in zip(self._params, new):
                p.copy_(torch.from_numpy(np.ascontiguousarray(v)).to(p.device))
            return loss

    TorchDropin.__qualname__ = "TorchDropin"
    TorchDropin.__module__ = __name__
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
    difference, corrected by the residual of the rounded sum (exact in float64) until the
    sum lands, then one ULP either way for the ties."""
    with np.errstate(all="ignore"):
        dtype = params.dtype
        p64, n64 = params.astype(np.float64), new.astype(np.float64)
        u = (n64 - p64).astype(dtype)
        for _ in range(4):
            wrong = ((params + u) != new) & np.isfinite(new)
            if not wrong.any():
                return u
            residual = n64 - (params + u).astype(np.float64)
            u = np.where(wrong, (u.astype(np.float64) + residual).astype(dtype), u)
        for direction in (np.inf, -np.inf):
            wrong = ((params + u) != new) & np.isfinite(new)
            step = np.nextafter(u, np.asarray(direction, dtype))
            u = np.where(wrong & ((params + step) == new), step, u)
        return u


APPLY_UPDATES_BUDGET = (1, "optax.apply_updates adds the update in float32, so the parameter "
                        "the caller holds is the reference's as one float32 addition p + u "
                        "can reach it: exact wherever some float32 u lands on it, else at "
                        "most 1 ULP of max(|p|, |p_new|) away: where the sum falls on a "
                        "tie (measured: Keras Muon, 1 element of 64 at step 2) or the step "
                        "shrinks p by more than half (FTRL's proximal step sets p from "
                        "about 1 to about 1e-6 at step 1). The drop-in keeps the "
                        "reference's parameters in its state and steps from them, so the "
                        "miss never compounds; exact_params(state, params) returns them.")
"""(ULP of the addition's larger operand, reason): how far ``optax.apply_updates(params,
updates)`` may land from the reference's parameters; the reference trajectory itself
(``state["params"]``, :func:`exact_params`) is exact."""


def exact_params(state, params):
    """The reference's own parameters from an optax drop-in's ``state``, as a tree shaped
    like ``params``: bit for bit the source reference's trajectory."""
    import jax
    import jax.numpy as jnp
    treedef = jax.tree_util.tree_structure(params)
    return jax.tree_util.tree_unflatten(treedef, [jnp.asarray(x) for x in state["params"]])


def _resync(kept: np.ndarray, given: np.ndarray, scale: np.ndarray) -> np.ndarray:
    """The reference's own parameters, unless the caller's moved away by more than the
    apply budget at the last addition's ``scale`` (they were set by hand: loaded,
    re-initialized): then the caller's."""
    if kept.shape != given.shape or scale.shape != given.shape:
        return given
    with np.errstate(all="ignore"):
        off = (np.abs(kept.astype(np.float64) - given)
               > APPLY_UPDATES_BUDGET[0] * np.spacing(scale.astype(given.dtype)))
    return given if off.any() else kept


def optax_dropin(reference):
    """An ``optax.GradientTransformation`` running ``reference`` on the host."""
    import jax
    import jax.numpy as jnp
    import optax

    def init(params):
        leaves = [np.asarray(x) for x in jax.tree_util.tree_leaves(params)]
        return {"reference": reference.init(leaves), "params": [x.copy() for x in leaves],
                "scale": [np.abs(x) for x in leaves]}

    def update(updates, state, params=None):
        if params is None:
            raise ValueError("the drop-in needs params: tx.update(grads, state, params)")
        leaves, treedef = jax.tree_util.tree_flatten(params)
        given = [np.asarray(x) for x in leaves]
        kept = [_resync(np.asarray(k), g, np.asarray(c))
                for k, g, c in zip(state["params"], given, state["scale"])]
        grads = [np.asarray(g) for g in jax.tree_util.tree_leaves(updates)]
        new, ref_state = reference.step(kept, grads, state["reference"])
        steps = [jnp.asarray(exact_updates(g, n)) for g, n in zip(given, new)]
        new = [np.asarray(n) for n in new]
        return (jax.tree_util.tree_unflatten(treedef, steps),
                {"reference": ref_state, "params": new,
                 "scale": [np.maximum(np.abs(g), np.abs(n)) for g, n in zip(given, new)]})

    return optax.GradientTransformation(init, update)
