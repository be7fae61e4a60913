"""The columns a model file takes, in the order it was trained on.

A model reads its inputs by position once it takes an array: a schema written in
another order than the training data's would feed it the wrong columns without an
error. So a file that names its features sets the order, and the declared schema gives
the types and checks; a schema that lacks one of the model's features is refused at
load, not answered with a 500 per request.
"""

from __future__ import annotations

from collections.abc import Sequence

from nervosum.config.spec import SchemaField
from nervosum.errors import ModelDefinitionError
from nervosum.model.files import ModelFile


def _as_fields(model_file: ModelFile) -> tuple[SchemaField, ...]:
    return tuple(SchemaField(name=f.name, type=f.type) for f in model_file.features or ())


def served_fields(
    declared: Sequence[SchemaField], model_file: ModelFile
) -> tuple[SchemaField, ...]:
    """What the engine hands the model, in the model's order: the declared fields in the
    order the file names them; the file's named features without a schema; nothing
    (the client's keys, as a DataFrame) when neither names them."""
    if not model_file.named or not model_file.features:
        return tuple(declared)
    if not declared:
        return _as_fields(model_file)
    by_name = {field.name: field for field in declared}
    missing = [f.name for f in model_file.features if f.name not in by_name]
    if missing:
        raise ModelDefinitionError(
            f"{model_file.path.name} takes {', '.join(missing)}, which input_schema does not"
            " declare",
            hint="add them to input_schema (or remove input_schema: the file's features are used)",
        )
    return tuple(by_name[f.name] for f in model_file.features)


def compile_fields(
    declared: Sequence[SchemaField], model_file: ModelFile
) -> tuple[SchemaField, ...]:
    """What a conversion types its inputs from: :func:`served_fields`, else the file's
    made-up ``f0..fN`` (a converted model needs the width, not the names)."""
    return served_fields(declared, model_file) or _as_fields(model_file)
