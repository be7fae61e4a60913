"""An isolated virtual environment for a bundle, made from its wheels alone (offline).

Environments are cached by the hash of the bundle's lock and Python version, so bundles
with the same pinned packages share one and the second run starts in seconds. A file
lock serialises two runs creating the same environment; a marker written last means a
half-made environment (an interrupted run) is rebuilt rather than trusted.
"""

from __future__ import annotations

import fcntl
import hashlib
import shutil
import sys
from pathlib import Path

from nervosum.build.progress import Progress, stream_command
from nervosum.errors import BuildError
from nervosum.home import Home
from nervosum.registry.store import Entry

_READY = ".nervosum-ready"


def _python_for(version: str) -> str:
    """An interpreter of the bundle's Python X.Y (its compiled wheels need exactly that)."""
    major_minor = ".".join(version.split(".")[:2])
    if f"{sys.version_info.major}.{sys.version_info.minor}" == major_minor:
        return sys.executable
    found = shutil.which(f"python{major_minor}")
    if found is None:
        raise BuildError(
            f"the bundle was built with Python {version} and no python{major_minor} is installed",
            hint="install that Python, or run the bundle's image with --image",
        )
    return found


def _create(entry: Entry, folder: Path, progress: Progress) -> None:
    python = _python_for(str(entry.manifest.get("python_version", "")))
    lock = entry.path / "requirements.lock"
    wheels = entry.path / "wheels"
    uv = shutil.which("uv")
    if uv:
        commands = [
            [uv, "venv", "--quiet", "--python", python, str(folder)],
            [uv, "pip", "install", "--offline", "--no-index", "--find-links", str(wheels),
             "--require-hashes", "-r", str(lock), "--python", str(folder / "bin" / "python")],
        ]  # fmt: skip
    else:
        commands = [
            [python, "-m", "venv", str(folder)],
            [str(folder / "bin" / "python"), "-m", "pip", "install", "--disable-pip-version-check",
             "--no-index", "--find-links", str(wheels), "--require-hashes", "-r", str(lock)],
        ]  # fmt: skip
    for command in commands:
        status, tail = stream_command(command, progress)
        if status != 0:
            raise BuildError(
                f"could not create the bundle's environment in {folder}:\n  " + "\n  ".join(tail),
                hint="the bundle's wheels may not fit this machine; try --image",
            )


def bundle_python(entry: Entry, home: Home, progress: Progress) -> Path:
    """The Python of the bundle's environment, created on first use."""
    lock = (entry.path / "requirements.lock").read_bytes()
    version = str(entry.manifest.get("python_version", ""))
    key = hashlib.sha256(lock + version.encode()).hexdigest()[:16]
    folder = home.envs / key
    python = folder / "bin" / "python"
    if (folder / _READY).is_file():
        return python
    home.envs.mkdir(parents=True, exist_ok=True)
    with (home.envs / f"{key}.lock").open("w") as lock_file:
        fcntl.flock(lock_file, fcntl.LOCK_EX)
        if (folder / _READY).is_file():
            return python
        shutil.rmtree(folder, ignore_errors=True)
        progress.step(f"creating the bundle's environment (once per set of packages): {folder}")
        _create(entry, folder, progress)
        (folder / _READY).touch()
    return python
