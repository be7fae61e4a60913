"""`nervosum graph serve` as users run it: the example graph behind HTTP in a real
process. POST /predict carries each message through every step (scored and enriched
branches, joined by PartitionKey), refuses unreadable bodies with the project's error
shape, reports failing steps as dead letters, counts requests on /metrics, and SIGTERM
ends the server cleanly."""

from __future__ import annotations

import re
import signal
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from prometheus_client.parser import text_string_to_metric_families

from tests.conftest import EXAMPLES, LiveServer, free_port, spawned_nervosum, wait_ready

PIPELINE = EXAMPLES / "graph" / "pipeline.yaml"
SPAM = "URGENT winner! Claim your free cash prize"
HAM = "Lunch at noon?"
TRACE = ["preprocess", "predict", "postprocess"]
GENERATED_KEY = re.compile(r"^[0-9a-f]{32}$")
REQUESTS = "nervosum_http_requests_total"


@pytest.fixture(scope="module")
def graph_server() -> Iterator[LiveServer]:
    """One `nervosum graph serve examples/graph/pipeline.yaml` for the module, ready."""
    port = free_port()
    with spawned_nervosum(
        "graph", "serve", str(PIPELINE), "--port", str(port), port=port
    ) as server:
        wait_ready(server, timeout=30)
        yield server


@pytest.fixture
def client(graph_server: LiveServer) -> Iterator[httpx.Client]:
    with graph_server.client() as http:
        yield http


def by_stream(outputs: list[dict[str, Any]]) -> dict[str, list[dict[str, Any]]]:
    found: dict[str, list[dict[str, Any]]] = {}
    for output in outputs:
        found.setdefault(output["stream"], []).append(output)
    return found


def request_counts(text: str) -> dict[str, float]:
    """``POST /predict``'s ``nervosum_http_requests_total`` of the exposition ``text``, by
    status."""
    counts: dict[str, float] = {}
    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            if sample.name == REQUESTS and sample.labels["route"] == "/predict":
                assert sample.labels["model"] == "spam-filter"
                counts[sample.labels["status"]] = sample.value
    return counts


def test_the_server_becomes_ready_and_describes_the_graph(client: httpx.Client) -> None:
    """/health/ready answers 200 once every step's code is loaded; /graph shows the
    entry and final streams of the example."""
    assert client.get("/health/ready").json() == {"status": "ready"}
    assert client.get("/graph").json() == {
        "graph": "spam-filter",
        "entry_streams": ["requests"],
        "final_streams": ["results", "flagged"],
        "steps": ["score", "enrich", "join"],
    }


def test_a_spammy_message_comes_out_on_results_and_flagged(client: httpx.Client) -> None:
    """One message without a PartitionKey gets a generated key, runs the score methods in
    the listed order, is joined with the enrich branch, and, labelled spam, is also
    written to `flagged`."""
    response = client.post("/predict", json={"sender": "promo@example.net", "text": SPAM})

    assert response.status_code == 200, response.text
    body = response.json()
    assert body["dead_letters"] == []
    streams = by_stream(body["outputs"])
    assert list(streams) == ["results", "flagged"]
    [result] = streams["results"]
    [flagged] = streams["flagged"]
    key = result["key"]
    assert GENERATED_KEY.match(key), key
    assert result["message"] == {
        "PartitionKey": key,
        "sender": "promo@example.net",
        "text": SPAM,
        "trace": TRACE,
        "score": 0.714,
        "label": "spam",
        "trusted_sender": False,
    }
    assert (flagged["key"], flagged["message"]) == (key, result["message"])


def test_a_plain_message_keeps_its_key_and_is_not_flagged(client: httpx.Client) -> None:
    """A message with its own PartitionKey keeps it; a ham message reaches `results`
    only."""
    message = {"PartitionKey": "m1", "sender": "alice@example.com", "text": HAM}

    response = client.post("/predict", json=message)

    assert response.status_code == 200, response.text
    [output] = response.json()["outputs"]
    assert (output["stream"], output["key"]) == ("results", "m1")
    assert output["message"]["trace"] == TRACE
    assert (output["message"]["label"], output["message"]["score"]) == ("ham", 0.0)
    assert output["message"]["trusted_sender"] is True


def test_a_list_of_two_messages_gives_outputs_for_both(client: httpx.Client) -> None:
    """A list is run message by message; each gets its own generated key and output."""
    response = client.post(
        "/predict",
        json=[
            {"sender": "bob@example.com", "text": "The report is attached"},
            {"sender": "promo@example.net", "text": SPAM},
        ],
    )

    assert response.status_code == 200, response.text
    body = response.json()
    assert body["dead_letters"] == []
    streams = by_stream(body["outputs"])
    results = streams["results"]
    assert [o["message"]["label"] for o in results] == ["ham", "spam"]
    assert [o["message"]["trace"] for o in results] == [TRACE, TRACE]
    first, second = (o["key"] for o in results)
    assert first != second
    assert all(GENERATED_KEY.match(k) for k in (first, second))
    assert [o["key"] for o in streams["flagged"]] == [second]


