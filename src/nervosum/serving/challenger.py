"""Where the challenger of ``variants:`` comes from (docs/variants.md): a project folder
or model file, relative to the champion's folder, or a bundle of the registry
(``churn:v4``, ``churn`` for its newest bundle, or an id prefix)."""

from __future__ import annotations

import logging
import re
from dataclasses import dataclass, replace
from pathlib import Path

from nervosum.config import DEFAULT_CONFIG, Project
from nervosum.config.spec import BUNDLE_NAME
from nervosum.config.variants import VariantsSpec
from nervosum.engine import Engine
from nervosum.errors import ConfigError, ConfigIssue, RegistryError, RequestError
from nervosum.home import Home
from nervosum.model.imports import own_namespace
from nervosum.project import load_config
from nervosum.registry.select import resolve_reference
from nervosum.registry.store import Entry, Registry

FIELD = "variants.challenger"

log = logging.getLogger("nervosum.serving")


def challenger_project(project: Project, spec: VariantsSpec) -> Project:
    """The challenger's project: a path relative to the champion's folder, or a bundle
    of the registry (:func:`challenger_source`). Its own ``logging:`` is ignored: both
    arms' records go to the champion's prediction log."""
    source = challenger_source(spec.challenger, project.project_dir, project.shown)
    challenger = load_config(source)
    return replace(challenger, config=challenger.config.model_copy(update={"logging": None}))


@dataclass(frozen=True)
class Preloaded:
    """A challenger loaded before the server started: its project as read then (a
    registry reference resolved once, so every worker serves the same bundle), and its
    model, or why it failed to load."""

    project: Project
    model: Engine | BaseException


def load_models(project: Project, *, threads: int, debug: bool) -> tuple[Engine, Preloaded | None]:
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
            return champion, Preloaded(other, Engine.load(other, debug=debug, threads=threads))
    except (Exception, SystemExit) as exc:
        log.error(
            "the challenger %s failed to load; the champion serves alone: %s",
            other.config.name,
            exc,
        )
        return champion, Preloaded(other, exc)


def challenger_source(value: str, base: Path, shown: str) -> Path:
    """What ``value`` names: a path relative to ``base`` when one exists there (a path
    wins, so a folder called ``churn`` is never mistaken for the bundle), else the
    registry's bundle it references. ``shown`` names the config file in errors."""
    path = base / value
    if path.exists():
        return path.resolve()
    if not looks_like_reference(value):
        hint = f"a project folder or model file relative to {base}, or a bundle: NAME:TAG"
        raise ConfigError(shown, [ConfigIssue(FIELD, f"{path} does not exist", hint=hint)])
    home = Home.from_env()
    try:
        entry = resolve_reference(Registry(home).entries(), value)
    except (RegistryError, RequestError) as exc:
        raise _not_found(value, path, shown, f"in the registry at {home.root}", exc) from None
    return bundle_source(entry)


def looks_like_reference(value: str) -> bool:
    """``NAME``, ``NAME:TAG`` or an id prefix, each part a bundle name: ``../v4`` and
    ``v4/model.pkl`` can only be paths, so a missing one is reported as a path."""
    name, sep, tag = value.partition(":")
    parts = (name, tag) if sep else (name,)
    return all(re.fullmatch(BUNDLE_NAME, part) for part in parts)


def bundle_source(entry: Entry) -> Path:
    """The path :func:`load_config` reads a bundle from: its folder (which serves as the
    project it holds), or its config file when it was built with another name than
    nervosum.yaml (a folder is read through its nervosum.yaml only)."""
    config = entry.manifest.get("config", DEFAULT_CONFIG)
    return entry.path if config == DEFAULT_CONFIG else entry.path / "app" / config


def _not_found(
    value: str, path: Path, shown: str, where: str, exc: RegistryError | RequestError
) -> ConfigError:
    """The registry's own reason (and its hint: close names and tags) for a reference it
    does not hold; a bare name could have been a path too, so that is said as well."""
    if ":" in value:
        message = f"{value!r} is not {where}: {exc.message}"
    else:
        message = f"{path} does not exist, nor is {value!r} {where}: {exc.message}"
    return ConfigError(shown, [ConfigIssue(FIELD, message, hint=exc.hint)])
