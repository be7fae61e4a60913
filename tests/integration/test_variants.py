"""Champion and challenger in one `nervosum serve` (docs/variants.md), on live servers: shadow
copies, the canary split, a challenger that fails to load, promotion and rollback under
load, and the 409s.

The champion answers "yes" to everything; the challenger "yes" below 5 and "no" from 5
on, so an answer to x=7 says which model gave it.
"""

from __future__ import annotations

import json
import math
import os
import threading
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import httpx
import numpy as np
import pytest
from starlette.testclient import TestClient

from nervosum.engine import Engine
from nervosum.project import load_config
from nervosum.serving.app import create_app
from nervosum.serving.arms import in_canary
from tests.conftest import ProjectFactory, free_port, live_server, metric_samples, nervosum
from tests.integration.test_auth import make_keys
from tests.services.fluentd import FluentdReceiver

CONFIG = """
name: churn
tag: {tag}
id_field: key
model: {{module: model, class: Model}}
input_schema:
  - {{name: x, type: float}}
output_schema: {{name: label, type: str}}
{more}
"""
ALWAYS_YES = """
class Model:
    def predict(self, frame):
        return ["yes"] * len(frame)
"""
BELOW_FIVE = """
class Model:
    def predict(self, frame):
        return ["yes" if x < 5 else "no" for x in frame["x"]]
"""
BROKEN = """
class Model:
    def __init__(self):
        raise RuntimeError("the weights are corrupt")

    def predict(self, frame):
        return []
"""
EXITS = """
import sys


class Model:
    def __init__(self):
        sys.exit(3)  # would end the whole server, were it not caught

    def predict(self, frame):
        return []
"""
TAG_ANSWERING = {"yes": "v1", "no": "v2"}  # to x=7
ARMS = ("champion", "challenger")


def challenger(make_project: ProjectFactory, code: str = BELOW_FIVE) -> Path:
    """The challenger's project, ``v2`` beside the champion's ``v1``."""
    return make_project(CONFIG.format(tag="v2", more=""), {"model.py": code}, name="v2")


def champion(make_project: ProjectFactory, tmp_path: Path, variants: str) -> Path:
    """The champion's project, logging to ``predictions.jsonl`` in ``tmp_path``."""
    log = tmp_path / "predictions.jsonl"
    more = f"logging: {{sinks: [{{type: jsonl, path: {log}}}]}}\n{variants}"
    return make_project(CONFIG.format(tag="v1", more=more), {"model.py": ALWAYS_YES}, name="v1")


def read_log(tmp_path: Path) -> list[dict[str, Any]]:
    path = tmp_path / "predictions.jsonl"
    if not path.exists():
        return []
    return [json.loads(line) for line in path.read_text().splitlines()]


def eventually(check: Callable[[], bool], timeout: float = 15) -> None:
    deadline = time.monotonic() + timeout
    while not check():
        assert time.monotonic() < deadline, "timed out"
        time.sleep(0.05)


def arms_of(client: httpx.Client) -> dict[str, dict[str, Any]]:
    report = client.get("/-/arms")
    assert report.status_code == 200, report.text
    return {arm["arm"]: arm for arm in report.json()["arms"]}


def both_ready(client: httpx.Client) -> None:
    eventually(lambda: arms_of(client)["challenger"]["status"] == "ready")


