"""Which model of the pair is the champion, in a small file: the server's workers follow
one another's promotions through it, and with ``variants.state`` a restart serves the
promoted model again (docs/variants.md, "Workers, a model process, restarts").

The file holds the count of promotions not rolled back (odd: the configured challenger
is the champion) and the pair it is about, as ``name:tag`` of the configured champion
and challenger: a file about another pair (the models changed) is ignored. A worker
that promotes takes the file's lock, first catches up with it, then acts and writes.
"""

from __future__ import annotations

import contextlib
import fcntl
import logging
import os
from collections.abc import Iterator
from pathlib import Path

import orjson

log = logging.getLogger("nervosum.serving")

STATE_ENV = "NERVOSUM_ARMS_STATE"  # set by the worker supervisor: the workers' shared file


class SharedPromotions:
    """The promotions count of one pair of models, in ``path``."""

    def __init__(self, path: Path, pair: tuple[str, str]) -> None:
        self.path = path
        self.pair = list(pair)
        self._ignored = False  # another pair's file: said once

    def read(self) -> int | None:
        """The count in the file; None when there is none yet, or it is another pair's."""
        try:
            found = orjson.loads(self.path.read_bytes())
        except FileNotFoundError:
            return None
        except (OSError, orjson.JSONDecodeError) as exc:
            self._ignore(f"cannot be read ({exc})")
            return None
        promotions = found.get("promotions") if isinstance(found, dict) else None
        if not isinstance(promotions, int) or isinstance(promotions, bool) or promotions < 0:
            self._ignore("holds no promotions count")
            return None
        if found.get("pair") != self.pair:
            self._ignore(f"is about {found.get('pair')}, not {self.pair}")
            return None
        return promotions

    def _ignore(self, why: str) -> None:
        if not self._ignored:
            log.warning(
                "the promotion state %s %s: ignored until the next promotion", self.path, why
            )
            self._ignored = True

    def write(self, promotions: int) -> None:
        """Replace the file in one step (a reader sees the old count or the new one)."""
        self.path.parent.mkdir(parents=True, exist_ok=True)
        partial = self.path.with_name(f".{self.path.name}.{os.getpid()}")
        partial.write_bytes(orjson.dumps({"promotions": promotions, "pair": self.pair}))
        partial.replace(self.path)
        self._ignored = False

    def check(self) -> OSError | None:
        """Whether the file can be kept (its folder made, its lock opened): asked before
        serving, so a promotion never finds out."""
        try:
            with self.locked():
                return None
        except OSError as exc:
            return exc

    @contextlib.contextmanager
    def locked(self) -> Iterator[None]:
        """Hold the file's lock (``<path>.lock`` beside it) for a read-act-write."""
        self.path.parent.mkdir(parents=True, exist_ok=True)
        with open(self.path.with_name(f"{self.path.name}.lock"), "a") as lock:
            fcntl.flock(lock, fcntl.LOCK_EX)
            try:
                yield
            finally:
                fcntl.flock(lock, fcntl.LOCK_UN)


def shared_promotions(
    state: str | None, project_dir: Path, pair: tuple[str, str]
) -> SharedPromotions | None:
    """The pair's state file: ``variants.state`` (relative to the project folder), else
    the workers' file the supervisor names in ``NERVOSUM_ARMS_STATE``, else none (one
    process: the arms live in its memory)."""
    if state is not None:
        return SharedPromotions(project_dir / state, pair)
    shared = os.environ.get(STATE_ENV)
    return SharedPromotions(Path(shared), pair) if shared else None
