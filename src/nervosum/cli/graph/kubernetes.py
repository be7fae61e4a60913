"""``nervosum graph kubernetes``: the Kubernetes objects that run a graph."""

from __future__ import annotations

from pathlib import Path

import click

from nervosum.cli.deploy import delivery_options, show
from nervosum.cli.graph.file import open_graph
from nervosum.cli.output import reports_errors


@click.command("kubernetes", short_help="Kubernetes objects that run a graph; --apply to apply.")
@click.argument("graph_file", metavar="GRAPH_FILE")
@click.option(
    "--transport",
    required=True,
    metavar="URL",
    help="The broker as the cluster reaches it: redis://host:port/db, nats://host:port or"
    " kafka://host:port.",
)
@click.option(
    "--graph-file",
    "image_path",
    metavar="PATH",
    help="The graph file's path in the image [its name].",
)
@delivery_options
@reports_errors
def kubernetes(
    graph_file: str,
    transport: str,
    image_path: str | None,
    sets: tuple[str, ...],
    output: Path | None,
    dry_run: bool,
    apply_: bool,
    context: str | None,
) -> None:
    """The objects that run GRAPH_FILE on a cluster: a Job creating its streams and
    consumer groups (what `graph deploy` does from here) and a Deployment per step
    (`graph run --step`). Printed, written (-o) or applied (--apply), as `nervosum
    deploy` does for a bundle; nothing else is contacted (docs/deploy.md).

    \b
    Examples:
      nervosum graph kubernetes graph.yaml --transport redis://redis:6379/0
      nervosum graph kubernetes graph.yaml --transport nats://nats:4222 -o k8s/
      nervosum graph kubernetes graph.yaml --transport redis://redis:6379/0 --apply \\
        --set image=registry.example.com/scoring:v3
    """
    from nervosum.brokers.addresses import parse_broker
    from nervosum.deploy import Delivery, deliver, graph_settings, graph_source, render_graph

    parse_broker(transport)
    loaded = open_graph(graph_file)
    delivery = Delivery(output=output, apply=apply_, dry_run=dry_run, context=context)
    objects = render_graph(loaded, graph_settings(transport, sets, image_path))
    show(deliver(objects, delivery, graph_source(loaded)))
