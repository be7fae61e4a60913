"""Score one chunk: validate every row, predict the valid ones, account for every row.

The same function runs in local worker processes and in Spark's Python workers, so both
engines give the same outputs and the same rejects. A chunk is validated in one call;
only when that fails are rows validated one by one to find the bad ones. A failing model
call is bisected (`Engine.predict_groups`) so only the rows that make it raise are
rejected.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from nervosum.batch.sources import Chunk
from nervosum.engine import Engine
from nervosum.errors import NervosumError
from nervosum.schema import Record


@dataclass
class ChunkResult:
    """Outputs in input order, and one reject per row that has no output."""

    outputs: list[Record] = field(default_factory=list)
    rejects: list[Record] = field(default_factory=list)


def _reject(chunk: Chunk, number: int, values: Any, reason: str) -> Record:
    return {"file": chunk.source, "row": number, "values": values, "reason": reason}


def _model_fields(engine: Engine, row: dict[str, Any]) -> dict[str, Any]:
    """The row restricted to the schema (and id) fields: files carry other columns."""
    names = engine.inputs.names
    if not names:
        return row
    keep = {*names, engine.id_field} if engine.id_field else set(names)
    return {key: value for key, value in row.items() if key in keep}


def _validate(engine: Engine, chunk: Chunk, result: ChunkResult) -> list[tuple[int, Record]]:
    """(row offset, record) for every valid row; the others become rejects."""
    offsets = [i for i, row in enumerate(chunk.rows) if row is not None]
    rows = [_model_fields(engine, chunk.rows[i] or {}) for i in offsets]
    try:
        return list(zip(offsets, engine.inputs.validate(rows), strict=True))
    except NervosumError:
        pass
    valid: list[tuple[int, Record]] = []
    for offset, row in zip(offsets, rows, strict=True):
        try:
            valid.append((offset, engine.inputs.validate([row])[0]))
        except NervosumError as exc:
            reason = _reason(exc)
            result.rejects.append(
                _reject(chunk, chunk.first_row + offset, chunk.rows[offset], reason)
            )
    return valid


def _reason(error: NervosumError) -> str:
    """`field: problem; ...` from a one-row validation error (its row index dropped)."""
    if not error.details:
        return error.message
    parts = []
    for detail in error.details:
        path = ".".join(str(p) for p in detail.get("loc", [])[1:])
        parts.append(f"{path}: {detail.get('msg')}" if path else str(detail.get("msg")))
    return "; ".join(parts)


def score_chunk(
    engine: Engine, chunk: Chunk, *, proba: bool = False, keep_columns: Sequence[str] = ()
) -> ChunkResult:
    """Outputs and rejects for ``chunk``; together they cover every one of its rows."""
    result = ChunkResult()
    for number, (text, reason) in sorted(chunk.unreadable.items()):
        result.rejects.append(_reject(chunk, number, text, reason))
    valid = _validate(engine, chunk, result)
    answers = engine.predict_groups([[record] for _, record in valid], proba=proba)
    for (offset, _), answer in zip(valid, answers, strict=True):
        row = chunk.rows[offset] or {}
        if isinstance(answer, NervosumError):
            reason = answer.message
            result.rejects.append(_reject(chunk, chunk.first_row + offset, row, reason))
            continue
        output = answer[0]
        ident = {engine.id_field: output.pop(engine.id_field)} if engine.id_field in output else {}
        kept = {name: row.get(name) for name in keep_columns}
        result.outputs.append({**ident, **kept, **output})
    result.rejects.sort(key=lambda reject: int(reject["row"]))
    return result
