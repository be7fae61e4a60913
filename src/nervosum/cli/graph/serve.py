"""``nervosum graph serve``: a whole graph behind HTTP."""

from __future__ import annotations

import click

from nervosum.cli.graph.exit import ends_despite_threads
from nervosum.cli.graph.file import module_path_option, open_graph
from nervosum.cli.options import compile_option, listen_options, listen_settings
from nervosum.cli.output import reports_errors


@click.command("serve", short_help="Serve a graph over HTTP: POST /predict runs it.")
@click.argument("graph_file", metavar="GRAPH_FILE")
@listen_options
@module_path_option
@compile_option
@click.pass_context
@ends_despite_threads
@reports_errors
def serve(
    ctx: click.Context,
    graph_file: str,
    host: str | None,
    port: int | None,
    graceful_timeout: float | None,
    access_log: bool,
    log_level: str,
    module_paths: tuple[str, ...],
) -> None:
    """Load every step of GRAPH_FILE in this process and serve it: POST /predict with a
    message (a JSON object, or a list) runs it through the graph and answers with what
    reached the final streams and what was dead-lettered.

    \b
    Example:
      nervosum graph serve examples/graph/pipeline.yaml --port 5000
      curl -d '{"text": "free cash"}' -H content-type:application/json localhost:5000/predict
    """
    import uvicorn

    from nervosum.config.spec import AuthSpec, ServerSpec
    from nervosum.graph.http import create_graph_app
    from nervosum.graph.local import GraphCode
    from nervosum.serving.server import stop_signals_end_cleanly, uvicorn_config

    graph = open_graph(graph_file, module_paths)
    options = listen_settings(ctx, host, port, graceful_timeout, access_log, log_level)
    settings = options.settings(ServerSpec())
    auth = options.auth_settings(AuthSpec())  # a graph file has no auth: block: the flags
    code = GraphCode(graph)  # a step that cannot load stops here, exit 2
    app = create_graph_app(code, auth=auth, settings=settings)
    server = uvicorn.Server(uvicorn_config(app, settings, options))
    with stop_signals_end_cleanly():
        server.run()
