"""MLflow model folders, as MLflow writes them: an ``MLmodel`` file naming the flavors,
the model's files, the signature, the input example and the requirements.

A native flavor (``sklearn``, ``xgboost``, ``lightgbm``, ``onnx``) is preferred over
``python_function``: the model is then the library's own object, which nervosum can run
on arrays and compile. A folder with only ``python_function`` (a custom pyfunc) is served
through ``mlflow.pyfunc`` on DataFrames. The signature gives the schema, the saved input
example the example rows, ``requirements.txt`` what a bundle installs.
"""

from __future__ import annotations

import json
import os
import warnings
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import replace
from pathlib import Path
from typing import Any

import numpy as np
import yaml

from nervosum.errors import ModelDefinitionError
from nervosum.model.files import Feature, ModelFile
from nervosum.model.files.calls import FileRunner
from nervosum.model.files.failure import require
from nervosum.model.files.features import UNKNOWN, Inputs, named, numbered
from nervosum.model.files.formats import MLMODEL
from nervosum.model.files.last import last_read

NATIVE = ("sklearn", "xgboost", "lightgbm", "onnx")
PYFUNC = "python_function"
REQUIREMENTS = "requirements.txt"
# The keys under which a flavor names its model file or folder.
_FILE_KEYS = ("pickled_model", "data", "model_path", "python_model")
_TYPES = {
    "double": "float",
    "float": "float",
    "long": "int",
    "integer": "int",
    "string": "str",
    "boolean": "bool",
    "datetime": "datetime",
}
_HINT = "save the folder again with mlflow.<flavor>.save_model, or serve the model file itself"


def folder_of(path: Path) -> Path:
    """The model folder of ``path`` (the folder itself, or the one its MLmodel is in)."""
    return path if path.is_dir() else path.parent


def read_mlmodel(folder: Path) -> dict[str, Any]:
    """The MLmodel file's mapping; a one-line error when it is not one."""
    path = folder / MLMODEL
    try:
        data = yaml.safe_load(path.read_text(encoding="utf-8"))
    except (OSError, yaml.YAMLError, UnicodeDecodeError) as exc:
        raise ModelDefinitionError(
            f"{path}: not a readable MLmodel file ({' '.join(str(exc).split())})", hint=_HINT
        ) from exc
    if not isinstance(data, dict) or not isinstance(data.get("flavors"), dict):
        raise ModelDefinitionError(f"{path}: the MLmodel file has no flavors", hint=_HINT)
    return data


def flavor_of(mlmodel: dict[str, Any], folder: Path) -> tuple[str, dict[str, Any]]:
    """The flavor nervosum serves (the first native one, else ``python_function``) and
    its settings, after checking the files it names are in the folder."""
    flavors: dict[str, Any] = mlmodel["flavors"]
    served = [name for name in (*NATIVE, PYFUNC) if name in flavors]
    if not served:
        raise ModelDefinitionError(
            f"{folder / MLMODEL}: no flavor nervosum serves (it has {', '.join(flavors)};"
            f" nervosum serves {', '.join((*NATIVE, PYFUNC))})",
            hint="log the model with one of those flavors, or wrap it in a model class",
        )
    name = served[0]
    settings = flavors[name] if isinstance(flavors[name], dict) else {}
    for key in _FILE_KEYS:
        named_file = settings.get(key)
        if isinstance(named_file, str) and not (folder / named_file).exists():
            raise ModelDefinitionError(
                f"{folder / MLMODEL}: the {name} flavor's {key} {named_file!r} is not in {folder}",
                hint="copy the whole folder MLflow saved, not only its MLmodel file",
            )
    return name, settings


def _columns(spec: str | None, where: str, label: str) -> Inputs:
    """A signature part (MLflow's JSON string) as features: named columns, or ``f0..``
    for a 2-D tensor."""
    if not spec:
        return UNKNOWN
    parts = json.loads(spec)
    if len(parts) == 1 and parts[0].get("type") == "tensor":
        shape = parts[0].get("tensor-spec", {}).get("shape", [])
        width = shape[1] if len(shape) == 2 else None
        return numbered(width, label) if isinstance(width, int) and width > 0 else UNKNOWN
    if not all("name" in part for part in parts):
        return UNKNOWN
    types: list[str] = []
    for part in parts:
        kind = _TYPES.get(str(part.get("type")))
        if kind is None:
            raise ModelDefinitionError(
                f"{label}: signature {where} {part['name']!r} has the MLflow type"
                f" {part.get('type')!r}, which nervosum does not serve",
                hint=f"write nervosum.yaml with the schema ({', '.join(sorted(_TYPES))})",
            )
        types.append(kind)
    return named([str(part["name"]) for part in parts], types)


