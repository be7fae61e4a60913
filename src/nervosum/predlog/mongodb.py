"""The MongoDB sink: one document per record, shaped as the microservice template's
logger wrote them.

# [compat] FlorianBorn/machine-learning-microservice-template logged each answered row
# with ``MongoDBLogger.emit_many`` (source/logging/mongodb_logger.py): the route's
# response dict, ``{"class_name": ...}`` from /api/predictions or ``{"class_names":
# [...], "probabilities": [...]}`` from /api/proba_predictions, plus ``timestamp``, a
# datetime in the configured timezone. Its README promises the model's id and creation
# time on every log message, which its Fluentd messages carried (source/logging/
# helper.py: ``model_id``, ``model_creation_time``, ``ID``): they are here too, so
# both sinks describe a prediction alike. nervosum's own record fields come beside them.

The writer thread (writer.py) batches, counts drops and reconnects; this module only
turns records into documents and inserts a batch in one ``insert_many``.
"""

from __future__ import annotations

import zoneinfo
from collections.abc import Sequence
from datetime import datetime
from typing import Any
from urllib.parse import parse_qs, urlsplit

import orjson

from nervosum.config.spec import SinkSpec
from nervosum.config.types import Record
from nervosum.errors import RequestError
from nervosum.jsonio import dumps
from nervosum.predlog.events import PREDICTION
from nervosum.predlog.sinks import Sink, sink_password

# pymongo waits this long for a server before a write fails (its default is 30 s); a URL's
# own serverSelectionTimeoutMS / connectTimeoutMS win.
TIMEOUT_MS = 5000


def template_fields(record: Record) -> dict[str, Any]:
    """The fields the template's MongoDB and Fluentd loggers wrote for ``record``."""
    fields: dict[str, Any] = {}
    if record.get("kind") == PREDICTION and record.get("status") == "ok":
        classes = record.get("classes")
        if classes:  # /api/proba_predictions: the classes with their probabilities
            fields["class_names"] = [str(best["class"]) for best in classes]
            fields["probabilities"] = [best["probability"] for best in classes]
        else:  # /api/predictions
            outputs = record.get("outputs") or {}
            answer = outputs.get("prediction", next(iter(outputs.values()), None))
            fields["class_name"] = str(answer)
    if record.get("kind") == PREDICTION:
        fields.update(model_id=record.get("uuid"), model_creation_time=record.get("created"))
        fields["ID"] = record.get("id")
    return fields


def document(record: Record, timezone: zoneinfo.ZoneInfo) -> dict[str, Any]:
    """``record`` as a MongoDB document: nervosum's fields as JSON gives them (numpy values
    become plain numbers), the template's fields, and ``timestamp`` as a datetime in
    ``timezone`` (the template's; nervosum's ISO text is the same instant)."""
    doc: dict[str, Any] = orjson.loads(dumps(record))
    doc.update(template_fields(doc))
    doc["timestamp"] = datetime.fromtimestamp(record["epoch"], timezone)
    return doc


def client_options(spec: SinkSpec) -> dict[str, Any]:
    """pymongo's options: the timeouts the URL does not set (pymongo's keyword arguments
    override the URL's), and the password for the URL's user."""
    parts = urlsplit(spec.url or "")
    given = {key.lower() for key in parse_qs(parts.query)}
    options: dict[str, Any] = {"tz_aware": True}
    for option in ("serverSelectionTimeoutMS", "connectTimeoutMS"):
        if option.lower() not in given:
            options[option] = TIMEOUT_MS
    password = sink_password(spec) if parts.username else None
    if password is not None:
        options["password"] = password
    return options


class MongoSink(Sink):
    """Inserts each batch into ``database.collection`` (created by the server on the
    first insert, as the template's was)."""

    def __init__(self, name: str, spec: SinkSpec) -> None:
        super().__init__(name)
        if not spec.url:
            raise RequestError(
                "the mongodb sink needs a url",
                hint="logging.sinks[].url: mongodb://host:27017 (the template's mongo_db_url"
                " and mongo_db_port)",
            )
        self.spec = spec
        self.url = spec.url
        self.timezone = zoneinfo.ZoneInfo(spec.timezone)
        self._client: Any = None

    def write(self, records: Sequence[Record]) -> None:
        if self._client is None:
            from pymongo import MongoClient

            self._client = MongoClient(self.url, **client_options(self.spec))
        collection = self._client[self.spec.database][self.spec.collection]
        collection.insert_many([document(r, self.timezone) for r in records], ordered=False)

    def close(self) -> None:
        if self._client is not None:
            self._client.close()
            self._client = None
