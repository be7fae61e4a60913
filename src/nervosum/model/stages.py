"""``stages.json``: the contract between a notebooks build and the service that serves it.

nachlass (seed 002) wrote a JSON list of ``[notebook, saved stage]`` pairs, one per
notebook in build order, and served the stages chained as a scikit-learn ``Pipeline``
whose step names are the notebook names. The same file, written the same way, is what
``model: {artifact: stages.json}`` loads, so a folder built by nachlass's assemble
script serves unchanged.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Sequence
from pathlib import Path, PurePath
from typing import Any

import pandas as pd

from nervosum.errors import InputValidationError, ModelDefinitionError

STAGES_FILE = "stages.json"
STAGE_SUFFIX = ".sav"

Stage = tuple[str, str]  # (notebook file name, saved stage file name)


def stage_file(notebook: str) -> str:
    """The file a notebook saves its stage to: ``<basename>.sav``, as nachlass named it."""
    return PurePath(notebook).stem + STAGE_SUFFIX


def write_stages(folder: Path, notebooks: Sequence[str]) -> Path:
    """Write ``folder/stages.json`` for ``notebooks`` (build order); return its path."""
    stages = [[PurePath(nb).name, stage_file(nb)] for nb in notebooks]
    path = folder / STAGES_FILE
    path.write_text(json.dumps(stages) + "\n", encoding="utf-8")
    return path


def _invalid(path: Path, why: str) -> ModelDefinitionError:
    return ModelDefinitionError(
        f"{path} is not a stages file: {why}",
        hint='it holds [["<notebook>.ipynb", "<basename>.sav"], ...], as `nervosum notebooks'
        " build` writes it",
    )


def read_stages(path: Path) -> list[Stage]:
    """The ``(notebook, stage file)`` pairs of ``path``, in order; a readable error for a
    missing, malformed or empty file, or a stage file that is not beside it."""
    try:
        value = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise ModelDefinitionError(
            f"{path} does not exist",
            hint="build the notebooks again: `nervosum notebooks build` writes it",
        ) from None
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise _invalid(path, str(exc)) from None
    if not isinstance(value, list) or not value:
        raise _invalid(path, "expected a non-empty JSON list of pairs")
    stages: list[Stage] = []
    for index, pair in enumerate(value):
        if not (
            isinstance(pair, list) and len(pair) == 2 and all(isinstance(p, str) for p in pair)
        ):
            raise _invalid(path, f"item {index} is {json.dumps(pair)}, not a pair of file names")
        notebook, saved = pair
        if PurePath(saved).name != saved or saved in ("", ".", ".."):
            raise _invalid(path, f"stage file {saved!r} must be a file name beside {path.name}")
        stages.append((notebook, saved))
    return stages


def load_stages(path: Path, load: Callable[[Path], Any]) -> Any:
    """The stages of ``path`` chained as a ``Pipeline`` (step names = notebook names);
    ``load`` reads one saved stage (cloudpickle files are ordinary pickles to it)."""
    from sklearn.pipeline import Pipeline

    steps: list[tuple[str, Any]] = []
    for notebook, saved in read_stages(path):
        stage_path = path.parent / saved
        if not stage_path.is_file():
            raise ModelDefinitionError(
                f"stage {saved} of {notebook} (listed in {path}) does not exist",
                hint=f"the notebook must save its stage to $S2I_PIPELINE_STAGE_SAVE_FILE ({saved})",
            )
        steps.append((notebook, load(stage_path)))
    for notebook, stage in steps[:-1]:
        if not callable(getattr(stage, "transform", None)):
            raise ModelDefinitionError(
                f"stage {notebook} ({type(stage).__name__}) has no transform method, so the"
                " stages after it cannot use its output",
                hint="every stage but the last must be a fitted transformer",
            )
    pipeline = Pipeline(steps)
    _require_fitted(pipeline)
    return pipeline


def _unfitted(pipeline: Any) -> list[tuple[str, Any]]:
    """The path (step name, estimator) to what scikit-learn's ``check_is_fitted`` finds
    unfitted when ``pipeline`` predicts, or ``[]``: each pipeline checks its last real
    step before it runs, and a step that is a pipeline checks its own when it transforms.
    Only pipelines are checked: a stage of another class is called as it is, and whether
    it needs fitting is its own business."""
    from sklearn.exceptions import NotFittedError
    from sklearn.pipeline import Pipeline
    from sklearn.utils.validation import check_is_fitted

    for name, step in pipeline.steps:
        if isinstance(step, Pipeline) and (inner := _unfitted(step)):
            return [(name, step), *inner]
    try:
        check_is_fitted(pipeline)
    except NotFittedError:
        name, last = [(n, s) for n, s in pipeline.steps if s not in ("passthrough", None)][-1]
        return [(name, last)]
    return []


def _require_fitted(pipeline: Any) -> None:
    """A readable error for a stage that today's scikit-learn refuses to run unfitted.

    scikit-learn 0.22 (what nachlass-era notebooks pinned) let an unfitted pipeline
    transform; newer releases check first. ml-workflows' summaries notebook saves
    ``Pipeline([("features", SimpleSummaries())])`` unfitted, and its transformer learns
    nothing, so it has no fitted attributes: served as is, every request would fail.
    """
    path = _unfitted(pipeline)
    if not path:
        return
    import sklearn

    (notebook, stage), inner = path[0], path[1:]
    steps = " > ".join(f"{name!r} ({type(step).__name__})" for name, step in inner)
    where = f": its step {steps} has nothing fitted" if inner else ""
    culprit = type(path[-1][1]).__name__
    raise ModelDefinitionError(
        f"stage {notebook} ({type(stage).__name__}) is not fitted{where}, and scikit-learn"
        f" {sklearn.__version__} refuses to run an unfitted pipeline",
        hint=f"fit the stage before saving it; if {culprit} learns nothing in fit, give it"
        " `def __sklearn_is_fitted__(self): return True`",
    )


def frame_call(pipeline: Any, method: Callable[[Any], Any]) -> Callable[[pd.DataFrame], Any]:
    """``method`` of ``pipeline`` taking a one-column frame as that column, as nachlass
    squeezed its input.

    A text pipeline's first stage (a vectorizer, no ``feature_names_in_``) wants an
    iterable of texts and would read a frame's column names instead, answering wrong
    labels whatever the rows: its records must have exactly one field, anything else is
    refused with 422. A pipeline fitted on named columns gets the frame as it is.
    """
    if hasattr(pipeline, "feature_names_in_"):
        return method

    def called(frame: pd.DataFrame) -> Any:
        if frame.shape[1] != 1:
            fields = [str(c) for c in frame.columns]
            shown = f"{len(fields)} fields ({', '.join(fields)})" if fields else "no fields"
            message = (
                f"each record must have exactly one field (the text) for this pipeline,"
                f" whose first stage takes one value per record; got {shown}"
            )
            raise InputValidationError(
                message, details=[{"loc": [], "msg": message, "type": "one_field"}]
            )
        return method(frame.iloc[:, 0])

    return called
