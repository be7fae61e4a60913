"""Import user code the way the seed Nervosum did, without leaking between projects.

The seed ran ``from {src}.{model_module} import {model_class}`` with the project folder
as the working directory, so user packages import their siblings as ``model.model``.
Nervosum puts the project folder (and, after it, the src folder) on ``sys.path``.
Two projects often share top-level names (``model``, ``helpers``, ``etls``); before
importing, every module whose name matches a file or package of this project is evicted,
so each project gets its own code and a reload (the multi-model server's refresh) runs
the files as they are now.
"""

from __future__ import annotations

import importlib
import importlib.machinery
import importlib.util
import sys
from pathlib import Path
from types import ModuleType

from nervosum.errors import ModelDefinitionError
from nervosum.model.userframes import describe_user_error, user_frames


def prepare_path(project_dir: Path, src_dir: Path) -> None:
    """Make the project (first) and its src folder importable, forgetting modules of
    the same names another project loaded: the next import (or unpickle) reads this
    project's files."""
    for folder in (src_dir, project_dir):
        entry = str(folder)
        if entry in sys.path:
            sys.path.remove(entry)
        sys.path.insert(0, entry)
    _evict_own_names(project_dir, src_dir)
    importlib.invalidate_caches()


def _own_names(folders: tuple[Path, ...]) -> set[str]:
    """Top-level module names this project provides: its ``*.py`` files and packages."""
    names: set[str] = set()
    for folder in folders:
        for entry in folder.iterdir():
            if entry.suffix == ".py":
                names.add(entry.stem)
            elif entry.is_dir() and entry.name.isidentifier():
                names.add(entry.name)
    return names


def _evict_own_names(project_dir: Path, src_dir: Path) -> None:
    """Forget loaded modules that have the names of this project's files and packages."""
    own = _own_names((project_dir, src_dir))
    for name, module in list(sys.modules.items()):
        if name.split(".")[0] not in own:
            continue
        origin = getattr(module, "__file__", None)
        if origin is None and not hasattr(module, "__path__"):
            continue  # built-in module: never evict
        del sys.modules[name]


def _where(exc: BaseException, project_dir: Path) -> str:
    frames = user_frames(exc, project_dir)
    return f" (at {frames[-1].filename}:{frames[-1].lineno})" if frames else ""


def _bind_namespace_package(dotted: str, project_dir: Path) -> None:
    """[compat] The seed imported ``{src}.{module}`` with only the project folder on the
    path. A src folder without ``__init__.py`` is a namespace package, which loses to a
    module of the same name anywhere on ``sys.path`` (nervosum/proof-of-concepts'
    ``model/model.py``, its folder being on the path too): bind the package first."""
    first, _, rest = dotted.partition(".")
    if not rest or first in sys.modules:
        return
    spec = importlib.machinery.PathFinder.find_spec(first, [str(project_dir)])
    if spec is not None and spec.origin is None and spec.submodule_search_locations:
        sys.modules[first] = importlib.util.module_from_spec(spec)


def missing_project_file(exc: ModuleNotFoundError, *folders: Path) -> str | None:
    """``source/features.py`` when the module that was not found (``source.features``)
    belongs to a package of the project (a folder of one of ``folders``): a file is
    missing, there is no package to install (issue 19). None for any other module."""
    parts = (exc.name or "").split(".")
    if len(parts) < 2 or not all(part.isidentifier() for part in parts):
        return None
    if not any((folder / parts[0]).is_dir() for folder in folders):
        return None
    return "/".join(parts) + ".py"


def import_user_module(dotted: str, project_dir: Path, src_dir: Path) -> ModuleType:
    """Import ``dotted`` from the project; failures become one readable error."""
    prepare_path(project_dir, src_dir)
    _bind_namespace_package(dotted, project_dir)
    try:
        return importlib.import_module(dotted)
    except ModuleNotFoundError as exc:
        if exc.name and (dotted == exc.name or dotted.startswith(exc.name + ".")):
            raise ModelDefinitionError(
                f"module {dotted!r} not found in {project_dir}",
                hint="check src and model.module (interface.model_module) in nervosum.yaml",
            ) from exc
        missing = missing_project_file(exc, project_dir, src_dir)
        if missing is not None:
            raise ModelDefinitionError(
                f"importing {dotted!r} failed: {missing} not found{_where(exc, project_dir)}",
                hint=f"restore {missing}, or change the import",
            ) from exc
        raise ModelDefinitionError(
            f"importing {dotted!r} failed: {exc}{_where(exc, project_dir)}",
            hint=f"install the missing package {exc.name!r} (add it to requirements.txt)",
        ) from exc
    except SyntaxError as exc:
        where = f"{exc.filename}:{exc.lineno}" if exc.filename else dotted
        raise ModelDefinitionError(f"syntax error in {where}: {exc.msg}") from exc
    except Exception as exc:
        raise ModelDefinitionError(
            f"importing {dotted!r} raised {describe_user_error(exc, project_dir)}"
        ) from exc