def signature(mlmodel: dict[str, Any], label: str) -> tuple[Inputs, tuple[Feature, ...] | None]:
    """The signature's inputs, and its named outputs (None when it names none)."""
    spec = mlmodel.get("signature") or {}
    outputs = _columns(spec.get("outputs"), "output", label)
    return _columns(spec.get("inputs"), "input", label), outputs.features if outputs.named else None


def example_rows(mlmodel: dict[str, Any], folder: Path) -> list[dict[str, Any]] | None:
    """The saved input example as rows: MLflow writes a DataFrame ``split`` (columns +
    data) or ``records`` form, possibly wrapped in ``dataframe_split``."""
    info = mlmodel.get("saved_input_example_info") or {}
    name = info.get("artifact_path")
    if not isinstance(name, str) or not (folder / name).is_file():
        return None
    saved = json.loads((folder / name).read_text(encoding="utf-8"))
    if isinstance(saved, dict):
        saved = saved.get("dataframe_split") or saved.get("dataframe_records") or saved
    if isinstance(saved, dict) and "columns" in saved and "data" in saved:
        return [dict(zip(saved["columns"], row, strict=True)) for row in saved["data"]]
    if isinstance(saved, list) and all(isinstance(row, dict) for row in saved):
        return saved
    return None


@contextmanager
def _trusted() -> Iterator[None]:
    """MLflow refuses to unpickle a model unless told to. Serving a folder the user names
    is trusting it, as serving a pickle is (nothing from a request is unpickled), so the
    load is allowed for this call only."""
    name = "MLFLOW_ALLOW_MODEL_CODE_EXECUTION"
    before = os.environ.get(name)
    os.environ[name] = "true"
    try:
        yield
    finally:
        if before is None:
            os.environ.pop(name, None)
        else:
            os.environ[name] = before


class PyfuncRunner(FileRunner):
    """``mlflow.pyfunc``'s ``predict`` on one DataFrame."""

    def __init__(self, model: Any, runtime: str) -> None:
        super().__init__(takes="frame", classes=None, runtime=runtime)
        self._model = model

    def run(self, inputs: Any, proba: bool) -> tuple[Any, np.ndarray | None]:
        return self._model.predict(inputs), None


def _loader(flavor: str) -> Callable[[Path], Any]:
    """MLflow's loader of ``flavor``. Importing MLflow and loading warn about type hints
    and pickles the user cannot act on at serving time: those warnings are silenced."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        module = require(f"mlflow.{'pyfunc' if flavor == PYFUNC else flavor}", "mlflow")

    def load(mlmodel: Path) -> Any:
        with _trusted(), warnings.catch_warnings():
            warnings.simplefilter("ignore")
            return module.load_model(str(mlmodel.parent))

    return load


def _native(
    folder: Path, flavor: str, settings: dict[str, Any], probabilities: bool, inputs: Inputs
) -> ModelFile:
    """The native flavor's model, loaded by MLflow's loader for it (ONNX: the file)."""
    from nervosum.model.files import lightgbm_file, sklearn_runner, xgboost_file

    if flavor == "onnx":
        from nervosum.model.compile.onnx_file import read_onnx_file

        onnx = read_onnx_file(folder / settings["data"])
        if inputs.features is None:
            return onnx
        return replace(onnx, features=inputs.features, named=inputs.named, notes=inputs.notes)
    model = last_read(folder / MLMODEL, _loader(flavor), f"mlflow.{flavor}")
    if type(model).__name__ == "Booster" and flavor == "xgboost":
        return xgboost_file.booster_file(folder, model, probabilities, inputs)
    if type(model).__name__ == "Booster":
        return lightgbm_file.booster_file(folder, model, probabilities, inputs)
    return sklearn_runner.estimator_file(folder, model, probabilities, inputs)


def read_mlflow(path: Path, probabilities: bool) -> ModelFile:
    """An MLflow model folder (or its MLmodel file), served by its best flavor."""
    folder = folder_of(path)
    mlmodel = read_mlmodel(folder)
    flavor, settings = flavor_of(mlmodel, folder)
    inputs, outputs = signature(mlmodel, f"{folder.name}/{MLMODEL}")
    if flavor in NATIVE:
        loaded = _native(folder, flavor, settings, probabilities, inputs)
    else:
        model = last_read(folder / MLMODEL, _loader(flavor), "mlflow.pyfunc")
        runtime = f"mlflow {mlmodel.get('mlflow_version', '')}".strip()
        loaded = ModelFile(
            path=folder,
            format="mlflow",
            flavor=flavor,
            model=model,
            runner=PyfuncRunner(model, runtime),
            features=inputs.features,
            named=inputs.named,
            notes=inputs.notes,
        )
    requirements = folder / REQUIREMENTS
    return replace(
        loaded,
        path=folder,
        format="mlflow",
        flavor=flavor,
        outputs=outputs,
        example=example_rows(mlmodel, folder),
        requirements=requirements if requirements.is_file() else None,
    )
