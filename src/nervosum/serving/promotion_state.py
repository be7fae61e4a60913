"""Which model of the pair is the champion, in a small file: the server's workers follow
one another's promotions through it, and with ``variants.state`` a restart serves the
promoted model again (docs/variants.md, "Workers, a model process, restarts").

The file holds the count of promotions not rolled back (odd: the configured challenger
is the champion), a generation that every change increases (a promotion and its
rollback between two reads still form a new pair), and the pair it is about: each
model's ``name:tag`` and where it was read from. A file about another pair is ignored.
A worker that promotes takes the file's lock, catches up with it, writes the change,
then swaps its arms.
"""

from __future__ import annotations

import contextlib
import fcntl
import logging
import os
from collections.abc import Iterator
from pathlib import Path
from typing import NamedTuple

import orjson

from nervosum.config import Project
from nervosum.errors import ConfigError, ConfigIssue

log = logging.getLogger("nervosum.serving")

STATE_ENV = "NERVOSUM_ARMS_STATE"  # set by the worker supervisor: the workers' shared file


class Standing(NamedTuple):
    """Which model is the champion (by the parity of ``promotions``), and the change."""

    promotions: int
    generation: int


def _count(value: object) -> int | None:
    """A count the file may hold: an int (not a bool), not negative."""
    if isinstance(value, bool) or not isinstance(value, int) or value < 0:
        return None
    return value


class SharedPromotions:
    """The promotions count of one pair of models, in ``path``."""

    def __init__(self, path: Path, pair: tuple[str, str]) -> None:
        self.path = path
        self.pair = list(pair)
        self._ignored = False  # another pair's file: said once

    def read(self) -> Standing | None:
        """The file's standing; None when there is none yet, or it is another pair's."""
        try:
            found = orjson.loads(self.path.read_bytes())
        except FileNotFoundError:
            return None
        except (OSError, orjson.JSONDecodeError) as exc:
            self._ignore(f"cannot be read ({exc})")
            return None
        fields = found if isinstance(found, dict) else {}
        promotions, generation = _count(fields.get("promotions")), _count(fields.get("generation"))
        if promotions is None or generation is None:
            self._ignore("holds no promotions count and generation")
            return None
        if fields.get("pair") != self.pair:
            self._ignore(f"is about {fields.get('pair')}, not {self.pair}")
            return None
        return Standing(promotions, generation)

    def _ignore(self, why: str) -> None:
        if not self._ignored:
            log.warning(
                "the promotion state %s %s: ignored until the next promotion", self.path, why
            )
            self._ignored = True

    def write(self, standing: Standing) -> None:
        """Replace the file in one step (a reader sees the old standing or the new one)."""
        self.path.parent.mkdir(parents=True, exist_ok=True)
        partial = self.path.with_name(f".{self.path.name}.{os.getpid()}")
        record = {**standing._asdict(), "pair": self.pair}
        partial.write_bytes(orjson.dumps(record))
        partial.replace(self.path)
        self._ignored = False

    def check(self) -> OSError | None:
        """Why the file cannot be kept (its folder made, its lock taken, a file written
        and replaced beside it), or None: asked before serving, so a promotion never
        finds out."""
        if self.path.is_dir():
            return IsADirectoryError(f"{self.path} is a folder")
        probe = self.path.with_name(f".{self.path.name}.check.{os.getpid()}")
        try:
            with self.locked():
                probe.write_bytes(b"{}")
                probe.replace(probe.with_name(f"{probe.name}.done"))
                probe.with_name(f"{probe.name}.done").unlink()
        except OSError as exc:
            return exc
        return None

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


def refuse_unusable_state(project: Project) -> None:
    """Stop before serving (and before forking workers or model processes) when
    ``variants.state`` cannot be kept: exit code 2 naming it."""
    spec = project.config.variants
    if spec is None or spec.state is None:
        return
    unusable = SharedPromotions(project.project_dir / spec.state, ("", "")).check()
    if unusable is not None:
        issue = ConfigIssue(
            "variants.state",
            f"cannot keep the promotion state: {unusable}",
            hint="a writable file path, relative to the project folder",
        )
        raise ConfigError(project.shown, [issue])
