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
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path

from packaging.requirements import InvalidRequirement, Requirement
from packaging.specifiers import SpecifierSet
from packaging.utils import canonicalize_name

from nervosum.errors import ConfigError, ConfigIssue
from nervosum.urls import redact

# pip options that say where packages come from or how to pick files (pipenv and
# pip-compile start their files with them). A bundle installs from its own wheels, so
# they are read past with one note (issue 19); `-e` has no wheel to repack and is refused.
_IGNORED_OPTIONS = frozenset(
    {
        *("-i", "--index-url", "--extra-index-url", "--no-index", "-f", "--find-links"),
        *("--trusted-host", "--pre", "--no-binary", "--only-binary", "--prefer-binary"),
        *("--require-hashes", "--use-feature"),
    }
)
# Options pip accepts after a requirement on its line (pip-compile --generate-hashes).
_REQUIREMENT_OPTIONS = ("--hash", "--global-option", "--config-settings")


@dataclass
class RequirementsFile:
    """A requirements file as a bundle sees it: the requirements, the pip options read
    past (credentials masked), and every file read (the file and its ``-r`` includes)."""

    requirements: list[Requirement] = field(default_factory=list)
    ignored: list[str] = field(default_factory=list)
    files: list[Path] = field(default_factory=list)

    def note(self) -> str | None:
        """One line naming the ignored options, or None when there were none."""
        if not self.ignored:
            return None
        return (
            f"{self.files[0].name}: pip options ignored, the bundle installs from its own"
            f" wheels: {', '.join(self.ignored)}"
        )


@dataclass
class Resolution:
    """The outcome: pinned installed distributions, requirements left to download,
    requirements the installed version does not satisfy (`(requirement, installed)`), and
    the range every requirement on a name allows together (for another platform's pick)."""

    pinned: dict[str, md.Distribution] = field(default_factory=dict)
    missing: list[Requirement] = field(default_factory=list)
    conflicts: list[tuple[Requirement, str]] = field(default_factory=list)
    ranges: dict[str, SpecifierSet] = field(default_factory=dict)

    def lock_lines(self, bundled: Mapping[str, str] | None = None) -> list[str]:
        """`name==version` for every pinned distribution, sorted by name; ``bundled``
        names versions that replace the installed ones (for another platform)."""
        versions = {name: dist.version for name, dist in self.pinned.items()} | dict(bundled or {})
        return sorted(f"{name}=={version}" for name, version in versions.items())


def read_requirements(path: Path) -> RequirementsFile:
    """Parse a pip requirements file (comments, continuations, ``-r`` includes, pip
    options); a :class:`ConfigError` naming the line of anything a bundle cannot hold."""
    found = RequirementsFile()
    _read(path.resolve(), found)
    return found


def _option(line: str) -> tuple[str, str]:
    """(name, value) of an option line: ``-i URL``, ``-iURL``, ``--index-url=URL``, ``--pre``."""
    head, _, rest = line.partition(" ")
    if head.startswith("--"):
        name, equals, value = head.partition("=")
        return name, value if equals else rest.strip()
    return head[:2], (head[2:] or rest).strip()


def _read(path: Path, found: RequirementsFile) -> None:
    if path in found.files:
        return
    found.files.append(path)
    text = path.read_text(encoding="utf-8").replace("\\\n", "")
    for number, raw in enumerate(text.splitlines(), start=1):
        line = raw.split(" #", 1)[0].strip()
        if not line or line.startswith("#"):
            continue
        if line.startswith("-"):
            name, value = _option(line)
            if name in ("-r", "--requirement"):
                _read((path.parent / value).resolve(), found)
            elif name in _IGNORED_OPTIONS:
                _ignore(found, f"{name} {redact(value)}".strip())
            elif name not in ("-c", "--constraint"):
                why = (
                    "editable installs"
                    if name in ("-e", "--editable")
                    else f"unknown option {name}"
                )
                raise _bad_line(path, number, line, why)
            continue
        words = line.split()
        split = next((i for i, word in enumerate(words) if word.startswith("-")), len(words))
        requirement, options = " ".join(words[:split]), words[split:]
        for option in (word.split("=", 1)[0] for word in options if word.startswith("-")):
            if option not in _REQUIREMENT_OPTIONS:
                raise _bad_line(path, number, line, f"unknown option {option}")
            _ignore(found, option)
        if "://" in requirement:
            raise _bad_line(path, number, line, "URLs")
        try:
            found.requirements.append(Requirement(requirement))
        except InvalidRequirement as exc:
            raise _bad_line(path, number, line, str(exc)) from exc


def _ignore(found: RequirementsFile, option: str) -> None:
    if option not in found.ignored:
        found.ignored.append(option)


def _bad_line(path: Path, number: int, line: str, why: str) -> ConfigError:
    return ConfigError(
        str(path),
        [
            ConfigIssue(
                "",
                f"cannot bundle {redact(line)!r}: {why}",
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
        resolution.ranges[name] = (
            resolution.ranges.get(name, SpecifierSet()) & requirement.specifier
        )
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
