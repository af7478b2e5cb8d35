"""Parameter trees: one array, or lists / tuples / dicts of them, nested.

Only what an optimizer needs: flatten a tree to its leaves in a fixed order, check that two
trees have the same structure, and rebuild a tree from new leaves.
"""

from __future__ import annotations

from typing import Any, Callable

__all__ = ["flatten", "leaf_paths", "structure_error", "KEY_ORDERS"]


KEY_ORDERS = ("insertion", "sorted")


def flatten(tree: Any, key_order: str = "insertion") -> tuple[list[Any], Callable[[list[Any]], Any]]:
    """Return the leaves of ``tree`` (depth first) and a function that rebuilds a tree of
    the same structure from a list of new leaves.

    ``key_order`` is the order of a dict's leaves: ``"insertion"`` (the order a torch
    parameter list or a Keras variable list has) or ``"sorted"`` (``jax.tree_util``
    flattens a dict by its sorted keys, so optax sums a global norm in that order). The
    rebuilt dict keeps the keys in their insertion order either way."""
    if key_order not in KEY_ORDERS:
        raise ValueError(f"key_order must be one of {KEY_ORDERS}, got {key_order!r}")
    if isinstance(tree, dict):
        keys = list(tree)
        order = sorted(keys) if key_order == "sorted" else keys
        parts = [flatten(tree[k], key_order) for k in order]

        def rebuild(subtrees):
            by_key = dict(zip(order, subtrees))
            return {k: by_key[k] for k in keys}

        return _join(parts, rebuild)
    if isinstance(tree, (list, tuple)):
        parts = [flatten(v, key_order) for v in tree]
        kind = type(tree)
        return _join(parts, lambda subtrees: kind(subtrees))
    return [tree], lambda leaves: leaves[0]


def leaf_paths(tree: Any, key_order: str = "insertion", prefix: str = "") -> list[str]:
    """Where each leaf of ``tree`` sits (``"['w']"``, ``"[0]"``; ``""`` for a bare array),
    in the order :func:`flatten` gives the leaves: for error messages."""
    if isinstance(tree, dict):
        keys = sorted(tree) if key_order == "sorted" else list(tree)
        return [p for k in keys for p in leaf_paths(tree[k], key_order, f"{prefix}[{k!r}]")]
    if isinstance(tree, (list, tuple)):
        return [p for i, v in enumerate(tree)
                for p in leaf_paths(v, key_order, f"{prefix}[{i}]")]
    return [prefix]


def _join(parts, build):
    leaves, sizes, rebuilds = [], [], []
    for part_leaves, rebuild in parts:
        leaves.extend(part_leaves)
        sizes.append(len(part_leaves))
        rebuilds.append(rebuild)

    def unflatten(new_leaves):
        subtrees, start = [], 0
        for size, rebuild in zip(sizes, rebuilds):
            subtrees.append(rebuild(new_leaves[start:start + size]))
            start += size
        return build(subtrees)

    return leaves, unflatten


def structure_error(a: Any, b: Any, path: str = "") -> str | None:
    """Describe the first place where trees ``a`` and ``b`` differ in structure, or None."""
    where = path or "the root"
    if isinstance(a, dict) or isinstance(b, dict):
        if not (isinstance(a, dict) and isinstance(b, dict)):
            return f"at {where}: {type(a).__name__} vs {type(b).__name__}"
        if list(a) != list(b):
            return f"at {where}: keys {list(a)} vs {list(b)}"
        for k in a:
            err = structure_error(a[k], b[k], f"{path}[{k!r}]")
            if err:
                return err
        return None
    if isinstance(a, (list, tuple)) or isinstance(b, (list, tuple)):
        if type(a) is not type(b) or len(a) != len(b):
            return (f"at {where}: {type(a).__name__} of {_len(a)} vs "
                    f"{type(b).__name__} of {_len(b)}")
        for i, (x, y) in enumerate(zip(a, b)):
            err = structure_error(x, y, f"{path}[{i}]")
            if err:
                return err
    return None


def _len(x):
    return len(x) if isinstance(x, (list, tuple, dict)) else "1 leaf"
