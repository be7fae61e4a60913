"""The last model object read, kept so that reading a file twice costs one load.

Serving a model file without nervosum.yaml reads it once to infer the schema and once to
serve it; for a large pickle that doubles the startup. One entry is enough: it is the file
being served, kept alive anyway. The key holds the file's size and modification time, so
a file replaced on disk is read again.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any, TypeVar

T = TypeVar("T")

_Key = tuple[str, str, int, int]
_last: dict[_Key, Any] = {}  # at most one entry


def last_read(path: Path, load: Callable[[Path], T], kind: str) -> T:
    """``load(path)``, or the object the previous call returned for the same unchanged file
    and the same ``kind`` of load."""
    stat = path.stat()
    key = (str(path.resolve()), kind, stat.st_size, stat.st_mtime_ns)
    if key in _last:
        cached: T = _last[key]
        return cached
    loaded = load(path)
    _last.clear()
    _last[key] = loaded
    return loaded
