"""Stream serving throughput: messages/s end to end through `nervosum stream`, next to the
broker's raw round trip and the model's own rate, in one run.

    python benchmarks/stream.py                    # Redis and NATS, 20,000 messages
    python benchmarks/stream.py --messages 5000 --brokers redis

For each broker (a real Valkey server and a real nats-server -js, started as the tests
start them) and batches of 64 and 256:

- raw: the same transport in one process reading the source as a group member, writing
  every payload to a sink unchanged and acknowledging, with no model: the broker's round
  trip, the most a worker could do;
- class: a `nervosum stream` subprocess serving examples/iris (a user class around a
  RandomForest), scoring every message (one iris record each), from the first output to
  the last, all messages queued before it starts;
- compiled / --no-compile: the same with the benchmark's forest as a joblib file
  (RandomForest, 100 trees, `probabilities: false`: benchmarks/batch.py's project),
  compiled to ONNX (the default, issue 21) and served by scikit-learn;
- model: `Engine.predict_groups` on a batch of one-record messages, in this process, for
  each of the three (a RandomForest's fixed cost per call makes it the bound at small
  batches; compiled, the model is no longer the bound).

Targets: the class at >= 50% of the raw round trip (figures); the compiled file at >= 70%
(issue 21: PASS / FAIL for this run).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from benchmarks.batch import make_project  # noqa: E402
from tests.conftest import free_port  # noqa: E402
from tests.services.brokers import Broker, running  # noqa: E402

FLOWER = {"sepal_length": 5.1, "sepal_width": 3.5, "petal_length": 1.4, "petal_width": 0.2}


def payloads(count: int) -> list[tuple[bytes | None, bytes]]:
    body = json.dumps(FLOWER).encode()
    return [(f"m{i}".encode(), body) for i in range(count)]


async def raw_round_trip(broker: Broker, source: str, sink: str, count: int, batch: int) -> float:
    """Messages/s of read -> write unchanged -> ack, with nervosum's transport, no model."""
    from nervosum.brokers.addresses import parse_endpoint
    from nervosum.brokers.schemes import open_transport
    from nervosum.brokers.transport import Outgoing

    transport = open_transport(parse_endpoint(broker.url(source), "source"), "raw", idle_ms=30_000)
    await transport.connect()
    done = 0
    started = time.perf_counter()
    while done < count:
        messages = await transport.read(batch, 100)
        await transport.write(sink, [Outgoing(m.key, m.payload) for m in messages])
        await transport.ack(messages)
        done += len(messages)
    seconds = time.perf_counter() - started
    await transport.close()
    return count / seconds


def _written(port: int) -> float:
    """The worker's own count of outputs written, from its side port."""
    try:
        page = urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=2).read()
    except OSError:
        return 0.0
    for line in page.decode().splitlines():
        if line.startswith("nervosum_stream_messages_total") and 'outcome="written"' in line:
            return float(line.rsplit(" ", 1)[1])
    return 0.0


def through_nervosum(
    project: Path, flags: list[str], broker: Broker, source: str, *, count: int, batch: int
) -> float:
    """Messages/s of a `nervosum stream` worker from its first batch written to its last
    (its side port's counter, polled every 20 ms)."""
    port = free_port()
    command = [
        sys.executable, "-m", "nervosum", "stream", str(project), *flags,
        "--source", broker.url(source), "--sink", broker.url(f"{source}-out"),
        "--batch-size", str(batch), "--port", str(port),
    ]  # fmt: skip
    process = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        first_count = 0.0
        while not first_count:
            if process.poll() is not None:
                raise SystemExit(f"{' '.join(command)} exited with {process.returncode}")
            first_count = _written(port)
            time.sleep(0.02)
        first = time.perf_counter()
        while _written(port) < count:
            time.sleep(0.02)
        return (count - first_count) / (time.perf_counter() - first)
    finally:
        process.terminate()
        process.wait(30)


