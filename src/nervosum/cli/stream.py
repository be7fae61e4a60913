"""``nervosum stream``: the project's model as a stream processor."""

from __future__ import annotations

import sys

import click

from nervosum.cli.options import project_arguments
from nervosum.cli.output import reports_errors


@click.command(short_help="Consume a stream, predict, produce: Redis, NATS JetStream, Kafka.")
@project_arguments
@click.option("--source", required=True, metavar="URL", help="Where messages come from.")
@click.option("--sink", required=True, metavar="URL", help="Where predictions go.")
@click.option("--dead-letter", metavar="URL", help="Where unusable messages go, with the reason.")
@click.option("--group", help="Consumer group shared by replicas [default nervosum-<name>].")
@click.option("--batch-size", type=click.IntRange(min=1), default=64, show_default=True)
@click.option(
    "--max-wait-ms",
    type=click.FloatRange(min=0),
    default=100.0,
    show_default=True,
    help="Longest wait for a batch's first message.",
)
@click.option(
    "--max-deliveries",
    type=click.IntRange(min=1),
    default=5,
    show_default=True,
    help="Deliveries after which a message (e.g. one that kills its worker) is dead-lettered.",
)
@click.option(
    "--idle-ms",
    type=click.IntRange(min=100),
    default=30_000,
    show_default=True,
    help="After how long a message a dead member held is delivered to another.",
)
@click.option("--proba/--no-proba", default=False, help="Add class probabilities to outputs.")
@click.option(
    "--drain-timeout",
    type=click.FloatRange(min=0),
    default=30.0,
    show_default=True,
    help="Seconds SIGTERM waits for the batch in hand to be written and acknowledged.",
)
@click.option("--host", default="127.0.0.1", show_default=True, help="Side port interface.")
@click.option(
    "--port",
    type=int,
    default=8081,
    show_default=True,
    help="Side port for /health/live, /health/ready and /metrics (0: none).",
)
@click.pass_context
@reports_errors
def stream(
    ctx: click.Context,
    project_dir: str,
    config: str,
    source: str,
    sink: str,
    dead_letter: str | None,
    group: str | None,
    batch_size: int,
    max_wait_ms: float,
    max_deliveries: int,
    idle_ms: int,
    proba: bool,
    drain_timeout: float,
    host: str,
    port: int,
) -> None:
    """Serve a model as a stream processor: read SOURCE in a consumer group, predict each
    batch in one model call, write the predictions to SINK, then acknowledge.

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
    from nervosum.config import load_config
    from nervosum.stream.serve import StreamOptions
    from nervosum.stream.serve import serve as run

    project = load_config(project_dir, config)
    options = StreamOptions(
        source=source,
        sink=sink,
        dead_letter=dead_letter,
        group=group,
        batch_size=batch_size,
        max_wait_ms=max_wait_ms,
        max_deliveries=max_deliveries,
        idle_ms=idle_ms,
        proba=proba,
        drain_timeout=drain_timeout,
        host=host,
        port=port or None,
        debug=bool(ctx.find_root().params.get("debug")),
    )
    sys.exit(run(project, options))
