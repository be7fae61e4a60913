"""A three-step graph with a converge over two branches, run three ways: in one process
over files (`graph run --local`), and with every step a consumer process on real Redis
and NATS (`graph run --transport`). The same messages give the same account each time:
every complete key emitted once with its methods' trace in order, and every refused
message dead-lettered with its step and reason. Killing the converge step mid-stream
and starting it again emits no group twice and loses none."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import tempfile
import time
from collections import Counter
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import httpx
import pytest

from tests.conftest import free_port, nervosum
from tests.services.brokers import Broker, Item, RedisBroker, running

pytestmark = pytest.mark.slow  # real brokers and worker processes

GRAPH = """\
graph: orders
partition_key: PartitionKey
module_paths: [.]
streams:
  requests: {}
  prepared: {}
  audited: {}
  results: {}
steps:
  - name: prepare
    inputs: [requests]
    class_module: trace_steps
    class_name: Pipeline
    class_init: {scale: 2}
    methods: [preprocess, predict, postprocess]
    outputs: [prepared]
  - name: audit
    inputs: [requests]
    class_module: trace_steps
    class_name: Auditor
    methods: [check]
    outputs: [audited]
  - name: join
    inputs: [prepared, audited]
    class_module: trace_steps
    class_name: Joiner
    converge: {timeout: 3, merge: combine}
    outputs: [results]
