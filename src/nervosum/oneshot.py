"""One-shot prediction from text (JSON, JSON Lines or CSV) with no server in between.

``nervosum predict`` uses it. The model is loaded and called through a
:class:`~nervosum.predict.runtime.ModelRuntime`, as a server's would be: the same schema
validation, model thread and answer rule, so what it prints is what ``/predict`` answers.
"""

from __future__ import annotations

import asyncio
from typing import Any

from prometheus_client import CollectorRegistry

from nervosum.config import Project
from nervosum.config.types import Record
from nervosum.engine import Engine
from nervosum.errors import RequestError
from nervosum.predict.runtime import ModelRuntime, answer
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


def parse_records(runtime: ModelRuntime, text: str, fmt: str) -> tuple[list[Record], bool]:
    """Validated records and whether the input held several (an array, lines or a table)."""
    if not text.strip():
        raise RequestError(
            "the input is empty", hint="pass a JSON object, JSON Lines or a CSV table"
        )
    if fmt == "json":
        return runtime.parse(text.encode())
    if fmt == "jsonl":
        body = "[" + ",".join(line for line in text.splitlines() if line.strip()) + "]"
        return runtime.parse(body.encode())[0], True
    return runtime.validate(csv_rows(text)), True


def predict_text(project: Project, text: str, fmt: str, *, proba: bool = True) -> Any:
    """Load ``project``'s model and answer ``text``: one object for one JSON object, else
    a list."""
    return asyncio.run(_predict_text(project, text, fmt, proba))


async def _predict_text(project: Project, text: str, fmt: str, proba: bool) -> Any:
    runtime = ModelRuntime.on_registry(project, CollectorRegistry(), runtime="cli")
    try:
        runtime.serve(await runtime.run(Engine.load, project))
        records, many = parse_records(runtime, text, fmt)
        return answer(await runtime.predict(records, proba=proba), many)
    finally:
        await runtime.close()
