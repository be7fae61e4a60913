"""The repository's ``requirements.txt``: checked against this environment, then handed
to the bundle.

The notebooks run in a kernel on this interpreter, so what they import must be installed
here; a missing package stops the build before any notebook starts (nachlass found out in
the middle of a notebook, or not at all). A package installed at another version than the
file asks for is reported and used: the stages are pickled with it, so the bundle must pin
that version, not the one the file names (seed notebooks pin versions from years ago).
"""

from __future__ import annotations

import importlib.metadata as md
from pathlib import Path

from packaging.requirements import Requirement
from packaging.utils import canonicalize_name

from nervosum.build.progress import Progress
from nervosum.errors import ConfigError, RequestError
from nervosum.requirements import read_requirements

REQUIREMENTS_FILE = "requirements.txt"
# What loading the stages needs, whatever the repository lists.
SERVING_NEEDS = ("scikit-learn", "cloudpickle")


def _installed_version(requirement: Requirement) -> str | None:
    try:
        return md.version(requirement.name)
    except md.PackageNotFoundError:
        return None


def _named_as_the_user_knows_it(error: ConfigError, root: Path, shown: Path) -> ConfigError:
    """``error`` naming the user's file instead of the build's private copy of it."""
    path = Path(error.filename)
    if not path.is_relative_to(root.resolve()):
        return error
    return ConfigError(str(shown / path.relative_to(root.resolve())), error.issues)


def check_requirements(
    root: Path, progress: Progress, *, shown: Path | None = None
) -> list[Requirement]:
    """The requirements of ``root/requirements.txt`` that apply here (none without the
    file); a :class:`RequestError` naming every one that is not installed. ``root`` is
    the build's copy; errors name the file under ``shown``, where the user has it."""
    path = root / REQUIREMENTS_FILE
    if not path.is_file():
        return []
    try:
        found = read_requirements(path)
    except ConfigError as exc:
        raise _named_as_the_user_knows_it(exc, root, shown or root) from None
    wanted = [r for r in found.requirements if r.marker is None or r.marker.evaluate()]
    progress.step(f"checking {len(wanted)} requirements of {REQUIREMENTS_FILE}")
    note = found.note()
    if note:
        progress.output(note)
    missing: list[Requirement] = []
    for requirement in wanted:
        version = _installed_version(requirement)
        if version is None:
            missing.append(requirement)
        elif not requirement.specifier.contains(version, prereleases=True):
            progress.output(
                f"{REQUIREMENTS_FILE} asks for {requirement}; {version} is installed and is used"
            )
    if missing:
        # By name: a seed's pins are for the Python of its day (statsmodels==0.11.1 has no
        # wheel for 3.11), and the bundle pins the installed versions anyway.
        names = " ".join(_shell_word(_unpinned(requirement)) for requirement in missing)
        raise RequestError(
            f"{REQUIREMENTS_FILE} needs {', '.join(map(str, missing))}, not installed here (the"
            " notebooks run with this Python)",
            hint=f"pip install {names} into nervosum's environment (the installed versions are"
            " used and bundled), then build again",
        )
    return wanted


def _unpinned(requirement: Requirement) -> str:
    """The requirement without its version or marker: ``name`` or ``name[extra,...]``."""
    extras = f"[{','.join(sorted(requirement.extras))}]" if requirement.extras else ""
    return f"{requirement.name}{extras}"


def _shell_word(text: str) -> str:
    return f"'{text}'" if "[" in text else text  # brackets are a glob to the shell


def bundle_requirements(wanted: list[Requirement]) -> list[str]:
    """``requirements.txt`` lines for the built project: each package by name (the bundle
    pins the installed version), plus what loading the stages needs."""
    lines: dict[str, str] = {}
    for requirement in wanted:
        lines.setdefault(canonicalize_name(requirement.name), _unpinned(requirement))
    for name in SERVING_NEEDS:
        lines.setdefault(canonicalize_name(name), name)
    return sorted(lines.values(), key=str.lower)
