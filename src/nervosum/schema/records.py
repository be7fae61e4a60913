"""Validate input records against ``input_schema`` with compiled pydantic validators.

The schema becomes a TypedDict validated by pydantic-core straight from the request
bytes: no intermediate Python objects, plain dicts out, a few microseconds per record.
Every violation is reported with its path (``[row, field]`` for arrays), so a client
fixes all of them in one round trip.
"""

from __future__ import annotations

import difflib
from collections.abc import Sequence
from typing import Annotated, Any, NotRequired

import pydantic
from pydantic import AfterValidator, ConfigDict, FailFast, Field, TypeAdapter
from pydantic_core import PydanticCustomError
from typing_extensions import TypedDict

from nervosum.config.spec import SchemaField
from nervosum.config.types import PYTHON_TYPES, Record
from nervosum.errors import InputValidationError, RequestError
from nervosum.jsonio import loads

INT64_MIN, INT64_MAX = -(2**63), 2**63 - 1

# Rows validated per pydantic-core call: one call holds the interpreter lock throughout, so a
# large request validated on a worker thread would stall the event loop for all of it
# (100 ms and more for 50,000 rows); between calls the loop gets its turn.
VALIDATE_SLICE = 2048

# Beyond this many problems a client learns nothing more, and building the full list for
# a huge bad body would cost seconds of CPU: validation stops at the first bad row and the
# details are collected row by row up to this bound.
MAX_DETAILS = 50

_EXAMPLES: dict[str, Any] = {
    "int": 0,
    "float": 0.0,
    "str": "string",
    "bool": True,
    "datetime": "2026-01-01T00:00:00Z",
    "list": [],
    "dict": {},
}


def _one_of(choices: tuple[Any, ...]) -> AfterValidator:
    """Membership checked after the base type cast, so "2" from a CSV matches choice 2."""
    shown = [repr(c) for c in choices]
    expected = shown[0] if len(shown) == 1 else f"{', '.join(shown[:-1])} or {shown[-1]}"

    def check(value: Any) -> Any:
        if value not in choices:
            raise PydanticCustomError(
                "literal_error", "Input should be {expected}", {"expected": expected}
            )
        return value

    return AfterValidator(check)


def _annotation(field: SchemaField) -> Any:
    base: Any = PYTHON_TYPES[field.type]
    if field.type == "list":
        base = list[Any]
    elif field.type == "dict":
        base = dict[str, Any]
    constraints: dict[str, Any] = {}
    if field.type == "float":
        constraints["allow_inf_nan"] = False
    if field.type == "int":  # the model gets an int64 column: keep values inside its range
        constraints["ge"], constraints["le"] = INT64_MIN, INT64_MAX
    if field.min is not None:
        constraints["ge"] = max(field.min, constraints.get("ge", field.min))
    if field.max is not None:
        constraints["le"] = min(field.max, constraints.get("le", field.max))
    if field.choices:
        constraints["json_schema_extra"] = {"enum": list(field.choices)}
    if field.description:
        constraints["description"] = field.description
    if field.example is not None:
        constraints["examples"] = [field.example]
    annotated: Any = Annotated[base, Field(**constraints)] if constraints else base
    if field.choices:
        annotated = Annotated[annotated, _one_of(field.choices)]
    if is_optional(field):
        return NotRequired[annotated | None]
    return annotated


def _typed_dict(title: str, spec: dict[str, Any]) -> Any:
    """A TypedDict class built at run time, closed to unknown keys."""
    item: Any = TypedDict(title, spec)  # type: ignore[misc]
    setattr(item, "__pydantic_config__", ConfigDict(extra="forbid"))  # noqa: B010
    return item


def is_optional(field: SchemaField) -> bool:
    """A field may be left out when it is not required or has a default."""
    return not field.required or field.default is not None


def example_value(field: SchemaField) -> Any:
    if field.example is not None:
        return field.example
    if field.default is not None:
        return field.default
    if field.choices:
        return field.choices[0]
    if field.min is not None:
        return field.min if field.type == "float" else int(field.min)
    return _EXAMPLES[field.type]


def _is_record_loc(loc: list[Any]) -> bool:
    """Whether ``loc`` is a whole record (the body, or one item of an array), not a field."""
    return not loc or (len(loc) == 1 and isinstance(loc[0], int))


