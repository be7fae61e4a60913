"""A challenger beside the champion with `--workers`, `--model-process`, across restarts
(docs/variants.md, "Workers, a model process, restarts") and as a compiled model file,
on live servers.

The champion answers "yes" to everything; the challenger "yes" below 5 and "no" from 5
on (tests/integration/test_variants.py), so an answer to x=7 names the champion.
"""

from __future__ import annotations

import json
import os
import threading
from pathlib import Path

import httpx
import joblib
import pandas as pd
import psutil
from sklearn.datasets import load_iris
from sklearn.linear_model import LogisticRegression
from sklearn.tree import DecisionTreeClassifier

from tests.conftest import ProjectFactory, live_server, nervosum
from tests.integration.test_variants import (
    BROKEN,
    EXITS,
    arms_of,
    both_ready,
    challenger,
    champion,
    eventually,
    read_log,
)


def versions_by_worker(server_url: str, times: int = 40) -> dict[int, set[str]]:
    """The version of the model answering now, per worker pid, from /info over fresh
    connections (each may land on any worker)."""
    found: dict[int, set[str]] = {}
    for _ in range(times):
        with httpx.Client(base_url=server_url) as client:
            info = client.get("/info").json()
        found.setdefault(info["server"]["pid"], set()).add(info["version"])
    return found


def every_worker_serves(server_url: str, version: str) -> bool:
    found = versions_by_worker(server_url)
    return len(found) == 2 and all(seen == {version} for seen in found.values())


def test_workers_follow_a_promotion_made_on_any_of_them_under_load(
    make_project: ProjectFactory, tmp_path: Path
) -> None:
    challenger(make_project)
    project = champion(make_project, tmp_path, "variants: {challenger: ../v2}")
    failures: list[str] = []
    answered: list[str] = []  # appended from several threads: list.append is atomic
    stop = threading.Event()

    def send(url: str) -> None:
        with httpx.Client(base_url=url) as client:
            while not stop.is_set():
                try:
                    response = client.post("/predict", json={"key": "load", "x": 7})
                except httpx.HTTPError as exc:
                    failures.append(repr(exc))
                    continue
                if response.status_code != 200:
                    failures.append(response.text)
                answered.append(response.json()["label"])

    with live_server(project, "--workers", "2") as server, server.client() as admin:
        both_ready(admin)
        eventually(lambda: every_worker_serves(server.url, "v1"))
        senders = [threading.Thread(target=send, args=(server.url,)) for _ in range(4)]
        for thread in senders:
            thread.start()
        eventually(lambda: len(answered) > 50)
        promoted = admin.post("/-/promote")
        eventually(lambda: every_worker_serves(server.url, "v2"), timeout=5)
        rolled_back = admin.post("/-/rollback")
        eventually(lambda: every_worker_serves(server.url, "v1"), timeout=5)
        again = admin.post("/-/rollback")  # whichever worker takes it, the file says 0
        stop.set()
        for thread in senders:
            thread.join()
    assert failures == []
    assert {"yes", "no"} <= set(answered)  # both models answered the load
    assert promoted.status_code == 200 and rolled_back.status_code == 200
    assert again.status_code == 409
    audits = [r for r in read_log(tmp_path) if r["kind"] == "promotion"]
    assert [(a["action"], a["champion"]["version"]) for a in audits] == [
        ("promote", "v2"),
        ("rollback", "v1"),
    ]


def test_a_model_process_serves_each_arm_in_a_process_of_its_own(
    make_project: ProjectFactory, tmp_path: Path
) -> None:
    challenger(make_project)
    project = champion(make_project, tmp_path, "variants: {challenger: ../v2}")
    with live_server(project, "--model-process") as server, server.client() as client:
        both_ready(client)
        children = psutil.Process(server.process.pid).children()
        first = client.post("/predict", json={"key": "a", "x": 7})
        eventually(lambda: client.get("/-/arms").json()["shadowed"] == 1)
        promoted = client.post("/-/promote")
        second = client.post("/predict", json={"key": "b", "x": 7})
    assert len(children) == 2  # the champion's model process and the challenger's
    assert first.json()["label"] == "yes" and second.json()["label"] == "no"
    assert promoted.status_code == 200
    scored = [r for r in read_log(tmp_path) if r["kind"] == "prediction" and r["id"] == "a"]
    assert {(r["arm"], r["outputs"]["label"]) for r in scored} == {
        ("champion", "yes"),
        ("challenger", "no"),
    }


def test_a_challenger_that_fails_before_the_server_starts_leaves_the_champion(
    make_project: ProjectFactory, tmp_path: Path
) -> None:
    challenger(make_project, BROKEN)
    project = champion(make_project, tmp_path, "variants: {challenger: ../v2, mode: canary}")
    for extra in (["--model-process"], ["--workers", "2"]):
        with live_server(project, *extra) as server, server.client() as client:
            arms = arms_of(client)
            answer = client.post("/predict", json={"key": "a", "x": 7})
            refused = client.post("/-/promote")
        assert arms["challenger"]["status"] == "failed", extra
        assert "the weights are corrupt" in arms["challenger"]["error"]
        assert answer.json()["label"] == "yes" and refused.status_code == 409


