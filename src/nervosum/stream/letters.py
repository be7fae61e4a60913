"""The dead letter: a message that was read and not answered, with why and where from,
in one shape for stream workers and graph steps (a graph's letter also names the graph
and the step).

It holds enough to replay the message (its payload, or the payload's beginning and its
position when the payload is longer than the prediction log keeps: escaped into JSON a
letter must stay under the brokers' message limits, 1 MB by default on NATS and Kafka,
or writing it would be retried forever) or to diagnose it (the error's record, the
delivery attempts).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from nervosum.errors import NervosumError
from nervosum.predlog.events import MAX_LOGGED_REQUEST


@dataclass(frozen=True)
class DeadLetter:
    """Why a message was not answered, and the message."""

    error: NervosumError
    source: str  # the stream it was read from
    position: str
    payload: bytes
    attempts: int = 1
    key: str | None = None
    step: str | None = None  # the graph step that read it

    @property
    def reason(self) -> str:
        return str(self.error)

    def to_record(self, graph: str | None = None) -> dict[str, Any]:
        """The letter as the dead-letter stream, file or answer holds it."""
        record: dict[str, Any] = {}
        if graph is not None:
            record["graph"] = graph
        if self.step is not None:
            record["step"] = self.step
        record |= {
            "reason": self.reason,
            "error": self.error.to_record(),
            "source": self.source,
            "position": self.position,
            "attempts": self.attempts,
            "payload": self.payload[:MAX_LOGGED_REQUEST].decode("utf-8", "replace"),
        }
        if len(self.payload) > MAX_LOGGED_REQUEST:
            record["payload_bytes"] = len(self.payload)  # the payload above is its beginning
        if self.key is not None:
            record["key"] = self.key
        return record


def too_often(attempts: int, limit: int) -> NervosumError:
    """The error of a message delivered more than ``limit`` times: a message that stops
    its worker each time would otherwise be read forever."""
    return NervosumError(
        f"delivered {attempts} times without being acknowledged",
        hint=f"a message that stops its worker is dead-lettered after {limit}"
        " deliveries (--max-deliveries)",
    )
