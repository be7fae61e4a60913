"""What a graph step does to one message, whatever carries the messages.

A class step imports ``class_module`` (after adding the command line's
``--module-path`` folders and the file's ``module_paths`` to ``sys.path``),
constructs ``class_name(**class_init)`` (with ``logger=`` when the constructor takes
one, as the seed always passed it), and calls ``methods`` in the listed order, each
output being the next input. A method takes ``(message)`` or the seed's
``(context, message)``; which one is read from its signature once, at load. A method
returning None ends the message's path (a filter).

A project step runs a nervosum project's model on the message: the fields of its
input schema are validated and predicted, and the outputs are added to the message. The
model runs in the prediction runtime every front end uses (``predict/``): its own
model thread, metered calls counted in the step's own metrics registry, the project's
prediction log; the step's processor predicts a batch of messages in one call.
"""

from __future__ import annotations

import importlib
import importlib.machinery
import inspect
import logging
import sys
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from nervosum.errors import ModelDefinitionError, NervosumError, RequestError, StepError
from nervosum.graph.load import Graph
from nervosum.graph.spec import Step
from nervosum.model.userclass import bound_method, construct, find_class

if TYPE_CHECKING:
    from prometheus_client import CollectorRegistry

    from nervosum.config.types import Record
    from nervosum.engine import Engine
    from nervosum.predict.runtime import ModelRuntime

Message = dict[str, Any]


@dataclass
class StepContext:
    """What the seed's methods received as ``context``: a logger, the step's name, and
    ``user_data`` for what a method keeps between messages."""

    logger: logging.Logger
    step: str
    user_data: dict[str, Any] = field(default_factory=dict)


def _takes_context(method: Callable[..., Any]) -> bool:
    """Whether ``method`` is called as ``(context, message)`` rather than ``(message)``."""
    try:
        parameters = list(inspect.signature(method).parameters.values())
    except (TypeError, ValueError):
        return False
    required = [
        p
        for p in parameters
        if p.kind in (p.POSITIONAL_ONLY, p.POSITIONAL_OR_KEYWORD) and p.default is p.empty
    ]
    return len(required) >= 2  # an optional second parameter is the user's, not a context


def _accepts(constructor: Callable[..., Any], name: str) -> bool:
    try:
        parameters = inspect.signature(constructor).parameters.values()
    except (TypeError, ValueError):
        return False
    return any(p.name == name or p.kind == p.VAR_KEYWORD for p in parameters)


def add_module_paths(paths: list[str], root: Path) -> list[str]:
    """Put ``paths`` (relative to the graph file's folder) first on ``sys.path``; the
    folders, resolved."""
    folders = [str((root / entry).resolve()) for entry in paths]
    for folder in reversed(folders):
        if folder not in sys.path:
            sys.path.insert(0, folder)
    return folders


def _import_hint(exc: Exception, module: str, entries: list[str], root: Path) -> str:
    """What to do about a step module that did not import: make its folder reachable
    (naming the module_paths that do not exist, which for iguazioig files are folders of
    the vendor's platform, like /User/modules), or install the package it lacks."""
    missing = [str(root / entry) for entry in entries if not (root / entry).is_dir()]
    absent = ", ".join(missing)
    name = getattr(exc, "name", None)
    if isinstance(exc, ModuleNotFoundError) and name:
        if module == name or module.startswith(name + "."):
            top = module.split(".", maxsplit=1)[0]
            where = f"module_paths that do not exist here: {absent}; " if missing else ""
            return (
                f"{where}give the folder holding {top} with --module-path DIR, or list it in"
                f" module_paths (relative entries are read from {root})"
            )
        also = (
            f"; or, if it is in one of the module_paths that do not exist here ({absent}),"
            " give that folder with --module-path DIR"
            if missing
            else ""
        )
        return f"install the missing package {name!r} into nervosum's environment{also}"
    return f"module_paths that do not exist here: {absent}" if missing else "fix the module"


def _check_not_shadowed(name: str, folders: list[str], where: str) -> None:
    """In one process a module name has one file. When the step's own folders hold
    ``name`` but a module of that name is already loaded from elsewhere (another step's
    folder, the standard library), the step would silently run that other code: refuse.
    """
    top = name.split(".", maxsplit=1)[0]
    loaded = sys.modules.get(top)
    if loaded is None or not folders:
        return
    spec = importlib.machinery.PathFinder.find_spec(top, folders)
    if spec is None or spec.origin is None:
        return
    elsewhere = getattr(loaded, "__file__", None)
    if elsewhere is None or Path(spec.origin).resolve() != Path(elsewhere).resolve():
        raise ModelDefinitionError(
            f"{where}: module {top!r} in {Path(spec.origin).parent} has the name of a module"
            f" already loaded from {elsewhere or 'the interpreter'}",
            hint="rename the step's module: steps running in one process share module names",
        )