def test_a_body_that_is_not_json_is_400_and_the_server_keeps_answering(
    client: httpx.Client,
) -> None:
    """An unreadable body answers 400 with the project's error shape; the next request
    is served."""
    response = client.post(
        "/predict", content=b"{this is not json", headers={"content-type": "application/json"}
    )

    assert response.status_code == 400
    error = response.json()["error"]
    assert error["type"] == "bad_request"
    assert error["message"].startswith("body is not valid JSON")
    after = client.post("/predict", json={"text": HAM})
    assert after.status_code == 200, after.text
    assert [o["stream"] for o in after.json()["outputs"]] == ["results"]


@pytest.mark.parametrize(
    ("body", "where"),
    [(b"42", "the body is int"), (b'[{"text": "hi"}, "hi"]', "item 1 is str")],
)
def test_a_body_that_is_not_a_message_is_400(client: httpx.Client, body: bytes, where: str) -> None:
    """A JSON number, or a list holding a non-object, is refused before any step runs."""
    response = client.post("/predict", content=body, headers={"content-type": "application/json"})

    assert response.status_code == 400
    error = response.json()["error"]
    assert error["type"] == "bad_request"
    assert error["message"] == f"{where}: a message is a JSON object"


def test_values_json_cannot_carry_are_refused_naming_where(client: httpx.Client) -> None:
    """An integer past 64 bits was a plain-text 500; 1e400 became null and was served."""
    json_type = {"content-type": "application/json"}
    huge = b'{"text": "free cash", "n": 123456789012345678901234567890}'
    response = client.post("/predict", content=huge, headers=json_type)
    assert response.status_code == 400, response.text
    assert response.json()["error"]["message"].startswith("the body holds a value JSON")

    infinite = b'[{"text": "hi"}, {"text": "hi", "deep": {"x": [1, 1e400]}}]'
    response = client.post("/predict", content=infinite, headers=json_type)
    assert response.status_code == 422, response.text
    error = response.json()["error"]
    assert error["message"] == "item 1: deep.x.1 is inf, which JSON cannot hold"
    assert error["details"][0]["loc"] == [1, "deep", "x", "1"]


def test_a_message_whose_step_fails_is_422_with_its_dead_letters(client: httpx.Client) -> None:
    """Without `text` the score step's preprocess raises KeyError: the answer is 422 with
    that step's dead letter and join's letter for the group that never completed."""
    response = client.post("/predict", json={"PartitionKey": "bad-1", "sender": "x@example.com"})

    assert response.status_code == 422, response.text
    body = response.json()
    assert body["outputs"] == []
    failed, incomplete = body["dead_letters"]
    assert failed["graph"] == "spam-filter"
    assert (failed["step"], failed["key"], failed["source"]) == ("score", "bad-1", "requests")
    assert failed["reason"] == "step 'score': preprocess() raised KeyError: 'text'"
    assert (incomplete["step"], incomplete["key"]) == ("join", "bad-1")
    assert "incomplete" in incomplete["reason"]
    assert incomplete["reason"].endswith("1 of 2 messages")
    error = body["error"]
    assert error["type"] == "step_failed"
    assert error["message"].startswith("every message was dead-lettered; the first: step 'score'")
    assert [d["loc"] for d in error["details"]] == [["score"], ["join"]]


def test_one_failing_message_of_a_list_does_not_fail_the_others(client: httpx.Client) -> None:
    """A request with a good and a failing message answers 200 with the good one's
    outputs and the failing one's dead letters."""
    response = client.post(
        "/predict",
        json=[{"PartitionKey": "good", "text": HAM}, {"PartitionKey": "bad", "sender": "x"}],
    )

    assert response.status_code == 200, response.text
    body = response.json()
    assert [(o["stream"], o["key"]) for o in body["outputs"]] == [("results", "good")]
    assert [(d["step"], d["key"]) for d in body["dead_letters"]] == [
        ("score", "bad"),
        ("join", "bad"),
    ]


