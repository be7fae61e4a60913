"""Batch inputs: a file, a folder or a glob of CSV, Parquet or JSON Lines, read in chunks.

Nothing is read whole: CSV through pandas' chunked C reader, Parquet by record batches,
JSON Lines line by line. CSV cells arrive as text and are cast by the schema (the seed
passed them to the model as strings); an empty cell is a missing value. A JSON Lines
line that is not a JSON object is not an error for the whole file: it becomes a reject
with its line number, like any other bad row.
"""

from __future__ import annotations

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


def _csv_chunks(path: Path, size: int) -> Iterator[RawChunk]:
    import pandas as pd

    reader = pd.read_csv(
        path, dtype=str, keep_default_na=False, chunksize=size, skip_blank_lines=True
    )
    with reader:
        try:
            for frame in reader:
                yield frame.reset_index(drop=True), [], {}
        except pd.errors.ParserError as exc:
            raise RequestError(
                f"{path} is not a well-formed CSV file: {exc}",
                hint="quote fields that hold commas or line breaks; every row needs the"
                " header's number of cells",
            ) from None


def _parquet_chunks(path: Path, size: int) -> Iterator[RawChunk]:
    import pyarrow.parquet as pq

    with pq.ParquetFile(path) as parquet:
        for batch in parquet.iter_batches(batch_size=size):
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

    Parsing (pandas' C reader, Arrow) and a model's compiled code mostly run without the
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
