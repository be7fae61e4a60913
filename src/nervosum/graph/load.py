"""Read a graph file (native, or the seed's iguazioig 0.2.0) into a checked
:class:`GraphSpec`, reporting every problem at once with its line and path."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pydantic

from nervosum.config.load import issue_from
from nervosum.config.yaml_lines import parse_yaml
from nervosum.errors import ConfigError, ConfigIssue
from nervosum.graph import iguazio
from nervosum.graph.spec import GraphSpec, flow_problems, name_problems, reference_problems


@dataclass(frozen=True)
class Graph:
    """A checked graph and where it came from (step paths are relative to ``root``)."""

    spec: GraphSpec
    path: Path
    format: str  # "native" or "iguazioig 0.2.0"
    warnings: tuple[str, ...] = ()
    module_paths: tuple[str, ...] = ()  # --module-path folders, before the file's own

    @property
    def root(self) -> Path:
        return self.path.parent


def _place(dotted: str) -> tuple[str | int, ...]:
    return tuple(int(p) if p.isdigit() else p for p in dotted.split(".") if p)


def load_graph(path: str | Path, module_paths: tuple[str, ...] = ()) -> Graph:
    """The graph in ``path``; :class:`ConfigError` (exit 2) lists what is wrong.
    ``module_paths`` are folders the steps import from before the file's
    ``module_paths`` (``--module-path``: where a team's step code is on this machine)."""
    file = Path(path)
    shown = str(file)
    if not file.is_file():
        hint = "give the path of a graph YAML file (docs/graphs.md)"
        raise ConfigError(shown, [ConfigIssue("", "graph file not found", None, hint)])
    doc = parse_yaml(file.read_text(encoding="utf-8"))
    if not isinstance(doc.data, dict):
        if doc.data is None and doc.issues:  # not valid YAML: that is the one problem
            raise ConfigError(shown, doc.issues)
        mapping = ConfigIssue("", "the file must be a YAML mapping of keys to values", 1)
        raise ConfigError(shown, [*doc.issues, mapping])
    data: dict[str, Any] = doc.data
    converted = iguazio.convert(data) if iguazio.is_iguazio(data) else None

    def located(issue: ConfigIssue) -> ConfigIssue:
        """``issue`` with the path and line of the file as written."""
        place = _place(issue.path)
        if converted is not None:
            place = converted.origin_of(place)
        dotted = ".".join(map(str, place))
        return ConfigIssue(dotted, issue.message, doc.line_of(place), issue.hint)

    issues = list(doc.issues)
    spec = None
    if converted is not None:
        issues += [located(i) for i in converted.issues]
    native = converted.data if converted is not None else data
    if native or converted is None:
        try:
            spec = GraphSpec.model_validate(native)
        except pydantic.ValidationError as exc:
            issues += [located(issue_from(e, doc, GraphSpec)) for e in exc.errors()]
        # [compat] iguazioig planned outputs to undeclared streams (dead letters at run time)
        references = reference_problems(native, undeclared_outputs=converted is not None)
        issues += [located(i) for i in references + flow_problems(native)]
    if spec is not None:
        issues += [located(i) for i in name_problems(spec)]
    if issues or spec is None:
        issues.sort(key=lambda issue: issue.line or 0)
        raise ConfigError(shown, issues)
    said = sorted(
        (located(w) for w in (converted.warnings if converted is not None else [])),
        key=lambda warning: warning.line or 0,
    )
    warnings = tuple(warning.render(shown) for warning in said)
    kind = f"iguazioig {data['apiVersion']}" if converted is not None else "native"
    folders = tuple(str(Path(folder).resolve()) for folder in module_paths)
    return Graph(spec, file.resolve(), kind, warnings, folders)
