"""The MongoDB sink without a MongoDB server (none can be installed where the suite
runs): documents carry the microservice template's logger's fields and encode as BSON;
writes to a socket that is not MongoDB fail, are dropped and counted, and nothing else
notices. tests/integration/test_predlog.py writes to a real server when one is given."""

from __future__ import annotations

import socket
import threading
import time
import zoneinfo
from collections.abc import Iterator
from datetime import datetime

import bson
import numpy as np
import pytest

from nervosum.config.spec import LoggingSpec, SinkSpec
from nervosum.config.types import Record
from nervosum.errors import RequestError
from nervosum.model.outputs import PROBABILITIES
from nervosum.predlog.events import Exchange, Origin, feedback_records, prediction_records
from nervosum.predlog.mongodb import MongoSink, client_options, document
from nervosum.predlog.opener import open_sinks
from nervosum.predlog.writer import PredictionLog
from tests.unit.test_predlog_writer import counter

BERLIN = zoneinfo.ZoneInfo("Europe/Berlin")
ORIGIN = Origin("iris", "v1", "5b0e-uuid", "2026-11-20T08:00:00+00:00")
# The template's response models (source/api/models.py) and what its logger added.
PREDICTION_RESPONSE = {"class_name"}
PROBA_PREDICTION_RESPONSE = {"class_names", "probabilities"}
LOGGER_ADDS = {"timestamp"}
FLUENTD_HELPER_ADDS = {"model_id", "model_creation_time", "ID"}


def records(outputs: list[Record], inputs: list[Record], keep_best: int = 3) -> list[Record]:
    exchange = Exchange("req-1", "/api/proba_predictions", inputs=inputs, outputs=outputs)
    return prediction_records(ORIGIN, exchange, id_field="ID", keep_best=keep_best, log_inputs=True)


def test_a_classifier_answer_is_the_templates_proba_document() -> None:
    (record,) = records(
        [
            {
                "prediction": "setosa",
                PROBABILITIES: {"setosa": 0.9, "versicolor": 0.07, "virginica": 0.03},
            }
        ],
        [{"ID": "k1", "sepal_length": 5.1}],
    )
    doc = document(record, BERLIN)
    assert set(doc) >= PROBA_PREDICTION_RESPONSE | LOGGER_ADDS | FLUENTD_HELPER_ADDS
    assert doc["class_names"] == ["setosa", "versicolor", "virginica"]
    assert doc["probabilities"] == [0.9, 0.07, 0.03]
    assert "class_name" not in doc
    assert (doc["model_id"], doc["model_creation_time"], doc["ID"]) == (
        "5b0e-uuid",
        "2026-11-20T08:00:00+00:00",
        "k1",
    )
    # The template's timestamp: a datetime in the configured timezone, the record's instant.
    assert isinstance(doc["timestamp"], datetime)
    assert doc["timestamp"].tzinfo == BERLIN
    assert doc["timestamp"].timestamp() == pytest.approx(record["epoch"])
    # nervosum's own fields beside them.
    assert doc["inputs"] == {"sepal_length": 5.1}
    assert doc["model"] == "iris" and doc["status"] == "ok" and doc["route"] == record["route"]


def test_a_plain_answer_is_the_templates_prediction_document() -> None:
    first, second = records([{"prediction": np.int64(2)}, {"prediction": np.int64(0)}], [{}, {}])
    doc = document(first, zoneinfo.ZoneInfo("UTC"))
    assert set(doc) >= PREDICTION_RESPONSE | LOGGER_ADDS | FLUENTD_HELPER_ADDS
    assert not PROBA_PREDICTION_RESPONSE & set(doc)
    assert doc["class_name"] == "2"  # the template answered str(prediction)
    assert doc["outputs"] == {"prediction": 2}  # numpy values become plain numbers
    assert doc["ID"] == "req-1/0" and document(second, BERLIN)["ID"] == "req-1/1"


