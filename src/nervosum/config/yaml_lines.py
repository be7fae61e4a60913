"""Read YAML while remembering which line every key and list item came from.

Validation errors arrive as dotted paths (``input_schema.2.type``); users fix files by
line number. This module keeps the map between the two, and reports duplicate keys,
which PyYAML would otherwise resolve silently by keeping the last one.

YAML merge keys (``<<: *defaults``) are not duplicates: a mapping may repeat them, as
iguazioig's own test graph does (``<<: *config_defaults`` then ``<<: *env_defaults``),
and they merge the way PyYAML merged them when the seeds were written (issue 19).
"""

from __future__ import annotations

from typing import Any

import yaml

from nervosum.errors import ConfigIssue

Path = tuple[str | int, ...]

MERGE_TAG = "tag:yaml.org,2002:merge"


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


class _Loader(yaml.SafeLoader):
    """PyYAML's safe loader with the merge-key precedence it had through 6.0.3, which
    the seeds' users loaded their files with: a key written in the mapping wins over
    every merged one, a later ``<<`` wins over an earlier one, and in ``<<: [*a, *b]``
    the earlier mapping wins (the YAML merge spec). PyYAML 6.0.4 made the winner depend
    on whether CPython interned the key's string (yaml/pyyaml#953), so the precedence is
    kept here. A merged key node met again (the same anchor merged twice) is kept once,
    at its last place, so nested merges cannot grow the mapping exponentially (the
    denial of service 6.0.4 fixed) and the precedence stays as it was."""

    def flatten_mapping(self, node: yaml.MappingNode) -> None:
        merged: list[tuple[yaml.Node, yaml.Node]] = []
        own: list[tuple[yaml.Node, yaml.Node]] = []
        for key_node, value_node in node.value:
            if key_node.tag != MERGE_TAG:
                if key_node.tag == "tag:yaml.org,2002:value":
                    key_node.tag = "tag:yaml.org,2002:str"
                own.append((key_node, value_node))
                continue
            sources = (
                list(reversed(value_node.value))
                if isinstance(value_node, yaml.SequenceNode)
                else [value_node]
            )
            for source in sources:
                if not isinstance(source, yaml.MappingNode):
                    raise yaml.constructor.ConstructorError(
                        "while constructing a mapping",
                        node.start_mark,
                        "expected a mapping or list of mappings for merging,"
                        f" but found {source.id}",
                        source.start_mark,
                    )
                self.flatten_mapping(source)
                merged += source.value
        last = {id(pair[0]): index for index, pair in enumerate(merged)}
        node.value = [pair for i, pair in enumerate(merged) if last[id(pair[0])] == i] + own


def _walk(
    node: yaml.Node,
    path: Path,
    lines: dict[Path, int],
    issues: list[ConfigIssue],
    scalars: dict[Path, str],
) -> None:
    """Record the line and scalar text of every path written in the file, and report
    keys written twice in one mapping (merge keys excepted)."""
    lines.setdefault(path, node.start_mark.line + 1)
    if isinstance(node, yaml.ScalarNode):
        scalars[path] = str(node.value)
    elif isinstance(node, yaml.MappingNode):
        seen: set[str] = set()
        for key_node, value_node in node.value:
            key = str(key_node.value)
            child = (*path, key)
            if key in seen and key_node.tag != MERGE_TAG:
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


def _merged_places(
    node: yaml.Node, path: Path, lines: dict[Path, int], scalars: dict[Path, str]
) -> None:
    """After merging: the line (and scalar text) of each merged-in key is where its
    winning value is written, under the path it has in the merged mapping."""
    if isinstance(node, yaml.ScalarNode):
        scalars.setdefault(path, str(node.value))
    elif isinstance(node, yaml.MappingNode):
        for key_node, value_node in reversed(node.value):  # the winner comes last
            child = (*path, str(key_node.value))
            lines.setdefault(child, key_node.start_mark.line + 1)
            _merged_places(value_node, child, lines, scalars)
    elif isinstance(node, yaml.SequenceNode):
        for index, item in enumerate(node.value):
            _merged_places(item, (*path, index), lines, scalars)


def parse_yaml(text: str) -> YamlDocument:
    """Parse ``text``; syntax errors become a single located ``ConfigIssue``."""
    lines: dict[Path, int] = {}
    issues: list[ConfigIssue] = []
    scalars: dict[Path, str] = {}
    loader = _Loader(text)
    try:
        node = loader.get_single_node()
        data = None
        if node is not None:
            _walk(node, (), lines, issues, scalars)  # as written, before merging
            data = loader.construct_document(node)
            _merged_places(node, (), lines, scalars)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        problem = getattr(exc, "problem", None) or str(exc)
        line = mark.line + 1 if mark is not None else None
        return YamlDocument(None, {}, [ConfigIssue("", f"not valid YAML: {problem}", line)])
    finally:
        loader.dispose()
    return YamlDocument(data, lines, issues, scalars)
