"""Converge groups in a NATS JetStream key-value bucket, next to the streams.

One bucket per step (``nervosum-converge-<graph>-<step>``) holds ``g.<key>``, the open
group (when its first part came, and its parts), and ``d.<key>`` once the group was
emitted; keys are base64url-encoded, as KV keys allow few characters. A part is added
by compare-and-set on the group's revision, so replicas adding parts of one key at once
never lose one. Completing a group publishes the merged message with a ``Nats-Msg-Id``
made of the step and the key, then marks the key done: a process killed between the two
publishes again after redelivery, and JetStream drops the copy (within the stream's
duplicate window, two minutes by default), so the group is emitted once. ``d.<key>``
holds each part's digest, to tell a redelivered part from a late new message. An
expired group is forgotten by deleting it at the revision read, so a part that came
meanwhile keeps it open.
"""

from __future__ import annotations

import base64
import time
from typing import Any

import orjson

from nervosum.graph.converge import Added, ConvergeStore, Emit, Message, Stale, State, digest
from nervosum.jsonio import dumps
from nervosum.stream.nats import NatsTransport
from nervosum.stream.transport import Outgoing


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

    async def add(self, key: str, part: str, message: Message, expect: int) -> Added:
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
        parts: dict[str, Message] = group["parts"]
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
