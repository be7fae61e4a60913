"""`nervosum graph deploy` against real brokers, checked with each broker's own client.

The librdkafka mock cluster has no CreateTopics or DeleteTopics: the tests that create
or delete topics run on Kafka only against a real broker (``NERVOSUM_TEST_KAFKA``); on
the mock, deploy is checked where it needs neither (topics that exist, groups) and
where the broker refuses.
"""

from __future__ import annotations

import asyncio
import json
import os
import pty
import subprocess
import sys
import sysconfig
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from tests.conftest import free_port
from tests.services.brokers import Broker, RedisBroker, _wait_port, running

pytestmark = pytest.mark.slow  # real brokers and worker processes

TRANSPORTS = ["redis", "nats", "kafka"]
# iguazioig's own 0.2.0 graph, as published (tests/data/seeds/marcelonyc__iguazioig/SOURCE.md)
SEED_GRAPH = (
    Path(__file__).resolve().parents[1]
    / "data/seeds/marcelonyc__iguazioig/tests/api_0_2_0/util/inference_graph.yaml"
)
KAFKA_MOCK = not os.environ.get("NERVOSUM_TEST_KAFKA")

# Two steps: `score` reads requests; `audit-log` (group audit_log) reads requests and
# scored; results is a final stream, read by no step.
NATIVE = """\
graph: shop-{tag}
streams:
  requests: {{partitions: 2, retention_hours: 1}}
  scored: {{}}
  results: {{}}
steps:
  - name: score
    inputs: [requests]
    outputs: [scored]
    class_module: model
    class_name: Model
    methods: [predict]
  - name: audit-log
    inputs: [requests, scored]
    outputs: [results]
    class_module: model
    class_name: Audit
    methods: [record]
"""

NOT_STARTED = "is not started by deploy: creating the consumer groups of its inputs"


@pytest.fixture(scope="module", params=TRANSPORTS)
def broker(request: pytest.FixtureRequest) -> Iterator[Broker]:
    with running(request.param) as started:
        yield started


def needs_topic_admin(broker: Broker) -> None:
    if broker.scheme == "kafka" and KAFKA_MOCK:
        pytest.skip(
            "the librdkafka mock cluster cannot create or delete topics:"
            " set NERVOSUM_TEST_KAFKA=host:port to run this against a real broker"
        )


@dataclass(frozen=True)
class Shop:
    """The native graph, written under a fresh name, and its transport names."""

    path: Path
    requests: str
    scored: str
    results: str


@pytest.fixture
def shop(tmp_path: Path) -> Shop:
    tag = uuid.uuid4().hex[:8]
    path = tmp_path / "shop.yaml"
    path.write_text(NATIVE.format(tag=tag))
    return Shop(path, f"shop-{tag}.requests", f"shop-{tag}.scored", f"shop-{tag}.results")


def transport(broker: Broker) -> str:
    return f"{broker.scheme}://{broker.address}"


def start(
    graph: Path,
    url: str,
    *args: str,
    stdin: int | None = subprocess.DEVNULL,
    command_name: str = "deploy",
) -> subprocess.Popen[str]:
    """`nervosum graph deploy GRAPH --transport URL ARGS` (or another graph command),
    started."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("NERVOSUM_")}
    command = [sys.executable, "-m", "nervosum", "graph", command_name, str(graph)]
    return subprocess.Popen(
        [*command, "--transport", url, *args],
        env={**env, "COLUMNS": "400"},
        stdin=stdin,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


def finish(process: subprocess.Popen[str]) -> subprocess.CompletedProcess[str]:
    stdout, stderr = process.communicate(timeout=120)
    return subprocess.CompletedProcess(process.args, process.returncode, stdout, stderr)


def deploy(
    graph: Path, url: str, *args: str, stdin: int | None = subprocess.DEVNULL
) -> subprocess.CompletedProcess[str]:
    """`nervosum graph deploy GRAPH --transport URL ARGS`, run to completion."""
    return finish(start(graph, url, *args, stdin=stdin))


def deployed(graph: Path, broker: Broker) -> None:
    """Deploy ``graph`` in this process, to arrange a test (quicker than the CLI)."""
    from nervosum.brokers.addresses import parse_broker
    from nervosum.brokers.admin import DeploySettings
    from nervosum.graph.deploy import deploy_plan
    from nervosum.graph.load import load_graph
    from nervosum.graph.plan import plan_graph

    planned = plan_graph(load_graph(graph).spec)
    deploy_plan(planned, parse_broker(transport(broker)), DeploySettings(), lambda done: None)


def deploy_in_terminal(
    graph: Path, url: str, *args: str, answer: str
) -> subprocess.CompletedProcess[str]:
    """Deploy with a terminal as standard input, typing ``answer`` to its question."""
    controller, terminal = pty.openpty()
    try:
        os.write(controller, answer.encode())
        return deploy(graph, url, *args, stdin=terminal)
    finally:
        os.close(controller)
        os.close(terminal)


@dataclass(frozen=True)
class Seen:
    """A stream as the broker's own client sees it. ``setting``: NATS's max_age in
    seconds, Kafka's partition count, nothing on Redis."""

    groups: frozenset[str]
    messages: int
    setting: float | None = None


