"""``nervosum serve``: the project's model over HTTP."""

from __future__ import annotations

import sys

import click

from nervosum.cli.options import (
    grpc_port_option,
    listen_options,
    model_arguments,
    parse_workers,
    with_security_flags,
)
from nervosum.cli.output import reports_errors
from nervosum.cli.variants import variant_options, with_variants


@click.command()
@model_arguments
@listen_options
@grpc_port_option
@click.option(
    "--max-body-size",
    type=click.IntRange(min=1),
    envvar="NERVOSUM_MAX_BODY_SIZE",
    help="Largest request body in bytes; bigger ones get 413 [default 8 MiB].",
)
@click.option(
    "-w",
    "--workers",
    callback=parse_workers,
    envvar="NERVOSUM_WORKERS",
    help="Worker processes: a number or 'auto' (one per core) [default 1].",
)
@click.option(
    "--preload/--no-preload",
    default=None,
    help="Load the model once before forking workers (shared memory) [default: preload].",
)
@click.option(
    "--model-process/--no-model-process",
    default=None,
    help="Run the model in its own process, so HTTP and the model each get a core [default: off].",
)
@click.option(
    "--timeout",
    type=click.FloatRange(min=0, min_open=True),
    envvar="NERVOSUM_TIMEOUT",
    help="Seconds a request may wait for the model before 504 [default 60].",
)
@variant_options
@click.pass_context
@reports_errors
def serve(
    ctx: click.Context,
    project_dir: str,
    config: str,
    host: str | None,
    port: int | None,
    grpc_port: int | None,
    max_body_size: int | None,
    workers: int | str | None,
    preload: bool | None,
    model_process: bool | None,
    timeout: float | None,
    challenger: str | None,
    shadow: bool,
    canary: float | None,
    graceful_timeout: float | None,
    access_log: bool,
    log_level: str,
) -> None:
    """Serve a model over HTTP: /predict, /docs, /metrics (and gRPC with --grpc-port).

    Settings come from, lowest to highest: defaults, the `server:` block of
    nervosum.yaml, NERVOSUM_* environment variables, then these flags.

    \b
    Example:
      nervosum serve examples/iris --port 5000
      curl -s localhost:5000/predict -H 'content-type: application/json' \\
           -d '{"sepal_length":5.1,"sepal_width":3.5,"petal_length":1.4,"petal_width":0.2}'
      nervosum serve examples/iris --grpc-port 8081   # also gRPC (KServe v2 / Triton)
      nervosum serve models/v3 --challenger models/v4 --canary 10%   # docs/variants.md
    """
    from nervosum.project import load_config
    from nervosum.serving.server import ServeOptions
    from nervosum.serving.start import serve as run

    project = with_variants(load_config(project_dir, config), challenger, shadow, canary)
    if project.config.logging is not None:  # a sink that cannot work stops us before binding
        from nervosum.predlog.opener import open_sinks

        open_sinks(project.config.logging.sinks, project.config.logging.n_best)
    options = ServeOptions(
        host=host,
        port=port,
        grpc_port=grpc_port,
        max_body_size=max_body_size,
        workers=workers,
        preload=preload,
        model_process=model_process,
        timeout=timeout,
        graceful_timeout=graceful_timeout,
        access_log=access_log,
        log_level=log_level,
        debug=bool(ctx.find_root().params.get("debug")),
    )
    sys.exit(run(project, with_security_flags(ctx, options)))
