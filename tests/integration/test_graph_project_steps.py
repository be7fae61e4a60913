"""A graph step that is a nervosum project runs in the prediction runtime every front end
uses: the messages read together are predicted in one model call, a failing call is split
until only the failing messages fail, the calls and predictions are counted in the step's
metrics, and the project's prediction log gets a record per message."""

from __future__ import annotations

import asyncio
import json
import textwrap
from pathlib import Path

import orjson
from prometheus_client.parser import text_string_to_metric_families

from nervosum.brokers.converge import Emit
from nervosum.graph.load import load_graph
from nervosum.graph.local import GraphCode
from nervosum.graph.process import Read, StepProcessor
from nervosum.observe.merge import merged_exposition
from nervosum.stream.letters import DeadLetter

MODEL = """
import pandas as pd

CALLS = []


class Doubler:
    def predict(self, frame):
        CALLS.append(len(frame))
        if (frame["x"] == 13).any():
            raise ValueError("13 is unlucky")
        return pd.DataFrame({"doubled": frame["x"] * 2})
"""

PROJECT = """
name: doubler
model: {module: model, class: Doubler}
input_schema:
  - {name: x, type: float}
output_schema:
  - {name: doubled, type: float}
logging:
  sinks: [{type: jsonl, path: LOG}]
"""

GRAPH = """
graph: doubling
streams: {requests: {}, doubled: {}}
steps:
  - {name: double, inputs: [requests], project: doubler, outputs: [doubled]}
"""


def write(folder: Path) -> Path:
    (folder / "doubler").mkdir(parents=True)
    (folder / "doubler" / "model.py").write_text(textwrap.dedent(MODEL))
    project = textwrap.dedent(PROJECT).replace("LOG", str(folder / "predictions.jsonl"))
    (folder / "doubler" / "nervosum.yaml").write_text(project)
    (folder / "graph.yaml").write_text(textwrap.dedent(GRAPH))
    return folder / "graph.yaml"


def test_messages_read_together_are_one_call_and_only_the_failing_ones_fail(
    tmp_path: Path,
) -> None:
    code = GraphCode(load_graph(write(tmp_path)))
    step = code.spec.steps[0]
    sent: list[Emit] = []

    async def send(emits: list[Emit]) -> None:
        sent.extend(emits)

    processor = StepProcessor(code.spec, step, code.codes["double"], send=send)
    bodies: list[dict[str, object]] = [
        {"PartitionKey": str(i), "x": x} for i, x in enumerate([1, 2, 13, 4])
    ]
    bodies.insert(3, {"x": 5})  # no partition key: refused before the model, in its place
    bodies.append({"PartitionKey": "bad", "x": "not a number"})
    reads = [Read(orjson.dumps(body), f"#{i}") for i, body in enumerate(bodies)]

    async def run() -> list[DeadLetter]:
        await code.start()
        try:
            return await processor.handle_many("requests", reads)
        finally:
            await code.close()

    letters = asyncio.run(run())

    assert [(e.key, e.message["doubled"]) for e in sent] == [("0", 2.0), ("1", 4.0), ("3", 8.0)]
    assert [(letter.position, letter.error.code) for letter in letters] == [
        ("#2", "step_failed"),
        ("#3", "bad_request"),
        ("#5", "step_failed"),
    ]
    assert "the model failed" in letters[0].reason
    assert "x" in letters[2].reason
    import model  # type: ignore[import-not-found]  # the project's module, as the step loaded it

    assert model.CALLS[0] == 4  # the four valid messages went to the model together

    page = merged_exposition(code.registries()).decode()
    samples = {
        (sample.name, tuple(sorted(sample.labels.items()))): sample.value
        for family in text_string_to_metric_families(page)
        for sample in family.samples
    }
    assert samples[("nervosum_processing_seconds_count", (("model", "doubler"),))] == 1
    predicted = {
        name: value for (name, _), value in samples.items() if name == "nervosum_predictions_count"
    }
    assert predicted == {"nervosum_predictions_count": 3.0}

    logged = [
        json.loads(line) for line in (tmp_path / "predictions.jsonl").read_text().splitlines()
    ]
    statuses = sorted((record["id"], record["status"]) for record in logged)
    assert statuses == [("#0", "ok"), ("#1", "ok"), ("#2", "error"), ("#4", "ok"), ("#5", "error")]
    assert {record["runtime"] for record in logged} == {"graph"}


def test_graph_serve_logs_each_request_under_its_own_ids(tmp_path: Path) -> None:
    """Positions under ``graph serve`` start with the request's id, so two requests'
    prediction-log records never share an ``id`` (evaluate joins labels on it)."""
    from starlette.testclient import TestClient

    from nervosum.graph.http import create_graph_app

    app = create_graph_app(GraphCode(load_graph(write(tmp_path))))
    with TestClient(app) as client:
        answers = [client.post("/predict", json={"x": x}) for x in (1, 2)]
    assert [a.status_code for a in answers] == [200, 200]
    logged = [
        json.loads(line) for line in (tmp_path / "predictions.jsonl").read_text().splitlines()
    ]
    assert len(logged) == 2
    assert len({record["id"] for record in logged}) == 2
    for record, answer in zip(logged, answers, strict=True):
        assert record["id"].startswith(answer.headers["x-request-id"])