def look(broker: Broker, names: list[str]) -> dict[str, Seen | None]:
    """Each stream in ``names`` (None: missing), with its groups and message count."""
    if isinstance(broker, RedisBroker):
        found: dict[str, Seen | None] = {}
        for name in names:
            if broker.db.type(name) != b"stream":
                found[name] = None
                continue
            groups = [g["name"].decode() for g in broker.db.xinfo_groups(name)]
            found[name] = Seen(frozenset(groups), broker.db.xlen(name))
        return found
    if broker.scheme == "nats":
        return asyncio.run(_look_nats(broker.address, names))
    from confluent_kafka.admin import AdminClient

    topics = AdminClient({"bootstrap.servers": broker.address}).list_topics(timeout=10).topics
    return {
        name: Seen(frozenset(), len(broker.take(name)), len(topics[name].partitions))
        if name in topics
        else None
        for name in names
    }


async def _look_nats(address: str, names: list[str]) -> dict[str, Seen | None]:
    import nats
    from nats.js.errors import NotFoundError

    connection = await nats.connect(f"nats://{address}")
    js = connection.jetstream()
    found: dict[str, Seen | None] = {}
    for subject in names:
        try:
            stream = await js.find_stream_name_by_subject(subject)
        except NotFoundError:
            found[subject] = None
            continue
        info = await js.stream_info(stream)
        consumers = await js.consumers_info(stream)
        groups = frozenset(c.name for c in consumers)
        found[subject] = Seen(groups, info.state.messages, info.config.max_age)
    await connection.close()
    return found


def groups(broker: Broker, *names: str) -> frozenset[str]:
    """The groups deploy leaves on ``broker``: none on Kafka, which makes a group when
    its first member joins."""
    return frozenset() if broker.scheme == "kafka" else frozenset(names)


def group_line(broker: Broker, group: str, stream: str, *, present: bool = False) -> str:
    if broker.scheme == "kafka":
        return (
            f"Consumer group {group} on {stream}: nothing to create,"
            " groups are created when the first member joins"
        )
    if present:
        return f"Consumer group {group} on {stream} already present"
    return f"Created consumer group {group} on {stream}"


def heads(stdout: str) -> list[str]:
    """The printed actions without the broker's details in parentheses."""
    return [line.split(" (")[0] for line in stdout.splitlines()]


async def _check_consumer(address: str, subject: str, durable: str) -> None:
    import nats
    from nats.js.api import AckPolicy, DeliverPolicy

    connection = await nats.connect(f"nats://{address}")
    js = connection.jetstream()
    info = await js.consumer_info(await js.find_stream_name_by_subject(subject), durable)
    await connection.close()
    config = info.config
    assert (config.durable_name, config.ack_policy, config.ack_wait) == (
        durable,
        AckPolicy.EXPLICIT,
        4.5,
    )
    assert (config.filter_subject, config.deliver_policy) == (subject, DeliverPolicy.ALL)


