"""iguazioig's own 0.2.0 graph, as published, run by nervosum with the repository's own
step code (examples/modules, copied unchanged into tests/data/seeds/marcelonyc__iguazioig):
locally over files, behind HTTP and as a consumer on Redis.

The step code imports ``requests`` and ``v3io.dataplane`` and talks to the vendor's
platform (a v3io key-value table, created when the converge class is constructed). No
such platform exists here, so each test writes small stand-ins of those two client
libraries into its tmp_path and puts them on the path with ``--module-path``, as a user
without the platform would; they record each call, which tells what the seed's code did.

What the file makes happen: ``step_1`` writes to ``output_stream``, which ``v3io_streams``
does not declare, so each of its results is a dead letter naming that stream; and
``stream_converge``'s class starts ten threads that never end, which the run must not
wait for.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import pytest

from tests.conftest import free_port, spawned_nervosum, wait_ready
from tests.services.brokers import running

pytestmark = pytest.mark.slow  # a real broker and step processes

SEED = Path(__file__).resolve().parents[1] / "data" / "seeds" / "marcelonyc__iguazioig"
GRAPH = SEED / "tests" / "api_0_2_0" / "util" / "inference_graph.yaml"
MODULES = SEED / "examples" / "modules"
UNDELIVERABLE = "undeliverable: output stream 'output_stream' not declared in v3io_streams"

# Stand-ins of the vendor's client libraries: each call is a line of calls.jsonl.
REQUESTS = """\
import json
import pathlib

LOG = pathlib.Path(__file__).with_name("calls.jsonl")


def record(*call):
    with LOG.open("a") as log:
        log.write(json.dumps(call, default=str) + "\\n")


def put(url, data=None, headers=None, **kwargs):
    record("requests.put", url, data)


def post(url, headers=None, json=None, **kwargs):
    record("requests.post", url, json)
"""

DATAPLANE = """\
from requests import record


class _Cursor:
    def all(self):
        return []


class _Kv:
    def new_cursor(self, container, table_path):
        return _Cursor()

    def put(self, container, table_path, key, attributes):
        record("kv.put", container, table_path, key)

    def delete(self, container, table_path, key):
        record("kv.delete", container, table_path, key)


class _Object:
    def put(self, container, path, body=None, append=False):
        record("object.put", container, path, body)


class Client:
    def __init__(self, max_connections=None):
        self.kv = _Kv()
        self.object = _Object()

    def create_schema(self, container, path, key, fields):
        record("create_schema", container, path, key)
"""


@pytest.fixture
def platform(tmp_path: Path) -> Path:
    """A folder holding the stand-ins of ``requests`` and ``v3io.dataplane``."""
    folder = tmp_path / "platform"
    (folder / "v3io").mkdir(parents=True)
    (folder / "requests.py").write_text(REQUESTS)
    (folder / "v3io" / "__init__.py").write_text("")
    (folder / "v3io" / "dataplane.py").write_text(DATAPLANE)
    return folder


def calls(platform: Path) -> list[list[Any]]:
    log = platform / "calls.jsonl"
    return [json.loads(line) for line in log.read_text().splitlines()] if log.exists() else []


def message(number: int, key: str = "k1") -> dict[str, Any]:
    """The graph's partition key is `partitionKey`; the seed's classes read `PartitionKey`."""
    return {"partitionKey": key, "PartitionKey": key, "n": number}


def graph_run(
    *args: str, timeout: float = 60, env: dict[str, str] | None = None
) -> subprocess.CompletedProcess[str]:
    """`nervosum graph run GRAPH ARGS`; a run that does not end fails the test."""
    return subprocess.run(
        [sys.executable, "-m", "nervosum", "graph", "run", str(GRAPH), *args],
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
        env=env,
    )


# An environment without `requests` (the dev extras bring it, through mlflow): a
# sitecustomize that refuses the import as an absent package does.
WITHOUT_REQUESTS = """\
import importlib.abc, sys

