"""A model card: what a reviewer asks of a served model, in one JSON object (``GET
/card``, docs/monitoring.md).

Who the model is (name, version, id, created), what it takes and answers (schemas,
classes), what runs it (the runtime and the compile check against the original), how it
did when trained (a template-trained model carries its held-out figures), and the
versions of the libraries it depends on, as installed where it is served: the project's
requirements file resolved against this environment, plus the library the model object
comes from. The engine adds what ``/info`` also says (engine.py), and the reference
profile's summary when live drift has one.
"""

from __future__ import annotations

import importlib.metadata as md
import platform
from typing import Any

from packaging.requirements import InvalidRequirement, Requirement

from nervosum.config import Project
from nervosum.config.types import Record
from nervosum.errors import ConfigError
from nervosum.model.handle import ModelHandle
from nervosum.requirements import read_requirements, resolve


def card_facts(project: Project, handle: ModelHandle) -> Record:
    """What a card says beyond ``/info``: the held-out figures a template-trained model
    carries, the dependencies' versions, and the Python that runs it."""
    metrics = getattr(handle.loaded.instance, "metrics", None)
    pinned, unresolved = dependencies(project, handle.loaded.instance)
    return {
        "training_metrics": dict(metrics) if isinstance(metrics, dict) else None,
        "dependencies": pinned,
        "dependencies_unresolved": unresolved,
        "python": platform.python_version(),
    }


def dependencies(project: Project, instance: Any) -> tuple[dict[str, str], list[str]]:
    """``{distribution: version}`` as installed here: the project's requirements file
    (and what it requires in turn), nervosum, and the library the model object is from;
    and, in words, what could not be pinned (a requirement the installed version does
    not meet, one not installed, a requirements file nervosum cannot read)."""
    roots = [Requirement("nervosum")]
    library = _distribution_of(type(instance).__module__.split(".")[0])
    if library is not None:
        roots.append(Requirement(library))
    unresolved: list[str] = []
    if project.config.requirements:
        path = project.project_dir / project.config.requirements
        try:
            roots.extend(read_requirements(path).requirements)
        except (ConfigError, OSError) as exc:
            unresolved.append(f"{project.config.requirements}: {exc}")
    resolution = resolve(roots)
    unresolved += [f"{req} (installed {version})" for req, version in resolution.conflicts]
    unresolved += [f"{req} (not installed)" for req in resolution.missing]
    pinned = resolution.pinned
    return {name: pinned[name].version for name in sorted(pinned)}, unresolved


def _distribution_of(module: str) -> str | None:
    """The installed distribution providing the top-level ``module`` (``sklearn`` is
    scikit-learn's), None for a module of no distribution (the user's own code)."""
    providers = md.packages_distributions().get(module)
    if not providers:
        return None
    try:
        return str(Requirement(providers[0]).name)
    except InvalidRequirement:
        return None
