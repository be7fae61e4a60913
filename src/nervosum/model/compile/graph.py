"""What an ONNX graph says about itself: its inputs as nervosum features, its classes.

Read with the ``onnx`` package (which skl2onnx and onnxmltools bring), so an ONNX file
gets a schema without a nervosum.yaml.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

from nervosum.model.files import Feature

# ONNX element types (TensorProto.DataType values) -> (numpy type, nervosum type)
_ELEMENTS: dict[int, tuple[type[Any], str]] = {
    1: (np.float32, "float"),
    2: (np.uint8, "int"),
    3: (np.int8, "int"),
    4: (np.uint16, "int"),
    5: (np.int16, "int"),
    6: (np.int32, "int"),
    7: (np.int64, "int"),
    8: (np.object_, "str"),
    9: (np.bool_, "bool"),
    10: (np.float16, "float"),
    11: (np.float64, "float"),
    12: (np.uint32, "int"),
    13: (np.uint64, "int"),
}
# TreeEnsembleClassifier and ZipMap say classlabels_int64s, LinearClassifier and
# SVMClassifier classlabels_ints; every one says classlabels_strings for text labels.
_LABEL_ATTRIBUTES = ("classlabels_int64s", "classlabels_ints", "classlabels_strings")


@dataclass(frozen=True)
class GraphInput:
    """One input of the graph: its name, element type and shape (None: any size)."""

    name: str
    dtype: np.dtype[Any]
    type: str  # nervosum's type name
    shape: tuple[int | None, ...]

    @property
    def width(self) -> int | None:
        """Columns of a 2-D input; None when the graph leaves it open."""
        return self.shape[1] if len(self.shape) == 2 else None


def graph_inputs(model: Any) -> tuple[GraphInput, ...]:
    """The inputs a caller feeds (initializers listed as inputs by old exporters excluded)."""
    constants = {init.name for init in model.graph.initializer}
    inputs = []
    for value in model.graph.input:
        if value.name in constants:
            continue
        tensor = value.type.tensor_type
        numpy_type, type_name = _ELEMENTS.get(tensor.elem_type, (np.object_, "str"))
        shape = tuple(d.dim_value if d.HasField("dim_value") else None for d in tensor.shape.dim)
        inputs.append(GraphInput(value.name, np.dtype(numpy_type), type_name, shape))
    return tuple(inputs)


def is_array_input(inputs: tuple[GraphInput, ...]) -> bool:
    """One 2-D numeric input: the model takes the whole row block as one array."""
    return len(inputs) == 1 and len(inputs[0].shape) == 2 and inputs[0].type != "str"


def graph_features(inputs: tuple[GraphInput, ...]) -> tuple[tuple[Feature, ...] | None, bool]:
    """(features, named): one array input of width N has no column names, so its columns
    are ``f0..fN-1``; one input per column names each column."""
    if is_array_input(inputs):
        width = inputs[0].width
        if width is None:
            return None, False
        return tuple(Feature(f"f{i}", inputs[0].type) for i in range(width)), False
    return tuple(Feature(i.name, i.type) for i in inputs), True


def graph_labels(model: Any) -> list[Any] | None:
    """The class labels of the last classifier (or ZipMap) node, in probability order."""
    from onnx import helper

    for node in reversed(model.graph.node):
        for attribute in node.attribute:
            labels = helper.get_attribute_value(attribute)
            if attribute.name in _LABEL_ATTRIBUTES and len(labels):
                return [v.decode() if isinstance(v, bytes) else int(v) for v in labels]
    return None


def _listed(attribute: Any) -> list[Any]:
    """An attribute's values as a list, whether stored as a list or as a tensor (the
    ai.onnx.ml 5 ``TreeEnsemble`` op stores its splits and modes as tensors)."""
    from onnx import TensorProto, helper, numpy_helper

    value = helper.get_attribute_value(attribute)
    if isinstance(value, TensorProto):
        return list(numpy_helper.to_array(value).tolist())
    return list(value)


def tree_splits(model: Any) -> dict[int, list[float]]:
    """Each input column's split thresholds in the graph's tree ensembles (float32
    values, as the graph compares), by column index; empty for a graph without trees."""
    splits: dict[int, set[float]] = {}
    for node in model.graph.node:
        if not node.op_type.startswith("TreeEnsemble"):
            continue
        values = {a.name: a for a in node.attribute}
        thresholds_key = next((k for k in ("nodes_values", "nodes_splits") if k in values), None)
        if "nodes_featureids" not in values or thresholds_key is None:
            continue
        columns = _listed(values["nodes_featureids"])
        thresholds = _listed(values[thresholds_key])
        modes = _listed(values["nodes_modes"]) if "nodes_modes" in values else []
        for index, (column, threshold) in enumerate(zip(columns, thresholds, strict=False)):
            if index < len(modes) and modes[index] in (b"LEAF", "LEAF"):
                continue
            splits.setdefault(int(column), set()).add(float(threshold))
    return {column: sorted(found) for column, found in splits.items()}
