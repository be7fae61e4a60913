"""Fill a bundle's wheels/ folder and write the lock that installs exactly those wheels.

Installed packages are repacked from this environment (cached across builds, offline).
Requirements not installed here are downloaded by pip, constrained to the versions
already pinned. With a target platform (`--platform`, or the seed's
`deployment.platform_tag`), compiled packages are downloaded for that platform instead
of repacked, since this machine's builds would not load there.
"""

from __future__ import annotations

import hashlib
import importlib.metadata as md
import os
import re
import shutil
import sys
import tempfile
from pathlib import Path

from packaging.utils import canonicalize_name, parse_wheel_filename

from nervosum.build.progress import Progress, stream_command
from nervosum.build.requirements import Resolution
from nervosum.build.wheels import repack
from nervosum.errors import BuildError
from nervosum.registry.home import Home


def _pure(dist: md.Distribution) -> bool:
    return "Root-Is-Purelib: true" in (dist.read_text("WHEEL") or "")


def _link_or_copy(source: Path, target: Path) -> None:
    try:
        os.link(source, target)
    except OSError:
        shutil.copyfile(source, target)


def _pip_download(arguments: list[str], dest: Path, progress: Progress, what: str) -> None:
    """Run `pip download` into ``dest``, streaming its output; fail with its last lines."""
    command = [sys.executable, "-m", "pip", "download", "--disable-pip-version-check"]
    command += ["--only-binary=:all:", "--dest", str(dest), *arguments]
    status, tail = stream_command(command, progress)
    if status != 0:
        raise BuildError(
            f"pip could not download {what}:\n  " + "\n  ".join(tail),
            hint="install them in this environment first (pip install -r requirements.txt),"
            " or check the index settings pip uses (PIP_INDEX_URL, PIP_FIND_LINKS)",
        )


_LEGACY_MANYLINUX = {"manylinux1": (2, 5), "manylinux2010": (2, 12), "manylinux2014": (2, 17)}
_MANYLINUX = re.compile(r"(manylinux1|manylinux2010|manylinux2014|manylinux_(\d+)_(\d+))_(\w+)")


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


def _platform_arguments(platform: str) -> list[str]:
    version = f"{sys.version_info.major}{sys.version_info.minor}"
    arguments = ["--python-version", version, "--implementation", "cp"]
    for tag in compatible_platforms(platform):
        arguments += ["--platform", tag]
    return arguments


def _check_conflicts(resolution: Resolution) -> None:
    if resolution.conflicts:
        lines = [f"{req} (installed: {version})" for req, version in resolution.conflicts]
        raise BuildError(
            "the requirements ask for versions other than the installed ones:\n  "
            + "\n  ".join(lines),
            hint="install the versions the model needs here (pip install -r requirements.txt)"
            " and test it; the bundle ships what is installed",
        )


def fill_wheelhouse(
    resolution: Resolution,
    dest: Path,
    *,
    home: Home,
    platform: str | None,
    progress: Progress,
) -> list[str]:
    """Put every wheel in ``dest``; return sorted lock lines `name==version --hash=...`."""
    _check_conflicts(resolution)
    dest.mkdir(parents=True, exist_ok=True)
    pinned = sorted(resolution.pinned.items())
    repacked = [(name, dist) for name, dist in pinned if not platform or _pure(dist)]
    to_download = [f"{name}=={d.version}" for name, d in pinned if (name, d) not in repacked]
    for _, dist in progress.track(repacked, "packing installed packages", len(repacked)):
        wheel = repack(dist, home.wheels)
        _link_or_copy(wheel, dest / wheel.name)
    if to_download or resolution.missing:
        progress.step(f"downloading {len(to_download) + len(resolution.missing)} packages")
        with tempfile.TemporaryDirectory(dir=home.tmp) as scratch:
            constraints = Path(scratch) / "constraints.txt"
            constraints.write_text("\n".join(resolution.lock_lines()) + "\n", encoding="utf-8")
            arguments = ["--constraint", str(constraints)]
            if platform:
                arguments += _platform_arguments(platform)
            if to_download:
                what = f"the compiled packages for {platform}"
                _pip_download([*arguments, "--no-deps", *to_download], dest, progress, what)
            if resolution.missing:
                missing = [str(req) for req in resolution.missing]
                what = "the requirements that are not installed here"
                _pip_download([*arguments, *missing], Path(scratch) / "more", progress, what)
                have = {canonicalize_name(name) for name, _ in pinned}
                for wheel in sorted((Path(scratch) / "more").glob("*.whl")):
                    if parse_wheel_filename(wheel.name)[0] not in have:
                        shutil.move(wheel, dest / wheel.name)
    return _lock_lines(dest)


def _lock_lines(wheels: Path) -> list[str]:
    lines: list[str] = []
    for wheel in sorted(wheels.glob("*.whl")):
        name, version, _, _ = parse_wheel_filename(wheel.name)
        digest = hashlib.sha256(wheel.read_bytes()).hexdigest()
        lines.append(f"{name}=={version} --hash=sha256:{digest}")
    return sorted(lines)
