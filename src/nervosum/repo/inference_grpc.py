"""serve-repo's models over gRPC: every model by its folder name, and the protocol's model
repository extension (index, load, unload), as over REST.

Imported only when ``--grpc-port`` is given (it imports grpcio).
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from google.protobuf import json_format

from nervosum.config.spec import ServerSpec
from nervosum.observe.metrics import RequestMetrics
from nervosum.repo.fleet import ModelFleet
from nervosum.serving.auth.gate import Gate
from nervosum.serving.inference_grpc import messages
from nervosum.serving.inference_grpc.server import GrpcServer, start_grpc
from nervosum.serving.inference_grpc.service import ANY, Call, InferenceService
from nervosum.serving.protocols.naming import check_version
from nervosum.serving.state import ServingState


class FleetDirectory:
    """The models of a fleet, by folder name; a version, when named, must be the model's
    ``tag``."""

    def __init__(self, fleet: ModelFleet, gate: Gate) -> None:
        self.fleet = fleet
        self.gate = gate
        self.metrics: RequestMetrics = fleet.metrics
        self.extensions = ["model_repository"]

    @contextmanager
    def lease(self, name: str, version: str) -> Iterator[ServingState]:
        with self.fleet.slot(name).lease() as state:
            check_version(state.project, name, version)
            yield state

    def readiness(self) -> dict[str, bool]:
        return {slot.name: slot.status == "ready" for slot in self.fleet.ordered()}

    def server_ready(self) -> bool:
        return self.fleet.started


def _repository_service(directory: FleetDirectory) -> InferenceService:
    fleet = directory.fleet
    service = InferenceService(directory)

    async def index(request: Any, call: Call) -> Any:
        entries = [slot.index_entry() for slot in fleet.ordered()]
        shown = [e for e in entries if e["state"] == "READY" or not request.ready]
        answer = messages.message("RepositoryIndexResponse")()
        return json_format.ParseDict({"models": shown}, answer)

    async def load(request: Any, call: Call) -> Any:
        await fleet.load(request.model_name)
        return messages.message("RepositoryModelLoadResponse")()

    async def unload(request: Any, call: Call) -> Any:
        await fleet.unload(request.model_name)
        return messages.message("RepositoryModelUnloadResponse")()

    service.add_method("RepositoryIndex", index, ("POST", "/v2/repository/index"))
    service.add_method("RepositoryModelLoad", load, ("POST", f"/v2/repository/models/{ANY}/load"))
    service.add_method(
        "RepositoryModelUnload", unload, ("POST", f"/v2/repository/models/{ANY}/unload")
    )
    return service


async def grpc_for_fleet(settings: ServerSpec, fleet: ModelFleet, gate: Gate) -> GrpcServer:
    """The fleet's gRPC server, with the repository extension, listening."""
    directory = FleetDirectory(fleet, gate)
    return await start_grpc(settings, directory, _repository_service(directory))
