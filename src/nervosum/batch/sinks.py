"""Batch outputs: part files in CSV, Parquet or JSON Lines, and their merge into one file.

Every file is written under a temporary name and renamed when complete, so a reader (or
`--resume`) never sees half a part. Tabular formats get one column per output; a
classifier's `probabilities` map becomes `probability_<class>` columns. JSON Lines keeps
records as they are.
"""

from __future__ import annotations

import csv
import os
import shutil
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import Any

import orjson

from nervosum.jsonio import dumps
from nervosum.schema import Record

SUFFIXES = {"csv": ".csv", "parquet": ".parquet", "jsonl": ".jsonl"}
PROBABILITIES = "probabilities"


def _flat(record: Record) -> Record:
    """One level of columns: the probabilities map spread into `probability_<class>`."""
    probabilities = record.get(PROBABILITIES)
    if not isinstance(probabilities, dict):
        return record
    out = {k: v for k, v in record.items() if k != PROBABILITIES}
    out.update({f"probability_{label}": value for label, value in probabilities.items()})
    return out


def flat_records(records: Sequence[Record]) -> Sequence[Record]:
    """``records`` with probabilities spread into columns; one model call gives all or none
    of its records probabilities, so the first record tells whether any work is needed."""
    if not records or not isinstance(records[0].get(PROBABILITIES), dict):
        return records
    return [_flat(r) for r in records]


def _cell(value: Any) -> Any:
    if isinstance(value, dict | list):
        return dumps(value).decode()
    return "" if value is None else value


def _write_csv(path: Path, records: Sequence[Record]) -> None:
    rows = flat_records(records)
    columns = list(dict.fromkeys(key for row in rows for key in row))
    with path.open("w", newline="", encoding="utf-8") as handle:
        writer = csv.writer(handle)
        writer.writerow(columns)
        writer.writerows([_cell(row.get(c)) for c in columns] for row in rows)


def _write_parquet(path: Path, records: Sequence[Record]) -> None:
    import pyarrow as pa
    import pyarrow.parquet as pq

    pq.write_table(pa.Table.from_pylist(list(flat_records(records))), path)


def _write_jsonl(path: Path, records: Sequence[Record]) -> None:
    with path.open("wb") as handle:
        for record in records:
            handle.write(dumps(record) + b"\n")


_WRITERS = {"csv": _write_csv, "parquet": _write_parquet, "jsonl": _write_jsonl}


def temporary(path: Path) -> Path:
    """Where ``path`` is written before it is complete (same folder: the rename is atomic)."""
    return path.with_name(f".{path.name}.{os.getpid()}.tmp")


def write_records(path: Path, records: Sequence[Record], fmt: str) -> None:
    """Write ``records`` to ``path`` atomically."""
    partial = temporary(path)
    try:
        _WRITERS[fmt](partial, records)
        partial.replace(path)
    finally:
        partial.unlink(missing_ok=True)


def write_bytes(path: Path, data: bytes) -> None:
    partial = temporary(path)
    partial.write_bytes(data)
    partial.replace(path)


def merge(parts: Iterable[Path], target: Path, fmt: str) -> None:
    """Concatenate part files, in order, into ``target`` (atomically)."""
    files = list(parts)
    partial = temporary(target)
    try:
        if fmt == "parquet":
            _merge_parquet(files, partial)
        else:
            _merge_text(files, partial, header=fmt == "csv")
        partial.replace(target)
    finally:
        partial.unlink(missing_ok=True)


def _merge_text(files: list[Path], target: Path, *, header: bool) -> None:
    """Byte concatenation; for CSV, columns aligned to the union of the parts' headers."""
    if not header:
        with target.open("wb") as out:
            for part in files:
                with part.open("rb") as handle:
                    shutil.copyfileobj(handle, out)
        return
    columns: list[str] = []
    for part in files:
        with part.open(newline="", encoding="utf-8") as handle:
            columns.extend(c for c in next(csv.reader(handle), []) if c not in columns)
    with target.open("w", newline="", encoding="utf-8") as out:
        writer = csv.DictWriter(out, fieldnames=columns)
        writer.writeheader()
        for part in files:
            with part.open(newline="", encoding="utf-8") as handle:
                writer.writerows(csv.DictReader(handle))


def _merge_parquet(files: list[Path], target: Path) -> None:
    import pyarrow as pa
    import pyarrow.parquet as pq

    if not files:
        pq.write_table(pa.table({}), target)
        return
    schema = pa.unify_schemas([pq.read_schema(p) for p in files], promote_options="permissive")
    with pq.ParquetWriter(target, schema) as writer:
        for part in files:
            for batch in pq.ParquetFile(part).iter_batches():
                table = pa.Table.from_batches([batch])
                for name in schema.names:
                    if name not in table.column_names:
                        table = table.append_column(
                            name, pa.nulls(len(table), schema.field(name).type)
                        )
                writer.write_table(table.select(schema.names).cast(schema))


def read_jsonl(path: Path) -> list[Record]:
    """Every record of a JSON Lines file (rejects parts are small: one per bad row)."""
    with path.open("rb") as handle:
        return [orjson.loads(line) for line in handle if line.strip()]
