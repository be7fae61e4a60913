"""``nervosum stream``: the project's model as a stream processor."""

from __future__ import annotations

import sys

import click

from nervosum.cli.options import (
    model_arguments,
    security_options,
    with_security_flags,
)
from nervosum.cli.output import reports_errors


@click.command(short_help="Consume a stream, predict, produce: Redis, NATS JetStream, Kafka.")
@model_arguments
@click.option("--source", metavar="URL", help="Where messages come from [stream.source].")
@click.option("--sink", metavar="URL", help="Where predictions go [stream.sink].")
@click.option("--dead-letter", metavar="URL", help="Where unusable messages go, with the reason.")
@click.option("--group", help="Consumer group shared by replicas [default nervosum-<name>].")
@click.option("--batch-size", type=click.IntRange(min=1), help="Most messages per call [256].")
@click.option(
    "--max-wait-ms",
    type=click.FloatRange(min=0),
    help="Longest wait for a batch's first message [100].",
)
@click.option(
    "--max-deliveries",
    type=click.IntRange(min=1),
    help="Deliveries after which a message (one that kills its worker) is dead-lettered [5].",
)
@click.option(
    "--idle-ms",
    type=click.IntRange(min=100),
    help="After how long a message a dead member held goes to another [30000].",
)
@click.option("--proba/--no-proba", default=None, help="Add class probabilities to outputs.")
@click.option(
    "--drain-timeout",
    type=click.FloatRange(min=0),
    help="Seconds SIGTERM waits for the batch in hand to be written and acknowledged [30].",
)
@click.option("--host", default="127.0.0.1", show_default=True, help="Side port interface.")
@click.option(
    "--port",
    type=click.IntRange(min=0, max=65535),
    help="Side port for /health/live, /health/ready and /metrics; 0: none [8081].",
)
@security_options
@click.pass_context
@reports_errors
def stream(
    ctx: click.Context,
    project_dir: str,
    config: str,
    source: str | None,
    sink: str | None,
    dead_letter: str | None,
    group: str | None,
    batch_size: int | None,
    max_wait_ms: float | None,
    max_deliveries: int | None,
    idle_ms: int | None,
    proba: bool | None,
    drain_timeout: float | None,
    host: str,
    port: int | None,
) -> None:
    """Serve a model as a stream processor: read SOURCE in a consumer group, predict each
    batch in one model call, write the predictions to SINK, then acknowledge.

    Settings come from the stream: block of nervosum.yaml, then these flags. The side
    port takes the server: block's TLS files and the auth: block (/metrics per
    auth.metrics), and the --ssl-* and key flags on top.
    Messages are JSON objects (one record) or arrays (records), validated by the
    input_schema; bad ones go to --dead-letter with the reason. Delivery is
    at-least-once: a worker that dies leaves its batch to the others. SIGTERM finishes
    and acknowledges the batch in hand, then exits 0.

    \b
    Examples:
      nervosum stream examples/iris --source redis://127.0.0.1:6379/0/iris-in \\
          --sink redis://127.0.0.1:6379/0/iris-out --dead-letter redis://127.0.0.1:6379/0/iris-dlq
      nervosum stream DIR --source nats://127.0.0.1:4222/scores.in --sink nats://127.0.0.1:4222/scores.out
      nervosum stream DIR --source kafka://broker:9092/in --sink kafka://broker:9092/out \\
          --group scorers
    """
    from nervosum.project import load_config
    from nervosum.serving.server import ServeOptions
    from nervosum.stream.serve import serve as run
    from nervosum.stream.serve import stream_settings

    project = load_config(project_dir, config)
    flags = {
        "source": source,
        "sink": sink,
        "dead_letter": dead_letter,
        "group": group,
        "batch_size": batch_size,
        "max_wait_ms": max_wait_ms,
        "max_deliveries": max_deliveries,
        "idle_ms": idle_ms,
        "proba": proba,
        "drain_timeout": drain_timeout,
        "port": port,
    }
    settings = stream_settings(project, flags)
    debug = bool(ctx.find_root().params.get("debug"))
    security = with_security_flags(ctx, ServeOptions())
    server = security.settings(project.config.server)
    auth = security.auth_settings(project.config.auth)
    sys.exit(run(project, settings, host=host, debug=debug, server=server, auth=auth))
