"""Start gRPC beside an HTTP app when ``server.grpc_port`` asks for it.

grpcio is imported only then, and checked for before anything loads: it is the
``nervosum[grpc]`` extra, and servers without gRPC never pay its import.
"""

from __future__ import annotations

import importlib.util
import socket
from typing import TYPE_CHECKING

from nervosum.config.spec import ServerSpec
from nervosum.errors import RequestError
from nervosum.serving.auth.gate import Gate
from nervosum.serving.state import ServingState

if TYPE_CHECKING:
    from nervosum.serving.inference_grpc.server import GrpcServer


def check_grpc(settings: ServerSpec) -> None:
    """Before the model loads: grpcio is installed and the gRPC port is free (one line
    and exit code 2 otherwise)."""
    port = settings.grpc_port
    if port is None:
        return
    if any(importlib.util.find_spec(name) is None for name in ("grpc", "grpc_health")):
        raise RequestError(
            "--grpc-port needs grpcio, which is not installed",
            hint="pip install 'nervosum[grpc]'",
        )
    if port == settings.port:
        raise RequestError(
            f"--grpc-port {port} is the HTTP port too", hint="give gRPC a port of its own"
        )
    _probe(settings.host, port)


def _probe(host: str, port: int) -> None:
    """Bind every address ``host`` stands for, as gRPC will, and let go: a port another
    server listens on is refused (SO_REUSEADDR, as gRPC sets it: a closed connection
    still waiting out its TIME_WAIT is no reason to refuse)."""
    try:
        addresses = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    except socket.gaierror as exc:
        raise RequestError(f"cannot listen for gRPC on {host}: {exc.strerror}") from None
    for family, kind, proto, _, where in addresses:
        with socket.socket(family, kind, proto) as probe:
            probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            try:
                probe.bind(where)
            except OSError as exc:
                raise RequestError(
                    f"cannot listen for gRPC on port {port}: {exc.strerror}",
                    hint="choose another --grpc-port, or stop what holds this one",
                ) from None


async def grpc_for_model(
    settings: ServerSpec, state: ServingState, gate: Gate
) -> GrpcServer | None:
    """The gRPC server answering for ``state``'s model, started; None without a gRPC port."""
    if settings.grpc_port is None:
        return None
    from nervosum.serving.inference_grpc.server import start_grpc
    from nervosum.serving.inference_grpc.service import OneModel

    return await start_grpc(settings, OneModel(state, gate))
