"""Read YAML while remembering which line every key and list item came from.

Validation errors arrive as dotted paths (``input_schema.2.type``); users fix files by
line number. This module keeps the map between the two, and reports duplicate keys,
which PyYAML would otherwise resolve silently by keeping the last one.
"""

from __future__ import annotations

from typing import Any

import yaml

from nervosum.errors import ConfigIssue

Path = tuple[str | int, ...]


class YamlDocument:
    """A parsed YAML mapping plus the line of each path inside it."""

    def __init__(
        self,
        data: Any,
        lines: dict[Path, int],
        issues: list[ConfigIssue],
        scalars: dict[Path, str] | None = None,
    ) -> None:
        self.data = data
        self.lines = lines
        self.issues = issues
        self.scalars = scalars or {}

    def text_of(self, path: Path) -> str | None:
        """The scalar at ``path`` exactly as written (``1.10`` stays ``1.10``, not ``1.1``)."""
        return self.scalars.get(path)

    def line_of(self, path: Path) -> int | None:
        """The line of ``path``, or of its nearest ancestor present in the file."""
        for end in range(len(path), -1, -1):
            line = self.lines.get(path[:end])
            if line is not None:
                return line
        return None


def _walk(
    node: yaml.Node,
    path: Path,
    lines: dict[Path, int],
    issues: list[ConfigIssue],
    scalars: dict[Path, str],
) -> None:
    lines.setdefault(path, node.start_mark.line + 1)
    if isinstance(node, yaml.ScalarNode):
        scalars[path] = str(node.value)
    elif isinstance(node, yaml.MappingNode):
        seen: set[str] = set()
        for key_node, value_node in node.value:
            key = str(key_node.value)
            child = (*path, key)
            if key in seen:
                dotted = ".".join(str(p) for p in child)
                issues.append(
                    ConfigIssue(
                        dotted, "key appears twice", key_node.start_mark.line + 1, "keep one"
                    )
                )
            seen.add(key)
            lines[child] = key_node.start_mark.line + 1
            _walk(value_node, child, lines, issues, scalars)
    elif isinstance(node, yaml.SequenceNode):
        for index, item in enumerate(node.value):
            _walk(item, (*path, index), lines, issues, scalars)


def parse_yaml(text: str) -> YamlDocument:
    """Parse ``text``; syntax errors become a single located ``ConfigIssue``."""
    try:
        node = yaml.compose(text, Loader=yaml.SafeLoader)
        data = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        problem = getattr(exc, "problem", None) or str(exc)
        line = mark.line + 1 if mark is not None else None
        return YamlDocument(None, {}, [ConfigIssue("", f"not valid YAML: {problem}", line)])
    lines: dict[Path, int] = {}
    issues: list[ConfigIssue] = []
    scalars: dict[Path, str] = {}
    if node is not None:
        _walk(node, (), lines, issues, scalars)
    return YamlDocument(data, lines, issues, scalars)
