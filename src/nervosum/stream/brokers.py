"""The transport serving an address: the one place that knows which module implements
which broker (each broker module reads addresses from ``endpoints.py``)."""

from __future__ import annotations

import os
import socket

from nervosum.stream.endpoints import Endpoint
from nervosum.stream.transport import Transport


def consumer_name() -> str:
    """This process's name in the group: unique, so a restarted worker is a new member
    and what its predecessor held is taken over."""
    return f"{socket.gethostname()}-{os.getpid()}"


def open_transport(source: Endpoint, group: str, *, idle_ms: int) -> Transport:
    """The transport for ``source``'s broker; ``idle_ms``: after how long a message a
    member took but never acknowledged goes to another member."""
    if source.scheme == "redis":
        from nervosum.stream.redis import RedisTransport

        return RedisTransport(source, group, consumer_name(), idle_ms=idle_ms)
    if source.scheme == "nats":
        from nervosum.stream.nats import NatsTransport

        return NatsTransport(source, group, idle_ms=idle_ms)
    from nervosum.stream.kafka import KafkaTransport

    return KafkaTransport(source, group, idle_ms=idle_ms)
