"""NATS JetStream: a durable pull consumer named after the group, acknowledgements after
the outputs are published (JetStream confirms each publish), redelivery after the ack
wait, delivery counts from the message metadata.

The source, sink and dead-letter subjects must belong to JetStream streams; one is
created (named after the subject) for a subject no stream covers. The message key
travels in the ``key`` header.
"""

from __future__ import annotations

import asyncio
import logging
import re
from collections.abc import Sequence
from typing import Any

from nervosum.stream.endpoints import Endpoint
from nervosum.stream.transport import Message, Outgoing, Transport

log = logging.getLogger("nervosum.stream")

KEY = "key"
FIRST_CONNECT_ATTEMPTS = 2
DEDUP = "Nats-Msg-Id"  # JetStream stores one message per id within its duplicate window


def durable_name(group: str) -> str:
    """The JetStream durable consumer name of a consumer group (no dots or spaces)."""
    return re.sub(r"[^A-Za-z0-9_-]", "_", group)


def stream_name(subject: str) -> str:
    """A JetStream stream name for ``subject`` (no dots, wildcards or spaces)."""
    return re.sub(r"[^A-Za-z0-9_-]", "_", subject).upper()


async def _log_error(error: Exception) -> None:
    """One line per connection problem, instead of nats-py's traceback each time."""
    log.warning("nats: %s: %s", type(error).__name__, error)


def _headers(message: Outgoing) -> dict[str, str]:
    headers = {}
    if message.key is not None:
        headers[KEY] = message.key.decode()
    if message.dedup is not None:
        headers[DEDUP] = message.dedup
    return headers


class NatsTransport(Transport):
    def __init__(self, source: Endpoint, group: str, *, idle_ms: int) -> None:
        self.source = source
        self.group = durable_name(group)
        self.idle_ms = idle_ms
        self._nc: Any = None
        self._js: Any = None
        self._sub: Any = None
        self._known: set[str] = set()

    async def connect(self) -> None:
        import nats
        from nats.js.api import AckPolicy, ConsumerConfig

        self._nc = await nats.connect(
            f"nats://{self.source.host}:{self.source.port}",
            connect_timeout=5,
            max_reconnect_attempts=FIRST_CONNECT_ATTEMPTS,
            error_cb=_log_error,
        )
        # nats-py reads the one setting for the first connection and for reconnects: a
        # server that is not there at start is an error, a lost one is waited for.
        self._nc.options["max_reconnect_attempts"] = -1
        self._js = self._nc.jetstream()
        await self._ensure_stream(self.source.name)
        config = ConsumerConfig(
            durable_name=self.group,
            ack_policy=AckPolicy.EXPLICIT,
            ack_wait=self.idle_ms / 1000,
        )
        self._sub = await self._js.pull_subscribe(
            self.source.name, durable=self.group, config=config
        )

    async def _ensure_stream(self, subject: str) -> None:
        from nats.js.errors import NotFoundError

        if subject in self._known:
            return
        try:
            await self._js.find_stream_name_by_subject(subject)
        except NotFoundError:
            await self._js.add_stream(name=stream_name(subject), subjects=[subject])
        self._known.add(subject)

    async def read(self, most: int, wait_ms: float) -> list[Message]:
        from nats.errors import TimeoutError as NatsTimeout

        try:
            received = await self._sub.fetch(most, timeout=max(wait_ms, 1) / 1000)
        except (TimeoutError, NatsTimeout):
            return []
        messages = []
        for msg in received:
            metadata = msg.metadata
            key = (msg.headers or {}).get(KEY)
            messages.append(
                Message(
                    msg.data,
                    key.encode() if key is not None else None,
                    str(metadata.sequence.stream),
                    int(metadata.num_delivered),
                    msg,
                )
            )
        return messages

    async def write(self, destination: str, messages: Sequence[Outgoing]) -> None:
        await self._ensure_stream(destination)
        acks = [
            self._js.publish(destination, message.payload, headers=_headers(message) or None)
            for message in messages
        ]
        await asyncio.gather(*acks)  # every PubAck: the messages are stored

    async def key_value(self, bucket: str, ttl: float) -> Any:
        """The JetStream key-value bucket ``bucket`` (created if missing), whose entries
        expire ``ttl`` seconds after they were written."""
        from nats.js.errors import BucketNotFoundError

        try:
            return await self._js.key_value(bucket)
        except BucketNotFoundError:
            return await self._js.create_key_value(bucket=bucket, ttl=ttl)

    async def ack(self, messages: Sequence[Message]) -> None:
        for message in messages:
            await message.handle.ack()
        await self._nc.flush()

    async def lag(self) -> int | None:
        info = await self._sub.consumer_info()
        return int(info.num_pending)

    async def close(self) -> None:
        if self._nc is not None:
            await self._nc.close()  # not drain(): a pull subscription would hold it 30 s
            self._nc = None