def model_rate(project: Path, config: str, count: int, batch: int) -> float:
    from nervosum.engine import Engine
    from nervosum.project import load_config

    engine = Engine.load(load_config(project, config))
    engine.predict_groups([[dict(FLOWER)] for _ in range(batch)], proba=False)
    calls = max(1, count // batch)
    started = time.perf_counter()
    for _ in range(calls):
        engine.predict_groups([[dict(FLOWER)] for _ in range(batch)], proba=False)
    return calls * batch / (time.perf_counter() - started)


# The side port answers `server.admin_rate_limit` requests for /metrics a minute per
# address (30 by default, then 429): the worker is timed by polling it every 20 ms.
POLLING = "server: {admin_rate_limit: 1000000}\n"


def forest_project(folder: Path) -> Path:
    """benchmarks/batch.py's forest project, with a second config serving it uncompiled."""
    project = make_project(folder)
    config = (project / "nervosum.yaml").read_text() + POLLING
    (project / "nervosum.yaml").write_text(config)
    off = config.replace("  probabilities: false\n", "  probabilities: false\n  compile: off\n")
    (project / "nervosum-off.yaml").write_text(off)
    return project


def class_config(folder: Path) -> Path:
    """examples/iris's config with the polling allowance, outside the example's folder."""
    config = folder / "iris.yaml"
    config.write_text((ROOT / "examples" / "iris" / "nervosum.yaml").read_text() + POLLING)
    return config


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--messages", type=int, default=20_000)
    parser.add_argument("--brokers", nargs="+", default=["redis", "nats"])
    parser.add_argument("--batch-sizes", type=int, nargs="+", default=[64, 256])
    options = parser.parse_args()
    count = options.messages
    with tempfile.TemporaryDirectory(prefix="nervosum-stream-bench-") as scratch:
        forest = forest_project(Path(scratch))
        iris = class_config(Path(scratch))
        # (label, project, flags for `nervosum stream`, config for the in-process model)
        served = [
            ("class", ROOT / "examples" / "iris", ["-c", str(iris)], str(iris)),
            ("compiled", forest, [], "nervosum.yaml"),
            ("--no-compile", forest, ["--no-compile"], "nervosum-off.yaml"),
        ]
        print(f"messages: {count:,}; Python {sys.version.split()[0]}")
        print(
            f"{'broker':<8} {'batch':>6} {'raw msg/s':>10}"
            + "".join(f" {label + ' msg/s':>18} {'vs raw':>6}" for label, *_ in served)
            + "".join(f" {'model ' + label:>18}" for label, *_ in served)
        )
        verdicts: list[str] = []
        for batch in options.batch_sizes:
            models = [model_rate(path, config, count, batch) for _, path, _, config in served]
            for scheme in options.brokers:
                with running(scheme) as broker:
                    broker.put("raw-in", payloads(count))
                    raw = asyncio.run(raw_round_trip(broker, "raw-in", "raw-out", count, batch))
                    rates = []
                    for index, (_, path, flags, _) in enumerate(served):
                        source = f"in{index}"
                        broker.put(source, payloads(count))
                        rates.append(
                            through_nervosum(path, flags, broker, source, count=count, batch=batch)
                        )
                print(
                    f"{scheme:<8} {batch:>6} {raw:>10,.0f}"
                    + "".join(f" {rate:>18,.0f} {rate / raw:>6.0%}" for rate in rates)
                    + "".join(f" {model:>18,.0f}" for model in models)
                )
                compiled = rates[1] / raw
                verdict = "PASS" if compiled >= 0.7 else "FAIL"
                verdicts.append(f"  {scheme:<6} batch {batch:<4} {compiled:>5.0%}  {verdict}")
        print("\ntarget of issue 21: the compiled file at >= 70% of the broker's raw round trip")
        print("\n".join(verdicts))


if __name__ == "__main__":
    main()
