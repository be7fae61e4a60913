"""Fast JSON encoding shared by every front end (orjson, numpy-aware)."""

from __future__ import annotations

from typing import Any

import orjson

_OPTIONS = orjson.OPT_SERIALIZE_NUMPY | orjson.OPT_NON_STR_KEYS


def dumps(data: Any) -> bytes:
    """Serialise to JSON bytes; numpy values and non-string keys are handled natively."""
    return orjson.dumps(data, option=_OPTIONS, default=str)
