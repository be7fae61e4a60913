"""Which project files go into a bundle: `.nervosumignore` / `.dockerignore` rules.

The seed copied the whole folder, including the temporary build folder into itself.
Here the walk skips what never belongs in a bundle (VCS data, virtualenvs, caches, the
registry, ``.env`` files) and then applies the user's ignore file with the usual semantics: patterns
match a path relative to the project or any of its parent folders, `*`/`?` do not cross
`/`, `**` does, a trailing `/` matches folders only, `!` re-includes, the last match wins.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from nervosum.config import Project

IGNORE_FILES = (".nervosumignore", ".dockerignore")

# Never worth shipping: version control, environments, caches, editor and OS debris.
ALWAYS_IGNORED = (
    ".git/",
    ".hg/",
    ".svn/",
    ".venv/",
    "venv/",
    ".tox/",
    ".nox/",
    "__pycache__/",
    "*.pyc",
    ".mypy_cache/",
    ".pytest_cache/",
    ".ruff_cache/",
    ".ipynb_checkpoints/",
    ".nervosum/",
    ".DS_Store",
    # Secrets: a `.env` holds credentials (the microservice template's env.sample says its
    # database URL goes there), and a bundle is shipped to registries and clusters. The
    # settings a bundle runs with come from the environment where it runs. The samples
    # are documentation and stay.
    ".env",
    ".env.*",
    "!.env.sample",
    "!.env.example",
)


@dataclass(frozen=True)
class _Rule:
    pattern: re.Pattern[str]
    negated: bool
    directory_only: bool


def _translate(glob: str) -> re.Pattern[str]:
    """A glob over `/`-separated paths as a regex (`**` crosses folders, `*` does not)."""
    anchored = "/" in glob.rstrip("/")
    glob = glob.strip("/")
    out: list[str] = []
    i = 0
    while i < len(glob):
        char = glob[i]
        if glob.startswith("**/", i):
            out.append("(?:.*/)?")
            i += 3
            continue
        if glob.startswith("**", i):
            out.append(".*")
            i += 2
            continue
        out.append({"*": "[^/]*", "?": "[^/]"}.get(char, re.escape(char)))
        i += 1
    prefix = "" if anchored else "(?:.*/)?"
    return re.compile(f"{prefix}{''.join(out)}")


def parse_rules(lines: Iterable[str]) -> list[_Rule]:
    """Ignore-file lines as rules; blank lines and `#` comments are skipped."""
    rules: list[_Rule] = []
    for raw in lines:
        line = raw.strip()
        if not line or line.startswith("#"):
            continue
        negated = line.startswith("!")
        body = line[1:] if negated else line
        body = body.removeprefix("./")
        if not body.strip("/"):
            continue
        rules.append(_Rule(_translate(body), negated, body.endswith("/")))
    return rules


class IgnoreRules:
    """Decides whether a project-relative path is left out of the bundle."""

    def __init__(self, rules: list[_Rule]) -> None:
        self._rules = rules

    @classmethod
    def for_project(cls, project_dir: Path, extra: Iterable[str] = ()) -> IgnoreRules:
        """The built-in rules, then the first ignore file found, then ``extra`` patterns."""
        lines = list(ALWAYS_IGNORED)
        for name in IGNORE_FILES:
            path = project_dir / name
            if path.is_file():
                lines.extend(path.read_text(encoding="utf-8").splitlines())
                break
        lines.extend(extra)
        return cls(parse_rules(lines))

    def ignored(self, relative: str, *, is_dir: bool) -> bool:
        """Whether ``relative`` (posix, no leading `/`) is excluded; last matching rule wins."""
        verdict = False
        for rule in self._rules:
            if rule.directory_only and not is_dir:
                continue
            if rule.pattern.fullmatch(relative):
                verdict = not rule.negated
        return verdict


def project_files(project_dir: Path, rules: IgnoreRules) -> list[Path]:
    """Every file of the project that goes into the bundle, relative, sorted.

    Ignored folders are not descended into, so a large ignored data folder costs nothing.
    Symlinks are followed to their content (the bundle holds real files).
    """
    found: list[Path] = []

    def walk(folder: Path, prefix: str) -> None:
        for entry in sorted(folder.iterdir(), key=lambda p: p.name):
            relative = f"{prefix}{entry.name}"
            is_dir = entry.is_dir()
            if rules.ignored(relative, is_dir=is_dir):
                continue
            if is_dir:
                walk(entry, relative + "/")
            elif entry.is_file():
                found.append(Path(relative))

    walk(project_dir, "")
    return found


def bundle_sources(project: Project, rules: IgnoreRules) -> list[Path]:
    """The project's files a bundle copies (relative): a model file named as the path is
    alone in its project, whatever else its folder holds."""
    if project.only_file is not None:
        return [Path(project.only_file)]
    return project_files(project.project_dir, rules)
