"""Convert a model file's model to ONNX: scikit-learn with skl2onnx, XGBoost and LightGBM
with onnxmltools.

The inputs are typed from the schema in schema order. When every field is a number and
the model takes an array, the graph gets one tensor of width N (the engine then hands
over one array per batch): float32 for tree ensembles, which is what makes them fast
and what scikit-learn and XGBoost trees compare themselves (LightGBM compares float64,
which the check's probes at the splits find), float64 for linear models, which lose the
original's precision in float32 and gain nothing from it. A
Pipeline that picks columns by name (a ColumnTransformer) gets one ``(rows, 1)`` input per
column, typed from its field. Classifiers are converted with ``zipmap=False`` so
probabilities come back as one tensor, not a list of dicts.
"""

from __future__ import annotations

import copy
import importlib.util
import logging
import warnings
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from importlib.metadata import PackageNotFoundError, version
from typing import Any

from nervosum.config.spec import SchemaField

_NUMERIC = ("float", "int", "bool")
_CONVERTER_LOGGERS = ("skl2onnx", "onnxmltools")
# float32 is what makes trees fast (scikit-learn's and XGBoost's compare float32 inputs
# themselves); a linear model is as fast in float64 and keeps the original's precision.
_TREE_MODULES = ("sklearn.ensemble", "sklearn.tree", "xgboost", "lightgbm")
_LONGEST = 160  # a converter's message can dump whole attribute arrays


class UnsupportedModelError(Exception):
    """The model cannot be converted; the message says which estimator and why."""


@dataclass(frozen=True)
class InputType:
    """One graph input as the converters want it: a name, a nervosum type, a width."""

    name: str
    type: str
    width: int

    def converter_type(self, data_types: Any) -> Any:
        """The tensor type from the converter's own ``data_types`` module (skl2onnx and
        onnxmltools each check for their own classes)."""
        tensor = {
            "float": data_types.FloatTensorType,
            "double": data_types.DoubleTensorType,
            "int": data_types.Int64TensorType,
            "bool": data_types.BooleanTensorType,
            "str": data_types.StringTensorType,
        }[self.type]
        return tensor([None, self.width])


def library_version(name: str) -> str:
    """A distribution's version, ``-`` when it is not installed."""
    try:
        return version(name)
    except PackageNotFoundError:
        return "-"


def _family(model: Any) -> str:
    return type(model).__module__.split(".", 1)[0]


def _parts(model: Any) -> list[Any]:
    """The model and every estimator nested in it (Pipeline steps, transformers, ...)."""
    get_params = getattr(model, "get_params", None)
    nested = list(get_params(deep=True).values()) if callable(get_params) else []
    return [model, *nested]


def _picks_columns(model: Any) -> bool:
    from sklearn.compose import ColumnTransformer

    return any(isinstance(part, ColumnTransformer) for part in _parts(model))


def _has_trees(model: Any) -> bool:
    return any(type(part).__module__.startswith(_TREE_MODULES) for part in _parts(model))


def input_types(model: Any, fields: Sequence[SchemaField]) -> list[InputType]:
    """The graph's inputs for this model and schema (see the module docstring)."""
    unusable = [f for f in fields if f.type not in (*_NUMERIC, "str")]
    if unusable:
        raise UnsupportedModelError(
            f"{type(model).__name__} (field {unusable[0].name!r} is {unusable[0].type}: "
            "ONNX inputs are numbers and text)"
        )
    numeric = all(f.type in _NUMERIC for f in fields)
    if _family(model) in ("xgboost", "lightgbm"):
        if not numeric:
            text = next(f.name for f in fields if f.type not in _NUMERIC)
            raise UnsupportedModelError(
                f"{type(model).__name__} (field {text!r} is text: the converter takes numbers)"
            )
        return [InputType("input", "float", len(fields))]
    real = "float" if _has_trees(model) else "double"
    if numeric and not _picks_columns(model):
        return [InputType("input", real, len(fields))]
    return [InputType(f.name, real if f.type == "float" else f.type, 1) for f in fields]


