"""``nervosum graph run``: a graph over files in this process, or every step as a
consumer on a broker."""

from __future__ import annotations

import sys

import click

from nervosum.cli.graph.exit import ends_despite_threads
from nervosum.cli.graph.file import module_path_option, open_graph
from nervosum.cli.options import compile_option
from nervosum.cli.output import reports_errors
from nervosum.errors import RequestError


@click.command("run", short_help="Run a graph: locally over files, or on a broker.")
@click.argument("graph_file", metavar="GRAPH_FILE")
@click.option("--local", is_flag=True, help="Run every step in this process, from --input.")
@click.option(
    "--input",
    "input_path",
    metavar="FILE",
    help="--local: messages, one JSON object per line (- for stdin).",
)
@click.option(
    "--output",
    default="-",
    show_default=True,
    metavar="FILE",
    help="--local: results, one {stream, key, message} per line (- for stdout).",
)
@click.option(
    "--dead-letter",
    metavar="FILE",
    help="--local: refused messages with step and reason [OUTPUT.dead-letter.jsonl].",
)
@click.option("--into", metavar="STREAM", help="--local: the stream the input feeds [the entry].")
@click.option(
    "--transport",
    metavar="URL",
    help="Run the steps as consumers on redis://host:port/db, nats://host:port or kafka://host:port.",
)
@click.option(
    "--step",
    "steps",
    multiple=True,
    metavar="NAME",
    help="--transport: run only this step here (repeatable) [each step in its own process].",
)
@click.option("--batch-size", type=click.IntRange(min=1), default=64, show_default=True)
@click.option("--max-wait-ms", type=click.FloatRange(min=0), default=100.0, show_default=True)
@click.option(
    "--max-deliveries",
    type=click.IntRange(min=1),
    default=5,
    show_default=True,
    help="Deliveries after which a message is dead-lettered.",
)
@click.option(
    "--idle-ms",
    type=click.IntRange(min=100),
    default=30_000,
    show_default=True,
    help="After how long a message a dead process held goes to another.",
)
@click.option("--drain-timeout", type=click.FloatRange(min=0), default=30.0, show_default=True)
@click.option("--host", default="127.0.0.1", show_default=True, help="Side port interface.")
@click.option(
    "--port",
    type=click.IntRange(min=1, max=65535),
    help="Side port (/health/live, /health/ready, /metrics) of the first step; the next count up.",
)
@module_path_option
@compile_option
@ends_despite_threads
@reports_errors
def run(
    graph_file: str,
    local: bool,
    input_path: str | None,
    output: str,
    dead_letter: str | None,
    into: str | None,
    transport: str | None,
    steps: tuple[str, ...],
    batch_size: int,
    max_wait_ms: float,
    max_deliveries: int,
    idle_ms: int,
    drain_timeout: float,
    host: str,
    port: int | None,
    module_paths: tuple[str, ...],
) -> None:
    """Run GRAPH_FILE. With --local, every step runs in this process: each line of
    --input goes through the graph, results go to --output and refused messages to
    --dead-letter. With --transport, every step is a consumer-group member on the
    broker (one process per step; --step runs one, as a container does).

    \b
    Examples:
      nervosum graph run graph.yaml --local --input msgs.jsonl --output out.jsonl
      nervosum graph run igz.yaml --local --into input_stream --input m.jsonl --module-path code
      nervosum graph run graph.yaml --transport redis://127.0.0.1:6379/0
      nervosum graph run graph.yaml --transport nats://127.0.0.1:4222 --step join --port 8081
    """

    if local == (transport is not None):
        raise RequestError(
            "say where the graph runs: --local or --transport URL",
            hint="--local --input msgs.jsonl, or --transport redis://127.0.0.1:6379/0",
        )
    graph = open_graph(graph_file, module_paths)
    if transport is None:
        if input_path is None:
            raise RequestError("--local needs --input FILE", hint="one JSON message per line")
        from nervosum.graph.files import run_files

        summary = run_files(graph, input_path, output, dead_letter, into)
        for line in summary.lines():
            click.echo(line, err=True)
        return
    from nervosum.graph.consumer import StepSettings
    from nervosum.graph.supervise import StepRun, chosen_steps, run_step, run_steps

    settings = StepSettings(batch_size, max_wait_ms, max_deliveries, idle_ms, drain_timeout)
    where = StepRun(transport, settings, host, port)
    names = chosen_steps(graph, list(steps))
    if len(steps) == 1:
        sys.exit(run_step(graph, names[0], where))
    sys.exit(run_steps(graph, names, where))
