"""Drop-in optimizers: the *source* spec's rule, as a native optimizer of the target.

``eps_ref.port(source, to=...).dropin(params)`` returns

- ``to="torch"``: a :class:`torch.optim.Optimizer` (:class:`TorchDropin`) built on
  ``params``; ``loss.backward(); opt.step()`` as with any torch optimizer;
- ``to="optax"``: an :class:`optax.GradientTransformation` (:func:`optax_dropin`);
  ``updates, state = tx.update(grads, state, params); params = optax.apply_updates(params,
  updates)`` as with any optax transformation;
- ``to="keras"``: a ``keras.optimizers.Optimizer`` (:class:`KerasDropin`), on any Keras
  backend: ``opt.apply(grads, model.trainable_variables)`` in a custom loop, or
  ``model.compile(optimizer=opt, ...)`` for ``fit``. On TensorFlow the step is a
  ``tf.numpy_function``, so it runs inside ``fit``'s ``tf.function`` too; on JAX and torch
  it needs eager execution (``run_eagerly=True``): a jitted step cannot leave XLA to run
  NumPy;
- ``to="tf1"``: a ``tf.compat.v1.train.Optimizer`` (:class:`TF1Dropin`):
  ``opt.minimize(loss)`` / ``opt.apply_gradients(grads_and_vars, global_step)`` in graph
  mode (a train op for ``session.run``) or eagerly;
- ``to="tf_keras"``: a ``tf_keras.optimizers.Optimizer`` (:class:`TFKerasDropin`) for
  legacy ``tf.keras`` code: ``opt.apply_gradients(zip(grads, variables))``, or ``fit``
  (compiled or not).

How: each step takes the framework's tensors to NumPy, steps the eps_ref reference of the
source spec (the same object ``eps_ref.optimizer(source, **kwargs)`` returns) and writes the
new parameters back. So the parameters are bit for bit the source reference's, by
construction, on the host, at the reference's speed (a NumPy step per call, plus a copy to
and from the device): the price of exactness. The reference's state lives in the drop-in
(one per drop-in object, in Python), not in the framework's optimizer variables: a
framework checkpoint does not save it. An optax drop-in is not jittable (it leaves
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
           "TF1Dropin", "TFKerasDropin", "optax_dropin", "trajectory",
           "exact_updates", "exact_params", "APPLY_UPDATES_BUDGET"]

DROPIN_TARGETS = ("torch", "optax", "keras", "tf1", "tf_keras")


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
    if to == "tf1":
        return TF1Dropin(reference)
    if to == "tf_keras":
        return TFKerasDropin(reference)
    raise NotImplementedError(f"no drop-in for target {to!r} yet (drop-ins: "
                              f"{list(DROPIN_TARGETS)}); use plan.nearest")


class _HostStep:
    """The source reference, stepped on host copies of the parameters; its state kept
    here, across calls, for one list of parameters."""

    def __init__(self, reference):
        self.reference, self.state, self.count = reference, None, None

    def __call__(self, values: list, grads: list) -> list:
        if len(grads) != len(values):
            raise ValueError(f"{len(grads)} gradients for {len(values)} parameters")
        if self.state is None:
            self.state, self.count = self.reference.init(values), len(values)
        elif len(values) != self.count:
            raise ValueError(f"this drop-in steps {self.count} parameters; this step gave "
                             f"{len(values)}: build one drop-in per parameter list")
        new, self.state = self.reference.step(values, grads, self.state)
        return [np.ascontiguousarray(x) for x in new]


def _hyper_lr(reference) -> float:
    lr = reference.hyperparams.get("lr", reference.hyperparams.get("learning_rate"))
    return float(lr) if isinstance(lr, (int, float)) else 0.0


# -- TensorFlow: one host step, eager or in a graph ----------------------------------------

def _tf_host_update(host: _HostStep, values: list, grads: list) -> list:
    """The new parameter values, as TensorFlow tensors: ``host``'s step through one
    ``tf.numpy_function``, so that it runs eagerly, in a ``tf.function`` and in a TF1
    graph alike. ``values`` are the parameters' current values (tensors); a gradient of
    None leaves its parameter to the source rule, which skips it."""
    import tensorflow as tf
    present = [i for i, g in enumerate(grads) if g is not None]
    n = len(values)

    def step(*arrays):
        full = [None] * n
        for i, g in zip(present, arrays[n:]):
            full[i] = np.asarray(g)
        return host([np.array(x) for x in arrays[:n]], full)

    dense = [tf.convert_to_tensor(grads[i]) for i in present]   # IndexedSlices too
    new = tf.numpy_function(step, [*values, *dense], [v.dtype for v in values],
                            stateful=True, name="eps_ref_dropin_step")
    return [tf.reshape(x, v.shape) for x, v in zip(new, values)]


def _tf1_class():
    import tensorflow as tf

    class TF1Dropin(tf.compat.v1.train.Optimizer):
        """A ``tf.compat.v1.train.Optimizer`` whose ``apply_gradients`` is an eps_ref
        reference's step on the variables' values (see the module docstring): a train op
        in graph mode, an immediate step eagerly; ``minimize`` as any TF1 optimizer."""

        def __init__(self, reference, name="EpsRefDropin"):
            super().__init__(use_locking=False, name=name)
            self.reference = reference
            self._host = _HostStep(reference)

        def apply_gradients(self, grads_and_vars, global_step=None, name=None):
            grads, variables = zip(*grads_and_vars)
            values = [tf.convert_to_tensor(v.value() if hasattr(v, "value") else v)
                      for v in variables]
            new = _tf_host_update(self._host, values, list(grads))
            update = tf.group(*[tf.compat.v1.assign(v, x) for v, x in zip(variables, new)],
                              name=name or self.get_name())
            if global_step is None:
                return update
            with tf.control_dependencies([update]):
                return tf.compat.v1.assign_add(global_step, 1)

    TF1Dropin.__qualname__ = "TF1Dropin"
    TF1Dropin.__module__ = __name__
    return TF1Dropin


def _tf_keras_class():
    import tf_keras

    class TFKerasDropin(tf_keras.optimizers.Optimizer):
        """A ``tf_keras.optimizers.Optimizer`` (legacy ``tf.keras``) whose
        ``apply_gradients`` is an eps_ref reference's step (see the module docstring)."""

        def __init__(self, reference, name="EpsRefDropin"):
            super().__init__(name=name)
            self._learning_rate = self._build_learning_rate(_hyper_lr(reference))
            self.reference = reference
            self._host = _HostStep(reference)

        def apply_gradients(self, grads_and_vars, name=None,
                            skip_gradients_aggregation=False, **kwargs):
            import tensorflow as tf
            grads, variables = zip(*grads_and_vars)
            new = _tf_host_update(self._host, [tf.convert_to_tensor(v) for v in variables],
                                  list(grads))
            for v, x in zip(variables, new):
                v.assign(x)
            return self.iterations.assign_add(1)

        def get_config(self):
            return {**super().get_config(), "source": self.reference.spec.name,
                    "source_kwargs": dict(self.reference.hyperparams)}

    TFKerasDropin.__qualname__ = "TFKerasDropin"
    TFKerasDropin.__module__ = __name__
    return TFKerasDropin