@contextmanager
def _quiet() -> Iterator[None]:
    """Converters warn about opsets and dtypes on every call: keep that out of the log."""
    loggers = [logging.getLogger(name) for name in _CONVERTER_LOGGERS]
    levels = [logger.level for logger in loggers]
    for logger in loggers:
        logger.setLevel(logging.ERROR)
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            yield
    finally:
        for logger, level in zip(loggers, levels, strict=True):
            logger.setLevel(level)


def _sklearn(model: Any, inputs: Sequence[InputType]) -> Any:
    from skl2onnx import convert_sklearn
    from skl2onnx.common import data_types
    from sklearn.base import BaseEstimator, is_classifier

    types = [(i.name, i.converter_type(data_types)) for i in inputs]
    options = {
        id(part): {"zipmap": False}
        for part in _parts(model)
        if isinstance(part, BaseEstimator) and is_classifier(part)
    }
    return convert_sklearn(model, initial_types=types, options=options)


def _unnamed(model: Any) -> Any:
    """XGBoost with feature names: onnxmltools reads only ``f0..fN`` from the tree dump, so
    convert a copy without names (the columns are in schema order either way)."""
    import xgboost

    if isinstance(model, xgboost.Booster):
        booster = model.copy()
        booster.feature_names = None
        return booster
    clone = copy.deepcopy(model)
    clone.get_booster().feature_names = None
    return clone


def _boosters(inputs: Sequence[InputType]) -> list[tuple[str, Any]]:
    from onnxmltools.convert.common import data_types

    return [(i.name, i.converter_type(data_types)) for i in inputs]


def _xgboost(model: Any, inputs: Sequence[InputType]) -> Any:
    from onnxmltools import convert_xgboost

    return convert_xgboost(_unnamed(model), initial_types=_boosters(inputs))


def _lightgbm(model: Any, inputs: Sequence[InputType]) -> Any:
    from onnxmltools import convert_lightgbm

    return convert_lightgbm(model, initial_types=_boosters(inputs), zipmap=False)


_CONVERTERS: dict[str, tuple[str, Callable[[Any, Sequence[InputType]], Any]]] = {
    "sklearn": ("skl2onnx", _sklearn),
    "xgboost": ("onnxmltools", _xgboost),
    "lightgbm": ("onnxmltools", _lightgbm),
}


def converter_for(model: Any) -> str:
    """``skl2onnx 1.20.0`` / ``onnxmltools 1.16.0``; unsupported models raise."""
    family = _family(model)
    if family not in _CONVERTERS:
        raise UnsupportedModelError(
            f"{type(model).__name__} (no ONNX converter for {type(model).__module__} models)"
        )
    name = _CONVERTERS[family][0]
    missing = [lib for lib in (name, "onnxruntime") if importlib.util.find_spec(lib) is None]
    if missing:
        extra = "sklearn" if family == "sklearn" else family
        raise UnsupportedModelError(
            f"{type(model).__name__} ({' and '.join(missing)} not installed: "
            f"pip install 'nervosum[{extra}]')"
        )
    return f"{name} {library_version(name)}"


def to_onnx(model: Any, inputs: Sequence[InputType]) -> bytes:
    """The serialized ONNX model; a converter's refusal becomes an UnsupportedModelError."""
    _, convert = _CONVERTERS[_family(model)]
    try:
        with _quiet():
            return bytes(convert(model, inputs).SerializeToString())
    except Exception as exc:  # each converter raises its own types
        raise UnsupportedModelError(f"{type(model).__name__} ({first_line(exc)})") from exc


def first_line(exc: BaseException) -> str:
    """A library's error on one short line (converters dump whole attribute arrays)."""
    line = next(iter(str(exc).strip().splitlines()), type(exc).__name__)
    return line if len(line) <= _LONGEST else line[: _LONGEST - 3] + "..."
