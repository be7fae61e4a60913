"""Converge groups in a NATS JetStream key-value bucket, next to the streams.

One bucket per step (``nervosum-converge-<graph>-<step>``) holds ``p.<key>.<part>`` for
each stored part, ``s.<key>`` (when the group's first part came) and ``d.<key>`` once the
group was emitted; keys and parts are base64url-encoded, as KV keys allow few
characters. Completing a group publishes the merged message with a ``Nats-Msg-Id``
made of the step and the key, then marks the key done: a process killed between the two
publishes again after redelivery, and JetStream drops the copy (within the stream's
duplicate window, two minutes by default), so the group is emitted once. An expired
group is claimed by deleting ``s.<key>`` at the revision read, so one replica takes it.
"""

from __future__ import annotations

import base64
import contextlib
import time
from typing import Any

import orjson

from nervosum.graph.converge import Added, ConvergeStore, Emit, Message, State
from nervosum.stream.nats import NatsTransport
from nervosum.stream.transport import Outgoing


def _code(text: str) -> str:
    return base64.urlsafe_b64encode(text.encode()).decode().rstrip("=")


def _text(code: str) -> str:
    return base64.urlsafe_b64decode(code + "=" * (-len(code) % 4)).decode()


def _parts(entries: dict[str, Any]) -> dict[str, Message]:
    """Part id -> message, from ``p.<key>.<part>`` entries."""
    return {_text(name.rsplit(".", 1)[1]): orjson.loads(e.value) for name, e in entries.items()}


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

    async def _exists(self, key: str) -> bool:
        from nats.js.errors import KeyNotFoundError

        try:
            await self.kv.get(key)
        except KeyNotFoundError:
            return False
        return True

    async def _entries(self, pattern: str) -> dict[str, Any]:
        """The live entries whose keys match ``pattern`` (a subject wildcard, filtered
        by the server; the client's ``keys(filters=...)`` matches substrings)."""
        watcher = await self.kv.watch(pattern, ignore_deletes=True)
        found: dict[str, Any] = {}
        try:
            async for entry in watcher:
                if entry is None:
                    break  # what was stored when the watch began has been seen
                found[entry.key] = entry
        finally:
            await watcher.stop()
        return found

    async def add(self, key: str, part: str, message: Message, expect: int) -> Added:
        from nats.js.errors import KeyWrongLastSequenceError

        code = _code(key)
        if await self._exists(f"d.{code}"):
            return Added(State.DONE, {})
        await self.kv.put(f"p.{code}.{_code(part)}", orjson.dumps(message))
        with contextlib.suppress(KeyWrongLastSequenceError):  # an earlier part opened it
            await self.kv.create(f"s.{code}", str(time.time()).encode())
        stored = await self._entries(f"p.{code}.*")
        if len(stored) < expect:
            return Added(State.WAITING, {})
        return Added(State.COMPLETE, _parts(stored))

    async def complete(self, key: str, emits: list[Emit]) -> bool:
        code = _code(key)
        if await self._exists(f"d.{code}"):
            return False
        for index, emit in enumerate(emits):
            dedup = f"{self.ident}:{key}:{index}"
            outgoing = Outgoing(key.encode(), orjson.dumps(emit.message), dedup=dedup)
            await self.transport.write(self.names[emit.stream], [outgoing])
        await self.kv.put(f"d.{code}", b"1")
        await self._forget(code)
        return True

    async def _forget(self, code: str) -> None:
        for name in await self._entries(f"p.{code}.*"):
            await self.kv.purge(name)
        await self.kv.purge(f"s.{code}")

    async def expired(self, timeout: float) -> list[tuple[str, list[Message]]]:
        from nats.js.errors import KeyWrongLastSequenceError

        cutoff = time.time() - timeout
        taken = []
        for name, entry in (await self._entries("s.*")).items():
            if not entry.value or float(entry.value) > cutoff:
                continue
            try:
                await self.kv.delete(name, last=entry.revision)
            except KeyWrongLastSequenceError:
                continue  # another replica claimed it
            code = name[2:]
            parts = list(_parts(await self._entries(f"p.{code}.*")).values())
            await self._forget(code)
            taken.append((_text(code), parts))
        return taken
