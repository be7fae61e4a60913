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

    def __init__(self, data: Any, lines: dict[Path, int], issues: list[ConfigIssue]) -> None:
        self.data = data
        self.lines = lines
        self.issues = issues

    def line_of(self, path: Path) -> int | None:
        """The line of ``path``, or of its nearest ancestor present in the file."""
        for end in range(len(path), -1, -1):
            line = self.lines.get(path[:end])
            if line is not None:
                return line
        return None


def _walk(node: yaml.Node, path: Path, lines: dict[Path, int], issues: list[ConfigIssue]) -> None:
    lines.setdefault(path, node.start_mark.line + 1)
    if isinstance(node, yaml.MappingNode):
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
            _walk(value_node, child, lines, issues)
    elif isinstance(node, yaml.SequenceNode):
        for index, item in enumerate(node.value):
            _walk(item, (*path, index), lines, issues)


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
    if node is not None:
        _walk(node, (), lines, issues)
    return YamlDocument(data, lines, issues)
