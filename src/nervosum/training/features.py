"""The features file of a training project: what the model reads, predicts and echoes.

``features.yaml`` is the one place a data scientist names the inputs (with their types,
so requests are validated as numbers, not strings), the target, the id field and the
task. ``nervosum train`` copies it into nervosum.yaml's ``input_schema``; the template's
``Preprocessor`` reads it to split features from the target. Problems are reported like
nervosum.yaml's: every one at once, each with its line.
"""

from __future__ import annotations

from pathlib import Path
from typing import Literal

import pydantic
from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from nervosum.config.load import issue_from
from nervosum.config.spec import SchemaField, duplicate_names
from nervosum.config.yaml_lines import parse_yaml
from nervosum.errors import ConfigError, ConfigIssue

FEATURES_FILE = "features.yaml"

Task = Literal["classification", "regression"]


class FeatureSpec(BaseModel):
    """``features.yaml``, validated."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    task: Task
    target: str = Field(min_length=1)
    id_field: str | None = None
    features: tuple[SchemaField, ...]

    @field_validator("id_field", mode="before")
    @classmethod
    def _empty_means_none(cls, value: object) -> object:
        # [compat] the template's ID_NAME = "" meant "no id field".
        return None if value == "" else value

    @field_validator("features")
    @classmethod
    def _unique(cls, value: tuple[SchemaField, ...]) -> tuple[SchemaField, ...]:
        if not value:
            raise ValueError("list at least one feature: the model's inputs")
        repeated = duplicate_names([f.name for f in value])
        if repeated:
            raise ValueError(f"feature {repeated[0][1]!r} is listed twice")
        return value

    @model_validator(mode="after")
    def _roles_apart(self) -> FeatureSpec:
        """The target and the id field are not inputs: a served request never holds the
        target, and the id is echoed, never fed to the model."""
        names = self.names
        if self.target in names:
            raise ValueError(f"target {self.target!r} must not also be a feature")
        if self.id_field is not None and self.id_field in (*names, self.target):
            raise ValueError(f"id_field {self.id_field!r} must not be a feature or the target")
        return self

    @property
    def names(self) -> list[str]:
        """The feature names in file order: the column order of X everywhere."""
        return [f.name for f in self.features]

    @property
    def is_classification(self) -> bool:
        return self.task == "classification"


def load_features(project_dir: str | Path = ".") -> FeatureSpec:
    """Read and validate ``project_dir/features.yaml``; a :class:`ConfigError` lists every
    problem with its line."""
    path = Path(project_dir) / FEATURES_FILE
    shown = str(path)
    if not path.is_file():
        hint = "a training project has one: `nervosum init NAME --template training`"
        raise ConfigError(shown, [ConfigIssue("", "features file not found", None, hint)])
    doc = parse_yaml(path.read_text(encoding="utf-8"))
    if not isinstance(doc.data, dict):
        shape = ConfigIssue("", "the file must be a mapping of task, target, id_field, features", 1)
        raise ConfigError(shown, doc.issues or [shape])
    try:
        spec = FeatureSpec.model_validate(doc.data)
    except pydantic.ValidationError as exc:
        issues = [issue_from(e, doc, FeatureSpec) for e in exc.errors()]
        raise ConfigError(
            shown, sorted([*doc.issues, *issues], key=lambda i: i.line or 0)
        ) from None
    if doc.issues:
        raise ConfigError(shown, doc.issues)
    return spec
