"""One served model of a repository and the versions it goes through.

A :class:`ModelSlot` holds the version answering requests now. A request *leases* that
version for as long as it runs; a refresh puts the new version in the slot (one
assignment on the event loop, so the swap is atomic for requests) and retires the old
one only once its leases are back to zero: in-flight requests finish on the version
they started on and no request sees the model missing.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any, Literal

from nervosum.errors import NotReadyError
from nervosum.model.imports import Namespace
from nervosum.observe.metrics import HttpMetrics
from nervosum.repo.folders import ModelFolder
from nervosum.repo.sources import Snapshot
from nervosum.repo.variants import arms_summary
from nervosum.serving.state import ServingState

Status = Literal["loading", "ready", "failed", "unloaded"]


def now_iso() -> str:
    return datetime.now(UTC).isoformat(timespec="seconds").replace("+00:00", "Z")


@dataclass
class Version:
    """A loaded model from one snapshot of the repository."""

    state: ServingState
    folder: ModelFolder
    snapshot: Snapshot
    namespace: Namespace | None = None  # where its modules were imported
    loaded_at: str = field(default_factory=now_iso)
    leases: int = 0

    @property
    def load_seconds(self) -> float:
        engine = self.state.engine
        return engine.handle.load_seconds if engine is not None else 0.0


@dataclass
class ModelSlot:
    """A model name and whatever currently answers for it."""

    name: str
    status: Status = "loading"
    current: Version | None = None
    error: str | None = None  # the last load's failure, even when an older version serves
    fingerprint: str | None = None  # of the folder content last loaded (or tried)
    metrics: HttpMetrics | None = None  # kept across versions, so counters continue

    @contextmanager
    def lease(self) -> Iterator[ServingState]:
        """The serving version's state, kept alive until the block ends; 503 otherwise."""
        version = self.current
        if version is None:
            raise self.unavailable()
        version.leases += 1
        try:
            yield version.state
        finally:
            version.leases -= 1

    @property
    def expose_details(self) -> bool:
        """The serving version's ``errors.expose_details`` (an error of a model that
        never loaded carries no details to hide)."""
        return self.current is None or self.current.state.expose_details

    def unavailable(self) -> NotReadyError:
        if self.status == "failed":
            return NotReadyError(f"model {self.name} failed to load: {self.error}")
        if self.status == "unloaded":
            return NotReadyError(
                f"model {self.name} is unloaded",
                hint=f"POST /v2/repository/models/{self.name}/load",
            )
        return NotReadyError(f"model {self.name} is still loading")

    def index_entry(self) -> dict[str, Any]:
        """The model in the Open Inference Protocol's repository index (states as the
        protocol names them), over REST and gRPC."""
        state = {"ready": "READY", "loading": "LOADING"}.get(self.status, "UNAVAILABLE")
        entry: dict[str, Any] = {"name": self.name, "state": state, "reason": self.error or ""}
        if self.current is not None:
            entry["version"] = self.current.snapshot.version
        return entry

    def describe(self) -> dict[str, Any]:
        """The model's entry in ``GET /models``."""
        version = self.current
        entry: dict[str, Any] = {"name": self.name, "status": self.status}
        if version is not None:
            engine = version.state.engine
            entry.update(
                kind=version.folder.kind,
                version=version.snapshot.version,
                loaded_at=version.loaded_at,
                load_seconds=round(version.load_seconds, 4),
                model=engine.handle.label if engine is not None else None,
            )
            if version.state.arms is not None:
                entry["arms"] = arms_summary(version.state.arms)
        if self.error is not None:
            entry["error"] = self.error
        return entry
