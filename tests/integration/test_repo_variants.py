"""Champion and challenger in `nervosum serve-repo` (docs/repo.md, "Champion and
challenger"), on live serve-repo processes with API keys: a folder's ``challenger/``
subfolder in shadow, a ``variants:`` canary, an ``etls.py`` pair on the seed route,
promotion and rollback per model, a challenger that fails to load, a refresh that
changes a challenger, and gRPC.

As in test_variants.py the champions answer "yes" to everything and the challengers
"yes" below 5 and "no" from 5 on, so an answer to x=7 says which model gave it.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import httpx
import numpy as np
import pytest
import tritonclient.grpc as triton

from nervosum.serving.arms import in_canary
from tests.conftest import LiveServer, free_port, spawned_nervosum, wait_ready
from tests.integration.model_repos import write_constant, write_file
from tests.integration.test_auth import Keys, make_keys
from tests.integration.test_grpc import GrpcServer, two_ports
from tests.integration.test_variants import ALWAYS_YES, BELOW_FIVE, BROKEN, CONFIG

BASE = "models_serve"


def write_model(folder: Path, tag: str, code: str, variants: str = "") -> None:
    """A nervosum.yaml model (``CONFIG``) in ``folder``."""
    write_file(folder / "nervosum.yaml", CONFIG.format(tag=tag, more=variants))
    write_file(folder / "model.py", code)


def repository(root: Path) -> Path:
    """Five folders: a shadow pair by subfolder, a canary pair by ``variants:``, an
    ``etls.py`` pair, a model alone, and a challenger that cannot load."""
    write_model(root / "shadowed", "v1", ALWAYS_YES)
    write_model(root / "shadowed" / "challenger", "v2", BELOW_FIVE)
    canary = "variants: {challenger: next, mode: canary, share: 30%}"
    write_model(root / "canaried", "v1", ALWAYS_YES, canary)
    write_model(root / "canaried" / "next", "v2", BELOW_FIVE)
    write_constant(root / "seeded", "answer", "one")
    write_constant(root / "seeded" / "challenger", "answer", "two")
    write_model(root / "plain", "v1", ALWAYS_YES)
    write_model(root / "unlucky", "v1", ALWAYS_YES)
    write_model(root / "unlucky" / "challenger", "v2", BROKEN)
    return root


def eventually(check: Callable[[], bool], timeout: float = 30) -> None:
    deadline = time.monotonic() + timeout
    while not check():
        assert time.monotonic() < deadline, "timed out"
        time.sleep(0.05)


def arms_of(client: httpx.Client, model: str) -> dict[str, Any]:
    report = client.get(f"/models/{model}/arms")
    assert report.status_code == 200, report.text
    return dict(report.json())


def statuses(client: httpx.Client, model: str) -> dict[str, str]:
    return {arm["arm"]: arm["status"] for arm in arms_of(client, model)["arms"]}


def bearer(key: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {key}"}


@contextmanager
def repo_server(root: Path, keys: Keys) -> Iterator[LiveServer]:
    """`serve-repo ROOT` with the keys, not watching (refreshes are asked for), ready."""
    port = free_port()
    args = ["serve-repo", str(root), "--port", str(port), "--no-watch"]
    with spawned_nervosum(*args, "--api-keys-file", str(keys.file), port=port) as server:
        wait_ready(server)
        yield server


@pytest.fixture(scope="module")
def keys(tmp_path_factory: pytest.TempPathFactory) -> Keys:
    return make_keys(tmp_path_factory.mktemp("keys"))


@pytest.fixture(scope="module")
def served(tmp_path_factory: pytest.TempPathFactory, keys: Keys) -> Iterator[httpx.Client]:
    """A client with the predict key of one server for the module, every challenger
    settled (loaded or failed)."""
    root = repository(tmp_path_factory.mktemp("repo") / BASE)
    with repo_server(root, keys) as server, server.client() as client:
        client.headers.update(bearer(keys.predict))
        for model in ("shadowed", "canaried", "seeded"):
            eventually(lambda model=model: statuses(client, model)["challenger"] == "ready")
        eventually(lambda: statuses(client, "unlucky")["challenger"] == "failed")
        yield client


def test_a_challenger_folder_is_shadowed_and_every_route_answers_with_the_champion(
    served: httpx.Client,
) -> None:
    before = arms_of(served, "shadowed")["shadowed"]
    native = served.post("/models/shadowed/predict", json={"key": "a", "x": 7})
    seed = served.post(f"/{BASE}/shadowed", json={"variables": {"key": "b", "x": 7}})
    for response in (native, seed):
        assert response.status_code == 200, response.text
        assert response.json()["label"] == "yes"
        assert response.headers["x-nervosum-arm"] == "champion"
    eventually(lambda: arms_of(served, "shadowed")["shadowed"] == before + 2)
    report = arms_of(served, "shadowed")
    assert report["mode"] == "shadow" and report["agreement"] is not None
    figures = {arm["arm"]: arm for arm in report["arms"]}
    assert figures["champion"]["version"] == "v1" and figures["challenger"]["version"] == "v2"
    assert figures["challenger"]["name"] == "shadowed"  # the folder's name, as its routes'


def test_models_lists_each_models_arms_and_challengers_are_no_models(
    served: httpx.Client,
) -> None:
    listed = {entry["name"]: entry for entry in served.get("/models").json()["models"]}
    assert set(listed) == {"canaried", "plain", "seeded", "shadowed", "unlucky"}
    assert "arms" not in listed["plain"]
    assert listed["shadowed"]["arms"] == {
        "mode": "shadow",
        "arms": [
            {"arm": "champion", "version": "v1", "status": "ready"},
            {"arm": "challenger", "version": "v2", "status": "ready"},
        ],
    }
    assert listed["canaried"]["arms"]["mode"] == "canary"
    assert [arm["status"] for arm in listed["unlucky"]["arms"]["arms"]] == ["ready", "failed"]
    assert served.get("/models/shadowed").json()["arms"] == listed["shadowed"]["arms"]


def test_a_variants_canary_answers_its_share_of_keys_from_the_challenger(
    served: httpx.Client,
) -> None:
    keys = [f"user-{n}" for n in range(60)]
    arms: dict[str, str] = {}
    for key in keys * 2:  # each key twice: it stays on its arm
        response = served.post("/models/canaried/predict", json={"key": key, "x": 7})
        assert response.status_code == 200, response.text
        arm = response.headers["x-nervosum-arm"]
        assert arms.setdefault(key, arm) == arm
        assert response.json()["label"] == ("no" if arm == "challenger" else "yes")
    assert set(arms.values()) == {"champion", "challenger"}
    assert all((arm == "challenger") == in_canary(key, 0.3) for key, arm in arms.items())
    report = arms_of(served, "canaried")
    assert report["mode"] == "canary" and report["share"] == 0.3
    answered = {arm["arm"]: arm["answered"] for arm in report["arms"]}
    assert answered["challenger"] == 2 * sum(arm == "challenger" for arm in arms.values())


def test_promote_and_rollback_need_the_admin_key_and_change_the_answering_model(
    served: httpx.Client, keys: Keys
) -> None:
    admin = bearer(keys.admin)
    unauthenticated = httpx.post(served.base_url.join("/models/shadowed/promote"))
    assert unauthenticated.status_code == 401
    assert served.post("/models/shadowed/promote").status_code == 403  # the predict key
    assert served.post("/models/shadowed/rollback").status_code == 403
    promoted = served.post("/models/shadowed/promote", headers=admin)
    assert promoted.status_code == 200, promoted.text
    assert promoted.json()["promotions"] == 1
    assert promoted.json()["arms"][0]["version"] == "v2"
    answer = served.post("/models/shadowed/predict", json={"key": "c", "x": 7})
    assert answer.json()["label"] == "no" and answer.headers["x-nervosum-arm"] == "champion"
    rolled_back = served.post("/models/shadowed/rollback", headers=admin)
    assert rolled_back.status_code == 200 and rolled_back.json()["arms"][0]["version"] == "v1"
    again = served.post("/models/shadowed/rollback", headers=admin)
    assert again.status_code == 409 and again.json()["error"]["type"] == "conflict"
    answer = served.post("/models/shadowed/predict", json={"key": "d", "x": 7})
    assert answer.json()["label"] == "yes"


def test_an_etls_pair_answers_the_seed_route_with_its_champion(
    served: httpx.Client, keys: Keys
) -> None:
    admin = bearer(keys.admin)

    def seed() -> httpx.Response:
        response = served.post(f"/{BASE}/seeded", json={"variables": {"revenue": 1}})
        assert response.status_code == 200, response.text
        assert response.headers["x-nervosum-arm"] == "champion"
        return response

    assert seed().json()["answer"] == "one"
    assert served.post("/models/seeded/promote", headers=admin).status_code == 200
    assert seed().json()["answer"] == "two"
    assert served.post("/models/seeded/rollback", headers=admin).status_code == 200
    assert seed().json()["answer"] == "one"


def test_a_model_without_challenger_answers_409_and_an_unknown_one_404(
    served: httpx.Client, keys: Keys
) -> None:
    admin = bearer(keys.admin)
    for response in (
        served.get("/models/plain/arms"),
        served.post("/models/plain/promote", headers=admin),
        served.post("/models/plain/rollback", headers=admin),
    ):
        assert response.status_code == 409, response.text
        error = response.json()["error"]
        assert error["type"] == "conflict"
        assert error["message"].startswith("model plain has no challenger (hint: add a challenger/")
    assert served.get("/models/nothere/arms").status_code == 404
    assert served.post("/models/nothere/promote", headers=admin).status_code == 404


def test_a_challenger_that_fails_to_load_leaves_the_champion_serving(
    served: httpx.Client, keys: Keys
) -> None:
    report = arms_of(served, "unlucky")
    challenger = report["arms"][1]
    assert challenger["status"] == "failed" and "the weights are corrupt" in challenger["error"]
    for n in range(3):
        response = served.post("/models/unlucky/predict", json={"key": f"u{n}", "x": 7})
        assert response.status_code == 200 and response.json()["label"] == "yes"
        assert response.headers["x-nervosum-arm"] == "champion"
    refused = served.post("/models/unlucky/promote", headers=bearer(keys.admin))
    assert refused.status_code == 409
    assert "failed to load" in refused.json()["error"]["message"]


def test_a_refresh_that_changes_the_challenger_reloads_the_folder_with_fresh_arms(
    tmp_path: Path, keys: Keys
) -> None:
    root = tmp_path / BASE
    write_model(root / "churn", "v1", ALWAYS_YES)
    write_model(root / "churn" / "challenger", "v2", BELOW_FIVE)
    admin = bearer(keys.admin)
    with repo_server(root, keys) as server, server.client() as client:
        client.headers.update(admin)
        eventually(lambda: statuses(client, "churn")["challenger"] == "ready")
        assert client.post("/models/churn/promote").json()["promotions"] == 1
        write_model(root / "churn" / "challenger", "v3", BELOW_FIVE)
        assert client.post(f"/{BASE}/-/refresh").status_code == 202
        eventually(lambda: client.get(f"/{BASE}/-/refresh").json()["status"] == "done")
        report = client.get(f"/{BASE}/-/refresh").json()
        eventually(lambda: statuses(client, "churn")["challenger"] == "ready")
        fresh = arms_of(client, "churn")
    assert report["updated"] == ["churn"]
    assert fresh["promotions"] == 0  # a promotion does not outlive the version it was made on
    assert [arm["version"] for arm in fresh["arms"]] == ["v1", "v3"]


def test_grpc_predictions_go_through_the_models_arms(tmp_path: Path) -> None:
    root = tmp_path / BASE
    everything = "variants: {challenger: challenger, mode: canary, share: 100%}"
    write_model(root / "churn", "v1", ALWAYS_YES, everything)
    write_model(root / "churn" / "challenger", "v2", BELOW_FIVE)
    port, grpc_port = two_ports()
    args = ("serve-repo", str(root), "--port", str(port), "--grpc-port", str(grpc_port))
    with spawned_nervosum(*args, port=port) as live, live.client() as client:
        wait_ready(live)
        eventually(lambda: statuses(client, "churn")["challenger"] == "ready")
        x = triton.InferInput("x", [2], "FP64")
        x.set_data_from_numpy(np.array([1.0, 7.0]))
        answer = GrpcServer(live, grpc_port).client().infer("churn", [x])
        report = arms_of(client, "churn")
    assert [label.decode() for label in answer.as_numpy("label")] == ["yes", "no"]  # v2's
    assert answer.get_response().model_version == "v2"
    assert {arm["arm"]: arm["answered"] for arm in report["arms"]} == {
        "champion": 0,
        "challenger": 2,
    }