"""

STEPS = '''\
import os
import time


class Pipeline:
    """Its methods are listed out of alphabetical order on purpose."""

    def __init__(self, scale, logger):
        self.scale = scale
        self.logger = logger

    def preprocess(self, message):
        if message.get("drop"):
            return None
        return {**message, "trace": ["preprocess"]}

    def predict(self, context, message):
        if message.get("explode"):
            raise ValueError("cannot score this one")
        context.logger.debug("scoring %s", message["PartitionKey"])
        return {**message, "trace": message["trace"] + ["predict"]}

    def postprocess(self, message):
        value = message["value"] * self.scale
        return {**message, "value": value, "trace": message["trace"] + ["postprocess"]}


class Auditor:
    def check(self, message):
        return {"PartitionKey": message["PartitionKey"], "audited": True}


class Joiner:
    def __init__(self):
        self.delay = float(os.environ.get("JOIN_DELAY", "0"))

    def combine(self, parts):
        time.sleep(self.delay)
        merged = {}
        for part in parts:
            merged.update(part)
        merged["parts"] = len(parts)
        return merged
'''

GOOD = 12


@pytest.fixture
def graph_file(tmp_path: Path) -> Path:
    (tmp_path / "trace_steps.py").write_text(STEPS)
    path = tmp_path / "orders.yaml"
    path.write_text(GRAPH)
    return path


def good(count: int, start: int = 0) -> list[bytes]:
    return [
        json.dumps({"PartitionKey": f"o{i}", "value": i}).encode()
        for i in range(start, start + count)
    ]


BAD = [
    b"not json",
    json.dumps({"value": 1}).encode(),  # no partition key
    json.dumps({"PartitionKey": "boom", "value": 1, "explode": True}).encode(),
    json.dumps({"PartitionKey": "gone", "value": 1, "drop": True}).encode(),
]


def graph_run(graph_file: Path, *args: str) -> subprocess.CompletedProcess[str]:
    return nervosum("graph", "run", str(graph_file), *args, env=dict(os.environ))


def check_results(messages: list[dict[str, object]], count: int) -> None:
    """One result per good key, each with its trace in the listed order."""
    keys = Counter(str(m["PartitionKey"]) for m in messages)
    assert keys == Counter({f"o{i}": 1 for i in range(count)})
    for message in messages:
        assert message["trace"] == ["preprocess", "predict", "postprocess"]
        assert message["audited"] is True and message["parts"] == 2
        assert message["value"] == 2 * int(str(message["PartitionKey"])[1:])


def check_letters(letters: list[dict[str, object]]) -> None:
    """Not JSON and no key: refused by both steps reading requests; the exploding
    message by `prepare`, then its group (and the dropped one's) incomplete at `join`."""
    found = Counter((str(x["step"]), str(x.get("key")), str(x["reason"])[:40]) for x in letters)
    reasons = {(step, key): reason for step, key, reason in found}
    assert sum(found.values()) == 7, letters
    for step in ("prepare", "audit"):
        assert reasons[(step, "None")].startswith(("not JSON", "no partition key"))
    assert [r for (s, _k), r in reasons.items() if s == "prepare" and "raised" in r]
    boom = next(x for x in letters if x["step"] == "prepare" and x.get("key") == "boom")
    assert "predict() raised ValueError: cannot score this one" in str(boom["reason"])
    assert json.loads(str(boom["payload"]))["explode"] is True
    incomplete = {str(x["key"]) for x in letters if x["step"] == "join"}
    assert incomplete == {"boom", "gone"}
    for letter in letters:
        if letter["step"] == "join":
            assert "incomplete" in str(letter["reason"]) and "1 of 2" in str(letter["reason"])


def test_a_graph_runs_locally_over_files(graph_file: Path, tmp_path: Path) -> None:
    source = tmp_path / "in.jsonl"
    source.write_bytes(b"\n".join(good(GOOD) + BAD) + b"\n")
    out = tmp_path / "out" / "results.jsonl"
    done = graph_run(graph_file, "--local", "--input", str(source), "--output", str(out))
    assert done.returncode == 0, done.stderr
    lines = [json.loads(line) for line in out.read_text().splitlines()]
    assert {line["stream"] for line in lines} == {"results"}
    assert all(line["key"] == line["message"]["PartitionKey"] for line in lines)
    check_results([line["message"] for line in lines], GOOD)
    dead = out.with_name("results.dead-letter.jsonl")
    check_letters([json.loads(line) for line in dead.read_text().splitlines()])
    assert f"fed {GOOD + len(BAD)} messages: {GOOD} results" in done.stderr
    assert "1 filtered out by a step, 7 dead-lettered" in done.stderr


@contextmanager
def steps_running(
    graph_file: Path, broker: Broker, *extra: str, env: dict[str, str] | None = None
) -> Iterator[subprocess.Popen[bytes]]:
    """`graph run --transport` in the background, its log kept for failures."""
    transport = f"{broker.scheme}://{broker.address}"
    command = [
        sys.executable, "-m", "nervosum", "graph", "run", str(graph_file),
        "--transport", transport, "--idle-ms", "1000", "--max-wait-ms", "50",
        "--batch-size", "8", *extra,
    ]  # fmt: skip
    log = Path(tempfile.mkstemp(prefix="nervosum-graph-", suffix=".log")[1])
    with log.open("wb") as sink:
        process = subprocess.Popen(
            command,
            stdout=sink,
            stderr=subprocess.STDOUT,
            env={**os.environ, "PYTHONUNBUFFERED": "1", **(env or {})},
        )
    try:
        yield process
    finally:
        if process.poll() is None:
            process.send_signal(signal.SIGTERM)
            try:
                process.wait(30)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()
        output = log.read_text(errors="replace")
        log.unlink(missing_ok=True)
        assert "Traceback" not in output, output


def put(broker: Broker, messages: list[bytes]) -> None:
    items: list[Item] = [(None, m) for m in messages]
    broker.put("orders.requests", items)


def messages_in(broker: Broker, stream: str) -> list[dict[str, object]]:
    return [json.loads(payload) for _key, payload in broker.take(stream)]


def written(port: int) -> float:
    """The step's count of messages written, from its side port's /metrics."""
    try:
        page = httpx.get(f"http://127.0.0.1:{port}/metrics", timeout=2).text
    except httpx.TransportError:
        return 0.0
    for line in page.splitlines():
        if line.startswith("nervosum_stream_messages_total") and 'outcome="written"' in line:
            return float(line.rsplit(" ", 1)[1])
    return 0.0


def wait_for(broker: Broker, stream: str, count: int, timeout: float = 60) -> None:
    deadline = time.monotonic() + timeout
    while len(broker.take(stream)) < count:
        assert time.monotonic() < deadline, f"{stream}: fewer than {count} messages"
        time.sleep(0.2)


@pytest.mark.parametrize("scheme", ["redis", "nats"])
def test_every_step_runs_as_a_consumer_on_the_broker(graph_file: Path, scheme: str) -> None:
    with running(scheme) as broker, steps_running(graph_file, broker) as steps:
        put(broker, good(GOOD) + BAD)
        wait_for(broker, "orders.results", GOOD)
        wait_for(broker, "orders.dead-letter", 7)  # the incomplete groups after 3 s
        time.sleep(1)  # nothing more arrives
        check_results(messages_in(broker, "orders.results"), GOOD)
        check_letters(messages_in(broker, "orders.dead-letter"))
        keys = [key for key, _payload in broker.take("orders.results")]
        assert sorted(k.decode() for k in keys if k) == sorted(f"o{i}" for i in range(GOOD))
        steps.send_signal(signal.SIGTERM)
        assert steps.wait(30) == 0


@pytest.mark.parametrize("scheme", ["redis", "nats"])
def test_a_killed_converge_step_emits_every_group_once(graph_file: Path, scheme: str) -> None:
    """`join` is killed with SIGKILL while groups are completing (each merge takes
    20 ms) and started again: what it held is redelivered, groups it had emitted are
    not emitted again, and the rest complete from the parts kept in the broker."""
    total = 150
    slow = {"JOIN_DELAY": "0.02"}
    patient = graph_file.with_name("patient.yaml")  # no group may time out here
    patient.write_text(GRAPH.replace("timeout: 3", "timeout: 300"))
    with (
        running(scheme) as broker,
        steps_running(patient, broker, "--step", "prepare", "--step", "audit"),
    ):
        put(broker, good(total))
        port = free_port()
        side = ("--step", "join", "--port", str(port))
        with steps_running(patient, broker, *side, env=slow) as doomed:
            while written(port) < 30:  # its own count: reading the broker is slower
                assert doomed.poll() is None
                time.sleep(0.05)
            doomed.send_signal(signal.SIGKILL)
            doomed.wait()
        emitted_before = len(broker.take("orders.results"))
        assert emitted_before < total, "the join finished before it was killed"
        with steps_running(patient, broker, "--step", "join"):
            wait_for(broker, "orders.results", total)
            time.sleep(2)  # redeliveries of the killed batch have been handled
            check_results(messages_in(broker, "orders.results"), total)
        assert messages_in(broker, "orders.dead-letter") == []


def test_converge_needs_a_broker_that_keeps_state(graph_file: Path) -> None:
    with running("kafka") as broker:
        transport = f"kafka://{broker.address}"
        done = graph_run(graph_file, "--transport", transport, "--step", "join")
    assert done.returncode == 2
    assert "converge groups are kept in the broker: Redis or NATS" in done.stderr
    assert "Traceback" not in done.stderr


def test_a_broker_that_is_not_there_is_one_line_and_exit_1(graph_file: Path) -> None:
    """NATS is tried twice at start, then the step stops: no retrying for ever."""
    done = graph_run(graph_file, "--transport", f"nats://127.0.0.1:{free_port()}", "--step", "join")
    assert done.returncode == 1
    assert "error: cannot reach nats://127.0.0.1:" in done.stderr
    assert "Traceback" not in done.stderr


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--local"], "--local needs --input FILE"),
        ([], "say where the graph runs: --local or --transport URL"),
        (["--transport", "http://x"], "the scheme must be one of redis, nats, kafka"),
        (["--transport", "redis://127.0.0.1:1/0", "--step", "nosuch"], "no step 'nosuch'"),
        (["--local", "--input", "missing.jsonl"], "--input missing.jsonl: no such file"),
    ],
)
def test_bad_run_arguments_are_one_line_and_exit_2(
    graph_file: Path, args: list[str], message: str
) -> None:
    done = graph_run(graph_file, *args)
    assert done.returncode == 2, done.stderr
    assert message in done.stderr and "Traceback" not in done.stderr


