"""Kafka through confluent-kafka (librdkafka): a consumer group with automatic commits off,
offsets committed after the producer has the outputs acknowledged by the brokers
(``acks=all``, idempotent producer), so a worker that dies leaves its batch to be read
again from the last committed offset.

Kafka counts no deliveries, so ``--max-deliveries`` does not apply: a message that kills
every worker is read again each time (documented in docs/streams.md). The message key
is the Kafka key. The client is synchronous; its calls run on a worker thread.
"""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from typing import Any

from nervosum.errors import NervosumError
from nervosum.stream.endpoints import Endpoint
from nervosum.stream.transport import Message, Outgoing, Transport

FLUSH_TIMEOUT = 30.0


class KafkaTransport(Transport):
    counts_deliveries = False

    def __init__(self, source: Endpoint, group: str, *, idle_ms: int) -> None:
        self.source = source
        self.group = group
        self.session_ms = min(max(idle_ms, 6_000), 300_000)
        self._consumer: Any = None
        self._producer: Any = None
        self._has_partitions = False
        self._early: list[Message] = []

    def _assigned(self, _consumer: Any, partitions: list[Any]) -> None:
        self._has_partitions = self._has_partitions or bool(partitions)

    async def _join(self, timeout: float) -> None:
        """Wait (up to ``timeout`` s) until the group gave this member partitions, so a
        worker reports ready once it takes part; messages that arrive meanwhile are kept
        for the first read."""
        deadline = asyncio.get_running_loop().time() + timeout
        while not self._has_partitions and asyncio.get_running_loop().time() < deadline:
            self._early += await asyncio.to_thread(self._consume, 64, 0.2)

    @property
    def servers(self) -> str:
        return f"{self.source.host}:{self.source.port}"

    async def connect(self) -> None:
        from confluent_kafka import Consumer, Producer

        self._consumer = Consumer(
            {
                "bootstrap.servers": self.servers,
                "group.id": self.group,
                "enable.auto.commit": False,
                "auto.offset.reset": "earliest",
                "session.timeout.ms": self.session_ms,
                # a source created after the worker started is picked up within seconds
                "topic.metadata.refresh.interval.ms": 2_000,
                "log_level": 4,  # warnings and errors; not every reconnect
            }
        )
        self._consumer.subscribe([self.source.name], on_assign=self._assigned)
        self._producer = Producer(
            {
                "bootstrap.servers": self.servers,
                "acks": "all",
                "enable.idempotence": True,
                "log_level": 4,
            }
        )
        await self._join(timeout=self.session_ms / 1000 + 10)

    def _consume(self, most: int, wait: float) -> list[Message]:
        messages = []
        for record in self._consumer.consume(num_messages=most, timeout=wait):
            if record.error() is not None:
                continue  # partition end and other notices, not messages
            position = f"{record.topic()}/{record.partition()}/{record.offset()}"
            messages.append(Message(record.value() or b"", record.key(), position, 1, record))
        return messages

    async def read(self, most: int, wait_ms: float) -> list[Message]:
        if self._early:
            early, self._early = self._early[:most], self._early[most:]
            return early
        return await asyncio.to_thread(self._consume, most, max(wait_ms, 1) / 1000)

    def _produce(self, destination: str, messages: Sequence[Outgoing]) -> None:
        failures: list[str] = []

        def delivered(error: Any, _record: Any) -> None:
            if error is not None:
                failures.append(str(error))

        for message in messages:
            self._producer.produce(
                destination, value=message.payload, key=message.key, on_delivery=delivered
            )
        remaining = self._producer.flush(FLUSH_TIMEOUT)
        if remaining or failures:
            detail = failures[0] if failures else f"{remaining} not confirmed in time"
            raise NervosumError(f"kafka did not take every message for {destination}: {detail}")

    async def write(self, destination: str, messages: Sequence[Outgoing]) -> None:
        await asyncio.to_thread(self._produce, destination, messages)

    def _commit(self, messages: Sequence[Message]) -> None:
        from confluent_kafka import TopicPartition

        latest: dict[tuple[str, int], int] = {}
        for message in messages:
            record = message.handle
            place = (record.topic(), record.partition())
            latest[place] = max(latest.get(place, -1), record.offset())
        offsets = [TopicPartition(t, p, offset + 1) for (t, p), offset in latest.items()]
        if offsets:
            self._consumer.commit(offsets=offsets, asynchronous=False)

    async def ack(self, messages: Sequence[Message]) -> None:
        await asyncio.to_thread(self._commit, messages)

    async def close(self) -> None:
        if self._consumer is not None:
            consumer, self._consumer = self._consumer, None
            await asyncio.to_thread(consumer.close)
        if self._producer is not None:
            producer, self._producer = self._producer, None
            await asyncio.to_thread(producer.flush, FLUSH_TIMEOUT)
