"""NATS JetStream: a durable pull consumer named after the group, acknowledgements after
the outputs are published (JetStream confirms each publish), redelivery after the ack
wait, delivery counts from the message metadata.

The source, sink and dead-letter subjects must belong to JetStream streams; one is
created (named after the subject) for a subject no stream covers. The message key
travels in the ``key`` header.

The converge store: one key-value bucket per step (``nervosum-converge-<graph>-<step>``)
holds ``g.<key>``, the open group (when its first part came, and its parts), and
``d.<key>`` once the group was emitted; keys are base64url-encoded, as KV keys allow few
characters. A part is added by compare-and-set on the group's revision, so replicas
adding parts of one key at once never lose one. Completing a group publishes the merged
message with a ``Nats-Msg-Id`` made of the step and the key, then marks the key done: a
process killed between the two publishes again after redelivery, and JetStream drops
the copy (within the stream's duplicate window, two minutes by default), so the group
is emitted once. ``d.<key>`` holds each part's digest, to tell a redelivered part from a
late new message. An expired group is forgotten by deleting it at the revision read, so
a part that came meanwhile keeps it open.

The admin ``graph deploy`` uses makes the streams and durable consumers as the
transport names them.
"""

from __future__ import annotations

import asyncio
import base64
import logging
import re
import time
from collections.abc import Sequence
from typing import Any

import orjson

from nervosum.brokers.addresses import Endpoint
from nervosum.brokers.admin import CREATED, PRESENT, BrokerAdmin, BrokerRefusal, StreamSettings
from nervosum.brokers.converge import Added, Body, ConvergeStore, Emit, Stale, State, digest
from nervosum.brokers.transport import Message, Outgoing, Transport
from nervosum.errors import NervosumError
from nervosum.jsonio import dumps

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


def _code(text: str) -> str:
    return base64.urlsafe_b64encode(text.encode()).decode().rstrip("=")


def _text(code: str) -> str:
    return base64.urlsafe_b64decode(code + "=" * (-len(code) % 4)).decode()


def bucket_name(graph: str, step: str) -> str:
    """The key-value bucket of one converge step (bucket names take no dots)."""
    return f"nervosum-converge-{graph}-{step}".replace(".", "_")


class NatsStore(ConvergeStore):
    def __init__(
        self, transport: NatsTransport, kv: Any, graph: str, step: str, names: dict[str, str]
    ) -> None:
        """``kv``: the step's bucket (:meth:`NatsTransport.key_value`); ``names``: each
        declared stream's subject."""
        self.transport = transport
        self.kv = kv
        self.ident = f"{graph}:{step}"
        self.names = names

    async def _get(self, name: str) -> Any:
        """The live entry ``name``, or None."""
        from nats.js.errors import KeyNotFoundError

        try:
            entry = await self.kv.get(name)
        except KeyNotFoundError:  # also deleted and purged keys
            return None
        return entry if entry.value else None

    async def add(self, key: str, part: str, message: Body, expect: int) -> Added:
        from nats.js.errors import KeyWrongLastSequenceError

        code = _code(key)
        done = await self._get(f"d.{code}")
        if done is not None:
            same = orjson.loads(done.value).get(part) == digest(dumps(message))
            return Added(State.DONE if same else State.LATE, {})
        while True:
            entry = await self._get(f"g.{code}")
            group: dict[str, Any] = (
                orjson.loads(entry.value) if entry else {"started": time.time(), "parts": {}}
            )
            held = group["parts"].get(part)
            if held is not None and dumps(held) != dumps(message):
                return Added(State.TAKEN, {})
            group["parts"][part] = message
            try:
                if entry is None:
                    await self.kv.create(f"g.{code}", dumps(group))
                else:
                    await self.kv.update(f"g.{code}", dumps(group), last=entry.revision)
                break
            except KeyWrongLastSequenceError:
                continue  # a replica added a part meanwhile: add to its version
        parts: dict[str, Body] = group["parts"]
        if len(parts) < expect:
            return Added(State.WAITING, {})
        return Added(State.COMPLETE, parts)

    async def complete(self, key: str, emits: list[Emit]) -> bool:
        code = _code(key)
        if await self._get(f"d.{code}") is not None:
            return False
        for index, emit in enumerate(emits):
            dedup = f"{self.ident}:{key}:{index}"
            outgoing = Outgoing(key.encode(), emit.payload, dedup=dedup)
            await self.transport.write(self.names[emit.stream], [outgoing])
        entry = await self._get(f"g.{code}")
        parts = orjson.loads(entry.value)["parts"] if entry else {}
        digests = {part: digest(dumps(message)) for part, message in parts.items()}
        await self.kv.put(f"d.{code}", dumps(digests))
        await self.kv.purge(f"g.{code}")
        return True

    async def expired(self, timeout: float) -> list[Stale]:
        from nats.js.errors import NoKeysError

        cutoff = time.time() - timeout
        try:
            names = [n for n in await self.kv.keys() if n.startswith("g.")]
        except NoKeysError:
            return []
        stale = []
        for name in names:
            entry = await self._get(name)
            if entry is None:
                continue
            group = orjson.loads(entry.value)
            if group["started"] <= cutoff:
                parts = list(group["parts"].values())
                stale.append(Stale(_text(name[2:]), parts, entry.revision))
        return stale

    async def forget(self, stale: Stale) -> None:
        from nats.js.errors import KeyWrongLastSequenceError

        code = _code(stale.key)
        try:
            await self.kv.delete(f"g.{code}", last=stale.token)
        except KeyWrongLastSequenceError:
            return  # a part came meanwhile, or a replica forgot it first
        await self.kv.put(f"d.{code}", b"{}")


