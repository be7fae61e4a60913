"""Render the project templates that ``nervosum init`` creates, and CI/CD pipelines.

Two project templates: ``default`` (a model class that serves at once) and ``training``
(the microservice template's roles, trained with ``nervosum train``). A pipeline can be
added to a new project or to an existing one; pipelines read the project's name and tag
from nervosum.yaml when they run, so renaming or retagging never leaves them stale.
``--detect`` writes the nervosum.yaml inferred for an existing folder (detect/).
"""

from __future__ import annotations

from importlib.resources import files
from importlib.resources.abc import Traversable
from pathlib import Path
from string import Template

import yaml

from nervosum.config import DEFAULT_CONFIG
from nervosum.detect import Detected, detect_project
from nervosum.errors import RequestError
from nervosum.project import load_config

_TEMPLATES = files("nervosum") / "templates"
# template name -> its folder under templates/
PROJECT_TEMPLATES = {"default": "init", "training": "training"}
# CI system -> (its file under templates/ci, where it goes in a project)
PIPELINES = {
    "github": ("github.yml", ".github/workflows/nervosum.yml"),
    "gitlab": ("gitlab-ci.yml", ".gitlab-ci.yml"),
    "jenkins": ("Jenkinsfile", "Jenkinsfile"),
}
# Packaged without the leading dot (packaging tools may skip hidden files), written with it.
_DOTFILES = {"gitignore": ".gitignore", "nervosumignore": ".nervosumignore"}


def _walk(node: Traversable, prefix: Path) -> list[tuple[Path, Traversable]]:
    found: list[tuple[Path, Traversable]] = []
    for child in sorted(node.iterdir(), key=lambda c: c.name):
        if child.name == "__pycache__":
            continue
        if child.is_dir():
            found.extend(_walk(child, prefix / child.name))
        else:
            found.append((prefix / _DOTFILES.get(child.name, child.name), child))
    return found


def _render(source: Traversable, path: Path, **values: str) -> Path:
    text = Template(source.read_text(encoding="utf-8")).safe_substitute(values)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text, encoding="utf-8")
    return path


def create_project(name: str, target: Path, template: str = "default") -> list[Path]:
    """Write ``template`` into ``target`` (which must be absent or empty); return the files."""
    if target.exists() and (not target.is_dir() or any(target.iterdir())):
        raise RequestError(
            f"{target} already exists and is not empty", hint="choose another name or -d"
        )
    folder = _TEMPLATES / PROJECT_TEMPLATES[template]
    written = [
        _render(source, target / relative, name=name) for relative, source in _walk(folder, Path())
    ]
    if template == "training":
        from nervosum.training.configblock import DEFAULT_ARTIFACT, write_block
        from nervosum.training.features import load_features

        write_block(target / DEFAULT_CONFIG, load_features(target), target / DEFAULT_ARTIFACT)
    return written


def add_pipeline(project_dir: Path, ci: str) -> Path:
    """Write the ``ci`` pipeline into the project at ``project_dir``; never overwrite one."""
    if not (project_dir / DEFAULT_CONFIG).is_file():
        raise RequestError(
            f"{project_dir} has no {DEFAULT_CONFIG}",
            hint="run it inside a project, pass -d DIR, or give NAME to create a project",
        )
    source, relative = PIPELINES[ci]
    path = project_dir / relative
    if path.exists():
        raise RequestError(f"{path} already exists", hint="remove it to write a fresh pipeline")
    return _render(_TEMPLATES / "ci" / source, path)


def write_detected(folder: Path, *, force: bool = False) -> tuple[Path, Detected]:
    """Write the nervosum.yaml inferred for ``folder`` (never over one unless ``force``),
    then load it as every command will, so what was written is known to work."""
    path = folder / DEFAULT_CONFIG
    if not folder.is_dir():
        raise RequestError(f"{folder} is not a folder", hint="nervosum init --detect DIR")
    if path.exists() and not force:
        raise RequestError(
            f"{path} already exists", hint="pass --force to replace it with the detected one"
        )
    detected = detect_project(folder)
    header = f"# Inferred by `nervosum init --detect` ({detected.kind} form); edit as needed.\n"
    body = yaml.safe_dump(detected.config, sort_keys=False, default_flow_style=None)
    path.write_text(header + body, encoding="utf-8")
    load_config(folder)
    return path, detected
