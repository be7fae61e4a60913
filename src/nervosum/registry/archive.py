"""A bundle as one `.tar.gz`: to copy it to a machine with a container engine."""

from __future__ import annotations

import tarfile
from pathlib import Path

from nervosum.registry.store import Entry


def export_bundle(entry: Entry, target: Path) -> Path:
    """Write the bundle folder under `<name>-<tag>/` (links kept as links)."""
    target.parent.mkdir(parents=True, exist_ok=True)
    partial = target.with_name(f".{target.name}.part")
    with tarfile.open(partial, "w:gz") as archive:
        archive.add(entry.path, arcname=f"{entry.name}-{entry.tag}")
    partial.replace(target)
    return target
