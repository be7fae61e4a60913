"""Where the notebooks come from: a local folder or a git repository, as a private copy.

Notebooks write files (stage files, intermediate data) next to themselves, so they never
run in the user's own checkout. A local folder is copied without VCS data, virtualenvs
and caches (but with what an ignore file would leave out of a bundle: the notebooks may
read it); a git URL is cloned with serve-repo's git source (https credentials from the
environment, never in a URL or a log line).
"""

from __future__ import annotations

import re
import shutil
from dataclasses import dataclass
from pathlib import Path

from nervosum.build.ignore import ALWAYS_IGNORED, IgnoreRules, parse_rules, project_files
from nervosum.errors import RequestError
from nervosum.repo.sources import GitAuth, GitSource
from nervosum.urls import redact


@dataclass(frozen=True)
class Checkout:
    """A private copy of the repository: its folder, what it is, and its git commit."""

    root: Path
    description: str
    commit: str | None


def is_git_url(location: str) -> bool:
    """A URL git understands (``https://``, ``ssh://``, ``file://``, ``git@host:path``)."""
    return "://" in location or location.startswith("git@")


def default_name(location: str) -> str:
    """The repository's name: its resolved folder's (``.`` is the current folder's name),
    or the URL's last part without ``.git``."""
    if not is_git_url(location):
        return Path(location).expanduser().resolve().name or "notebooks"
    tail = location.rstrip("/").rsplit("/", 1)[-1].rsplit(":", 1)[-1]
    return tail.removesuffix(".git") or "notebooks"


# What `nervosum build` registers and names its image with (`nervosum/<name>:<tag>`, the
# name lowercased): an OCI repository path component, and an OCI tag.
_NAME = re.compile(r"[a-z0-9]+(?:(?:[._]|__|-+)[a-z0-9]+)*")
_TAG = re.compile(r"[A-Za-z0-9_][A-Za-z0-9_.-]{0,127}")


def check_name(name: str, tag: str) -> None:
    """A :class:`RequestError` for a name or tag the registry and image would not take."""
    if not _NAME.fullmatch(name.lower()):
        raise RequestError(
            f"{name!r} cannot name a bundle or its image nervosum/NAME:TAG",
            hint="give -n NAME: letters and digits, separated by single '.', '_' or '-'",
        )
    if not _TAG.fullmatch(tag):
        raise RequestError(
            f"{tag!r} cannot tag a bundle or its image",
            hint="give -t TAG: letters, digits, '_', '.' and '-', not starting with '.' or '-'",
        )


def checkout(location: str, workdir: Path, *, branch: str | None = None) -> Checkout:
    """Copy or clone ``location`` under ``workdir`` (which the caller removes)."""
    if is_git_url(location):
        source = GitSource(location, workdir / "clones", branch=branch, auth=GitAuth.from_env())
        snapshot = source.snapshot(None)
        return Checkout(snapshot.root, redact(location), snapshot.version)
    folder = Path(location).expanduser()
    if not folder.is_dir():
        raise RequestError(
            f"{location} is not a folder or a git URL",
            hint="give the repository's folder, or a URL such as https://host/team/repo.git",
        )
    if branch is not None:
        raise RequestError(
            "--branch applies to a git URL, not to a local folder",
            hint="check the branch out in the folder, or give the repository's URL",
        )
    target = workdir / "source"
    for relative in project_files(folder, IgnoreRules(parse_rules(ALWAYS_IGNORED))):
        destination = target / relative
        destination.parent.mkdir(parents=True, exist_ok=True)
        shutil.copy2(folder / relative, destination)
    target.mkdir(parents=True, exist_ok=True)
    return Checkout(target, str(folder.resolve()), None)
