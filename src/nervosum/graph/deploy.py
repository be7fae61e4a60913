"""``graph deploy``: do on a broker what ``graph plan`` prints, in the plan's order.

Only broker objects are made: the declared streams, and the consumer groups the steps
read with. Step processes are not started here (``graph run --transport URL --step
NAME``, or a container, starts them), so creating a step means creating the groups of
its inputs, each placed at the start of its stream: a step started later still reads
every message written before it joined, on every broker alike.

Creating is idempotent: a stream or group that exists is reported as present and left
as it is, settings included (``--recreate`` deletes and creates it again). Every
broker sits behind :class:`BrokerAdmin`; the order, the reporting and the error
messages are shared, so a broker's class only says how to create and delete.
"""

from __future__ import annotations

import asyncio
import time
from abc import ABC, abstractmethod
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import asdict, dataclass
from typing import Any

from nervosum.errors import NervosumError
from nervosum.graph.plan import Action, Plan
from nervosum.stream.endpoints import Endpoint

CREATED = "created"
PRESENT = "present"
DELETED = "deleted"
ABSENT = "absent"
NOT_NEEDED = "not needed"  # Kafka groups: made by the broker when a member joins
NOT_STARTED = "not started"  # steps: deploy runs no step processes
NOT_STOPPED = "not stopped"  # steps, before --recreate deletes their streams

_LINES = {
    ("stream", CREATED): "Created stream {name}",
    ("stream", PRESENT): "Stream {name} already present",
    ("stream", DELETED): "Deleted stream {name}",
    ("stream", ABSENT): "Stream {name} not present: nothing to delete",
    ("group", CREATED): "Created consumer group {name} on {stream}",
    ("group", PRESENT): "Consumer group {name} on {stream} already present",
    ("group", NOT_NEEDED): "Consumer group {name} on {stream}: nothing to create,"
    " groups are created when the first member joins",
    ("step", NOT_STARTED): "Step {name} is not started by deploy:"
    " creating the consumer groups of its inputs",
    ("step", NOT_STOPPED): "Step {name} is not stopped by deploy:"
    " stop its processes, the streams it reads are recreated",
    ("converge state", DELETED): "Deleted the converge groups and done marks of step {name}",
}


@dataclass(frozen=True)
class Done:
    """One action done on the broker, as it is reported. ``name`` is the broker's name
    of the stream or group (the step's name for a step); ``stream`` the stream a group
    reads."""

    action: str  # "create" or "delete"
    kind: str  # "stream", "group", "step" or "converge state"
    name: str
    result: str
    stream: str | None = None
    detail: str | None = None

    @property
    def line(self) -> str:
        text = _LINES[(self.kind, self.result)].format(name=self.name, stream=self.stream)
        return f"{text} ({self.detail})" if self.detail else text

    def to_record(self) -> dict[str, Any]:
        return {**asdict(self), "message": self.line}


@dataclass(frozen=True)
class DeploySettings:
    idle_ms: int = 30_000  # NATS: the ack wait of the consumers created, as graph run's
    timeout: float = 30.0  # seconds to wait for each answer of the broker


@dataclass(frozen=True)
class StreamSettings:
    """A stream to create, from its plan entry."""

    name: str
    partitions: int | None
    retention_hours: float | None


class BrokerAdmin(ABC):
    """Creates and deletes streams and consumer groups on one broker."""

    def __init__(self, broker: Endpoint, settings: DeploySettings) -> None:
        self.broker = broker
        self.settings = settings

    @abstractmethod
    async def open(self) -> None:
        """Connect; raise when the broker cannot be reached."""

    @abstractmethod
    async def close(self) -> None: ...

    @abstractmethod
    async def create_stream(self, stream: StreamSettings) -> bool:
        """Create ``stream`` empty if missing; whether it was created."""

    @abstractmethod
    async def delete_stream(self, name: str) -> bool:
        """Delete the stream with its messages and groups; whether it existed."""

    @abstractmethod
    async def create_group(self, stream: str, group: str) -> str:
        """Create ``group`` on ``stream`` at the stream's start if missing: CREATED,
        PRESENT or NOT_NEEDED."""

    def group_name(self, group: str) -> str:
        """What the broker calls the step's consumer group."""
        return group

    async def forget_converge(self, graph: str, step: str) -> bool:
        """Delete a converge step's open groups and done marks (kept in the broker);
        whether there were any. Kafka keeps none."""
        return False

    def applied(self, stream: StreamSettings) -> str | None:
        """The settings a created stream got, said in the broker's terms."""
        return None


