"""The exact explainer: contributions from a tree library, checked and shaped once."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass

import numpy as np

from nervosum.errors import ModelDefinitionError
from nervosum.explain.attributions import Attributions, check_rows

__all__ = ["Contributions", "ExactExplainer", "check_width", "class_names"]

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
    exact: bool = True

    def explain(self, rows: np.ndarray) -> Attributions:
        array = check_rows(rows, self.features)
        # The base comes with the contributions, so an empty block borrows one row for it.
        probe = array if len(array) else np.zeros((1, len(self.features)))
        if self.prepare is not None:
            probe = self.prepare(probe)
        base, values = self.contributions(probe)
        values = np.asarray(values, dtype=np.float64).reshape(len(probe), len(self.features), -1)
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
