"""Poison messages in a graph (issue 20, item 4): a message JSON cannot hold (``NaN``,
``Infinity``, ``1e400``), of the wrong shape, not UTF-8, nested past any parser's
depth, or too large for a broker's dead letter: each step that reads it dead-letters it
with the reason (a non-finite number by its field), the messages around it are answered,
everything is acknowledged and the steps keep running. Locally, on Redis and on NATS."""

from __future__ import annotations

import json
import signal
import time
from collections import Counter
from pathlib import Path

import pytest

from tests.integration import test_graph_run
from tests.integration.test_graph_run import (
    GOOD,
    check_results,
    good,
    graph_run,
    messages_in,
    put,
    steps_running,
    wait_for,
)
from tests.services.brokers import RedisBroker, running

pytestmark = pytest.mark.slow  # real brokers and worker processes

graph_file = test_graph_run.graph_file  # the same graph and step code

# (payload, what the reason of its dead letters says)
POISON: list[tuple[bytes, str]] = [
    (b'{"PartitionKey": "p1", "value": 1, "score": NaN}', "not JSON: score is NaN"),
    (b'{"PartitionKey": "p2", "value": 1, "deep": {"x": [1, 1e400]}}', "deep.x.1 is Infinity"),
    (b'{"PartitionKey": "p3", "value": -Infinity}', "value is -Infinity"),
    (b"[1, 2]", "must be a JSON object, not list"),
    (b"5", "must be a JSON object, not int"),
    (b'{"PartitionKey": "p4", "value": "\xff\xfe"}', "not JSON"),
    (b"[" * 5000 + b"]" * 5000, "not JSON"),
    (b'"' * 600_000, "not JSON"),
]


def _check_letters(letters: list[dict[str, object]]) -> None:
    """Each poison message dead-lettered once by each of the two steps reading requests."""
    for payload, reason in POISON:
        mine = [
            x for x in letters if str(x["payload"]) == payload[:65536].decode("utf-8", "replace")
        ]
        assert Counter(str(x["step"]) for x in mine) == {"prepare": 1, "audit": 1}, reason
        for letter in mine:
            assert reason in str(letter["reason"]), (reason, letter["reason"])
    assert len(letters) == 2 * len(POISON)


def _messages() -> list[bytes]:
    fine = good(GOOD)
    return fine[:6] + [payload for payload, _reason in POISON] + fine[6:]


def test_poison_messages_are_dead_lettered_locally(graph_file: Path, tmp_path: Path) -> None:
    source = tmp_path / "in.jsonl"
    source.write_bytes(b"\n".join(_messages()) + b"\n")
    out = tmp_path / "results.jsonl"
    done = graph_run(graph_file, "--local", "--input", str(source), "--output", str(out))
    assert done.returncode == 0, done.stderr
    check_results([json.loads(line)["message"] for line in out.read_text().splitlines()], GOOD)
    dead = out.with_name("results.dead-letter.jsonl")
    _check_letters([json.loads(line) for line in dead.read_text().splitlines()])


@pytest.mark.parametrize("scheme", ["redis", "nats"])
def test_poison_messages_are_dead_lettered_on_a_broker(graph_file: Path, scheme: str) -> None:
    with running(scheme) as broker, steps_running(graph_file, broker) as steps:
        put(broker, _messages())
        wait_for(broker, "orders.results", GOOD)
        wait_for(broker, "orders.dead-letter", 2 * len(POISON))
        time.sleep(1)  # nothing more arrives
        assert steps.poll() is None
        check_results(messages_in(broker, "orders.results"), GOOD)
        _check_letters(messages_in(broker, "orders.dead-letter"))
        if isinstance(broker, RedisBroker):
            for group in ("prepare", "audit"):
                assert broker.db.xpending("orders.requests", group)["pending"] == 0
        steps.send_signal(signal.SIGTERM)
        assert steps.wait(30) == 0
