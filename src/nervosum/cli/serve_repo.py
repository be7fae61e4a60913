"""``nervosum serve-repo``: every model folder of a directory or git repository over HTTP."""

from __future__ import annotations

import sys
from pathlib import Path

import click

from nervosum.cli.options import (
    compile_option,
    grpc_port_option,
    listen_options,
    listen_settings,
)
from nervosum.cli.output import reports_errors


@click.command(
    "serve-repo", short_help="Serve every model folder of a directory or git repository."
)
@click.argument("source", required=False, envvar="gitPath", metavar="SOURCE")
@click.option(
    "--base-url",
    envvar="baseUrl",
    help="Route prefix: POST /<base-url>/<Folder> [env baseUrl; default the repository's name].",
)
@click.option("--branch", help="Git branch to serve [default: the remote's HEAD].")
@click.option(
    "--refresh",
    metavar="CRON",
    help="When to fetch and reload changed models: a cron expression or 'off' "
    "[default '0 2 * * *' for git, off for a folder].",
)
@click.option(
    "--watch/--no-watch",
    default=None,
    help="Reload a model when its folder changes [default: on for a local folder].",
)
@click.option(
    "--watch-interval",
    type=click.FloatRange(min=0.1),
    envvar="DAEMONSECS",
    default=2.0,
    show_default=True,
    help="Seconds between checks for changes [env DAEMONSECS].",
)
@click.option(
    "--workdir",
    type=click.Path(file_okay=False, path_type=Path),
    help="Where git checkouts go [default $NERVOSUM_HOME/repos/<hash of the URL>].",
)
@listen_options
@grpc_port_option
@compile_option
@click.pass_context
@reports_errors
def serve_repo(
    ctx: click.Context,
    source: str | None,
    base_url: str | None,
    branch: str | None,
    refresh: str | None,
    watch: bool | None,
    watch_interval: float,
    workdir: Path | None,
    host: str | None,
    port: int | None,
    grpc_port: int | None,
    graceful_timeout: float | None,
    access_log: bool,
    log_level: str,
) -> None:
    """Serve every model folder of SOURCE: a directory, or a git URL (https, ssh, file://).

    A model folder is a top-level folder with an etls.py (class transform_predict,
    as model-serving-framework used) or a nervosum.yaml. Each gets
    POST /<base-url>/<Folder> with {"variables": {...}}, and POST /models/<Folder>/predict;
    POST /<base-url>/all merges every model's answer. GET /models shows each model's
    status. A folder that fails to load answers 503 and the others keep serving.

    Refresh: on the --refresh schedule, on POST /<base-url>/-/refresh, and (local
    folders) when a file changes. Changed models load beside the running ones and are
    swapped in when ready; a failed fetch or load keeps the old version serving.

    Git credentials come from the environment (usergit with gitpassword, or password)
    or the URL (https://TOKEN@host/...); git gets them as a header, and every URL shown
    is redacted (https://***@host/...).

    \b
    Examples:
      nervosum serve-repo ./models_serve
      nervosum serve-repo https://git.example/team/models.git --branch main --refresh '0 2 * * *'
      curl -s localhost:5000/models_serve/DummyExample -H 'content-type: application/json' \\
           -d '{"variables": {"revenueAmount": 1000}}'
      nervosum serve-repo ./models --grpc-port 8081   # every model over gRPC too, by name
    """
    from nervosum.errors import RequestError
    from nervosum.repo.server import RepoOptions
    from nervosum.repo.server import serve_repo as run

    if not source:
        raise RequestError(
            "no model repository given",
            hint="nervosum serve-repo ./models_serve (or set gitPath to a git URL)",
        )
    options = RepoOptions(
        source=source,
        base_url=base_url,
        branch=branch,
        refresh=refresh,
        watch=watch,
        watch_interval=watch_interval,
        workdir=workdir,
    )
    serve = listen_settings(ctx, host, port, graceful_timeout, access_log, log_level, grpc_port)
    sys.exit(run(options, serve))
