"""Run the HTTP app on uvicorn and turn a failed model load into a non-zero exit.

uvicorn (with uvloop and httptools when installed) is the server: its Starlette
ceiling on this machine kind is ~100x what a model-bound server needs, and it is what
most Python teams already operate. The process exits 1 (2 for a definition error)
with one readable line when the model cannot load.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass

import uvicorn

from nervosum.config import Project
from nervosum.errors import NervosumError
from nervosum.serving.app import create_app

log = logging.getLogger("nervosum.serving")


@dataclass(frozen=True)
class ServeOptions:
    """How to run the server; ``None`` fields fall back to nervosum.yaml's ``server:``."""

    host: str | None = None
    port: int | None = None
    max_body_size: int | None = None
    access_log: bool = False
    log_level: str = "info"
    debug: bool = False


def serve(project: Project, options: ServeOptions) -> int:
    """Serve until stopped; returns the process exit code."""
    settings = project.config.server
    failure: list[BaseException] = []
    server: uvicorn.Server | None = None

    def stop_on_failure(exc: BaseException) -> None:
        failure.append(exc)
        if server is not None:
            server.should_exit = True

    app = create_app(
        project,
        debug=options.debug,
        max_body_size=options.max_body_size,
        on_load_failure=stop_on_failure,
    )
    config = uvicorn.Config(
        app,
        host=options.host or settings.host,
        port=options.port if options.port is not None else settings.port,
        log_level=options.log_level,
        access_log=options.access_log,
        lifespan="on",
        server_header=False,
    )
    server = uvicorn.Server(config)
    server.run()
    if failure:
        exc = failure[0]
        return exc.exit_code if isinstance(exc, NervosumError) else 1
    return 0
