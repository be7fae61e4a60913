"""``nervosum run``: start the newest bundle matching -n/-t/--id."""

from __future__ import annotations

import os
import sys

import click

from nervosum.cli.options import key_value_pairs
from nervosum.cli.output import reports_errors


@click.command(context_settings={"ignore_unknown_options": True})
@click.option("-n", "--name", help="Bundle name (exact, or a glob such as 'iris*').")
@click.option("-t", "--tag", help="Bundle tag.")
@click.option("--id", "bundle_id", help="Bundle id prefix.")
@click.option(
    "--host", help="Address to serve on, or to publish the image's port on [default 127.0.0.1]."
)
@click.option(
    "-p", "--port", type=int, help="Port to serve on [default: the bundle's server.port]."
)
@click.option(
    "-e",
    "--env",
    multiple=True,
    callback=key_value_pairs,
    metavar="KEY=VALUE",
    help="Environment variable for the model, repeatable.",
)
@click.option(
    "-v",
    "--volume",
    multiple=True,
    callback=key_value_pairs,
    metavar="SRC:DST",
    help="Volume to mount (with --image), repeatable.",
)
@click.option(
    "--image", "use_image", is_flag=True, help="Run the bundle's OCI image with podman or docker."
)
@click.argument("arguments", nargs=-1, type=click.UNPROCESSED)
@reports_errors
def run(
    name: str | None,
    tag: str | None,
    bundle_id: str | None,
    host: str | None,
    port: int | None,
    env: tuple[str, ...],
    volume: tuple[str, ...],
    use_image: bool,
    arguments: tuple[str, ...],
) -> None:
    """Run a bundle from the registry: the newest one matching -n/-t/--id.

    With no flags, the newest bundle overall. It runs in an isolated virtualenv made
    from the bundle's own wheels (cached: the second run starts in seconds), or as a
    container with --image. Extra ARGUMENTS go to the bundle's command (e.g. --workers 2).
    Ctrl-C stops it.

    \b
    Examples:
      nervosum run -n iris -t v0.0.1 --port 5000
      nervosum run --image -n iris -e LOG_LEVEL=debug
    """
    from nervosum.cli.progress import TerminalProgress
    from nervosum.cli.timeago import ago
    from nervosum.home import Home
    from nervosum.launch.request import RunRequest
    from nervosum.launch.start import start_bundle
    from nervosum.registry.select import Filter, select_newest
    from nervosum.registry.store import Registry

    filters = [
        Filter.parse(f"{key}={value}")
        for key, value in (("name", name), ("tag", tag), ("id", bundle_id))
        if value
    ]
    home = Home.from_env()
    entry = select_newest(Registry(home).entries(), filters)
    how = "its image" if use_image else "its environment"
    picked = "newest bundle" if not filters else "newest match"
    click.echo(
        f"running {entry.reference} ({entry.short_id}, {entry.mode}, built {ago(entry.created)};"
        f" {picked}) from {how}",
        err=True,
    )
    request = RunRequest(
        host=host,
        port=port,
        env=env,
        volumes=volume,
        image=use_image,
        arguments=arguments,
    )
    sys.exit(
        start_bundle(
            entry, request, home=home, progress=TerminalProgress(), environ=dict(os.environ)
        )
    )
