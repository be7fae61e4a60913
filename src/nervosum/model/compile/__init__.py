"""Compiled inference: a model file's model converted to ONNX and run by ONNX Runtime,
served only when it answers like the original (issue 21).

:func:`compile_model` converts (or takes from the cache), checks the conversion against
the original on reference rows and says which runner serves and why, in a JSON-able
``info`` shown by ``/info`` and the startup log. See docs/compile.md.
"""

from __future__ import annotations

import functools
import math
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from nervosum.config.spec import CompileSpec, SchemaField
from nervosum.config.types import Record
from nervosum.errors import ModelDefinitionError
from nervosum.model.compile import cache
from nervosum.model.compile.check import compare
from nervosum.model.compile.convert import (
    UnsupportedModelError,
    converter_for,
    first_line,
    input_types,
    to_onnx,
)
from nervosum.model.compile.onnx_file import read_onnx_file
from nervosum.model.compile.reference import reference_rows, split_rows
from nervosum.model.compile.session import OnnxRunner
from nervosum.model.compile.threads import onnx_threads, serving_threads
from nervosum.model.files import Feature, ModelFile
from nervosum.model.outputs import native
from nervosum.model.runner import Runner

__all__ = [
    "Compiled",
    "OnnxRunner",
    "compile_model",
    "onnx_threads",
    "read_onnx_file",
    "serving_threads",
]


@dataclass(frozen=True)
class Compiled:
    """What serves a model file, and the account of how that was decided."""

    runner: Runner  # ONNX Runtime when the conversion passed the check, else the original
    compiled: bool
    info: dict[str, Any]  # /info "compile": mode, runtime, converter, ..., reason


def _info(spec: CompileSpec, runner: Runner, **fields: Any) -> dict[str, Any]:
    info: dict[str, Any] = {
        "mode": spec.mode,
        "runtime": runner.runtime,
        "converter": None,
        "convert_seconds": None,
        "cache": None,
        "check": None,
        "reason": None,
    }
    info.update(fields)
    return info


def _fallback(model_file: ModelFile, spec: CompileSpec, reason: str, **fields: Any) -> Compiled:
    """The original serves; with ``mode: onnx`` that is an error at load."""
    if spec.mode == "onnx":
        raise ModelDefinitionError(
            f"{model_file.path}: model.compile is onnx but the ONNX model cannot serve: {reason}",
            hint="set model.compile to auto to serve the original model when this happens",
        )
    return Compiled(
        model_file.runner, False, _info(spec, model_file.runner, reason=reason, **fields)
    )


def _converted(
    model: Any, path: Path, inputs: Any, make: Callable[[bytes], OnnxRunner]
) -> tuple[OnnxRunner, str, float]:
    """(the converted model's runner, "hit"/"miss", seconds spent converting). A cached
    entry that does not load (a truncated file) is dropped and converted again; a
    conversion ONNX Runtime refuses is unsupported."""
    key = cache.cache_key(path, inputs)
    cached = cache.load(key)
    if cached is not None:
        try:
            return make(cached), "hit", 0.0
        except Exception:
            cache.forget(key)
    started = time.perf_counter()
    onnx_model = to_onnx(model, inputs)
    seconds = time.perf_counter() - started
    try:
        runner = make(onnx_model)
    except Exception as exc:
        raise UnsupportedModelError(
            f"{type(model).__name__} (ONNX Runtime refuses the converted model: {first_line(exc)})"
        ) from exc
    cache.store(key, onnx_model)
    return runner, "miss", seconds


def _loaded_runner(model: bytes, **settings: Any) -> OnnxRunner:
    """A runner whose session is made now, so ONNX Runtime refuses a bad graph here."""
    runner = OnnxRunner(model, **settings)
    runner.load()
    return runner


def _class_values(model: Any) -> list[Any] | None:
    """The estimator's own class values (scikit-learn's ``classes_``), None for a booster,
    whose classes are the graph's integers already."""
    values = getattr(model, "classes_", None)
    return None if values is None else [native(v) for v in values]


def decimals_within(tolerance: float) -> int | None:
    """Decimals that round a probability by at most a twentieth of ``tolerance`` (6 for
    the default 1e-5), so the rounding and float32's own error (about 1e-7 on a
    probability) stay within it; None without a tolerance (what float32 says is kept)."""
    if tolerance <= 0:
        return None
    return max(0, math.ceil(-math.log10(tolerance)) + 1)


def compile_model(
    model_file: ModelFile,
    fields: Sequence[SchemaField],
    spec: CompileSpec,
    *,
    project_dir: Path,
    threads: int | None,
    example_rows: Sequence[Record] = (),
) -> Compiled:
    """Convert, check, and choose the runner that serves (see the module docstring)."""
    if model_file.format == "onnx" or model_file.flavor == "onnx":
        served = OnnxRunner(  # the same graph, with this machine's share of the cores
            model_file.model,
            features=model_file.features,
            classes=model_file.runner.classes,
            threads=threads,
        )
        try:
            served.load()
        except Exception as exc:  # ONNX Runtime's own types
            raise ModelDefinitionError(
                f"{model_file.path.name}: ONNX Runtime cannot load it: {first_line(exc)}",
                hint="check the file with onnx.checker.check_model; it may need a newer"
                " onnxruntime",
            ) from None
        return Compiled(served, True, _info(spec, served))
    if spec.mode == "off":
        return Compiled(model_file.runner, False, _info(spec, model_file.runner, reason="off"))
    try:
        converter = converter_for(model_file.model)
        inputs = input_types(model_file.model, fields)
        make = functools.partial(
            _loaded_runner,
            features=[Feature(f.name, f.type) for f in fields],
            classes=model_file.runner.classes,
            threads=threads,
            probability_decimals=decimals_within(spec.tolerance.probabilities),
            label_values=_class_values(model_file.model),
        )
        runner, hit, seconds = _converted(model_file.model, model_file.path, inputs, make)
    except UnsupportedModelError as exc:
        return _fallback(model_file, spec, f"unsupported: {exc}")
    done = {"converter": converter, "convert_seconds": round(seconds, 4), "cache": hit}
    examples = [*example_rows, *(model_file.example or [])]
    reference = project_dir / spec.reference if spec.reference else None
    rows = reference_rows(fields, examples, reference)
    if runner.takes == "array" and not hasattr(model_file.model, "steps"):  # trees on inputs
        rows.extend(split_rows(fields, rows[0], runner.splits()))
    try:
        result = compare(model_file.runner, runner, rows, fields, spec.tolerance)
    except Exception as exc:  # either runtime may refuse a drawn row
        return _fallback(model_file, spec, f"the check could not run: {exc}", **done)
    if result.reason is not None:
        return _fallback(model_file, spec, result.reason, check=result.figures(), **done)
    return Compiled(runner, True, _info(spec, runner, check=result.figures(), **done))
