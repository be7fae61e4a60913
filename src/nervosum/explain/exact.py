"""The exact explainer: contributions from a tree library, checked and shaped once."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from nervosum.errors import ModelDefinitionError
from nervosum.explain.attributions import Attributions, check_rows

__all__ = [
    "Contributions",
    "ExactExplainer",
    "check_width",
    "class_names",
    "column_order",
    "is_sklearn",
]

# rows (n, features) -> (base (outputs,), values (n, features, outputs))
Contributions = Callable[[np.ndarray], tuple[np.ndarray, np.ndarray]]


@dataclass
class ExactExplainer:
    """TreeSHAP through whichever library computes it; the same answer shape for all."""

    method: str
    output: str
    outputs: tuple[str, ...]
    features: tuple[str, ...]
    contributions: Contributions
    prepare: Callable[[np.ndarray], np.ndarray] | None = None
    """Applied to the rows first: a pipeline's per-feature scaling before its trees."""
    order: np.ndarray | None = None
    """The schema's columns in the order the model was trained on (None: the same)."""
    exact: bool = True

    def explain(self, rows: np.ndarray) -> Attributions:
        array = check_rows(rows, self.features)
        # The base comes with the contributions, so an empty block borrows one row for it.
        probe = array if len(array) else np.zeros((1, len(self.features)))
        if self.order is not None:
            probe = probe[:, self.order]
        if self.prepare is not None:
            probe = self.prepare(probe)
        base, values = self.contributions(probe)
        values = np.asarray(values, dtype=np.float64).reshape(len(probe), len(self.features), -1)
        if self.order is not None:  # back to the schema's columns
            values = values[:, np.argsort(self.order), :]
        return Attributions(
            method=self.method,
            exact=True,
            output=self.output,
            outputs=self.outputs,
            base=np.asarray(base, dtype=np.float64).reshape(-1),
            values=values[: len(array)],
            samples=None,
        )


def check_width(found: int, features: Sequence[str], what: str) -> None:
    """Refuse a model trained on another number of features than the schema names.

    Its contributions would be attributed to the wrong columns, silently.
    """
    if found != len(features):
        raise ModelDefinitionError(
            f"{what} was trained on {found} features, the schema has {len(features)}",
            hint="list the model's input features in the schema, in the order it was trained on",
        )


def class_names(
    classes: Sequence[str] | None, model_classes: Sequence[object] | None, count: int
) -> tuple[str, ...]:
    """The output columns' names: the configured classes, else the model's own labels.

    A configured list of another length than the model's outputs is a configuration
    mistake that would misname every column, so it is refused.
    """
    if classes is not None:
        if len(classes) != count:
            raise ModelDefinitionError(
                f"the model has {count} classes, the configuration names {len(classes)}",
                hint="list every class the model predicts, in the model's order",
            )
        return tuple(classes)
    if model_classes is not None and len(model_classes) == count:
        return tuple(str(label) for label in model_classes)
    return tuple(str(index) for index in range(count))


def column_order(names: Sequence[object] | None, features: Sequence[str]) -> np.ndarray | None:
    """Indices that put the schema's columns in the order the model was trained on, when
    it knows its features' names (``feature_names_in_``, a booster's names).

    None when no reordering is needed; a model naming other features is refused.
    """
    if names is None or not len(names) or [str(n) for n in names] == list(features):
        return None
    trained = [str(name) for name in names]
    if sorted(trained) != sorted(features):
        raise ModelDefinitionError(
            f"the model's features ({', '.join(trained)}) are not the schema's"
            f" ({', '.join(features)})",
            hint="name the schema's features as the model was trained on them",
        )
    position = {name: index for index, name in enumerate(features)}
    return np.array([position[name] for name in trained])


def is_sklearn(model: Any, names: Sequence[str]) -> bool:
    """An instance of one of scikit-learn's classes ``names`` (subclasses included),
    asked by name so that scikit-learn is never imported to ask."""
    return any(
        cls.__module__.startswith("sklearn.") and cls.__name__ in names
        for cls in type(model).__mro__
    )
