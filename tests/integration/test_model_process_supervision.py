"""`--model-process` supervision (issue 20, item 1), on a real `nervosum serve` subprocess.

Before: after kill -9 of the model process every prediction answered 500 while both
readiness routes said ready, the dead child stayed a zombie, and nothing restarted it.
Now the server reaps it, forks a new one, answers 503 + Retry-After meanwhile, gives up
on a crash loop with exit code 1, and the model process dies with the server.
"""

from __future__ import annotations

import contextlib
import signal
import subprocess
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor

import httpx
import pytest
from starlette.testclient import TestClient

from nervosum.engine import Engine
from nervosum.project import load_config
from nervosum.serving.app import create_app
from nervosum.serving.model_process import RemoteEngine
from tests.conftest import PROJECTS, LiveServer, ProjectFactory, live_server, metric_samples
from tests.integration.processes import children, exists, is_zombie, kill_quietly, wait_until

pytestmark = pytest.mark.slow

ECHO = PROJECTS / "batch_echo"


def model_process(server: LiveServer) -> int:
    (pid,) = children(server.process.pid)
    return pid


def replacement(server: LiveServer, dead: int) -> int:
    """The pid of the model process started after ``dead``, once the server uses it."""
    found: list[int] = []

    def restarted() -> bool:
        found[:] = [p for p in children(server.process.pid) if p != dead and not is_zombie(p)]
        return bool(found) and f"model process {found[0]} started" in server.output()

    wait_until(restarted, 10, f"a model process replacing {dead}:\n{server.output()}")
    return found[0]


def batches_sent(server: LiveServer) -> float:
    with server.client() as client:
        samples = metric_samples(client, "nervosum_batch_size_count")
    return sum(samples.values())


@pytest.fixture
def sleepy() -> Iterator[LiveServer]:
    """0.3 s per model call, at most 8 rows per call: requests stay in flight a while."""
    with live_server(ECHO, "-c", "sleepy.yaml", "--model-process") as server:
        yield server


def test_a_killed_model_process_fails_in_flight_requests_with_503_and_is_replaced(
    sleepy: LiveServer,
) -> None:
    victim = model_process(sleepy)
    with ThreadPoolExecutor(max_workers=12) as pool, httpx.Client(timeout=30) as client:
        sent = [
            pool.submit(client.post, f"{sleepy.url}/predict", json={"x": float(i)})
            for i in range(12)
        ]
        wait_until(lambda: batches_sent(sleepy) > 0, 10, "a batch sent to the model process")
        time.sleep(0.05)  # inside the model's 0.3 s call now
        kill_quietly(victim, signal.SIGKILL)
        responses = [future.result() for future in sent]
    statuses = sorted(r.status_code for r in responses)
    assert set(statuses) <= {200, 503}, [r.text for r in responses]
    failed = [r for r in responses if r.status_code == 503]
    assert failed, f"the batch in the killed process was not failed: {statuses}"
    for response in failed:
        assert response.headers["retry-after"] == "1"
        assert response.json()["error"]["type"] == "not_ready", response.text
    new = replacement(sleepy, victim)
    wait_until(lambda: not exists(victim), 5, f"the dead model process {victim} reaped")
    assert f"model process {victim} was killed by SIGKILL; starting a new one" in sleepy.output()
    with sleepy.client() as client:
        assert client.get("/health/ready").status_code == 200
        assert client.get("/v2/health/ready").json() == {"ready": True}
        answer = client.post("/predict", json={"x": 3})
        assert answer.status_code == 200, answer.text
        assert answer.json()["echo"] == 3.0
    sleepy.process.terminate()  # a stop is not a death: nothing restarts, exit 0
    assert sleepy.process.wait(timeout=15) == 0, sleepy.output()
    assert sleepy.output().count("starting a new one") == 1
    wait_until(lambda: not exists(new), 5, f"model process {new} stopped with the server")


