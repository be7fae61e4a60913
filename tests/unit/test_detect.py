"""Inferring nervosum.yaml for a folder without one: the function detector and the
dispatcher, read from files (nothing of the folder is imported)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from click.testing import CliRunner

from nervosum.cli import main
from nervosum.detect import detect_project, infer
from nervosum.detect.function import detect
from nervosum.errors import ConfigError
from nervosum.project import load_config

MODEL = "import joblib\n\n\ndef predict(data):\n    return trained.predict(data)\n\n\n" + (
    "trained = joblib.load('never run: detection reads, it does not import')\n"
)
ROUTE = "@app.route('/predict')\ndef predict():\n    return {}\n"
SCHEMA = {
    "input": [{"name": "a", "type": "float64"}, {"name": "b", "type": "object"}],
    "output": {"prediction": "int64"},
}


def write(folder: Path, files: dict[str, str]) -> Path:
    for relative, text in files.items():
        path = folder / relative
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text)
    return folder


def saved(version: str, schema: object = SCHEMA) -> dict[str, str]:
    """A version folder as the proof of concept's training script leaves it."""
    return {
        f"models/{version}/model.joblib": "",
        f"models/{version}/schema.json": json.dumps(schema),
        f"models/{version}/metadata.json": "{}",
    }


def test_module_schema_tag_and_requirements_are_inferred(tmp_path: Path) -> None:
    folder = write(
        tmp_path / "poc",
        {
            "model/model.py": MODEL,
            "wrapper/main.py": ROUTE,  # the Flask route is not the model
            "requirements.txt": "pandas\n",
            **saved("1600000000", {"input": [{"name": "old", "type": "int64"}]}),
            **saved("1700000000"),
        },
    )

    assert detect(folder) == {
        "name": "poc",
        "tag": "1700000000",
        "model": {"module": "model.model", "function": "predict"},
        "requirements": "requirements.txt",
        "input_schema": [{"name": "a", "type": "float"}, {"name": "b", "type": "str"}],
        "output_schema": [{"name": "prediction", "type": "int"}],
    }


def test_without_a_saved_schema_the_model_is_still_found(tmp_path: Path) -> None:
    folder = write(
        tmp_path / "bare",
        {"scoring.py": "def predict(data, scale=2):\n    return data\n", "schema.json": "{}"},
    )

    assert detect(folder) == {
        "name": "bare",
        "tag": "latest",
        "model": {"module": "scoring", "function": "predict"},
    }


@pytest.mark.parametrize(
    "files",
    [
        {"wrapper/main.py": ROUTE},
        {"main.py": "@app.route('/<version>/predict')\ndef predict(version):\n    return {}\n"},
        {"api.py": "@router.post('/predict')\nasync def predict(body):\n    return {}\n"},
        {"api.py": "@app.post('/predict')\ndef predict(body):\n    return {}\n"},
        {"app/model.py": "def predict(model, data):\n    return data\n"},
        {"model.py": "class Model:\n    def predict(self, data):\n        return data\n"},
        {"tests/helpers.py": MODEL, ".venv/lib/model.py": MODEL, "test_model.py": MODEL},
        {"broken.py": "def predict(data):\n  return data\n    oops\n"},
        {"my-model/model.py": MODEL},  # not importable by that path
    ],
)
def test_folders_without_a_module_level_predict_are_not_this_kind(
    tmp_path: Path, files: dict[str, str]
) -> None:
    assert detect(write(tmp_path / "other", files)) is None


def test_several_candidates_are_listed_with_the_fix(tmp_path: Path) -> None:
    folder = write(tmp_path / "two", {"a.py": MODEL, "pkg/b.py": MODEL})

    with pytest.raises(ConfigError) as info:
        detect(folder)

    assert [i.message for i in info.value.issues] == [
        "module 'a' defines a module-level predict(data)",
        "module 'pkg.b' defines a module-level predict(data)",
        "more than one module could be the model",
    ]
    assert info.value.issues[-1].hint == (
        "write nervosum.yaml naming one: model: {module: a, function: predict}"
    )


