"""Every model of a repository: discovery, loading, refresh and retirement.

A refresh takes a snapshot of the source (a new clone for git), compares each model
folder's fingerprint with the loaded one, and loads only what was added or changed,
beside the running versions, one model at a time (user modules of different folders
share names such as ``etls``: each load imports them in a namespace of its own, whose
bare names a pickle read during the load resolves, so loads must not interleave: a
folder's challenger, loaded in the background once its champion serves, is waited for
before the next folder). Each success is swapped into its slot; a failure keeps the
previous version serving and is reported; removed folders stop answering (404) and are
retired once their in-flight requests end.
"""

from __future__ import annotations

import asyncio
import difflib
import logging
import sys
import time
import uuid
from dataclasses import dataclass, field
from typing import Any, Literal

from nervosum.errors import NervosumError, NotFoundError
from nervosum.model.imports import Namespace, own_namespace
from nervosum.observe.metrics import HttpMetrics
from nervosum.repo.folders import ModelFolder, discover, folder_project, missing_package_hint
from nervosum.repo.slots import ModelSlot, Version, now_iso
from nervosum.repo.sources import Snapshot, Source
from nervosum.repo.variants import folder_challenger, serve_challenger
from nervosum.serving.state import ServingState

log = logging.getLogger("nervosum.repo")


@dataclass
class RefreshReport:
    """What one refresh did: the body of ``GET /<base>/-/refresh``."""

    reason: str
    id: str = field(default_factory=lambda: uuid.uuid4().hex[:12])
    status: Literal["running", "done", "failed"] = "running"
    started: str = field(default_factory=now_iso)
    finished: str | None = None
    seconds: float | None = None
    version: str | None = None
    added: list[str] = field(default_factory=list)
    updated: list[str] = field(default_factory=list)
    removed: list[str] = field(default_factory=list)
    unchanged: list[str] = field(default_factory=list)
    failed: list[dict[str, str]] = field(default_factory=list)
    error: str | None = None

    def to_dict(self) -> dict[str, Any]:
        return dict(vars(self))


def _message(exc: BaseException) -> str:
    return str(exc) if isinstance(exc, NervosumError) else f"{type(exc).__name__}: {exc}"


