"""What every ``nervosum graph`` command does first: load the graph file, say its
warnings, and read ``--include`` and ``--module-path`` options."""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, Any

import click

if TYPE_CHECKING:
    from nervosum.graph.load import Graph


def module_path_option(func: Callable[..., Any]) -> Callable[..., Any]:
    """``--module-path DIR`` (repeatable): where the steps' code is on this machine, for
    graph files whose ``module_paths`` name folders elsewhere (iguazioig's /User/modules)."""
    return click.option(
        "--module-path",
        "module_paths",
        multiple=True,
        type=click.Path(exists=True, file_okay=False),
        metavar="DIR",
        help="A folder the steps import their code from, before the file's module_paths"
        " (repeatable).",
    )(func)


def open_graph(path: str, module_paths: tuple[str, ...] = ()) -> Graph:
    """The checked graph (ConfigError, exit 2, when it is wrong); warnings on stderr."""
    from nervosum.graph.load import load_graph

    graph = load_graph(path, module_paths)
    for warning in graph.warnings:
        click.secho(f"warning: {warning}", err=True, fg="yellow")
    return graph


def step_names(values: tuple[str, ...]) -> list[str]:
    """``--include a,b --include c`` as ``[a, b, c]``."""
    return [name.strip() for text in values for name in text.split(",") if name.strip()]
