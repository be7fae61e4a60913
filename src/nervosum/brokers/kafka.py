"""Kafka through confluent-kafka (librdkafka): a consumer group with automatic commits off,
offsets committed after the producer has the outputs acknowledged by the brokers
(``acks=all``, idempotent producer), so a worker that dies leaves its batch to be read
again from the last committed offset.

Kafka itself counts no deliveries, so this transport keeps the count where the group's
position already lives: before a batch is handed to the model, the offset it starts at is
committed again with metadata naming the batch's offsets and how often they were handed
out (``nervosum-delivery:FIRST-LAST:COUNT``). A worker that dies leaves that mark; the
member that reads those offsets next continues the count, so a message that kills every
worker reaches ``--max-deliveries`` and is dead-lettered as on Redis and NATS. A batch
read again is cut at the marked batch's end, so every message of a batch has the same
count. The message key is the Kafka key. The client is synchronous; its calls run on a
worker thread.

The admin ``graph deploy`` uses makes topics with the admin client; Kafka keeps no
converge groups (converge steps run on Redis or NATS).
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

from nervosum.brokers.addresses import Endpoint
from nervosum.brokers.admin import (
    NOT_NEEDED,
    BrokerAdmin,
    BrokerRefusal,
    StreamSettings,
)
from nervosum.brokers.transport import Message, Outgoing, Transport
from nervosum.errors import NervosumError

FLUSH_TIMEOUT = 30.0
log = logging.getLogger("nervosum.stream")

COMMITTED_TIMEOUT = 30.0
METADATA_TIMEOUT = 10.0  # seconds to learn whether the source topic exists
MARK = "nervosum-delivery:"

Place = tuple[str, int]  # topic, partition


@dataclass(frozen=True)
class Delivery:
    """Offsets ``first``..``last`` of one partition were handed out ``count`` times and
    not committed since."""

    first: int
    last: int
    count: int

    def covers(self, offset: int) -> bool:
        return self.first <= offset <= self.last

    def metadata(self) -> str:
        return f"{MARK}{self.first}-{self.last}:{self.count}"

    @classmethod
    def parse(cls, metadata: str | None) -> Delivery | None:
        """The mark in a committed offset's metadata; None for anything else (another
        tool's metadata, or none)."""
        if not metadata or not metadata.startswith(MARK):
            return None
        try:
            span, count = metadata[len(MARK) :].split(":")
            first, last = span.split("-")
            return cls(int(first), int(last), int(count))
        except ValueError:
            return None


def _rebalancing() -> frozenset[int]:
    """The commit errors of a group that is rebalancing: the commit can be made again
    once the member has its partitions back."""
    from confluent_kafka import KafkaError

    return frozenset(
        {
            KafkaError.REBALANCE_IN_PROGRESS,
            KafkaError.ILLEGAL_GENERATION,
            KafkaError.UNKNOWN_MEMBER_ID,
        }
    )


def _place(record: Any) -> Place:
    return (record.topic(), record.partition())


