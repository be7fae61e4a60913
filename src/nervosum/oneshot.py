"""One-shot prediction from text (JSON, JSON Lines or CSV) with no server in between.

``nervosum predict`` and ``nervosum check`` use it; the records go through the same
schema validation and engine as an HTTP request would.
"""

from __future__ import annotations

from typing import Any

from nervosum.config.types import Record
from nervosum.engine import Engine
from nervosum.errors import RequestError
from nervosum.predict.runtime import answer
from nervosum.schema.csvrows import csv_rows

FORMATS = ("json", "jsonl", "csv")


def sniff_format(text: str, filename: str | None = None) -> str:
    """Guess the format from the file extension, else from the text itself."""
    if filename:
        suffix = filename.rsplit(".", 1)[-1].lower()
        if suffix in FORMATS:
            return suffix
        if suffix == "ndjson":
            return "jsonl"
    lines = [line for line in text.splitlines() if line.strip()]
    first = text.lstrip()[:1]
    if first == "[":
        return "json"
    if first == "{":
        return (
            "jsonl"
            if len(lines) > 1 and all(line.lstrip()[:1] == "{" for line in lines)
            else "json"
        )
    return "csv"


def parse_records(engine: Engine, text: str, fmt: str) -> tuple[list[Record], bool]:
    """Validated records and whether the input held several (an array, lines or a table)."""
    if not text.strip():
        raise RequestError(
            "the input is empty", hint="pass a JSON object, JSON Lines or a CSV table"
        )
    if fmt == "json":
        return engine.inputs.parse_json(text.encode())
    if fmt == "jsonl":
        body = "[" + ",".join(line for line in text.splitlines() if line.strip()) + "]"
        return engine.inputs.parse_json(body.encode())[0], True
    return engine.inputs.validate(csv_rows(text)), True


def predict_text(engine: Engine, text: str, fmt: str, *, proba: bool = True) -> Any:
    """The outputs for ``text``: one object for one JSON object, else a list."""
    records, many = parse_records(engine, text, fmt)
    outputs = engine.predict(records, proba=proba)
    return answer(outputs, many)
