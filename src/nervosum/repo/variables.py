"""The seed's request body, ``{"variables": ...}``, as records.

model-serving-framework ran ``pd.json_normalize(request.json['variables'])``: a dict is
one row, a list is rows, nested dicts become ``outer.inner`` columns, lists stay values.
A body without ``variables`` answered 500 (a KeyError) there; here it is a 422 naming
the field.
"""

from __future__ import annotations

from typing import Any

from nervosum.config.types import Record
from nervosum.errors import InputValidationError
from nervosum.serving.body import load_json

FIELD = "variables"


def flatten(value: dict[str, Any], prefix: str = "") -> Record:
    """Nested dicts as dotted keys, as ``pandas.json_normalize`` names them."""
    flat: Record = {}
    for key, item in value.items():
        name = f"{prefix}{key}"
        if isinstance(item, dict) and item:
            flat.update(flatten(item, f"{name}."))
        else:
            flat[name] = item
    return flat


def _missing(message: str) -> InputValidationError:
    return InputValidationError(
        message,
        details=[{"loc": [FIELD], "msg": message, "type": "missing"}],
        hint='send {"variables": {"feature": value, ...}} or a list of such objects',
    )


def parse_variables(body: bytes) -> tuple[list[Record], bool]:
    """The flattened records of a seed body, and whether ``variables`` was a list."""
    # [compat] the seed read bodies with Python's json, which takes NaN and Infinity.
    document = load_json(body, allow_inf_nan=True)
    if not isinstance(document, dict) or FIELD not in document:
        raise _missing("the body has no 'variables' field")
    variables = document[FIELD]
    if isinstance(variables, dict):
        return [flatten(variables)], False
    if isinstance(variables, list) and all(isinstance(row, dict) for row in variables):
        if not variables:
            raise _missing("'variables' is an empty list")
        return [flatten(row) for row in variables], True
    raise _missing(f"'variables' must be an object or a list of objects, not {variables!r:.60}")