def test_readiness_is_false_while_the_model_process_is_down() -> None:
    project = load_config(ECHO, "sleepy.yaml")
    remote = RemoteEngine(Engine.load(project))
    try:
        with TestClient(create_app(project, engine=remote)) as client:
            assert client.get("/health/ready").status_code == 200
            # The watcher takes this lock to fork the replacement: holding it keeps the
            # model process down for as long as the test looks.
            with remote._lock:
                kill_quietly(remote.pid, signal.SIGKILL)
                wait_until(lambda: not remote.running, 5, "the death noticed")
                ready = client.get("/health/ready")
                assert ready.status_code == 503, ready.text
                assert ready.headers["retry-after"] == "1"
                assert "the model process is restarting" in ready.json()["error"]["message"]
                v2 = client.get("/v2/health/ready")
                assert (v2.status_code, v2.json()) == (400, {"ready": False})
                assert client.get("/v2/models/batch_echo/ready").json()["ready"] is False
                predicted = client.post("/predict", json={"x": 1})
                assert predicted.status_code == 503, predicted.text
                assert predicted.headers["retry-after"] == "1"
            wait_until(lambda: remote.running, 5, "the replacement started")
            assert client.get("/health/ready").status_code == 200
            assert client.post("/predict", json={"x": 1}).json()["echo"] == 1.0
    finally:
        remote.close()


def test_a_crash_loop_gives_up_and_the_server_exits_1_with_one_line(sleepy: LiveServer) -> None:
    pid = model_process(sleepy)
    for death in range(1, 7):  # deaths 1-5 are restarted, the 6th within 10 s is one too many
        kill_quietly(pid, signal.SIGKILL)
        if death < 6:
            pid = replacement(sleepy, pid)
    try:
        code = sleepy.process.wait(timeout=15)
    except subprocess.TimeoutExpired:
        pytest.fail(f"still serving after six deaths:\n{sleepy.output()}")
    output = sleepy.output()
    assert code == 1, output
    assert output.count("giving up") == 1, output
    assert "the model process died 6 times within 10s" in output
    assert "Traceback" not in output
    assert output.count("starting a new one") == 5


HANGS = """
    name: hangs
    model: {module: hangs, class: Hangs}
    input_schema: [{name: x, type: float}]
    output_schema: [{name: y, type: float}]
"""

HANGS_CODE = """
    import time

    class Hangs:
        def predict(self, df):
            time.sleep(60)
            return df["x"]
"""


def test_a_busy_model_process_dies_with_the_server(make_project: ProjectFactory) -> None:
    project = make_project(HANGS, {"hangs.py": HANGS_CODE})
    with live_server(project, "--model-process") as server, httpx.Client(timeout=2) as client:
        child = model_process(server)
        with contextlib.suppress(httpx.TimeoutException):
            client.post(f"{server.url}/predict", json={"x": 1})  # now busy for 60 s
        kill_quietly(server.process.pid, signal.SIGKILL)
        server.process.wait(timeout=5)
        wait_until(lambda: not exists(child), 5, f"model process {child} ended with its server")


STUCK_CODE = """
    import time

    class Stuck:
        def predict(self, df):
            if (df["x"] == 13).any():
                time.sleep(600)  # as a deadlock would
            return df["x"]
"""


def test_a_hung_model_process_is_replaced_after_the_timeout(make_project: ProjectFactory) -> None:
    """A model process that never answered held the model thread for good, readiness
    still saying ready; now it is killed after server.timeout and replaced."""
    config = HANGS.replace("module: hangs, class: Hangs", "module: stuck, class: Stuck")
    project = make_project(config, {"stuck.py": STUCK_CODE})
    with (
        live_server(project, "--model-process", "--timeout", "0.3") as server,
        server.client() as client,
    ):
        hung = model_process(server)
        assert client.post("/predict", json={"x": 13}).status_code == 504
        current = replacement(server, hung)
        answer = client.post("/predict", json={"x": 2})
        assert answer.status_code == 200, answer.text
        assert "did not answer within 0.3s (server.timeout); killing it" in server.output()
        assert not exists(hung)
        # Slow inputs are not crashes: more kills than the crash budget allows in 10 s.
        for _ in range(7):
            client.post("/predict", json={"x": 13})
            current = replacement(server, current)
        assert client.post("/predict", json={"x": 2}).status_code == 200
        assert "giving up" not in server.output()
