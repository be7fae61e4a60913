"""The inputs a model file describes: names and types where it has them, ``f0..fN-1``
where it only knows how many there are."""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from nervosum.errors import ModelDefinitionError
from nervosum.model.files import Feature, ModelFile
from nervosum.model.runner import Runner

NUMERIC = ("float", "int", "bool")


@dataclass(frozen=True)
class Inputs:
    """What a file says about its inputs, as :class:`ModelFile` carries it."""

    features: tuple[Feature, ...] | None
    named: bool
    notes: tuple[str, ...] = ()

    @property
    def numeric(self) -> bool:
        """Whether every input is a number (or unknown): then one float array carries them."""
        return all(f.type in NUMERIC for f in self.features or ())


UNKNOWN = Inputs(None, named=False)


def described(
    path: Path,
    form: str,
    model: Any,
    *,
    runner: Runner,
    classes: tuple[str, ...] | None,
    inputs: Inputs,
) -> ModelFile:
    """The :class:`ModelFile` of a loaded native model (its own format and flavor)."""
    return ModelFile(
        path=path,
        format=form,
        flavor=form,
        model=model,
        runner=runner,
        features=inputs.features,
        named=inputs.named,
        classes=classes,
        notes=inputs.notes,
    )


def signed(own: Inputs, signature: Inputs | None, label: str) -> Inputs:
    """The model's own inputs with an MLflow signature's names and types over them.

    A model that knows its feature names reads its array in that order, whatever order
    the signature lists them in: the order stays the model's, the types come from the
    signature, and names that differ are refused (a silently swapped column is a wrong
    answer). A model trained on an array takes the signature's names in its order."""
    if signature is None or signature.features is None:
        return own
    if not own.named or own.features is None:
        if own.features is not None and len(own.features) != len(signature.features):
            raise ModelDefinitionError(
                f"{label}: the signature has {len(signature.features)} inputs, the model"
                f" takes {len(own.features)}",
                hint="save the model again with a signature of its own inputs",
            )
        return signature
    # LightGBM writes "petal length" as "petal_length": names match as it spells them,
    # and the schema keeps the signature's (what clients send).
    by_name = {_spelled(feature.name): feature for feature in signature.features}
    if set(by_name) != {_spelled(feature.name) for feature in own.features}:
        given = ", ".join(f.name for f in signature.features)
        trained = ", ".join(f.name for f in own.features)
        raise ModelDefinitionError(
            f"{label}: the signature's inputs ({given}) are not the ones the model was"
            f" trained on ({trained})",
            hint="save the model again with a signature inferred from its training data",
        )
    return Inputs(tuple(by_name[_spelled(f.name)] for f in own.features), named=True)


def _spelled(name: str) -> str:
    """A feature name as LightGBM stores it (whitespace as ``_``), to match names."""
    return re.sub(r"\s", "_", name)


def numbered(count: int, label: str) -> Inputs:
    """``f0..f{count-1}``, all floats, with the note the startup log shows."""
    features = tuple(Feature(f"f{i}", "float") for i in range(count))
    note = f"{label} has no feature names: the inputs are f0..f{count - 1}"
    return Inputs(features, named=False, notes=(note,))


def named(names: Sequence[str], types: Sequence[str] | None = None) -> Inputs:
    """Features of the given names (floats unless ``types`` says otherwise)."""
    kinds = list(types) if types is not None else ["float"] * len(names)
    return Inputs(tuple(Feature(str(n), t) for n, t in zip(names, kinds, strict=True)), True)


def of(names: Sequence[str] | None, count: int | None, label: str) -> Inputs:
    """Named features when ``names`` holds any, else ``count`` numbered ones, else unknown."""
    if names:
        return named(names)
    if count:
        return numbered(count, label)
    return UNKNOWN


def _category_type(categories: Any) -> str:
    """``str`` for text categories, ``int`` / ``float`` for numeric ones, of one encoded input."""
    kind = np.asarray(categories).dtype.kind
    return {"i": "int", "u": "int", "b": "bool", "f": "float"}.get(kind, "str")


def _encoded_types(step: Any, count: int) -> list[str] | None:
    """The types an encoder (an object with ``categories_``) implies for its inputs."""
    categories = getattr(step, "categories_", None)
    if categories is None or len(categories) != count:
        return None
    return [_category_type(c) for c in categories]


def _first_step_types(transformer: Any, count: int) -> list[str]:
    """The input types of one ColumnTransformer part: an encoder's categories, looked for
    in the part itself or the first step of its Pipeline; numbers otherwise."""
    steps = getattr(transformer, "steps", None)
    first = steps[0][1] if steps else transformer
    for step in (first, transformer):
        types = _encoded_types(step, count)
        if types is not None:
            return types
    return ["float"] * count


def estimator_types(model: Any, count: int) -> list[str]:
    """Input types of a scikit-learn estimator: what a ColumnTransformer's encoders (or a
    leading encoder) saw at fit, ``float`` for the rest (numeric estimators take numbers)."""
    types = ["float"] * count
    steps = getattr(model, "steps", None)
    head = steps[0][1] if steps else model
    encoded = _encoded_types(head, count)
    if encoded is not None:
        return encoded
    # sklearn's ColumnTransformer records which inputs each part took.
    by_part = getattr(head, "_transformer_to_input_indices", None)
    if isinstance(by_part, dict):
        parts = {name: trans for name, trans, _ in getattr(head, "transformers_", ())}
        for name, indices in by_part.items():
            part = parts.get(name)
            if part is None or isinstance(part, str) or not len(indices):
                continue
            for index, kind in zip(indices, _first_step_types(part, len(indices)), strict=True):
                types[int(index)] = kind
    return types


def estimator_inputs(model: Any, label: str) -> Inputs:
    """A scikit-learn-API estimator's inputs from ``feature_names_in_`` / ``n_features_in_``."""
    names = getattr(model, "feature_names_in_", None)
    if names is not None:
        listed = [str(n) for n in names]
        return named(listed, estimator_types(model, len(listed)))
    count = getattr(model, "n_features_in_", None)
    if isinstance(count, int | np.integer) and count > 0:
        inputs = numbered(int(count), label)
        types = estimator_types(model, int(count))
        features = tuple(
            Feature(f.name, t) for f, t in zip(inputs.features or (), types, strict=True)
        )
        return Inputs(features, named=False, notes=inputs.notes)
    return UNKNOWN