# -- Keras 3 -------------------------------------------------------------------------------

def _keras_class():
    import keras

    class KerasDropin(keras.optimizers.Optimizer):
        """A ``keras.optimizers.Optimizer`` whose ``apply`` is an eps_ref reference's step
        on the variables' values (see the module docstring). ``stateless_apply`` (Keras'
        JAX trainer) goes through ``apply`` in a stateless scope, as Keras' own do."""

        def __init__(self, reference, name="eps_ref_dropin"):
            super().__init__(learning_rate=_hyper_lr(reference), name=name)
            self.reference = reference
            self._host = _HostStep(reference)

        def apply(self, grads, trainable_variables=None):
            grads = list(grads)
            if trainable_variables is None:
                if not self.built:
                    raise ValueError("give the variables on the first call: "
                                     "opt.apply(grads, model.trainable_variables)")
                variables = self._trainable_variables
            else:
                variables = list(trainable_variables)
                if not self.built:
                    self.build(variables)
            if len(grads) != len(variables):
                raise ValueError(f"{len(grads)} gradients for {len(variables)} variables")
            if keras.backend.backend() == "tensorflow":
                import tensorflow as tf
                new = _tf_host_update(self._host,
                                      [tf.convert_to_tensor(v.value) for v in variables],
                                      grads)
            else:
                _refuse_tracers(grads)
                new = self._host(_to_numpy(keras, variables), _to_numpy(keras, grads))
            for v, x in zip(variables, new):
                v.assign(x)
            self.iterations.assign(self.iterations + 1)
            return self.iterations

        def apply_gradients(self, grads_and_vars):
            grads, variables = zip(*grads_and_vars)
            return self.apply(grads, variables)

    KerasDropin.__qualname__ = "KerasDropin"
    KerasDropin.__module__ = __name__
    return KerasDropin


