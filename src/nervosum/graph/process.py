"""One step's handling of one message, shared by every way a graph runs (in one
process, over a transport, behind HTTP).

A message is a JSON object carrying the graph's partition key. One that is not JSON,
not an object, lacks the key, or makes the step fail becomes a dead letter naming the
step, the reason and the payload; the step goes on with the next message. A converge
step stores the message as a part of its key's group and, when the group is complete,
merges it, runs its methods on the merged message and emits once. A project step predicts
the messages read together in one model call (:meth:`StepProcessor.handle_many`).
"""

from __future__ import annotations

import asyncio
import json
import math
import time
from collections.abc import Awaitable, Callable, Sequence
from concurrent.futures import Executor
from dataclasses import dataclass
from typing import Any, NamedTuple

import orjson

from nervosum.brokers.converge import ConvergeStore, Emit, Stale, State
from nervosum.config.types import Record
from nervosum.errors import NervosumError, RequestError, StepError
from nervosum.graph.converge import ordered, part_id
from nervosum.graph.spec import GraphSpec, Step
from nervosum.graph.step import Message, StepCode, route
from nervosum.jsonio import dumps, loads
from nervosum.predlog.events import Exchange
from nervosum.stream.letters import DeadLetter


def non_finite(value: Any, path: str = "") -> tuple[str, float] | None:
    """The path and value of the first NaN or infinite number in ``value``, if any."""
    if isinstance(value, float) and not math.isfinite(value):
        return path or "the message", value
    items = (
        value.items()
        if isinstance(value, dict)
        else enumerate(value)
        if isinstance(value, list)
        else ()
    )
    for key, item in items:
        found = non_finite(item, f"{path}.{key}" if path else str(key))
        if found is not None:
            return found
    return None


def not_json(payload: bytes, error: Exception) -> str:
    """Why ``payload`` is not JSON: a ``NaN``, ``Infinity`` or ``1e400`` (JSON has none;
    a number past the float range is infinite) is named by its field."""
    try:
        found = non_finite(loads(payload, allow_inf_nan=True))
    except ValueError:
        found = None
    if found is None:
        return f"not JSON: {error}"
    path, number = found
    return f"not JSON: {path} is {json.dumps(number)}, which JSON cannot hold"


class Rejected(Exception):
    """This message goes to the dead letter with ``error`` (and ``payload`` instead of
    the message received, when given)."""

    def __init__(
        self, error: NervosumError, key: str | None = None, payload: bytes | None = None
    ) -> None:
        super().__init__(str(error))
        self.error = error
        self.key = key
        self.payload = payload


Send = Callable[[list[Emit]], Awaitable[None]]


class Read(NamedTuple):
    """A message as read: its bytes, where it was, how often it was delivered."""

    payload: bytes
    position: str
    attempts: int = 1


@dataclass(frozen=True)
class Routed:
    """A step's result for the declared streams it goes to, and the undeclared ones
    it was meant for too (an iguazioig file may name them: the seed logged such
    messages as undeliverable; here they become a dead letter holding the result)."""

    emits: list[Emit]
    undeclared: list[str]
    payload: bytes  # the result's JSON

    def check_delivered(self, key: str) -> None:
        """:class:`Rejected` with the result when it was meant for undeclared streams."""
        if self.undeclared:
            names = ", ".join(map(repr, self.undeclared))
            what = "stream" if len(self.undeclared) == 1 else "streams"
            error = StepError(
                f"undeliverable: output {what} {names} not declared in v3io_streams;"
                " the step's result (the payload) was not written there"
            )
            raise Rejected(error, key, self.payload)


