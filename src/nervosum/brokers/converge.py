"""Where a converge step keeps the messages of groups not yet complete.

A converge step waits for several messages per partition key. The parts live in the
transport (a Redis hash, a NATS key-value bucket) rather than in the step's memory, so
a restarted step process loses no partial group, and replicas of the step share them.

The contract that makes a group emit exactly once, even when a process dies anywhere:
:meth:`ConvergeStore.add` stores a part idempotently (a redelivered message rewrites
its own part) and says whether the group is complete; :meth:`ConvergeStore.complete`
writes the merged message and marks the key done as one step (a Redis script; NATS
publishes with a message id JetStream deduplicates). The done mark keeps a digest of
each part, so a part redelivered after the group was emitted is recognised and dropped,
while a new message for that key (a late one) is told apart and dead-lettered, as is a
second, different message for a part an open group already holds. Nothing is dropped
without a trace.
"""

from __future__ import annotations

import hashlib
import time
from abc import ABC, abstractmethod
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from enum import Enum
from typing import Any

from nervosum.jsonio import dumps

Body = dict[str, Any]


@dataclass(frozen=True)
class Emit:
    """A message for a declared stream, under its partition key, and its JSON."""

    stream: str
    key: str
    message: Body
    payload: bytes


class State(Enum):
    WAITING = "waiting"  # stored; the group needs more parts
    COMPLETE = "complete"  # this part completed the group: merge and emit it
    DONE = "done"  # a part of a group already emitted, delivered again: nothing to do
    LATE = "late"  # a new message for a key whose group was emitted or expired
    TAKEN = "taken"  # the open group holds a different message in this part's place


@dataclass(frozen=True)
class Added:
    state: State
    parts: dict[str, Body]  # part id -> message, when COMPLETE


@dataclass(frozen=True)
class Stale:
    """An open group past its timeout, as read; ``token`` lets :meth:`ConvergeStore.forget`
    remove it only if it did not change since."""

    key: str
    parts: list[Body]
    token: Any


def digest(payload: bytes) -> str:
    """What the done mark remembers of each part, to tell a redelivery from a new
    message (the same JSON gives the same digest)."""
    return hashlib.sha1(payload).hexdigest()


class ConvergeStore(ABC):
    """The parts of one converge step's open groups, and the keys already done."""

    @abstractmethod
    async def add(self, key: str, part: str, message: Body, expect: int) -> Added:
        """Store ``message`` as ``part`` of ``key``'s group (the same message again
        changes nothing)."""

    @abstractmethod
    async def complete(self, key: str, emits: list[Emit]) -> bool:
        """Write ``emits``, mark ``key`` done (remembering its parts' digests) and drop
        its parts, as one step; False (nothing written) when the key was already done."""

    @abstractmethod
    async def expired(self, timeout: float) -> list[Stale]:
        """Open groups older than ``timeout`` seconds, read, not yet removed: the caller
        writes their dead letters first, then :meth:`forget` s them, so a crash between
        the two repeats a letter rather than losing a group."""

    @abstractmethod
    async def forget(self, stale: Stale) -> None:
        """Remove an expired group and mark its key done, unless a part came since."""


class MemoryStore(ConvergeStore):
    """Groups in this process, for ``graph run --local`` and ``graph serve``."""

    def __init__(self, send: Callable[[list[Emit]], Awaitable[None]]) -> None:
        self._send = send
        self._parts: dict[str, dict[str, Body]] = {}
        self._started: dict[str, float] = {}
        self._done: dict[str, dict[str, str]] = {}  # key -> part -> digest

    async def add(self, key: str, part: str, message: Body, expect: int) -> Added:
        if key in self._done:
            same = self._done[key].get(part) == digest(dumps(message))
            return Added(State.DONE if same else State.LATE, {})
        parts = self._parts.setdefault(key, {})
        held = parts.get(part)
        if held is not None and dumps(held) != dumps(message):
            return Added(State.TAKEN, {})
        self._started.setdefault(key, time.monotonic())
        parts[part] = message
        if len(parts) < expect:
            return Added(State.WAITING, {})
        return Added(State.COMPLETE, dict(parts))

    async def complete(self, key: str, emits: list[Emit]) -> bool:
        if key in self._done:
            return False
        await self._send(emits)
        parts = self._parts.pop(key, {})
        self._done[key] = {part: digest(dumps(m)) for part, m in parts.items()}
        self._started.pop(key, None)
        return True

    async def expired(self, timeout: float) -> list[Stale]:
        cutoff = time.monotonic() - timeout
        return [
            Stale(key, list(self._parts[key].values()), len(self._parts[key]))
            for key, started in self._started.items()
            if started <= cutoff
        ]

    async def forget(self, stale: Stale) -> None:
        if len(self._parts.get(stale.key, {})) != stale.token:
            return
        self._parts.pop(stale.key)
        self._started.pop(stale.key)
        self._done[stale.key] = {}
