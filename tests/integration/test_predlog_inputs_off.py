"""``logging.inputs: false`` keeps everything the client sent out of the prediction log,
failure records included, in every runtime that logs (issue 20, item 6: a 422's record
kept the raw body and stream dead letters their payload)."""

from __future__ import annotations

import json
import signal
import uuid
from pathlib import Path

import pytest
from starlette.testclient import TestClient

from nervosum.engine import Engine
from nervosum.project import load_config
from nervosum.repo.sources import LocalSource
from nervosum.serving.app import create_app
from tests.conftest import DOUBLER, DOUBLER_CODE, ProjectFactory
from tests.integration.test_serve_repo import repo_client, wait_started
from tests.integration.test_stream import Streams, inputs, worker
from tests.services.brokers import running

MARKER = "SECRET-7f3a"
CONFIG = """
name: picky
id_field: key
model: {{module: picky, class: Picky}}
input_schema:
  - {{name: x, type: float}}
  - {{name: note, type: str, required: false}}
logging:
  inputs: {inputs}
  sinks:
    - {{type: jsonl, path: '{path}'}}
"""
CODE = """
from nervosum import InvalidInputError


class Picky:
    def predict(self, frame):
        if (frame["x"] == 7).any():
            raise InvalidInputError(f"cannot score note {frame['note'].iloc[0]}", field="note")
        if (frame["x"] == 13).any():
            raise ValueError("unlucky")
        return frame["x"] * 2
"""
V2_BAD = {"inputs": [{"name": "x", "shape": [1], "datatype": "BYTES", "data": [MARKER]}]}


def _exercise(client: TestClient) -> list[int]:
    """A prediction and each kind of failure, every one carrying the marker."""
    answers = [
        client.post("/predict", json={"key": "k1", "x": 1, "note": MARKER}),
        client.post("/predict", json={"x": MARKER}),
        client.post("/predict", json={"x": 1, MARKER: 2}),
        client.post(
            "/predict", content=f'{{"{MARKER}"', headers={"content-type": "application/json"}
        ),
        client.post("/predict", json={"x": 7, "note": MARKER}),
        client.post("/predict", json={"x": 13, "note": MARKER}),
        client.post("/v2/models/picky/infer", json=V2_BAD),
    ]
    return [answer.status_code for answer in answers]


@pytest.mark.parametrize("logged", [True, False])
def test_http_failure_records_keep_no_request_content(
    make_project: ProjectFactory, tmp_path: Path, logged: bool
) -> None:
    log = tmp_path / "predictions.jsonl"
    config = CONFIG.format(inputs=str(logged).lower(), path=log)
    project = load_config(make_project(config, {"picky.py": CODE}))
    with TestClient(create_app(project, engine=Engine.load(project))) as client:
        assert _exercise(client) == [200, 422, 422, 400, 422, 500, 422]
    text = log.read_text()
    records = [json.loads(line) for line in text.splitlines()]
    assert [r["status"] for r in records] == ["ok"] + ["error"] * 6
    assert records[0]["id"] == "k1"  # ids are not inputs: kept to join ground truth
    types = [r["error"]["type"] for r in records[1:]]
    assert types == [
        *["validation_error"] * 2,
        "bad_request",
        "invalid_input",
        "prediction_error",
        "validation_error",
    ]
    assert records[5]["error"]["error_id"]  # the server log's traceback stays reachable
    # With inputs on, the marker is logged (so its absence below is not an accident).
    assert (MARKER in text) is logged
    assert all(("request" in r) is logged for r in records[1:])


@pytest.mark.parametrize("logged", [True, False])
def test_serve_repo_failure_records_keep_no_request_content(
    make_project: ProjectFactory, tmp_path: Path, logged: bool
) -> None:
    log = tmp_path / "predictions.jsonl"
    config = CONFIG.format(inputs=str(logged).lower(), path=log)
    folder = make_project(config, {"picky.py": CODE}, name="picky")
    with repo_client(LocalSource(folder.parent)) as client:
        wait_started(client)
        answers = [
            client.post("/models_serve/picky", json={"variables": {"x": MARKER}}),
            client.post("/models_serve/picky", json={"variables": {"x": 7, "note": MARKER}}),
        ]
    assert [answer.status_code for answer in answers] == [422, 422]
    text = log.read_text()
    assert len(text.splitlines()) == 2
    assert (MARKER in text) is logged


def test_stream_dead_letters_keep_no_payload_in_the_log(
    make_project: ProjectFactory, tmp_path: Path
) -> None:
    tag = uuid.uuid4().hex[:8]
    streams = Streams(f"in-{tag}", f"out-{tag}", f"dlq-{tag}")
    log = tmp_path / "predictions.jsonl"
    logging = f"logging: {{inputs: false, sinks: [{{type: jsonl, path: '{log}'}}]}}"
    project = make_project(f"{DOUBLER.rstrip()}\n    {logging}\n", {"doubler.py": DOUBLER_CODE})
    bad = [
        (b"b1", f'{{"x": "{MARKER}"}}'.encode()),
        (b"b2", f'{{"x": 1, "{MARKER}": 2}}'.encode()),
        (b"b3", f"{MARKER}{{".encode()),
    ]
    with running("redis") as broker, worker(project, broker, streams) as stream_worker:
        broker.put(streams.source, [*inputs(2), *bad])
        broker.take_until(streams.sink, 2)
        letters = broker.take_until(streams.dead, 3)
        stream_worker.process.send_signal(signal.SIGTERM)  # flushes the log
        assert stream_worker.process.wait(timeout=30) == 0, stream_worker.output()
    assert all(MARKER in payload.decode() for _key, payload in letters)  # the data path keeps it
    text = log.read_text()
    records = [json.loads(line) for line in text.splitlines()]
    assert sorted(r["status"] for r in records) == ["error"] * 3 + ["ok"] * 2
    assert MARKER not in text
    assert not any("request" in r or "inputs" in r for r in records)
