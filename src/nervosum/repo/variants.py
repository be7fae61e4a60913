"""Champion and challenger for serve-repo's model folders (docs/repo.md, "Champion and
challenger").

A model folder gets a challenger from its nervosum.yaml's ``variants:`` block (the path
relative to the folder), else from a ``challenger/`` subfolder, served in shadow mode.
The block wins when there are both: it is how a subfolder is served in canary mode
(``variants: {challenger: challenger, mode: canary}``). The challenger is read with the
folder (an unreadable one fails the folder's load, as a bad nervosum.yaml does) and
loaded by :class:`~nervosum.serving.arms.Arms` in the background once the champion
serves, exactly as beside ``nervosum serve``.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import Any

from nervosum.config import Project
from nervosum.config.variants import VariantsSpec
from nervosum.errors import ConfigError, ConfigIssue, ModelDefinitionError
from nervosum.repo.folders import ModelFolder, folder_kind, folder_project, named
from nervosum.serving.arms import CHALLENGER, CHAMPION, Arms, serve_both
from nervosum.serving.challenger import challenger_project
from nervosum.serving.exchange import current as current_exchange
from nervosum.serving.state import ServingState

log = logging.getLogger("nervosum.repo")

CHALLENGER_FOLDER = "challenger"


@dataclass(frozen=True)
class Challenger:
    """A model folder's challenger as read with the folder: its project and how it is
    served."""

    project: Project
    spec: VariantsSpec


def folder_challenger(folder: ModelFolder, project: Project) -> Challenger | None:
    """The challenger ``folder`` (read as ``project``) asks for, or None. Blocking: it
    reads the challenger's config now, so the fleet runs it off the event loop."""
    spec = project.config.variants
    subfolder = folder.path / CHALLENGER_FOLDER
    if spec is not None:
        _refuse_unsupported(spec, project)
    if spec is None:
        if not subfolder.is_dir():
            return None
        if folder_kind(subfolder) is None:
            raise ModelDefinitionError(
                f"{subfolder} holds no model: a challenger folder needs a nervosum.yaml, an"
                " etls.py, an MLmodel or one model file",
                hint=f"add one, or rename {folder.name}/{CHALLENGER_FOLDER}/",
            )
        spec = VariantsSpec(challenger=CHALLENGER_FOLDER)
    elif subfolder.is_dir() and (project.project_dir / spec.challenger).resolve() != (
        subfolder.resolve()
    ):
        log.warning(
            "model %s: variants.challenger names %s, so %s/ is not served",
            folder.name,
            spec.challenger,
            CHALLENGER_FOLDER,
        )
    return Challenger(_challenger_project(folder.name, project, spec), spec)


def _refuse_unsupported(spec: VariantsSpec, project: Project) -> None:
    """``promote:`` needs labels, and serve-repo takes none (no ``/feedback``);
    ``state:`` would be a file in the folder, whose change reloads the folder."""
    given = [key for key in ("promote", "state") if getattr(spec, key) is not None]
    if given:
        issues = [
            ConfigIssue(f"variants.{key}", "not supported by serve-repo", hint=_WHY[key])
            for key in given
        ]
        raise ConfigError(project.shown, issues)


_WHY = {
    "promote": "serve-repo takes no labels; promote with POST /models/<name>/promote",
    "state": "a promotion lasts as long as the folder's version; drop the key",
}


def _challenger_project(name: str, project: Project, spec: VariantsSpec) -> Project:
    """The challenger read as serve-repo reads a folder (an ``etls.py`` one too), else
    as ``nervosum serve`` reads it; under the model's name (the folder's), as routes and
    /models name the model whichever arm answers."""
    path = project.project_dir / spec.challenger
    if path.is_dir() and folder_kind(path) == "etls":
        return folder_project(ModelFolder(name, path, "etls"))
    return named(challenger_project(project, spec), name)


def serve_challenger(champion: ServingState, challenger: Challenger) -> Arms:
    """Arms for a loaded ``champion`` and its challenger, set on its state: every protocol
    predicts through them, its start loads the challenger, its shutdown closes it."""
    champion.arms = serve_both(champion, challenger.spec, project=challenger.project)
    return champion.arms


def transforming(state: ServingState) -> ServingState:
    """The state whose ``transform_predict`` answers a seed request to ``state``'s model:
    the champion's. One call on a whole frame is no prediction an arm can take (they
    route :meth:`ServingState.infer`), so the champion answers alone (no shadow copy, no
    canary share), named as the champion in the answer's header and log record."""
    arms = state.arms
    if arms is None:
        return state
    exchange = current_exchange()
    if exchange is not None:
        exchange.origin = arms.champion.origin(CHAMPION)
    return arms.champion.state


def arms_summary(arms: Arms) -> dict[str, Any]:
    """A model's arms in ``GET /models``: the mode and each arm's version and status
    (``GET /models/<name>/arms`` has the figures)."""
    pairs = ((CHAMPION, arms.champion), (CHALLENGER, arms.challenger))
    return {
        "mode": arms.spec.mode,
        "arms": [
            {"arm": role, "version": arm.state.project.config.tag, "status": arm.status}
            for role, arm in pairs
        ],
    }
