"""Run ``nervosum stream``: check the addresses, load the model, then consume until stopped."""

from __future__ import annotations

import asyncio
import ssl
from typing import Any

import pydantic

from nervosum.brokers.addresses import parse_endpoint
from nervosum.brokers.schemes import open_transport
from nervosum.config import Project
from nervosum.config.spec import AuthSpec, ServerSpec, StreamSpec
from nervosum.drift.live import LiveDrift
from nervosum.engine import Engine
from nervosum.errors import RequestError
from nervosum.observe.metrics import AuthMetrics, metrics_prefix
from nervosum.predict.runtime import ModelRuntime
from nervosum.serving.auth import Gate, load_gate
from nervosum.serving.tls import server_context
from nervosum.stream.drift import StreamDrift
from nervosum.stream.metrics import StreamMetrics
from nervosum.stream.runtime import StreamSettings, StreamWorker, serve_stream
from nervosum.stream.sideport import SidePort


def stream_settings(project: Project, flags: dict[str, Any]) -> StreamSpec:
    """The ``stream:`` block of nervosum.yaml with the flags that were given on top."""
    base = project.config.stream or StreamSpec()
    given = {name: value for name, value in flags.items() if value is not None}
    try:
        spec = StreamSpec.model_validate({**base.model_dump(), **given})
    except pydantic.ValidationError as exc:
        first = exc.errors()[0]
        raise RequestError(f"--{str(first['loc'][0]).replace('_', '-')}: {first['msg']}") from None
    for name in ("source", "sink"):
        if getattr(spec, name) is None:
            raise RequestError(
                f"no --{name} given, and no stream.{name} in nervosum.yaml",
                hint="e.g. --source redis://127.0.0.1:6379/0/in --sink redis://127.0.0.1:6379/0/out",
            )
    return spec


def _side_security(
    project: Project, server: ServerSpec, auth: AuthSpec, metrics: StreamMetrics
) -> tuple[Gate, ssl.SSLContext | None]:
    """The side port's gate (``/metrics`` per ``auth.metrics``) and TLS context."""
    failures = AuthMetrics(metrics.registry, metrics_prefix(project.config.metrics))
    gate = load_gate(auth, admin_rate_limit=server.admin_rate_limit, on_failure=failures.failed)
    return gate, server_context(server)


def serve(
    project: Project,
    options: StreamSpec,
    *,
    host: str,
    debug: bool = False,
    server: ServerSpec | None = None,
    auth: AuthSpec | None = None,
) -> int:
    """Consume until SIGTERM; the exit code. The side port takes its TLS files from
    ``server`` and its authentication from ``auth`` (default: nervosum.yaml's blocks)."""
    assert options.source is not None and options.sink is not None  # stream_settings checks
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
    server = server or config.server
    metrics = StreamMetrics(config.name, config.metrics)
    # Keys, the JWKS and certificates are read, and the reference found (a missing one
    # is the exit-2 error naming monitoring.reference), before anything connects.
    security = (
        _side_security(project, server, auth or config.auth, metrics) if options.port else None
    )
    live = LiveDrift.for_project(project)
    drift = StreamDrift(live, metrics.drift()) if live is not None else None
    group = options.group or f"nervosum-{config.name}"
    transport = open_transport(source, group, idle_ms=options.idle_ms)
    engine = Engine.load(project, debug=debug)
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
    runtime = ModelRuntime(
        project, metrics.predictions, metrics.predlog, runtime="stream", batching=False
    )
    runtime.serve(engine)
    if drift is not None:
        drift.start(runtime, engine)
    worker = StreamWorker(runtime, transport, settings, metrics, drift)
    side = None
    if options.port and security is not None:
        side = SidePort(
            host,
            options.port,
            ready=lambda: worker.connected,
            metrics=metrics.exposition,
            gate=security[0],
            tls=security[1],
        )
    return asyncio.run(_serve(worker, side, runtime))


async def _serve(worker: StreamWorker, side: SidePort | None, runtime: ModelRuntime) -> int:
    """The worker until it stops, its live drift refreshed beside it; the model thread
    and prediction log are released however it ends (a broker that cannot be reached, a
    side port that cannot bind)."""
    drift = worker.drift
    refresher = asyncio.create_task(drift.keep_refreshed()) if drift is not None else None
    try:
        runtime.start()  # the prediction log, closed below however the worker ends
        return await serve_stream(worker, side)
    finally:
        if refresher is not None:
            refresher.cancel()
        await runtime.close()
