"""Import user code the way the seed Nervosum did, without leaking between projects.

The seed ran ``from {src}.{model_module} import {model_class}`` with the project folder
as the working directory, so user packages import their siblings as ``model.model``.
Nervosum puts the project folder (and, after it, the src folder) on ``sys.path``.
Two projects often share top-level names (``model``, ``helpers``, ``etls``); before
importing, every module whose name matches a file or package of this project is evicted,
so each project gets its own code and a reload (the multi-model server's refresh) runs
the files as they are now.

That is enough for one model per process, not for several at once (issue 20): the
multi-model server loads each model inside :func:`own_namespace`, where nothing goes on
``sys.path``. The folder's modules are imported under a package of their own
(``_nervosum_model_<n>.helpers``), and every one of them gets an ``__import__`` that sends
the folder's own top-level names (``import helpers``, also inside ``predict``) to that
package, so each model's imports resolve to its own folder before and after its load.
While the load runs the bare names are aliases too, so a pickle the load reads finds the
folder's classes. A folder file or package named after a standard library module or one
of nervosum's dependencies (``json.py``) is refused: it would break them for the model.
"""

from __future__ import annotations

import builtins
import functools
import importlib
import importlib.abc
import importlib.machinery
import importlib.util
import itertools
import sys
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from importlib.machinery import ModuleSpec
from pathlib import Path
from types import ModuleType
from typing import Any

from nervosum.errors import ModelDefinitionError
from nervosum.model.userframes import describe_user_error, user_frames


def prepare_path(project_dir: Path, src_dir: Path) -> None:
    """Make the project (first) and its src folder importable, forgetting modules of
    the same names another project loaded: the next import (or unpickle) reads this
    project's files. Inside :func:`own_namespace` the namespace resolves them instead."""
    if _ACTIVE.get(project_dir.resolve()) is not None:
        return
    for folder in (src_dir, project_dir):
        entry = str(folder)
        if entry in sys.path:
            sys.path.remove(entry)
        sys.path.insert(0, entry)
    _evict_own_names(project_dir, src_dir)
    importlib.invalidate_caches()


def _evict_own_names(project_dir: Path, src_dir: Path) -> None:
    """Forget loaded modules that have the names of this project's files and packages."""
    # Only names the project's code provides: a data folder called `logging/` or
    # `email/` must not evict the standard library's module of that name.
    own = _code_names((project_dir, src_dir))
    for name, module in loaded_modules():
        if name.split(".")[0] not in own:
            continue
        origin = getattr(module, "__file__", None)
        if origin is None and not hasattr(module, "__path__"):
            continue  # built-in module: never evict
        sys.modules.pop(name, None)


def loaded_modules() -> list[tuple[str, ModuleType]]:
    """``sys.modules``' entries now. Another thread may import meanwhile (a Spark task,
    a writer thread): iterating the dict itself then fails with "dictionary changed
    size during iteration" (``list(items())`` too, when a collection runs a finaliser
    that lets the other thread in), a copy made in one C call does not."""
    return list(sys.modules.copy().items())


def _where(exc: BaseException, project_dir: Path) -> str:
    frames = user_frames(exc, project_dir)
    return f" (at {frames[-1].filename}:{frames[-1].lineno})" if frames else ""


def _bind_namespace_package(dotted: str, project_dir: Path, prefix: str = "") -> None:
    """[compat] The seed imported ``{src}.{module}`` with only the project folder on the
    path. A src folder without ``__init__.py`` is a namespace package, which loses to a
    module of the same name anywhere on ``sys.path`` (nervosum/proof-of-concepts'
    ``model/model.py``, its folder being on the path too): bind the package first
    (``prefix``: the package of an :func:`own_namespace`)."""
    first, _, rest = dotted.partition(".")
    name = f"{prefix}.{first}" if prefix else first
    if not rest or name in sys.modules:
        return
    spec = importlib.machinery.PathFinder.find_spec(name, [str(project_dir)])
    if spec is not None and spec.origin is None and spec.submodule_search_locations:
        sys.modules[name] = importlib.util.module_from_spec(spec)


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
    namespace = _ACTIVE.get(project_dir.resolve())
    prepare_path(project_dir, src_dir)
    try:
        if namespace is not None:
            return namespace.import_module(dotted)
        _bind_namespace_package(dotted, project_dir)
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