class RecordSchema:
    """Validates JSON bodies or Python rows into records with every field present."""

    def __init__(
        self,
        fields: Sequence[SchemaField],
        *,
        title: str = "Input",
        id_field: str | None = None,
    ) -> None:
        self.fields = tuple(fields)
        self.names = tuple(f.name for f in fields)
        self.id_field = id_field
        self.title = title
        self._defaults = {f.name: f.default for f in fields if is_optional(f)}
        # No declared schema: any JSON object is a record, columns as the client sent them.
        item: Any = dict[str, Any]
        if fields:
            spec = {f.name: _annotation(f) for f in fields}
            if id_field:
                spec[id_field] = NotRequired[str | int]
            item = _typed_dict(title, spec)
        self._one: TypeAdapter[Any] = TypeAdapter(item)
        self._many: TypeAdapter[list[Any]] = TypeAdapter(Annotated[list[item], FailFast()])

    def parse_json(self, body: bytes) -> tuple[list[Record], bool]:
        """Validate a JSON object or array; return the records and whether it was an array."""
        start = body.lstrip()[:1]
        many = start == b"["
        adapter = self._many if many else self._one
        try:
            value: Any = adapter.validate_json(body)
        except pydantic.ValidationError as exc:
            if many and exc.errors()[0]["type"] != "json_invalid":
                # The body is JSON (the validator read it), NaN and Infinity included.
                rows = loads(body, allow_inf_nan=True)
                raise self._row_errors(rows, exc) from None
            raise self._error(exc) from None
        records: list[Record] = value if many else [value]
        return [self._complete(r) for r in records], many

    def validate(self, rows: Sequence[Any]) -> list[Record]:
        """Validate Python rows (e.g. parsed CSV, strings cast by pydantic's lax mode)."""
        rows = list(rows)
        value: list[Any] = []
        try:
            for start in range(0, len(rows), VALIDATE_SLICE):
                value += self._many.validate_python(rows[start : start + VALIDATE_SLICE])
        except pydantic.ValidationError as exc:
            raise self._row_errors(rows, exc) from None
        return [self._complete(r) for r in value]

    def _row_errors(self, rows: Any, first: pydantic.ValidationError) -> RequestError:
        """Every problem of the first rows, up to MAX_DETAILS, with ``[row, field]`` paths."""
        if not isinstance(rows, list):
            return self._error(first)
        errors: list[Any] = []
        for index, row in enumerate(rows):
            try:
                self._one.validate_python(row)
            except pydantic.ValidationError as exc:
                for error in exc.errors(
                    include_url=False, include_context=False, include_input=False
                ):
                    errors.append({**error, "loc": (index, *error["loc"])})
                if len(errors) >= MAX_DETAILS:
                    return self._from_errors(errors[:MAX_DETAILS], truncated=True)
        return self._from_errors(errors, truncated=False) if errors else self._error(first)

    def _complete(self, record: Record) -> Record:
        for name, default in self._defaults.items():
            if record.get(name) is None:  # omitted or null: both mean "use the default"
                record[name] = default
        return record

    def _error(self, exc: pydantic.ValidationError) -> RequestError:
        errors = exc.errors(include_url=False, include_context=False, include_input=False)
        if any(e["type"] == "json_invalid" for e in errors):
            msg = str(errors[0]["msg"]).replace("Invalid JSON: ", "")
            return RequestError(f"body is not valid JSON: {msg}")
        return self._from_errors(errors[:MAX_DETAILS], truncated=len(errors) > MAX_DETAILS)

    def _from_errors(self, errors: list[Any], *, truncated: bool) -> InputValidationError:
        details = [self._detail(e) for e in errors]
        count = len(details)
        summary = "; ".join(
            f"{'.'.join(str(p) for p in d['loc']) or 'body'}: {d['msg']}" for d in details[:3]
        )
        more = f" (and {count - 3} more)" if count > 3 else ""
        counted = f"at least {count}" if truncated else str(count)
        return InputValidationError(
            f"{counted} invalid field{'s' if count != 1 else ''}: {summary}{more}", details=details
        )

    def _detail(self, error: Any) -> dict[str, Any]:
        loc = list(error["loc"])
        kind = error["type"]
        msg = str(error["msg"])
        if kind == "extra_forbidden":
            close = difflib.get_close_matches(str(loc[-1]), self.names, n=1)
            msg = f"unknown field; did you mean {close[0]!r}?" if close else "unknown field"
            if not close:
                msg += f"; expected: {', '.join(self.names)}"
        elif kind == "missing":
            msg = "required field is missing"
        elif kind in ("dict_type", "list_type", "model_type") and _is_record_loc(loc):
            msg = "expected a JSON object (one record) or an array of objects"
        return {"loc": loc, "msg": msg, "type": kind}

    def json_schema(self) -> dict[str, Any]:
        """JSON Schema of one record, for OpenAPI."""
        schema = self._one.json_schema()
        schema["title"] = self.title
        schema["example"] = self.example()
        return schema

    def example(self) -> Record:
        return {f.name: example_value(f) for f in self.fields}
