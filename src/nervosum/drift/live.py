"""A served model's live drift: its reference profile and the window of served rows.

The profile is the bundle's (``nervosum build`` made it), else made from
``monitoring.reference`` once the model has loaded, on a thread of its own (reading the
file and binning it never holds the event loop; the reference's predictions go through
the ``predict`` it is handed, the server's model thread, in chunks), else the one
``nervosum train`` left beside the model's artifact. Until it is ready, and when it failed,
nothing is kept and no drift is exported.
"""

from __future__ import annotations

import logging
import threading
from pathlib import Path

from nervosum.config import Project
from nervosum.config.types import Record
from nervosum.drift.profile import Predict, Profile, bundled_profile, make_profile, trained_profile
from nervosum.drift.reference import read_reference, reference_path
from nervosum.drift.window import DriftWindow
from nervosum.engine import Engine

log = logging.getLogger("nervosum.drift")


class LiveDrift:
    """What a server knows of its traffic's drift; see the module's docstring."""

    def __init__(self, project: Project, bundled: Path | None, reference: Path | None) -> None:
        self.project = project
        self._bundled = bundled
        self._reference = reference
        self.window: DriftWindow | None = None
        self.error: str | None = None

    @classmethod
    def for_project(cls, project: Project) -> LiveDrift | None:
        """None for a project without a reference; a named reference that is not there
        is a config error (exit 2) naming ``monitoring.reference``. The bundle's profile
        comes first, then the reference, then the profile ``nervosum train`` left."""
        bundled = bundled_profile(project)
        reference = reference_path(project) if bundled is None else None
        if bundled is None and reference is None:
            bundled = trained_profile(project)
            if bundled is None:
                return None
        return cls(project, bundled, reference)

    def start(self, engine: Engine, predict: Predict) -> None:
        """Read the bundle's profile, or make one from the reference in the background."""
        if self._bundled is not None:
            self._ready(Profile.read(self._bundled))
            return
        maker = threading.Thread(
            target=self._make, args=(engine, predict), name="nervosum-drift-profile", daemon=True
        )
        maker.start()

    def _make(self, engine: Engine, predict: Predict) -> None:
        assert self._reference is not None
        try:
            frame = read_reference(self.project, self._reference)
            name = self._reference.relative_to(self.project.project_dir).as_posix()
            profile = make_profile(engine, frame, name, predict)
        except Exception as exc:
            self.error = str(exc)
            log.error("live drift is off: the reference profile failed: %s", exc)
            return
        self._ready(profile)

    def _ready(self, profile: Profile) -> None:
        spec = self.project.config.monitoring
        self.window = DriftWindow(profile, spec.window_rows, spec.window_seconds)
        log.info(
            "live drift on: %d features, reference of %d rows, window of %s",
            len(profile.features),
            profile.rows,
            spec.window if spec.window_seconds is not None else f"{spec.window} rows",
        )

    def observe(self, records: list[Record], outputs: list[Record]) -> None:
        """The request path's hook: keep an answered request (once the profile is ready)."""
        window = self.window
        if window is not None:
            window.observe(records, outputs)

    def refresh(self) -> Record | None:
        """The window's new figures when it refreshed (about once a second), else None."""
        window = self.window
        return window.refresh() if window is not None else None

    def info(self) -> Record:
        """``/info``'s ``drift``: the profile's summary and the current figures."""
        window = self.window
        if window is None:
            return {"status": "failed" if self.error else "profiling", "error": self.error}
        return {"status": "ready", "reference": window.profile.summary(), **window.report}
