"""Where the challenger of ``variants:`` comes from (docs/variants.md): a project folder
or model file, relative to the champion's folder."""

from __future__ import annotations

import logging
from dataclasses import replace

from nervosum.config import Project
from nervosum.config.variants import VariantsSpec
from nervosum.engine import Engine
from nervosum.errors import ConfigError, ConfigIssue
from nervosum.model.imports import own_namespace
from nervosum.project import load_config

log = logging.getLogger("nervosum.serving")


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


def load_models(
    project: Project, *, threads: int, debug: bool
) -> tuple[Engine, Engine | BaseException | None]:
    """The model, and with ``variants:`` the challenger, loaded before the server starts
    (to fork workers or a model process from), each importing its folder's modules in
    a namespace of its own. A challenger that fails to load (``sys.exit`` too) comes
    back as its error: the champion serves alone and the arm is reported failed."""
    spec = project.config.variants
    if spec is None:
        return Engine.load(project, debug=debug, threads=threads), None
    with own_namespace(project.project_dir, project.src_dir):
        champion = Engine.load(project, debug=debug, threads=threads)
    other = challenger_project(project, spec)
    try:
        with own_namespace(other.project_dir, other.src_dir):
            return champion, Engine.load(other, debug=debug, threads=threads)
    except (Exception, SystemExit) as exc:
        log.error(
            "the challenger %s failed to load; the champion serves alone: %s",
            other.config.name,
            exc,
        )
        return champion, exc