def test_shadow_answers_are_the_champions_and_the_challenger_logs_its_own(
    make_project: ProjectFactory, tmp_path: Path
) -> None:
    challenger(make_project)
    project = champion(make_project, tmp_path, "variants: {challenger: ../v2, mode: shadow}")
    rows = [{"key": f"k{x}", "x": float(x)} for x in range(10)]
    with live_server(project) as server, server.client() as client:
        both_ready(client)
        answered = {}
        for row in rows:
            response = client.post("/predict", json=row)
            assert response.status_code == 200, response.text
            assert response.json() == {"key": row["key"], "label": "yes"}
            assert response.headers["x-nervosum-arm"] == "champion"
            answered[response.headers["x-request-id"]] = row
        eventually(lambda: arms_of(client)["challenger"]["answered"] == len(rows))
        labels = [{"id": row["key"], "label": "no"} for row in rows]
        graded = client.post("/feedback", json=labels).json()
        assert graded["arms"] == {"champion": 10, "challenger": 10}
        report = client.get("/-/arms").json()
        agreement = metric_samples(client, "nervosum_arm_agreement")
        shadowed = metric_samples(client, "nervosum_arm_predictions_total")
        quality = metric_samples(client, "nervosum_arm_quality")
    assert report["mode"] == "shadow" and report["agreement"] == 0.5  # x < 5 agree
    figures = {arm["arm"]: arm for arm in report["arms"]}
    no_probabilities = {"log_loss": None, "auc": None}  # the models answer labels only
    assert figures["champion"]["quality"] == {"labels": 10, "accuracy": 0.0, **no_probabilities}
    assert figures["challenger"]["quality"] == {"labels": 10, "accuracy": 0.5, **no_probabilities}
    accuracy = (("arm", "challenger"), ("figure", "accuracy"), ("model", "churn"), ("tag", "v2"))
    assert quality[accuracy] == 0.5
    log_loss = (("arm", "challenger"), ("figure", "log_loss"), ("model", "churn"), ("tag", "v2"))
    assert math.isnan(quality[log_loss])  # not known: the models answer no probabilities
    assert figures["challenger"]["version"] == "v2" and figures["challenger"]["uuid"]
    assert list(agreement.values()) == [0.5]
    assert shadowed[(("arm", "challenger"), ("model", "churn"), ("tag", "v2"))] == 10

    alone = load_config(tmp_path / "v2")
    with TestClient(create_app(alone, engine=Engine.load(alone))) as client:
        expected = {row["key"]: client.post("/predict", json=row).json()["label"] for row in rows}
    records = [r for r in read_log(tmp_path) if r["kind"] == "prediction"]
    assert len(records) == 2 * len(rows)
    for request_id, row in answered.items():
        pair = {r["arm"]: r for r in records if r["request_id"] == request_id}
        assert set(pair) == set(ARMS)
        assert pair["champion"]["outputs"] == {"label": "yes"} and pair["champion"]["tag"] == "v1"
        assert pair["challenger"]["outputs"] == {"label": expected[row["key"]]}
        assert pair["challenger"]["tag"] == "v2" and pair["challenger"]["route"] == "/predict"
        assert pair["challenger"]["id"] == row["key"]


def test_a_canary_answers_its_share_of_keys_from_the_challenger_and_keeps_them(
    make_project: ProjectFactory, tmp_path: Path
) -> None:
    challenger(make_project)
    project = champion(
        make_project, tmp_path, "variants: {challenger: ../v2, mode: canary, share: 30%}"
    )
    keys = [f"user-{n}" for n in range(60)]
    with live_server(project) as server, server.client() as client:
        both_ready(client)
        arms = {}
        for key in keys * 2:  # each key twice: it stays on its arm
            response = client.post("/predict", json={"key": key, "x": 7})
            assert response.status_code == 200, response.text
            arm = response.headers["x-nervosum-arm"]
            assert arms.setdefault(key, arm) == arm
            assert response.json()["label"] == ("no" if arm == "challenger" else "yes")
        counted = metric_samples(client, "nervosum_arm_predictions_total")
    assert set(arms.values()) == set(ARMS)
    assert all((arm == "challenger") == in_canary(key, 0.3) for key, arm in arms.items())
    challenged = sum(arm == "challenger" for arm in arms.values())
    assert counted[(("arm", "challenger"), ("model", "churn"), ("tag", "v2"))] == 2 * challenged
    records = [r for r in read_log(tmp_path) if r["kind"] == "prediction"]
    assert {(r["id"], r["arm"], r["tag"]) for r in records} == {
        (key, arm, "v2" if arm == "challenger" else "v1") for key, arm in arms.items()
    }