def test_a_challenger_that_exits_while_preloading_does_not_stop_the_workers(
    make_project: ProjectFactory, tmp_path: Path
) -> None:
    challenger(make_project, EXITS)
    project = champion(make_project, tmp_path, "variants: {challenger: ../v2}")
    with live_server(project, "--workers", "2") as server, server.client() as client:
        arms = arms_of(client)
        answer = client.post("/predict", json={"key": "a", "x": 7})
    assert arms["challenger"]["status"] == "failed"
    assert answer.status_code == 200


def pair_of(champion_dir: Path) -> list[str]:
    """How the state file names the pair: each model's name, tag and config file."""
    return [f"churn:{tag} ({champion_dir.parent / tag / 'nervosum.yaml'})" for tag in ("v1", "v2")]


def test_variants_state_keeps_a_promotion_across_a_restart(
    make_project: ProjectFactory, tmp_path: Path
) -> None:
    challenger(make_project)
    project = champion(make_project, tmp_path, "variants: {challenger: ../v2, state: arms.json}")
    with live_server(project) as server, server.client() as client:
        both_ready(client)
        client.post("/-/promote")
    kept = json.loads((project / "arms.json").read_text())
    with live_server(project) as server, server.client() as client:
        eventually(lambda: client.get("/-/arms").json()["promotions"] == 1)
        restored = arms_of(client)
        answer = client.post("/predict", json={"key": "a", "x": 7})
        rolled_back = client.post("/-/rollback")
    assert kept == {"promotions": 1, "generation": 1, "pair": pair_of(project)}
    assert restored["champion"]["version"] == "v2"
    assert answer.json()["label"] == "no"
    assert rolled_back.status_code == 200
    assert json.loads((project / "arms.json").read_text())["promotions"] == 0


def test_a_state_file_about_other_models_is_ignored_with_a_warning(
    make_project: ProjectFactory, tmp_path: Path
) -> None:
    challenger(make_project)
    project = champion(make_project, tmp_path, "variants: {challenger: ../v2, state: arms.json}")
    other = ["churn:v0 (elsewhere)", "churn:v1 (elsewhere)"]
    (project / "arms.json").write_text(
        json.dumps({"promotions": 1, "generation": 3, "pair": other})
    )
    with live_server(project) as server, server.client() as client:
        both_ready(client)
        answer = client.post("/predict", json={"key": "a", "x": 7})
        report = client.get("/-/arms").json()
        output = server.output()
    assert answer.json()["label"] == "yes" and report["promotions"] == 0
    assert f"arms.json is about {other}, not {pair_of(project)}" in output


def test_a_state_file_that_cannot_be_kept_is_refused_at_start_or_undoes_the_promotion(
    make_project: ProjectFactory, tmp_path: Path
) -> None:
    challenger(make_project)
    nowhere = champion(make_project, tmp_path, "variants: {challenger: ../v2, state: /proc/x/a}")
    for extra in ([], ["--workers", "2"], ["--model-process"]):
        refused = nervosum("serve", str(nowhere), *extra, env=dict(os.environ), cwd=tmp_path)
        assert refused.returncode == 2, (extra, refused.stderr)
        assert "variants.state: cannot keep the promotion state" in refused.stderr
        assert "Traceback" not in refused.stderr

    project = champion(make_project, tmp_path, "variants: {challenger: ../v2, state: arms.json}")
    with live_server(project) as server, server.client() as client:
        both_ready(client)
        (project / "arms.json").mkdir()  # the file cannot be replaced any more
        failed = client.post("/-/promote")
        report = client.get("/-/arms").json()
        answer = client.post("/predict", json={"key": "a", "x": 7})
    assert failed.status_code == 500
    assert "the promotion could not be kept in" in failed.json()["error"]["message"]
    assert report["promotions"] == 0 and report["arms"][0]["version"] == "v1"
    assert answer.json()["label"] == "yes"
    assert [r for r in read_log(tmp_path) if r["kind"] == "promotion"] == []


def test_model_files_as_both_arms_are_compiled_and_answer(tmp_path: Path) -> None:
    data = load_iris()
    features = pd.DataFrame(data.data, columns=["a", "b", "c", "d"])
    for name, model in (("v1", LogisticRegression(max_iter=500)), ("v2", DecisionTreeClassifier())):
        joblib.dump(model.fit(features, data.target), tmp_path / f"{name}.joblib")
    args = ("--challenger", str(tmp_path / "v2.joblib"), "--canary", "50%")
    with live_server(tmp_path / "v1.joblib", *args) as server, server.client() as client:
        both_ready(client)
        arms = arms_of(client)
        answers = [
            client.post("/predict", json={"a": 5.1, "b": 3.5, "c": 1.4, "d": 0.2})
            for _ in range(20)
        ]
    assert {arm["runtime"].split()[0] for arm in arms.values()} == {"onnxruntime"}
    assert {a.status_code for a in answers} == {200}
    assert {a.headers["x-nervosum-arm"] for a in answers} == {"champion", "challenger"}