def _refuse_tracers(tensors) -> None:
    """A clear error where a jitted step (Keras' JAX trainer without ``run_eagerly``) hands
    the drop-in abstract values it cannot take to NumPy."""
    import sys
    jax = sys.modules.get("jax")
    if jax is not None and any(isinstance(x, jax.core.Tracer) for x in tensors):
        raise TypeError("this drop-in steps the eps_ref reference in NumPy and cannot run "
                        "inside jax.jit: compile the model with run_eagerly=True (or call "
                        "opt.apply eagerly)")


def _to_numpy(keras, tensors) -> list:
    """Host copies; Keras' TensorFlow conversion warns about NumPy 2's copy keyword on
    every call, which says nothing about these values."""
    import warnings
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)
        return [None if x is None else np.array(keras.ops.convert_to_numpy(x))
                for x in tensors]


_CLASSES: dict = {}


def _class(key: str, make):
    """A drop-in class, built once its framework is imported."""
    if key not in _CLASSES:
        _CLASSES[key] = make()
    return _CLASSES[key]


def KerasDropin(reference):   # noqa: N802 (a class, built once keras is imported)
    """``keras.optimizers.Optimizer`` running ``reference`` (an :class:`eps_ref.Optimizer`)."""
    return _class("keras", _keras_class)(reference)


def TF1Dropin(reference):   # noqa: N802
    """``tf.compat.v1.train.Optimizer`` running ``reference``."""
    return _class("tf1", _tf1_class)(reference)


def TFKerasDropin(reference):   # noqa: N802
    """``tf_keras.optimizers.Optimizer`` running ``reference``."""
    return _class("tf_keras", _tf_keras_class)(reference)


_USAGE = {
    "torch": ("opt = eps_ref.port({call}).dropin(model.parameters())",
              "loss.backward(); opt.step(); opt.zero_grad()   # a torch.optim.Optimizer"),
    "keras": ("opt = eps_ref.port({call}).dropin()   # a keras.optimizers.Optimizer",
              "model.compile(optimizer=opt, loss=...)   # JAX, torch: run_eagerly=True",
              "model.fit(...)   # or opt.apply(grads, model.trainable_variables)"),
    "tf1": ("opt = eps_ref.port({call}).dropin()   # a tf.compat.v1.train.Optimizer",
            "train_op = opt.minimize(loss, global_step=global_step)",
            "session.run(train_op)   # or eagerly: opt.apply_gradients(zip(grads, variables))"),
    "tf_keras": ("opt = eps_ref.port({call}).dropin()   # a tf_keras.optimizers.Optimizer",
                 "model.compile(optimizer=opt, loss=...); model.fit(...)",
                 "# or opt.apply_gradients(zip(grads, model.trainable_variables))"),
    "optax": ("tx = eps_ref.port({call}).dropin()",
              "state = tx.init(params)",
              "updates, state = tx.update(grads, state, params)   # outside jax.jit",
              "params = optax.apply_updates(params, updates)"),
}


