"""A reference profile: each column's reference distribution, binned as PSI bins it.

Per numeric feature the inner bin edges (the reference's deciles), the shares, min and
max; per text or boolean feature the top categories, their shares and the values seen;
and the model's predictions on the reference rows (class shares for a classifier, bins
for values). ``nervosum build`` keeps it in the bundle as JSON (:data:`PROFILE_FILE`),
so a served bundle needs no training data (docs/monitoring.md, "Live drift").
"""

from __future__ import annotations

import json
import logging
import math
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd

from nervosum.config import Project
from nervosum.config.types import Record
from nervosum.drift.psi import (
    BINS,
    category_bins,
    category_counts,
    decile_edges,
    is_numeric,
    numeric_bins,
    numeric_counts,
    shares,
    top_categories,
)
from nervosum.drift.reference import read_reference, reference_path
from nervosum.engine import Engine
from nervosum.model.outputs import DEFAULT_OUTPUT

log = logging.getLogger("nervosum.drift")

PROFILE_FILE = "reference-profile.json"
# Distinct values a categorical column keeps to tell unseen ones apart; a column with
# more (identifiers, free text) reports no unseen share.
MAX_SEEN = 10_000
# Reference rows per model call when predicting them: calls this size interleave with the
# requests on a server's model thread instead of holding it for the whole file.
PREDICT_CHUNK = 1_000


@dataclass(frozen=True)
class Distribution:
    """One column's reference distribution and how a live value is binned against it."""

    kind: str  # "numeric" or "categorical"
    shares: np.ndarray
    edges: np.ndarray = field(default_factory=lambda: np.empty(0))  # inner bin edges
    low: float = math.nan
    high: float = math.nan
    categories: tuple[str, ...] = ()
    seen: frozenset[str] | None = None  # None: too many values to tell unseen ones
    # A numeric column of at most BINS distinct values (a flag, a small count) is binned
    # one value each: the values, so rows drawn from the profile take only those.
    values: tuple[float, ...] = ()

    @classmethod
    def of(cls, column: pd.Series, *, categorical: bool) -> Distribution:
        if categorical:
            top = top_categories(column)
            distinct = column.dropna().astype(str).unique()
            seen = frozenset(distinct.tolist()) if len(distinct) <= MAX_SEEN else None
            counts = category_counts(top, column)
            return cls("categorical", shares(counts), categories=tuple(top), seen=seen)
        edges = decile_edges(column)
        inner = edges[1:-1]
        counts = numeric_counts(inner, column)
        distinct = np.unique(column.dropna().to_numpy(dtype=float))
        values = tuple(distinct.tolist()) if len(distinct) <= BINS else ()
        low, high = float(edges[0]), float(edges[-1])
        return cls("numeric", shares(counts), inner, low, high, values=values)

    @property
    def missing(self) -> int:
        """The code of a missing value: one past the last bin, left out of the counts."""
        return len(self.shares)

    @property
    def numeric(self) -> bool:
        return self.kind == "numeric"

    def bins(self, values: pd.Series) -> tuple[np.ndarray, np.ndarray]:
        """Each value's bin (:attr:`missing` for none) and whether it is out of the
        reference's range (numbers) or a value the reference never had (categories)."""
        codes = np.full(len(values), self.missing, dtype=np.int64)
        flags = np.zeros(len(values), dtype=bool)
        if self.numeric:
            numbers = pd.to_numeric(values, errors="coerce").to_numpy(dtype=float)
            present = ~np.isnan(numbers)
            codes[present] = numeric_bins(self.edges, numbers[present])
            flags[present] = (numbers[present] < self.low) | (numbers[present] > self.high)
            return codes, flags
        present = values.notna().to_numpy()
        text = values[present].astype(str)
        codes[present] = category_bins(list(self.categories), text)
        if self.seen is not None:
            flags[present] = ~text.isin(self.seen).to_numpy()
        return codes, flags

    def to_dict(self) -> Record:
        body: Record = {"kind": self.kind, "shares": self.shares.tolist()}
        if self.numeric:
            body.update(edges=self.edges.tolist(), min=self.low, max=self.high)
            if self.values:
                body["values"] = list(self.values)
        else:
            seen = sorted(self.seen) if self.seen is not None else None
            body.update(categories=list(self.categories), seen=seen)
        return body

    @classmethod
    def from_dict(cls, body: Record) -> Distribution:
        shares_ = np.asarray(body["shares"], dtype=float)
        if body["kind"] == "numeric":
            edges = np.asarray(body["edges"], dtype=float)
            low, high = float(body["min"]), float(body["max"])
            values = tuple(float(v) for v in body.get("values", ()))  # older profiles: none
            return cls("numeric", shares_, edges, low, high, values=values)
        seen = body.get("seen")
        return cls(
            "categorical",
            shares_,
            categories=tuple(body["categories"]),
            seen=frozenset(seen) if seen is not None else None,
        )


