"""Which module implements which broker: the one place that opens, for an address, its
transport, a converge step's store on it, or the admin ``graph deploy`` uses (each
broker module, ``redis.py``, ``nats.py``, ``kafka.py``, holds all three). Adding a broker
is a module and a branch in each function here."""

from __future__ import annotations

import os
import socket

from nervosum.brokers.addresses import Endpoint
from nervosum.brokers.admin import BrokerAdmin, DeploySettings
from nervosum.brokers.converge import ConvergeStore
from nervosum.brokers.transport import Transport
from nervosum.errors import RequestError


def consumer_name() -> str:
    """This process's name in the group: unique, so a restarted worker is a new member
    and what its predecessor held is taken over."""
    return f"{socket.gethostname()}-{os.getpid()}"


def open_transport(source: Endpoint, group: str, *, idle_ms: int) -> Transport:
    """The transport for ``source``'s broker; ``idle_ms``: after how long a message a
    member took but never acknowledged goes to another member."""
    if source.scheme == "redis":
        from nervosum.brokers.redis import RedisTransport

        return RedisTransport(source, group, consumer_name(), idle_ms=idle_ms)
    if source.scheme == "nats":
        from nervosum.brokers.nats import NatsTransport

        return NatsTransport(source, group, idle_ms=idle_ms)
    from nervosum.brokers.kafka import KafkaTransport

    return KafkaTransport(source, group, idle_ms=idle_ms)


async def open_store(
    transport: Transport, graph: str, step: str, names: dict[str, str], done_ttl: int
) -> ConvergeStore:
    """A converge step's store on the broker ``transport`` (connected) talks to;
    ``names``: each declared stream's name on the broker."""
    from nervosum.brokers.nats import NatsStore, NatsTransport, bucket_name
    from nervosum.brokers.redis import RedisStore, RedisTransport

    if isinstance(transport, RedisTransport):
        return RedisStore(transport.db, graph, step, names, done_ttl)

    if not isinstance(transport, NatsTransport):
        raise RequestError(
            "converge groups are kept in the broker: Redis or NATS",
            hint="run the graph with --transport redis://... or nats://...",
        )
    kv = await transport.key_value(bucket_name(graph, step), done_ttl)
    return NatsStore(transport, kv, graph, step, names)


def open_admin(broker: Endpoint, settings: DeploySettings) -> BrokerAdmin:
    """The admin of ``broker`` (not connected yet)."""
    if broker.scheme == "redis":
        from nervosum.brokers.redis import RedisAdmin

        return RedisAdmin(broker, settings)
    if broker.scheme == "nats":
        from nervosum.brokers.nats import NatsAdmin

        return NatsAdmin(broker, settings)
    from nervosum.brokers.kafka import KafkaAdmin

    return KafkaAdmin(broker, settings)
