"""Where a converge step keeps the messages of groups not yet complete.

A converge step waits for several messages per partition key. The parts live in the
transport (a Redis hash, a NATS key-value bucket) rather than in the step's memory, so
a restarted step process loses no partial group, and replicas of the step share them.

The contract that makes a group emit exactly once, even when a process dies anywhere:
:meth:`ConvergeStore.add` stores a part idempotently (a redelivered message rewrites
its own part) and says whether the group is complete; :meth:`ConvergeStore.complete`
writes the merged message and marks the key done as one step (a Redis script; NATS
publishes with a message id JetStream deduplicates), so a message redelivered after the
group was emitted finds the key done and is dropped.
"""

from __future__ import annotations

import re
import time
from abc import ABC, abstractmethod
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from enum import Enum
from typing import Any

from nervosum.graph.spec import Step

Message = dict[str, Any]


@dataclass(frozen=True)
class Emit:
    """A message for a declared stream, under its partition key, and its JSON."""

    stream: str
    key: str
    message: Message
    payload: bytes


class State(Enum):
    WAITING = "waiting"  # stored; the group needs more parts
    COMPLETE = "complete"  # this part completed the group: merge and emit it
    DONE = "done"  # the group was already emitted: a late or redelivered part


@dataclass(frozen=True)
class Added:
    state: State
    parts: dict[str, Message]  # part id -> message, when COMPLETE


def natural(text: str) -> tuple[Any, ...]:
    """Sort key for positions: ``1733-10`` after ``1733-9``; numbers compare as numbers."""
    return tuple(int(p) if p.isdigit() else p for p in re.split(r"(\d+)", text))


def part_id(step: Step, source: str, position: str) -> str:
    """Which part of its group a message is: its input stream when the step waits for
    one message per input, else its position (so a redelivery rewrites its own part)."""
    if step.converge is not None and step.converge.expect is None:
        return source
    return f"{source}@{position}"


def ordered(step: Step, parts: dict[str, Message]) -> list[Message]:
    """A group's parts in the merge order: by input (as ``inputs`` lists them), then by
    position in the stream."""

    def order(part: str) -> tuple[int, tuple[Any, ...]]:
        source, _, position = part.partition("@")
        index = step.inputs.index(source) if source in step.inputs else len(step.inputs)
        return index, natural(position)

    return [parts[p] for p in sorted(parts, key=order)]


class ConvergeStore(ABC):
    """The parts of one converge step's open groups."""

    @abstractmethod
    async def add(self, key: str, part: str, message: Message, expect: int) -> Added:
        """Store ``message`` as ``part`` of ``key``'s group."""

    @abstractmethod
    async def complete(self, key: str, emits: list[Emit]) -> bool:
        """Write ``emits``, mark ``key`` done and drop its parts, as one step; False
        (nothing written) when the key was already done."""

    @abstractmethod
    async def expired(self, timeout: float) -> list[tuple[str, list[Message]]]:
        """Groups older than ``timeout`` seconds, taken out of the store (each returned
        once, to one caller), with the parts they had."""


class MemoryStore(ConvergeStore):
    """Groups in this process, for ``graph run --local`` and ``graph serve``."""

    def __init__(self, send: Callable[[list[Emit]], Awaitable[None]]) -> None:
        self._send = send
        self._parts: dict[str, dict[str, Message]] = {}
        self._started: dict[str, float] = {}
        self._done: set[str] = set()

    async def add(self, key: str, part: str, message: Message, expect: int) -> Added:
        if key in self._done:
            return Added(State.DONE, {})
        parts = self._parts.setdefault(key, {})
        self._started.setdefault(key, time.monotonic())
        parts[part] = message
        if len(parts) < expect:
            return Added(State.WAITING, {})
        return Added(State.COMPLETE, dict(parts))

    async def complete(self, key: str, emits: list[Emit]) -> bool:
        if key in self._done:
            return False
        await self._send(emits)
        self._done.add(key)
        self._parts.pop(key, None)
        self._started.pop(key, None)
        return True

    async def expired(self, timeout: float) -> list[tuple[str, list[Message]]]:
        cutoff = time.monotonic() - timeout
        old = [key for key, started in self._started.items() if started <= cutoff]
        taken = []
        for key in old:
            self._started.pop(key)
            taken.append((key, list(self._parts.pop(key, {}).values())))
        return taken
