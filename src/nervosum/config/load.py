"""Turn a nervosum.yaml, or the mapping inferred for a folder without one
(:mod:`nervosum.project`), into a validated :class:`Project`.

This is the only place that reads nervosum.yaml. Every problem in the file is collected and
reported at once with its line, its dotted path and, for unknown keys, a "did you
mean" suggestion, so a user fixes a file in one pass instead of one error per run.
"""

from __future__ import annotations

import difflib
import os
import types
import typing
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pydantic
from pydantic import BaseModel

from nervosum.config.spec import NO_MODEL, NervosumConfig, duplicate_names
from nervosum.config.yaml_lines import YamlDocument, parse_yaml
from nervosum.errors import ConfigError, ConfigIssue

DEFAULT_CONFIG = "nervosum.yaml"
COMPILE_ENV = "NERVOSUM_COMPILE"
COMPILE_MODES = ("auto", "onnx", "off")


@dataclass(frozen=True)
class Project:
    """A validated config together with the folders it refers to."""

    config: NervosumConfig
    project_dir: Path
    config_path: Path
    # No file at config_path: what in the folder the settings were inferred from (issue 19).
    inferred_from: str = ""
    # A model file named as the path (issue 21): the only file of its folder that belongs
    # to the project (a build copies it, not the rest of, say, ~/Downloads).
    only_file: str | None = None

    @property
    def inferred(self) -> bool:
        return bool(self.inferred_from)

    @property
    def shown(self) -> str:
        """What the settings were read from, for messages: the config file, or the folder
        and what they were inferred from when it has none (never a file that is not there)."""
        if self.inferred_from:
            return inferred_label(self.project_dir, self.inferred_from)
        return str(self.config_path)

    @property
    def src_dir(self) -> Path:
        return (self.project_dir / self.config.src).resolve()

    @property
    def src_package(self) -> str:
        """[compat] The import prefix the seed derived from ``src`` (``model/`` -> ``model``)."""
        relative = Path(self.config.src.replace("\\", "/")).as_posix().strip("/")
        parts = [p for p in relative.split("/") if p not in ("", ".")]
        return ".".join(parts)


def inferred_label(root: Path, basis: str) -> str:
    """How messages name a folder served without a config file."""
    return f"{root} (no {DEFAULT_CONFIG}; settings inferred from {basis})"


def _submodel(annotation: Any) -> type[BaseModel] | None:
    """The pydantic model inside ``X``, ``X | None`` or ``tuple[X, ...]``, if any."""
    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        return annotation
    origin = typing.get_origin(annotation)
    if origin in (typing.Union, types.UnionType, tuple, list):
        for arg in typing.get_args(annotation):
            found = _submodel(arg)
            if found is not None:
                return found
    return None


def _keys_at(path: tuple[str | int, ...], root: type[BaseModel]) -> list[str]:
    """The keys allowed in the mapping at ``path`` (aliases where a field has one)."""
    model: type[BaseModel] | None = root
    for part in path:
        if model is None:
            return []
        if isinstance(part, int):
            continue
        field = next(
            (f for name, f in model.model_fields.items() if part in (name, f.alias)),
            None,
        )
        model = _submodel(field.annotation) if field else None
    if model is None:
        return []
    return [f.alias or name for name, f in model.model_fields.items()]


def issue_from(
    error: Any, doc: YamlDocument, root: type[BaseModel] = NervosumConfig
) -> ConfigIssue:
    """A pydantic error on a model of ``root``'s shape as a located issue, with a "did
    you mean" for an unknown key."""
    loc: tuple[str | int, ...] = tuple(error["loc"])
    dotted = ".".join(str(p) for p in loc)
    line = doc.line_of(loc)
    kind = error["type"]
    if kind == "extra_forbidden":
        key = str(loc[-1])
        allowed = _keys_at(loc[:-1], root)
        close = difflib.get_close_matches(key, allowed, n=1, cutoff=0.6)
        hint = f"did you mean {close[0]!r}?" if close else f"allowed keys: {', '.join(allowed)}"
        return ConfigIssue(dotted, "unknown key", line, hint)
    if kind == "missing":
        return ConfigIssue(dotted, "required field is missing", line)
    message = str(error["msg"]).removeprefix("Value error, ")
    return ConfigIssue(dotted, message, line)