def test_recreate_clears_converge_state_so_keys_can_be_replayed(graph_file: Path) -> None:
    """`graph deploy --recreate` deletes the streams and the converge step's done marks:
    replaying the same keys afterwards gives results again, not late-key dead letters."""
    with running("redis") as broker:
        assert isinstance(broker, RedisBroker)
        with steps_running(graph_file, broker):
            put(broker, good(3))
            wait_for(broker, "orders.results", 3)
        assert broker.db.keys("nervosum:converge:orders:join:*")
        transport = f"redis://{broker.address}"
        recreated = nervosum(
            "graph", "deploy", str(graph_file), "--transport", transport, "--recreate", "--yes",
            env=dict(os.environ),
        )  # fmt: skip
        assert recreated.returncode == 0, recreated.stderr
        assert "Deleted the converge groups and done marks of step join" in recreated.stdout
        assert broker.db.keys("nervosum:converge:orders:join:*") == []
        with steps_running(graph_file, broker):
            put(broker, good(3))
            wait_for(broker, "orders.results", 3)
            time.sleep(1)
            check_results(messages_in(broker, "orders.results"), 3)
        assert messages_in(broker, "orders.dead-letter") == []


@pytest.mark.parametrize("project", ["models/forest", "models/forest/model.joblib"])
def test_a_step_can_be_a_model_file_or_a_folder_holding_one(tmp_path: Path, project: str) -> None:
    import joblib
    from sklearn.datasets import load_iris
    from sklearn.ensemble import RandomForestClassifier

    features, target = load_iris(return_X_y=True, as_frame=True)
    features.columns = ["sl", "sw", "pl", "pw"]
    model = RandomForestClassifier(n_estimators=10, random_state=0).fit(features, target)
    (tmp_path / "models" / "forest").mkdir(parents=True)
    joblib.dump(model, tmp_path / "models" / "forest" / "model.joblib")
    graph = tmp_path / "graph.yaml"
    graph.write_text(
        "graph: scoring\nstreams: {requests: {}, scored: {}}\nsteps:\n"
        f"  - {{name: score, inputs: [requests], project: {project}, outputs: [scored]}}\n"
    )
    rows = features.iloc[[0, 60, 120]]
    source = tmp_path / "in.jsonl"
    source.write_text(
        "".join(
            json.dumps({"PartitionKey": str(i), **row}) + "\n"
            for i, row in enumerate(rows.to_dict(orient="records"))
        )
    )
    out = tmp_path / "out.jsonl"
    done = graph_run(graph, "--local", "--input", str(source), "--output", str(out))
    assert done.returncode == 0, done.stderr
    answers = [json.loads(line)["message"]["prediction"] for line in out.read_text().splitlines()]
    assert answers == model.predict(rows).tolist()
