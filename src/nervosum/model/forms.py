"""Recognise which of the accepted model forms a project uses, and load it.

| form                                  | recognised by                     | called as            |
|---------------------------------------|-----------------------------------|----------------------|
| class with ``predict(df)`` (seed)     | module + class                    | one frame per batch  |
| class + ``methods: [a, b, c]``        | ``model.methods``                 | each feeds the next  |
| class with ``transform_predict(df)``  | method present, no ``predict``    | one dict per record  |
| module-level ``predict(df)`` function | module + function                 | one frame per batch  |
| a model file (pickle, XGBoost,        | ``model.artifact``                | one run per batch    |
| LightGBM, ONNX, MLflow folder)        | (``artifact.py``)                 | (compiled if it can) |
| notebook stages (nachlass)            | ``model.artifact: stages.json``   | a Pipeline of stages |

Every problem is raised as one :class:`ModelDefinitionError` that names the file, the
method and the fix, when the model loads, not at the first request.
"""

from __future__ import annotations

import inspect
from collections.abc import Callable
from pathlib import Path
from types import ModuleType
from typing import Any

from nervosum.config import ModelSpec, Project
from nervosum.errors import ModelDefinitionError
from nervosum.model.artifact import load_artifact
from nervosum.model.classes import class_names
from nervosum.model.imports import import_user_module
from nervosum.model.loaded import Call, LoadedModel
from nervosum.model.userclass import bound_method, construct, did_you_mean, find_class
from nervosum.model.userframes import describe_user_error


def _construct(cls: Callable[..., Any], spec: ModelSpec, label: str, project: Project) -> Any:
    root = project.project_dir
    instance = construct(cls, spec.init, label=label, setting="model.init", root=root)
    load = getattr(instance, "load", None)
    if callable(load):
        try:
            load()
        except Exception as exc:
            raise ModelDefinitionError(
                f"{label}.load() raised {describe_user_error(exc, project.project_dir)}"
            ) from exc
    return instance


def _chain(methods: list[Call]) -> Call:
    def call(data: Any) -> Any:
        for method in methods:
            data = method(data)
        return data

    return call


def _user_module(project: Project, spec: ModelSpec) -> tuple[ModuleType, str]:
    """The imported model module and its dotted name (``src`` is its package, as in the seed)."""
    assert spec.module is not None
    prefix = project.src_package
    dotted = f"{prefix}.{spec.module}" if prefix else spec.module
    return import_user_module(dotted, project.project_dir, project.src_dir), dotted


def _load_class(project: Project, spec: ModelSpec) -> LoadedModel:
    assert spec.class_ is not None
    module, dotted = _user_module(project, spec)
    label = f"{dotted}.{spec.class_}"
    where = str(module.__file__)
    hint = "check model.class in nervosum.yaml"
    cls = find_class(module, spec.class_, where=where, otherwise=hint)
    instance = _construct(cls, spec, label, project)
    per_record = False
    if spec.methods:
        predict = _chain([bound_method(instance, m, label) for m in spec.methods])
    elif callable(getattr(instance, "predict", None)):
        predict = instance.predict
    elif callable(getattr(instance, "transform_predict", None)):
        # [compat] model-serving-framework: transform_predict(df) -> dict, once per record.
        predict = instance.transform_predict
        per_record = True
    else:
        raise ModelDefinitionError(
            f"{label} ({module.__file__}) has no predict method",
            hint="add `def predict(self, df): return ...` or list `model.methods`",
        )
    proba_method = getattr(instance, "predict_proba", None)
    proba = (
        proba_method if spec.probabilities and callable(proba_method) and not per_record else None
    )
    return LoadedModel(
        instance=instance,
        label=label,
        predict=predict,
        predict_proba=proba,
        classes=class_names(instance) if proba else None,
        per_record=per_record,
        source=Path(module.__file__) if module.__file__ else None,
    )


def _takes_one_argument(function: Call) -> bool:
    try:
        inspect.signature(function).bind(None)
    except TypeError:
        return False
    except ValueError:
        return True  # no introspectable signature (a builtin): let the call decide
    return True


def _load_function(project: Project, spec: ModelSpec) -> LoadedModel:
    """[compat] nervosum/proof-of-concepts: a module-level ``predict(data) -> DataFrame``
    whose module loads the model when imported."""
    assert spec.function is not None
    module, dotted = _user_module(project, spec)
    label = f"{dotted}.{spec.function}"
    where = module.__file__
    function = getattr(module, spec.function, None)
    if function is None:
        functions = [n for n, v in vars(module).items() if inspect.isfunction(v)]
        hint = did_you_mean(spec.function, functions, f"define `def {spec.function}(data)` in it")
        raise ModelDefinitionError(f"{where} has no function {spec.function!r}", hint=hint)
    if isinstance(function, type):
        raise ModelDefinitionError(
            f"{label} ({where}) is a class, not a function",
            hint="name it as model.class (interface.model_class) instead of model.function",
        )
    if not callable(function):
        raise ModelDefinitionError(
            f"{label} ({where}) is a {type(function).__name__}, which is not callable",
            hint=f"model.function names a module-level `def {spec.function}(data)`",
        )
    if not _takes_one_argument(function):
        raise ModelDefinitionError(
            f"{label}{inspect.signature(function)} ({where}) cannot be called with one "
            "argument; nervosum passes it one DataFrame",
            hint="give its other parameters defaults, or name a one-argument function that "
            "calls it in model.function",
        )
    return LoadedModel(
        instance=function,
        label=label,
        predict=function,
        predict_proba=None,
        classes=None,
        per_record=False,
        source=Path(where) if where else None,
    )


def load_model(project: Project, *, threads: int | None = None) -> LoadedModel:
    """Load the project's model in whichever form its config describes; ``threads``: a
    compiled model's intra-op threads (default: every core)."""
    spec = project.config.model_spec
    if spec.artifact:
        return load_artifact(project, spec, threads=threads)
    if spec.function:
        return _load_function(project, spec)
    return _load_class(project, spec)
