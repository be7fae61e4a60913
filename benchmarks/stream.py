"""Stream serving throughput: messages/s end to end through `nervosum stream`, next to the
broker's raw round trip and the model's own rate, in one run.

    python benchmarks/stream.py                    # Redis and NATS, 20,000 messages
    python benchmarks/stream.py --messages 5000 --brokers redis

For each broker (a real Valkey server and a real nats-server -js, started as the tests
start them), with the iris model (examples/iris) and batches of 64 and 256:

- raw: the same transport in one process reading the source as a group member, writing
  every payload to a sink unchanged and acknowledging, with no model: the broker's round
  trip, the most a worker could do;
- nervosum: a `nervosum stream` subprocess scoring every message (one iris record each),
  from the first output to the last, all messages queued before it starts;
- model: `Engine.predict_groups` on a batch of one-record messages, in this process (the
  RandomForest's fixed cost per call makes it the bound at small batches).

Target: nervosum at >= 50% of the raw round trip. Figures, not pass/fail.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from tests.conftest import free_port  # noqa: E402
from tests.services.brokers import Broker, running  # noqa: E402

FLOWER = {"sepal_length": 5.1, "sepal_width": 3.5, "petal_length": 1.4, "petal_width": 0.2}


def payloads(count: int) -> list[tuple[bytes | None, bytes]]:
    body = json.dumps(FLOWER).encode()
    return [(f"m{i}".encode(), body) for i in range(count)]


async def raw_round_trip(broker: Broker, source: str, sink: str, count: int, batch: int) -> float:
    """Messages/s of read -> write unchanged -> ack, with nervosum's transport, no model."""
    from nervosum.stream.endpoints import open_transport, parse_endpoint
    from nervosum.stream.transport import Outgoing

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


def through_nervosum(broker: Broker, source: str, sink: str, count: int, batch: int) -> float:
    """Messages/s of a `nervosum stream` worker from its first batch written to its last
    (its side port's counter, polled every 20 ms)."""
    port = free_port()
    command = [
        sys.executable, "-m", "nervosum", "stream", str(ROOT / "examples" / "iris"),
        "--source", broker.url(source), "--sink", broker.url(sink),
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


def model_rate(count: int, batch: int) -> float:
    from nervosum.config import load_config
    from nervosum.engine import Engine

    engine = Engine.load(load_config(ROOT / "examples" / "iris"))
    engine.predict_groups([[dict(FLOWER)] for _ in range(batch)], proba=False)
    calls = max(1, count // batch)
    started = time.perf_counter()
    for _ in range(calls):
        engine.predict_groups([[dict(FLOWER)] for _ in range(batch)], proba=False)
    return calls * batch / (time.perf_counter() - started)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--messages", type=int, default=20_000)
    parser.add_argument("--brokers", nargs="+", default=["redis", "nats"])
    parser.add_argument("--batch-sizes", type=int, nargs="+", default=[64, 256])
    options = parser.parse_args()
    count = options.messages
    print(f"messages: {count:,}; Python {sys.version.split()[0]}")
    print(
        f"{'broker':<8} {'batch':>6} {'raw msg/s':>11} {'nervosum msg/s':>15} {'vs raw':>7}"
        f" {'model msg/s':>12}"
    )
    for batch in options.batch_sizes:
        model = model_rate(count, batch)
        for scheme in options.brokers:
            with running(scheme) as broker:
                broker.put("raw-in", payloads(count))
                raw = asyncio.run(raw_round_trip(broker, "raw-in", "raw-out", count, batch))
                broker.put("iris-in", payloads(count))
                served = through_nervosum(broker, "iris-in", "iris-out", count, batch)
            print(
                f"{scheme:<8} {batch:>6} {raw:>11,.0f} {served:>15,.0f} {served / raw:>7.0%}"
                f" {model:>12,.0f}"
            )


if __name__ == "__main__":
    main()