class _Absent(importlib.abc.MetaPathFinder):
    def find_spec(self, name, path=None, target=None):
        if name == "requests" or name.startswith("requests."):
            raise ModuleNotFoundError(f"No module named {name!r}", name=name)
        return None

sys.meta_path.insert(0, _Absent())
"""


def test_the_published_graph_runs_locally_and_ends(platform: Path, tmp_path: Path) -> None:
    source = tmp_path / "in.jsonl"
    source.write_text("".join(json.dumps(message(n)) + "\n" for n in (1, 2, 3)))
    out = tmp_path / "out.jsonl"
    started = time.monotonic()

    done = graph_run(
        "--local", "--into", "input_stream", "--input", str(source), "--output", str(out),
        "--module-path", str(MODULES), "--module-path", str(platform),
    )  # fmt: skip

    assert done.returncode == 0, done.stderr
    assert time.monotonic() - started < 30
    assert "fed 3 messages: 0 results" in done.stderr
    assert "0 filtered out by a step, 3 dead-lettered" in done.stderr
    [threads] = [line for line in done.stderr.splitlines() if "threads running" in line]
    assert threads.startswith("warning: the steps' code left 10 threads running (")
    assert "(_thread_entry_add)" in threads and "(_thread_entry_del)" in threads
    assert threads.endswith("ending without waiting for them")
    assert out.read_text() == ""
    dead = out.with_name("out.dead-letter.jsonl").read_text().splitlines()
    letters = [json.loads(line) for line in dead]
    assert [(x["step"], x["key"], x["position"]) for x in letters] == [
        ("step-1", "k1", f"line {n}") for n in (1, 2, 3)
    ]
    for number, letter in enumerate(letters, start=1):
        assert letter["reason"].startswith(UNDELIVERABLE)
        assert json.loads(letter["payload"]) == message(number)  # the step's result
    # The seed's converge class ran with its class_init: it counted three messages
    # for k1, wrote the key to its results file and deleted the key's three entries.
    recorded = calls(platform)
    assert recorded[0] == [
        "create_schema", "bigdata", "stream_processing/stream_converge_alpha3", "PartitionKey"
    ]  # fmt: skip
    assert ["object.put", "bigdata", "batch_results/v0_1.csv", "k1\n"] in recorded
    assert sorted(c[3] for c in recorded if c[0] == "kv.put") == ["k1~1", "k1~2"]
    assert sorted(c[3] for c in recorded if c[0] == "kv.delete") == ["k1~1", "k1~2", "k1~3"]
    assert ["requests.put", "http://v3io-webapi:8081/None/None.csv", "k1\n"] in recorded


def test_module_paths_that_do_not_exist_are_named(tmp_path: Path) -> None:
    """The file's module_paths are folders of the vendor's platform (/User/modules):
    the error says they do not exist here and how to give the code's folder."""
    source = tmp_path / "in.jsonl"
    source.write_text(json.dumps(message(1)) + "\n")

    done = graph_run("--local", "--into", "input_stream", "--input", str(source))

    assert done.returncode == 2
    assert "Traceback" not in done.stderr
    assert (
        "error: step 'step-1': cannot import 'iguazio_functions': ModuleNotFoundError"
        in done.stderr
    )
    assert (
        "hint: module_paths that do not exist here: /User/modules,"
        " /User/iguazioig/examples/modules; give the folder holding iguazio_functions"
        " with --module-path DIR" in done.stderr
    )
    assert "relative" not in done.stderr.split("hint:")[1].split("(")[0]


def test_a_missing_package_of_the_step_code_is_named(tmp_path: Path) -> None:
    source = tmp_path / "in.jsonl"
    source.write_text(json.dumps(message(1)) + "\n")
    (tmp_path / "site").mkdir()
    (tmp_path / "site" / "sitecustomize.py").write_text(WITHOUT_REQUESTS)
    paths = [str(tmp_path / "site"), *filter(None, [os.environ.get("PYTHONPATH")])]
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(paths)}

    done = graph_run(
        "--local",
        "--into",
        "input_stream",
        "--input",
        str(source),
        "--module-path",
        str(MODULES),
        env=env,
    )

    assert done.returncode == 2
    assert "No module named 'requests'" in done.stderr
    assert "hint: install the missing package 'requests' into nervosum's environment" in (
        done.stderr
    )


