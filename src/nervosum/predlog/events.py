"""What one prediction log record holds, built the same way for every runtime.

A record is a flat JSON object: when (UTC ISO time and epoch seconds), which prediction
(``id``: the ``id_field`` value, else the request id, with ``/row`` for the rows of a
multi-row request), which model (name, tag, uuid, created), where (route, runtime), the
inputs, the outputs, for classifiers the ``n_best`` classes with their probabilities,
and the latency. A request that fails gets one record with ``status: error``, what was
sent, and the error's type, message and id. Ground truth sent later is a record of
``kind: feedback`` holding the same ``id`` and the label. With a challenger served beside
the model, records also name their ``arm``, and a promotion is a ``kind: promotion``
record.
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from nervosum.config.types import Record
from nervosum.errors import NervosumError, RequestError
from nervosum.model.outputs import PROBABILITIES

PREDICTION = "prediction"
FEEDBACK = "feedback"
PROMOTION = "promotion"
EXPLANATION = "explanation"
MAX_LOGGED_REQUEST = 64 * 1024  # bytes of a failed request's body or message kept
WITHHELD = "withheld: logging.inputs is false (the client got the message)"


@dataclass(frozen=True)
class Origin:
    """The model and runtime every record of a server names."""

    model: str
    tag: str
    uuid: str
    created: str
    runtime: str = "http"
    # With a challenger beside it (docs/variants.md): champion or challenger.
    arm: str | None = None


@dataclass
class Exchange:
    """One request: its id and route, and what the model answered for it."""

    request_id: str
    route: str
    started: float = field(default_factory=time.perf_counter)
    # No other request was in progress in the process when its task started (the batcher
    # then answers a quick one at once instead of waiting a loop turn for company).
    alone: bool = False
    # Its front end hands requests to the loop one turn after another (gRPC): the batcher
    # takes a lone one on the model thread, so the next ones can join its batch.
    staggered: bool = False
    inputs: list[Record] | None = None
    outputs: list[Record] | None = None
    # The request's headers (HTTP), for a canary's routing key.
    headers: Sequence[tuple[bytes, bytes]] = ()
    # The arm that answered, when a server has two: its records name it, not the server's.
    origin: Origin | None = None


def _when() -> dict[str, Any]:
    now = datetime.now(UTC)
    return {"timestamp": now.isoformat(), "epoch": now.timestamp()}


def n_best(probabilities: dict[str, float], count: int) -> list[dict[str, Any]]:
    """The ``count`` most probable classes, most probable first."""
    ranked = sorted(probabilities.items(), key=lambda item: item[1], reverse=True)[:count]
    return [{"class": label, "probability": p} for label, p in ranked]


def _source(origin: Origin, exchange: Exchange) -> Record:
    """What every record of one exchange says of where it came from."""
    source: Record = {
        "model": origin.model,
        "tag": origin.tag,
        "uuid": origin.uuid,
        "created": origin.created,
        "route": exchange.route,
        "runtime": origin.runtime,
    }
    if origin.arm is not None:
        source["arm"] = origin.arm
    return source


def prediction_ids(exchange: Exchange, id_field: str | None) -> list[Any]:
    """The ``id`` of each answered row: its ``id_field`` value, else the request id
    (``<request id>/<row>`` when the request had several rows)."""
    inputs = exchange.inputs or []
    count = len(exchange.outputs or [])
    ids = []
    for row in range(count):
        ident = inputs[row].get(id_field) if id_field and row < len(inputs) else None
        if ident is None:
            ident = exchange.request_id if count == 1 else f"{exchange.request_id}/{row}"
        ids.append(ident)
    return ids


def prediction_records(
    origin: Origin,
    exchange: Exchange,
    *,
    id_field: str | None,
    keep_best: int,
    log_inputs: bool,
) -> list[Record]:
    """One record per answered row of ``exchange``."""
    inputs = exchange.inputs or []
    outputs = exchange.outputs or []
    latency = round((time.perf_counter() - exchange.started) * 1000, 3)
    when = _when()
    source = _source(origin, exchange)
    records = []
    ids = prediction_ids(exchange, id_field)
    for row, (output, ident) in enumerate(zip(outputs, ids, strict=True)):
        given = inputs[row] if row < len(inputs) else {}
        answer = {k: v for k, v in output.items() if k not in (PROBABILITIES, id_field)}
        record: Record = {
            "kind": PREDICTION,
            **when,
            "id": ident,
            "request_id": exchange.request_id,
            "row": row,
            **source,
            "status": "ok",
            "latency_ms": latency,
            "outputs": answer,
        }
        if log_inputs:
            record["inputs"] = {k: v for k, v in given.items() if k != id_field}
        probabilities = output.get(PROBABILITIES)
        if isinstance(probabilities, dict) and keep_best:
            record["classes"] = n_best(probabilities, keep_best)
        records.append(record)
    return records


def explanation_records(
    origin: Origin, exchange: Exchange, answer: Record, *, id_field: str | None
) -> list[Record]:
    """One record per explained row of ``exchange`` (``POST /explain``; its inputs are
    the request's records, its outputs the answer's explanations): the row's id, as its
    prediction's, and its explanation beside how it was made."""
    when = _when()
    source = _source(origin, exchange)
    how = {key: answer[key] for key in ("method", "exact", "output", "samples")}
    ids = prediction_ids(exchange, id_field)
    return [
        {
            "kind": EXPLANATION,
            **when,
            "id": ident,
            "request_id": exchange.request_id,
            "row": row,
            **source,
            **how,
            **{key: value for key, value in explained.items() if key != id_field},
        }
        for row, (explained, ident) in enumerate(zip(exchange.outputs or [], ids, strict=True))
    ]


