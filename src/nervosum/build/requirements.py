"""Resolve a bundle's requirements to exact versions, from the environment that built it.

A bundle must run with the packages the model was tested with. So the closure of
nervosum's own dependencies plus the project's `requirements.txt` is resolved against
the installed distributions: each requirement satisfied here is pinned to the installed
version, and its own dependencies are followed (markers evaluated for this Python,
extras honoured). What is not installed here is left for pip to download; a requirement
the installed version does not satisfy is a conflict the user resolves (the model was
tested with the installed version, so silently shipping another would be a guess).
"""

from __future__ import annotations

import importlib.metadata as md
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path

from packaging.requirements import InvalidRequirement, Requirement
from packaging.utils import canonicalize_name

from nervosum.errors import ConfigError, ConfigIssue

# Options pip accepts in a requirements file that change where packages come from;
# a bundle resolves from this environment and its own wheelhouse, so they are refused.
_UNSUPPORTED_OPTIONS = ("-e", "--editable", "-i", "--index-url", "--extra-index-url", "-f")


@dataclass
class Resolution:
    """The outcome: pinned installed distributions, requirements left to download, and
    requirements the installed version does not satisfy (`(requirement, installed)`)."""

    pinned: dict[str, md.Distribution] = field(default_factory=dict)
    missing: list[Requirement] = field(default_factory=list)
    conflicts: list[tuple[Requirement, str]] = field(default_factory=list)

    def lock_lines(self) -> list[str]:
        """`name==version` for every pinned distribution, sorted by name."""
        return sorted(f"{name}=={dist.version}" for name, dist in self.pinned.items())


def read_requirements(path: Path, *, _seen: frozenset[Path] = frozenset()) -> list[Requirement]:
    """Parse a pip requirements file (comments, continuations and `-r` includes)."""
    path = path.resolve()
    if path in _seen:
        return []
    text = path.read_text(encoding="utf-8").replace("\\\n", "")
    found: list[Requirement] = []
    for number, raw in enumerate(text.splitlines(), start=1):
        line = raw.split(" #", 1)[0].strip()
        if not line or line.startswith("#"):
            continue
        if line.startswith(("-r ", "--requirement ", "-c ", "--constraint ")):
            if line.startswith(("-r", "--requirement")):
                include = path.parent / line.split(None, 1)[1].strip()
                found.extend(read_requirements(include, _seen=_seen | {path}))
            continue
        if line.startswith(_UNSUPPORTED_OPTIONS) or "://" in line:
            raise _bad_line(path, number, line, "editable installs, URLs and indexes")
        try:
            found.append(Requirement(line))
        except InvalidRequirement as exc:
            raise _bad_line(path, number, line, str(exc)) from exc
    return found


def _bad_line(path: Path, number: int, line: str, why: str) -> ConfigError:
    return ConfigError(
        str(path),
        [
            ConfigIssue(
                "",
                f"cannot bundle {line!r}: {why}",
                number,
                "list packages by name and version range; install local packages as wheels",
            )
        ],
    )


def _installed(name: str) -> md.Distribution | None:
    try:
        return md.distribution(name)
    except md.PackageNotFoundError:
        return None


def _applies(requirement: Requirement, extras: Iterable[str]) -> bool:
    """Whether a dependency applies here, for the extras it was requested with."""
    if requirement.marker is None:
        return True
    # evaluate() starts from this interpreter's environment and adds what is passed.
    return any(requirement.marker.evaluate({"extra": extra}) for extra in (*extras, ""))


def resolve(roots: Iterable[Requirement]) -> Resolution:
    """Pin the closure of ``roots`` to the installed versions where they satisfy it."""
    resolution = Resolution()
    extras_seen: dict[str, set[str]] = {}
    pending = [(req, frozenset[str]()) for req in roots]
    while pending:
        requirement, parent_extras = pending.pop()
        if not _applies(requirement, parent_extras):
            continue
        name = canonicalize_name(requirement.name)
        dist = resolution.pinned.get(name) or _installed(requirement.name)
        if dist is None:
            resolution.missing.append(requirement)
            continue
        if not requirement.specifier.contains(dist.version, prereleases=True):
            resolution.conflicts.append((requirement, dist.version))
            continue
        wanted = set(requirement.extras)
        known = extras_seen.setdefault(name, set())
        if name in resolution.pinned and wanted <= known:
            continue
        known |= wanted
        resolution.pinned[name] = dist
        for text in dist.requires or []:
            pending.append((Requirement(text), frozenset(known)))
    pinned_names = set(resolution.pinned)
    resolution.missing = [
        req for req in resolution.missing if canonicalize_name(req.name) not in pinned_names
    ]
    return resolution