def _file_issues(root: Path, data: dict[str, Any], doc: YamlDocument) -> list[ConfigIssue]:
    """Problems only the filesystem can reveal: missing folders and files.

    Read from the raw mapping so they are reported alongside validation errors.
    """
    issues: list[ConfigIssue] = []
    src = data.get("src", ".")
    src_dir = (root / src).resolve() if isinstance(src, str) else None
    if src_dir is not None and not src_dir.is_dir():
        issues.append(
            ConfigIssue(
                "src",
                f"source directory {src!r} does not exist in {root.resolve()}",
                doc.line_of(("src",)),
            )
        )
    requirements = data.get("requirements")
    if isinstance(requirements, str) and requirements and not (root / requirements).is_file():
        issues.append(
            ConfigIssue(
                "requirements",
                f"requirements file {requirements!r} not found",
                doc.line_of(("requirements",)),
                "remove the key if the model needs no extra packages",
            )
        )
    model = data.get("model")
    artifact = model.get("artifact") if isinstance(model, dict) else None
    if (
        isinstance(artifact, str)
        and artifact
        and src_dir is not None
        and src_dir.is_dir()
        and not (src_dir / artifact).is_file()
    ):
        issues.append(
            ConfigIssue(
                "model.artifact",
                f"artifact {artifact!r} not found in {src_dir}",
                doc.line_of(("model", "artifact")),
                "the path is relative to src",
            )
        )
    return issues


def _duplicate_field_issues(data: dict[str, Any], doc: YamlDocument) -> list[ConfigIssue]:
    """Schema fields declared twice, found even when other fields of the list are invalid."""
    issues: list[ConfigIssue] = []
    for key in ("input_schema", "output_schema"):
        items = data.get(key)
        if not isinstance(items, list):
            continue
        names = [item.get("name") if isinstance(item, dict) else None for item in items]
        for index, name in duplicate_names(names):
            issues.append(
                ConfigIssue(
                    f"{key}.{index}.name",
                    f"field {name!r} is declared twice",
                    doc.line_of((key, index, "name")),
                    "field names must be unique",
                )
            )
    return issues


def _validate(
    data: dict[str, Any], doc: YamlDocument
) -> tuple[NervosumConfig | None, list[ConfigIssue]]:
    """The parsed config (None if invalid) and every problem in it."""
    try:
        return NervosumConfig.model_validate(data), []
    except pydantic.ValidationError as exc:
        issues = [issue_from(e, doc) for e in exc.errors()]
    # Pydantic skips whole-list and whole-file checks once a part is invalid; run them here.
    duplicates = _duplicate_field_issues(data, doc)
    if duplicates:
        issues = [i for i in issues if not i.message.endswith("is declared twice")]
        issues.extend(duplicates)
    no_model = data.get("interface") is None and data.get("model") is None
    if no_model and not any(i.message == NO_MODEL for i in issues):
        issues.append(ConfigIssue("", NO_MODEL, 1))
    return None, issues


def read_config_file(path: Path) -> tuple[dict[str, Any], YamlDocument]:
    """The mapping written in ``path`` and its lines; a :class:`ConfigError` when the
    file is not a YAML mapping."""
    shown = str(path)
    doc = parse_yaml(path.read_text(encoding="utf-8"))
    if doc.data is None:
        raise ConfigError(shown, doc.issues or [ConfigIssue("", "the file is empty", 1)])
    if not isinstance(doc.data, dict):
        mapping = ConfigIssue("", "the file must be a YAML mapping of keys to values", 1)
        raise ConfigError(shown, [*doc.issues, mapping])
    data: dict[str, Any] = dict(doc.data)
    tag = data.get("tag")
    if isinstance(tag, int | float) and not isinstance(tag, bool):
        data["tag"] = doc.text_of(("tag",)) or str(tag)  # `tag: 1.10` is "1.10", not 1.1
    return data, doc


def validated_project(
    root: Path, path: Path, data: dict[str, Any], doc: YamlDocument, *, shown: str, basis: str
) -> Project:
    """The validated :class:`Project`, or one ConfigError listing every problem."""
    parsed, issues = _validate(data, doc)
    issues = [*doc.issues, *issues, *_file_issues(root, data, doc)]
    if issues or parsed is None:
        issues.sort(key=lambda issue: issue.line or 0)
        raise ConfigError(shown, issues)
    return Project(_compile_override(parsed), root.resolve(), path.resolve(), inferred_from=basis)


def _compile_override(config: NervosumConfig) -> NervosumConfig:
    """``model.compile``'s mode from ``NERVOSUM_COMPILE`` (``auto``, ``onnx``, ``off``),
    which ``--compile`` / ``--no-compile`` set: read here, every process that loads the
    project sees it (batch workers, Spark, graph steps, serve-repo models)."""
    mode = os.environ.get(COMPILE_ENV, "").strip().lower()
    spec = config.model
    if not mode or spec is None:
        return config
    if mode not in COMPILE_MODES:
        issue = ConfigIssue(
            "model.compile", f"{COMPILE_ENV}={mode!r} is not one of {', '.join(COMPILE_MODES)}"
        )
        raise ConfigError(COMPILE_ENV, [issue])
    compiled = spec.model_copy(update={"compile": spec.compile.model_copy(update={"mode": mode})})
    return config.model_copy(update={"model": compiled})
