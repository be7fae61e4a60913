"""``nervosum version``."""

from __future__ import annotations

import platform

import click

from nervosum import __version__


@click.command()
def version() -> None:
    """Print the version of nervosum and Python."""
    click.echo(f"nervosum {__version__} (Python {platform.python_version()})")
