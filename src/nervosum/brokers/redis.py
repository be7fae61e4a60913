"""Redis: the stream transport (Redis Streams and consumer groups), the converge store
(Lua scripts next to the streams) and the admin ``graph deploy`` uses.

The transport: a consumer group (XREADGROUP), XACK after the outputs are written,
XAUTOCLAIM of what a dead member held, delivery counts from XPENDING. A message's payload
is its ``data`` field (a message with one field: that field's value); its key is the
``key`` field. Outputs and dead letters are written with XADD as ``data`` and ``key``.

The store, per step (``nervosum:converge:<graph>:<step>``): a hash of parts per open key,
a sorted set of open keys by the time their first part came, and a ``done`` hash per
emitted or expired key (each part's digest; it lives ``done_ttl`` seconds). Storing a
part, completing a group and forgetting an expired one are Lua scripts, so they are
atomic: the merged message is written to its streams (``XADD`` with the transport's
``data`` / ``key`` fields) in the same script that marks the key done, so a group is
emitted exactly once however often its parts are redelivered, and replicas of the step
share the groups safely. Needs one Redis (not a cluster, whose keys of one script must
share a slot).
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from typing import Any

import orjson

from nervosum.brokers.addresses import Endpoint
from nervosum.brokers.admin import CREATED, PRESENT, BrokerAdmin, BrokerRefusal, StreamSettings
from nervosum.brokers.converge import Added, Body, ConvergeStore, Emit, Stale, State
from nervosum.brokers.transport import Message, Outgoing, Transport
from nervosum.jsonio import dumps

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


# KEYS: parts, done, open. ARGV: part, payload, expect, now, key.
ADD = """
if redis.call('EXISTS', KEYS[2]) == 1 then
  if redis.call('HGET', KEYS[2], ARGV[1]) == redis.sha1hex(ARGV[2]) then return {'done'} end
  return {'late'}
end
local held = redis.call('HGET', KEYS[1], ARGV[1])
if held and held ~= ARGV[2] then return {'taken'} end
redis.call('HSET', KEYS[1], ARGV[1], ARGV[2])
redis.call('ZADD', KEYS[3], 'NX', ARGV[4], ARGV[5])
if redis.call('HLEN', KEYS[1]) >= tonumber(ARGV[3]) then
  local found = redis.call('HGETALL', KEYS[1])
  table.insert(found, 1, 'complete')
  return found
end
return {'waiting'}
"""

# KEYS: parts, done, open, then one stream per message. ARGV: the field names, the
# message key, each message beside its stream's KEYS index, then the key and the ttl.
COMPLETE = """
if redis.call('EXISTS', KEYS[2]) == 1 then return 0 end
for i = 4, #KEYS do
  redis.call('XADD', KEYS[i], '*', ARGV[1], ARGV[i], ARGV[2], ARGV[3])
end
local parts = redis.call('HGETALL', KEYS[1])
redis.call('HSET', KEYS[2], '', '')
for i = 1, #parts, 2 do
  redis.call('HSET', KEYS[2], parts[i], redis.sha1hex(parts[i + 1]))
end
redis.call('EXPIRE', KEYS[2], ARGV[#ARGV])
redis.call('DEL', KEYS[1])
redis.call('ZREM', KEYS[3], ARGV[#ARGV - 1])
return 1
"""

# KEYS: parts, done, open. ARGV: key, the part count read, ttl.
FORGET = """
if not redis.call('ZSCORE', KEYS[3], ARGV[1]) then return 0 end
if redis.call('HLEN', KEYS[1]) ~= tonumber(ARGV[2]) then return 0 end
redis.call('ZREM', KEYS[3], ARGV[1])
redis.call('DEL', KEYS[1])
redis.call('HSET', KEYS[2], '', '')
redis.call('EXPIRE', KEYS[2], ARGV[3])
return 1
"""


def state_prefix(graph: str, step: str) -> str:
    """Where one converge step's groups and done marks live in Redis."""
    return f"nervosum:converge:{graph}:{step}"


def _pairs(flat: list[bytes]) -> dict[str, Body]:
    return {flat[i].decode(): orjson.loads(flat[i + 1]) for i in range(0, len(flat), 2)}


class RedisStore(ConvergeStore):
    def __init__(
        self, db: Any, graph: str, step: str, names: dict[str, str], done_ttl: int
    ) -> None:
        """``names``: each declared stream's Redis key; ``done_ttl``: how long an emitted
        key is remembered (longer than any redelivery of its parts takes)."""
        self.db = db
        self.prefix = state_prefix(graph, step)
        self.names = names
        self.done_ttl = done_ttl
        self._add = db.register_script(ADD)
        self._complete = db.register_script(COMPLETE)
        self._forget = db.register_script(FORGET)

    def _keys(self, key: str) -> list[str]:
        return [f"{self.prefix}:parts:{key}", f"{self.prefix}:done:{key}", f"{self.prefix}:open"]

    async def add(self, key: str, part: str, message: Body, expect: int) -> Added:
        answer = await self._add(
            keys=self._keys(key), args=[part, dumps(message), expect, time.time(), key]
        )
        state = State(answer[0].decode())
        return Added(state, _pairs(answer[1:]) if state is State.COMPLETE else {})

    async def complete(self, key: str, emits: list[Emit]) -> bool:
        keys = self._keys(key) + [self.names[e.stream] for e in emits]
        args: list[Any] = [DATA, KEY, key.encode(), *[e.payload for e in emits]]
        args += [key, self.done_ttl]
        return bool(await self._complete(keys=keys, args=args))

    async def expired(self, timeout: float) -> list[Stale]:
        cutoff = time.time() - timeout
        stale = []
        for raw in await self.db.zrangebyscore(f"{self.prefix}:open", "-inf", cutoff):
            key = raw.decode()
            held = await self.db.hgetall(self._keys(key)[0])
            parts = [orjson.loads(value) for value in held.values()]
            stale.append(Stale(key, parts, len(parts)))
        return stale

    async def forget(self, stale: Stale) -> None:
        await self._forget(keys=self._keys(stale.key), args=[stale.key, stale.token, self.done_ttl])


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
        keys = [key async for key in self._db.scan_iter(match=f"{state_prefix(graph, step)}:*")]
        return bool(keys) and bool(await self._db.delete(*keys))
