"""A checkout of FlorianBorn/machine-learning-microservice-template, as published, with
no file added (issue 19): what nervosum infers from it, `check` on the published pickle,
`train` with the template's own Model, its /api routes and /ping, the logging switches,
the errors that point at the repository's files, and `build`.

The published files are in tests/data/seeds/FlorianBorn__machine-learning-microservice-template
(SOURCE.md); every test works on a copy in tmp_path.
"""

from __future__ import annotations

import json
import pickle
import re
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
import sklearn
import yaml
from click.testing import CliRunner
from sklearn.exceptions import InconsistentVersionWarning
from starlette.testclient import TestClient

from nervosum.cli import main
from nervosum.detect.template import LOGGING_KEYS, detect
from nervosum.engine import Engine
from nervosum.errors import ConfigError
from nervosum.project import load_config
from nervosum.serving.app import create_app
from tests.conftest import nervosum

SEED = Path(__file__).parents[1] / "data/seeds/FlorianBorn__machine-learning-microservice-template"
PUBLISHED_ID = "abab44ec-265d-4fde-9a5b-c166f478f09d"
EXAMPLE = json.loads((SEED / "tests/prediction/example_classification1.json").read_bytes())[0]
SWITCHES = LOGGING_KEYS


@pytest.fixture(autouse=True)
def _no_switches_from_the_machine(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in SWITCHES:
        monkeypatch.delenv(name, raising=False)


@pytest.fixture
def checkout(tmp_path: Path) -> Path:
    folder = tmp_path / "ml-template"
    shutil.copytree(SEED, folder, ignore=shutil.ignore_patterns("SOURCE.md"))
    return folder


def _train(folder: Path) -> Any:
    result = CliRunner().invoke(main, ["train", str(folder)])
    assert result.exit_code == 0, result.output
    return result


def test_the_published_layout_is_read_as_the_template_did(checkout: Path) -> None:
    assert detect(checkout) == {
        "name": "ml-template",
        "model": {"artifact": "model_bin/model.pkl"},
        "id_field": "ID",
        "input_schema": [
            {"name": "sepal_length", "type": "float", "example": 0.1},
            {"name": "sepal_width", "type": "float", "example": 0.2},
            {"name": "petal_length", "type": "float", "example": 0.5},
            {"name": "petal_width", "type": "float", "example": 0.3},
        ],
        "output_schema": [{"name": "species", "type": "str"}],
    }
    assert detect(checkout / "source") is None
    project = load_config(checkout)
    assert project.inferred and not project.config_path.exists()


def test_config_yaml_moves_the_model_and_the_id_field(checkout: Path) -> None:
    settings = checkout / "config.yaml"
    # Uncommented in place: the file ends with YAML's document end marker `...`.
    text = settings.read_text().replace('#model_path: "model_bin"', 'model_path: "models"')
    text = text.replace('#model_name: "model.pkl"', 'model_name: "clf.pkl"')
    settings.write_text(text.replace("#ID_NAME: ID", "ID_NAME: request_id"))
    mapping = detect(checkout)
    assert mapping is not None
    assert mapping["model"] == {"artifact": "models/clf.pkl"}
    assert mapping["id_field"] == "request_id"


def test_check_on_the_published_pickle(checkout: Path, home_env: dict[str, str]) -> None:
    """The pickle was saved with scikit-learn 0.22: today's loads it, with its warning, and
    check scores the repository's example request."""
    result = nervosum("check", str(checkout), env={**home_env, "COLUMNS": "200"})
    assert result.returncode == 0, result.stderr
    assert "InconsistentVersionWarning" in result.stderr
    assert "from version 0.22.2.post1" in result.stderr
    assert PUBLISHED_ID in result.stdout
    assert json.dumps(EXAMPLE, separators=(",", ":")) in result.stdout
    assert re.search(r"classes\s+0, 1, 2", result.stdout)


def test_the_published_pickle_serves_the_template_routes(checkout: Path) -> None:
    with pytest.warns(InconsistentVersionWarning):
        engine = Engine.load(load_config(checkout))
    assert engine.handle.identity.uuid == PUBLISHED_ID
    with TestClient(create_app(engine.project, engine=engine)) as client:
        proba = client.post("/api/proba_predictions", json=[EXAMPLE])
    assert proba.status_code == 200, proba.text
    (answer,) = proba.json()
    assert answer["class_names"] == ["0", "1", "2"]
    assert sum(answer["probabilities"]) == pytest.approx(1.0)


def test_train_runs_the_templates_own_model_and_serves_it(checkout: Path) -> None:
    result = _train(checkout)
    assert (
        "trained a classification model (DummyClassifier) on 120 of 150 rows; held out 30,"
        " stratified by species\n" in result.stdout
    )
    # The template's own example trains on load_iris' column names, not input_features.
    assert "warning: X from Preprocessor.split_X_y has the columns ['sepal length (cm)'" in (
        result.stderr
    )
    assert f"saved {checkout / 'model_bin/model.pkl'} (id " in result.stdout
    requirements = (checkout / "model_bin/model.requirements.txt").read_text()
    assert f"\nscikit-learn=={sklearn.__version__}\n" in requirements
    assert "fastapi" not in requirements
    engine = Engine.load(load_config(checkout))
    model = engine.handle.loaded.instance
    assert f"{type(model).__module__}.{type(model).__name__}" == "source.model.mdl.Model"
    assert model.classes == ["0", "1", "2"]
    assert re.fullmatch(r"\d{4}\.\d\d\.\d\d \d\d:\d\d:\d\d", model.creation_time)
    assert engine.handle.identity.uuid == model.id != PUBLISHED_ID
    # Plain pickle, as Model.export wrote it: the template's main.py loads it so.
    pickled = pickle.loads((checkout / "model_bin/model.pkl").read_bytes())
    assert type(pickled) is type(model)

    batch = (checkout / "tests/prediction/batch_request.json").read_bytes()
    headers = {"content-type": "application/json"}
    with TestClient(create_app(engine.project, engine=engine)) as client:
        ping = client.get("/ping")
        predictions = client.post("/api/predictions", content=batch, headers=headers)
        proba = client.post("/api/proba_predictions", json=[{"ID": "abc-1", **EXAMPLE}])
        one_object = client.post("/api/predictions", json=EXAMPLE)
    assert ping.json() == {"ping": "pong"}
    assert predictions.json() == [{"class_name": "0"}, {"class_name": "0"}]
    # DummyClassifier's default is now strategy "prior": the class shares of iris.
    assert proba.json() == [
        {"ID": "abc-1", "class_names": ["0", "1", "2"], "probabilities": [1 / 3, 1 / 3, 1 / 3]}
    ]
    assert one_object.status_code == 422
    assert one_object.json()["error"]["details"][0]["msg"] == "Input should be a valid list"


def test_a_checkout_with_a_written_nervosum_yaml_still_trains_its_model(checkout: Path) -> None:
    """`nervosum init --detect` writes the inferred settings; train keeps the template's way."""
    (checkout / "nervosum.yaml").write_text(yaml.safe_dump(detect(checkout)))
    _train(checkout)
    model = Engine.load(load_config(checkout)).handle.loaded.instance
    assert f"{type(model).__module__}.{type(model).__name__}" == "source.model.mdl.Model"


def test_fluentd_switches_come_from_env_file_and_environment(
    checkout: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """config/env.sample copied to .env, as the template's README says, then switched on;
    the environment wins over .env, as python-dotenv's load_dotenv left it."""
    sample = (checkout / "config/env.sample").read_text()
    (checkout / ".env").write_text(
        sample.replace("enable_fluentd_logging=False", "enable_fluentd_logging=True")
    )
    monkeypatch.setenv("fluentd_port", "24225")
    project = load_config(checkout)
    assert project.config.logging is not None
    (sink,) = project.config.logging.sinks
    assert (sink.type, sink.host, sink.port) == ("fluentd", "localhost", 24225)
    assert sink.tag == "machine-learning-microservice-template"
    assert project.config.logging.n_best == 2


def test_mongodb_switches_become_a_mongodb_sink(
    checkout: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    (checkout / ".env").write_text((checkout / "config/env.sample").read_text())
    monkeypatch.setenv("enable_mongodb_logging", "True")
    mapping = detect(checkout)
    assert mapping is not None
    logging = load_config(checkout).config.logging
    assert logging is not None
    (sink,) = logging.sinks
    assert (sink.type, sink.url, sink.database, sink.collection, sink.timezone) == (
        "mongodb",
        "mongodb://localhost:27017",
        "ml-service",
        "prediction_logs",
        "Europe/Berlin",
    )
    assert mapping["logging"] == {
        "sinks": [
            {
                "type": "mongodb",
                "url": "mongodb://localhost:27017",
                "database": "ml-service",
                "collection": "prediction_logs",
                "timezone": "Europe/Berlin",
            }
        ]
    }


def test_a_switch_that_is_not_true_or_false_names_its_source(
    checkout: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("enable_fluentd_logging", "yes")
    with pytest.raises(ConfigError) as caught:
        detect(checkout)
    assert str(caught.value) == (
        "the environment: enable_fluentd_logging='yes' is neither True nor False"
    )
    (checkout / ".env").write_text("enable_fluentd_logging=True\n")
    monkeypatch.delenv("enable_fluentd_logging")
    with pytest.raises(ConfigError) as caught:
        detect(checkout)
    assert str(caught.value).startswith(
        ".env: enable_fluentd_logging is True but fluentd_url is not set"
    )


def test_a_missing_features_file_is_named(checkout: Path) -> None:
    (checkout / "source/features.py").unlink()
    for command in ("train", "check"):
        result = CliRunner().invoke(main, [command, str(checkout)])
        assert result.exit_code == 2
        assert "source/features.py: file not found in" in result.stderr
        assert "install" not in result.stderr


def test_a_missing_module_of_the_project_is_a_missing_file(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The template's train.py in a `nervosum init --template training` project, which has
    features.yaml instead of source/features.py."""
    monkeypatch.chdir(tmp_path)
    runner = CliRunner()
    created = runner.invoke(main, ["init", "moved", "--template", "training"])
    assert created.exit_code == 0, created.output
    project = tmp_path / "moved"
    shutil.copyfile(SEED / "source/model/train.py", project / "source/model/train.py")
    result = runner.invoke(main, ["train", str(project)])
    assert result.exit_code == 2
    assert result.stderr.splitlines() == [
        f"error: source/features.py not found in {project.resolve()}, imported at"
        f" {project.resolve() / 'source/model/train.py'}:3",
        "hint: restore source/features.py (the template has one), or change the import",
    ]


def test_a_pickle_whose_project_module_is_missing_names_the_file(checkout: Path) -> None:
    """The published pickle holds the template's Model: without source/model/mdl.py (a
    written nervosum.yaml still serves the pickle) the file is named, not a package."""
    (checkout / "nervosum.yaml").write_text(yaml.safe_dump(detect(checkout)))
    (checkout / "source/model/mdl.py").unlink()
    result = CliRunner().invoke(main, ["check", str(checkout)])
    assert result.exit_code == 2
    assert result.stderr.splitlines()[-2:] == [
        f"error: artifact model.pkl needs the module 'source.model.mdl': source/model/mdl.py"
        f" is not in {checkout.resolve()}",
        "hint: restore source/model/mdl.py (the pickle refers to its classes)",
    ]


def test_features_are_read_without_running_them(checkout: Path) -> None:
    features = checkout / "source/features.py"
    text = features.read_text()
    features.write_text(text.replace('"sepal_length",', '"sepal_length", *more,'))
    with pytest.raises(ConfigError) as caught:
        detect(checkout)
    assert str(caught.value).startswith(
        "source/features.py:8: input_features must be a literal value"
    )
    typed = text.replace('"sepal_length",', '"sepal_length": str,').replace(
        '"sepal_width",\n    "petal_length",\n    "petal_width"',
        '"sepal_width": float, "petal_length": "float", "petal_width": "float64"',
    )
    features.write_text(
        typed.replace("input_features = [", "input_features = {").replace("] \n", "}\n")
    )
    mapping = detect(checkout)
    assert mapping is not None
    assert [(f["name"], f["type"]) for f in mapping["input_schema"]] == [
        ("sepal_length", "str"),
        ("sepal_width", "float"),
        ("petal_length", "float"),
        ("petal_width", "float"),
    ]


@pytest.mark.slow
def test_build_bundles_what_the_trained_model_needs(
    checkout: Path, home_env: dict[str, str]
) -> None:
    """The template's requirements.txt (numpy==1.18.3, fastapi, pylint, ...) is not the
    bundle's: model.requirements.txt, written by train, is."""
    _train(checkout)
    (checkout / ".env").write_text("enable_fluentd_logging=False\n")
    result = nervosum("build", str(checkout), "--no-image", env=home_env)
    assert result.returncode == 0, result.stderr
    (bundle,) = (Path(home_env["NERVOSUM_HOME"]) / "bundles").iterdir()
    manifest = json.loads((bundle / "manifest.json").read_text())
    assert manifest["name"] == "ml-template"
    lock = (bundle / "requirements.lock").read_text()
    assert f"scikit-learn=={sklearn.__version__} " in lock
    assert "fastapi" not in lock and "pylint" not in lock
    served = load_config(bundle)
    assert served.inferred and served.config.name == "ml-template"
    # It may hold credentials; the bundle runs with the environment it is given.
    assert not (bundle / "app/.env").exists()
    assert (bundle / "app/config/env.sample").is_file()


def test_build_of_an_untrained_checkout_says_train_first(
    checkout: Path, home_env: dict[str, str]
) -> None:
    """The published model.pkl's needs were never recorded: a bundle of it would lack
    scikit-learn, so build refuses rather than ship a server that cannot load it."""
    result = CliRunner().invoke(main, ["build", str(checkout)], env=home_env)
    assert result.exit_code == 2, result.output
    assert "model_bin/model.requirements.txt: not found" in result.stderr
    assert f"(nervosum train {checkout} first:" in result.stderr
    assert not list((Path(home_env["NERVOSUM_HOME"]) / "bundles").glob("*"))


def test_build_of_a_written_nervosum_yaml_without_requirements_is_refused(
    checkout: Path, home_env: dict[str, str]
) -> None:
    """`init --detect` before `train` writes no requirements; build says what to add."""
    mapping = detect(checkout)
    assert mapping is not None and "requirements" not in mapping
    (checkout / "nervosum.yaml").write_text(yaml.safe_dump(mapping))
    (checkout / "model_bin/model.requirements.txt").write_text("scikit-learn\n")
    assert detect(checkout)["requirements"] == "model_bin/model.requirements.txt"  # type: ignore[index]
    result = CliRunner().invoke(main, ["build", str(checkout)], env=home_env)
    assert result.exit_code == 2, result.output
    assert "requirements is not set" in result.stderr
    assert "add `requirements: model_bin/model.requirements.txt`" in result.stderr


@pytest.mark.parametrize("source", [".env", "the environment"])
def test_a_password_in_mongo_db_url_is_named_at_its_source_and_never_shown(
    checkout: Path, monkeypatch: pytest.MonkeyPatch, source: str
) -> None:
    """The template built mongodb://{url}:{port}/, so `user:password@host` worked there;
    nervosum reads the password from MONGODB_PASSWORD only."""
    (checkout / ".env").write_text((checkout / "config/env.sample").read_text())
    monkeypatch.setenv("enable_mongodb_logging", "True")
    url = "admin:s3cr:et@db.example"
    if source == ".env":
        with (checkout / ".env").open("a") as env:
            env.write(f"\nmongo_db_url={url}\n")
    else:
        monkeypatch.setenv("mongo_db_url", url)
    with pytest.raises(ConfigError) as caught:
        detect(checkout)
    assert str(caught.value).startswith(f"{source}: mongo_db_url holds a password")
    result = CliRunner().invoke(main, ["check", str(checkout)])
    assert result.exit_code == 2
    assert "mongo_db_url=admin@db.example" in result.stderr
    assert "MONGODB_PASSWORD" in result.stderr
    assert "s3cr" not in result.output + result.stderr
    assert "nervosum.yaml" not in result.stderr


def test_a_user_in_mongo_db_url_stays_in_the_sinks_url(
    checkout: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    (checkout / ".env").write_text((checkout / "config/env.sample").read_text())
    monkeypatch.setenv("enable_mongodb_logging", "True")
    monkeypatch.setenv("mongo_db_url", "admin@db.example")
    logging = load_config(checkout).config.logging
    assert logging is not None
    assert logging.sinks[0].url == "mongodb://admin@db.example:27017"


def test_the_template_routes_do_not_import_the_trainer() -> None:
    """Serving knows the template's Model by its module name, which lives in the core
    (detect.template), not in the training front end."""
    code = (
        "import sys, nervosum.serving.template_routes;"
        "print('nervosum.training.template' in sys.modules)"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "False"