class BrokerRefusal(Exception):
    """The broker answered with an error, put into words by the admin class."""


def _reason(exc: BaseException) -> str:
    if isinstance(exc, BrokerRefusal):
        return str(exc)
    return f"{type(exc).__name__}: {exc}" if str(exc) else type(exc).__name__


@contextmanager
def _doing(what: str, server: str) -> Iterator[None]:
    """Turn a broker failure while doing ``what`` into one line with a hint."""
    try:
        yield
    except NervosumError:
        raise
    except Exception as exc:
        raise NervosumError(
            f"could not {what} on {server}: {_reason(exc)}",
            hint="the actions printed above are done; run deploy again once fixed:"
            " it creates only what is missing",
        ) from exc


# --------------------------------------------------------------------------- Redis


class RedisAdmin(BrokerAdmin):
    """Redis Streams: a stream is a key; deleting it deletes its entries and groups.
    The plan creates every stream before any step, so every stream, read or final, is
    first created empty; a step's groups then come with the step, made with
    ``XGROUP CREATE STREAM GROUP 0 MKSTREAM`` as RedisTransport.connect makes them."""

    # A stream is created empty with XGROUP CREATE MKSTREAM and XGROUP DESTROY of this
    # group, in one MULTI, not with XADD + XTRIM MAXLEN 0: no entry is ever written, so
    # no reader can be handed a placeholder message and the stream's first entry id
    # stays the first message's.
    PLACEHOLDER = "nervosum-deploy-placeholder"

    async def open(self) -> None:
        import redis.asyncio as redis
        from redis.asyncio.retry import Retry
        from redis.backoff import NoBackoff

        timeout = self.settings.timeout
        self._db = redis.Redis(
            host=self.broker.host,
            port=self.broker.port,
            db=self.broker.database,
            socket_connect_timeout=timeout,
            socket_timeout=timeout,
            retry=Retry(NoBackoff(), 0),  # a one-off command: fail at once, run it again
        )
        await self._db.ping()

    async def close(self) -> None:
        await self._db.aclose()

    async def _is_stream(self, name: str) -> bool:
        """Whether ``name`` is a stream; False when missing; a refusal when the key holds
        something else, which deploy must neither delete nor write to."""
        answer = await self._db.type(name)
        kind = answer.decode() if isinstance(answer, bytes) else str(answer)
        if kind not in ("stream", "none"):
            raise BrokerRefusal(f"the key {name} holds a Redis {kind}, not a stream")
        return kind == "stream"

    async def create_stream(self, stream: StreamSettings) -> bool:
        if await self._is_stream(stream.name):
            return False
        async with self._db.pipeline(transaction=True) as pipe:
            pipe.xgroup_create(stream.name, self.PLACEHOLDER, id="0", mkstream=True)
            pipe.xgroup_destroy(stream.name, self.PLACEHOLDER)
            await pipe.execute()
        return True

    async def delete_stream(self, name: str) -> bool:
        return await self._is_stream(name) and bool(await self._db.delete(name))

    async def create_group(self, stream: str, group: str) -> str:
        from redis.exceptions import ResponseError

        try:
            await self._db.xgroup_create(stream, group, id="0", mkstream=True)
        except ResponseError as exc:
            if "BUSYGROUP" in str(exc):
                return PRESENT
            raise
        return CREATED

    def applied(self, stream: StreamSettings) -> str | None:
        if stream.partitions is None and stream.retention_hours is None:
            return None
        return "partitions and retention_hours do not apply to a Redis stream"

    async def forget_converge(self, graph: str, step: str) -> bool:
        from nervosum.graph.redis_store import state_prefix

        keys = [key async for key in self._db.scan_iter(match=f"{state_prefix(graph, step)}:*")]
        return bool(keys) and bool(await self._db.delete(*keys))


