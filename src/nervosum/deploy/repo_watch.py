"""What a dashboard and alert rules can watch on a model repository (``nervosum
serve-repo``): one process, every model's families told apart by their ``model`` label.

A panel or rule must name a family some model really exports, so the optional ones
(classes or values, drift, arms, the prediction log) follow the union of the model
folders' own nervosum.yaml files and reference profiles; one panel then shows every
model that has it. The thresholds and the prefix are nervosum's defaults: the server's
own row and a folder without a nervosum.yaml have no other.
"""

from __future__ import annotations

from collections.abc import Iterable
from pathlib import Path

from nervosum.config import Project
from nervosum.config.alerts import AlertsSpec
from nervosum.deploy.watch import CLASSES, HISTOGRAM, REPO, Watched, watched
from nervosum.errors import NervosumError
from nervosum.observe.metrics import DEFAULT_PREFIX
from nervosum.repo.folders import discover, folder_kind, folder_project


def is_repository(path: Path) -> bool:
    """A folder that is no model itself but holds model folders: what serve-repo serves."""
    return path.is_dir() and folder_kind(path) is None and bool(discover(path))


def repo_watched(base: str, projects: Iterable[Project]) -> Watched:
    """The repository served under ``base`` (its ``--base-url``) with these models."""
    models = [watched(project) for project in projects]
    return Watched(
        model=base,
        prefix=DEFAULT_PREFIX,
        predictions=tuple(
            kind for kind in (CLASSES, HISTOGRAM) if any(kind in m.predictions for m in models)
        ),
        drift=any(m.drift for m in models),
        logging=any(m.logging for m in models),
        arms=any(m.arms for m in models),
        alerts=AlertsSpec(),
        runtime=REPO,
    )


def folder_watched(root: Path) -> Watched:
    """The repository in the folder ``root``, under serve-repo's default base URL. A
    folder that does not load (a syntax error, a bad nervosum.yaml) exports only its
    readiness and traffic, which every panel shows anyway."""
    from nervosum.repo.server import default_base_url  # loads the whole server: here only

    projects = []
    for folder in discover(root):
        try:
            projects.append(folder_project(folder))
        except NervosumError:
            continue
    return repo_watched(default_base_url(str(root)), projects)
