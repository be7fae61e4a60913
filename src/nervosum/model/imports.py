"""Import user code the way the seed Nervosum did, without leaking between projects.

The seed ran ``from {src}.{model_module} import {model_class}`` with the project folder
as the working directory, so user packages import their siblings as ``model.model``.
Nervosum puts the project folder (and, after it, the src folder) on ``sys.path``.
Two projects often share top-level names (``model``); before importing, modules of
that name loaded from another folder are evicted so each project gets its own code.
"""

from __future__ import annotations

import importlib
import sys
from pathlib import Path
from types import ModuleType

from nervosum.errors import ModelDefinitionError
from nervosum.model.userframes import describe_user_error, user_frames


def _inside(path: str | None, folder: Path) -> bool:
    if not path:
        return False
    try:
        Path(path).resolve().relative_to(folder)
    except ValueError:
        return False
    return True


def prepare_path(project_dir: Path, src_dir: Path) -> None:
    """Make the project (first) and its src folder importable."""
    for folder in (src_dir, project_dir):
        entry = str(folder)
        if entry in sys.path:
            sys.path.remove(entry)
        sys.path.insert(0, entry)


def _evict_foreign(top: str, project_dir: Path) -> None:
    """Forget modules named ``top`` (and below) that were loaded from another folder."""
    stale = [
        name
        for name, module in list(sys.modules.items())
        if (name == top or name.startswith(top + "."))
        and not _inside(getattr(module, "__file__", None), project_dir)
    ]
    for name in stale:
        module = sys.modules[name]
        if getattr(module, "__file__", None) is None and not hasattr(module, "__path__"):
            continue  # built-in module: never evict
        del sys.modules[name]


def _where(exc: BaseException, project_dir: Path) -> str:
    frames = user_frames(exc, project_dir)
    return f" (at {frames[-1].filename}:{frames[-1].lineno})" if frames else ""


def import_user_module(dotted: str, project_dir: Path, src_dir: Path) -> ModuleType:
    """Import ``dotted`` from the project; failures become one readable error."""
    prepare_path(project_dir, src_dir)
    _evict_foreign(dotted.split(".", maxsplit=1)[0], project_dir)
    importlib.invalidate_caches()
    try:
        return importlib.import_module(dotted)
    except ModuleNotFoundError as exc:
        if exc.name and dotted.startswith(exc.name):
            raise ModelDefinitionError(
                f"module {dotted!r} not found in {project_dir}",
                hint="check src and model.module (interface.model_module) in nervosum.yaml",
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
