"""Poison messages on real brokers (issue 20, item 4): a message JSON cannot hold
(``NaN``, ``Infinity``, ``1e400`` inside an array), or of the wrong shape, used to kill
the worker with nothing acknowledged, so every consumer of the group crash-looped on it.
Each one must become a dead letter with its reason while the messages around it are
answered, everything is acknowledged and the worker keeps running."""

from __future__ import annotations

import asyncio
import json
import signal
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from nervosum.brokers.addresses import parse_endpoint
from nervosum.brokers.schemes import open_transport
from nervosum.config.spec import MetricsSpec
from nervosum.config.types import Record
from nervosum.engine import Engine
from nervosum.predict.runtime import ModelRuntime
from nervosum.project import load_config
from nervosum.schema.records import RecordSchema
from nervosum.stream.metrics import StreamMetrics
from nervosum.stream.runtime import StreamSettings, StreamWorker
from tests.conftest import ProjectFactory
from tests.integration import test_stream
from tests.integration.test_stream import Streams, worker
from tests.services.brokers import Broker, Item, RedisBroker, running

pytestmark = pytest.mark.slow  # real brokers and worker processes

streams = test_stream.streams


@pytest.fixture(scope="module", params=["redis", "nats"])
def broker(request: pytest.FixtureRequest) -> Iterator[Broker]:
    """Redis and NATS; Kafka gets the same poison shapes in test_hostile_corpus.py (a
    worker joining the mock cluster's group costs ~20 s, so once is enough)."""
    with running(request.param) as started:
        yield started


GOOD_BEFORE = (b"good-1", b'{"key": "g1", "x": 1}')
GOOD_AFTER = (b"good-2", b'{"key": "g2", "x": 2}')

# (message key, payload, what its dead letter's reason must say)
POISON: list[tuple[bytes, bytes, str]] = [
    (b"nan-in-array", b'[{"key": "a", "x": 1}, {"key": "b", "x": NaN}]', "1.x"),
    (b"inf-in-array", b'[{"key": "c", "x": Infinity}]', "0.x"),
    (b"1e400-in-array", b'[{"key": "d", "x": 3}, {"key": "e", "x": 1e400}]', "1.x"),
    (b"nan-alone", b'{"key": "f", "x": NaN}', "x"),
    (b"numbers", b"[1, 2]", "JSON object"),
    (b"number", b"5", "JSON object"),
    (b"bad-utf8", b'{"key": "\xff\xfe", "x": 1}', "not valid JSON"),
    (b"deep", b"[" * 5000 + b"]" * 5000, "not valid JSON"),
    # escaped into its letter this would pass the 1 MB message limit of NATS and Kafka:
    # the letter's write failed and was retried forever, nothing acknowledged
    (b"quotes", b'"' * 600_000, "not valid JSON"),
]


def _answers(items: list[Item]) -> dict[bytes | None, object]:
    return {key: json.loads(payload) for key, payload in items}


def test_poison_messages_are_dead_lettered_and_the_worker_goes_on(
    doubler: Path, broker: Broker, streams: Streams
) -> None:
    poison = [(key, payload) for key, payload, _reason in POISON]
    with worker(doubler, broker, streams) as alive:
        broker.put(streams.source, [GOOD_BEFORE, *poison, GOOD_AFTER])
        out = broker.take_until(streams.sink, 2)
        letters = broker.take_until(streams.dead, len(POISON))
        assert alive.process.poll() is None, alive.output()
        assert alive.metric("read") == len(POISON) + 2
        # still serving after the poison: a later good message is answered too
        broker.put(streams.source, [(b"good-3", b'{"key": "g3", "x": 3}')])
        out = broker.take_until(streams.sink, 3)
        alive.process.send_signal(signal.SIGTERM)
        assert alive.process.wait(timeout=30) == 0, alive.output()
        assert "every message read was acknowledged" in alive.output()
    assert _answers(out) == {
        b"good-1": {"key": "g1", "y": 2.0},
        b"good-2": {"key": "g2", "y": 4.0},
        b"good-3": {"key": "g3", "y": 6.0},
    }
    found = {key: json.loads(payload) for key, payload in letters}
    assert set(found) == {key for key, _payload, _reason in POISON}
    for key, _payload, reason in POISON:
        letter = found[key]
        assert reason in letter["reason"], (key, letter["reason"])
        assert letter["error"]["type"] in {"validation_error", "bad_request"}, letter
        assert letter["position"] and letter["attempts"] == 1
    assert found[b"quotes"]["payload_bytes"] == 600_000
    assert len(found[b"quotes"]["payload"]) == 64 * 1024
    # acknowledged: a new member of the group gets none of them again
    with worker(doubler, broker, streams) as second:
        time.sleep(2.5)  # past --idle-ms 1500: anything unacknowledged would be taken over
        assert second.metric("read") == 0
    assert len(broker.take(streams.sink)) == 3
    assert len(broker.take(streams.dead)) == len(POISON)


