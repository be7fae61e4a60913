"""One training run on tiny real projects: the order of the calls, the held-out split,
the metrics, and one readable error for each way the user's code can go wrong."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from nervosum.errors import ModelDefinitionError, NervosumError, RequestError
from nervosum.training import TrainedModel, train_project

FEATURES = """\
task: classification
target: label
id_field: key
features:
  - {name: x, type: float}
  - {name: n, type: int}
"""

DATA_LOADER = """\
import pandas as pd


class DataLoader:
    def load_data(self, n_rows=None):
        rows = 40 if n_rows is None else n_rows
        x = [i / 10 for i in range(rows)]
        label = ["low" if v < 2 else "high" for v in x]
        return pd.DataFrame({"x": x, "n": [i % 3 for i in range(rows)], "label": label})
"""

TRAIN = """\
from sklearn.tree import DecisionTreeClassifier

CALLS = []


class Preprocessor:
    def split_X_y(self, df):
        CALLS.append("split_X_y")
        return df[["x", "n"]], df[["label"]]

    def fit_X(self, X):
        CALLS.append(f"fit_X {len(X)}")
        self.offset = float(X["x"].mean())

    def fit_y(self, y):
        CALLS.append(f"fit_y {len(y)}")

    def process_X(self, X):
        CALLS.append(f"process_X {len(X)}")
        return X.assign(x=X["x"] - self.offset)

    def process_y(self, y):
        CALLS.append(f"process_y {len(y)}")
        return y


def train_model(X, y):
    CALLS.append(f"train_model {len(X)}")
    return DecisionTreeClassifier(random_state=0).fit(X, y["label"])


def get_classes(model):
    CALLS.append("get_classes")
    return [str(c) for c in model.classes_]
