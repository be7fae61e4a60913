"""ormenesse/models_serve, model-serving-framework's example repository, as published
(tests/data/seeds/ormenesse__models_serve, byte for byte): ``nervosum serve-repo``
serves it unchanged, and each upstream defect answers 503 naming its cause while the
other folders serve; with the smallest fix (the ``variables.pkl`` never committed),
model1 predicts."""

from __future__ import annotations

import pickle
import shutil
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from starlette.testclient import TestClient

from nervosum.repo.sources import LocalSource
from tests.conftest import free_port, spawned_nervosum, wait_ready
from tests.integration.model_repos import FEATURES, SEED_BODY
from tests.integration.test_serve_repo import repo_client, seed_post, wait_started

SEED = Path(__file__).parents[1] / "data" / "seeds" / "ormenesse__models_serve"
FOLDERS = ["etl1", "model1", "model2"]

# The users' pickles were made with older numpy and scikit-learn; loading them warns
# (numpy.core renamed, estimator versions), which is theirs to act on, not a failure.
pytestmark = pytest.mark.filterwarnings(
    "ignore:numpy.core:DeprecationWarning",
    "ignore::UserWarning",
)


@pytest.fixture
def published(tmp_path: Path) -> Path:
    """The repository as published, in a folder of its own (the test data stays clean)."""
    root = tmp_path / "models_serve"
    shutil.copytree(SEED, root, ignore=shutil.ignore_patterns("SOURCE.md"))
    return root


@pytest.fixture
def served(published: Path) -> Iterator[TestClient]:
    with repo_client(LocalSource(published)) as client:
        wait_started(client)
        yield client


def test_every_folder_is_found_and_each_defect_is_named(served: TestClient) -> None:
    models = {m["name"]: m for m in served.get("/models").json()["models"]}
    assert sorted(models) == FOLDERS
    assert {name: m["status"] for name, m in models.items()} == dict.fromkeys(FOLDERS, "failed")
    # etl1: the syntax error committed upstream, with its file and line.
    assert "etl1/etls.py:18: syntax error: '[' was never closed" in models["etl1"]["error"]
    # model1, model2: the variables.pkl that was never committed.
    for name in ("model1", "model2"):
        error = models[name]["error"]
        assert "FileNotFoundError" in error and f"{name}/variables.pkl" in error, error
        assert f"{name}/etls.py:9)" in error  # the line that opens it


@pytest.mark.parametrize("name", FOLDERS)
def test_each_broken_folder_answers_503_with_its_cause(served: TestClient, name: str) -> None:
    answer = seed_post(served, name, SEED_BODY)
    assert answer.status_code == 503
    error = answer.json()["error"]
    assert error["type"] == "not_ready"
    cause = "syntax error" if name == "etl1" else "variables.pkl"
    assert error["message"].startswith(f"model {name} failed to load: ")
    assert cause in error["message"]


def variables_the_model_expects(folder: Path) -> list[str]:
    """What model1/etls.py needs in variables.pkl: the features its LightGBM model was
    trained on, in order (the model keeps their names)."""
    with (folder / "model.pkl").open("rb") as handle:
        model = pickle.load(handle)
    return list(model.feature_name_)


def test_with_the_missing_variables_pkl_model1_predicts_and_the_others_still_fail(
    published: Path,
) -> None:
    expected = variables_the_model_expects(published / "model1")
    assert expected == FEATURES  # summary.amount_00_cpf ... summary.amount_05_cpf
    with (published / "model1" / "variables.pkl").open("wb") as handle:
        pickle.dump(expected, handle)
    with repo_client(LocalSource(published)) as client:
        wait_started(client)
        status = {m["name"]: m["status"] for m in client.get("/models").json()["models"]}
        answer = seed_post(client, "model1", SEED_BODY)
        empty = seed_post(client, "model1", {})
        merged = client.post("/models_serve/all", json={"variables": SEED_BODY})
        still_broken = seed_post(client, "model2", SEED_BODY)
    assert status == {"etl1": "failed", "model1": "ready", "model2": "failed"}
    assert answer.status_code == 200, answer.text
    # What the folder's own transform_predict computes with the users' model (class 2 of
    # 0/1/2 for both bodies, checked by running etls.py's steps on model.pkl directly).
    assert answer.json() == {"model1": 2, "model1Version": "202208_1.0"}
    assert empty.status_code == 200 and empty.json()["model1"] == 2
    assert merged.status_code == 200 and merged.json()["model1"] == 2
    assert still_broken.status_code == 503


@pytest.mark.slow
def test_the_command_serves_the_published_folder(published: Path) -> None:
    port = free_port()
    with spawned_nervosum("serve-repo", str(published), "--port", str(port), port=port) as server:
        wait_ready(server)
        with httpx.Client(base_url=server.url, timeout=30) as client:
            models = client.get("/models").json()["models"]
            answer = seed_post(client, "model2", SEED_BODY)
    assert [m["status"] for m in models] == ["failed"] * 3
    assert answer.status_code == 503 and "variables.pkl" in answer.json()["error"]["message"]
