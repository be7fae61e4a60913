"""Batch outputs: part files in CSV, Parquet or JSON Lines, and their merge into one file.

Every file is written under a temporary name and renamed when complete, so a reader (or
`--resume`) never sees half a part. Tabular formats are written by Arrow from one table
layout (`batch/table.py`); JSON Lines keeps records as they are.
"""

from __future__ import annotations

import csv
import os
import shutil
from collections.abc import Iterable, Sequence
from pathlib import Path

import pyarrow as pa

from nervosum.batch.table import records_table
from nervosum.config.types import Record
from nervosum.jsonio import dumps

SUFFIXES = {"csv": ".csv", "parquet": ".parquet", "jsonl": ".jsonl"}


def _write_csv(path: Path, table: pa.Table) -> None:
    import pyarrow.csv as pcsv

    pcsv.write_csv(table, path)


def _write_parquet(path: Path, table: pa.Table) -> None:
    import pyarrow.parquet as pq

    pq.write_table(table, path)


def _write_jsonl(path: Path, records: Sequence[Record]) -> None:
    with path.open("wb") as handle:
        for record in records:
            handle.write(dumps(record) + b"\n")


def temporary(path: Path) -> Path:
    """Where ``path`` is written before it is complete (same folder: the rename is atomic)."""
    return path.with_name(f".{path.name}.{os.getpid()}.tmp")


def write_outputs(path: Path, outputs: Sequence[Record] | pa.Table, fmt: str) -> None:
    """Write records or a table to ``path`` atomically, in ``fmt``."""
    partial = temporary(path)
    try:
        if fmt == "jsonl":
            _write_jsonl(partial, outputs.to_pylist() if isinstance(outputs, pa.Table) else outputs)
        else:
            table = (
                outputs
                if isinstance(outputs, pa.Table)
                else records_table(outputs, text=fmt == "csv")
            )
            (_write_csv if fmt == "csv" else _write_parquet)(partial, table)
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


def _first_line(path: Path) -> bytes:
    with path.open("rb") as handle:
        return handle.readline()


def _merge_text(files: list[Path], target: Path, *, header: bool) -> None:
    """Byte concatenation (CSV parts with one header keep only the first); CSV parts with
    different headers are aligned to the union of their columns."""
    if header and len({_first_line(part) for part in files}) > 1:
        _merge_csv_columns(files, target)
        return
    with target.open("wb") as out:
        for index, part in enumerate(files):
            with part.open("rb") as handle:
                if header and index:
                    handle.readline()
                shutil.copyfileobj(handle, out)


def _merge_csv_columns(files: list[Path], target: Path) -> None:
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
