"""Fill a bundle's wheels/ folder and write the lock that installs exactly those wheels.

Installed packages are repacked from this environment (cached across builds, offline).
Requirements not installed here are downloaded by pip, constrained to the versions
already pinned. With a target platform (`--platform`, or the seed's
`deployment.platform_tag`), compiled packages are downloaded for that platform instead
of repacked, since this machine's builds would not load there (platforms.py: the
installed version where the target has a wheel of it, else the newest that has one).
"""

from __future__ import annotations

import hashlib
import importlib.metadata as md
import os
import shutil
import tempfile
from dataclasses import dataclass, field
from pathlib import Path

from packaging.utils import canonicalize_name, parse_wheel_filename

from nervosum.build.download import pip_download
from nervosum.build.platforms import Substitution, download_for_platform, platform_arguments
from nervosum.build.progress import Progress
from nervosum.build.wheels import repack
from nervosum.errors import BuildError
from nervosum.home import Home
from nervosum.requirements import Resolution


@dataclass(frozen=True)
class Wheelhouse:
    """What wheels/ holds: the lock lines (`name==version --hash=...`, sorted), and the
    packages bundled at another version than the installed one for the target platform."""

    lock: list[str]
    substituted: list[Substitution] = field(default_factory=list)


def _pure(dist: md.Distribution) -> bool:
    return "Root-Is-Purelib: true" in (dist.read_text("WHEEL") or "")


def _link_or_copy(source: Path, target: Path) -> None:
    try:
        os.link(source, target)
    except OSError:
        shutil.copyfile(source, target)


def _check_conflicts(resolution: Resolution) -> None:
    if resolution.conflicts:
        lines = [f"{req} (installed: {version})" for req, version in resolution.conflicts]
        raise BuildError(
            "the requirements ask for versions other than the installed ones:\n  "
            + "\n  ".join(lines),
            hint="install the versions the model needs here (pip install -r requirements.txt)"
            " and test it; the bundle ships what is installed",
        )


def _write_constraints(path: Path, resolution: Resolution, substituted: list[Substitution]) -> None:
    """The pinned versions (substituted ones at their bundled version), for pip to
    resolve what is not installed here against."""
    lines = resolution.lock_lines({item.name: item.bundled for item in substituted})
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")


def fill_wheelhouse(
    resolution: Resolution,
    dest: Path,
    *,
    home: Home,
    platform: str | None,
    progress: Progress,
) -> Wheelhouse:
    """Put every wheel in ``dest``; return the lock and what was substituted."""
    _check_conflicts(resolution)
    dest.mkdir(parents=True, exist_ok=True)
    pinned = sorted(resolution.pinned.items())
    repacked = [(name, dist) for name, dist in pinned if not platform or _pure(dist)]
    compiled = {name: d.version for name, d in pinned if (name, d) not in repacked}
    substituted: list[Substitution] = []
    for _, dist in progress.track(repacked, "packing installed packages", len(repacked)):
        wheel = repack(dist, home.wheels)
        _link_or_copy(wheel, dest / wheel.name)
    if compiled or resolution.missing:
        progress.step(f"downloading {len(compiled) + len(resolution.missing)} packages")
        with tempfile.TemporaryDirectory(dir=home.tmp) as scratch:
            constraints = Path(scratch) / "constraints.txt"
            _write_constraints(constraints, resolution, [])
            arguments = ["--constraint", str(constraints)]
            if platform and compiled:
                substituted = download_for_platform(
                    compiled,
                    resolution.ranges,
                    dest,
                    platform=platform,
                    constraints=arguments,
                    progress=progress,
                )
                _write_constraints(constraints, resolution, substituted)
            if platform:
                arguments += platform_arguments(platform)
            # A version bundled for the platform may need packages the installed one
            # does not (pandas 2 needs pytz): they are fetched with what is missing.
            more = [str(req) for req in resolution.missing]
            more += [f"{item.name}=={item.bundled}" for item in substituted]
            if more:
                what = "the requirements that are not installed here" + (
                    f" and what the versions bundled for {platform} need" if substituted else ""
                )
                folder = Path(scratch) / "more"
                pip_download([*arguments, *more], folder, progress, what)
                have = {canonicalize_name(name) for name, _ in pinned}
                for wheel in sorted(folder.glob("*.whl")):
                    if parse_wheel_filename(wheel.name)[0] not in have:
                        shutil.move(wheel, dest / wheel.name)
    return Wheelhouse(_lock_lines(dest), substituted)


def _lock_lines(wheels: Path) -> list[str]:
    lines: list[str] = []
    for wheel in sorted(wheels.glob("*.whl")):
        name, version, _, _ = parse_wheel_filename(wheel.name)
        digest = hashlib.sha256(wheel.read_bytes()).hexdigest()
        lines.append(f"{name}=={version} --hash=sha256:{digest}")
    return sorted(lines)