@pytest.mark.parametrize(
    ("schema", "where", "message"),
    [
        (
            {"input": [{"name": "a", "type": "complex128"}]},
            "input.0.type",
            "unknown type 'complex128'",
        ),
        ({"input": "a,b"}, "input", "is neither a list of {name, type} nor {name: type}"),
        ({"columns": []}, "", 'has no "input" list'),
    ],
)
def test_an_unusable_schema_file_is_named(
    tmp_path: Path, schema: object, where: str, message: str
) -> None:
    folder = write(tmp_path / "bad", {"model.py": MODEL, **saved("1", schema)})

    with pytest.raises(ConfigError) as info:
        detect(folder)

    (issue,) = info.value.issues
    assert info.value.filename == str(folder / "models" / "1" / "schema.json")
    assert issue.path == where
    assert issue.message.startswith(message)


def test_nothing_recognised_says_what_was_looked_for(tmp_path: Path) -> None:
    with pytest.raises(ConfigError) as info:
        detect_project(write(tmp_path / "empty", {"notes.txt": ""}))

    (issue,) = info.value.issues
    assert issue.message == (
        "no nervosum.yaml, and nothing nervosum recognises: looked for a microservice-template "
        "checkout (source/model/mdl.py) or an MLflow model folder (MLmodel) or a Python "
        "module with a module-level `def predict(data)` or one model file (.joblib, .pkl, "
        ".onnx, .ubj, ...)"
    )


def test_a_template_checkout_is_the_template_even_with_a_predict_function(
    tmp_path: Path,
) -> None:
    folder = write(
        tmp_path / "checkout",
        {
            "source/model/mdl.py": "class Model:\n    pass\n",
            "source/model/train.py": "",
            "source/features.py": "input_features = ['a']\n",
            "source/serve.py": MODEL,
        },
    )

    assert detect(folder) is not None
    assert detect_project(folder).kind == "template"


def test_init_detect_writes_a_file_that_loads_and_force_replaces_it(tmp_path: Path) -> None:
    folder = write(tmp_path / "poc", {"model/model.py": MODEL, **saved("7")})
    (folder / "nervosum.yaml").write_text("name: mine\n")
    runner = CliRunner()

    refused = runner.invoke(main, ["init", "--detect", str(folder)])
    kept = (folder / "nervosum.yaml").read_text()
    replaced = runner.invoke(main, ["init", "--detect", str(folder), "--force"])

    assert refused.exit_code == 2
    assert kept == "name: mine\n"
    assert replaced.exit_code == 0, replaced.output
    config = load_config(folder).config
    assert (config.name, config.tag, config.model_spec.function) == ("poc", "7", "predict")
    assert [f.type for f in config.input_schema] == ["float", "str"]


def test_init_detect_on_an_unrecognised_folder_exits_2(tmp_path: Path) -> None:
    result = CliRunner().invoke(main, ["init", "--detect", str(tmp_path)])

    assert result.exit_code == 2
    assert "or a Python module with a module-level `def predict(data)`" in result.stderr
    assert not (tmp_path / "nervosum.yaml").exists()


def test_infer_gives_none_for_an_unrecognised_folder(tmp_path: Path) -> None:
    assert infer(write(tmp_path / "empty", {"notes.txt": ""})) is None
    found = infer(write(tmp_path / "poc", {"model.py": MODEL}))
    assert found is not None
    assert (found.kind, found.config["model"]) == (
        "function",
        {"module": "model", "function": "predict"},
    )


DOUBLING = "def predict(data):\n    return (data['a'] * 2).tolist()\n"


def test_check_and_build_name_the_folder_and_what_the_settings_came_from(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Issue 19: no nervosum.yaml is named as read when the settings were inferred."""
    folder = write(tmp_path / "poc", {"model/model.py": DOUBLING})
    monkeypatch.setenv("NERVOSUM_HOME", str(tmp_path / "home"))
    shown = f"{folder.resolve()} (no nervosum.yaml; settings inferred from the module-level"
    runner = CliRunner()

    checked = runner.invoke(main, ["check", str(folder)])
    built = runner.invoke(main, ["build", str(folder), "--no-image"])

    assert checked.exit_code == 0, checked.output
    assert f"ok {shown} predict(data) of model.model)\n" in checked.stdout
    assert built.exit_code == 0, built.output
    assert f"validated {shown} predict(data) of model.model)\n" in built.stderr
    assert "nervosum.yaml" not in (checked.output + built.output).replace("no nervosum.yaml", "")


def test_a_folder_name_that_is_no_project_name_becomes_one(tmp_path: Path) -> None:
    """Names must be safe file names (they name bundles), folders need not be."""
    folder = write(tmp_path / ".my model (v2)", {"scoring.py": MODEL})

    project = load_config(folder)

    assert project.config.name == "my-model-v2"