def test_the_seed_graph_gets_its_streams_then_each_steps_groups(
    broker: Broker, tmp_path: Path
) -> None:
    needs_topic_admin(broker)
    tag = uuid.uuid4().hex[:8]
    text = SEED_GRAPH.read_text()
    text = text.replace("name: super_cool_project", f"name: seed_{tag}")
    text = text.replace("path: v0_1_streams/converge", f"path: seed_{tag}/converge")
    assert text.count(tag) == 2
    graph = tmp_path / "inference_graph.yaml"
    graph.write_text(text)
    entry, step2 = f"seed-{tag}.streams.input-stream", f"seed-{tag}.streams.step2"
    converge = f"seed_{tag}.converge"

    result = deploy(graph, transport(broker), "--idle-ms", "4500")

    assert result.returncode == 0, result.stderr
    assert "'output_stream' is not declared" in result.stderr  # the load warning, kept
    assert heads(result.stdout) == [
        f"Created stream {entry}",
        f"Created stream {step2}",
        f"Created stream {converge}",
        f"Step step-1 {NOT_STARTED}",
        group_line(broker, "step_1", entry),
        f"Step stream-converge {NOT_STARTED}",
        group_line(broker, "stream_converge", entry),
        group_line(broker, "stream_converge", step2),
    ]
    seen = look(broker, [entry, step2, converge])
    assert {name: s.groups if s else None for name, s in seen.items()} == {
        entry: groups(broker, "step_1", "stream_converge"),
        step2: groups(broker, "stream_converge"),
        converge: frozenset(),
    }
    settings = {name: s.setting for name, s in seen.items() if s}
    if broker.scheme == "nats":  # the seed's stream_retention: 72 hours; converge's own 48
        assert settings == {entry: 72 * 3600.0, step2: 72 * 3600.0, converge: 48 * 3600.0}
    if broker.scheme == "kafka":  # stream_shards 16, converge's own shards 20
        assert settings == {entry: 16, step2: 16, converge: 20}
    # A step started after messages arrived still reads them: groups start at the
    # stream's first entry; on NATS as graph run's durable pull consumer.
    if isinstance(broker, RedisBroker):
        [group] = broker.db.xinfo_groups(step2)
        assert (group["name"], group["last-delivered-id"]) == (b"stream_converge", b"0-0")
    elif broker.scheme == "nats":
        asyncio.run(_check_consumer(broker.address, step2, "stream_converge"))


def test_a_second_deploy_finds_everything_already_present(broker: Broker, shop: Shop) -> None:
    needs_topic_admin(broker)
    deployed(shop.path, broker)

    again = deploy(shop.path, transport(broker), "--json")

    assert again.returncode == 0, again.stderr
    records = [json.loads(line) for line in again.stdout.splitlines()]
    assert [r["message"] for r in records] == [
        f"Stream {shop.requests} already present",
        f"Stream {shop.scored} already present",
        f"Stream {shop.results} already present",
        f"Step score {NOT_STARTED}",
        group_line(broker, "score", shop.requests, present=True),
        f"Step audit-log {NOT_STARTED}",
        group_line(broker, "audit_log", shop.requests, present=True),
        group_line(broker, "audit_log", shop.scored, present=True),
    ]
    assert {r["result"] for r in records} <= {"present", "not started", "not needed"}


def test_recreate_yes_empties_the_streams_and_restores_the_groups(
    broker: Broker, shop: Shop
) -> None:
    needs_topic_admin(broker)
    deployed(shop.path, broker)
    broker.put(shop.requests, [(b"k", b'{"n": 1}'), (b"k", b'{"n": 2}')])
    before = look(broker, [shop.requests])[shop.requests]
    assert before is not None and before.messages == 2

    result = deploy(shop.path, transport(broker), "--recreate", "--yes")

    assert result.returncode == 0, result.stderr
    lines = heads(result.stdout)
    assert lines[:2] == [
        "Step score is not stopped by deploy: stop its processes, the streams it reads are"
        " recreated",
        "Step audit-log is not stopped by deploy: stop its processes, the streams it reads"
        " are recreated",
    ]
    for name in (shop.requests, shop.scored, shop.results):
        deleted = lines.index(f"Deleted stream {name}")
        assert lines[deleted + 1] == f"Created stream {name}"
    after = look(broker, [shop.requests])[shop.requests]
    assert after is not None
    assert (after.groups, after.messages) == (groups(broker, "score", "audit_log"), 0)