def test_metrics_count_requests_by_status_on_get_and_post(client: httpx.Client) -> None:
    """`nervosum_http_requests_total` counts answered requests by status, on GET and POST
    /metrics alike."""
    before = request_counts(client.get("/metrics").text)

    assert client.post("/predict", json={"text": HAM}).status_code == 200
    assert client.post("/predict", json={"text": SPAM}).status_code == 200
    assert client.post("/predict", json={"sender": "no text"}).status_code == 422
    number = client.post("/predict", content=b"7", headers={"content-type": "application/json"})
    assert number.status_code == 400

    got = client.get("/metrics")
    posted = client.post("/metrics")
    assert got.status_code == posted.status_code == 200
    after = request_counts(got.text)
    assert {status: after[status] - before.get(status, 0.0) for status in after} == {
        "200": 2.0,
        "422": 1.0,
        "400": 1.0,
    }
    assert request_counts(posted.text) == after


def test_sigterm_ends_the_server_with_exit_code_0() -> None:
    """A served graph stops on SIGTERM and exits 0 after answering its requests."""
    port = free_port()
    with spawned_nervosum(
        "graph", "serve", str(PIPELINE), "--port", str(port), port=port
    ) as server:
        wait_ready(server, timeout=30)
        with server.client() as http:
            assert http.post("/predict", json={"text": HAM}).status_code == 200

        server.process.send_signal(signal.SIGTERM)

        assert server.process.wait(timeout=15) == 0, server.output()
        assert "Traceback" not in server.output()


def test_a_step_that_cannot_load_stops_serve_with_exit_2(tmp_path: Path) -> None:
    """The steps load before the server starts: a missing class is one line naming the
    step, exit code 2, no traceback."""
    graph = tmp_path / "graph.yaml"
    graph.write_text(
        "graph: broken\nstreams: {requests: {}, out: {}}\nsteps:\n"
        "  - {name: score, inputs: [requests], outputs: [out], class_module: json,"
        " class_name: Nothing, methods: [go]}\n"
    )
    done = subprocess.run(
        [sys.executable, "-m", "nervosum", "graph", "serve", str(graph), "--port", "0"],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert done.returncode == 2, done.stderr
    assert "step 'score': json has no class 'Nothing'" in done.stderr
    assert "Traceback" not in done.stderr


def test_a_graph_with_several_entries_is_fed_where_into_says(tmp_path: Path) -> None:
    """Two independent pipelines in one file: a request names its entry with ?into=,
    and without it the answer lists the entries instead of feeding both."""
    (tmp_path / "tags.py").write_text(
        "class Tag:\n    def __init__(self, name):\n        self.name = name\n"
        "    def tag(self, message):\n        return {**message, 'by': self.name}\n"
    )
    graph = tmp_path / "graph.yaml"
    graph.write_text(
        "graph: twin\nmodule_paths: [.]\nstreams: {a: {}, b: {}, out_a: {}, out_b: {}}\nsteps:\n"
        "  - {name: one, inputs: [a], outputs: [out_a], class_module: tags, class_name: Tag,"
        " class_init: {name: one}, methods: [tag]}\n"
        "  - {name: two, inputs: [b], outputs: [out_b], class_module: tags, class_name: Tag,"
        " class_init: {name: two}, methods: [tag]}\n"
    )
    port = free_port()
    with spawned_nervosum("graph", "serve", str(graph), "--port", str(port), port=port) as server:
        wait_ready(server)
        fed = httpx.post(f"{server.url}/predict?into=b", json={"x": 1})
        unsaid = httpx.post(f"{server.url}/predict", json={"x": 1})
    assert fed.status_code == 200, fed.text
    assert [(o["stream"], o["message"]["by"]) for o in fed.json()["outputs"]] == [("out_b", "two")]
    assert unsaid.status_code == 400
    assert "POST /predict?into=STREAM, one of: a, b" in unsaid.text


def test_unknown_routes_and_methods_answer_in_the_json_error_shape(client: httpx.Client) -> None:
    missing = client.get("/nowhere")
    assert missing.status_code == 404
    assert missing.json()["error"]["type"] == "not_found"
    wrong = client.get("/predict")
    assert wrong.status_code == 405
    assert wrong.json()["error"]["type"] == "method_not_allowed"


def test_metric_names_follow_the_prefix_and_dead_letters_count_by_step(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    from starlette.testclient import TestClient

    from nervosum.graph.http import create_graph_app
    from nervosum.graph.load import load_graph
    from nervosum.graph.local import GraphCode

    monkeypatch.setenv("NERVOSUM_METRICS_PREFIX", "spam")
    app = create_graph_app(GraphCode(load_graph(PIPELINE)))
    with TestClient(app) as http:
        assert http.post("/predict", json={"sender": "no text"}).status_code == 422
        page = http.get("/metrics").text
    names = {family.name for family in text_string_to_metric_families(page)}
    assert {"spam_http_requests", "spam_graph_dead_letters"} <= names
    assert not any(name.startswith("nervosum_") for name in names)
    assert 'spam_graph_dead_letters_total{graph="spam-filter",step="score"} 1.0' in page
