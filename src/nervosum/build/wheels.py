"""Turn installed distributions back into wheels, byte for byte reproducibly.

A bundle carries every package it needs as a wheel, so installing it (in a venv or an
image build that cannot reach an index) needs no network. The wheels come from the
environment the model was tested in: an installed distribution's RECORD lists its files,
which are exactly a wheel's contents (compiled `.pyc` and installer bookkeeping left
out; console scripts are regenerated from `entry_points.txt` by the installer).
Entries are sorted and time-stamped 1980-01-01, so the same installed package always
gives the same wheel bytes and the bundle id stays reproducible.

An editable install has no files to repack (its RECORD points at a source tree); for
one whose import package carries the distribution's name (nervosum itself when it is
installed from a checkout) the package folder is packed instead.
"""

from __future__ import annotations

import base64
import csv
import hashlib
import importlib.metadata as md
import importlib.util
import io
import json
import os
import sys
import zipfile
from pathlib import Path, PurePosixPath

from packaging.utils import canonicalize_name

from nervosum.errors import BuildError

_EPOCH = (1980, 1, 1, 0, 0, 0)

# An archive member: its name in the wheel and its content (a file, or bytes made here).
Member = tuple[str, Path | bytes]
_SKIPPED_METADATA = {"RECORD", "INSTALLER", "REQUESTED", "direct_url.json"}


def _record_hash(data: bytes) -> str:
    digest = base64.urlsafe_b64encode(hashlib.sha256(data).digest()).rstrip(b"=")
    return f"sha256={digest.decode()}"


def _dist_info_name(dist: md.Distribution) -> str:
    name = str(canonicalize_name(dist.metadata["Name"])).replace("-", "_")
    return f"{name}-{dist.version}.dist-info"


def _tags(dist: md.Distribution) -> str:
    """The wheel file name's compressed tag set, read from the installed WHEEL file."""
    text = dist.read_text("WHEEL") or ""
    tags = [line.split(":", 1)[1].strip() for line in text.splitlines() if line.startswith("Tag:")]
    if not tags:
        return "py3-none-any"
    parts: list[list[str]] = [[], [], []]
    for tag in tags:
        for slot, value in zip(parts, tag.split("-"), strict=True):
            if value not in slot:
                slot.append(value)
    return "-".join(".".join(slot) for slot in parts)


def wheel_filename(dist: md.Distribution) -> str:
    """`name-version-tags.whl`, with the name normalised as the wheel spec asks."""
    name = str(canonicalize_name(dist.metadata["Name"])).replace("-", "_")
    return f"{name}-{dist.version}-{_tags(dist)}.whl"


def _console_scripts(dist: md.Distribution) -> set[str]:
    return {ep.name for ep in dist.entry_points if ep.group in {"console_scripts", "gui_scripts"}}


def _editable(dist: md.Distribution) -> bool:
    text = dist.read_text("direct_url.json")
    if not text:
        return False
    return bool(json.loads(text).get("dir_info", {}).get("editable"))


def _installed_members(dist: md.Distribution) -> list[Member]:
    """(archive name, file on disk) for every file an installed wheel put down."""
    info = _dist_info_name(dist)
    scripts = _console_scripts(dist)
    members: list[Member] = []
    for entry in dist.files or []:
        posix = PurePosixPath(str(entry))
        located = Path(str(dist.locate_file(entry)))
        if posix.suffix == ".pyc" or "__pycache__" in posix.parts:
            continue
        if posix.parts[0].endswith(".dist-info"):
            if posix.name in _SKIPPED_METADATA:
                continue
            members.append((f"{info}/{PurePosixPath(*posix.parts[1:])}", located))
        elif posix.parts[0] == "..":
            # Outside site-packages: scripts and data files, placed by the installer.
            prefix = Path(sys.prefix)
            try:
                relative = located.resolve().relative_to(prefix.resolve())
            except ValueError:
                continue
            if relative.parts[0] == "bin":
                if relative.name in scripts:
                    continue
                members.append((f"{info[:-10]}.data/scripts/{relative.name}", located))
            else:
                members.append((f"{info[:-10]}.data/data/{relative.as_posix()}", located))
        else:
            members.append((posix.as_posix(), located))
    return members


def _editable_members(dist: md.Distribution) -> list[Member]:
    """The import package's files plus the dist-info, for an editable install."""
    import_name = str(canonicalize_name(dist.metadata["Name"])).replace("-", "_")
    spec = importlib.util.find_spec(import_name)
    if spec is None or not spec.submodule_search_locations:
        raise BuildError(
            f"{dist.metadata['Name']} is installed in editable mode and nervosum cannot find"
            " its package to bundle",
            hint="build a wheel of it (pip wheel --no-deps <its source>) and install that",
        )
    root = Path(next(iter(spec.submodule_search_locations)))
    members: list[Member] = [
        (f"{import_name}/{path.relative_to(root).as_posix()}", path)
        for path in sorted(root.rglob("*"))
        if path.is_file() and "__pycache__" not in path.parts and path.suffix != ".pyc"
    ]
    info = _dist_info_name(dist)
    for name in ("METADATA", "WHEEL", "entry_points.txt"):
        text = dist.read_text(name)
        if text is not None:
            members.append((f"{info}/{name}", text.encode("utf-8")))
    return members


def _write(path: Path, members: list[Member], info: str) -> None:
    records: list[tuple[str, str, str]] = []
    with zipfile.ZipFile(path, "w", compression=zipfile.ZIP_DEFLATED, compresslevel=1) as zf:
        for name, source in sorted(members, key=lambda member: member[0]):
            data = source if isinstance(source, bytes) else source.read_bytes()
            entry = zipfile.ZipInfo(name, date_time=_EPOCH)
            executable = isinstance(source, Path) and source.stat().st_mode & 0o111
            entry.external_attr = (0o755 if executable else 0o644) << 16
            entry.compress_type = zipfile.ZIP_DEFLATED
            zf.writestr(entry, data)
            records.append((name, _record_hash(data), str(len(data))))
        buffer = io.StringIO()
        writer = csv.writer(buffer, lineterminator="\n")
        writer.writerows(records)
        writer.writerow((f"{info}/RECORD", "", ""))
        record = zipfile.ZipInfo(f"{info}/RECORD", date_time=_EPOCH)
        record.external_attr = 0o644 << 16
        zf.writestr(record, buffer.getvalue(), compress_type=zipfile.ZIP_DEFLATED)


def repack(dist: md.Distribution, cache: Path) -> Path:
    """``dist`` as a wheel, made once per installed content and kept in ``cache``.

    Installed wheels are keyed by their RECORD (a reinstall of another build of the same
    version gets a new wheel); an editable install is packed afresh every time, because
    its source changes without its version changing.
    """
    editable = _editable(dist)
    key = "editable" if editable else hashlib.sha256((dist.read_text("RECORD") or "").encode())
    folder = cache / (key if isinstance(key, str) else key.hexdigest()[:16])
    folder.mkdir(parents=True, exist_ok=True)
    target = folder / wheel_filename(dist)
    if target.is_file() and not editable:
        return target
    members = _editable_members(dist) if editable else _installed_members(dist)
    if not any(name.endswith(".dist-info/METADATA") for name, _ in members):
        raise BuildError(
            f"{dist.metadata['Name']} {dist.version} has no METADATA to bundle",
            hint="reinstall it with pip",
        )
    partial = target.with_name(f".{target.name}.{os.getpid()}.part")
    try:
        _write(partial, members, _dist_info_name(dist))
        partial.replace(target)
    finally:
        partial.unlink(missing_ok=True)
    return target
