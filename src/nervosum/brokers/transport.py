"""What the stream runtime needs from a broker, and the message it hands around.

One :class:`Transport` per broker (``redis.py``, ``nats.py``, ``kafka.py``); the loop in
``runtime.py`` is shared, so adding a broker means one module. A transport reads from
one source with a consumer group, writes to destinations (the sink and the dead letter),
and acknowledges what it read only when asked: the runtime asks after the outputs are
durably written, which makes delivery at-least-once.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any


@dataclass
class Message:
    """One message read from the source."""

    payload: bytes
    key: bytes | None
    position: str  # where it sits in the source: stream id, sequence, partition/offset
    attempts: int = 1  # how many times it has been delivered, this time included
    handle: Any = field(default=None, repr=False)  # the transport's own object, to ack it


@dataclass(frozen=True)
class Outgoing:
    """One message to write: its key (carried from the input) and its bytes. A broker
    that deduplicates (JetStream) stores one message per ``dedup`` id, so a write
    repeated after a crash is not written twice."""

    key: bytes | None
    payload: bytes
    dedup: str | None = None


class Transport(ABC):
    """A broker connection that reads one source as a group member and writes anywhere."""

    @abstractmethod
    async def connect(self) -> None:
        """Connect, and create the group and the streams it needs if missing."""

    @abstractmethod
    async def read(self, most: int, wait_ms: float) -> list[Message]:
        """Up to ``most`` messages, waiting at most ``wait_ms`` for the first; messages
        another member took and never acknowledged are taken over here too."""

    @abstractmethod
    async def write(self, destination: str, messages: Sequence[Outgoing]) -> None:
        """Write ``messages`` to ``destination`` and return once the broker has them."""

    @abstractmethod
    async def ack(self, messages: Sequence[Message]) -> None:
        """Acknowledge ``messages``: they will not be delivered again."""

    async def lag(self) -> int | None:
        """Messages in the source not yet delivered to the group (None if unknown)."""
        return None

    @abstractmethod
    async def close(self) -> None:
        """Close the connection (unacknowledged messages stay for the group)."""
