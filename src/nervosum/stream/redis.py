"""Redis Streams: a consumer group (XREADGROUP), XACK after the outputs are written,
XAUTOCLAIM of what a dead member held, delivery counts from XPENDING.

A message's payload is its ``data`` field (a message with one field: that field's
value); its key is the ``key`` field. Outputs and dead letters are written with XADD as
``data`` and ``key``.
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from typing import Any

from nervosum.stream.endpoints import Endpoint
from nervosum.stream.transport import Message, Outgoing, Transport

DATA = b"data"
KEY = b"key"


def _payload(fields: dict[bytes, bytes]) -> tuple[bytes, bytes | None]:
    if DATA in fields:
        return fields[DATA], fields.get(KEY)
    values = [v for k, v in fields.items() if k != KEY]
    return (values[0] if len(values) == 1 else b""), fields.get(KEY)


class RedisTransport(Transport):
    def __init__(self, source: Endpoint, group: str, consumer: str, *, idle_ms: int) -> None:
        self.source = source
        self.group = group
        self.consumer = consumer
        self.idle_ms = idle_ms
        self._db: Any = None
        self._claimed_at = 0.0

    async def connect(self) -> None:
        import redis.asyncio as redis
        from redis.exceptions import ResponseError

        self._db = redis.Redis(
            host=self.source.host, port=self.source.port, db=self.source.database
        )
        try:
            await self._db.xgroup_create(self.source.name, self.group, id="0", mkstream=True)
        except ResponseError as exc:
            if "BUSYGROUP" not in str(exc):
                raise

    async def read(self, most: int, wait_ms: float) -> list[Message]:
        claimed = await self._claim(most)
        if claimed:
            return claimed
        answer = await self._db.xreadgroup(
            self.group,
            self.consumer,
            {self.source.name: ">"},
            count=most,
            block=max(1, int(wait_ms)),
        )
        messages = []
        for _stream, entries in answer or []:
            for ident, fields in entries:
                payload, key = _payload(fields)
                messages.append(Message(payload, key, ident.decode(), 1, ident))
        return messages

    async def _claim(self, most: int) -> list[Message]:
        """Messages other members took more than ``idle_ms`` ago and never acknowledged
        (a crashed worker's batch), at most once per ``idle_ms / 2``."""
        now = time.monotonic()
        if now - self._claimed_at < self.idle_ms / 2000:
            return []
        self._claimed_at = now
        answer = await self._db.xautoclaim(
            self.source.name, self.group, self.consumer, self.idle_ms, "0-0", count=most
        )
        # Valkey answers three elements and Redis 6.2 two: never unpack; None: deleted.
        entries = [(i, f) for i, f in answer[1] if f is not None]
        if not entries:
            return []
        # Their delivery counts, in one XPENDING over the claimed range (ids ascend; the
        # range may also hold live members' in-flight entries, hence the wider count).
        pending = await self._db.xpending_range(
            self.source.name, self.group, min=entries[0][0], max=entries[-1][0], count=10_000
        )
        delivered = {entry["message_id"]: int(entry["times_delivered"]) for entry in pending}
        messages = []
        for ident, fields in entries:
            payload, key = _payload(fields)
            messages.append(Message(payload, key, ident.decode(), delivered.get(ident, 1), ident))
        return messages

    @property
    def db(self) -> Any:
        """The connection (a ``redis.asyncio.Redis``), once connected."""
        return self._db

    async def write(self, destination: str, messages: Sequence[Outgoing]) -> None:
        async with self._db.pipeline(transaction=False) as pipe:
            for message in messages:
                fields = {DATA: message.payload}
                if message.key is not None:
                    fields[KEY] = message.key
                pipe.xadd(destination, fields)
            await pipe.execute()

    async def ack(self, messages: Sequence[Message]) -> None:
        if messages:
            await self._db.xack(self.source.name, self.group, *[m.handle for m in messages])

    async def lag(self) -> int | None:
        for group in await self._db.xinfo_groups(self.source.name):
            if group.get("name") in (self.group, self.group.encode()):
                value = group.get("lag")
                return int(value) if value is not None else None
        return None

    async def close(self) -> None:
        if self._db is not None:
            await self._db.aclose()
            self._db = None
