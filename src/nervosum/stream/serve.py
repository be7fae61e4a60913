"""Run ``nervosum stream``: check the addresses, load the model, then consume until stopped."""

from __future__ import annotations

import asyncio
from dataclasses import dataclass

from nervosum.config import Project
from nervosum.engine import Engine
from nervosum.errors import RequestError
from nervosum.stream.endpoints import open_transport, parse_endpoint
from nervosum.stream.metrics import StreamMetrics
from nervosum.stream.runtime import StreamSettings, StreamWorker, serve_stream
from nervosum.stream.sideport import SidePort


@dataclass(frozen=True)
class StreamOptions:
    """``nervosum stream``'s flags."""

    source: str
    sink: str
    dead_letter: str | None = None
    group: str | None = None
    batch_size: int = 64
    max_wait_ms: float = 100.0
    max_deliveries: int = 5
    idle_ms: int = 30_000
    proba: bool = False
    drain_timeout: float = 30.0
    host: str = "127.0.0.1"
    port: int | None = 8081  # the side port; None: no side port
    debug: bool = False


def serve(project: Project, options: StreamOptions) -> int:
    """Consume until SIGTERM; the exit code."""
    source = parse_endpoint(options.source, "--source")
    sink = parse_endpoint(options.sink, "--sink")
    dead = parse_endpoint(options.dead_letter, "--dead-letter") if options.dead_letter else None
    for other, flag in ((sink, "--sink"), (dead, "--dead-letter")):
        if other is not None and other.server != source.server:
            raise RequestError(
                f"{flag} {other} is on another server than --source {source}",
                hint="the source, sink and dead letter are read and written on one broker",
            )
    config = project.config
    group = options.group or f"nervosum-{config.name}"
    transport = open_transport(source, group, idle_ms=options.idle_ms)
    engine = Engine.load(project, debug=options.debug)
    settings = StreamSettings(
        sink=sink.name,
        dead_letter=dead.name if dead else None,
        source_label=str(source),
        batch_size=options.batch_size,
        max_wait_ms=options.max_wait_ms,
        max_deliveries=options.max_deliveries,
        proba=options.proba,
        drain_timeout=options.drain_timeout,
    )
    metrics = StreamMetrics(config.name, config.metrics)
    handle = engine.handle
    outputs = config.output_schema
    metrics.predictions.describe_model(
        handle.classes, handle.output_names[0], outputs[0].type if outputs else None
    )
    worker = StreamWorker(engine, transport, settings, metrics)
    side = None
    if options.port is not None:
        side = SidePort(
            options.host, options.port, ready=lambda: worker.connected, metrics=metrics.exposition
        )
    return asyncio.run(serve_stream(worker, side))
