"""The ``apr`` extra's packages, imported only by the feature that uses them."""

from __future__ import annotations

import importlib

from ..errors import MissingDependency

_DISTRIBUTION = {"zstandard": "zstandard", "lz4.block": "lz4", "cryptography": "cryptography",
                 "argon2.low_level": "argon2-cffi"}


def need(module: str, feature: str):
    """``module`` imported, or MissingDependency telling which extra to install."""
    try:
        return importlib.import_module(module)
    except ImportError:
        raise MissingDependency(_DISTRIBUTION.get(module, module), "apr", feature) from None
