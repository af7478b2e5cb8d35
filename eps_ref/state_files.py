"""Optimizer-state checkpoint files for ``eps-ref state convert`` (never pickle).

- torch: the file ``torch.save(optimizer.state_dict(), path)`` writes, read with
  ``torch.load(path, weights_only=True)`` (tensors and plain containers only);
- optax: an ``.npz`` of the state pytree's leaves in ``jax.tree_util.tree_leaves`` order,
  keys ``"0"``, ``"1"``, ...: ``np.savez(path, **{str(i): leaf ...})``; read back against
  ``tx.init(params)``'s structure (``jax.tree_util.tree_unflatten``);
- keras, tf_keras: an ``.npz`` of the store ``optimizer.save_own_variables(store)`` fills;
  the legacy ``tf_keras.optimizers.legacy`` ones: of ``optimizer.get_weights()``, keys
  ``"0"``, ``"1"``, ... in its order;
- tf1 (``tf.compat.v1.train``): a TF1 ``Saver`` checkpoint (its prefix, ``model.ckpt``
  beside ``model.ckpt.index``, read with ``tf.train.load_checkpoint``: only the
  optimizer's variables are taken), or an ``.npz`` of the optimizer's variables by
  checkpoint name (``"w/Adam"``, ``"beta1_power"``, :func:`eps_ref.backends.tf1.state_names`).

The parameters come as an ``.npz`` of the arrays in the optimizer's order (torch's
parameter list; the names are the tree's keys, TF1's variable names). A file that cannot be read, a state of
another optimizer, wrong shapes or missing entries raise ``ValueError`` naming what is
wrong; the output is written to a temporary file beside it and moved into place only once
complete, so a failed conversion writes nothing.
"""

from __future__ import annotations

import os
import tempfile
from pathlib import Path
from typing import Any

import numpy as np

__all__ = ["load_params", "read_native", "write_native", "convert_file"]

FILE_FRAMEWORKS = ("torch", "optax", "keras", "tf_keras", "tf1")


def _npz(path: str) -> dict:
    try:
        with np.load(path, allow_pickle=False) as data:
            return {k: np.array(data[k]) for k in data.files}
    except FileNotFoundError:
        raise ValueError(f"{path}: no such file") from None
    except Exception as e:                      # zip errors, truncation, pickled objects
        raise ValueError(f"{path}: cannot read it as an .npz of arrays ({e})") from None


def load_params(path: str) -> dict:
    """The parameter tree of an ``.npz``: its arrays by name, in the file's order."""
    params = _npz(path)
    if not params:
        raise ValueError(f"{path}: holds no parameter arrays")
    for name, a in params.items():
        if not np.issubdtype(a.dtype, np.floating):
            raise ValueError(f"{path}: parameter {name!r} is {a.dtype}, not floating point")
    return params


def read_native(framework: str, path: str, spec: str, kwargs: dict, params: dict) -> Any:
    """The native state a checkpoint file holds, in the form the framework's optimizer
    keeps it (see the module)."""
    if framework == "torch":
        import torch
        try:
            native = torch.load(path, weights_only=True, map_location="cpu")
        except FileNotFoundError:
            raise ValueError(f"{path}: no such file") from None
        except Exception as e:
            raise ValueError(f"{path}: cannot load it with torch.load(weights_only=True) "
                             f"({str(e).splitlines()[0]})") from None
        return native
    if framework == "tf1" and Path(path + ".index").is_file():
        return _tf1_checkpoint(path, spec, kwargs, params)
    store = _npz(path)
    if framework == "tf_keras" and spec in _legacy():
        return _listed(path, store)
    if framework in ("keras", "tf_keras", "tf1"):
        return store
    if framework == "optax":
        import jax

        from eps_ref.backends import optax as optax_backend
        template = optax_backend.resolve(spec)(**kwargs).init(params)
        leaves, treedef = jax.tree_util.tree_flatten(template)
        if sorted(store) != sorted(str(i) for i in range(len(leaves))):
            raise ValueError(f"{path}: {spec}'s state for these params has {len(leaves)} "
                             f"leaves ('0'..'{len(leaves) - 1}'), the file {sorted(store)[:8]}")
        for i, leaf in enumerate(leaves):
            if store[str(i)].shape != np.shape(leaf):
                raise ValueError(f"{path}: leaf '{i}' has shape {store[str(i)].shape}, "
                                 f"{spec}'s state {np.shape(leaf)}")
        return jax.tree_util.tree_unflatten(
            treedef, [np.asarray(store[str(i)], dtype=np.asarray(leaf).dtype)
                      for i, leaf in enumerate(leaves)])
    raise ValueError(f"state files of {framework} are not supported; {list(FILE_FRAMEWORKS)}")


