"""Which model a protocol call names: ``{name}`` (exact or lower-case) and optional
``{version}``, in a REST path or a gRPC message."""

from __future__ import annotations

from starlette.requests import Request

from nervosum.config import Project
from nervosum.errors import NotFoundError
from nervosum.serving.guard import state_of


def check_model_name(project: Project, name: str, version: str | None) -> None:
    """A 404 unless ``name`` (and ``version``, if any) are the served project's."""
    config = project.config
    if name not in (config.name, config.name.lower()):
        raise NotFoundError(
            f"model {name!r} is not served here (this server serves {config.name!r})"
        )
    check_version(project, name, version)


def check_version(project: Project, name: str, version: str | None) -> None:
    """A 404 unless ``version`` (when given) is the tag ``project`` serves under ``name``."""
    tag = project.config.tag
    if version and version != tag:
        raise NotFoundError(f"model {name!r} has no version {version!r} (served: {tag!r})")


def served_project(request: Request) -> Project:
    """The served project, when the URL's name (and version, if any) match it; else 404."""
    project = state_of(request).project
    check_model_name(project, request.path_params["name"], request.path_params.get("version"))
    return project