@pytest.mark.parametrize(
    ("code", "said"), [(BROKEN, "the weights are corrupt"), (EXITS, "SystemExit: 3")]
)
def test_a_challenger_that_fails_to_load_leaves_the_champion_serving(
    make_project: ProjectFactory, tmp_path: Path, code: str, said: str
) -> None:
    challenger(make_project, code)
    project = champion(
        make_project, tmp_path, "variants: {challenger: ../v2, mode: canary, share: 1}"
    )
    with live_server(project) as server, server.client() as client:
        eventually(lambda: arms_of(client)["challenger"]["status"] == "failed")
        assert client.get("/health/ready").status_code == 200
        for n in range(5):
            response = client.post("/predict", json={"key": f"k{n}", "x": 7})
            assert response.json()["label"] == "yes"
            assert response.headers["x-nervosum-arm"] == "champion"
        failed = arms_of(client)["challenger"]
        promoted = client.post("/-/promote")
        info = client.get("/info").json()
    assert said in failed["error"]
    assert promoted.status_code == 409
    assert promoted.json()["error"]["type"] == "conflict"
    assert "challenger churn failed to load" in promoted.json()["error"]["message"]
    assert info["arms"]["arms"][1]["status"] == "failed"


def test_promote_and_rollback_under_load_fail_no_request_and_log_the_right_arm(
    make_project: ProjectFactory, tmp_path: Path
) -> None:
    challenger(make_project)
    project = champion(make_project, tmp_path, "variants: {challenger: ../v2}")
    answers: list[tuple[str, str, str]] = []  # request id, arm header, label
    failures: list[str] = []
    stop = threading.Event()

    def send(client: httpx.Client, sender: int) -> None:
        n = 0
        while not stop.is_set():
            n += 1
            try:
                response = client.post("/predict", json={"key": f"s{sender}-{n}", "x": 7})
            except httpx.HTTPError as exc:
                failures.append(repr(exc))
                continue
            if response.status_code != 200:
                failures.append(response.text)
                continue
            headers = response.headers
            answers.append(
                (headers["x-request-id"], headers["x-nervosum-arm"], response.json()["label"])
            )

    with live_server(project) as server, server.client() as admin:
        both_ready(admin)
        clients = [server.client() for _ in range(4)]
        senders = [threading.Thread(target=send, args=(c, i)) for i, c in enumerate(clients)]
        for thread in senders:
            thread.start()
        steps = []
        for action in ("promote", "rollback", "promote", None):
            seen = len(answers)
            eventually(lambda seen=seen: len(answers) >= seen + 50)  # each phase answers some
            if action is not None:
                steps.append(admin.post(f"/-/{action}"))
        stop.set()
        for thread in senders:
            thread.join()
        for client in clients:
            client.close()
        nothing_left = admin.post("/-/rollback"), admin.post("/-/rollback")
    assert failures == []
    assert [step.status_code for step in steps] == [200, 200, 200]
    assert nothing_left[0].status_code == 200 and nothing_left[1].status_code == 409
    assert "no promotion to roll back" in nothing_left[1].json()["error"]["message"]
    assert {label for _, _, label in answers} == {"yes", "no"}  # both models answered
    assert {arm for _, arm, _ in answers} == {"champion"}  # shadow: the champion answers

    log = read_log(tmp_path)
    answered = {}
    for record in log:
        if record["kind"] == "prediction" and record["arm"] == "champion":
            answered[record["request_id"]] = record
    for request_id, _, label in answers:
        record = answered[request_id]
        assert record["outputs"] == {"label": label}
        assert record["tag"] == TAG_ANSWERING[label]
    audits = [r for r in log if r["kind"] == "promotion"]
    assert [a["action"] for a in audits] == ["promote", "rollback", "promote", "rollback"]
    assert [a["champion"]["version"] for a in audits] == ["v2", "v1", "v2", "v1"]
    assert {a["who"] for a in audits} == {"anonymous"}
    assert all(a["challenger"]["quality"]["labels"] == 0 for a in audits)


