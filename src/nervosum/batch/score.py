"""Score one chunk: validate every row, predict the valid ones, account for every row.

The same function runs in local worker processes and in Spark's Python workers, so both
engines give the same outputs and the same rejects. A chunk is validated in one call;
only when that fails are rows validated one by one to find the bad ones. A failing model
call is bisected (`Engine.predict_groups`) so only the rows that make it raise are
rejected.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pyarrow as pa

from nervosum.batch import columns
from nervosum.batch.sources import Chunk
from nervosum.batch.table import outputs_table
from nervosum.config.types import Record
from nervosum.engine import Engine
from nervosum.errors import NervosumError
from nervosum.model.outputs import Outputs


@dataclass
class ChunkResult:
    """Outputs in input order (records, or a table), and one reject per row that has no
    output."""

    outputs: list[Record] | pa.Table = field(default_factory=list)
    rejects: list[Record] = field(default_factory=list)


def _reject(chunk: Chunk, number: int, values: Any, reason: str) -> Record:
    return {"file": chunk.source, "row": number, "values": values, "reason": reason}


def _row(chunk: Chunk, offset: int) -> dict[str, Any] | None:
    """A row as a dict of its present values (empty cells and nulls left out)."""
    if chunk.frame is None:
        return chunk.rows[offset]
    values = chunk.frame.iloc[offset].to_dict()
    return {str(k): v for k, v in values.items() if not _absent(v)}


def _absent(value: Any) -> bool:
    return value is None or value == "" or (isinstance(value, float) and math.isnan(value))


def _validate(
    engine: Engine, chunk: Chunk, offsets: list[int], result: ChunkResult
) -> list[tuple[int, Record]]:
    """(row offset, record) for every valid row among ``offsets``; the others are rejected."""
    raw = {offset: _row(chunk, offset) for offset in offsets}
    present = [offset for offset in offsets if raw[offset] is not None]
    rows = [engine.schema_fields(raw[offset] or {}) for offset in present]
    try:
        return list(zip(present, engine.inputs.validate(rows), strict=True))
    except NervosumError:
        pass
    valid: list[tuple[int, Record]] = []
    for offset, row in zip(present, rows, strict=True):
        try:
            valid.append((offset, engine.inputs.validate([row])[0]))
        except NervosumError as exc:
            result.rejects.append(
                _reject(chunk, chunk.first_row + offset, raw[offset], _reason(exc))
            )
    return valid


def _column_path(engine: Engine, chunk: Chunk, proba: bool) -> tuple[np.ndarray, Outputs | None]:
    """The rows the column path validates (offsets) and the model's answer for them; no
    answer when the path does not apply or the merged model call fails (the row path then
    finds the failing rows)."""
    nothing = np.zeros(0, dtype=np.intp)
    fields = engine.model_fields
    if chunk.frame is None or engine.handle.per_record or not columns.supports(fields):
        return nothing, None
    typed, suspect = columns.typed_frame(chunk.frame, fields)
    good = np.flatnonzero(~suspect)
    if not len(good):
        return nothing, None
    frame = typed if len(good) == len(typed) else typed.iloc[good].reset_index(drop=True)
    try:
        inputs = engine.handle.frame_inputs(frame)
        return good, engine.handle.predict_outputs(inputs, proba=proba)
    except Exception:
        return nothing, None


def _column_ids(engine: Engine, chunk: Chunk) -> np.ndarray | None:
    """The chunk's id column, for the column path's outputs (the row path's come from the
    engine, which echoes each validated record's id)."""
    id_field = engine.id_field
    if chunk.frame is not None and id_field and id_field in chunk.frame.columns:
        return chunk.frame[id_field].to_numpy()
    return None


def _row_outputs(
    engine: Engine, chunk: Chunk, offsets: list[int], proba: bool, result: ChunkResult
) -> dict[int, Record]:
    valid = _validate(engine, chunk, offsets, result)
    answers = engine.predict_groups([[record] for _, record in valid], proba=proba)
    outputs: dict[int, Record] = {}
    for (offset, _), answer in zip(valid, answers, strict=True):
        if isinstance(answer, NervosumError):
            row = _row(chunk, offset)
            result.rejects.append(_reject(chunk, chunk.first_row + offset, row, answer.message))
        else:
            outputs[offset] = answer[0]
    return outputs


def _reason(error: NervosumError) -> str:
    """`field: problem; ...` from a one-row validation error (its row index dropped)."""
    if not error.details:
        return error.message
    parts = []
    for detail in error.details:
        path = ".".join(str(p) for p in detail.get("loc", [])[1:])
        parts.append(f"{path}: {detail.get('msg')}" if path else str(detail.get("msg")))
    return "; ".join(parts)


def _explained(
    engine: Engine, chunk: Chunk, outputs: dict[int, Record], result: ChunkResult
) -> None:
    """Each scored row's explanation beside its prediction (``--explain``): the class
    explained, the base value and one ``contribution_<feature>`` column per feature,
    which add up to the model's output (docs/monitoring.md). A chunk whose explanation
    fails is explained row by row: a row that cannot be is rejected with the reason."""
    valid = _validate(engine, chunk, sorted(outputs), ChunkResult())
    try:
        answers = engine.explain([record for _, record in valid], which=None)["explanations"]
        found = list(zip(valid, answers, strict=True))
    except NervosumError:
        found = []
        for offset, record in valid:
            try:
                (answer,) = engine.explain([record], which=None)["explanations"]
            except NervosumError as exc:
                del outputs[offset]
                row = _row(chunk, offset)
                result.rejects.append(_reject(chunk, chunk.first_row + offset, row, exc.message))
                continue
            found.append(((offset, record), answer))
    for (offset, _), explained in found:
        columns = {"base_value": explained["base_value"]}
        if "explained" in explained:
            columns["explained"] = explained["explained"]
        for feature, value in explained["contributions"].items():
            columns[f"contribution_{feature}"] = value
        outputs[offset] = {**outputs[offset], **columns}


def score_chunk(
    engine: Engine,
    chunk: Chunk,
    *,
    proba: bool = False,
    explain: bool = False,
    keep_columns: Sequence[str] = (),
    table: bool = False,
) -> ChunkResult:
    """Outputs and rejects for ``chunk``; together they cover every one of its rows.

    With ``table``, a chunk whose rows all pass the column path gets its outputs as an
    Arrow table, never as records (unless ``explain`` adds each row's explanation).
    """
    result = ChunkResult()
    for number, (text, reason) in sorted(chunk.unreadable.items()):
        result.rejects.append(_reject(chunk, number, text, reason))
    good, answer = _column_path(engine, chunk, proba)
    every_row = table and not explain and len(good) == chunk.size
    if answer is not None and every_row and chunk.frame is not None:
        whole = outputs_table(answer, chunk.frame, engine.id_field, keep_columns)
        if whole is not None:
            result.outputs = whole
            return result
    outputs = dict(zip(good.tolist(), answer.records(), strict=True)) if answer is not None else {}
    fast = set(outputs)
    ids = _column_ids(engine, chunk)
    rest = [offset for offset in range(chunk.size) if offset not in outputs]
    rest = [offset for offset in rest if chunk.first_row + offset not in chunk.unreadable]
    outputs.update(_row_outputs(engine, chunk, rest, proba, result))
    if explain:
        _explained(engine, chunk, outputs, result)
    id_field = engine.id_field
    records: list[Record] = []
    for offset in sorted(outputs):
        output = outputs[offset]
        ident = {}
        if id_field and id_field in output:  # the engine echoed it
            ident[id_field] = output.pop(id_field)
        elif id_field and offset in fast and ids is not None and not _absent(ids[offset]):
            ident[id_field] = ids[offset]
        if keep_columns:
            row = _row(chunk, offset) or {}
            ident.update({name: row.get(name) for name in keep_columns})
        records.append({**ident, **output} if ident else output)
    result.outputs = records
    result.rejects.sort(key=lambda reject: int(reject["row"]))
    return result
