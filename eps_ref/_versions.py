"""The installed frameworks against the versions the dialect tables were read from, and
which Keras backend a Keras spec follows when none is named.

Both are read without importing a framework: versions from the installed distributions'
metadata, Keras' backend as Keras itself picks it (an imported Keras' own
``keras.config.backend()``; else ``KERAS_BACKEND``; else ``keras.json`` in ``KERAS_HOME`` or
``~/.keras``; else ``"tensorflow"``).
"""

from __future__ import annotations

import functools
import json
import os
import sys
import warnings
from importlib import metadata

__all__ = ["VersionMismatchWarning", "DISTRIBUTIONS", "installed_version", "mismatch",
           "warn_if_mismatched", "keras_backend"]

DISTRIBUTIONS = {"torch": "torch", "keras": "keras", "tf1": "tensorflow",
                 "tf_keras": "tf-keras", "optax": "optax", "flax": "flax"}
"""The distribution whose version a dialect's table records (``paper`` has none)."""


class VersionMismatchWarning(UserWarning):
    """An installed framework is not the version its dialect table was read from: the
    reference reproduces the recorded version, which the conformance suite certifies."""


@functools.lru_cache(maxsize=None)
def installed_version(framework: str) -> str | None:
    """The installed version of ``framework``'s distribution, or ``None``."""
    distribution = DISTRIBUTIONS.get(framework)
    if distribution is None:
        return None
    try:
        return metadata.version(distribution)
    except metadata.PackageNotFoundError:
        return None


def _release(version: str) -> str:
    return version.split("+", 1)[0]          # "2.13.0+cpu": a build of 2.13.0


def mismatch(framework: str, table_version: str) -> str | None:
    """The installed version where it is not ``table_version``, else ``None``."""
    installed = installed_version(framework)
    if installed is None or _release(installed) == _release(table_version):
        return None
    return installed


_WARNED: set[str] = set()


def warn_if_mismatched(framework: str, table_version: str, stacklevel: int = 3) -> None:
    """Warn once per framework and process (:class:`VersionMismatchWarning`)."""
    if framework in _WARNED:
        return
    installed = mismatch(framework, table_version)
    if installed is None:
        return
    _WARNED.add(framework)
    distribution = DISTRIBUTIONS[framework]
    warnings.warn(VersionMismatchWarning(
        f"{distribution} {installed} is installed, but eps_ref's {framework} table was read "
        f"from {distribution} {table_version}: the reference reproduces {table_version}, the "
        f"version the conformance suite certifies; {installed} may differ (check with "
        f"`eps-ref conformance --framework {framework}`, or install "
        f"{distribution}=={table_version})"), stacklevel=stacklevel)


def keras_backend() -> tuple[str, str]:
    """``(backend, where it comes from)``, as Keras picks its backend."""
    config = sys.modules.get("keras.src.backend.config")
    if config is not None and hasattr(config, "backend"):
        return config.backend(), "the imported Keras (keras.config.backend())"
    env = os.environ.get("KERAS_BACKEND")
    if env:
        return env, "KERAS_BACKEND"
    home = os.environ.get("KERAS_HOME") or os.path.join(os.path.expanduser("~"), ".keras")
    path = os.path.join(home, "keras.json")
    from_file = _configured_backend(path, _mtime(path))
    if from_file:
        return from_file, path
    return "tensorflow", "Keras' default"


def _mtime(path: str) -> float | None:
    try:
        return os.stat(path).st_mtime
    except OSError:
        return None


@functools.lru_cache(maxsize=8)
def _configured_backend(path: str, mtime: float | None) -> str | None:
    if mtime is None:
        return None
    try:
        with open(path) as f:
            return json.load(f).get("backend") or None
    except (OSError, ValueError, AttributeError):
        return None