class StepCode:
    """One step's loaded code; :meth:`run` is the step applied to one message."""

    def __init__(self, graph: Graph, step: Step) -> None:
        self.step = step
        self.logger = logging.getLogger(f"nervosum.graph.{step.name}")
        self.context = StepContext(self.logger, step.name)
        self.instance: Any = None
        self._calls: list[tuple[str, Callable[..., Any], bool]] = []
        self._merge: Callable[[list[Message]], Any] | None = None
        self.runtime: ModelRuntime | None = None
        self.registry: CollectorRegistry | None = None
        if step.project is not None:
            self._load_project(graph.root / step.project)
        elif step.class_module is not None:
            entries = [*graph.module_paths, *graph.spec.module_paths, *step.module_paths]
            self._load_class(add_module_paths(entries, graph.root), entries, graph.root)

    def _load_project(self, folder: Path) -> None:
        # Imported here: a graph of class steps never loads the model libraries.
        from prometheus_client import CollectorRegistry

        from nervosum.engine import Engine
        from nervosum.predict.runtime import ModelRuntime
        from nervosum.project import load_config

        project = load_config(folder)
        engine = Engine.load(project)
        self.registry = CollectorRegistry(auto_describe=True)
        self.runtime = ModelRuntime.on_registry(project, self.registry, runtime="graph")
        self.runtime.serve(engine)

    def _load_class(self, paths: list[str], entries: list[str], root: Path) -> None:
        step = self.step
        where = f"step {step.name!r}"
        module_name = str(step.class_module)
        _check_not_shadowed(module_name, paths, where)
        try:
            module = importlib.import_module(module_name)
        except Exception as exc:
            raise ModelDefinitionError(
                f"{where}: cannot import {module_name!r}: {type(exc).__name__}: {exc}",
                hint=_import_hint(exc, module_name, entries, root),
            ) from None
        label = f"{where}: {step.class_name}"
        cls = find_class(
            module,
            str(step.class_name),
            where=f"{where}: {module_name}",
            otherwise="check class_name in the graph file",
            factories=True,
        )
        arguments = dict(step.class_init)
        if _accepts(cls, "logger"):
            arguments.setdefault("logger", self.logger)
        self.instance = construct(cls, arguments, label=label, setting="class_init", root=root)
        for name in step.methods:
            method = bound_method(self.instance, name, label)
            self._calls.append((name, method, _takes_context(method)))
        if step.converge and step.converge.merge:
            self._merge = bound_method(self.instance, step.converge.merge, label)

    def run(self, message: Message) -> Message | None:
        """A class step's methods applied to ``message``; None when one filtered it out."""
        current: Any = message
        for name, method, with_context in self._calls:
            try:
                current = method(self.context, current) if with_context else method(current)
            except Exception as exc:
                raise StepError(
                    f"step {self.step.name!r}: {name}() raised {type(exc).__name__}: {exc}"
                ) from exc
            if current is None:
                self.logger.debug("%s() returned None: the message stops here", name)
                return None
            if not isinstance(current, dict):
                raise StepError(
                    f"step {self.step.name!r}: {name}() returned {type(current).__name__},"
                    " not a message (a dict) or None"
                )
        return dict(current)

    def merge(self, parts: list[Message]) -> Message:
        """A converge group's messages as one: the user's ``merge`` method, or key by key
        in order (later parts win on a shared key)."""
        if self._merge is None:
            merged: Message = {}
            for part in parts:
                merged.update(part)
            return merged
        try:
            result = self._merge(parts)
        except Exception as exc:
            name = getattr(self._merge, "__name__", "merge")
            raise StepError(
                f"step {self.step.name!r}: {name}() raised {type(exc).__name__}: {exc}"
            ) from exc
        if not isinstance(result, dict):
            raise StepError(
                f"step {self.step.name!r}: the merge method returned no message (a dict)"
            )
        return result

    @property
    def engine(self) -> Engine | None:
        """A project step's engine (None for a class step)."""
        return self.runtime.engine if self.runtime is not None else None

    def record_of(self, message: Message) -> Record:
        """A project step's input: the message's fields of the input schema (and its id),
        validated; a :class:`StepError` naming the field otherwise."""
        runtime = self.runtime
        assert runtime is not None, "not a project step"
        try:
            (validated,) = runtime.validate([runtime.serving.schema_fields(message)])
        except RequestError as exc:
            raise StepError(f"step {self.step.name!r}: {exc}") from exc
        return validated

    def model_failed(self, error: NervosumError) -> StepError:
        """A project step's error for a message its model did not answer."""
        return StepError(f"step {self.step.name!r}: the model failed: {error}")

    async def start(self) -> None:
        """Open a project step's prediction log."""
        if self.runtime is not None:
            self.runtime.start()

    async def close(self) -> None:
        """Release a project step's model thread and flush its prediction log."""
        if self.runtime is not None:
            await self.runtime.close()


def route(step: Step, message: Message) -> list[str]:
    """The declared streams ``message`` goes to: every output whose condition holds."""
    return [o.stream for o in step.outputs if o.when is None or o.when.holds(message)]
