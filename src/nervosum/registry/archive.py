"""A bundle as one `.tar.gz`: to copy it to a machine with a container engine.

Every member lies under `<name>-<tag>/` and passes the checks of tarfile's ``data``
extraction filter (no absolute path, no `..`, no link out of the archive's folder), so
unpacking it, with that filter or without, writes nothing outside the folder it is
unpacked in.
"""

from __future__ import annotations

import tarfile
from pathlib import Path

from nervosum.errors import BuildError
from nervosum.registry.store import Entry


def _member_check(member: tarfile.TarInfo) -> tarfile.TarInfo:
    """``member`` as it is, or :class:`BuildError` if extracting it would escape."""
    try:
        tarfile.data_filter(member, "/extracted")
    except tarfile.FilterError as exc:
        raise BuildError(
            f"the bundle holds {member.name!r}, which would be unpacked outside its folder: {exc}",
            hint="rebuild the bundle (nervosum build); links in a project are copied as files",
        ) from None
    return member


def export_bundle(entry: Entry, target: Path) -> Path:
    """Write the bundle folder under `<name>-<tag>/` (links kept as links)."""
    entry.check_names()
    target.parent.mkdir(parents=True, exist_ok=True)
    partial = target.with_name(f".{target.name}.part")
    try:
        with tarfile.open(partial, "w:gz") as archive:
            archive.add(entry.path, arcname=f"{entry.name}-{entry.tag}", filter=_member_check)
    except BuildError:
        partial.unlink(missing_ok=True)
        raise
    partial.replace(target)
    return target