def usage(plan) -> str:
    """How to use the drop-in of ``plan``, as code."""
    call = ", ".join([repr(plan.source), f"to={plan.to!r}",
                      *(f"{k}={v!r}" for k, v in plan.source_kwargs.items())])
    return "\n".join([*(line.format(call=call) for line in _USAGE[plan.to]),
                      "# runs the eps_ref reference on the host: exact, at NumPy speed"])


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
            self._host = _HostStep(reference)

        @torch.no_grad()
        def step(self, closure=None):
            loss = None
            if closure is not None:
                with torch.enable_grad():
                    loss = closure()
            if any(g["lr"] != self._lr for g in self.param_groups):
                raise ValueError("the drop-in's hyperparameters are fixed at construction; "
                                 "build a new plan for another learning rate")
            new = self._host([p.detach().cpu().numpy().copy() for p in self._params],
                             [None if p.grad is None else p.grad.detach().cpu().numpy().copy()
                              for p in self._params])
            for p, v in zip(self._params, new):
                p.copy_(torch.from_numpy(v).to(p.device))
            return loss

    TorchDropin.__qualname__ = "TorchDropin"
    TorchDropin.__module__ = __name__
    return TorchDropin


def TorchDropin(params, reference):   # noqa: N802 (a class, built once torch is imported)
    """``torch.optim.Optimizer`` running ``reference`` (an :class:`eps_ref.Optimizer`)."""
    return _class("torch", _torch_class)(params, reference)


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


# -- driving a drop-in in its framework, as a user's training loop does ---------------------

def trajectory(to: str, source: str, kwargs: dict, param0, grads, device: str = "cpu"):
    """Parameters after each step when the drop-in of ``to`` running ``source(**kwargs)``
    steps ``param0`` (one array or a dict tree) on the gradient streams ``grads``, driven
    as a user's training loop drives it: torch ``step()``; optax ``update`` and
    ``apply_updates`` (what the caller holds); TF1 a train op in a graph, run by a
    session; tf_keras and Keras 3 ``model.fit``, one batch a step, on a model whose loss
    has exactly the stream's gradients (``sum(w * x)`` for ``x`` the gradient), compiled
    where the drop-in allows it (tf_keras, Keras on TensorFlow), ``run_eagerly`` on JAX
    and torch. The adapters' ``run_dropin``."""
    from eps_ref.backends import tree_leaves, tree_trajectory
    names, leaves, streams = tree_leaves(param0, grads)
    steps = len(streams[0])
    run = {"torch": _torch_steps, "optax": _optax_steps, "tf1": _tf1_steps,
           "tf_keras": _tf_keras_fit, "keras": _keras_fit}[to]
    with np.errstate(all="ignore"):
        per_step = run(source, dict(kwargs), [np.array(x) for x in leaves], streams, steps,
                       device)
    return tree_trajectory(names, [[leaves[i], *(s[i] for s in per_step)]
                                   for i in range(len(leaves))])


def _torch_steps(source, kwargs, leaves, streams, steps, device):
    import torch
    params = [torch.nn.Parameter(torch.from_numpy(x.copy()).to(device)) for x in leaves]
    opt = dropin_for(source, "torch", params, **kwargs)
    out = []
    for t in range(steps):
        for p, s in zip(params, streams):
            p.grad = torch.from_numpy(s[t].copy()).to(device)
        opt.step()
        opt.zero_grad()
        out.append([p.detach().cpu().numpy().copy() for p in params])
    return out


def _optax_steps(source, kwargs, leaves, streams, steps, device):
    import jax.numpy as jnp
    import optax
    tx = dropin_for(source, "optax", **kwargs)
    params = [jnp.asarray(x) for x in leaves]
    state = tx.init(params)
    out = []
    for t in range(steps):
        updates, state = tx.update([jnp.asarray(s[t]) for s in streams], state, params)
        params = optax.apply_updates(params, updates)
        out.append([np.array(p) for p in params])
    return out


