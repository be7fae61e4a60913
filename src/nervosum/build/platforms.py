"""Wheels for another platform (`--platform`, or the seed's `deployment.platform_tag`).

A compiled package installed here may have no wheel for the target at all: numpy 2.3
and later publish no `manylinux2014` wheels, which is the tag the seed's batch projects
name. The build then takes, for that package alone, the newest version that has a wheel
for the target platform and this Python, within every range the other requirements put
on it, says so, and records it in the manifest (issue 19). When no version has one,
one error names the package and the platforms its newest version does offer.
"""

from __future__ import annotations

import re
import sys
import tempfile
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import unquote

from packaging.specifiers import SpecifierSet
from packaging.utils import InvalidWheelFilename, canonicalize_name, parse_wheel_filename
from packaging.version import Version

from nervosum.build.download import stream_download, try_download
from nervosum.build.progress import Progress
from nervosum.errors import BuildError

_LEGACY_MANYLINUX = {"manylinux1": (2, 5), "manylinux2010": (2, 12), "manylinux2014": (2, 17)}
_MANYLINUX = re.compile(r"(manylinux1|manylinux2010|manylinux2014|manylinux_(\d+)_(\d+))_(\w+)")
# A wheel's file name in pip's log (its links are URLs, the name the last part).
_WHEEL = re.compile(r"([^/\s]+\.whl)\b")


@dataclass(frozen=True)
class Substitution:
    """A package bundled at another version than the installed one, for the platform."""

    name: str
    installed: str
    bundled: str


def compatible_platforms(platform: str) -> list[str]:
    """``platform`` and the older manylinux tags it can run (pip takes only what it is
    given); other platforms as given."""
    match = _MANYLINUX.fullmatch(platform)
    if match is None:
        return [platform]
    legacy, major, minor, arch = match.groups()
    glibc = _LEGACY_MANYLINUX[legacy] if major is None else (int(major), int(minor))
    tags = [f"manylinux_{glibc[0]}_{m}_{arch}" for m in range(glibc[1], 4, -1)]
    tags += [f"{name}_{arch}" for name, v in _LEGACY_MANYLINUX.items() if v <= glibc]
    return tags


def platform_arguments(platform: str) -> list[str]:
    """pip's options for wheels of ``platform`` and this Python version."""
    version = f"{sys.version_info.major}{sys.version_info.minor}"
    arguments = ["--python-version", version, "--implementation", "cp"]
    for tag in compatible_platforms(platform):
        arguments += ["--platform", tag]
    return arguments


def _has_wheel(dest: Path, name: str) -> bool:
    return any(parse_wheel_filename(w.name)[0] == name for w in dest.glob("*.whl"))


def _newest_offered(log: str) -> tuple[Version, list[str]] | None:
    """The newest version among the wheels pip's log names, and its platform tags."""
    offered: dict[Version, set[str]] = {}
    for found in _WHEEL.findall(log):
        try:
            _, version, _, tags = parse_wheel_filename(unquote(found))
        except InvalidWheelFilename:
            continue
        offered.setdefault(version, set()).update(tag.platform for tag in tags)
    if not offered:
        return None
    newest = max(offered)
    return newest, sorted(offered[newest])


def _newest_for_platform(name: str, specifier: SpecifierSet, platform: str, dest: Path) -> Version:
    """Download the newest version of ``name`` within ``specifier`` that has a wheel for
    ``platform``; its version, or a :class:`BuildError` naming what the index offers."""
    with tempfile.TemporaryDirectory() as scratch:
        # -vv makes pip name every wheel it skipped, so a failure can say what exists.
        arguments = ["-vv", "--no-deps", *platform_arguments(platform), f"{name}{specifier}"]
        done, log = try_download(arguments, Path(scratch))
        wheels = sorted(Path(scratch).glob("*.whl"))
        if done and wheels:
            wheel = wheels[0]
            wheel.replace(dest / wheel.name)
            return parse_wheel_filename(wheel.name)[1]
    python = f"{sys.version_info.major}.{sys.version_info.minor}"
    within = f" within {specifier}" if specifier else ""
    newest = _newest_offered(log)
    if newest is None:
        tail = [line for line in log.splitlines() if line.strip()][-12:]
        raise BuildError(
            f"pip found no wheel of {name} for {platform}:\n  " + "\n  ".join(tail),
            hint="check the index settings pip uses (PIP_INDEX_URL, PIP_FIND_LINKS)",
        )
    offers = f"its newest version, {newest[0]}, has wheels for {', '.join(newest[1])}"
    raise BuildError(
        f"no version of {name}{within} has a wheel for {platform} and Python {python}: {offers}",
        hint=f"build for one of those platforms (--platform, deployment.platform_tag), or"
        f" list a version of {name} that has such a wheel in requirements.txt",
    )


def download_for_platform(
    pins: Mapping[str, str],
    ranges: Mapping[str, SpecifierSet],
    dest: Path,
    *,
    platform: str,
    constraints: list[str],
    progress: Progress,
) -> list[Substitution]:
    """Download every pinned ``name -> version`` for ``platform`` into ``dest``; for each
    whose installed version has no wheel there, the newest that has (see the module)."""
    arguments = [*constraints, *platform_arguments(platform), "--no-deps"]
    status, _ = stream_download(
        [*arguments, *(f"{n}=={v}" for n, v in pins.items())], dest, progress
    )
    if status == 0:
        return []
    progress.step(f"finding versions with wheels for {platform} where the installed one has none")
    substitutions: list[Substitution] = []
    python = f"{sys.version_info.major}.{sys.version_info.minor}"
    for name, version in pins.items():
        if _has_wheel(dest, canonicalize_name(name)):
            continue
        if try_download([*arguments, f"{name}=={version}"], dest)[0]:
            continue
        bundled = _newest_for_platform(name, ranges.get(name, SpecifierSet()), platform, dest)
        progress.output(
            f"{name} {version} (installed here) has no wheel for {platform} and Python"
            f" {python}: bundling {bundled}, the newest version that has one"
        )
        substitutions.append(Substitution(name, version, str(bundled)))
    return substitutions
