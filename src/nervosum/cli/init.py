"""``nervosum init``: a new project that serves as soon as it is created."""

from __future__ import annotations

import re
from pathlib import Path

import click

from nervosum.cli.output import reports_errors
from nervosum.errors import RequestError

_NAME = re.compile(r"^[A-Za-z][A-Za-z0-9_.-]*$")


@click.command()
@click.argument("name")
@click.option(
    "-d",
    "--directory",
    type=click.Path(file_okay=False),
    help="Where to create the project [default: ./NAME].",
)
@reports_errors
def init(name: str, directory: str | None) -> None:
    """Create a new project that serves out of the box.

    \b
    Then:
      nervosum check NAME && nervosum serve NAME
    """
    from nervosum.scaffold import create_project

    if not _NAME.match(name):
        raise RequestError(
            f"project name {name!r} is not usable",
            hint="start with a letter; use letters, digits, '-', '_' or '.'",
        )
    target = Path(directory or name)
    created = create_project(name, target)
    click.echo(f"created {target}/ ({len(created)} files)")
    for path in created:
        click.echo(f"  {path.relative_to(target)}")
    click.echo(f"next: nervosum check {target} && nervosum serve {target}")
