"""``nervosum graph deploy``: create a graph's streams and consumer groups on a broker."""

from __future__ import annotations

import json
import sys

import click

from nervosum.brokers.addresses import Endpoint
from nervosum.cli.graph.file import open_graph, step_names
from nervosum.cli.output import reports_errors
from nervosum.errors import NervosumError, RequestError
from nervosum.graph.plan import Plan


@click.command("deploy", short_help="Create a graph's streams and consumer groups on a broker.")
@click.argument("graph_file", metavar="GRAPH_FILE")
@click.option(
    "--transport",
    required=True,
    metavar="URL",
    help="The broker: redis://host:port/db, nats://host:port or kafka://host:port.",
)
@click.option(
    "--recreate",
    is_flag=True,
    help="Delete every declared stream (its messages and consumer groups) and create it"
    " again; asks first.",
)
@click.option("--yes", "-y", is_flag=True, help="--recreate without asking.")
@click.option(
    "--include",
    "names",
    multiple=True,
    metavar="NAME[,NAME...]",
    help="Create the consumer groups of these steps only; repeatable or comma separated [all].",
)
@click.option(
    "--idle-ms",
    type=click.IntRange(min=100),
    default=30_000,
    show_default=True,
    help="NATS: the ack wait of the consumers created (give graph run's --idle-ms).",
)
@click.option(
    "--timeout",
    type=click.FloatRange(min=0.1),
    default=30.0,
    show_default=True,
    help="Seconds to wait for each answer of the broker.",
)
@click.option("--json", "as_json", is_flag=True, help="Print each action as a JSON object line.")
@click.option("--target", type=click.Choice(["broker", "kubernetes"]), hidden=True)
@reports_errors
def deploy(
    graph_file: str,
    transport: str,
    recreate: bool,
    yes: bool,
    names: tuple[str, ...],
    idle_ms: int,
    timeout: float,
    as_json: bool,
    target: str | None,
) -> None:
    """Do on the broker what `graph plan` prints for GRAPH_FILE, in the same order,
    printing each action as it is done. Streams and groups that exist are reported as
    already present and left as they are. Step processes are not started: a step's
    entry creates the consumer groups of its inputs, for `graph run --step` to join.

    The same on a cluster, from inside it: `nervosum graph kubernetes`.

    \b
    Examples:
      nervosum graph deploy graph.yaml --transport redis://127.0.0.1:6379/0
      nervosum graph deploy graph.yaml --transport nats://127.0.0.1:4222 --include score
      nervosum graph deploy graph.yaml --transport kafka://broker:9092 --recreate --yes
    """
    from nervosum.brokers.addresses import parse_broker
    from nervosum.brokers.admin import DeploySettings
    from nervosum.graph.deploy import Done, deploy_plan
    from nervosum.graph.plan import plan_graph

    if target == "kubernetes":  # [compat] the option before the command had a name
        raise RequestError(
            "`graph deploy --target kubernetes` is now `nervosum graph kubernetes`",
            hint=f"nervosum graph kubernetes {graph_file} --transport {transport} [-o DIR]",
        )
    broker = parse_broker(transport)
    loaded = open_graph(graph_file)
    include = step_names(names)
    planned = plan_graph(loaded.spec, recreate=recreate, include=include or None)
    if recreate and not yes:
        _confirm_recreate(planned, broker)

    def report(done: Done) -> None:
        click.echo(json.dumps(done.to_record()) if as_json else done.line)

    deploy_plan(planned, broker, DeploySettings(idle_ms, timeout), report)


def _confirm_recreate(planned: Plan, broker: Endpoint) -> None:
    """Ask before deleting streams; in a run nobody can answer, refuse (exit 2)."""
    doomed = [entry["name"] for entry in planned.of("stream", "delete").values()]
    if not sys.stdin.isatty():
        raise RequestError(
            f"--recreate deletes {len(doomed)} streams with their messages, and nobody"
            " is here to confirm it",
            hint="add --yes to recreate without asking",
        )
    click.echo(
        f"--recreate deletes these streams on {broker.server}, with their messages and"
        " consumer groups:",
        err=True,
    )
    for name in doomed:
        click.echo(f"  {name}", err=True)
    click.echo("deploy does not stop the graph's step processes: stop them first.", err=True)
    if not click.confirm("Delete and recreate them?", default=False, err=True):
        raise NervosumError("--recreate declined: nothing was changed")