def test_promotion_needs_the_admin_scope_and_names_who_asked(
    make_project: ProjectFactory, tmp_path: Path
) -> None:
    challenger(make_project)
    project = champion(make_project, tmp_path, "variants: {challenger: ../v2}")
    keys = make_keys(tmp_path)
    predict_key = {"Authorization": f"Bearer {keys.predict}"}
    with (
        live_server(project, "--api-keys-file", str(keys.file)) as server,
        server.client() as client,
    ):
        client.headers["Authorization"] = f"Bearer {keys.admin}"
        both_ready(client)
        refused = client.post("/-/promote", headers=predict_key)
        promoted = client.post("/-/promote")
    assert refused.status_code == 403
    assert promoted.status_code == 200
    assert promoted.json()["arms"][0]["version"] == "v2"
    (audit,) = [r for r in read_log(tmp_path) if r["kind"] == "promotion"]
    assert audit["who"] == "ops"


def test_a_server_without_a_challenger_answers_409_naming_why(
    make_project: ProjectFactory, tmp_path: Path
) -> None:
    project = load_config(champion(make_project, tmp_path, ""))
    with TestClient(create_app(project, engine=Engine.load(project))) as client:
        answers = [client.get("/-/arms"), client.post("/-/promote"), client.post("/-/rollback")]
        info = client.get("/info").json()
    for answer in answers:
        assert answer.status_code == 409
        assert answer.json()["error"]["message"].startswith("this server has no challenger")
    assert "arms" not in info


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--challenger", "v2", "--canary", "150%"], "not between 0% and 100%"),
        (["--challenger", "v2", "--canary", "1"], "write the share in percent"),
        (["--shadow"], "--shadow needs a challenger"),
        (["--challenger", "v2", "--shadow", "--canary", "5%"], "not both"),
        (["--challenger", "nowhere"], "does not exist"),
    ],
)
def test_serve_refuses_bad_variant_flags_with_exit_2(
    make_project: ProjectFactory, tmp_path: Path, args: list[str], message: str
) -> None:
    challenger(make_project)
    project = champion(make_project, tmp_path, "")
    done = nervosum("serve", str(project), *args, env=dict(os.environ), cwd=tmp_path)
    assert done.returncode == 2, done.stderr
    assert message in done.stderr
    assert "Traceback" not in done.stderr


FAILS_FROM_FIVE = """
import time

class Model:
    def predict(self, frame):
        time.sleep(0.05)
        if (frame["x"] >= 5).any():
            raise ValueError("cannot score that")
        return ["yes"] * len(frame)
"""


def test_a_shadow_challenger_that_raises_or_lags_is_counted_never_seen(
    make_project: ProjectFactory, tmp_path: Path
) -> None:
    challenger(make_project, FAILS_FROM_FIVE)
    block = "variants: {challenger: ../v2, shadow_queue: 1}"
    project = champion(make_project, tmp_path, block)
    with live_server(project) as server, server.client() as client:
        both_ready(client)
        failing = client.post("/predict", json={"key": "bad", "x": 7})
        eventually(lambda: arms_of(client)["challenger"]["errors"] == 1)
        # The challenger takes 50 ms a copy and one copy may wait: a burst drops some.
        with ThreadPoolExecutor(8) as pool:
            burst = list(pool.map(lambda n: client.post("/predict", json={"x": 1}), range(40)))
        dropped = client.get("/-/arms").json()["shadow_dropped"]
        errors = metric_samples(client, "nervosum_arm_errors_total")
        drops = metric_samples(client, "nervosum_shadow_dropped_total")
        output = server.output()
    assert failing.status_code == 200 and failing.json()["label"] == "yes"
    assert all(response.status_code == 200 for response in burst)
    assert dropped > 0 and drops == {(): dropped}
    assert errors == {(("arm", "challenger"),): 1}
    (record,) = [r for r in read_log(tmp_path) if r["status"] == "error"]
    assert record["arm"] == "challenger" and record["id"] == failing.headers["x-request-id"]
    error_id = record["error"]["error_id"]
    assert f"shadow copy failed on the challenger [error id {error_id}]" in output


