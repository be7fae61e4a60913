"""The registry index: one SQLite row per bundle, safe with concurrent builds.

Bundle folders are written elsewhere and renamed into place before their row is
inserted, so a reader never sees a row whose folder is half written. SQLite's own
locking (WAL, a busy timeout) serialises writers from several processes.
"""

from __future__ import annotations

import json
import re
import shutil
import sqlite3
from collections.abc import Iterator
from contextlib import closing, contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from nervosum.config.spec import BUNDLE_NAME
from nervosum.errors import RequestError
from nervosum.home import Home

_SCHEMA = """
CREATE TABLE IF NOT EXISTS bundles (
    id TEXT PRIMARY KEY,
    name TEXT NOT NULL,
    tag TEXT NOT NULL,
    mode TEXT NOT NULL,
    created REAL NOT NULL,
    path TEXT NOT NULL,
    image_ref TEXT,
    image_id TEXT,
    manifest TEXT NOT NULL
)
"""


@dataclass(frozen=True)
class Entry:
    """One registered bundle."""

    id: str
    name: str
    tag: str
    mode: str
    created: float
    path: Path
    image_ref: str | None
    image_id: str | None
    manifest: dict[str, Any]

    @property
    def short_id(self) -> str:
        return self.id[:12]

    @property
    def reference(self) -> str:
        return f"{self.name}:{self.tag}"

    def check_names(self) -> None:
        """:class:`RequestError` unless the name and tag are safe to put in file names and
        image references: nervosum.yaml is checked at load, but a row written before that
        check (``name: ../../x``) made ``export`` write outside its folder (issue 20)."""
        for what, value in (("name", self.name), ("tag", self.tag)):
            if not re.fullmatch(BUNDLE_NAME, value):
                raise RequestError(
                    f"bundle {self.short_id} has the {what} {value!r}, which is not a safe"
                    " file name (letters, digits, '.', '_' and '-', not first '.' or '-')",
                    hint=f"nervosum rm {self.short_id}, then build it again under a valid {what}",
                )

    def to_dict(self) -> dict[str, Any]:
        """The JSON form `ls --format json` and `inspect` print."""
        return {
            "id": self.id,
            "name": self.name,
            "tag": self.tag,
            "mode": self.mode,
            "created": self.created,
            "path": str(self.path),
            "image": self.image_ref,
            "image_id": self.image_id,
        }


class Registry:
    """Bundles of one `NERVOSUM_HOME`, newest first."""

    def __init__(self, home: Home) -> None:
        self.home = home
        with self._connect() as db:
            db.execute("PRAGMA journal_mode=WAL")
            db.execute(_SCHEMA)

    @contextmanager
    def _connect(self) -> Iterator[sqlite3.Connection]:
        with closing(sqlite3.connect(self.home.index, timeout=30)) as db, db:
            yield db

    def add(self, entry: Entry) -> None:
        """Insert or replace ``entry`` (a rebuild of the same content refreshes its row)."""
        entry.check_names()
        with self._connect() as db:
            db.execute(
                "INSERT OR REPLACE INTO bundles VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
                (
                    entry.id,
                    entry.name,
                    entry.tag,
                    entry.mode,
                    entry.created,
                    str(entry.path),
                    entry.image_ref,
                    entry.image_id,
                    json.dumps(entry.manifest),
                ),
            )

    def set_image(self, bundle_id: str, reference: str, image_id: str) -> None:
        """Record the image built from a bundle."""
        with self._connect() as db:
            db.execute(
                "UPDATE bundles SET image_ref = ?, image_id = ? WHERE id = ?",
                (reference, image_id, bundle_id),
            )

    def entries(self) -> list[Entry]:
        """Every bundle, newest first."""
        with self._connect() as db:
            rows = db.execute(
                "SELECT id, name, tag, mode, created, path, image_ref, image_id, manifest"
                " FROM bundles ORDER BY created DESC, id"
            ).fetchall()
        return [
            Entry(
                id=row[0],
                name=row[1],
                tag=row[2],
                mode=row[3],
                created=row[4],
                path=Path(row[5]),
                image_ref=row[6],
                image_id=row[7],
                manifest=json.loads(row[8]),
            )
            for row in rows
        ]

    def remove(self, entry: Entry) -> None:
        """Forget a bundle and delete its folder."""
        with self._connect() as db:
            db.execute("DELETE FROM bundles WHERE id = ?", (entry.id,))
        shutil.rmtree(entry.path, ignore_errors=True)
