"""The function form: a module-level ``predict(data)`` loaded once, called per batch, and
every way it can be wrong refused at load with the file and the fix."""

from __future__ import annotations

import json
from pathlib import Path

import pandas as pd
import pytest
from click.testing import CliRunner

from nervosum.cli import main
from nervosum.errors import ModelDefinitionError
from nervosum.model.handle import ModelHandle
from nervosum.project import load_config
from tests.conftest import PROJECTS, ProjectFactory

FUNCTION = PROJECTS / "function"
NATIVE = "name: f\nmodel: {module: scoring, function: predict}\n"


def load_error(folder: Path) -> ModelDefinitionError:
    with pytest.raises(ModelDefinitionError) as info:
        ModelHandle.load(load_config(folder))
    return info.value


def test_function_is_called_with_the_frame_and_its_columns_become_outputs() -> None:
    handle = ModelHandle.load(load_config(FUNCTION))

    assert handle.label == "model.model.predict"
    assert handle.loaded.source == FUNCTION / "model" / "model.py"
    assert not handle.per_record and not handle.is_classifier
    frame = pd.DataFrame({"x": [0.2, 3.0, 0.7]})
    assert handle.predict(frame) == [{"prediction": 0}, {"prediction": 1}, {"prediction": 1}]


def test_native_spelling_and_parameters_with_defaults(make_project: ProjectFactory) -> None:
    folder = make_project(
        NATIVE,
        {"scoring.py": "def predict(data, scale=2):\n    return (data['x'] * scale).tolist()\n"},
    )

    handle = ModelHandle.load(load_config(folder))

    assert handle.predict(pd.DataFrame({"x": [1.5, 4.0]})) == [
        {"prediction": 3.0},
        {"prediction": 8.0},
    ]


@pytest.mark.parametrize(
    ("code", "message", "hint"),
    [
        (
            "def predcit(data):\n    return data\n",
            "FILE has no function 'predict'",
            "did you mean 'predcit'?",
        ),
        ("x = 1\n", "FILE has no function 'predict'", "define `def predict(data)` in it"),
        (
            "class predict:\n    pass\n",
            "scoring.predict (FILE) is a class, not a function",
            "name it as model.class (interface.model_class) instead of model.function",
        ),
        (
            "predict = 3\n",
            "scoring.predict (FILE) is a int, which is not callable",
            "model.function names a module-level `def predict(data)`",
        ),
        (
            "def predict(model, data):\n    return data\n",
            "scoring.predict(model, data) (FILE) cannot be called with one argument; nervosum "
            "passes it one DataFrame",
            "give its other parameters defaults, or name a one-argument function that calls "
            "it in model.function",
        ),
    ],
)
def test_a_wrong_function_is_refused_at_load_with_the_fix(
    make_project: ProjectFactory, code: str, message: str, hint: str
) -> None:
    folder = make_project(NATIVE, {"scoring.py": code})

    error = load_error(folder)

    assert error.message.replace(str(folder / "scoring.py"), "FILE") == message
    assert error.hint == hint


def test_an_error_at_import_names_the_user_line(make_project: ProjectFactory) -> None:
    folder = make_project(
        NATIVE, {"scoring.py": "def predict(data):\n    return data\n\n\nstate = 1 / 0\n"}
    )

    error = load_error(folder)

    assert "importing 'scoring' raised ZeroDivisionError" in error.message
    assert "scoring.py:5" in error.message


def test_a_missing_module_of_the_project_is_named_as_its_file(
    make_project: ProjectFactory,
) -> None:
    """A package of the project without the file a module imports: nothing to install."""
    code = "from helpers.scaling import scale\n\n\ndef predict(data):\n    return data\n"
    folder = make_project(NATIVE, {"scoring.py": code, "helpers/__init__.py": ""})

    error = load_error(folder)

    assert error.message == (
        f"importing 'scoring' failed: helpers/scaling.py not found (at {folder}/scoring.py:1)"
    )
    assert error.hint == "restore helpers/scaling.py, or change the import"


def test_predict_command_answers_with_the_function() -> None:
    result = CliRunner().invoke(main, ["predict", str(FUNCTION)], input='[{"x": 1}, {"x": 0}]')

    assert result.exit_code == 0, result.output
    assert json.loads(result.stdout) == [{"prediction": 1}, {"prediction": 0}]