def _legacy() -> dict:
    from eps_ref.backends.tf_keras import LEGACY_SLOTS
    return LEGACY_SLOTS


def _listed(path: str, store: dict) -> list:
    """The arrays of an ``.npz`` keyed ``"0"``, ``"1"``, ... as a list in that order."""
    if sorted(store) != sorted(str(i) for i in range(len(store))):
        raise ValueError(f"{path}: a get_weights() list is stored as keys '0'..'{len(store) - 1}'"
                         f", the file has {sorted(store)[:8]}")
    return [store[str(i)] for i in range(len(store))]


def _tf1_checkpoint(path: str, spec: str, kwargs: dict, params: dict) -> dict:
    """The optimizer's variables of the TF1 checkpoint with prefix ``path``."""
    import tensorflow as tf

    from eps_ref.backends.tf1 import state_names
    try:
        reader = tf.train.load_checkpoint(path)
        held = reader.get_variable_to_shape_map()
    except Exception as e:
        raise ValueError(f"{path}: cannot read it as a TensorFlow checkpoint "
                         f"({str(e).splitlines()[0]})") from None
    wanted = [n for per in state_names(spec, kwargs, params).values() for n, _ in per]
    missing = sorted({n for n in wanted if n not in held})
    if missing:
        raise ValueError(f"{path}: the checkpoint has no {missing}, the variables of {spec} "
                         f"for these params (it holds {sorted(held)[:8]})")
    return {n: np.array(reader.get_tensor(n)) for n in wanted}


def write_native(framework: str, native: Any, path: str) -> Path:
    """Write ``native`` as ``framework``'s checkpoint file at ``path``, atomically."""
    target = Path(path)
    fd, tmp = tempfile.mkstemp(prefix=f".{target.name}.", dir=target.parent or ".")
    os.close(fd)
    try:
        if framework == "torch":
            import torch
            torch.save(native, tmp)
        else:
            if framework == "optax":
                import jax
                arrays = {str(i): np.asarray(leaf)
                          for i, leaf in enumerate(jax.tree_util.tree_leaves(native))}
            elif isinstance(native, list):             # tf_keras legacy get_weights()
                arrays = {str(i): np.asarray(w) for i, w in enumerate(native)}
            else:
                arrays = {k: np.asarray(v) for k, v in native.items()}
            with open(tmp, "wb") as f:
                np.savez(f, **arrays)
        os.replace(tmp, target)
    except BaseException:
        os.unlink(tmp)
        raise
    return target


def convert_file(source: str, source_kwargs: dict, to: str, in_path: str, out_path: str,
                 params_path: str, *, backend: str | None = None, step: int | None = None,
                 candidate: str | None = None):
    """Convert the checkpoint ``in_path`` of ``source(**source_kwargs)`` to the target
    ``to`` (a framework: the plan's nearest configuration; or a spec among the plan's
    candidates), written to ``out_path``. Returns ``(plan, target candidate)``."""
    import eps_ref
    from eps_ref.spec import spec as _spec
    if Path(in_path).resolve() == Path(out_path).resolve():
        raise ValueError("the output would overwrite the input: give another path")
    if not Path(out_path).resolve().parent.is_dir():
        raise ValueError(f"{out_path}: its folder does not exist")
    framework = _spec(source).framework
    if framework not in FILE_FRAMEWORKS:
        raise ValueError(f"state files of {framework} are not supported; "
                         f"{list(FILE_FRAMEWORKS)}")
    params = load_params(params_path)
    plan = eps_ref.port(source, to=to, backend=backend, gap_steps=0, **source_kwargs) \
        if candidate is None else eps_ref.port(source, to=_spec(candidate).framework,
                                               backend=backend, gap_steps=0, **source_kwargs)
    native = read_native(framework, in_path, source, source_kwargs, params)
    converted = plan.convert_state(native, params, step=step, candidate=candidate)
    chosen = plan.candidate(candidate)
    write_native(plan.to, converted, out_path)
    return plan, chosen
