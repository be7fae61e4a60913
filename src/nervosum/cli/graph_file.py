"""What every ``nervosum graph`` command does first: load the graph file, say its
warnings, and read ``--include`` lists."""

from __future__ import annotations

from typing import TYPE_CHECKING

import click

if TYPE_CHECKING:
    from nervosum.graph.load import Graph


def open_graph(path: str) -> Graph:
    """The checked graph (ConfigError, exit 2, when it is wrong); warnings on stderr."""
    from nervosum.graph.load import load_graph

    graph = load_graph(path)
    for warning in graph.warnings:
        click.secho(f"warning: {warning}", err=True, fg="yellow")
    return graph


def step_names(values: tuple[str, ...]) -> list[str]:
    """``--include a,b --include c`` as ``[a, b, c]``."""
    return [name.strip() for text in values for name in text.split(",") if name.strip()]
