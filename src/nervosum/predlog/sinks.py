"""Where prediction log records go: JSON Lines files, SQLite, PostgreSQL, Fluentd, MongoDB
(``mongodb.py``), stdout; ``opener.py`` opens one per ``logging.sinks`` entry.

A sink writes a batch of records or raises; it is opened, written and closed by one
background writer thread (`predlog/writer.py`), which counts what a failing sink drops
and opens it again later. Databases get one table (created if missing) holding both
predictions and feedback (``kind``), with the columns evaluation filters on and the
whole record as JSON.
"""

from __future__ import annotations

import fcntl
import os
import sqlite3
import sys
from abc import ABC, abstractmethod
from collections.abc import Sequence
from pathlib import Path
from typing import Any, BinaryIO

from nervosum.config.spec import SinkSpec
from nervosum.config.types import Record
from nervosum.errors import RequestError
from nervosum.jsonio import dumps
from nervosum.predlog.events import FEEDBACK, PROMOTION

COLUMNS: tuple[str, ...] = ("kind", "id", "request_id", "timestamp", "epoch", "model", "tag")
COLUMNS += ("uuid", "route", "status", "latency_ms")


def _row(record: Record) -> tuple[Any, ...]:
    values = tuple(record.get(c) for c in COLUMNS)
    ident = values[1]
    text_id = ident if ident is None or isinstance(ident, str) else dumps(ident).decode()
    return (*values[:1], text_id, *values[2:], dumps(record).decode())


class Sink(ABC):
    """One destination; ``write`` raises when the records did not get there, ``close``
    releases connections and files (a later ``write`` opens them again)."""

    def __init__(self, name: str) -> None:
        self.name = name

    @abstractmethod
    def write(self, records: Sequence[Record]) -> None: ...

    @abstractmethod
    def close(self) -> None: ...


class JsonlSink(Sink):
    """Appends one JSON object per line; a file past ``max_bytes`` is rotated before the
    next append (``.1`` newest ... ``.backups`` oldest).

    Pre-forked workers each have their own sink on the same path, so every append and
    every rotation happens under an exclusive ``flock`` on ``<path>.lock``, and a sink
    whose open file was rotated away by another worker reopens the path before appending.
    Without it the workers' rename chains overwrote each other's files and appends landed
    in files already renamed out of the chain (issue 20: 1200 predictions, 1126 lines).
    A rotation that fails raises before the batch is appended, so a batch counted as
    dropped is never on disk.
    """

    def __init__(self, name: str, spec: SinkSpec) -> None:
        super().__init__(name)
        self.path = Path(spec.path or "predictions.jsonl")
        self.lock_path = self.path.with_name(f"{self.path.name}.lock")
        self.max_bytes = spec.max_bytes
        self.backups = spec.backups
        self._file: BinaryIO | None = None
        self._lock: BinaryIO | None = None

    def write(self, records: Sequence[Record]) -> None:
        data = b"".join(dumps(r) + b"\n" for r in records)
        if self._lock is None:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            self._lock = self.lock_path.open("ab")
        fcntl.flock(self._lock, fcntl.LOCK_EX)
        try:
            log = self._current()
            if os.fstat(log.fileno()).st_size >= self.max_bytes:
                self._rotate()
                log = self._current()
            log.write(data)
            log.flush()
        finally:
            fcntl.flock(self._lock, fcntl.LOCK_UN)

    def _current(self) -> BinaryIO:
        """The file now at ``path`` (opened again when another worker rotated it away)."""
        if self._file is not None:
            try:
                same = os.path.samestat(os.fstat(self._file.fileno()), os.stat(self.path))
            except FileNotFoundError:
                same = False
            if not same:
                self._file.close()
                self._file = None
        if self._file is None:
            self._file = self.path.open("ab")
        return self._file

    def _rotate(self) -> None:
        if self._file is not None:
            self._file.close()
            self._file = None
        if self.backups == 0:
            self.path.unlink(missing_ok=True)
            return
        kept = 0  # the chain .1, .2 ... is contiguous: rotation only ever extends it
        while kept < self.backups - 1 and self._rotated(kept + 1).exists():
            kept += 1
        for index in range(kept, 0, -1):
            self._rotated(index).replace(self._rotated(index + 1))
        self.path.replace(self._rotated(1))

    def _rotated(self, index: int) -> Path:
        return self.path.with_name(f"{self.path.name}.{index}")

    def close(self) -> None:
        for handle in (self._file, self._lock):
            if handle is not None:
                handle.close()
        self._file = self._lock = None


class StdoutSink(Sink):
    def write(self, records: Sequence[Record]) -> None:
        sys.stdout.buffer.write(b"".join(dumps(r) + b"\n" for r in records))
        sys.stdout.buffer.flush()

    def close(self) -> None:
        sys.stdout.flush()


def _create_table(table: str, json_type: str, time_type: str) -> str:
    return (
        f"CREATE TABLE IF NOT EXISTS {table} (kind TEXT NOT NULL, id TEXT, request_id TEXT,"
        f" timestamp {time_type}, epoch DOUBLE PRECISION, model TEXT, tag TEXT, uuid TEXT,"
        f" route TEXT, status TEXT, latency_ms DOUBLE PRECISION, record {json_type} NOT NULL)"
    )


