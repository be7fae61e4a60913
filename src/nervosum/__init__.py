"""nervosum: take a trained model from a folder to an observable production service.

The public surface is small on purpose; everything else lives in subpackages. Names are
imported on first use so that ``nervosum --help`` does not pay for pandas.
"""

from __future__ import annotations

import importlib
from importlib.metadata import PackageNotFoundError, version
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from nervosum.config import Project
    from nervosum.engine import Engine
    from nervosum.errors import InvalidInputError, NervosumError
    from nervosum.project import load_config

try:
    __version__ = version("nervosum")
except PackageNotFoundError:  # pragma: no cover - running from a source tree
    __version__ = "0.0.0+unknown"

_LAZY = {
    "Engine": "nervosum.engine",
    "InvalidInputError": "nervosum.errors",
    "NervosumError": "nervosum.errors",
    "Project": "nervosum.config",
    "load_config": "nervosum.project",
}

__all__ = ["Engine", "InvalidInputError", "NervosumError", "Project", "__version__", "load_config"]


def __getattr__(name: str) -> Any:
    if name in _LAZY:
        return getattr(importlib.import_module(_LAZY[name]), name)
    raise AttributeError(f"module 'nervosum' has no attribute {name!r}")
