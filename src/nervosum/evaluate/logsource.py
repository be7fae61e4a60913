"""Read a prediction log back from wherever a sink wrote it.

A JSON Lines file (its rotated siblings ``.1``, ``.2`` ... too, oldest first), a folder or
glob of them, a SQLite file or URL (``sqlite:///relative.db``, ``sqlite:////abs.db``, as
SQLAlchemy spells them), or a ``postgresql://`` URL (the password from ``PGPASSWORD`` as
libpq reads it). Records come back oldest first.
"""

from __future__ import annotations

import glob
import json
import sqlite3
from collections.abc import Iterator
from datetime import datetime
from pathlib import Path
from typing import Any

import orjson

from nervosum.config.types import Record
from nervosum.errors import RequestError

_SQLITE_SUFFIXES = (".db", ".sqlite", ".sqlite3")


def _jsonl_files(source: str) -> list[Path]:
    path = Path(source)
    if path.is_dir():
        bases = sorted(p for p in path.glob("*.jsonl"))
    elif any(char in source for char in "*?["):
        bases = sorted(Path(p) for p in glob.glob(source))
    else:
        bases = [path] if path.exists() else []
    files: list[Path] = []
    for base in bases:
        rotated = sorted(
            base.parent.glob(f"{base.name}.[0-9]*"),
            key=lambda p: int(p.suffix[1:]) if p.suffix[1:].isdigit() else 0,
            reverse=True,
        )
        files.extend([*rotated, base])
    if not files:
        raise RequestError(
            f"no prediction log at {source!r}",
            hint="give a .jsonl file or folder, a SQLite file, sqlite:///path or postgresql://...",
        )
    return files


def _from_jsonl(source: str) -> Iterator[Record]:
    for path in _jsonl_files(source):
        with path.open("rb") as lines:
            for number, line in enumerate(lines, start=1):
                if not line.strip():
                    continue
                try:
                    yield orjson.loads(line)
                except orjson.JSONDecodeError as exc:
                    raise RequestError(f"{path}:{number}: not a JSON record: {exc}") from None


def _from_sqlite(path: str, table: str) -> Iterator[Record]:
    if not Path(path).is_file():
        raise RequestError(
            f"no SQLite prediction log at {path}",
            hint="sqlite:///relative/path.db or sqlite:////absolute/path.db (as SQLAlchemy),"
            " or just the file's path",
        )
    with sqlite3.connect(f"file:{path}?mode=ro", uri=True) as connection:
        try:
            rows = connection.execute(f"SELECT record FROM {table} ORDER BY rowid").fetchall()
        except sqlite3.OperationalError as exc:
            raise RequestError(f"{path}: {exc}", hint="--table names the log's table") from None
    for (text,) in rows:
        yield json.loads(text)


def _from_postgres(url: str, table: str) -> Iterator[Record]:
    try:
        import psycopg
    except ImportError:
        raise RequestError(
            "reading a PostgreSQL log needs psycopg", hint="pip install 'nervosum[postgres]'"
        ) from None
    with psycopg.connect(url, connect_timeout=10) as connection:
        rows = connection.execute(f"SELECT record FROM {table} ORDER BY epoch").fetchall()
    for (record,) in rows:
        yield record


def read_log(
    source: str,
    *,
    table: str = "predictions",
    since: datetime | None = None,
    until: datetime | None = None,
    shadow_copies: bool = False,
) -> list[Record]:
    """Every record of the log at ``source`` within [since, until), oldest first.

    A shadow challenger's copies are left out unless ``shadow_copies``: judging the
    arms against each other (``evaluate --compare``) needs both answers to a request."""
    if source.startswith(("postgresql://", "postgres://")):
        records: Iterator[Record] = _from_postgres(source, table)
    elif source.startswith("sqlite:///"):
        records = _from_sqlite(source.removeprefix("sqlite:///"), table)
    elif source.lower().endswith(_SQLITE_SUFFIXES):
        records = _from_sqlite(source, table)
    else:
        records = _from_jsonl(source)
    low = since.timestamp() if since else None
    high = until.timestamp() if until else None
    kept = [r for r in records if _within(r.get("epoch"), low, high)]
    if not shadow_copies:
        kept = answered(kept)
    kept.sort(key=lambda r: r.get("epoch") or 0)
    return kept


def answered(records: list[Record]) -> list[Record]:
    """The records of what clients were answered: a shadow challenger's record of the
    same prediction (``arm: challenger``, the champion's id) would count each label
    twice, a blend of both models. A canary challenger's records answered clients and
    stay."""
    champions = {r.get("id") for r in records if r.get("arm") != "challenger"}
    return [r for r in records if r.get("arm") != "challenger" or r.get("id") not in champions]


def _within(epoch: Any, low: float | None, high: float | None) -> bool:
    if not isinstance(epoch, int | float):
        return low is None and high is None
    return (low is None or epoch >= low) and (high is None or epoch < high)