class KafkaTransport(Transport):
    def __init__(self, source: Endpoint, group: str, *, idle_ms: int) -> None:
        self.source = source
        self.group = group
        self.session_ms = min(max(idle_ms, 6_000), 300_000)
        self._consumer: Any = None
        self._producer: Any = None
        self._has_partitions = False
        self._held: list[Any] = []  # records read but not yet handed out
        self._marks: dict[Place, Delivery | None] = {}  # per partition, once looked up

    def _assigned(self, _consumer: Any, partitions: list[Any]) -> None:
        self._has_partitions = self._has_partitions or bool(partitions)

    def _revoked(self, _consumer: Any, partitions: list[Any]) -> None:
        """Another member reads these partitions from the committed offsets now: forget
        their marks and the records held back from them."""
        gone = {(p.topic, p.partition) for p in partitions}
        if gone:  # what this member read past the last commit may be delivered again
            log.warning(
                "the group rebalanced: %d partition(s) of %s move to another member",
                len(gone),
                self.source.name,
            )
        self._held = [record for record in self._held if _place(record) not in gone]
        for place in gone:
            self._marks.pop(place, None)

    async def _join(self, timeout: float) -> None:
        """Wait (up to ``timeout`` s) until the group gave this member partitions, so a
        worker reports ready once it takes part; records that arrive meanwhile are kept
        for the first read."""
        if not await asyncio.to_thread(self._source_exists):
            return  # nothing to take part in yet: the group assigns it once it exists
        deadline = asyncio.get_running_loop().time() + timeout
        while not self._has_partitions and asyncio.get_running_loop().time() < deadline:
            polled = await asyncio.to_thread(self._consume, 64, 0.2)
            self._held += polled  # after the poll: its revocations filter what is held

    def _source_exists(self) -> bool:
        """Whether the source topic has partitions (a worker may start before the first
        record creates it; waiting for an assignment then only delayed readiness)."""
        metadata = self._consumer.list_topics(self.source.name, timeout=METADATA_TIMEOUT)
        topic = metadata.topics.get(self.source.name)
        return topic is not None and topic.error is None and bool(topic.partitions)

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
        self._consumer.subscribe(
            [self.source.name], on_assign=self._assigned, on_revoke=self._revoked
        )
        self._producer = Producer(
            {
                "bootstrap.servers": self.servers,
                "acks": "all",
                "enable.idempotence": True,
                "log_level": 4,
            }
        )
        await self._join(timeout=self.session_ms / 1000 + 10)

    def _consume(self, most: int, wait: float) -> list[Any]:
        records = self._consumer.consume(num_messages=most, timeout=wait)
        return [r for r in records if r.error() is None]  # not partition-end notices

    def _mark(self, place: Place) -> Delivery | None:
        """The delivery mark committed for ``place``, looked up once per assignment."""
        if place not in self._marks:
            from confluent_kafka import TopicPartition

            (committed,) = self._consumer.committed(
                [TopicPartition(*place)], timeout=COMMITTED_TIMEOUT
            )
            self._marks[place] = Delivery.parse(committed.metadata)
        return self._marks[place]

    def _hand_out(self, records: list[Any], wait: float) -> list[Message]:
        """Count this delivery of ``records`` and commit the count before the model sees
        them; records past a re-read batch's end wait for the next read.

        While the group rebalances the commit is refused: the records wait too, and the
        consumer is polled for ``wait`` seconds, which lets the rebalance finish (a
        partition that goes to another member is read there from its committed offset,
        and :meth:`_revoked` drops what was held from it here)."""
        from confluent_kafka import KafkaException, TopicPartition

        by_place: dict[Place, list[Any]] = {}
        for record in records:
            by_place.setdefault(_place(record), []).append(record)
        handed: list[Message] = []
        marks: list[Any] = []
        counted: dict[Place, Delivery] = {}
        later: list[Any] = []
        for place, read in by_place.items():
            first = read[0].offset()
            earlier = self._mark(place)
            if earlier is not None and earlier.covers(first):
                batch = [r for r in read if r.offset() <= earlier.last]
                later += read[len(batch) :]
                count = earlier.count + 1
            else:
                batch, count = read, 1
            counted[place] = mark = Delivery(first, batch[-1].offset(), count)
            marks.append(TopicPartition(*place, first, mark.metadata()))
            handed += [
                Message(r.value() or b"", r.key(), f"{place[0]}/{place[1]}/{r.offset()}", count, r)
                for r in batch
            ]
        if marks:
            try:
                self._consumer.commit(offsets=marks, asynchronous=False)
            except KafkaException as exc:
                if exc.args[0].code() not in _rebalancing():
                    raise
                self._held = [*records, *self._held]
                polled = self._consume(len(records), wait)  # may revoke what is held
                self._held += polled
                return []
        self._marks.update(counted)
        self._held = [*later, *self._held]  # before what was held after them: in order
        return handed

    def _take(self, most: int, wait: float) -> list[Message]:
        if self._held:
            records, self._held = self._held[:most], self._held[most:]
        else:
            records = self._consume(most, wait)
        return self._hand_out(records, wait)

    async def read(self, most: int, wait_ms: float) -> list[Message]:
        return await asyncio.to_thread(self._take, most, max(wait_ms, 1) / 1000)

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
        from confluent_kafka import KafkaException, TopicPartition

        latest: dict[Place, int] = {}
        for message in messages:
            place = _place(message.handle)
            latest[place] = max(latest.get(place, -1), message.handle.offset())
        offsets = [TopicPartition(*place, offset + 1) for place, offset in latest.items()]
        if offsets:
            try:
                self._consumer.commit(offsets=offsets, asynchronous=False)
            except KafkaException as exc:
                if exc.args[0].code() not in _rebalancing():
                    raise
                # Written but not acknowledged: whoever reads the partitions after the
                # rebalance gets these messages again (at least once, as after a crash).
                log.warning("acknowledging %d messages refused during a rebalance", len(messages))
                return
        for place in latest:
            self._marks[place] = None  # committed past the marked batch

    async def ack(self, messages: Sequence[Message]) -> None:
        await asyncio.to_thread(self._commit, messages)

    async def close(self) -> None:
        if self._consumer is not None:
            consumer, self._consumer = self._consumer, None
            await asyncio.to_thread(consumer.close)
        if self._producer is not None:
            producer, self._producer = self._producer, None
            await asyncio.to_thread(producer.flush, FLUSH_TIMEOUT)