def _tf1_steps(source, kwargs, leaves, streams, steps, device):
    import tensorflow as tf
    graph = tf.Graph()
    with graph.as_default(), tf.device(device.upper() + ":0"):
        variables = [tf.compat.v1.Variable(x) for x in leaves]
        fed = [tf.compat.v1.placeholder(tf.float32, x.shape) for x in leaves]
        global_step = tf.compat.v1.train.get_or_create_global_step()
        opt = dropin_for(source, "tf1", **kwargs)
        train_op = opt.apply_gradients(zip(fed, variables), global_step=global_step)
        init = tf.compat.v1.global_variables_initializer()
    out = []
    with tf.compat.v1.Session(graph=graph) as session:
        session.run(init)
        for t in range(steps):
            session.run(train_op, {f: s[t] for f, s in zip(fed, streams)})
            out.append([np.array(x) for x in session.run(variables)])
        if session.run(global_step) != steps:
            raise AssertionError("the drop-in's train op did not count its steps")
    return out


def _gradient_model(keras, leaves):
    """A Keras model whose weights are ``leaves`` and whose output for inputs ``x`` (one
    per weight) is ``sum(w * x)``: with the loss ``y_pred``, the gradient of each weight
    is exactly its input."""
    total_, expand, _ = _ops(keras)

    class GradientModel(keras.Model):
        def __init__(self):
            super().__init__()
            self.ws = [self.add_weight(shape=x.shape, initializer="zeros", name=f"w{i}")
                       for i, x in enumerate(leaves)]

        def call(self, xs):
            xs = xs if isinstance(xs, (list, tuple)) else [xs]
            total = 0.0
            for w, x in zip(self.ws, xs):
                axes = tuple(range(1, len(x.shape)))
                total = total + total_(w[None] * x, axis=axes)
            return expand(total, -1)

    model = GradientModel()
    for w, x in zip(model.ws, leaves):
        w.assign(x)
    return model


def _ops(keras):
    """(sum, expand_dims, to NumPy) of Keras 3 (``keras.ops``) or tf_keras (TensorFlow)."""
    if hasattr(keras, "ops"):
        return keras.ops.sum, keras.ops.expand_dims, keras.ops.convert_to_numpy
    import tensorflow as tf
    return tf.reduce_sum, tf.expand_dims, lambda x: x.numpy()


def _fit(keras, model, opt, streams, steps, run_eagerly):
    out = []
    to_numpy = _ops(keras)[2]

    class Record(keras.callbacks.Callback):
        def on_train_batch_end(self, batch, logs=None):
            if hasattr(self.model, "jax_state_sync"):   # Keras' JAX trainer
                self.model.jax_state_sync()
            out.append([np.array(to_numpy(w)) for w in model.ws])

    model.compile(optimizer=opt, loss=lambda y_true, y_pred: y_pred,
                  run_eagerly=run_eagerly)
    x = [s.reshape(steps, *s.shape[1:]) for s in streams]
    model.fit(x if len(x) > 1 else x[0], np.zeros((steps, 1), np.float32), batch_size=1,
              epochs=1, shuffle=False, verbose=0, callbacks=[Record()])
    return out


def _keras_fit(source, kwargs, leaves, streams, steps, device):
    import keras
    opt = dropin_for(source, "keras", **kwargs)
    model = _gradient_model(keras, leaves)
    return _fit(keras, model, opt, streams, steps,
                run_eagerly=keras.backend.backend() != "tensorflow")


def _tf_keras_fit(source, kwargs, leaves, streams, steps, device):
    import tf_keras
    tf_keras.utils.set_random_seed(0)
    opt = dropin_for(source, "tf_keras", **kwargs)
    model = _gradient_model(tf_keras, leaves)
    return _fit(tf_keras, model, opt, streams, steps, run_eagerly=False)
