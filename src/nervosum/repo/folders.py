"""Which folders of a model repository are models, and how each one loads.

Every top-level folder holding ``etls.py`` (model-serving-framework's contract), a
``nervosum.yaml`` (any model form of the core), an MLflow model (``MLmodel``) or one
model file (``model.joblib``, ``model.onnx``, ...) is one model named after the folder;
files, hidden folders and anything else are ignored, so a README at the root never
breaks the server (it broke the seed's generated imports).

An ``etls.py`` folder needs no config: its class is found by reading the file (the one
named ``transform_predict`` as in the seed's examples, else the one class defining a
``transform_predict`` method) and constructed with the folder's path, with a trailing
slash, as the seed's generated routes did (``path + 'model.pkl'`` keeps working). A
constructor without parameters (the seed's ``etl1`` example) is called without one.
"""

from __future__ import annotations

import ast
import logging
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Literal

from nervosum.config import DEFAULT_CONFIG, NervosumConfig, Project
from nervosum.errors import ModelDefinitionError
from nervosum.model.files.formats import MLMODEL, model_file_in
from nervosum.project import load_config

log = logging.getLogger("nervosum.repo")

ETLS = "etls.py"
SEED_CLASS = "transform_predict"
# Names the server's own routes take under the base URL.
RESERVED = frozenset({"all", "refactor", "-"})

Kind = Literal["etls", "nervosum"]


@dataclass(frozen=True)
class ModelFolder:
    """One discovered model: its name (the folder's), where it is, and its form."""

    name: str
    path: Path
    kind: Kind


def discover(root: Path) -> list[ModelFolder]:
    """The model folders directly under ``root``, in name order (the order ``/all`` merges)."""
    found: list[ModelFolder] = []
    for entry in sorted(root.iterdir(), key=lambda p: p.name):
        if not entry.is_dir() or entry.name.startswith((".", "_")):
            continue
        kind = folder_kind(entry)
        if kind is None:
            continue
        if entry.name in RESERVED:
            log.warning("folder %r is not served: its name is one of the server's routes", entry)
            continue
        found.append(ModelFolder(entry.name, entry, kind))
    return found


def folder_kind(path: Path) -> Kind | None:
    """How the folder at ``path`` loads, or None when it holds no model. Only its own
    files count: a subfolder (a ``challenger/``) never makes it a model."""
    if (path / DEFAULT_CONFIG).is_file():
        return "nervosum"
    if (path / ETLS).is_file():
        return "etls"
    if (path / MLMODEL).is_file() or model_file_in(path) is not None:
        return "nervosum"  # load_config infers the project from the file
    return None


def named(project: Project, name: str) -> Project:
    """``project`` under ``name``: routes and /models use the folder's name, whatever its
    nervosum.yaml says."""
    if project.config.name == name:
        return project
    return replace(project, config=project.config.model_copy(update={"name": name}))


def folder_project(folder: ModelFolder) -> Project:
    """The folder as a project: its nervosum.yaml, or one made for its ``etls.py``."""
    if folder.kind == "nervosum":
        return named(load_config(folder.path), folder.name)
    source = folder.path / ETLS
    class_name, path_parameter = etls_contract(source)
    init = {path_parameter: f"{folder.path.resolve()}/"} if path_parameter else {}
    config = NervosumConfig.model_validate(
        {"name": folder.name, "model": {"module": "etls", "class": class_name, "init": init}}
    )
    return Project(config, folder.path.resolve(), source.resolve())


def etls_contract(source: Path) -> tuple[str, str | None]:
    """The class to construct and the name of its path parameter (None: it takes none).

    Read from the file without running it, so a syntax error is reported with its line
    and nothing of the folder is imported.
    """
    text = source.read_text(encoding="utf-8", errors="replace")
    try:
        tree = ast.parse(text, filename=str(source))
    except SyntaxError as exc:
        raise ModelDefinitionError(
            f"{source}:{exc.lineno}: syntax error: {exc.msg}",
            hint="fix the file; the other models keep serving",
        ) from None
    classes = [node for node in tree.body if isinstance(node, ast.ClassDef)]
    chosen = next((c for c in classes if c.name == SEED_CLASS), None)
    if chosen is None:
        with_method = [c for c in classes if SEED_CLASS in _methods(c)]
        if len(with_method) != 1:
            names = ", ".join(c.name for c in with_method) or "none"
            raise ModelDefinitionError(
                f"{source} needs one class with a transform_predict(self, df) method "
                f"(classes with it: {names})",
                hint="name the class transform_predict, as the seed's examples do",
            )
        chosen = with_method[0]
    return chosen.name, _path_parameter(chosen)


def _methods(node: ast.ClassDef) -> set[str]:
    return {
        item.name for item in node.body if isinstance(item, ast.FunctionDef | ast.AsyncFunctionDef)
    }


def _path_parameter(node: ast.ClassDef) -> str | None:
    """The first parameter after ``self`` of ``__init__``, which receives the path."""
    for item in node.body:
        if isinstance(item, ast.FunctionDef) and item.name == "__init__":
            positional = [*item.args.posonlyargs, *item.args.args][1:]
            if positional:
                return positional[0].arg
            return None
    return None


def missing_package_hint(error: BaseException, folder: ModelFolder) -> BaseException:
    """``error`` with a hint that says what serve-repo does about a package a model
    imports and this environment lacks: nothing. It installs nothing and reads no
    requirements file (models share the server's environment), so "add it to
    requirements.txt" would not help; installing it where the server runs does."""
    cause = error.__cause__
    if not isinstance(error, ModelDefinitionError) or not isinstance(cause, ModuleNotFoundError):
        return error
    top = (cause.name or "").split(".")[0]
    if not top or (folder.path / f"{top}.py").is_file() or (folder.path / top).is_dir():
        return error  # the folder's own module: not a package to install
    requirements = f"{folder.name}/requirements.txt"
    install = (
        f"install {requirements} into the environment serve-repo runs in (pip install -r"
        f" {requirements})"
        if (folder.path / "requirements.txt").is_file()
        else f"install the package that provides {top!r} into the environment serve-repo runs in"
    )
    hint = (
        f"serve-repo installs no packages and reads no requirements file: {install}, then refresh"
    )
    explained = ModelDefinitionError(error.message, hint=hint)
    explained.__cause__ = cause
    return explained