class ModelFleet:
    """The repository's models, behind one event loop."""

    def __init__(
        self,
        source: Source,
        base_url: str,
        *,
        snapshot: Snapshot | None = None,
        debug: bool = False,
        drain_timeout: float = 30.0,
    ) -> None:
        """``snapshot``: one already taken (the CLI checks the source before binding)."""
        # A reload must run the folder's code as it is now: cached bytecode is checked by
        # the source's mtime in whole seconds and its size, so an edit within the second
        # of the last import could load the old code. Nothing is compiled to disk, either
        # (no __pycache__ in the user's folder or the checkouts).
        sys.dont_write_bytecode = True
        self.source = source
        self.base_url = base_url
        self.debug = debug
        self.drain_timeout = drain_timeout
        self.metrics = HttpMetrics(base_url or "repo")
        self.slots: dict[str, ModelSlot] = {}
        self.snapshot: Snapshot | None = None
        self.last: RefreshReport | None = None
        self.started = False  # the first refresh has run
        self._pending = snapshot
        self._held: dict[str, Snapshot] = {}  # every snapshot a version may still come from
        self._lock = asyncio.Lock()
        self._running: asyncio.Task[RefreshReport] | None = None
        self._draining: dict[asyncio.Task[None], Version] = {}  # retired, finishing requests

    # -- lookups -------------------------------------------------------------------------

    def ordered(self) -> list[ModelSlot]:
        return [self.slots[name] for name in sorted(self.slots)]

    def slot(self, name: str) -> ModelSlot:
        found = self.slots.get(name)
        if found is None:
            close = difflib.get_close_matches(name, list(self.slots), n=1)
            hint = f"did you mean {close[0]!r}?" if close else "GET /models lists every model"
            raise NotFoundError(f"no model {name!r} in {self.source.description}", hint=hint)
        return found

    def describe(self) -> list[dict[str, Any]]:
        return [slot.describe() for slot in self.ordered()]

    def all_metrics(self) -> list[HttpMetrics]:
        """The fleet's own metrics and each model's."""
        return [self.metrics, *(s.metrics for s in self.ordered() if s.metrics is not None)]

    def registries(self) -> list[Any]:
        return [metrics.registry for metrics in self.all_metrics()]

    # -- refresh -------------------------------------------------------------------------

    def trigger(self, reason: str, snapshot: Snapshot | None = None) -> RefreshReport:
        """Start a refresh in the background (or join the running one); its report.

        ``snapshot``: one already taken (the watcher's), else the refresh takes one."""
        running = self.running()
        if running is None:
            report = RefreshReport(reason)
            if snapshot is not None:
                self._pending = snapshot
            self._running = asyncio.get_running_loop().create_task(self.refresh(report))
            self.last = report
        assert self.last is not None
        return self.last

    def running(self) -> asyncio.Task[RefreshReport] | None:
        if self._running is None or self._running.done():
            return None
        return self._running

    def changed(self) -> Snapshot | None:
        """A new snapshot if any model folder differs from what is loaded (blocking)."""
        current = self.snapshot
        snapshot = self.source.snapshot(current)
        if current is None or snapshot.fingerprints != current.fingerprints:
            return snapshot
        return None

    async def refresh(self, report: RefreshReport | None = None) -> RefreshReport:
        """Bring the served models in line with the source; never raises."""
        report = report or RefreshReport("manual")
        self.last = report
        started = time.perf_counter()
        async with self._lock:
            try:
                snapshot, self._pending = self._pending, None
                if snapshot is None:
                    snapshot = await asyncio.to_thread(self.source.snapshot, self.snapshot)
                report.version = snapshot.version
                await self._apply(snapshot, report)
                report.status = "done"
            except Exception as exc:
                report.status = "failed"
                report.error = _message(exc)
                log.error(
                    "refresh of %s failed, models keep serving: %s", self.source.description, exc
                )
            finally:
                self.started = True
                self.metrics.ready.set(1)  # the repository server's own row: it is serving
                report.finished = now_iso()
                report.seconds = round(time.perf_counter() - started, 3)
        self._release_unused()
        return report

    async def _apply(self, snapshot: Snapshot, report: RefreshReport) -> None:
        if snapshot is self.snapshot:
            report.unchanged = sorted(self.slots)
            return
        self._held[str(snapshot.root)] = snapshot
        self.snapshot = snapshot
        found = {folder.name: folder for folder in await asyncio.to_thread(discover, snapshot.root)}
        for name in sorted(set(self.slots) - set(found)):
            gone = self.slots.pop(name)
            report.removed.append(name)
            if gone.current is not None:
                self._retire(gone.current)
        work: list[tuple[ModelSlot, ModelFolder, str]] = []
        for name, folder in sorted(found.items()):
            fingerprint = snapshot.fingerprints.get(name, snapshot.version)
            slot = self.slots.get(name)
            if slot is None:  # listed (as loading) in /models before its turn comes
                slot = self.slots[name] = ModelSlot(name)
                report.added.append(name)
            elif slot.fingerprint == fingerprint:
                report.unchanged.append(name)
                continue
            else:
                report.updated.append(name)
            work.append((slot, folder, fingerprint))
        for slot, folder, fingerprint in work:
            slot.fingerprint = fingerprint
            error = await self._load_into(slot, folder, snapshot)
            if error is not None:
                report.failed.append({"name": slot.name, "error": error})

    async def _load_into(
        self, slot: ModelSlot, folder: ModelFolder, snapshot: Snapshot
    ) -> str | None:
        """Load ``folder`` and swap it in; on failure keep what serves. The error, if any."""
        try:
            version = await self._load(slot, folder, snapshot)
        except Exception as exc:
            slot.error = _message(missing_package_hint(exc, folder))
            if slot.metrics is None:  # it never got a state: still shown, as not ready
                slot.metrics = HttpMetrics(slot.name)
            if slot.current is None:
                slot.status = "failed"
                log.error("model %s failed to load: %s", slot.name, slot.error)
            else:
                log.error(
                    "model %s: the new version failed to load, version %s keeps serving: %s",
                    slot.name,
                    slot.current.snapshot.version[:12],
                    slot.error,
                )
            return slot.error
        previous, slot.current = slot.current, version
        slot.status, slot.error = "ready", None
        if previous is not None:
            self._retire(previous)
        seconds = version.load_seconds
        log.info("model %s ready (%s, %.2fs)", slot.name, snapshot.version[:12], seconds)
        await self._challenger_loaded(version)
        return None

    async def _load(self, slot: ModelSlot, folder: ModelFolder, snapshot: Snapshot) -> Version:
        """Load the folder's model; with a challenger, the version serves both (fresh
        arms: a promotion does not carry over to a new version of the folder)."""
        project = await asyncio.to_thread(folder_project, folder)
        challenger = await asyncio.to_thread(folder_challenger, folder, project)
        state = ServingState(project, project.config.server, debug=self.debug, metrics=slot.metrics)
        slot.metrics = state.metrics
        if challenger is not None:  # before the load: nothing is left loaded if it fails
            serve_challenger(state, challenger)
        namespace: Namespace | None = None
        try:
            # Each model imports its folder's modules in a namespace of its own (issue 20).
            with own_namespace(project.project_dir, project.src_dir) as namespace:
                await state.load()
        except BaseException:
            await state.shutdown()
            if namespace is not None:
                namespace.release()
            raise
        state.start()  # the arms load the challenger in the background
        return Version(state, folder, snapshot, namespace)

    async def _challenger_loaded(self, version: Version) -> None:
        """Wait while the challenger of ``version`` loads in the background: loads must not
        interleave (see the module), so the next folder waits. The champion serves
        meanwhile; retiring the version stops its challenger's load, and the wait."""
        if version.state.arms is not None:
            await version.state.arms.loaded()

    # -- v2 repository extension ---------------------------------------------------------

    async def load(self, name: str) -> ModelSlot:
        """(Re)load one model from the current snapshot, whatever its fingerprint."""
        async with self._lock:
            snapshot = self.snapshot
            folder = None
            if snapshot is not None:
                found = await asyncio.to_thread(discover, snapshot.root)
                folder = next((f for f in found if f.name == name), None)
            if snapshot is None or folder is None:
                raise NotFoundError(f"no model folder {name!r} in {self.source.description}")
            slot = self.slots.setdefault(name, ModelSlot(name))
            slot.fingerprint = snapshot.fingerprints.get(name, snapshot.version)
            error = await self._load_into(slot, folder, snapshot)
        if error is not None:
            raise slot.unavailable() if slot.current is None else NervosumError(error)
        return slot

    async def unload(self, name: str) -> ModelSlot:
        """Stop serving one model (503 until it is loaded again)."""
        async with self._lock:
            slot = self.slot(name)
            if slot.current is not None:
                self._retire(slot.current)
            slot.current, slot.status, slot.error = None, "unloaded", None
        self._release_unused()
        return slot

    # -- retirement ----------------------------------------------------------------------

    def _retire(self, version: Version) -> None:
        task = asyncio.get_running_loop().create_task(self._drain(version))
        self._draining[task] = version
        task.add_done_callback(self._drained)

    def _drained(self, task: asyncio.Task[None]) -> None:
        del self._draining[task]
        self._release_unused()

    async def _drain(self, version: Version) -> None:
        deadline = time.monotonic() + self.drain_timeout
        while version.leases and time.monotonic() < deadline:
            await asyncio.sleep(0.05)
        await version.state.shutdown()
        if version.namespace is not None:
            version.namespace.release()

    def _release_unused(self) -> None:
        """Delete checkouts that no serving or draining version comes from."""
        serving = [s.current for s in self.slots.values() if s.current]
        versions = [*serving, *self._draining.values()]
        used = {str(v.snapshot.root) for v in versions}
        if self.snapshot is not None:
            used.add(str(self.snapshot.root))
        for root in list(self._held):
            if root not in used:
                self.source.release(self._held.pop(root))

    async def close(self) -> None:
        """Stop refreshing, answer what is in flight, release every model."""
        if self._running is not None and not self._running.done():
            await self._running
        for slot in self.ordered():
            if slot.current is not None:
                self._retire(slot.current)
                slot.current = None
        if self._draining:
            await asyncio.gather(*self._draining, return_exceptions=True)
