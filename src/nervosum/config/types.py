"""The schema type vocabulary: the canonical names and the spellings users write.

Seed configs use python type names (``float``), training scripts dump numpy / pandas
dtype names (``float64``, ``object``); all of them map onto seven canonical types.
"""

from __future__ import annotations

import difflib
from datetime import datetime
from typing import Any

# One input or output row: field name -> value.
Record = dict[str, Any]

# canonical name -> python type used for validation
PYTHON_TYPES: dict[str, type[Any]] = {
    "int": int,
    "float": float,
    "str": str,
    "bool": bool,
    "datetime": datetime,
    "list": list,
    "dict": dict,
}

_ALIASES: dict[str, str] = {
    **{name: name for name in PYTHON_TYPES},
    "integer": "int",
    "int8": "int",
    "int16": "int",
    "int32": "int",
    "int64": "int",
    "uint8": "int",
    "uint16": "int",
    "uint32": "int",
    "uint64": "int",
    "long": "int",
    "number": "float",
    "double": "float",
    "float16": "float",
    "float32": "float",
    "float64": "float",
    "string": "str",
    "object": "str",
    "text": "str",
    "category": "str",
    "boolean": "bool",
    "datetime64": "datetime",
    "datetime64[ns]": "datetime",
    "timestamp": "datetime",
    "date": "datetime",
    "array": "list",
    "tuple": "list",
    "mapping": "dict",
}


def canonical_type(name: str) -> str:
    """Map a user's type spelling to its canonical name, or raise with a suggestion."""
    key = name.strip().lower()
    if key in _ALIASES:
        return _ALIASES[key]
    close = difflib.get_close_matches(key, list(_ALIASES), n=1)
    hint = f"; did you mean {close[0]!r}?" if close else ""
    allowed = ", ".join(PYTHON_TYPES)
    raise ValueError(f"unknown type {name!r} (use one of {allowed}){hint}")