def test_graph_serve_dead_letters_the_undeclared_output_and_stops(platform: Path) -> None:
    port = free_port()
    with spawned_nervosum(
        "graph", "serve", str(GRAPH), "--port", str(port),
        "--module-path", str(MODULES), "--module-path", str(platform), port=port,
    ) as server:  # fmt: skip
        wait_ready(server, timeout=30)
        with server.client() as http:
            answer = http.post("/predict?into=input_stream", json=message(1))
        assert answer.status_code == 422, answer.text
        body = answer.json()
        assert body["outputs"] == []
        [letter] = body["dead_letters"]
        assert letter["step"] == "step-1" and letter["reason"].startswith(UNDELIVERABLE)
        server.process.send_signal(signal.SIGTERM)
        assert server.process.wait(timeout=20) == 0, server.output()
        assert "left 10 threads running" in server.output()


def test_on_redis_the_undeclared_output_is_dead_lettered(platform: Path) -> None:
    with running("redis") as broker:
        command = [
            sys.executable, "-m", "nervosum", "graph", "run", str(GRAPH),
            "--transport", f"redis://{broker.address}", "--step", "step_1",
            "--max-wait-ms", "50", "--module-path", str(MODULES), "--module-path", str(platform),
        ]  # fmt: skip
        step = subprocess.Popen(
            command,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            env={**os.environ, "PYTHONUNBUFFERED": "1"},
        )
        try:
            items = [(b"k1", json.dumps(message(n)).encode()) for n in (1, 2)]
            broker.put("super-cool-project.streams.input-stream", items)
            letters = broker.take_until("super-cool-project.dead-letter", 2, timeout=30)
        finally:
            step.send_signal(signal.SIGTERM)
            output = step.communicate(timeout=30)[0].decode()
        assert step.returncode == 0, output
        assert "Traceback" not in output
        records = [json.loads(payload) for _key, payload in letters]
        assert [(r["step"], r["key"]) for r in records] == [("step-1", "k1")] * 2
        assert all(r["reason"].startswith(UNDELIVERABLE) for r in records)
        assert [json.loads(r["payload"])["n"] for r in records] == [1, 2]


def test_the_converge_example_configured_by_environment_ends_too(
    platform: Path, tmp_path: Path
) -> None:
    """examples/modules/stream_converge.py (configured from CLASS_CONFIG) in a native
    graph: its threads are left too, named, and the run ends with the summary."""
    graph = tmp_path / "converge.yaml"
    graph.write_text(
        "graph: converge\nstreams: {requests: {}}\nsteps:\n"
        "  - {name: converge, inputs: [requests], class_module: stream_converge,"
        " class_name: igz_stream_converge, methods: [processing]}\n"
    )
    source = tmp_path / "in.jsonl"
    source.write_text("".join(json.dumps({"PartitionKey": "k", "n": n}) + "\n" for n in (1, 2)))
    config = {"container": "bigdata", "table_path": "t", "results_file": "r.csv"}

    done = subprocess.run(
        [
            sys.executable, "-m", "nervosum", "graph", "run", str(graph), "--local",
            "--input", str(source), "--output", str(tmp_path / "out.jsonl"),
            "--module-path", str(MODULES), "--module-path", str(platform),
        ],
        env={**os.environ, "CLASS_CONFIG": json.dumps(config)},
        capture_output=True, text=True, timeout=60, check=False,
    )  # fmt: skip

    assert done.returncode == 0, done.stderr
    assert "fed 2 messages: 0 results" in done.stderr
    assert "warning: the steps' code left 10 threads running (" in done.stderr
    assert sorted(c[3] for c in calls(platform) if c[0] == "kv.put") == ["k~1", "k~2"]