def failure_record(
    origin: Origin, exchange: Exchange, error: NervosumError, request: Any, *, log_inputs: bool
) -> Record:
    """The one record of a request that got no prediction. ``request`` is what was sent:
    the validated records, or the raw body or message (bytes: its first
    ``MAX_LOGGED_REQUEST`` bytes are kept, as text).

    With ``log_inputs`` false nothing the client sent is kept: no ``request``, and the
    error's message is withheld when it can describe the request's content (a rejected
    request's message names its fields and values, a model's ``InvalidInputError`` is the
    model's own text). The type and error id stay, and ids are kept as on predictions.
    Every runtime builds its failure records here, so the rule holds for all of them
    (issue 20: a 422's record kept the raw body with inputs off).
    """
    record: Record = {
        "kind": PREDICTION,
        **_when(),
        "id": exchange.request_id,
        "request_id": exchange.request_id,
        "row": None,
        **_source(origin, exchange),
        "status": "error",
        "latency_ms": round((time.perf_counter() - exchange.started) * 1000, 3),
    }
    message = error.message
    if log_inputs:
        record["request"] = _as_logged(request)
    elif isinstance(error, RequestError) or error.details:
        message = WITHHELD
    record["error"] = {"type": error.code, "message": message, "error_id": error.error_id}
    return record


def _as_logged(request: Any) -> Any:
    if isinstance(request, bytes | bytearray | memoryview):
        return bytes(request[:MAX_LOGGED_REQUEST]).decode("utf-8", "replace")
    return request


def feedback_records(model: str, items: Sequence[Record]) -> list[Record]:
    """Ground truth for earlier predictions: ``[{"id": ..., "label": ...}, ...]``."""
    when = _when()
    return [
        {"kind": FEEDBACK, **when, "id": item["id"], "label": item["label"], "model": model}
        for item in items
    ]


def promotion_record(action: str, who: str, champion: Record, challenger: Record) -> Record:
    """The audit record of a promotion or rollback (``action``): who asked, and the arms
    it left serving with their versions and live figures."""
    return {
        "kind": PROMOTION,
        **_when(),
        "action": action,
        "who": who,
        "champion": champion,
        "challenger": challenger,
    }