# -- one namespace per model (the multi-model server) -------------------------------------

_ACTIVE: dict[Path, Namespace] = {}  # project folders loading in a namespace of their own
_NAMESPACES: dict[str, Namespace] = {}  # by package name, for the finder
_numbers = itertools.count(1)
_real_import = builtins.__import__


def _code_names(folders: Sequence[Path]) -> dict[str, Path]:
    """Top-level names the folders' code provides: ``*.py`` files and folders holding code
    at any depth (a package, or a namespace package)."""
    names: dict[str, Path] = {}
    for folder in folders:
        for entry in sorted(folder.iterdir()):
            code = entry.suffix == ".py" or (entry.is_dir() and any(entry.rglob("*.py")))
            name = entry.stem if entry.suffix == ".py" else entry.name
            if code and name.isidentifier():
                names.setdefault(name, entry)
    return names


@functools.cache
def _dependency_modules() -> dict[str, str]:
    """Top-level modules of nervosum's installed dependencies -> their distribution."""
    from importlib.metadata import packages_distributions

    from packaging.requirements import Requirement
    from packaging.utils import canonicalize_name

    from nervosum.requirements import resolve

    pinned = set(resolve([Requirement("nervosum")]).pinned) - {"nervosum"}
    return {
        module: next(d for d in dists if canonicalize_name(d) in pinned)
        for module, dists in packages_distributions().items()
        if any(canonicalize_name(d) in pinned for d in dists)
    }


def _refuse_shadows(names: dict[str, Path], project_dir: Path) -> None:
    for name, entry in names.items():
        what = entry.relative_to(project_dir) if entry.is_relative_to(project_dir) else entry
        if name in sys.stdlib_module_names:
            shadowed = f"the standard library module {name}"
        elif name in _dependency_modules():
            shadowed = f"{name}, a module of {_dependency_modules()[name]} (nervosum needs it)"
        else:
            continue
        raise ModelDefinitionError(
            f"{project_dir}: {what} shadows {shadowed}: rename it",
            hint="models share one process: a folder's module may not take the name of one"
            " the server and the other models import",
        )


class _Loader(importlib.abc.Loader):
    """The folder's own loader, giving each module the namespace's ``__import__``."""

    def __init__(self, inner: importlib.abc.Loader, namespace: Namespace) -> None:
        self.inner = inner
        self.namespace = namespace

    def create_module(self, spec: ModuleSpec) -> ModuleType | None:
        return self.inner.create_module(spec)

    def exec_module(self, module: ModuleType) -> None:
        module.__dict__["__builtins__"] = self.namespace.builtins
        self.inner.exec_module(module)

    def __getattr__(self, name: str) -> Any:  # get_source, get_filename ... for tracebacks
        return getattr(self.inner, name)


class _Alias(importlib.abc.Loader):
    """A bare name standing for a module of the loading model's namespace."""

    def __init__(self, module: ModuleType) -> None:
        self.module = module
        self.spec = module.__spec__

    def create_module(self, spec: ModuleSpec) -> ModuleType:
        return self.module

    def exec_module(self, module: ModuleType) -> None:
        module.__spec__ = self.spec  # the import system set the alias's spec on it


class _Finder(importlib.abc.MetaPathFinder):
    """Finds the modules of every namespace's package, in that model's folders, and
    while a model loads, its bare names (for the pickles nervosum reads for it)."""

    def find_spec(
        self, fullname: str, path: Sequence[str] | None, target: ModuleType | None = None
    ) -> ModuleSpec | None:
        first = fullname.partition(".")[0]
        for loading in _ACTIVE.values():
            if loading.loading and first in loading.own:
                module = loading.import_module(fullname)
                return importlib.util.spec_from_loader(fullname, _Alias(module))
        namespace = _NAMESPACES.get(first)
        if namespace is None:
            return None
        spec = importlib.machinery.PathFinder.find_spec(fullname, path)
        if spec is not None and spec.loader is not None:
            spec.loader = _Loader(spec.loader, namespace)
        return spec