"""


def write_project(folder: Path, **replacements: tuple[str, str]) -> Path:
    """A tiny training project; ``features=(old, new)`` (or data_loader=, train=) edits a file."""
    files = {
        "features": ("features.yaml", FEATURES),
        "data_loader": ("source/data/data_loader.py", DATA_LOADER),
        "train": ("source/model/train.py", TRAIN),
    }
    for key, (relative, text) in files.items():
        old, new = replacements.get(key, ("", ""))
        path = folder / relative
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text.replace(old, new) if old else text, encoding="utf-8")
    for package in ("source", "source/data", "source/model"):
        (folder / package / "__init__.py").touch()
    return folder


def failure(folder: Path, **settings: object) -> NervosumError:
    with pytest.raises(NervosumError) as caught:
        train_project(folder, **settings)  # type: ignore[arg-type]
    return caught.value


def test_a_run_holds_out_rows_before_fitting_and_scores_them(tmp_path: Path) -> None:
    training = train_project(write_project(tmp_path), test_size=0.25, seed=3)
    artifact = training.artifact
    assert isinstance(artifact, TrainedModel)
    assert training.rows == 40 and training.stratified
    assert artifact.metrics["train_rows"] == 30 and artifact.metrics["test_rows"] == 10
    assert set(artifact.metrics) == {
        "accuracy",
        "f1_macro",
        "f1_weighted",
        "train_rows",
        "test_rows",
    }
    assert 0.0 <= artifact.metrics["accuracy"] <= 1.0
    from source.model.train import CALLS  # the project's module, as the run imported it

    # Fitted on the 30 training rows only; the 10 test rows are only processed.
    assert CALLS == [
        "split_X_y",
        "fit_X 30",
        "fit_y 30",
        "process_X 30",
        "process_y 30",
        "train_model 30",
        "get_classes",
        "process_X 10",
        "process_y 10",
        "process_X 10",
    ]
    assert artifact.task == "classification"
    assert artifact.classes == ["high", "low"]
    assert training.output_type == "str"
    assert artifact.features["target"] == "label"
    assert [f["name"] for f in artifact.features["features"]] == ["x", "n"]
    assert artifact.versions["scikit-learn"] and artifact.versions["python"]


def test_the_seed_makes_the_split_repeatable(tmp_path: Path) -> None:
    project = write_project(tmp_path)
    first = train_project(project, seed=5).artifact
    again = train_project(project, seed=5).artifact
    assert first.metrics == again.metrics
    assert first.id != again.id  # every run is a new model


def test_n_rows_is_passed_to_load_data(tmp_path: Path) -> None:
    training = train_project(write_project(tmp_path), n_rows=10, test_size=0.2)
    assert training.rows == 10
    assert training.artifact.metrics["test_rows"] == 2


def test_the_saved_object_predicts_through_the_preprocessor(tmp_path: Path) -> None:
    artifact = train_project(write_project(tmp_path)).artifact
    frame = pd.DataFrame({"x": [0.1, 3.5], "n": [0, 1]})
    assert list(artifact.predict(frame)) == ["low", "high"]
    proba = artifact.predict_proba(frame)
    assert proba.shape == (2, 2)
    assert np.allclose(proba.sum(axis=1), 1.0)


def regression_project(folder: Path) -> Path:
    """The tiny project turned into a regression of y = 3x."""
    project = write_project(
        folder,
        features=("task: classification\ntarget: label", "task: regression\ntarget: y"),
        data_loader=('"label": label', '"y": [v * 3 for v in x]'),
    )
    (project / "source/model/train.py").write_text(
        TRAIN.replace('df[["label"]]', 'df[["y"]]')
        .replace("DecisionTreeClassifier", "DecisionTreeRegressor")
        .replace('y["label"]', 'y["y"]'),
        encoding="utf-8",
    )
    return project


def test_a_regression_has_no_classes_and_regression_metrics(tmp_path: Path) -> None:
    project = regression_project(tmp_path)
    training = train_project(project)
    artifact = training.artifact
    assert artifact.classes is None and artifact.classes_ is None
    assert not training.stratified
    assert training.output_type == "float"
    assert set(artifact.metrics) == {"mae", "rmse", "r2", "train_rows", "test_rows"}
    assert artifact.metrics["mae"] < 1.0
    with pytest.raises(TypeError, match="a regression model has no class probabilities"):
        artifact.predict_proba(pd.DataFrame({"x": [1.0], "n": [1]}))


def test_a_rare_class_falls_back_to_a_plain_split(tmp_path: Path) -> None:
    # One row of its own class cannot be on both sides of a stratified split.
    project = write_project(tmp_path, data_loader=('"low" if v < 2', '"low" if v < 0.1'))
    training = train_project(project)
    assert not training.stratified
    assert training.artifact.metrics["test_rows"] == 8


@pytest.mark.parametrize(
    ("replacements", "message", "hint"),
    [
        (
            {"data_loader": ("class DataLoader", "class Loader")},
            "source/data/data_loader.py has no DataLoader",
            "did you mean 'Loader'?",
        ),
        (
            {"train": ("def fit_y(", "def fit_Y(")},
            "Preprocessor in ",
            "define `def fit_y(self, ...)`",
        ),
        (
            {"train": ("def get_classes(model):", "def classes(model):")},
            "source/model/train.py has no get_classes",
            "did you mean 'classes'?",
        ),
        (
            {"data_loader": ("rows = 40", "rows = 1 / 0")},
            "DataLoader.load_data raised ZeroDivisionError: division by zero (at ",
            None,
        ),
        (
            {"data_loader": ("return pd.DataFrame(", "return list(")},
            "DataLoader.load_data returned a list",
            "return a DataFrame of the features and the target, at least two rows",
        ),
        (
            {"train": ('return df[["x", "n"]], df[["label"]]', 'return df[["x"]], df[["label"]]')},
            "X from Preprocessor.split_X_y lacks ['n']",
            "requests carry exactly the features of features.yaml: list or drop columns",
        ),
        (
            {"train": ('return df[["x", "n"]], df[["label"]]', "return df")},
            "Preprocessor.split_X_y must return two values, X and y",
            "return df[features], df[[target]]",
        ),
        (
            {
                "train": (
                    'return df[["x", "n"]], df[["label"]]',
                    'return df[["x", "n", "label"]], df',
                )
            },
            "has columns features.yaml does not list: ['label']",
            None,
        ),
        (
            {"train": ("return [str(c) for c in model.classes_]", 'return ["only"]')},
            "get_classes returned 1 names for 2 probability columns",
            "return one name per predict_proba column",
        ),
        (
            {"train": ("return DecisionTreeClassifier", "return None and DecisionTreeClassifier")},
            "train_model returned a NoneType, which has no predict method",
            "return the fitted model",
        ),
        (
            {"train": ('return df[["x", "n"]], df[["label"]]', 'return df[["x", "n"]], None')},
            "Preprocessor.split_X_y returned y as a NoneType",
            "return the target as a one-column DataFrame",
        ),
        (
            {"train": ("return [str(c) for c in model.classes_]", "return None")},
            "get_classes returned None",
            "return a list of class names",
        ),
        (
            {"train": ("return [str(c) for c in model.classes_]", "return 3")},
            "get_classes returned a int, not a list of class names",
            "return a list of class names",
        ),
        (
            {
                "train": (
                    'def train_model(X, y):\n    CALLS.append(f"train_model {len(X)}")\n'
                    "    return DecisionTreeClassifier(",
                    "class Zero(DecisionTreeClassifier):\n"
                    "    def predict_proba(self, X):\n"
                    "        return 0.5\n\n\n"
                    "def train_model(X, y):\n    return Zero(",
                )
            },
            "predict_proba of Zero (returned by train_model) gave an array of shape ()",
            "(rows, classes) probabilities",
        ),
    ],
)
def test_each_broken_piece_is_one_readable_error(
    tmp_path: Path,
    replacements: dict[str, tuple[str, str]],
    message: str,
    hint: str | None,
) -> None:
    error = failure(write_project(tmp_path, **replacements))
    assert isinstance(error, ModelDefinitionError)
    assert message in error.message
    if hint is not None:
        assert error.hint is not None and hint in error.hint


def test_a_user_error_names_the_users_line(tmp_path: Path) -> None:
    error = failure(write_project(tmp_path, data_loader=("rows = 40", "rows = 1 / 0")))
    assert "source/data/data_loader.py:6)" in error.message


def test_a_classifier_without_probabilities_is_refused(tmp_path: Path) -> None:
    project = write_project(
        tmp_path,
        train=(
            "from sklearn.tree import DecisionTreeClassifier",
            "from sklearn.svm import LinearSVC as DecisionTreeClassifier",
        ),
    )
    (project / "source/model/train.py").write_text(
        (project / "source/model/train.py").read_text().replace("(random_state=0)", "()"),
        encoding="utf-8",
    )
    error = failure(project)
    assert error.message == "train_model returned a LinearSVC, which has no predict_proba"
    assert error.hint is not None and "CalibratedClassifierCV" in error.hint


def test_too_few_rows_to_split_is_a_request_error(tmp_path: Path) -> None:
    error = failure(write_project(tmp_path), n_rows=2, test_size=0.9)
    assert isinstance(error, RequestError)
    assert error.message.startswith("2 rows cannot be split into training and test rows")
    assert error.hint == "load more rows (--n-rows) or change --test-size"


def test_a_broken_features_file_stops_the_run_first(tmp_path: Path) -> None:
    project = write_project(tmp_path, features=("task: classification", "task: sorting"))
    error = failure(project)
    assert "features.yaml:1: task:" in error.message