class NatsAdmin(BrokerAdmin):
    """NATS JetStream: a stream per subject, named as NatsTransport names it, and a
    durable pull consumer per group with the config NatsTransport.connect gives it."""

    async def open(self) -> None:
        import nats
        from nats.errors import NoRespondersError
        from nats.js.errors import ServiceUnavailableError

        failures: list[Exception] = []

        async def remember(exc: Exception) -> None:
            failures.append(exc)  # reported once, below, not logged with a traceback

        try:
            self._nc = await nats.connect(
                self.broker.server,
                connect_timeout=self.settings.timeout,
                allow_reconnect=False,
                max_reconnect_attempts=1,  # 0 would mean: retry for ever
                reconnect_time_wait=0.1,
                error_cb=remember,
            )
        except Exception as exc:
            raise (failures[-1] if failures else exc) from None
        self._js = self._nc.jetstream(timeout=self.settings.timeout)
        try:
            await self._js.account_info()
        except (ServiceUnavailableError, NoRespondersError) as exc:
            await self._nc.close()
            raise NervosumError(
                f"{self.broker.server} has no JetStream",
                hint="graphs need JetStream: start nats-server with -js",
            ) from exc

    async def close(self) -> None:
        await self._nc.close()

    async def _stream_of(self, subject: str) -> str | None:
        """The JetStream stream holding ``subject`` (whatever its name), or None."""
        from nats.js.errors import NotFoundError

        try:
            return str(await self._js.find_stream_name_by_subject(subject))
        except NotFoundError:
            return None

    async def create_stream(self, stream: StreamSettings) -> bool:
        from nats.js.api import StreamConfig

        if await self._stream_of(stream.name) is not None:
            return False
        hours = stream.retention_hours
        config = StreamConfig(
            name=stream_name(stream.name),
            subjects=[stream.name],
            max_age=hours * 3600 if hours else None,
        )
        await self._js.add_stream(config)
        return True

    async def delete_stream(self, name: str) -> bool:
        found = await self._stream_of(name)
        return found is not None and bool(await self._js.delete_stream(found))

    async def forget_converge(self, graph: str, step: str) -> bool:
        from nats.js.errors import NotFoundError

        try:
            return bool(await self._js.delete_key_value(bucket_name(graph, step)))
        except NotFoundError:
            return False

    def group_name(self, group: str) -> str:
        return durable_name(group)  # the durable name graph run attaches to

    async def create_group(self, stream: str, group: str) -> str:
        from nats.js.api import AckPolicy, ConsumerConfig
        from nats.js.errors import NotFoundError

        found = await self._stream_of(stream)
        if found is None:
            raise BrokerRefusal(f"no JetStream stream holds the subject {stream}")
        durable = self.group_name(group)
        try:
            await self._js.consumer_info(found, durable)
        except NotFoundError:
            config = ConsumerConfig(
                name=durable,
                durable_name=durable,
                ack_policy=AckPolicy.EXPLICIT,
                ack_wait=self.settings.idle_ms / 1000,
                filter_subject=stream,
            )
            await self._js.add_consumer(found, config=config)
            return CREATED
        return PRESENT

    def applied(self, stream: StreamSettings) -> str | None:
        age = f", max age {stream.retention_hours:g} h" if stream.retention_hours else ""
        return f"JetStream stream {stream_name(stream.name)}{age}"