ECHO = """
    name: Echo
    model: {module: echo, class: Echo}
    """

ECHO_CODE = """
    class Echo:
        def predict(self, frame):
            return [{"score": 0.5, "echo": v} for v in frame["v"].tolist()]
    """


def test_an_output_json_cannot_hold_is_dead_lettered(
    make_project: ProjectFactory, streams: Streams
) -> None:
    """A schema-less model echoing an integer past 64 bits: writing its output raised in
    the worker, which died with the batch unacknowledged. (The echo is not the predicted
    value: the prediction metrics' own encoding of such a value is observe/'s.)"""
    echo = make_project(ECHO, {"echo.py": ECHO_CODE})
    huge = b'{"v": ' + b"9" * 30 + b"}"
    with running("redis") as broker, worker(echo, broker, streams) as alive:
        broker.put(
            streams.source, [(b"before", b'{"v": 1}'), (b"huge", huge), (b"after", b'{"v": 2}')]
        )
        out = broker.take_until(streams.sink, 2)
        (letter,) = broker.take_until(streams.dead, 1)
        assert alive.process.poll() is None, alive.output()
        assert isinstance(broker, RedisBroker)
        assert broker.db.xpending(streams.source, "nervosum-Echo")["pending"] == 0
    assert _answers(out) == {
        b"before": {"score": 0.5, "echo": 1},
        b"after": {"score": 0.5, "echo": 2},
    }
    found = json.loads(letter[1])
    assert letter[0] == b"huge" and found["error"]["type"] == "model_output"
    assert "cannot be written as JSON: Integer exceeds 64-bit range" in found["reason"]


def test_a_reader_bug_costs_its_message_not_the_worker(
    doubler: Path, streams: Streams, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Reading a message can fail in a way nobody foresaw (before issue 20, ``NaN`` in an
    array raised orjson's ValueError out of the schema): that message is dead-lettered
    with the error, the others are answered and everything is acknowledged."""
    parse = RecordSchema.parse_json

    def unforeseen(self: RecordSchema, body: bytes) -> tuple[list[Record], bool]:
        if b"NaN" in body:
            raise ValueError("unexpected character, expected a JSON value")
        return parse(self, body)

    monkeypatch.setattr(RecordSchema, "parse_json", unforeseen)
    messages = [GOOD_BEFORE, (b"poison", b'[{"key": "p", "x": NaN}]'), GOOD_AFTER]
    with running("redis") as broker:
        assert isinstance(broker, RedisBroker)
        broker.put(streams.source, messages)
        source = parse_endpoint(broker.url(streams.source), "--source")
        settings = StreamSettings(
            sink=streams.sink, dead_letter=streams.dead, source_label=str(source)
        )
        metrics = StreamMetrics("Doubler", MetricsSpec())
        engine = Engine.load(load_config(doubler))
        runtime = ModelRuntime(
            engine.project, metrics.predictions, metrics.predlog, runtime="stream", batching=False
        )
        runtime.serve(engine)
        reading = StreamWorker(
            runtime, open_transport(source, "poison-group", idle_ms=1500), settings, metrics
        )

        async def until_all_out() -> None:
            task = asyncio.create_task(reading.run())
            try:
                while len(broker.take(streams.sink)) + len(broker.take(streams.dead)) < 3:
                    assert not task.done(), task
                    await asyncio.sleep(0.05)
                reading.stop()
                await task
            finally:
                await runtime.close()

        asyncio.run(asyncio.wait_for(until_all_out(), 30))
        out, letters = broker.take(streams.sink), broker.take(streams.dead)
        assert broker.db.xpending(streams.source, "poison-group")["pending"] == 0
    assert set(_answers(out)) == {b"good-1", b"good-2"}
    (letter,) = [json.loads(payload) for _key, payload in letters]
    assert letter["reason"].startswith(
        "the message could not be read: ValueError: unexpected character, expected a JSON value"
    )