def _retention_ms(stream: StreamSettings) -> int | None:
    hours = stream.retention_hours
    return round(hours * 3_600_000) if hours else None


class KafkaAdmin(BrokerAdmin):
    """Kafka: a topic per stream, made and deleted with the admin client. A consumer
    group needs no creating: the broker makes it when its first member joins, and
    graph run's members start from the earliest offset, as groups do elsewhere."""

    async def open(self) -> None:
        from confluent_kafka.admin import AdminClient

        self._admin = AdminClient(
            {
                "bootstrap.servers": f"{self.broker.host}:{self.broker.port}",
                "log_level": 0,  # failures are raised and reported once, not logged
            }
        )
        await self._topics()

    async def close(self) -> None:
        """Nothing to close: the admin client's connections end with the process."""

    async def _call(self, work: Callable[[], Any]) -> Any:
        """``work`` on a worker thread (the client blocks), its Kafka error in words."""
        from confluent_kafka import KafkaException

        try:
            return await asyncio.to_thread(work)
        except KafkaException as exc:
            raise BrokerRefusal(exc.args[0].str()) from exc

    async def _topics(self) -> set[str]:
        # every topic, never one by name: a metadata request naming a topic can create it
        found = await self._call(lambda: self._admin.list_topics(timeout=self.settings.timeout))
        return set(found.topics)

    def _wait(self, futures: dict[str, Any], tolerated: str) -> bool:
        """Wait for the one admin request in ``futures``; False when it failed with the
        error named ``tolerated`` (already so)."""
        from confluent_kafka import KafkaException

        (future,) = futures.values()
        try:
            future.result()
        except KafkaException as exc:
            if exc.args[0].name() == tolerated:
                return False
            raise
        return True

    async def create_stream(self, stream: StreamSettings) -> bool:
        from confluent_kafka.cimpl import NewTopic

        if stream.name in await self._topics():
            return False
        retention = _retention_ms(stream)
        topic = NewTopic(
            stream.name,
            num_partitions=stream.partitions or 1,
            config={"retention.ms": str(retention)} if retention else {},
        )
        timeout = self.settings.timeout
        return bool(
            await self._call(
                lambda: self._wait(
                    self._admin.create_topics(
                        [topic], request_timeout=timeout, operation_timeout=timeout
                    ),
                    "TOPIC_ALREADY_EXISTS",
                )
            )
        )

    async def delete_stream(self, name: str) -> bool:
        if name not in await self._topics():
            return False
        timeout = self.settings.timeout
        deleted = await self._call(
            lambda: self._wait(
                self._admin.delete_topics(
                    [name], request_timeout=timeout, operation_timeout=timeout
                ),
                "UNKNOWN_TOPIC_OR_PART",
            )
        )
        # Kafka deletes in the background: creating the topic again must wait until
        # the brokers no longer list it
        deadline = time.monotonic() + timeout
        while name in await self._topics():
            if time.monotonic() > deadline:
                raise BrokerRefusal(f"{name} is still listed {timeout:g} s after its deletion")
            await asyncio.sleep(0.2)
        return bool(deleted)

    async def create_group(self, stream: str, group: str) -> str:
        return NOT_NEEDED

    def applied(self, stream: StreamSettings) -> str | None:
        count = stream.partitions or 1
        parts = [f"{count} partition{'s' * (count != 1)}"]
        retention = _retention_ms(stream)
        if retention:
            parts.append(f"retention.ms {retention}")
        return ", ".join(parts)
