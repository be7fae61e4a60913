"""The transport-free core every front end calls: validate, build the frame, predict, map errors.

HTTP, stream, batch and graph runtimes are thin adapters around :class:`Engine`, so
validation, id echo, probabilities and error mapping are written once and behave the
same in every runtime (MLServer's DataPlane plays the same role there).
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Mapping, Sequence
from typing import Any

from nervosum.config import Project
from nervosum.config.types import Record
from nervosum.errors import ModelOutputError, NervosumError, PredictionError, new_error_id
from nervosum.model.card import card_facts
from nervosum.model.explaining import ModelExplainer
from nervosum.model.handle import ModelHandle
from nervosum.model.outputs import OutputShapeError
from nervosum.model.userframes import format_user_traceback
from nervosum.schema.frame import records_to_frame
from nervosum.schema.records import RecordSchema

log = logging.getLogger("nervosum.engine")


class Engine:
    """A project's schemas and loaded model, behind one ``predict``."""

    def __init__(self, project: Project, handle: ModelHandle, *, debug: bool = False) -> None:
        self.project = project
        self.handle = handle
        self.debug = debug
        config = project.config
        self.id_field = config.id_field
        self.inputs = RecordSchema(config.input_schema, title="Input", id_field=config.id_field)
        # The columns handed to the model, in its order (model/fields.py).
        self.model_fields = handle.fields
        self.explainer = ModelExplainer(project, handle)  # made ready on first use
        self._card_facts: dict[str, Any] | None = None
        # ``/info``'s ``drift`` when the server watches live drift (drift/live.py).
        self.drift_info: Callable[[], Record] | None = None

    @classmethod
    def load(cls, project: Project, *, debug: bool = False, threads: int | None = None) -> Engine:
        """Load the project's model (raises ModelDefinitionError with a readable cause);
        ``threads``: a compiled model's intra-op threads (default: every core, for one
        process; see ``nervosum.model.compile.threads``)."""
        return cls(project, ModelHandle.load(project, threads=threads), debug=debug)

    @property
    def running(self) -> bool:
        """Whether the model can answer now; a model in its own process may be restarting."""
        return True

    def require_running(self) -> None:
        """Raise the 503 a request gets while the model cannot answer (never, in process)."""

    @property
    def thread_safe(self) -> bool:
        """Whether predictions may be made from any thread (the model's runtime allows it)."""
        return self.handle.thread_safe

    @property
    def name(self) -> str:
        return self.project.config.name

    def schema_fields(self, row: Mapping[str, Any]) -> Record:
        """``row`` restricted to the input schema's fields and the id field: a file's
        other columns or a graph message's other fields are not the model's (without a
        schema, the whole row is)."""
        names = self.inputs.names
        if not names:
            return dict(row)
        keep = {*names, self.id_field} if self.id_field else set(names)
        return {key: value for key, value in row.items() if key in keep}

    def predict(self, records: list[Record], *, proba: bool = True) -> list[Record]:
        """One output record per validated input record, in order, with its id echoed."""
        try:
            return self._outputs(records, proba)
        except Exception as exc:
            raise self._as_error(exc) from None

    def explain(self, records: list[Record], *, which: str | None) -> Record:
        """Attributions of validated ``records`` (``POST /explain``): the predicted class
        by default, ``which`` class, or ``all``; a failure maps to errors as predict's."""
        try:
            return self.explainer.explain(records, which=which)
        except Exception as exc:
            raise self._as_error(exc) from None

    def transform(self, records: list[Record]) -> Record:
        """model-serving-framework's call: every row in one frame, one ``transform_predict``
        call, its dict back (the seed routes of the multi-model server)."""
        try:
            fields = self.project.config.input_schema
            return self.handle.call_once(records_to_frame(records, fields, exclude=self.id_field))
        except Exception as exc:
            raise self._as_error(exc) from None

    def predict_groups(
        self, groups: Sequence[list[Record]], *, proba: bool = True
    ) -> list[list[Record] | NervosumError]:
        """Predict several requests' records in one model call; each group gets its own answer.

        When the merged call fails, the groups are split in halves until the failing ones
        are found, so one bad request never fails the others batched with it.
        """
        if not groups:
            return []
        try:
            outputs = self._outputs([r for group in groups for r in group], proba)
        except Exception as exc:
            if len(groups) == 1:
                return [self._as_error(exc)]
            middle = len(groups) // 2
            return [
                *self.predict_groups(groups[:middle], proba=proba),
                *self.predict_groups(groups[middle:], proba=proba),
            ]
        answers: list[list[Record] | NervosumError] = []
        start = 0
        for group in groups:
            answers.append(outputs[start : start + len(group)])
            start += len(group)
        return answers

    def _outputs(self, records: list[Record], proba: bool) -> list[Record]:
        if not records:
            return []
        inputs = self.handle.inputs(records, exclude=self.id_field)
        outputs = self.handle.predict(inputs, proba=proba)
        if len(outputs) != len(records):
            raise OutputShapeError(f"returned {len(outputs)} records for {len(records)} input rows")
        if self.id_field:
            outputs = [self._with_id(rec, out) for rec, out in zip(records, outputs, strict=True)]
        return outputs

    def _as_error(self, exc: Exception) -> NervosumError:
        """The client-facing error for a failed model call, logged under a fresh error id."""
        if isinstance(exc, NervosumError):
            return exc
        if isinstance(exc, OutputShapeError):
            error_id = self._log_failure(exc, with_traceback=False)
            return ModelOutputError(
                f"model output does not match its inputs: {exc} (error id {error_id})",
                error_id=error_id,
            )
        error_id = self._log_failure(exc)
        return PredictionError(
            f"the model raised {type(exc).__name__}; the server log has the traceback "
            f"under error id {error_id}",
            error_id=error_id,
        )

    def _with_id(self, record: Record, output: Record) -> Record:
        assert self.id_field is not None
        if self.id_field not in record:
            return output
        return {self.id_field: record[self.id_field], **output}

    def _log_failure(self, exc: BaseException, *, with_traceback: bool = True) -> str:
        error_id = new_error_id()
        if with_traceback:
            detail = format_user_traceback(exc, self.project.project_dir, full=self.debug)
        else:
            detail = str(exc)
        log.error("prediction failed [error_id=%s] in %s\n%s", error_id, self.handle.label, detail)
        return error_id

    def info(self) -> dict[str, Any]:
        """Name, version, uuid, created, mode and schemas: the body of ``/info``."""
        from nervosum import __version__

        return {
            **self._described(),
            "mode": self.project.config.deployment.mode,
            "load_seconds": round(self.handle.load_seconds, 4),
            "nervosum_version": __version__,
            **self.schema(),
            **({"drift": self.drift_info()} if self.drift_info is not None else {}),
        }

    def card(self) -> dict[str, Any]:
        """The model card (``GET /card``, model/card.py): identity, schemas, classes,
        runtime and compile check, training figures, dependencies, and the reference
        profile's summary when live drift has one."""
        drift = self.drift_info() if self.drift_info is not None else {}
        if self._card_facts is None:  # reading the installed packages costs ~0.2 s: once
            self._card_facts = card_facts(self.project, self.handle)
        return {
            **self._described(),
            **self.schema(),
            **self._card_facts,
            "reference": drift.get("reference"),
        }

    def _described(self) -> dict[str, Any]:
        """Who the model is and what runs it: what /info and the card both say."""
        return {
            **self.handle.identity.to_dict(),
            "tag": self.project.config.tag,
            "model": self.handle.label,
            "classes": list(self.handle.classes) if self.handle.classes else None,
            "runtime": self.handle.runtime,
            "compile": self.handle.loaded.compile_info,
        }

    def schema(self) -> dict[str, Any]:
        """The declared schemas, as the seed's ``/schema`` route meant to return them."""
        config = self.project.config
        dump = [f.model_dump(exclude_none=True, exclude_defaults=True) for f in config.input_schema]
        out = [f.model_dump(exclude_none=True, exclude_defaults=True) for f in config.output_schema]
        return {"input_schema": dump, "output_schema": out}