def test_include_creates_the_groups_of_the_named_steps_only(broker: Broker, shop: Shop) -> None:
    needs_topic_admin(broker)
    result = deploy(shop.path, transport(broker), "--include", "score")

    assert result.returncode == 0, result.stderr
    assert heads(result.stdout) == [
        f"Created stream {shop.requests}",
        f"Created stream {shop.scored}",
        f"Created stream {shop.results}",
        f"Step score {NOT_STARTED}",
        group_line(broker, "score", shop.requests),
    ]
    seen = look(broker, [shop.requests, shop.scored, shop.results])
    assert {name: s.groups if s else None for name, s in seen.items()} == {
        shop.requests: groups(broker, "score"),
        shop.scored: frozenset(),
        shop.results: frozenset(),
    }


@pytest.fixture
def kafka_mock() -> Iterator[Broker]:
    if not KAFKA_MOCK:
        pytest.skip("the librdkafka mock cluster only")
    with running("kafka") as started:
        yield started


def test_on_the_kafka_mock_existing_topics_are_kept_and_groups_need_no_creating(
    kafka_mock: Broker, shop: Shop
) -> None:
    for name in (shop.requests, shop.scored, shop.results):
        kafka_mock.put(name, [(b"k", b"{}")])  # the mock creates a topic on its first write

    result = deploy(shop.path, transport(kafka_mock), "--include", "audit_log")

    assert result.returncode == 0, result.stderr
    assert result.stdout.splitlines() == [
        f"Stream {shop.requests} already present",
        f"Stream {shop.scored} already present",
        f"Stream {shop.results} already present",
        f"Step audit-log {NOT_STARTED}",
        group_line(kafka_mock, "audit_log", shop.requests),
        group_line(kafka_mock, "audit_log", shop.scored),
    ]
    assert len(kafka_mock.take(shop.requests)) == 1


def test_a_broker_that_cannot_create_topics_stops_deploy_with_one_line(
    kafka_mock: Broker, shop: Shop
) -> None:
    result = deploy(shop.path, transport(kafka_mock), "--timeout", "1")

    assert result.returncode == 1
    assert result.stdout == ""
    error, hint = result.stderr.splitlines()
    assert error.startswith(f"error: could not create stream {shop.requests} on kafka://")
    assert hint.startswith("hint: the actions printed above are done; run deploy again")


def test_a_key_that_is_not_a_stream_is_refused_and_kept(shop: Shop) -> None:
    with running("redis") as redis:
        assert isinstance(redis, RedisBroker)
        redis.db.set(shop.scored, "somebody's value")
        server = redis.address.split("/")[0]

        result = deploy(shop.path, transport(redis))

        assert result.returncode == 1
        assert heads(result.stdout) == [f"Created stream {shop.requests}"]
        error, hint = result.stderr.splitlines()
        assert error == (
            f"error: could not create stream {shop.scored} on redis://{server}:"
            f" the key {shop.scored} holds a Redis string, not a stream"
        )
        assert "run deploy again" in hint
        assert redis.db.get(shop.scored) == b"somebody's value"


def test_recreate_asks_first_and_changes_nothing_unless_confirmed(shop: Shop) -> None:
    with running("redis") as redis:
        url = transport(redis)
        deployed(shop.path, redis)
        redis.put(shop.requests, [(None, b"{}")])

        unattended = deploy(shop.path, url, "--recreate")
        declined = deploy_in_terminal(shop.path, url, "--recreate", answer="n\n")
        assert len(redis.take(shop.requests)) == 1
        confirmed = deploy_in_terminal(shop.path, url, "--recreate", answer="y\n")

        assert unattended.returncode == 2 and unattended.stdout == ""
        assert unattended.stderr.splitlines()[1] == "hint: add --yes to recreate without asking"
        assert declined.returncode == 1 and declined.stdout == ""
        assert "Delete and recreate them? [y/N]" in declined.stderr
        assert f"  {shop.requests}\n" in declined.stderr
        assert "error: --recreate declined: nothing was changed" in declined.stderr
        assert confirmed.returncode == 0, confirmed.stderr
        assert f"Deleted stream {shop.requests}" in confirmed.stdout
        assert redis.take(shop.requests) == []


