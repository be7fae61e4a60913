"""A sink per ``logging.sinks`` entry, each client library checked before a server
starts. Apart from the sinks themselves, so the MongoDB sink (its own module, on the
sinks' base class) is one more choice here rather than an import back into them."""

from __future__ import annotations

from collections.abc import Sequence

from nervosum.config.spec import SinkSpec
from nervosum.errors import RequestError
from nervosum.predlog.sinks import (
    FluentdSink,
    JsonlSink,
    PostgresSink,
    Sink,
    SqliteSink,
    StdoutSink,
)


def open_sinks(specs: Sequence[SinkSpec], n_best: int) -> list[Sink]:
    """A sink per spec, named by type (``jsonl``, ``jsonl-2`` for a second one). Nothing
    connects yet (the writers do), so this also checks a config before a server starts:
    a missing extra or DSN is an error here (exit 2), not a failed startup."""
    sinks: list[Sink] = []
    seen: dict[str, int] = {}
    for spec in specs:
        seen[spec.type] = seen.get(spec.type, 0) + 1
        name = spec.type if seen[spec.type] == 1 else f"{spec.type}-{seen[spec.type]}"
        sinks.append(_open(name, spec, n_best))
    return sinks


def _open(name: str, spec: SinkSpec, n_best: int) -> Sink:
    _require_extra(spec.type)
    if spec.type == "jsonl":
        return JsonlSink(name, spec)
    if spec.type == "sqlite":
        return SqliteSink(name, spec)
    if spec.type == "postgres":
        return PostgresSink(name, spec)
    if spec.type == "fluentd":
        return FluentdSink(name, spec, n_best)
    if spec.type == "mongodb":
        from nervosum.predlog.mongodb import MongoSink

        return MongoSink(name, spec)
    return StdoutSink(name)


_EXTRAS = {
    "postgres": ("psycopg", "postgres"),
    "fluentd": ("fluent", "fluentd"),
    "mongodb": ("pymongo", "mongodb"),
}


def _require_extra(kind: str) -> None:
    """Import the sink's client library now, so a missing extra stops a server before it
    starts (exit 2) instead of dropping every record later."""
    if kind not in _EXTRAS:
        return
    module, extra = _EXTRAS[kind]
    import importlib

    try:
        importlib.import_module(module)
    except ImportError:
        raise RequestError(
            f"the {kind} prediction log sink needs the {module} package",
            hint=f"pip install 'nervosum[{extra}]'",
        ) from None
