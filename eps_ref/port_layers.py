"""Porting normalization layers (see :mod:`eps_ref.port`)."""

from __future__ import annotations


def port_layer(name, to, backend=None, **kwargs):
    raise NotImplementedError(f"porting layers ({name}) is not implemented yet")