def test_documents_encode_as_bson_with_the_timestamp_as_a_date() -> None:
    (record,) = records([{"prediction": np.float32(0.25)}], [{"x": np.float64(1.5)}])
    (label,) = feedback_records("iris", [{"id": "k1", "label": "setosa"}])
    for doc in (document(record, BERLIN), document(label, BERLIN)):
        decoded = bson.decode(bson.encode(doc), codec_options=bson.CodecOptions(tz_aware=True))
        assert decoded["timestamp"].timestamp() == pytest.approx(doc["timestamp"].timestamp())
    assert "class_name" not in document(label, BERLIN)  # feedback is no prediction


def test_the_url_never_holds_a_password_and_the_options_keep_the_urls_own() -> None:
    with pytest.raises(ValueError, match="the URL holds a password"):
        SinkSpec(type="mongodb", url="mongodb://ml:hunter2@db:27017")
    with pytest.raises(ValueError, match="unknown timezone 'Europe/Berln'"):
        SinkSpec(type="mongodb", url="mongodb://db:27017", timezone="Europe/Berln")
    spec = SinkSpec(type="mongodb", url="mongodb://db:27017/?serverSelectionTimeoutMS=200")
    assert client_options(spec) == {"tz_aware": True, "connectTimeoutMS": 5000}


def test_the_password_comes_from_the_environment_for_the_urls_user(
    monkeypatch: pytest.MonkeyPatch, tmp_path
) -> None:
    monkeypatch.setenv("MONGODB_PASSWORD", "s3cret")
    with_user = SinkSpec(type="mongodb", url="mongodb://ml@db:27017")
    assert client_options(with_user)["password"] == "s3cret"
    assert "password" not in client_options(SinkSpec(type="mongodb", url="mongodb://db:27017"))
    secret = tmp_path / "password"
    secret.write_text("from-file\n")
    mounted = SinkSpec(type="mongodb", url="mongodb://ml@db:27017", password_file=str(secret))
    assert client_options(mounted)["password"] == "from-file"


def test_a_sink_without_url_is_refused_before_serving() -> None:
    with pytest.raises(RequestError, match="the mongodb sink needs a url"):
        open_sinks([SinkSpec(type="mongodb")], n_best=2)


def closed_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


@pytest.fixture
def not_mongodb() -> Iterator[int]:
    """A listening socket that answers every connection with bytes that are not MongoDB's."""
    server = socket.socket()
    server.bind(("127.0.0.1", 0))
    server.listen()
    server.settimeout(0.1)
    stop = threading.Event()

    def serve() -> None:
        while not stop.is_set():
            try:
                conn, _ = server.accept()
            except TimeoutError:
                continue
            with conn:
                conn.sendall(b"HTTP/1.1 400 Bad Request\r\n\r\n")

    thread = threading.Thread(target=serve, daemon=True)
    thread.start()
    yield int(server.getsockname()[1])
    stop.set()
    thread.join()
    server.close()


@pytest.mark.parametrize("target", ["closed port", "not MongoDB"])
def test_failed_writes_are_dropped_and_counted_and_emit_never_waits(
    target: str, request: pytest.FixtureRequest
) -> None:
    port = closed_port() if target == "closed port" else request.getfixturevalue("not_mongodb")
    url = f"mongodb://127.0.0.1:{port}/?serverSelectionTimeoutMS=300"
    spec = LoggingSpec(queue_size=5, batch_size=5, flush_timeout=5)
    sink = MongoSink("mongodb", SinkSpec(type="mongodb", url=url))
    dropped, on_drop = counter()
    written, on_write = counter()
    log = PredictionLog(spec, on_drop=on_drop, on_write=on_write, sinks=[sink])
    batch = records([{"prediction": 1}] * 12, [{}] * 12)
    started = time.perf_counter()
    log.emit(batch)  # 5 fit the buffer, 7 are dropped at once
    assert time.perf_counter() - started < 0.05
    assert dropped == {"mongodb": 7}
    log.close()  # the 5 buffered fail to reach a server: dropped too
    assert dropped == {"mongodb": 12}
    assert written == {}
    assert sink._client is None  # closed after the failure, reopened on the next write
