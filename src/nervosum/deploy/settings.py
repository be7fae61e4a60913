"""``--set key=value``: settings changed on the command line, over nervosum.yaml's
``deploy:`` block, as ``helm --set`` changes a chart's values.

A key is a dotted path (``service.type``, ``env.LOG_LEVEL``); setting one key keeps its
siblings (``resources.requests.cpu=1`` keeps the memory request). A value is text, as
a shell gives it (``image.tag=1.10`` stays ``1.10``), and settings that are numbers or
switches read it as such (``replicas=3``, ``ingress.enabled=true``); a YAML list or
mapping (``args=[--workers, "2"]``) is read as one, and an empty value clears a key.
Every problem is reported at once, with a "did you mean" for a mistyped key.

:func:`apply_changes` is the same for settings read from a file (``--values``, see
``values_file.py``), which arrive typed and each with the place it was written.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import pydantic
import yaml

from nervosum.config.load import issue_from
from nervosum.config.spec import DeploySpec
from nervosum.config.yaml_lines import parse_yaml
from nervosum.errors import ConfigError, ConfigIssue, RequestError

SOURCE = "--set"


def _value(text: str) -> Any:
    if not text.strip():
        return None
    if text.lstrip()[0] in "[{":
        try:
            return yaml.safe_load(text)
        except yaml.YAMLError as exc:
            problem = str(exc).splitlines()[0]
            raise RequestError(
                f"{text!r} is not a YAML list or mapping: {problem}",
                hint="quote items that hold commas, e.g. args=[--refresh, '0 2 * * *']",
            ) from None
    return text


def _assign(data: dict[str, Any], path: list[str], value: Any, shown: str) -> None:
    target = data
    for depth, part in enumerate(path[:-1]):
        inner = target.setdefault(part, {})
        if not isinstance(inner, dict):
            where = ".".join(path[: depth + 1])
            raise RequestError(f"{shown}: {where} is not a mapping, so it has no keys")
        target = inner
    target[path[-1]] = value


def apply_sets(base: DeploySpec, pairs: Sequence[str]) -> DeploySpec:
    """``base`` with every ``KEY=VALUE`` of ``pairs`` applied, validated."""
    if not pairs:
        return base
    data = base.model_dump(mode="json")
    for pair in pairs:
        key, sep, text = pair.partition("=")
        path = key.strip().split(".")
        if not sep or not all(path):
            raise RequestError(
                f"--set {pair!r} is not KEY=VALUE",
                hint="e.g. --set replicas=3 --set service.type=NodePort",
            )
        _assign(data, path, _value(text), f"--set {pair!r}")
    return _validated(data, SOURCE, {})


Place = tuple[str, int | None]


def apply_changes(
    base: DeploySpec, changes: Mapping[str, Any], source: str, places: Mapping[str, Place]
) -> DeploySpec:
    """``base`` with ``changes`` (dotted setting -> value) applied, validated; a problem
    with a setting is reported at ``places[setting]``: the key the file wrote, its line."""
    if not changes:
        return base
    data = base.model_dump(mode="json")
    for setting, value in changes.items():
        _assign(data, setting.split("."), value, f"{source}: {setting}")
    return _validated(data, source, places)


def _validated(data: dict[str, Any], source: str, places: Mapping[str, Place]) -> DeploySpec:
    try:
        return DeploySpec.model_validate(data)
    except pydantic.ValidationError as exc:
        nowhere = parse_yaml("{}")  # no lines: every issue is placed by its key
        issues = []
        for error in exc.errors():
            issue = issue_from(error, nowhere, DeploySpec)
            written, line = places.get(issue.path, (issue.path, None))
            path = issue.path if written == issue.path else f"{written} ({issue.path})"
            issues.append(ConfigIssue(path, issue.message, line, issue.hint))
        raise ConfigError(source, issues) from None