_FINDER = _Finder()


class Namespace:
    """One load of one model folder: its modules live under ``prefix``."""

    def __init__(self, project_dir: Path, src_dir: Path) -> None:
        folders = list(dict.fromkeys((project_dir, src_dir)))
        self.own = _code_names(folders)
        _refuse_shadows(self.own, project_dir)
        self.project_dir = project_dir
        self.prefix = f"_nervosum_model_{next(_numbers)}"
        package = ModuleType(self.prefix, f"model folder {project_dir}")
        package.__path__ = [str(folder) for folder in folders]
        package.__spec__ = ModuleSpec(self.prefix, None, is_package=True)
        package.__spec__.submodule_search_locations = package.__path__
        sys.modules[self.prefix] = package
        _NAMESPACES[self.prefix] = self
        if _FINDER not in sys.meta_path:
            sys.meta_path.insert(0, _FINDER)
        self.builtins = {**vars(builtins), "__import__": self._import}
        self.loading = False

    def import_module(self, dotted: str) -> ModuleType:
        """``dotted`` as the folder's code names it (``etls``, ``model.model``)."""
        _bind_namespace_package(dotted, self.project_dir, self.prefix)
        return self._import(dotted, fromlist=("__name__",))

    def _import(
        self,
        name: str,
        globals: dict[str, Any] | None = None,
        locals: dict[str, Any] | None = None,
        fromlist: Sequence[str] | None = (),
        level: int = 0,
    ) -> ModuleType:
        first = name.partition(".")[0]
        if level != 0 or first not in self.own:
            return _real_import(name, globals, locals, fromlist or (), level)
        try:
            module = _real_import(f"{self.prefix}.{name}", globals, locals, fromlist or (), 0)
        except ModuleNotFoundError as exc:
            if not (exc.name or "").startswith(f"{self.prefix}."):
                raise
            bare = (exc.name or "").removeprefix(f"{self.prefix}.")
            raise ModuleNotFoundError(f"No module named {bare!r}", name=bare) from None
        if self.loading:  # a pickle looks its classes' modules up by their bare names
            parts = name.split(".")
            for depth in range(1, len(parts) + 1):
                dotted = ".".join(parts[:depth])
                sys.modules[dotted] = sys.modules[f"{self.prefix}.{dotted}"]
        return module if fromlist else sys.modules[f"{self.prefix}.{first}"]

    def _unalias(self) -> None:
        """Forget the bare names that point at this namespace's modules."""
        for name, module in loaded_modules():
            bare = not name.startswith(self.prefix) and name.partition(".")[0] in self.own
            if bare and getattr(module, "__name__", "").startswith(f"{self.prefix}."):
                sys.modules.pop(name, None)

    def release(self) -> None:
        """The model is retired: drop its modules (what still uses them keeps them)."""
        _NAMESPACES.pop(self.prefix, None)
        for name in [n for n in sys.modules if n.partition(".")[0] == self.prefix]:
            del sys.modules[name]


@contextmanager
def own_namespace(project_dir: Path, src_dir: Path) -> Iterator[Namespace]:
    """Load the project in the block in a :class:`Namespace` of its own (one load at a
    time: the bare names alias this model's modules while it runs, for its pickles)."""
    key = project_dir.resolve()
    namespace = Namespace(key, src_dir.resolve())
    _evict_own_names(key, src_dir.resolve())  # a pickle must not find another model's
    _ACTIVE[key] = namespace
    namespace.loading = True
    try:
        yield namespace
    finally:
        namespace.loading = False
        namespace._unalias()
        del _ACTIVE[key]
