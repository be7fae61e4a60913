"""Converge groups in Redis, next to the streams.

Per step (``nervosum:converge:<graph>:<step>``): a hash of parts per open key, a sorted
set of open keys by the time their first part came, and a ``done`` hash per emitted or
expired key (each part's digest; it lives ``done_ttl`` seconds). Storing a part,
completing a group and forgetting an expired one are Lua scripts, so they are atomic:
the merged message is written to its streams (``XADD`` with the stream transport's
``data`` / ``key`` fields) in the same script that marks the key done, so a group is
emitted exactly once however often its parts are redelivered, and replicas of the step
share the groups safely. Needs one Redis (not a cluster, whose keys of one script must
share a slot).
"""

from __future__ import annotations

import time
from typing import Any

import orjson

from nervosum.graph.converge import Added, ConvergeStore, Emit, Message, Stale, State
from nervosum.jsonio import dumps
from nervosum.stream.redis import DATA, KEY

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


def _pairs(flat: list[bytes]) -> dict[str, Message]:
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

    async def add(self, key: str, part: str, message: Message, expect: int) -> Added:
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