@dataclass(frozen=True)
class Profile:
    """The reference's features and predictions, and where and when it was made."""

    features: dict[str, Distribution]
    prediction: Distribution | None
    prediction_field: str
    rows: int
    made: float
    source: str

    def summary(self) -> Record:
        """What ``/info`` shows of it."""
        return {
            "features": len(self.features),
            "rows": self.rows,
            "made": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(self.made)),
            "source": self.source,
            "prediction": self.prediction is not None,
        }

    def to_dict(self) -> Record:
        prediction = self.prediction.to_dict() if self.prediction is not None else None
        return {
            "rows": self.rows,
            "made": self.made,
            "source": self.source,
            "features": {name: d.to_dict() for name, d in self.features.items()},
            "prediction_field": self.prediction_field,
            "prediction": prediction,
        }

    @classmethod
    def from_dict(cls, body: Record) -> Profile:
        prediction = body.get("prediction")
        return cls(
            features={k: Distribution.from_dict(v) for k, v in body["features"].items()},
            prediction=Distribution.from_dict(prediction) if prediction else None,
            prediction_field=body["prediction_field"],
            rows=int(body["rows"]),
            made=float(body["made"]),
            source=str(body["source"]),
        )

    def write(self, path: Path) -> None:
        path.write_text(json.dumps(self.to_dict()) + "\n", encoding="utf-8")

    @classmethod
    def read(cls, path: Path) -> Profile:
        return cls.from_dict(json.loads(path.read_text(encoding="utf-8")))


Predict = Callable[[list[Record]], list[Record]]


def feature_names(engine: Engine, frame: pd.DataFrame) -> list[str]:
    """The reference's columns the model takes: its input schema's, else all but the id."""
    declared = engine.inputs.names
    if declared:
        return [name for name in declared if name in frame.columns]
    return [str(name) for name in frame.columns if name != engine.id_field]


def _predictions(
    engine: Engine, frame: pd.DataFrame, names: list[str], predict: Predict, output: str
) -> Distribution | None:
    """The model's predictions on the reference rows, binned; None (logged) when the
    model cannot predict them: feature drift is still measured."""
    columns = frame[names]
    records: list[Record] = columns.astype(object).where(columns.notna(), None).to_dict("records")  # type: ignore[assignment]
    try:
        values = [
            out.get(output)
            for start in range(0, len(records), PREDICT_CHUNK)
            for out in predict(records[start : start + PREDICT_CHUNK])
        ]
    except Exception as exc:
        log.warning("prediction drift is off: the model cannot predict the reference: %s", exc)
        return None
    column = pd.Series(values).infer_objects()
    if column.isna().all():
        log.warning("prediction drift is off: the model's outputs have no %r", output)
        return None
    # Class shares for a classifier (or labels that are not numbers), bins for values.
    categorical = bool(engine.handle.classes) or not is_numeric(column)
    return Distribution.of(column, categorical=categorical)


def make_profile(
    engine: Engine, frame: pd.DataFrame, source: str, predict: Predict | None = None
) -> Profile:
    """``frame``'s profile for ``engine``'s model; ``predict`` answers reference rows
    (default: the engine itself, with labels rather than probabilities)."""
    names = feature_names(engine, frame)
    features = {
        name: Distribution.of(frame[name], categorical=not is_numeric(frame[name]))
        for name in names
        if frame[name].notna().any()
    }
    schema = engine.project.config.output_schema
    output = schema[0].name if schema else DEFAULT_OUTPUT
    answer = predict or (lambda records: engine.predict(records, proba=False))
    return Profile(
        features=features,
        prediction=_predictions(engine, frame, names, answer, output),
        prediction_field=output,
        rows=len(frame),
        made=time.time(),
        source=source,
    )


def bundled_profile(project: Project) -> Path | None:
    """The profile a built bundle keeps beside its ``app/`` folder, if there is one."""
    bundle = project.project_dir.parent
    path = bundle / PROFILE_FILE
    if project.project_dir.name == "app" and (bundle / "manifest.json").is_file():
        return path if path.is_file() else None
    return None


def trained_profile_path(project: Project) -> Path | None:
    """Where ``nervosum train`` keeps the profile of the rows it trained on: beside the
    model's artifact, made (and kept out of git) with it; None for a model without one."""
    model = project.config.model
    if model is None or not model.artifact:
        return None
    return (project.src_dir / model.artifact).parent / PROFILE_FILE


def trained_profile(project: Project) -> Path | None:
    """The profile ``nervosum train`` left (docs/training.md), if there is one."""
    path = trained_profile_path(project)
    return path if path is not None and path.is_file() else None


def kept_profile(project: Project) -> Path | None:
    """A profile kept as a file, whichever made it: the bundle's, else the one ``nervosum
    train`` or ``nervosum notebooks build`` left beside the model's artifact."""
    return bundled_profile(project) or trained_profile(project)


def project_profile(project: Project) -> Profile | None:
    """``nervosum build``'s profile of ``monitoring.reference``, else the one ``nervosum
    train`` left (None without either): the model is loaded to predict the reference rows."""
    path = reference_path(project)
    if path is None:
        trained = trained_profile(project)
        return Profile.read(trained) if trained is not None else None
    frame = read_reference(project, path)
    source = path.relative_to(project.project_dir).as_posix()
    return make_profile(Engine.load(project), frame, source)
