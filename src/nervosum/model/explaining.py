"""A loaded model's attributions, as ``POST /explain`` answers them (docs/monitoring.md).

The explainer is made on the first explanation, so a server nobody asks for one never
pays for it (``/predict`` is untouched): a tree model's exact TreeSHAP, or a sampled
estimate against typical rows: ``monitoring.background``'s, ``monitoring.reference``'s,
or rows drawn from the reference profile (:mod:`nervosum.explain` chooses). Each
row's answer names the output it explains (the predicted class by default, another
with ``class``, or every class with ``class=all``), its base value and one contribution
per feature; base and contributions add up to the model's output in ``output`` space.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Sequence
from typing import Any

import numpy as np
import pandas as pd

from nervosum.config import Project
from nervosum.config.types import Record
from nervosum.errors import InputValidationError, NotExplainableError
from nervosum.explain import Attributions, Explainer, exact_explainer, sampled_explainer
from nervosum.explain.boosters import from_library
from nervosum.model.compile.threads import onnx_threads
from nervosum.model.handle import ModelHandle
from nervosum.model.outputs import Outputs, predicted_value
from nervosum.schema.tables import read_table

ALL_CLASSES = "all"
_NUMERIC = ("float", "int", "bool")


class ModelExplainer:
    """Explanations of one loaded model; the explainer is made once, on first use."""

    def __init__(self, project: Project, handle: ModelHandle) -> None:
        self.project = project
        self.handle = handle
        # Threads an exact explanation may use: every core for one process (or
        # NERVOSUM_ONNX_THREADS); a server or a batch job shares them over its workers.
        self.threads = onnx_threads(1)
        self._explainer: Explainer | None = None
        self._lock = threading.Lock()  # the first two explanations make one explainer
        self._types = {field.name: field.type for field in handle.fields}
        # Background rows drawn from the reference profile, when the project names no
        # file of rows: set by whoever knows where the profile is (drift/background.py).
        self.profile_rows: Callable[[Sequence[str], int], np.ndarray | None] | None = None

    @property
    def features(self) -> list[str]:
        return self.handle.field_names

    def explain(self, records: Sequence[Record], *, which: str | None) -> Record:
        """The answer for validated ``records``: how they were explained (method,
        exactness, samples) and one explanation per row."""
        explainer = self._made()
        rows = self._rows(records)
        attributions = explainer.explain(rows)
        predictions = self._predictions(records)
        id_field = self.project.config.id_field
        explanations = []
        for index, record in enumerate(records):
            row = _explained(attributions, index, self.features, predictions[index], which)
            if id_field and record.get(id_field) is not None:
                row = {id_field: record[id_field], **row}
            explanations.append(row)
        return {
            "method": attributions.method,
            "exact": attributions.exact,
            "output": attributions.output,
            "samples": attributions.samples,
            "explanations": explanations,
        }

    def ready(self) -> None:
        """Make the explainer now: a model that cannot be explained says so before a
        batch job scores anything (``nervosum batch --explain``)."""
        self._made()

    def _made(self) -> Explainer:
        with self._lock:
            if self._explainer is None:
                self._explainer = self._make()
            return self._explainer

    def _make(self) -> Explainer:
        """A tree model's exact explainer, else the sampled one: its background rows are
        read only then (a tree model never needs them)."""
        self._require_numeric()
        model = self.handle.loaded.instance
        exact = exact_explainer(model, self.features, self.handle.classes, self.threads)
        if exact is not None:
            return exact
        background = self._background()
        return sampled_explainer(
            model,
            features=self.features,
            classes=self._classes(background),
            background=background,
            predict=self._model_output,
            time_budget=self.project.config.monitoring.explain_budget,
        )

    def _require_numeric(self) -> None:
        """Attributions move feature values: text inputs have no such values, and a
        model that answers only labels has no number to attribute."""
        if not self.features:
            raise NotExplainableError(
                "explanations need the model's input fields, and this model declares none",
                hint="add an input_schema to nervosum.yaml",
            )
        text = [name for name in self.features if self._types[name] not in _NUMERIC]
        if text:
            raise NotExplainableError(
                f"explanations need numeric inputs; {', '.join(text)} is not",
                hint="explain a model whose input_schema fields are float, int or bool",
            )
        outputs = self.project.config.output_schema
        labels = self.handle.classes is not None or (outputs and outputs[0].type != "float")
        if labels and not self.handle.is_classifier and not _has_trees(self.handle):
            raise NotExplainableError(
                "the model answers labels without class probabilities: there is nothing"
                " numeric to attribute",
                hint="explain a regressor, or a classifier with predict_proba",
            )

    def _classes(self, background: np.ndarray | None) -> tuple[str, ...] | None:
        """The classes in the model's probability columns: declared or read from the
        model, else those its probabilities are labelled with on the background rows (a
        user class whose predict_proba answers a labelled frame)."""
        if self.handle.classes is not None or not self.handle.is_classifier:
            return self.handle.classes
        if background is None or not len(background):
            return None
        labels = self._predicted(background[:1]).labels
        return labels or None

    def _background(self) -> np.ndarray | None:
        """``background_rows`` typical rows, in the model's column order: the first of
        ``monitoring.background``, else a seeded sample of ``monitoring.reference``'s,
        else rows drawn from the reference profile; None without any of them."""
        spec = self.project.config.monitoring
        count = spec.background_rows
        if spec.background is not None:
            return self._table("monitoring.background", spec.background).head(count).to_numpy()
        if spec.reference is not None:
            frame = self._table("monitoring.reference", spec.reference)
            if len(frame) > count:
                frame = frame.sample(count, random_state=0)
            return frame.to_numpy()
        if self.profile_rows is not None:
            return self.profile_rows(self.features, count)
        return None

    def _table(self, key: str, name: str) -> pd.DataFrame:
        """The model's features of the rows in the file ``key`` names, as floats, the
        rows with a value in every feature (references often have gaps)."""
        path = self.project.project_dir / name
        try:
            frame = read_table(path)
            missing = [feature for feature in self.features if feature not in frame.columns]
            if missing:
                raise ValueError(f"no column {', '.join(missing)}")
            rows = frame[self.features].astype(np.float64).dropna()
            if rows.empty:  # a row with a gap would make every estimate NaN
                raise ValueError("no row has a value in every feature")
            return rows
        except (OSError, ValueError, ImportError) as exc:
            raise NotExplainableError(
                f"{key} {path} cannot be used: {exc}",
                hint="a CSV, Parquet or JSON-lines file of typical inputs with the columns"
                f" {', '.join(self.features)}, relative to the project folder",
            ) from None

    def _rows(self, records: Sequence[Record]) -> np.ndarray:
        return np.array(
            [[record.get(name) for name in self.features] for record in records],
            dtype=np.float64,
        ).reshape(len(records), len(self.features))

    def _predicted(self, rows: np.ndarray) -> Outputs:
        """The model's answer for rows of floats, each column cast back to its field's
        type (a model that checks its inputs' types, MLflow's, refuses float ints)."""
        frame = pd.DataFrame(rows, columns=self.features)
        for name, kind in self._types.items():
            if kind == "int":
                frame[name] = frame[name].round().astype("int64")
            elif kind == "bool":
                frame[name] = frame[name].astype(bool)
        return self.handle.predict_outputs(self.handle.frame_inputs(frame), proba=True)

    def _model_output(self, rows: np.ndarray) -> np.ndarray:
        """What a sampled explanation moves: class probabilities, or the predicted value."""
        outputs = self._predicted(rows)
        if outputs.probabilities is not None:
            return np.asarray(outputs.probabilities, dtype=np.float64)
        values = [predicted_value(record, None) for record in outputs.records()]
        try:
            return np.asarray(values, dtype=np.float64).reshape(len(values), 1)
        except (TypeError, ValueError):
            raise NotExplainableError(
                "the model answers labels without class probabilities: there is nothing"
                " numeric to attribute",
                hint="explain a regressor, or a classifier with predict_proba",
            ) from None

    def _predictions(self, records: Sequence[Record]) -> list[Any]:
        inputs = self.handle.inputs(records, exclude=self.project.config.id_field)
        return [
            predicted_value(record, None) for record in self.handle.predict(inputs, proba=False)
        ]


def _explained(
    found: Attributions, row: int, features: Sequence[str], prediction: Any, which: str | None
) -> Record:
    """One row's explanation: of the predicted output, of ``which``, or of every one."""
    values = found.values[row]  # (features, outputs)
    if which == ALL_CLASSES:
        return {
            "prediction": prediction,
            "base_value": dict(zip(found.outputs, found.base.tolist(), strict=True)),
            "contributions": {
                output: dict(zip(features, values[:, column].tolist(), strict=True))
                for column, output in enumerate(found.outputs)
            },
        }
    column = _column(found.outputs, prediction, which)
    return {
        "prediction": prediction,
        "explained": found.outputs[column],
        "base_value": float(found.base[column]),
        "contributions": dict(zip(features, values[:, column].tolist(), strict=True)),
    }


def _column(outputs: Sequence[str], prediction: Any, which: str | None) -> int:
    """The output column explained: ``which``, else the predicted class's, else the one
    output (a regressor; a binary booster's positive-class margin)."""
    if which is not None:
        if which not in outputs:
            raise InputValidationError(
                f"class {which!r} is not one of the model's outputs",
                hint=f"use class={ALL_CLASSES} or one of: {', '.join(outputs)}",
                details=[{"loc": ["query", "class"], "msg": "unknown class", "input": which}],
            )
        return list(outputs).index(which)
    predicted = str(prediction)
    if predicted in outputs:
        return list(outputs).index(predicted)
    if len(outputs) == 1:  # a regressor, or a binary booster's positive-class margin
        return 0
    raise NotExplainableError(
        f"the predicted class {predicted!r} is none of the explained outputs"
        f" ({', '.join(outputs)})",
        hint="name the class with ?class=, or declare the model's classes",
    )


def _has_trees(handle: ModelHandle) -> bool:
    """Whether the model is a booster the exact explainers read (its margins are numbers
    even when its answers are labels, e.g. a booster file)."""
    return any(from_library(handle.loaded.instance, name) for name in ("xgboost", "lightgbm"))
