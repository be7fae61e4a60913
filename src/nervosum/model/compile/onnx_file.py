"""ONNX files (``.onnx``) served as they are: the schema from the graph's inputs, the
classes from its classifier node, ONNX Runtime as the runner."""

from __future__ import annotations

from pathlib import Path

from nervosum.errors import ModelDefinitionError
from nervosum.model.compile.graph import graph_features, graph_inputs
from nervosum.model.compile.session import OnnxRunner
from nervosum.model.files import ModelFile


def read_onnx_file(path: Path, *, threads: int | None = None) -> ModelFile:
    """Load an ONNX file; a file ONNX cannot read is one error naming the file."""
    try:
        import onnx
    except ImportError:
        raise ModelDefinitionError(
            f"{path}: reading ONNX files needs onnxruntime",
            hint="pip install 'nervosum[sklearn]'",
        ) from None
    try:
        model = path.read_bytes()
        features, named = graph_features(graph_inputs(onnx.load_model_from_string(model)))
        runner = OnnxRunner(model, features=features, threads=threads)
    except Exception as exc:  # onnx and onnxruntime raise their own, unrelated types
        first_line = next(iter(str(exc).strip().splitlines()), type(exc).__name__)
        raise ModelDefinitionError(
            f"{path}: not readable as an ONNX model: {first_line}",
            hint="give an .onnx file written by onnx.save (skl2onnx, torch.onnx, ...), "
            "or set model.format to the file's real format",
        ) from None
    notes: tuple[str, ...] = ()
    if features and not named:
        notes = (f"{path.name} names no input columns: they are f0..f{len(features) - 1}",)
    return ModelFile(
        path=path,
        format="onnx",
        flavor="onnx",
        model=model,
        runner=runner,
        features=features,
        named=named,
        classes=runner.classes,
        notes=notes,
    )
