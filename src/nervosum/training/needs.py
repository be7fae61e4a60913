"""The distributions a pickled model needs to be loaded and called, pinned as installed.

Unpickling imports every module the pickle names (``sklearn.dummy``, ``numpy``,
``source.model.mdl``) and, through the project's own modules among them, whatever those
import (``source/model/train.py`` importing ``pandas``, or ``sklearn.dummy`` inside
``train_model``). So the needs are: the modules the pickle references, plus the imports
written anywhere in the project modules reached from them, mapped to the installed
distributions that provide them. Standard-library modules belong to no distribution and
drop out; nervosum itself is the bundle's own root.
"""

from __future__ import annotations

import ast
import io
import pickle
from importlib.metadata import packages_distributions, version
from pathlib import Path
from typing import Any


class _Recorder(pickle.Unpickler):
    """Loads a pickle (one nervosum has just written) and notes every module it names."""

    def __init__(self, data: bytes) -> None:
        super().__init__(io.BytesIO(data))
        self.modules: set[str] = set()

    def find_class(self, module: str, name: str) -> Any:
        self.modules.add(module)
        return super().find_class(module, name)


def _project_file(module: str, project_dir: Path) -> Path | None:
    """The project file that defines ``module`` (``source.model.mdl``), if any."""
    base = project_dir.joinpath(*module.split("."))
    for candidate in (base.with_suffix(".py"), base / "__init__.py"):
        if candidate.is_file():
            return candidate
    return None


def _imports(path: Path, module: str) -> set[str]:
    """Every module ``path`` imports, anywhere in the file; relative imports resolved
    against ``module`` (the dotted name of ``path``)."""
    package = module.split(".") if path.name == "__init__.py" else module.split(".")[:-1]
    found: set[str] = set()
    for node in ast.walk(ast.parse(path.read_bytes(), filename=str(path))):
        if isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            base = package[: len(package) - node.level + 1] if node.level else []
            dotted = ".".join([*base, *([node.module] if node.module else [])])
            if dotted:
                found.add(dotted)
                found.update(f"{dotted}.{alias.name}" for alias in node.names)
    return found


def needed_modules(data: bytes, project_dir: Path) -> set[str]:
    """The top-level module names loading and calling the pickle ``data`` needs, outside
    the project itself."""
    recorder = _Recorder(data)
    recorder.load()
    pending = list(recorder.modules)
    seen: set[str] = set()
    outside: set[str] = set()
    while pending:
        module = pending.pop()
        if module in seen:
            continue
        seen.add(module)
        source = _project_file(module, project_dir)
        if source is not None:
            pending.extend(_imports(source, module))
        elif _project_file(module.split(".")[0], project_dir) is None:
            outside.add(module.split(".")[0])
    return outside


def pinned_distributions(data: bytes, project_dir: Path) -> list[str]:
    """``name==version`` of every installed distribution the pickle ``data`` needs."""
    providers = packages_distributions()
    names = {
        dist
        for module in needed_modules(data, project_dir)
        for dist in providers.get(module, [])
        if dist.lower() != "nervosum"
    }
    return sorted(f"{name}=={version(name)}" for name in names)
