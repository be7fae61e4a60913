"""Batch inputs: a file, a folder or a glob of CSV, Parquet or JSON Lines, read in chunks.

Nothing is read whole: CSV through Arrow's streaming reader, Parquet by record batches,
JSON Lines line by line. CSV cells arrive as text and are cast by the schema (the seed
passed them to the model as strings); an empty cell is a missing value. A JSON Lines
line that is not a JSON object is not an error for the whole file: it becomes a reject
with its line number, like any other bad row.
"""

from __future__ import annotations

import csv
import glob
import queue
import threading
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import orjson

from nervosum.errors import RequestError

if TYPE_CHECKING:
    import pandas as pd

FORMATS = ("csv", "parquet", "jsonl")
_SUFFIXES = {".csv": "csv", ".parquet": "parquet", ".pq": "parquet", ".jsonl": "jsonl"}
_SUFFIXES[".ndjson"] = "jsonl"

# What a reader yields per chunk: a frame (tabular inputs), or the rows (None where a
# row could not be parsed) and, by offset in the chunk, the unparsable rows' text and why.
RawChunk = tuple["pd.DataFrame | None", list[dict[str, Any] | None], dict[int, tuple[str, str]]]


@dataclass(frozen=True)
class InputFile:
    """One input file and its format."""

    path: Path
    format: str


@dataclass
class Chunk:
    """Up to `chunk_size` consecutive rows of one input file.

    Tabular inputs carry their rows as ``frame`` (columns as read: text for CSV); JSON
    Lines as ``rows``, where ``unreadable`` maps the numbers (1-based) of lines that could
    not be parsed to their text and the reason.
    """

    file_index: int
    index: int
    source: str
    first_row: int
    rows: list[dict[str, Any] | None]
    unreadable: dict[int, tuple[str, str]] = field(default_factory=dict)
    frame: pd.DataFrame | None = None

    @property
    def size(self) -> int:
        """Rows in the chunk, parsed or not."""
        return len(self.frame) if self.frame is not None else len(self.rows)

    @property
    def part(self) -> str:
        """The stable name of this chunk's output part (the unit of resume)."""
        return f"part-{self.file_index:05d}-{self.index:05d}"


def format_of(path: Path, forced: str | None) -> str:
    """The format named by ``forced`` or by the file's extension."""
    if forced:
        return forced
    found = _SUFFIXES.get(path.suffix.lower())
    if found is None:
        raise RequestError(
            f"cannot tell the format of {path} from its extension",
            hint=f"use --input-format ({', '.join(FORMATS)})",
        )
    return found


def resolve_inputs(spec: str, forced: str | None = None) -> list[InputFile]:
    """The files named by ``spec`` (a file, a folder of files, or a glob), sorted."""
    path = Path(spec)
    if path.is_dir():
        candidates = sorted(
            p
            for p in path.iterdir()
            if p.is_file()
            and not p.name.startswith((".", "_"))
            and (forced or p.suffix.lower() in _SUFFIXES)
        )
    elif any(char in spec for char in "*?["):
        candidates = sorted(Path(p) for p in glob.glob(spec, recursive=True) if Path(p).is_file())
    else:
        candidates = [path] if path.is_file() else []
    if not candidates:
        raise RequestError(
            f"no input files at {spec!r}",
            hint="give a file, a folder of .csv/.parquet/.jsonl files, or a quoted glob",
        )
    return [InputFile(p, format_of(p, forced)) for p in candidates]


def _csv_header(path: Path) -> list[str]:
    """The names in the first non-blank line (the reader is told every column is text)."""
    with path.open(newline="", encoding="utf-8-sig") as handle:
        for row in csv.reader(handle):
            if any(cell.strip() for cell in row):
                return row
    return []


def _not_well_formed(path: Path, exc: Exception) -> RequestError:
    return RequestError(
        f"{path} is not a well-formed CSV file: {exc}",
        hint="quote fields that hold commas or line breaks; every row needs the"
        " header's number of cells",
    )


_BLOCK = 1 << 20
_MAX_BLOCK = 1 << 30


def _csv_chunks(path: Path, size: int) -> Iterator[RawChunk]:
    """Arrow's streaming CSV reader, every column as text: it parses without holding the
    interpreter, so the model keeps its core, and its text columns reach the schema's
    casts without being made into Python strings first."""
    import pyarrow as pa

    names = _csv_header(path)
    if not names:
        return
    if len(set(names)) != len(names):
        duplicated = sorted({n for n in names if names.count(n) > 1})
        raise RequestError(f"{path} has the column name(s) {duplicated} more than once")
    block, done = _BLOCK, 0
    while True:
        try:
            for frame in _csv_frames(path, names, size, block, skip=done):
                done += len(frame)
                yield frame, [], {}
            return
        except pa.ArrowInvalid as exc:
            # A row longer than a block: read on from where it stopped with bigger blocks.
            if "straddl" not in str(exc) or block >= _MAX_BLOCK:
                raise _not_well_formed(path, exc) from None
            block *= 16


