"""The call nervosum makes on a model read from a file: one ``run`` per batch.

A :class:`Runner` says what it takes (a typed DataFrame in schema order, or one 2-D
numpy array in schema order, which skips building a DataFrame per batch) and answers
predictions and, when asked and the model is a classifier, class probabilities from the
same call, so a compiled model runs once per batch however much is asked of it.
"""

from __future__ import annotations

from typing import Any, Literal, Protocol

import numpy as np

Takes = Literal["frame", "array"]


class Runner(Protocol):
    """A model file's model behind one call (the original library's, or ONNX Runtime)."""

    @property
    def takes(self) -> Takes:
        """``array``: a 2-D array of :attr:`dtype` in schema order; ``frame``: a DataFrame
        with schema-ordered, typed columns."""

    @property
    def dtype(self) -> np.dtype[Any]:
        """The array's element type when :attr:`takes` is ``array``."""

    @property
    def classes(self) -> tuple[str, ...] | None:
        """Class labels in probability-column order; None for a regressor."""

    @property
    def runtime(self) -> str:
        """What runs it, for /info and the startup log: ``onnxruntime 1.20.1``, ..."""

    @property
    def thread_safe(self) -> bool:
        """Whether :meth:`run` may be called from any thread, not only the model thread
        (ONNX Runtime's sessions may): a server then runs its quick batches on the event
        loop, without the two thread hops (predict/batcher.py)."""

    def run(self, inputs: Any, proba: bool) -> tuple[Any, np.ndarray | None]:
        """(one prediction per row, a (rows, classes) probability array or None).

        Probabilities are computed only when ``proba`` is true and the model is a
        classifier."""
