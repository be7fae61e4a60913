"""Multi-model serving (``nervosum serve-repo``): model-serving-framework's repositories
unchanged, isolation of broken folders, refresh from a real git remote, and no failed
request while models are swapped."""

from __future__ import annotations

import shutil
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from prometheus_client.parser import text_string_to_metric_families
from starlette.testclient import TestClient

from nervosum.repo.app import create_repo_app
from nervosum.repo.fleet import ModelFleet
from nervosum.repo.sources import GitSource, LocalSource, Source
from tests.conftest import (
    EXAMPLES,
    IRIS_SETOSA,
    free_port,
    nervosum,
    spawned_nervosum,
    wait_ready,
)
from tests.integration.model_repos import (
    SEED_BODY,
    VERIFIED,
    Remote,
    write_constant,
    write_dummy_example,
    write_file,
)
from tests.integration.test_metrics import promtool_accepts

# The seed's model code opens its pickles without closing them (`pickle.load(open(...))`);
# the repositories are reproduced unchanged, so their leaked handles are not test failures.
pytestmark = pytest.mark.filterwarnings(
    "ignore::ResourceWarning", "ignore::pytest.PytestUnraisableExceptionWarning"
)


@pytest.fixture(scope="module")
def dummy_example(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The seed's DummyExample folder, trained once for the module."""
    return write_dummy_example(tmp_path_factory.mktemp("dummy") / "DummyExample")


@pytest.fixture
def seed_repo(tmp_path: Path, dummy_example: Path) -> Path:
    """A repository as the seed's users have them, with what broke the seed in it."""
    root = tmp_path / "models_serve"
    shutil.copytree(dummy_example, root / "DummyExample")
    write_constant(root / "etl1", "dummyExampleVersion", "etl1 wins", with_path=False)
    write_constant(root / "zeta", "zeta", 26)
    shutil.copytree(EXAMPLES / "iris", root / "iris", ignore=shutil.ignore_patterns("__pycache__"))
    # The seed's own example repository: a syntax error, and a load that raises.
    write_file(root / "broken" / "etls.py", "class transform_predict:\n    x = [1, 2\n")
    write_file(
        root / "model1" / "etls.py",
        """
        import pickle


        class transform_predict:
            def __init__(self, path="./"):
                self.variables = pickle.load(open(path + "variables.pkl", "rb"))

            def transform_predict(self, x):
                return {}
        """,
    )
    (root / "README.md").write_text("# models\n")
    (root / "notes").mkdir()
    (root / "notes" / "todo.txt").write_text("not a model\n")
    return root


def wait_refreshed(client: TestClient | httpx.Client, base: str, timeout: float = 60) -> dict:
    """Poll the last refresh's report until it is no longer running."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        report = client.get(f"/{base}/-/refresh").json()
        if report["status"] not in ("running", "never"):
            return dict(report)
        time.sleep(0.1)
    raise AssertionError(f"refresh still running after {timeout}s")


def repo_client(source: Source, base: str = "models_serve") -> TestClient:
    """The repository server in process; models load when the client's block starts."""
    return TestClient(create_repo_app(ModelFleet(source, base)))


def wait_started(client: TestClient) -> None:
    deadline = time.monotonic() + 60
    while client.get("/health/ready").status_code != 200:
        assert time.monotonic() < deadline, "models did not load in time"
        time.sleep(0.05)


@pytest.fixture
def served(seed_repo: Path) -> Iterator[TestClient]:
    with repo_client(LocalSource(seed_repo)) as client:
        wait_started(client)
        yield client


def seed_post(client: TestClient | httpx.Client, model: str, variables: object) -> httpx.Response:
    return client.post(f"/models_serve/{model}", json={"variables": variables})


def test_the_seed_dummy_example_gives_its_verified_answers(served: TestClient) -> None:
    for variables, expected in VERIFIED:
        response = seed_post(served, "DummyExample", variables)
        assert response.status_code == 200, response.text
        assert response.json() == {"dummyExample": expected, "dummyExampleVersion": "itWorks!"}
    # A list of variables is rows of one frame; the seed's model answers for the first.
    rows = seed_post(served, "DummyExample", [SEED_BODY, {}])
    assert rows.json()["dummyExample"] == 1


def test_every_model_folder_is_served_and_other_entries_are_ignored(served: TestClient) -> None:
    listing = served.get("/models").json()
    status = {m["name"]: m["status"] for m in listing["models"]}
    assert status == {
        "DummyExample": "ready",
        "broken": "failed",
        "etl1": "ready",
        "iris": "ready",
        "model1": "failed",
        "zeta": "ready",
    }
    entry = next(m for m in listing["models"] if m["name"] == "DummyExample")
    assert entry["kind"] == "etls" and entry["load_seconds"] > 0 and entry["loaded_at"]
    errors = {m["name"]: m.get("error", "") for m in listing["models"]}
    assert "broken/etls.py:2: syntax error" in errors["broken"]
    assert "variables.pkl" in errors["model1"] and "FileNotFoundError" in errors["model1"]
    assert served.get("/").text == "works!"
    assert served.get("/models_serve/").text == "works!"


def test_a_broken_folder_answers_503_with_its_error_and_the_others_keep_serving(
    served: TestClient,
) -> None:
    broken = seed_post(served, "broken", {})
    assert broken.status_code == 503
    assert broken.json()["error"]["type"] == "not_ready"
    assert "syntax error" in broken.json()["error"]["message"]
    assert seed_post(served, "zeta", {}).json() == {"zeta": 26, "rows": 1}


def test_all_merges_ready_models_in_folder_order_and_names_the_skipped(
    served: TestClient,
) -> None:
    merged = served.post("/models_serve/all", json={"variables": IRIS_SETOSA})
    assert merged.status_code == 200
    body = merged.json()
    # DummyExample then etl1: the later folder's key wins, as in the seed.
    assert body["dummyExampleVersion"] == "etl1 wins"
    assert body["dummyExample"] in (0, 1, 2) and body["zeta"] == 26
    assert body["prediction"] == 0  # iris (class 0, setosa): a nervosum.yaml model's record
    assert merged.headers["x-models-skipped"] == "broken,model1"
    by_model = served.post("/models_serve/all?by_model=true", json={"variables": IRIS_SETOSA})
    shown = by_model.json()
    assert list(shown) == ["DummyExample", "broken", "etl1", "iris", "model1", "zeta"]
    assert shown["etl1"] == {"dummyExampleVersion": "etl1 wins", "rows": 1}
    assert shown["broken"]["error"]["type"] == "not_ready"


def test_errors_are_json_and_name_what_was_wrong(served: TestClient) -> None:
    unknown = seed_post(served, "DummyExampel", {})
    assert unknown.status_code == 404
    assert "DummyExample" in unknown.json()["error"]["message"]
    assert served.get("/models_serve/DummyExample").status_code == 405
    missing = served.post("/models_serve/DummyExample", json={"vars": {}})
    assert missing.status_code == 422
    assert missing.json()["error"]["details"][0]["loc"] == ["variables"]
    wrong = served.post("/models_serve/DummyExample", json={"variables": 3})
    assert wrong.status_code == 422
    raised = seed_post(served, "zeta", {"explode": 1})
    assert raised.status_code == 500
    assert raised.json()["error"]["type"] == "prediction_error"
    assert raised.json()["error"]["error_id"]
    invalid = served.post(
        "/models_serve/zeta", content=b"{nope", headers={"content-type": "application/json"}
    )
    assert invalid.status_code == 400


def test_native_routes_use_the_single_model_contract(served: TestClient) -> None:
    iris = served.post("/models/iris/predict", json=[IRIS_SETOSA, IRIS_SETOSA])
    assert iris.status_code == 200
    assert [r["prediction"] for r in iris.json()] == [0, 0]
    assert iris.headers["x-request-id"]
    seeded = seed_post(served, "iris", IRIS_SETOSA)
    assert seeded.json()["prediction"] == 0
    rows = seed_post(served, "iris", [IRIS_SETOSA, IRIS_SETOSA]).json()
    assert [r["prediction"] for r in rows["predictions"]] == [0, 0]
    invalid = seed_post(served, "iris", {"sepal_length": "long"})
    assert invalid.status_code == 422
    one = served.get("/models/iris").json()
    assert one["status"] == "ready" and one["input_schema"]


def test_metrics_are_per_model_and_pass_promtool(served: TestClient) -> None:
    for _ in range(2):
        seed_post(served, "zeta", {})
    seed_post(served, "broken", {})
    served.post("/models/iris/predict", json=IRIS_SETOSA)
    page = served.get("/metrics").text
    promtool_accepts(page)
    requests: dict[tuple[str, str], float] = {}
    ready: dict[str, float] = {}
    for family in text_string_to_metric_families(page):
        for sample in family.samples:
            if sample.name == "nervosum_http_requests_total":
                key = (sample.labels["model"], sample.labels["status"])
                requests[key] = requests.get(key, 0) + sample.value
            if sample.name == "nervosum_model_ready":
                ready[sample.labels["model"]] = sample.value
    assert requests[("zeta", "200")] == 2
    assert requests[("iris", "200")] == 1
    assert requests[("broken", "503")] == 1  # counted for the model that could not answer
    assert ready["iris"] == 1 and ready["broken"] == 0 and ready["model1"] == 0
    assert "nervosum_predictions_total" in page  # iris, a classifier, counts its classes


def test_the_v2_repository_extension_lists_loads_and_unloads(served: TestClient) -> None:
    index = served.post("/v2/repository/index", json={}).json()
    states = {entry["name"]: entry["state"] for entry in index}
    assert states["iris"] == "READY" and states["broken"] == "UNAVAILABLE"
    ready_only = served.post("/v2/repository/index", json={"ready": True}).json()
    assert "broken" not in {entry["name"] for entry in ready_only}
    assert served.post("/v2/repository/models/zeta/unload").status_code == 200
    unloaded = seed_post(served, "zeta", {})
    assert unloaded.status_code == 503 and "unloaded" in unloaded.json()["error"]["message"]
    assert served.post("/v2/repository/models/zeta/load").status_code == 200
    assert seed_post(served, "zeta", {}).status_code == 200
    assert served.post("/v2/repository/models/nothere/load").status_code == 404
    assert served.post("/v2/repository/models/broken/load").status_code == 503


def test_a_changed_local_folder_is_reloaded_by_the_watcher(seed_repo: Path) -> None:
    fleet = ModelFleet(LocalSource(seed_repo), "models_serve")
    with TestClient(create_repo_app(fleet, watch_interval=0.2)) as client:
        wait_started(client)
        write_constant(seed_repo / "zeta", "zeta", 27)
        deadline = time.monotonic() + 30
        while seed_post(client, "zeta", {}).json().get("zeta") != 27:
            assert time.monotonic() < deadline, "the changed model was not reloaded"
            time.sleep(0.1)
        report = client.get("/models_serve/-/refresh").json()
        assert report["reason"] == "change" and report["updated"] == ["zeta"]


@pytest.fixture
def remote(tmp_path: Path) -> Remote:
    remote = Remote(tmp_path / "git")
    write_constant(remote.work / "alpha", "alpha", 1)
    remote.push("alpha")
    return remote


def test_a_git_refresh_adds_updates_and_removes_models_and_keeps_old_versions_on_failure(
    remote: Remote, tmp_path: Path
) -> None:
    source = GitSource(remote.url, tmp_path / "checkouts", branch="main")
    with repo_client(source) as client:
        wait_started(client)
        assert seed_post(client, "alpha", {}).json() == {"alpha": 1, "rows": 1}
        first = client.get("/models").json()["models"][0]["version"]

        write_constant(remote.work / "beta", "beta", 2)
        commit = remote.push("add beta")
        started = client.post("/models_serve/-/refresh")
        assert started.status_code == 202 and started.json()["refresh_id"]
        report = wait_refreshed(client, "models_serve")
        assert report["status"] == "done" and report["version"] == commit
        assert report["added"] == ["beta"] and report["unchanged"] == ["alpha"]
        assert seed_post(client, "beta", {}).json() == {"beta": 2, "rows": 1}
        # alpha's folder did not change: it was not reloaded and keeps its version
        assert client.get("/models/alpha").json()["version"] == first

        write_file(remote.work / "alpha" / "etls.py", "class transform_predict(:\n")
        remote.push("break alpha")
        assert client.post("/models_serve/refactor").status_code == 202  # the seed's route
        report = wait_refreshed(client, "models_serve")
        assert report["failed"][0]["name"] == "alpha"
        assert seed_post(client, "alpha", {}).json() == {"alpha": 1, "rows": 1}
        alpha = client.get("/models/alpha").json()
        assert alpha["status"] == "ready" and "syntax error" in alpha["error"]

        remote.remove("beta")
        remote.push("remove beta")
        client.post("/models_serve/-/refresh")
        assert wait_refreshed(client, "models_serve")["removed"] == ["beta"]
        assert seed_post(client, "beta", {}).status_code == 404
    # Checkouts no model comes from any more are deleted; the last one stays until exit.
    assert len(list((tmp_path / "checkouts").iterdir())) <= 2


def test_a_failed_fetch_keeps_every_model_serving(remote: Remote, tmp_path: Path) -> None:
    source = GitSource(remote.url, tmp_path / "checkouts", branch="main")
    with repo_client(source) as client:
        wait_started(client)
        shutil.move(remote.bare, tmp_path / "gone.git")
        client.post("/models_serve/-/refresh")
        report = wait_refreshed(client, "models_serve")
        assert report["status"] == "failed" and "git ls-remote" in report["error"]
        assert seed_post(client, "alpha", {}).json() == {"alpha": 1, "rows": 1}


def test_requests_during_refreshes_never_fail(remote: Remote, tmp_path: Path) -> None:
    """A real server under load from four threads while alpha is updated three times."""
    port = free_port()
    env_args = ("--port", str(port), "--base-url", "models_serve", "--refresh", "off")
    workdir = ("--workdir", str(tmp_path / "checkouts"))
    with spawned_nervosum("serve-repo", remote.url, *env_args, *workdir, port=port) as server:
        wait_ready(server)
        failures: list[str] = []
        seen: set[int] = set()
        stop = threading.Event()

        def hammer() -> None:
            with httpx.Client(base_url=server.url, timeout=30) as client:
                while not stop.is_set():
                    response = seed_post(client, "alpha", {})
                    if response.status_code != 200:
                        failures.append(f"{response.status_code} {response.text}")
                    else:
                        seen.add(response.json()["alpha"])

        threads = [threading.Thread(target=hammer) for _ in range(4)]
        for thread in threads:
            thread.start()
        try:
            with httpx.Client(base_url=server.url, timeout=30) as admin:
                for value in (2, 3, 4):
                    write_constant(remote.work / "alpha", "alpha", value)
                    remote.push(f"alpha {value}")
                    admin.post("/models_serve/-/refresh")
                    assert wait_refreshed(admin, "models_serve")["updated"] == ["alpha"]
                    time.sleep(0.3)
        finally:
            stop.set()
            for thread in threads:
                thread.join()
        assert failures == []
        assert seen == {1, 2, 3, 4}


def test_the_cli_explains_bad_usage_in_one_line(tmp_path: Path, home_env: dict[str, str]) -> None:
    missing = nervosum("serve-repo", str(tmp_path / "nope"), env=home_env)
    assert missing.returncode == 2 and "does not exist" in missing.stderr
    none = nervosum("serve-repo", env={k: v for k, v in home_env.items() if k != "gitPath"})
    assert none.returncode == 2 and "no model repository" in none.stderr
    cron = nervosum("serve-repo", str(tmp_path), "--refresh", "0 2 * *", env=home_env)
    assert cron.returncode == 2 and "4 fields" in cron.stderr
    clone = nervosum("serve-repo", (tmp_path / "absent.git").as_uri(), env=home_env)
    assert clone.returncode == 1 and "git ls-remote" in clone.stderr


def test_the_seed_environment_variables_configure_the_server(
    seed_repo: Path, home_env: dict[str, str]
) -> None:
    port = free_port()
    env = {**home_env, "gitPath": str(seed_repo), "baseUrl": "scoring", "DAEMONSECS": "0.5"}
    with spawned_nervosum("serve-repo", "--port", str(port), env=env, port=port) as server:
        wait_ready(server)
        with httpx.Client(base_url=server.url, timeout=30) as client:
            answer = client.post("/scoring/DummyExample", json={"variables": SEED_BODY})
            assert answer.json()["dummyExample"] == 1
            assert client.get("/scoring/").text == "works!"


def test_a_missing_package_says_serve_repo_installs_nothing(tmp_path: Path) -> None:
    """serve-repo reads no requirements file: the hint says where to install instead."""
    root = tmp_path / "models_serve"
    uses = "import nervosum_absent_package\n\n\nclass transform_predict:\n    pass\n"
    write_file(root / "listed" / "etls.py", uses)
    (root / "listed" / "requirements.txt").write_text("nervosum-absent-package>=1\n")
    write_file(root / "unlisted" / "etls.py", uses)
    write_file(root / "own" / "etls.py", "import helpers\n\n\nclass transform_predict:\n    pass\n")
    write_file(root / "own" / "helpers" / "__init__.py", "import nervosum_absent_package\n")
    write_constant(root / "zeta", "zeta", 26)
    with repo_client(LocalSource(root)) as client:
        wait_started(client)
        errors = {m["name"]: m.get("error") for m in client.get("/models").json()["models"]}
        answer = seed_post(client, "listed", {})
        assert seed_post(client, "zeta", {}).json() == {"zeta": 26, "rows": 1}
    assert answer.status_code == 503
    assert answer.json()["error"]["message"] == f"model listed failed to load: {errors['listed']}"
    installs = "(hint: serve-repo installs no packages and reads no requirements file: install"
    assert errors["listed"].endswith(
        f"{installs} listed/requirements.txt into the environment serve-repo runs in"
        " (pip install -r listed/requirements.txt), then refresh)"
    )
    unlisted = (
        f"{installs} the package that provides 'nervosum_absent_package' into the environment"
        " serve-repo runs in, then refresh)"
    )
    assert errors["unlisted"].endswith(unlisted)
    # A package of the folder's own importing a missing one is still a missing package.
    assert errors["own"].endswith(unlisted)