class SqliteSink(Sink):
    def __init__(self, name: str, spec: SinkSpec) -> None:
        super().__init__(name)
        self.path = Path(spec.path or "predictions.db")
        self.table = spec.table
        self._db: sqlite3.Connection | None = None

    def write(self, records: Sequence[Record]) -> None:
        if self._db is None:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            self._db = sqlite3.connect(self.path, timeout=5)
            self._db.execute("PRAGMA journal_mode=WAL")
            self._db.execute(_create_table(self.table, "TEXT", "TEXT"))
            self._db.execute(f"CREATE INDEX IF NOT EXISTS {self.table}_id ON {self.table} (id)")
        marks = ", ".join("?" * (len(COLUMNS) + 1))
        with self._db:
            self._db.executemany(
                f"INSERT INTO {self.table} VALUES ({marks})", [_row(r) for r in records]
            )

    def close(self) -> None:
        if self._db is not None:
            self._db.close()
            self._db = None


PASSWORD_ENV = {"postgres": "PGPASSWORD", "mongodb": "MONGODB_PASSWORD"}


def sink_password(spec: SinkSpec) -> str | None:
    """From ``password_file`` or the ``password_env`` variable (``PGPASSWORD`` for
    postgres, ``MONGODB_PASSWORD`` for mongodb by default); never from the config."""
    if spec.password_file:
        return Path(spec.password_file).read_text(encoding="utf-8").strip()
    return os.environ.get(spec.password_env or PASSWORD_ENV.get(spec.type, "")) or None


class PostgresSink(Sink):
    def __init__(self, name: str, spec: SinkSpec) -> None:
        super().__init__(name)
        self.dsn = spec.dsn or os.environ.get("NERVOSUM_PREDLOG_DSN", "")
        if not self.dsn:
            raise RequestError(
                "the postgres sink needs a dsn",
                hint="logging.sinks[].dsn: postgresql://user@host:5432/db, or the"
                " NERVOSUM_PREDLOG_DSN environment variable",
            )
        self.spec = spec
        self.table = spec.table
        self._db: Any = None

    def write(self, records: Sequence[Record]) -> None:
        import psycopg

        if self._db is None:
            password = sink_password(self.spec)
            if password:
                self._db = psycopg.connect(self.dsn, connect_timeout=5, password=password)
            else:
                self._db = psycopg.connect(self.dsn, connect_timeout=5)
            with self._db.transaction():
                self._db.execute(_create_table(self.table, "JSONB", "TIMESTAMPTZ"))
                self._db.execute(f"CREATE INDEX IF NOT EXISTS {self.table}_id ON {self.table} (id)")
        columns = ", ".join([*COLUMNS, "record"])
        # COPY, not INSERT: one stream per batch, several times cheaper per row.
        statement = f"COPY {self.table} ({columns}) FROM STDIN"
        with self._db.transaction(), self._db.cursor() as cursor, cursor.copy(statement) as copy:
            for record in records:
                copy.write_row(_row(record))

    def close(self) -> None:
        if self._db is not None:
            self._db.close()
            self._db = None


def flatten_for_fluentd(record: Record, n_best: int) -> Record:
    """The template's (seed 004) event fields next to nervosum's: ``class_1`` /
    ``proba_1`` ... for the best classes, ``model_id``, ``model_creation_time``, ``ID``."""
    flat = dict(record)
    for rank, best in enumerate(record.get("classes") or [], start=1):
        if rank > n_best:
            break
        flat[f"class_{rank}"] = best["class"]
        flat[f"proba_{rank}"] = best["probability"]
    flat.update(model_id=record.get("uuid"), model_creation_time=record.get("created"))
    flat["ID"] = record.get("id")
    return flat


class FluentdSink(Sink):
    """Fluentd's forward protocol through fluent-logger; tags ``<tag>.predict``,
    ``<tag>.predict_proba`` (records with classes), ``<tag>.feedback`` and
    ``<tag>.promotion`` (a challenger's promotion or rollback, docs/variants.md)."""

    def __init__(self, name: str, spec: SinkSpec, n_best: int) -> None:
        super().__init__(name)
        self.spec = spec
        self.n_best = n_best
        self._sender: Any = None

    def write(self, records: Sequence[Record]) -> None:
        from fluent import sender

        if self._sender is None:
            self._sender = sender.FluentSender(
                self.spec.tag, host=self.spec.host, port=self.spec.port, timeout=3.0
            )
        for record in records:
            kind = record.get("kind")
            event = kind if kind in (FEEDBACK, PROMOTION) else "predict"
            if record.get("classes"):
                event = "predict_proba"
            flat = flatten_for_fluentd(record, self.n_best)
            if not self._sender.emit_with_time(event, int(record["epoch"]), flat):
                error = self._sender.last_error
                self._sender.clear_last_error()
                self._sender.pendings = None  # dropped and counted, not resent later
                raise ConnectionError(f"fluentd at {self.spec.host}:{self.spec.port}: {error}")

    def close(self) -> None:
        if self._sender is not None:
            self._sender.close()
            self._sender = None
