"""Where the challenger of ``variants:`` comes from (docs/variants.md): a project folder
or model file, relative to the champion's folder."""

from __future__ import annotations

from dataclasses import replace

from nervosum.config import Project
from nervosum.config.variants import VariantsSpec
from nervosum.errors import ConfigError, ConfigIssue
from nervosum.project import load_config


def challenger_project(project: Project, spec: VariantsSpec) -> Project:
    """The challenger's project, its path relative to the champion's folder. Its own
    ``logging:`` is ignored: both arms' records go to the champion's prediction log."""
    path = project.project_dir / spec.challenger
    if not path.exists():
        issue = ConfigIssue(
            "variants.challenger",
            f"{path} does not exist",
            hint="a project folder or model file, relative to the project folder",
        )
        raise ConfigError(project.shown, [issue])
    challenger = load_config(path)
    return replace(challenger, config=challenger.config.model_copy(update={"logging": None}))
