"""JSON in and out, shared by every front end.

Encoding is orjson (numpy-aware). Decoding of client data is pydantic-core's parser,
the one ``RecordSchema`` validates with: it is as fast as orjson here, bounds nesting
(200 levels, so a deeply nested body is an error, not a ``RecursionError``), and can read
``NaN`` / ``Infinity`` / ``1e400`` as floats, so a record that holds one is rejected by
the schema with its row and field named instead of failing as unreadable JSON.
"""

from __future__ import annotations

from typing import Any

import orjson
from pydantic_core import from_json

_OPTIONS = orjson.OPT_SERIALIZE_NUMPY | orjson.OPT_NON_STR_KEYS


def dumps(data: Any) -> bytes:
    """Serialise to JSON bytes; numpy values and non-string keys are handled natively."""
    return orjson.dumps(data, option=_OPTIONS, default=str)


def loads(data: bytes, *, allow_inf_nan: bool = False) -> Any:
    """Parse JSON bytes; ``ValueError`` (with line and column) when they are not JSON.

    A number beyond the float range is read as infinity; ``allow_inf_nan`` also reads the
    ``NaN`` and ``Infinity`` tokens, for bodies whose values a schema checks next.
    """
    return from_json(data, allow_inf_nan=allow_inf_nan)
