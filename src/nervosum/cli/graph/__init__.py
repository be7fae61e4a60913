"""``nervosum graph``: inference graphs. This module holds the group and ``plan``; the
commands that run or deploy a graph live in their own modules and attach to ``graph``."""

from __future__ import annotations

import json

import click

from nervosum.cli.graph.deploy import deploy as deploy_graph
from nervosum.cli.graph.file import open_graph, step_names
from nervosum.cli.graph.kubernetes import kubernetes as graph_kubernetes
from nervosum.cli.graph.run import run as run_graph
from nervosum.cli.graph.serve import serve as serve_graph
from nervosum.cli.output import reports_errors


@click.group(short_help="Inference graphs: multi-step pipelines joined by streams.")
def graph() -> None:
    """Inference graphs: multi-step pipelines joined by streams; see docs/graphs.md."""


@graph.command(short_help="Show what deploying a graph would create, touching nothing.")
@click.argument("graph_file", metavar="GRAPH_FILE")
@click.option("--json", "as_json", is_flag=True, help="Print the plan as JSON.")
@click.option(
    "--recreate",
    is_flag=True,
    help="Plan deleting every step, then deleting and creating each stream (loses its data).",
)
@click.option(
    "--include",
    "names",
    multiple=True,
    metavar="NAME[,NAME...]",
    help="Create only these steps; repeatable or comma separated [all].",
)
@reports_errors
def plan(graph_file: str, as_json: bool, recreate: bool, names: tuple[str, ...]) -> None:
    """Check GRAPH_FILE (native or iguazioig 0.2.0) and print, in order, the streams and
    steps deploying it would create (and delete, with --recreate). Nothing is contacted.

    \b
    Examples:
      nervosum graph plan graph.yaml
      nervosum graph plan graph.yaml --recreate --include step_1 --json
    """
    from nervosum.graph.plan import plan_graph

    loaded = open_graph(graph_file)
    include = step_names(names)
    planned = plan_graph(loaded.spec, recreate=recreate, include=include or None)
    if as_json:
        click.echo(json.dumps(planned.to_record(), indent=2, default=str))
    else:
        for line in planned.lines:
            click.echo(line)


graph.add_command(deploy_graph)
graph.add_command(graph_kubernetes)
graph.add_command(run_graph)
graph.add_command(serve_graph)
