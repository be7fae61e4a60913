"""The gRPC server of one serving process: started and stopped with its HTTP app, on the
same event loop, answering through the same model states.

Every worker of ``--workers N`` listens on the gRPC port itself (``SO_REUSEPORT``: the
kernel spreads connections over them, as the HTTP port's shared socket does). The
server also answers ``grpc.health.v1.Health`` (per model, per service and for the whole
server, so Kubernetes gRPC probes work) and, when the docs are open, server reflection
(``grpcurl`` without a .proto file).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Awaitable, Callable
from typing import Any

import grpc
from grpc_health.v1 import health, health_pb2, health_pb2_grpc
from grpc_reflection.v1alpha import reflection

from nervosum.config.spec import ServerSpec
from nervosum.errors import RequestError
from nervosum.serving.inference_grpc import messages
from nervosum.serving.inference_grpc.service import Directory, InferenceService
from nervosum.serving.tls import grpc_credentials

log = logging.getLogger("nervosum.grpc")

# How often the health service reads the models' readiness.
HEALTH_SECONDS = 0.5
_SERVING = health_pb2.HealthCheckResponse.SERVING
_NOT_SERVING = health_pb2.HealthCheckResponse.NOT_SERVING
_UNKNOWN = health_pb2.HealthCheckResponse.SERVICE_UNKNOWN


class _Health(health.aio.HealthServicer):
    """grpc_health's servicer, brought up to date before each Check (Watch streams follow
    the twice-a-second refresh)."""

    def __init__(self, refresh: Callable[[], Awaitable[None]]) -> None:
        super().__init__()
        self._refresh = refresh

    async def Check(
        self, request: health_pb2.HealthCheckRequest, context: Any
    ) -> health_pb2.HealthCheckResponse:
        await self._refresh()
        return await super().Check(request, context)


def address(host: str, port: int) -> str:
    return f"[{host}]:{port}" if ":" in host else f"{host}:{port}"


class GrpcServer:
    """``inference.GRPCInferenceService``, health and reflection on ``settings.grpc_port``."""

    def __init__(self, directory: Directory, settings: ServerSpec, service: InferenceService):
        self.directory = directory
        self.settings = settings
        self.service = service
        self.health = _Health(self._say_health)
        self._server: grpc.aio.Server | None = None
        self._watch: asyncio.Task[None] | None = None
        self._stopping: asyncio.Task[None] | None = None
        self._said: dict[str, bool] = {}

    async def start(self) -> None:
        """Listen, or raise a one-line error naming the port."""
        settings = self.settings
        assert settings.grpc_port is not None
        server = grpc.aio.server(
            options=[
                ("grpc.so_reuseport", 1),
                ("grpc.max_receive_message_length", settings.max_body_size),
            ],
            # As server.max_connections bounds HTTP: past it, RESOURCE_EXHAUSTED at once.
            maximum_concurrent_rpcs=settings.max_connections,
        )
        server.add_generic_rpc_handlers((self.service.rpc_handler(),))
        health_pb2_grpc.add_HealthServicer_to_server(self.health, server)
        gate = self.directory.gate
        if not gate.enabled or gate.policy.docs == "open":
            services = (messages.SERVICE, health.SERVICE_NAME, reflection.SERVICE_NAME)
            reflection.enable_server_reflection(services, server, pool=messages.POOL)
        where = address(settings.host, settings.grpc_port)
        credentials = grpc_credentials(settings)
        try:
            if credentials is None:
                server.add_insecure_port(where)
            else:
                server.add_secure_port(where, credentials)
        except RuntimeError as exc:
            await server.stop(None)
            raise RequestError(
                f"cannot listen for gRPC on {where}: {exc}",
                hint="choose another --grpc-port, or stop what holds this one",
            ) from None
        await server.start()
        self._server = server
        await self._say_health()
        self._watch = asyncio.get_running_loop().create_task(self._keep_health())
        log.info(
            "gRPC (Open Inference Protocol) on %s%s", where, " with TLS" if credentials else ""
        )

    async def _keep_health(self) -> None:
        while True:
            await asyncio.sleep(HEALTH_SECONDS)
            await self._say_health()

    async def _say_health(self) -> None:
        """Set each model's status, the service's and the server's (all models ready),
        when it changed; a model no longer served (a refresh removed it) becomes unknown.
        Nothing once draining: everything then stays NOT_SERVING."""
        if self._stopping is not None:
            return
        ready = self.directory.server_ready()
        statuses = {
            **self.directory.readiness(),
            messages.SERVICE: ready,
            health.OVERALL_HEALTH: ready,
        }
        for name, up in statuses.items():
            if self._said.get(name) != up:
                self._said[name] = up
                await self.health.set(name, _SERVING if up else _NOT_SERVING)
        for gone in set(self._said) - set(statuses):
            del self._said[gone]
            await self.health.set(gone, _UNKNOWN)

    def begin_stop(self) -> None:
        """Start draining now (the HTTP server's drain has started): NOT_SERVING, no new
        calls, those in flight given ``server.graceful_timeout``."""
        if self._stopping is None:
            self._stopping = asyncio.get_running_loop().create_task(self._stop())

    async def stop(self) -> None:
        """Drain (see :meth:`begin_stop`) and wait until done."""
        self.begin_stop()
        assert self._stopping is not None
        await self._stopping

    async def _stop(self) -> None:
        if self._watch is not None:
            self._watch.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._watch
        if self._server is not None:
            await self.health.enter_graceful_shutdown()
            await self._server.stop(self.settings.graceful_timeout)
            self._server = None


async def start_grpc(
    settings: ServerSpec, directory: Directory, service: InferenceService | None = None
) -> GrpcServer:
    """A gRPC server for ``directory``'s models, listening (``service``: one with more
    methods than the protocol's core, e.g. the repository extension)."""
    server = GrpcServer(directory, settings, service or InferenceService(directory))
    await server.start()
    return server