@pytest.fixture
def nats_without_jetstream() -> Iterator[int]:
    """A nats-server started without -js: its port."""
    port = free_port()
    binary = os.path.join(sysconfig.get_path("scripts"), "nats-server")
    process = subprocess.Popen(
        [binary, "-a", "127.0.0.1", "-p", str(port)],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        _wait_port(port)
        yield port
    finally:
        process.terminate()
        process.wait(10)


def test_bad_and_unreachable_brokers_are_one_line_with_a_hint(
    shop: Shop, nats_without_jetstream: int
) -> None:
    port = free_port()  # nothing listens there
    cases = {
        "amqp://127.0.0.1:5672": (2, "the scheme must be one of redis, nats, kafka"),
        "redis://127.0.0.1:6379/0/requests": (2, "names the broker only"),
        f"redis://127.0.0.1:{port}/0": (1, f"cannot reach redis://127.0.0.1:{port}"),
        f"nats://127.0.0.1:{port}": (1, f"cannot reach nats://127.0.0.1:{port}"),
        f"kafka://127.0.0.1:{port}": (1, f"cannot reach kafka://127.0.0.1:{port}"),
        f"nats://127.0.0.1:{nats_without_jetstream}": (1, "has no JetStream"),
    }
    started = {url: start(shop.path, url, "--timeout", "1") for url in cases}
    for url, (code, said) in cases.items():
        result = finish(started[url])

        assert result.returncode == code, (url, result.stderr)
        assert result.stdout == ""
        error, hint = result.stderr.splitlines()  # no traceback, no client logging
        assert error.startswith("error: ") and said in error, error
        assert hint.startswith("hint: ")


EXAMPLE = Path(__file__).parents[2] / "examples" / "graph" / "pipeline.yaml"


def kubernetes(graph: Path, url: str, *args: str) -> subprocess.CompletedProcess[str]:
    """`nervosum graph kubernetes GRAPH --transport URL ARGS`, run to completion."""
    return finish(start(graph, url, *args, command_name="kubernetes"))


def test_graph_kubernetes_renders_the_stream_job_and_a_deployment_per_step() -> None:
    """Nothing is contacted (no broker runs at this address): the objects are printed,
    valid against the Kubernetes schemas, each step's pod running its consumer."""
    import kubernetes_validate
    import yaml

    image = ("--set", "image.repository=registry.local/spam", "--set", "image.tag=v1")
    done = kubernetes(EXAMPLE, "redis://redis:6379/0", *image)
    assert done.returncode == 0, done.stderr
    objects = [o for o in yaml.safe_load_all(done.stdout) if o]
    for manifest in objects:
        kubernetes_validate.validate(manifest, "1.37.0", strict=True)
    assert objects[0]["metadata"]["name"].startswith("spam-filter-streams-")
    assert [(o["kind"], o["metadata"]["name"]) for o in objects] == [
        ("Job", objects[0]["metadata"]["name"]),
        ("Deployment", "spam-filter-score"),
        ("Deployment", "spam-filter-enrich"),
        ("Deployment", "spam-filter-join"),
    ]
    join = objects[3]["spec"]["template"]["spec"]["containers"][0]
    command = " ".join([*join.get("command", []), *join.get("args", [])])
    assert "graph run pipeline.yaml --transport redis://redis:6379/0 --step join" in command
    assert join["image"] == "registry.local/spam:v1"
    assert "nothing was written or applied" in done.stderr


def test_graph_kubernetes_without_an_image_is_one_line_and_exit_2() -> None:
    done = kubernetes(EXAMPLE, "redis://redis:6379/0")
    assert done.returncode == 2, done.stderr
    assert "the stream set-up Job has no image" in done.stderr
    assert "Traceback" not in done.stderr


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--target", "kubernetes"], "is now `nervosum graph kubernetes`"),
        (["--set", "replicas=2"], "No such option '--set'"),
        (["--recreate", "--target", "kubernetes"], "is now `nervosum graph kubernetes`"),
    ],
)
def test_deploy_options_of_the_kubernetes_command_are_one_line_and_exit_2(
    args: list[str], message: str
) -> None:
    done = deploy(EXAMPLE, "redis://redis:6379/0", *args)
    assert done.returncode == 2, done.stderr
    assert message in done.stderr and "Traceback" not in done.stderr
