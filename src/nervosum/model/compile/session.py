"""ONNX Runtime behind the :class:`~nervosum.model.runner.Runner` call.

One ``InferenceSession`` per process, on the CPU, with sequential execution and one
inter-op thread: a served model answers small batches, where parallel branches cost more
in wake-ups than they save. Intra-op threads are set by the caller (see
:func:`nervosum.model.compile.threads.onnx_threads`).

Two graph shapes are served: one 2-D numeric input (``takes == "array"``: the engine
hands over one typed array in schema order, no DataFrame), or one input per column (a
converted Pipeline with a text column: ``takes == "frame"``, each column fed as
``(rows, 1)`` in the input's element type). Both classifier output styles are read: a
probability tensor (skl2onnx ``zipmap=False``) and ZipMap's list of ``{class: p}`` dicts.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Sequence
from typing import Any

import numpy as np

from nervosum.model.compile.graph import (
    GraphInput,
    graph_inputs,
    graph_labels,
    is_array_input,
    tree_splits,
)
from nervosum.model.files import Feature
from nervosum.model.runner import Takes

log = logging.getLogger("nervosum.model.compile")

_ERRORS_ONLY = 3  # ORT log severity: keep its shape warnings out of the server log
_DIGITS = 7  # what float32 carries (about 7.2 significant digits)
# Probabilities closer than this are a tie: a sum of a hundred float32 terms near 1 is
# off by a few 1e-7.
_FLOAT32_NOISE = 1e-6


class OnnxRunner:
    """An ONNX model run by ONNX Runtime: one session call per batch."""

    def __init__(
        self,
        model: bytes,
        *,
        features: Sequence[Feature] | None,
        classes: tuple[str, ...] | None = None,
        threads: int | None = None,
        probability_decimals: int | None = None,
        label_values: Sequence[Any] | None = None,
    ) -> None:
        import onnx
        import onnxruntime as ort

        graph = onnx.load_model_from_string(model)
        self._inputs = graph_inputs(graph)
        self._takes: Takes = "array" if is_array_input(self._inputs) else "frame"
        self._labels = graph_labels(graph)
        options = ort.SessionOptions()
        options.execution_mode = ort.ExecutionMode.ORT_SEQUENTIAL
        options.inter_op_num_threads = 1
        if threads is not None:
            options.intra_op_num_threads = threads
        options.log_severity_level = _ERRORS_ONLY
        # Idle intra-op threads sleep instead of spinning: they would take the core the
        # event loop needs between batches.
        options.add_session_config_entry("session.intra_op.allow_spinning", "0")
        self._model, self._options = model, options
        self._session: Any = None  # made on first use, in the process that uses it
        self._pid = os.getpid()
        self._forked: list[Any] = []
        self._outputs = [output.name for output in graph.graph.output]
        self._columns = [f.name for f in features] if features else [i.name for i in self._inputs]
        self._classes = classes
        self._decimals = probability_decimals
        # A converted model answers with the original's classes (None: an .onnx file
        # served as it is answers its own labels).
        self._relabel = probability_decimals is not None or label_values is not None
        # The original's own class values (True / False, 1.0, "spam"), in probability
        # order: the graph stores bool and float classes as integers.
        self._values = np.asarray(label_values if label_values is not None else self._labels or [])
        self._runtime = f"onnxruntime {ort.__version__}"
        if classes is None and self._labels is not None:
            self._classes = tuple(str(label) for label in self._labels)

    @property
    def takes(self) -> Takes:
        return self._takes

    @property
    def dtype(self) -> np.dtype[Any]:
        return self._inputs[0].dtype

    @property
    def classes(self) -> tuple[str, ...] | None:
        return self._classes if len(self._outputs) > 1 else None

    @property
    def runtime(self) -> str:
        return self._runtime

    @property
    def thread_safe(self) -> bool:
        return True  # an InferenceSession's run may be called from several threads

    def run(self, inputs: Any, proba: bool) -> tuple[Any, np.ndarray | None]:
        """(labels or values, 1-D; probabilities ``(rows, classes)`` or None), one session
        run."""
        if self._relabel and len(self._values) and self.classes is not None:
            return self._classified(inputs, proba)
        wanted = self._outputs[:2] if proba and self.classes is not None else self._outputs[:1]
        answers = self._live().run(wanted, self._feed(inputs))
        predictions = _significant(np.asarray(answers[0]).reshape(-1), _DIGITS)
        if len(answers) == 1:
            return predictions, None
        probabilities = self._probabilities(answers[1])
        if self._decimals is None or probabilities.dtype != np.float32:
            return predictions, _significant(probabilities, _DIGITS)
        return predictions, np.round(probabilities.astype(np.float64), self._decimals)

    def _classified(self, inputs: Any, proba: bool) -> tuple[Any, np.ndarray | None]:
        """A converted classifier: the original's class value of the most probable class,
        the first of those within float32's noise of the top (as scikit-learn's argmax
        breaks an exact tie of its float64 sums; the graph's own label splits such a tie,
        0.35 / 0.3 / 0.35, by the noise of its float32 sums). The check then compares
        these labels with the original's, so a model whose class is not its most probable
        one (an SVC with probability=True) falls back. Probabilities are sent rounded to
        the check's tolerance."""
        answers = self._live().run(self._outputs[:2], self._feed(inputs))
        found = self._probabilities(answers[1])
        noise = _FLOAT32_NOISE if found.dtype == np.float32 else 0.0
        chances = found.astype(np.float64)
        near_top = chances >= chances.max(axis=1, keepdims=True) - noise
        labels = self._values[near_top.argmax(axis=1)]
        if not proba:
            return labels, None
        return labels, chances if self._decimals is None else np.round(chances, self._decimals)

    def splits(self) -> dict[int, list[float]]:
        """The split thresholds of the graph's trees, by input column (the check probes
        around them); none, with a warning, for a graph whose trees cannot be read."""
        import onnx

        try:
            return tree_splits(onnx.load_model_from_string(self._model))
        except Exception as exc:  # a tree op of another version: the probes are extra
            log.warning("the check cannot read the trees' splits (%s): not probed", exc)
            return {}

    def _new_session(self) -> Any:
        import onnxruntime as ort

        return ort.InferenceSession(self._model, self._options, providers=["CPUExecutionProvider"])

    def load(self) -> None:
        """Make this process's session now (ONNX Runtime refuses a bad graph here)."""
        self._live()

    def _live(self) -> Any:
        """This process's session. A session made before a fork (the model loaded once
        for pre-forked workers) has intra-op threads that do not exist in the child: the
        child makes its own and never runs nor frees the inherited one."""
        if self._session is not None and self._pid != os.getpid():
            self._forked.append(self._session)
            self._session = None
        if self._session is None:
            self._session = self._new_session()
            self._pid = os.getpid()
        return self._session

    def _feed(self, inputs: Any) -> dict[str, Any]:
        if self._takes == "array":
            return {self._inputs[0].name: np.asarray(inputs, dtype=self.dtype)}
        return {
            graph_input.name: _column(inputs[column], graph_input)
            for graph_input, column in zip(self._inputs, self._columns, strict=True)
        }

    def _probabilities(self, answer: Any) -> np.ndarray:
        if isinstance(answer, list):  # ZipMap: one {class: probability} per row
            keys = self._labels if self._labels is not None else list(answer[0]) if answer else []
            return np.array([[row[key] for key in keys] for row in answer], dtype=np.float32)
        return np.asarray(answer)


def _significant(values: np.ndarray, significant: int) -> np.ndarray:
    """float32 answers as the float64 of their first ``significant`` digits: 0.9 is
    sent as 0.9, not 0.8999999761581421. (A converted classifier's probabilities are
    rounded to a tenth of the check's tolerance instead: 0.9799996 is sent as 0.98.)"""
    if values.dtype != np.float32:
        return values
    wide = values.astype(np.float64)
    with np.errstate(divide="ignore", invalid="ignore"):
        digits = np.floor(np.log10(np.abs(wide)))
    scale = 10.0 ** np.where(np.isfinite(digits), significant - 1 - digits, 0.0)
    return np.round(wide * scale) / scale


def _column(values: Any, graph_input: GraphInput) -> np.ndarray:
    """One frame column as the graph's input wants it: its element type, ``(rows, 1)``."""
    if graph_input.type == "str":
        column = np.asarray(values, dtype=object).astype(str).astype(object)
    else:
        column = np.asarray(values, dtype=graph_input.dtype)
    return column.reshape((-1, 1) if len(graph_input.shape) == 2 else (-1,))