def _csv_frames(
    path: Path, names: list[str], size: int, block: int, *, skip: int
) -> Iterator[pd.DataFrame]:
    """Frames of ``size`` rows (text columns backed by Arrow), after the first ``skip``.

    One parsing thread: the reader runs beside the model, not on every core. Arrow reads
    a fixed number of blocks ahead, so the block size bounds that memory (1 MiB blocks:
    about 40 MB; its 16 MiB default would hold about 500 MB of a big file)."""
    import pandas as pd
    import pyarrow as pa
    import pyarrow.csv as pa_csv

    convert = pa_csv.ConvertOptions(
        column_types=dict.fromkeys(names, pa.string()),
        strings_can_be_null=False,
        quoted_strings_can_be_null=False,
    )
    read = pa_csv.ReadOptions(use_threads=False, block_size=block)
    reader = pa_csv.open_csv(path, read_options=read, convert_options=convert)
    batches: list[pa.RecordBatch] = []
    held = 0
    for read_batch in reader:
        dropped = min(skip, read_batch.num_rows)
        skip -= dropped
        batch = read_batch.slice(dropped) if dropped else read_batch
        batches.append(batch)
        held += batch.num_rows
        while held >= size:
            table = pa.Table.from_batches(batches, schema=reader.schema)
            yield table.slice(0, size).to_pandas(types_mapper=pd.ArrowDtype)
            rest = table.slice(size)
            batches, held = rest.to_batches(), rest.num_rows
    if held:
        table = pa.Table.from_batches(batches, schema=reader.schema)
        yield table.to_pandas(types_mapper=pd.ArrowDtype)


def _parquet_chunks(path: Path, size: int) -> Iterator[RawChunk]:
    import pyarrow.parquet as pq

    with pq.ParquetFile(path) as parquet:
        for batch in parquet.iter_batches(batch_size=size, use_threads=False):
            yield batch.to_pandas(), [], {}


def parse_jsonl_line(raw: bytes) -> tuple[dict[str, Any] | None, str]:
    """One JSON Lines record, or None and why the line is not one (both engines use it)."""
    try:
        value = orjson.loads(raw)
    except orjson.JSONDecodeError as exc:
        return None, f"not valid JSON: {exc}"
    if not isinstance(value, dict):
        return None, "a line must hold one JSON object"
    return value, ""


def _jsonl_chunks(path: Path, size: int) -> Iterator[RawChunk]:
    rows: list[dict[str, Any] | None] = []
    unreadable: dict[int, tuple[str, str]] = {}
    with path.open("rb") as lines:
        for raw in lines:
            if not raw.strip():
                continue
            value, reason = parse_jsonl_line(raw)
            if reason:
                unreadable[len(rows)] = (raw.decode("utf-8", "replace").rstrip("\r\n"), reason)
            rows.append(value)
            if len(rows) == size:
                yield None, rows, unreadable
                rows, unreadable = [], {}
    if rows:
        yield None, rows, unreadable


_READERS = {"csv": _csv_chunks, "parquet": _parquet_chunks, "jsonl": _jsonl_chunks}


def read_chunks(inputs: list[InputFile], size: int) -> Iterator[Chunk]:
    """Every input's rows, ``size`` at a time, numbered from 1 per file."""
    for file_index, source in enumerate(inputs):
        first = 1
        chunks = _READERS[source.format](source.path, size)
        for index, (frame, rows, unreadable) in enumerate(chunks):
            bad = {first + offset: value for offset, value in unreadable.items()}
            chunk = Chunk(file_index, index, str(source.path), first, rows, bad, frame)
            yield chunk
            first += chunk.size


class ReadAhead:
    """``chunks``, with the next one read by a thread while the caller scores this one.

    Parsing (Arrow's readers) and a model's compiled code mostly run without the
    GIL, so reading overlaps scoring even with a single worker; reading starts at once,
    so the first chunk is parsed while the model loads. One chunk ahead at most: memory
    stays bounded. A reader error is raised in the caller's thread; ``close`` stops the
    reader whatever it is doing.
    """

    def __init__(self, chunks: Iterator[Chunk]) -> None:
        self._chunks = chunks
        self._ahead: queue.Queue[tuple[Chunk | None, BaseException | None]] = queue.Queue(1)
        self._stop = threading.Event()
        self._done = False
        self._thread = threading.Thread(target=self._read, name="nervosum-read-ahead")
        self._thread.daemon = True
        self._thread.start()

    def _offer(self, item: tuple[Chunk | None, BaseException | None]) -> bool:
        """Queue ``item`` unless the consumer has gone; False when it has."""
        while not self._stop.is_set():
            try:
                self._ahead.put(item, timeout=0.1)
                return True
            except queue.Full:
                continue
        return False

    def _read(self) -> None:
        try:
            for chunk in self._chunks:
                if not self._offer((chunk, None)):
                    return
            self._offer((None, None))
        except BaseException as exc:
            self._offer((None, exc))

    def __iter__(self) -> ReadAhead:
        return self

    def __next__(self) -> Chunk:
        if self._done:
            raise StopIteration
        chunk, error = self._ahead.get()
        if error is not None:
            self.close()
            raise error
        if chunk is None:
            self.close()
            raise StopIteration
        return chunk

    def close(self) -> None:
        self._done = True
        self._stop.set()
        self._thread.join()


def count_rows(inputs: list[InputFile]) -> int | None:
    """Total rows when cheap to know (Parquet metadata), else None."""
    if any(source.format != "parquet" for source in inputs):
        return None
    import pyarrow.parquet as pq

    return sum(int(pq.ParquetFile(source.path).metadata.num_rows) for source in inputs)