def test_every_protocol_is_routed_to_the_arms(make_project: ProjectFactory, tmp_path: Path) -> None:
    challenger(make_project)
    project = champion(make_project, tmp_path, "")  # the flags make the block
    tensor = {"name": "x", "shape": [1], "datatype": "FP64", "data": [7]}
    flags = ("--challenger", str(tmp_path / "v2"), "--canary", "100%")
    with live_server(project, *flags) as server, server.client() as client:
        both_ready(client)
        answers = [
            client.post("/predict", json={"x": 7}),
            client.post("/invocations", json={"dataframe_records": [{"x": 7}]}),
            client.post("/v2/models/churn/infer", json={"inputs": [tensor]}),
            client.post("/v1/models/churn:predict", json={"instances": [{"x": 7}]}),
        ]
    for answer in answers:
        assert answer.status_code == 200, answer.text
        assert answer.headers["x-nervosum-arm"] == "challenger"
        assert '"no"' in answer.text and '"yes"' not in answer.text


def test_a_canary_challengers_failure_is_answered_and_counted_as_its_own(
    make_project: ProjectFactory, tmp_path: Path
) -> None:
    challenger(make_project, FAILS_FROM_FIVE)
    project = champion(
        make_project, tmp_path, "variants: {challenger: ../v2, mode: canary, share: 1}"
    )
    with live_server(project) as server, server.client() as client:
        both_ready(client)
        failed = client.post("/predict", json={"key": "k1", "x": 7})
        errors = metric_samples(client, "nervosum_arm_errors_total")
        figures = arms_of(client)
    assert failed.status_code == 500
    assert failed.json()["error"]["type"] == "prediction_error"
    assert failed.headers["x-nervosum-arm"] == "challenger"
    assert errors == {(("arm", "challenger"),): 1}
    assert figures["challenger"]["errors"] == 1 and figures["champion"]["errors"] == 0
    (record,) = [r for r in read_log(tmp_path) if r["kind"] == "prediction"]
    assert record["status"] == "error" and record["arm"] == "challenger" and record["tag"] == "v2"
    assert record["error"]["error_id"] == failed.json()["error"]["error_id"]


def test_grpc_calls_are_routed_to_the_arms_too(
    make_project: ProjectFactory, tmp_path: Path
) -> None:
    triton = pytest.importorskip("tritonclient.grpc")
    challenger(make_project)
    project = champion(
        make_project, tmp_path, "variants: {challenger: ../v2, mode: canary, share: 1}"
    )
    grpc_port = free_port()
    with live_server(project, "--grpc-port", str(grpc_port)) as server, server.client() as client:
        both_ready(client)
        tensor = triton.InferInput("x", [2], "FP64")
        tensor.set_data_from_numpy(np.array([1.0, 7.0]))
        grpc_client = triton.InferenceServerClient(f"127.0.0.1:{grpc_port}")
        result = grpc_client.infer("churn", [tensor])
        grpc_client.close()
    assert result.as_numpy("label").tolist() == [b"yes", b"no"]  # the challenger's answer
    records = [r for r in read_log(tmp_path) if r["kind"] == "prediction"]
    assert {(r["arm"], r["tag"]) for r in records} == {("challenger", "v2")}


def test_info_names_the_answering_model_and_fluentd_gets_promotion_events(
    make_project: ProjectFactory,
) -> None:
    challenger(make_project)
    receiver = FluentdReceiver().start()
    try:
        sink = f"{{type: fluentd, host: 127.0.0.1, port: {receiver.port}, tag: churn}}"
        more = f"logging: {{sinks: [{sink}]}}\nvariants: {{challenger: ../v2}}"
        project = make_project(
            CONFIG.format(tag="v1", more=more), {"model.py": ALWAYS_YES}, name="v1"
        )
        with live_server(project) as server, server.client() as client:
            both_ready(client)
            before = client.get("/info").json()
            client.post("/-/promote")
            after = client.get("/info").json()
            client.post("/-/rollback")
        events = receiver.wait_for(2)
    finally:
        receiver.stop()
    assert before["version"] == "v1" and after["version"] == "v2"
    assert after["uuid"] == after["arms"]["arms"][0]["uuid"]
    assert [(tag, event["action"]) for tag, _, event in events] == [
        ("churn.promotion", "promote"),
        ("churn.promotion", "rollback"),
    ]