class StepProcessor:
    """Applies one step to messages read from its inputs."""

    def __init__(
        self,
        spec: GraphSpec,
        step: Step,
        code: StepCode,
        *,
        send: Send,
        store: ConvergeStore | None = None,
        executor: Executor | None = None,
    ) -> None:
        """``executor`` runs the user's code (one thread, so a class need not be thread
        safe); without one it runs inline."""
        if step.converge is not None and store is None:
            raise ValueError(f"converge step {step.name!r} needs a store")
        self.spec = spec
        self.step = step
        self.code = code
        self.send = send
        self.store = store
        self.executor = executor
        self.filtered = 0  # messages a method returned None for
        self.emitted = 0  # messages written to output streams

    def parse(self, payload: bytes) -> tuple[Message, str]:
        """The message and its partition key, or :class:`Rejected`."""
        try:
            message = orjson.loads(payload)
        except orjson.JSONDecodeError as exc:
            raise Rejected(RequestError(not_json(payload, exc))) from None
        if not isinstance(message, dict):
            kind = type(message).__name__
            raise Rejected(RequestError(f"a message must be a JSON object, not {kind}"))
        key = message.get(self.spec.partition_key)
        if key is None or isinstance(key, dict | list):
            raise Rejected(
                RequestError(
                    f"no partition key: the message has no {self.spec.partition_key!r} field"
                    " (a string or number)"
                )
            )
        return message, str(key)

    async def handle(
        self, source: str, payload: bytes, position: str, attempts: int = 1
    ) -> DeadLetter | None:
        """Process one message (read ``attempts`` times); the dead letter if it cannot be."""
        key = None
        try:
            message, key = self.parse(payload)
            await self._process(source, position, message, key)
        except (Rejected, NervosumError) as exc:
            return self._failed(exc, Read(payload, position, attempts), source, key)
        return None

    async def handle_many(self, source: str, items: Sequence[Read]) -> list[DeadLetter]:
        """Process messages read together, in order; the dead letters. A project step
        that does not converge predicts them in one model call (split until only the
        failing messages fail, as a stream worker's batch)."""
        if self.code.engine is None or self.step.converge is not None:
            found = [await self.handle(source, *item) for item in items]
            return [letter for letter in found if letter is not None]
        letters: dict[int, DeadLetter] = {}  # by the message's place in ``items``
        parsed: list[tuple[int, Message, str]] = []
        for index, item in enumerate(items):
            try:
                message, key = self.parse(item.payload)
            except Rejected as exc:
                letters[index] = self._failed(exc, item, source, None)
                continue
            parsed.append((index, message, key))
        entries = [(items[index].position, message) for index, message, _ in parsed]
        results = await self._predicted(entries)
        for (index, message, key), result in zip(parsed, results, strict=True):
            try:
                if isinstance(result, NervosumError):
                    raise result
                await self._deliver(self._routed(result, message, key), key)
            except (Rejected, NervosumError) as exc:
                letters[index] = self._failed(exc, items[index], source, key)
        return [letters[index] for index in sorted(letters)]

    def _failed(
        self, exc: Rejected | NervosumError, item: Read, source: str, key: str | None
    ) -> DeadLetter:
        if isinstance(exc, NervosumError):
            return self.letter(
                exc, source, item.position, item.payload, key=key, attempts=item.attempts
            )
        body = item.payload if exc.payload is None else exc.payload
        return self.letter(
            exc.error, source, item.position, body, key=exc.key or key, attempts=item.attempts
        )

    def letter(
        self,
        error: NervosumError,
        source: str,
        position: str,
        payload: bytes,
        *,
        key: str | None = None,
        attempts: int = 1,
    ) -> DeadLetter:
        return DeadLetter(error, source, position, payload, attempts, key, self.step.name)

    async def _process(self, source: str, position: str, message: Message, key: str) -> None:
        converge = self.step.converge is not None and self.store is not None
        if converge:
            assert self.store is not None
            part = part_id(self.step, source, position)
            added = await self.store.add(key, part, message, self.step.expected)
            if added.state is State.LATE:
                late = f"converge group for key {key!r} was already emitted or expired"
                raise Rejected(StepError(late))
            if added.state is State.TAKEN:
                raise Rejected(
                    StepError(
                        f"the open converge group for key {key!r} already holds a different"
                        f" message from {source!r}"
                    )
                )
            if added.state is not State.COMPLETE:
                return  # waiting for more parts, or a redelivered part of a done group
            try:
                merged = await self._call(self.code.merge, ordered(self.step, added.parts))
                routed = await self._run(merged, key, position)
            except NervosumError:
                await self.store.complete(key, [])  # one dead letter closes the group
                raise
            if await self.store.complete(key, routed.emits):
                self.emitted += len(routed.emits)
                routed.check_delivered(key)
            return
        await self._deliver(await self._run(message, key, position), key)

    async def _deliver(self, routed: Routed, key: str) -> None:
        if routed.emits:
            await self.send(routed.emits)
            self.emitted += len(routed.emits)
        routed.check_delivered(key)

    async def _run(self, message: Message, key: str, position: str) -> Routed:
        """The step on ``message``: what to write where (nothing if filtered)."""
        if self.code.engine is not None:
            (result,) = await self._predicted([(position, message)])
            if isinstance(result, NervosumError):
                raise result
            return self._routed(result, message, key)
        return self._routed(await self._call(self.code.run, message), message, key)

    async def _predicted(
        self, entries: Sequence[tuple[str, Message]]
    ) -> list[Message | NervosumError]:
        """A project step's messages (with their positions) predicted in one model call
        of its runtime: each with the model's outputs added, or its error; each logged
        when the project's prediction log is on."""
        runtime = self.code.runtime
        assert runtime is not None, "not a project step"
        started = time.perf_counter()
        route = f"{self.spec.slug}/{self.step.name}"
        outcomes: list[Message | NervosumError] = []
        records: list[Record] = []
        waiting: list[int] = []  # the outcomes the model answers
        logged: list[Record] = []
        for position, message in entries:
            try:
                records.append(self.code.record_of(message))
                waiting.append(len(outcomes))
                outcomes.append(message)
            except StepError as exc:
                outcomes.append(exc)
                failed = Exchange(position, route, started)
                # The validation error itself: the log withholds its fields' values as for
                # any rejected request when logging.inputs is false.
                cause = exc.__cause__ if isinstance(exc.__cause__, NervosumError) else exc
                logged += runtime.failed_records(failed, cause, message)
        answers = await runtime.predict_groups([[r] for r in records], proba=False)
        for index, record, answer in zip(waiting, records, answers, strict=True):
            exchange = Exchange(entries[index][0], route, started, inputs=[record])
            if isinstance(answer, NervosumError):
                outcomes[index] = self.code.model_failed(answer)
                logged += runtime.failed_records(exchange, answer, record)
                continue
            exchange.outputs = answer
            outcomes[index] = {**entries[index][1], **answer[0]}
            logged += runtime.answered_records(exchange)
        runtime.log(logged)
        return outcomes

    def _routed(self, result: Message | None, message: Message, key: str) -> Routed:
        """Where ``result`` goes (nowhere when a method filtered the message out)."""
        if result is None:
            self.filtered += 1
            return Routed([], [], b"")
        result.setdefault(self.spec.partition_key, message.get(self.spec.partition_key, key))
        try:
            streams = route(self.step, result)
            payload = dumps(result)
        except Exception as exc:  # a `when` on an array, an int JSON cannot hold
            raise StepError(
                f"step {self.step.name!r}: its result cannot be routed or written:"
                f" {type(exc).__name__}: {exc}"
            ) from exc
        emits = [Emit(s, key, result, payload) for s in streams if s in self.spec.streams]
        undeclared = [s for s in streams if s not in self.spec.streams]
        return Routed(emits, undeclared, payload)

    async def _call(self, function: Callable[[Any], Any], argument: Any) -> Any:
        if self.executor is None:
            return function(argument)
        return await asyncio.get_running_loop().run_in_executor(self.executor, function, argument)

    async def expire(self, *, ended: bool = False) -> list[tuple[DeadLetter, Stale]]:
        """Converge groups past their timeout (every open group once the input
        ``ended``), each with its dead letter; write the letters, then :meth:`forget`."""
        if self.store is None or self.step.converge is None:
            return []
        timeout = 0.0 if ended else self.step.converge.timeout
        when = "when the input ended" if ended else f"after {timeout:g} s"
        found = []
        for stale in await self.store.expired(timeout):
            reason = (
                f"converge group incomplete {when}:"
                f" {len(stale.parts)} of {self.step.expected} messages"
            )
            source = ",".join(self.step.inputs)
            parts = dumps(stale.parts)
            letter = self.letter(StepError(reason), source, "", parts, key=stale.key)
            found.append((letter, stale))
        return found

    async def forget(self, stale: list[Stale]) -> None:
        """Drop expired groups whose dead letters are written."""
        if self.store is not None:
            for group in stale:
                await self.store.forget(group)
