"""Where the challenger of ``variants:`` comes from (docs/variants.md): a project folder
or model file, relative to the champion's folder, or a bundle of the registry
(``churn:v4``, ``churn`` for its newest bundle, or an id prefix)."""

from __future__ import annotations

import re
from dataclasses import replace
from pathlib import Path

from nervosum.config import DEFAULT_CONFIG, Project
from nervosum.config.spec import BUNDLE_NAME
from nervosum.config.variants import VariantsSpec
from nervosum.errors import ConfigError, ConfigIssue, RegistryError, RequestError
from nervosum.home import Home
from nervosum.project import load_config
from nervosum.registry.select import resolve_reference
from nervosum.registry.store import Entry, Registry

FIELD = "variants.challenger"


def challenger_project(project: Project, spec: VariantsSpec) -> Project:
    """The challenger's project: a path relative to the champion's folder, or a bundle
    of the registry (:func:`challenger_source`). Its own ``logging:`` is ignored: both
    arms' records go to the champion's prediction log."""
    source = challenger_source(spec.challenger, project.project_dir, project.shown)
    challenger = load_config(source)
    return replace(challenger, config=challenger.config.model_copy(update={"logging": None}))


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