# --------------------------------------------------------------------------- NATS


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

        from nervosum.stream.nats import stream_name

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

        from nervosum.graph.nats_store import bucket_name

        try:
            return bool(await self._js.delete_key_value(bucket_name(graph, step)))
        except NotFoundError:
            return False

    def group_name(self, group: str) -> str:
        from nervosum.stream.nats import durable_name

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
        from nervosum.stream.nats import stream_name

        age = f", max age {stream.retention_hours:g} h" if stream.retention_hours else ""
        return f"JetStream stream {stream_name(stream.name)}{age}"


# --------------------------------------------------------------------------- Kafka


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


ADMINS: dict[str, type[BrokerAdmin]] = {
    "redis": RedisAdmin,
    "nats": NatsAdmin,
    "kafka": KafkaAdmin,
}


async def _step(
    action: Action, admin: BrokerAdmin, report: Callable[[Done], None], graph: str
) -> None:
    """A step is not run here: creating it creates the groups of its inputs; deleting
    it deletes the converge groups and done marks it kept in the broker, which would
    otherwise refuse the recreated streams' messages for keys done before."""
    if action.verb == "delete":
        report(Done("delete", "step", action.name, NOT_STOPPED))
        with _doing(f"delete the converge state of step {action.name}", admin.broker.server):
            if await admin.forget_converge(graph, action.name):
                report(Done("delete", "converge state", action.name, DELETED))
        return
    report(Done("create", "step", action.name, NOT_STARTED))
    group = admin.group_name(action.entry["group"])
    for stream in action.entry["inputs"]:
        with _doing(f"create consumer group {group} on {stream}", admin.broker.server):
            made = await admin.create_group(stream, action.entry["group"])
        report(Done("create", "group", group, made, stream=stream))


async def _stream(action: Action, admin: BrokerAdmin, report: Callable[[Done], None]) -> None:
    name = action.entry["name"]
    if action.verb == "delete":
        with _doing(f"delete stream {name}", admin.broker.server):
            existed = await admin.delete_stream(name)
        report(Done("delete", "stream", name, DELETED if existed else ABSENT))
        return
    stream = StreamSettings(name, action.entry["partitions"], action.entry["retention_hours"])
    with _doing(f"create stream {name}", admin.broker.server):
        created = await admin.create_stream(stream)
    if created:
        report(Done("create", "stream", name, CREATED, detail=admin.applied(stream)))
    else:
        report(Done("create", "stream", name, PRESENT))


async def _deploy(
    actions: list[Action], admin: BrokerAdmin, report: Callable[[Done], None], graph: str
) -> None:
    try:
        await admin.open()
    except NervosumError:
        raise
    except Exception as exc:
        raise NervosumError(
            f"cannot reach {admin.broker.server}: {_reason(exc)}",
            hint="check the address and that the broker is running",
        ) from exc
    try:
        for action in actions:
            if action.kind == "stream":
                await _stream(action, admin, report)
            else:
                await _step(action, admin, report, graph)
    finally:
        await admin.close()


def deploy_plan(
    planned: Plan,
    broker: Endpoint,
    settings: DeploySettings,
    report: Callable[[Done], None],
) -> None:
    """Carry out ``planned`` (from :func:`~nervosum.graph.plan.plan_graph`) on
    ``broker``, calling ``report`` after each action; :class:`NervosumError` (exit 1)
    when the broker cannot be reached or refuses an action."""
    admin = ADMINS[broker.scheme](broker, settings)
    asyncio.run(_deploy(list(planned.actions), admin, report, planned.graph))
