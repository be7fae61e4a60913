"""The loaded model: one object every runtime calls, so a prediction means the same everywhere.

``ModelHandle`` owns the model's identity (name, version, uuid, created), the call in
whichever form the user wrote, output normalisation, and class probabilities. It knows
no transport: HTTP, streams, batch and graphs hand it a DataFrame and get records.
"""

from __future__ import annotations

import time
import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import pandas as pd

from nervosum.config import Project
from nervosum.config.types import Record
from nervosum.model.forms import load_model
from nervosum.model.loaded import LoadedModel
from nervosum.model.outputs import (
    DEFAULT_OUTPUT,
    Outputs,
    OutputShapeError,
    probability_array,
    to_outputs,
)
from nervosum.schema.arrays import frame_to_array, records_to_array
from nervosum.schema.frame import records_to_frame


@dataclass(frozen=True)
class ModelIdentity:
    """Who answered: stable for the life of a loaded model, shown in /info and logs."""

    name: str
    version: str
    uuid: str
    created: str

    def to_dict(self) -> dict[str, str]:
        return {
            "name": self.name,
            "version": self.version,
            "uuid": self.uuid,
            "created": self.created,
        }


def _iso(moment: datetime) -> str:
    return moment.astimezone(UTC).isoformat(timespec="seconds").replace("+00:00", "Z")


def _identity(project: Project, loaded: LoadedModel) -> ModelIdentity:
    instance = loaded.instance
    # [compat] the microservice template's Model carries `id` and `creation_time` itself.
    own_id = getattr(instance, "id", None) or getattr(instance, "uuid", None)
    try:
        model_uuid = str(uuid.UUID(str(own_id)))
    except ValueError:
        model_uuid = str(uuid.uuid4())
    created = getattr(instance, "creation_time", None) or getattr(instance, "created", None)
    if not isinstance(created, str):
        if project.config.model_spec.artifact and loaded.source is not None:
            created = _iso(datetime.fromtimestamp(loaded.source.stat().st_mtime, UTC))
        else:
            created = _iso(datetime.now(UTC))
    return ModelIdentity(project.config.name, project.config.tag, model_uuid, created)


class ModelHandle:
    """A loaded model and the one way nervosum calls it."""

    def __init__(self, project: Project, loaded: LoadedModel, load_seconds: float) -> None:
        self.project = project
        self.loaded = loaded
        self.load_seconds = load_seconds
        self.identity = _identity(project, loaded)
        schema_names = [f.name for f in project.config.output_schema]
        self.output_names: tuple[str, ...] = tuple(schema_names) or (DEFAULT_OUTPUT,)
        # A fitted model knows its column order; without an input_schema the frame follows
        # the client's key order, so restore the trained order.
        names = getattr(loaded.instance, "feature_names_in_", None)
        trained = [str(n) for n in names] if names is not None else None
        self.fields = loaded.fields if loaded.fields is not None else project.config.input_schema
        self._field_names = [f.name for f in self.fields]  # the array's columns, per batch
        self.feature_order: list[str] | None = trained or (
            [f.name for f in loaded.fields or ()] or None
        )

    @classmethod
    def load(cls, project: Project, *, threads: int | None = None) -> ModelHandle:
        started = time.perf_counter()
        loaded = load_model(project, threads=threads)
        return cls(project, loaded, time.perf_counter() - started)

    @property
    def label(self) -> str:
        return self.loaded.label

    @property
    def field_names(self) -> list[str]:
        """The model's input columns, in its order (what an explanation attributes to)."""
        return list(self._field_names)

    @property
    def per_record(self) -> bool:
        """True for ``transform_predict`` models, which take one record per call."""
        return self.loaded.per_record

    @property
    def is_classifier(self) -> bool:
        return self.loaded.predict_proba is not None

    @property
    def classes(self) -> tuple[str, ...] | None:
        return self.loaded.classes

    @property
    def runtime(self) -> str:
        """What runs the model: the runner's library (``onnxruntime 1.20``), else Python."""
        runner = self.loaded.runner
        return runner.runtime if runner is not None else "python"

    @property
    def thread_safe(self) -> bool:
        """Whether the model may be called from any thread (see ``Runner.thread_safe``);
        user code is assumed not to be."""
        runner = self.loaded.runner
        return runner is not None and runner.thread_safe

    def inputs(self, records: Sequence[Record], *, exclude: str | None) -> Any:
        """What the model takes for ``records``: one typed array in the model's column
        order when its runtime takes arrays (no DataFrame is built), else the DataFrame."""
        runner = self.loaded.runner
        if runner is not None and runner.takes == "array" and self.fields:
            return records_to_array(records, self._field_names, runner.dtype)
        return self.frame_inputs(records_to_frame(records, self.fields, exclude=exclude))

    def frame_inputs(self, frame: pd.DataFrame) -> Any:
        """What the model takes for a typed frame (a batch chunk, or records without a
        schema, whose columns follow the client's keys and go back to the trained order)."""
        order = self.feature_order
        if order and list(frame.columns) != order and set(order) <= set(frame.columns):
            frame = frame[order]
        runner = self.loaded.runner
        if runner is not None and runner.takes == "array":
            return frame_to_array(frame, runner.dtype)
        return frame

    def predict(self, inputs: Any, *, proba: bool = True) -> list[Record]:
        """Outputs for ``inputs`` (from :meth:`inputs`), one record per row, with
        probabilities when asked and known.

        Raises whatever the user's code raises; :class:`OutputShapeError` when the return
        value cannot be matched one-to-one with the input rows.
        """
        return self.predict_outputs(inputs, proba=proba).records()

    def predict_outputs(self, inputs: Any, *, proba: bool = True) -> Outputs:
        """:meth:`predict`'s answer before it becomes records (columns for batch files)."""
        rows = len(inputs)
        if self.per_record:
            records = [self.call_once(inputs.iloc[[i]].reset_index(drop=True)) for i in range(rows)]
            return Outputs(rows, listed=records)
        runner = self.loaded.runner
        want = proba and self.is_classifier
        if runner is not None:  # one call answers both
            values, probabilities = runner.run(inputs, want)
        else:
            values = self.loaded.predict(inputs)
        try:
            outputs = to_outputs(values, rows, self.output_names)
        except OutputShapeError as exc:
            raise OutputShapeError(f"{self.label}: {exc}") from None
        if want:
            if runner is None:
                assert self.loaded.predict_proba is not None
                probabilities = self.loaded.predict_proba(inputs)
            outputs.labels, outputs.probabilities = probability_array(
                probabilities, self.classes, rows
            )
        return outputs

    def call_once(self, frame: pd.DataFrame) -> Record:
        """One ``transform_predict`` call on the whole frame, its dict as one record: the
        multi-model server's seed routes call it so (model-serving-framework did)."""
        result = self.loaded.predict(frame)
        try:
            (record,) = to_outputs(result, 1, self.output_names, single_record=True).records()
        except (OutputShapeError, ValueError) as exc:
            raise OutputShapeError(f"{self.label}.transform_predict: {exc}") from None
        return record
