"""A built bundle's model card, as far as its files tell without loading the model
(``nervosum inspect``; docs/monitoring.md, "Model card").

The manifest names the bundle, its schemas, the pinned wheels it installs and the Python
it was built with; a bundle built with ``monitoring.reference`` keeps the reference
profile. What only a loaded model knows (its uuid, classes, runtime and compile check,
the figures a trained model carries) is in the served ``GET /card``.
"""

from __future__ import annotations

import time

from nervosum.config.types import Record
from nervosum.drift.profile import PROFILE_FILE, Profile
from nervosum.registry.store import Entry


def bundle_card(entry: Entry) -> Record:
    """The card of ``entry`` from its manifest and its reference profile."""
    manifest = entry.manifest
    created = manifest.get("created")
    profile = entry.path / PROFILE_FILE
    return {
        "name": manifest.get("name"),
        "version": manifest.get("tag"),
        "id": manifest.get("id"),
        "created": _iso(created) if isinstance(created, int | float) else None,
        "input_schema": manifest.get("input_schema", []),
        "output_schema": manifest.get("output_schema", []),
        "dependencies": dict(_pin(line) for line in manifest.get("requirements", [])),
        "python": manifest.get("python_version"),
        "reference": Profile.read(profile).summary() if profile.is_file() else None,
    }


def _pin(line: str) -> tuple[str, str]:
    name, _, version = line.partition("==")
    return name, version


def _iso(epoch: float) -> str:
    return time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(epoch))
