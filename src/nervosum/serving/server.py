"""Run the HTTP app on uvicorn in this process (``start.py`` chooses between this, pre-forked
workers and a model process).

uvicorn (with uvloop and httptools when installed) is the server: its Starlette
ceiling on this machine kind is ~100x what a model-bound server needs, and it is what
most Python teams already operate. A failed model load ends the process with one
readable line and exit code 2 (definition errors) or 1.
"""

from __future__ import annotations

import contextlib
import dataclasses
import gc
import logging
import math
import signal
import socket
import threading
from collections.abc import Iterator
from dataclasses import dataclass, fields
from typing import Any

import pydantic
import uvicorn

from nervosum.config import Project
from nervosum.config.spec import AuthSpec, ServerSpec
from nervosum.engine import Engine
from nervosum.errors import NervosumError, RequestError
from nervosum.serving.app import create_app
from nervosum.serving.challenger import Preloaded
from nervosum.serving.front import FrontedApp
from nervosum.serving.limits import limited_protocol
from nervosum.serving.tls import uvicorn_tls

log = logging.getLogger("nervosum.serving")


@dataclass(frozen=True)
class ServeOptions:
    """Command-line / environment overrides; ``None`` keeps nervosum.yaml's ``server:`` value."""

    host: str | None = None
    port: int | None = None
    grpc_port: int | None = None
    max_body_size: int | None = None
    workers: int | str | None = None
    timeout: float | None = None
    graceful_timeout: float | None = None
    preload: bool | None = None
    model_process: bool | None = None
    ssl_certfile: str | None = None
    ssl_keyfile: str | None = None
    ssl_ca_certs: str | None = None
    api_keys_file: str | None = None
    jwks_file: str | None = None
    jwt_audience: str | None = None
    access_log: bool = False
    log_level: str = "info"
    debug: bool = False

    def settings(self, server: ServerSpec) -> ServerSpec:
        """``server`` with every override that was given applied (and validated)."""
        names = set(ServerSpec.model_fields)
        overrides = {
            f.name: getattr(self, f.name)
            for f in fields(self)
            if f.name in names and getattr(self, f.name) is not None
        }
        try:
            return ServerSpec.model_validate({**server.model_dump(), **overrides})
        except pydantic.ValidationError as exc:
            first = {str(e["loc"][0]): str(e["msg"]) for e in reversed(exc.errors())}
            problems = "; ".join(
                f"--{name.replace('_', '-')}: {msg.removeprefix('Value error, ')}"
                for name, msg in first.items()
            )
            raise RequestError(f"invalid server option: {problems}") from None

    def auth_settings(self, auth: AuthSpec) -> AuthSpec:
        """``auth`` (nervosum.yaml's ``auth:``) with ``--api-keys``, ``--jwks`` and
        ``--jwt-audience`` applied (and validated)."""
        overrides = {
            name: value
            for name, value in (
                ("keys_file", self.api_keys_file),
                ("jwks_file", self.jwks_file),
                ("audience", self.jwt_audience),
            )
            if value is not None
        }
        try:
            return AuthSpec.model_validate({**auth.model_dump(), **overrides})
        except pydantic.ValidationError as exc:
            raise RequestError(f"invalid auth option: {exc.errors()[0]['msg']}") from None


def uvicorn_config(app: Any, settings: ServerSpec, options: ServeOptions) -> uvicorn.Config:
    """How every nervosum HTTP server runs ``app`` (serve, its workers, serve-repo, graph
    serve): with the request limits of ``settings`` and, when configured, TLS.

    No route takes a WebSocket, so upgrade requests are answered as plain HTTP/1.1.
    uvicorn counts the keep-alive timeout in whole seconds: it is rounded up.
    """
    return uvicorn.Config(
        app,
        host=settings.host,
        port=settings.port,
        http=limited_protocol(settings),
        ws="none",
        timeout_keep_alive=math.ceil(settings.keep_alive_timeout),
        log_level=options.log_level,
        access_log=options.access_log,
        lifespan="on",
        server_header=False,
        timeout_graceful_shutdown=math.ceil(settings.graceful_timeout),
        **uvicorn_tls(settings),
    )


class DrainingServer(uvicorn.Server):
    """uvicorn's server; when its drain starts (SIGTERM), the app's own drains start too
    (:attr:`FrontedApp.drains`: gRPC), so both finish within ``server.graceful_timeout``
    instead of one after the other."""

    async def shutdown(self, sockets: list[socket.socket] | None = None) -> None:
        app = self.config.app
        if isinstance(app, FrontedApp):
            for begin in app.drains:
                begin()
        await super().shutdown(sockets=sockets)


def settle_heap() -> None:
    """Take everything alive now (imported modules, the loaded model) out of the cyclic
    garbage collector's reach.

    Loading a scikit-learn model brings pandas and scikit-learn: ~140k objects that every
    full collection walks again (~80 ms on a small box). Under load those collections took
    a fifth of the HTTP process's CPU and a long pause each; frozen, the collector only
    visits what requests allocate. Forked processes (model process, workers) inherit the
    frozen heap, so its pages also stay shared instead of being touched by collections.
    """
    gc.freeze()


@contextlib.contextmanager
def stop_signals_end_cleanly() -> Iterator[None]:
    """uvicorn re-raises SIGTERM / SIGINT after its graceful shutdown, against the handler
    that was installed before it; with Python's defaults the process would then die with
    143 or KeyboardInterrupt. A drained server ends with exit code 0 instead."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    stops = (signal.SIGTERM, signal.SIGINT)
    previous = {sig: signal.signal(sig, lambda signum, frame: None) for sig in stops}
    try:
        yield
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)


def run_server(
    project: Project,
    settings: ServerSpec,
    options: ServeOptions,
    *,
    engine: Engine | None = None,
    challenger: Preloaded | None = None,
    sockets: list[socket.socket] | None = None,
) -> int:
    """Run one uvicorn server until it stops; without ``engine`` the model loads in the
    background while /health/live already answers. With ``server.model_process`` the
    given engine is forked into a model process first, and a loaded ``challenger``
    into one of its own (the challenger's arm closes it). Returns the exit code."""
    if engine is not None:
        settle_heap()
    if engine is not None and settings.model_process:
        from nervosum.serving.model_process import RemoteEngine

        remote = RemoteEngine(engine, answer_timeout=settings.timeout)
        beside: RemoteEngine | None = None  # the challenger's; its arm closes it when serving
        try:
            if challenger is not None and isinstance(challenger.model, Engine):
                beside = RemoteEngine(challenger.model, answer_timeout=settings.timeout)
                challenger = dataclasses.replace(challenger, model=beside)
            return run_server(
                project,
                settings.model_copy(update={"model_process": False}),
                options,
                engine=remote,
                challenger=challenger,
                sockets=sockets,
            )
        finally:
            if beside is not None:  # closed already unless the app failed to start
                beside.close()
            remote.close()
    failure: list[BaseException] = []
    server: uvicorn.Server | None = None

    def stop_on_failure(exc: BaseException) -> None:
        failure.append(exc)
        if server is not None:
            server.should_exit = True

    app = create_app(
        project,
        settings,
        auth=options.auth_settings(project.config.auth),
        engine=engine,
        challenger=challenger,
        debug=options.debug,
        on_load_failure=stop_on_failure,
        on_loaded=settle_heap,
    )
    server = DrainingServer(uvicorn_config(app, settings, options))
    with stop_signals_end_cleanly():
        server.run(sockets=sockets)
    if failure:
        exc = failure[0]
        return exc.exit_code if isinstance(exc, NervosumError) else 1
    return 0
