"""Fault runs: kill -9 part of a loaded server and count what the clients saw.

    python benchmarks/faults.py                 # every fault, c=16, 3 s before and 5 s after
    python benchmarks/faults.py --only supervisor --clients 32

Each run serves examples/iris as a real `nervosum serve` subprocess, puts it under load
(``--clients`` threads, each POSTing one iris row after another on its own keep-alive
connection), kills one process with SIGKILL and keeps the load on. It prints requests
sent, answered 200, failed (by status, or by transport error), and how long the outage
lasted: from the kill to the first success after the last failure. The faults:

- model process: ``--model-process``, the model process is killed (it is restarted);
- worker: ``--workers 2``, one worker is killed (the supervisor starts another; also
  timed: until two workers serve again);
- supervisor: ``--workers 2``, the supervisor is killed (its workers must follow it):
  timed until the port can be bound again and until a new server on it is ready.

Figures, not pass/fail: the machine is small and shared, so compare within one run.
"""

from __future__ import annotations

import argparse
import os
import signal
import sys
import threading
import time
from collections import Counter
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

import httpx

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from tests.conftest import LiveServer, free_port, spawned_server, wait_ready  # noqa: E402
from tests.integration.processes import (  # noqa: E402
    children,
    exists,
    is_zombie,
    port_can_be_bound,
    wait_until,
)

IRIS = ROOT / "examples" / "iris"
ROW = {"sepal_length": 6.7, "sepal_width": 3.0, "petal_length": 5.2, "petal_width": 2.3}


@dataclass
class Outcome:
    """What the clients saw: (start, end, result) per request, result a status or error."""

    results: list[tuple[float, float, str]] = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock)

    def add(self, started: float, ended: float, result: str) -> None:
        with self.lock:
            self.results.append((started, ended, result))

    def summary(self, killed: float) -> str:
        counts = Counter(result for _, _, result in self.results)
        failed = {k: v for k, v in counts.items() if k != "200"}
        failures = [end for _, end, result in self.results if result != "200"]
        last_failure = max(failures, default=killed)
        recovered = min(
            (end for _, end, result in self.results if result == "200" and end > last_failure),
            default=None,
        )
        outage = "never" if recovered is None else f"{recovered - killed:.3f}s"
        return (
            f"sent {len(self.results)}, ok {counts['200']}, "
            f"failed {sum(failed.values())} {dict(sorted(failed.items()))}, outage {outage}"
        )


def client_loop(url: str, outcome: Outcome, stop: threading.Event) -> None:
    with httpx.Client(base_url=url, timeout=10) as client:
        while not stop.is_set():
            started = time.monotonic()
            try:
                result = str(client.post("/predict", json=ROW).status_code)
            except httpx.TransportError as exc:
                result = type(exc).__name__
                time.sleep(0.05)  # a client backs off a little after a refused connection
            outcome.add(started, time.monotonic(), result)


class Load:
    """``clients`` threads POSTing until :meth:`finish`, which waits for the last answers."""

    def __init__(self, url: str, clients: int) -> None:
        self.outcome = Outcome()
        self._stop = threading.Event()
        self._pool = ThreadPoolExecutor(max_workers=clients)
        self._clients = [
            self._pool.submit(client_loop, url, self.outcome, self._stop) for _ in range(clients)
        ]

    def finish(self) -> Outcome:
        self._stop.set()
        for client in self._clients:
            client.result()
        self._pool.shutdown()
        return self.outcome


@contextmanager
def load(url: str, clients: int) -> Iterator[Load]:
    running = Load(url, clients)
    try:
        yield running
    finally:
        running.finish()


def kill_under_load(
    server: LiveServer, victim: int, clients: int, before: float, after: float
) -> tuple[Outcome, float]:
    with load(server.url, clients) as running:
        time.sleep(before)
        killed = time.monotonic()
        os.kill(victim, signal.SIGKILL)
        time.sleep(after)
    return running.outcome, killed


def model_process_fault(args: argparse.Namespace) -> None:
    port = free_port()
    with spawned_server(IRIS, "--port", str(port), "--model-process", port=port) as server:
        wait_ready(server)
        (victim,) = children(server.process.pid)
        outcome, killed = kill_under_load(server, victim, args.clients, args.before, args.after)
        replaced = [p for p in children(server.process.pid) if p != victim]
        print(f"model process: {outcome.summary(killed)}")
        print(f"  replaced by {replaced}, zombie left: {is_zombie(victim)}")


def worker_fault(args: argparse.Namespace) -> None:
    port = free_port()
    with spawned_server(IRIS, "--port", str(port), "--workers", "2", port=port) as server:
        wait_ready(server)
        supervisor = server.process.pid
        workers = children(supervisor)
        forked: list[float] = []

        def replaced() -> bool:
            return any(p not in workers for p in children(supervisor))

        with load(server.url, args.clients) as running:
            time.sleep(args.before)
            killed = time.monotonic()
            os.kill(workers[0], signal.SIGKILL)
            forked.append(wait_until(replaced, 30, "a new worker"))
            time.sleep(args.after)
        print(f"worker: {running.outcome.summary(killed)}")
        print(f"  a new worker forked after {forked[0]:.3f}s")


def supervisor_fault(args: argparse.Namespace) -> None:
    port = free_port()
    with spawned_server(IRIS, "--port", str(port), "--workers", "2", port=port) as server:
        wait_ready(server)
        supervisor = server.process.pid
        workers = children(supervisor)
        with load(server.url, args.clients) as running:
            time.sleep(args.before)
            killed = time.monotonic()
            os.kill(supervisor, signal.SIGKILL)
            free = wait_until(lambda: port_can_be_bound(port), 30, f"port {port} free")
            ended = free + wait_until(
                lambda: all(not exists(p) or is_zombie(p) for p in workers), 30, "workers ended"
            )
            with spawned_server(IRIS, "--port", str(port), "--workers", "2", port=port) as again:
                wait_ready(again)
                ready = time.monotonic() - killed
                time.sleep(1)
                outcome = running.finish()  # before the new server stops
        print(f"supervisor: {outcome.summary(killed)}")
        print(
            f"  port free after {free:.3f}s, both workers ended after {ended:.3f}s, "
            f"a new server on the port ready after {ready:.3f}s"
        )


FAULTS = {
    "model-process": model_process_fault,
    "worker": worker_fault,
    "supervisor": supervisor_fault,
}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--only", nargs="+", choices=sorted(FAULTS), default=list(FAULTS))
    parser.add_argument("--clients", type=int, default=16)
    parser.add_argument("--before", type=float, default=3.0, help="seconds of load before")
    parser.add_argument("--after", type=float, default=5.0, help="seconds of load after")
    args = parser.parse_args()
    print(f"c={args.clients}, {args.before:g}s of load before the kill, {args.after:g}s after")
    for name in args.only:
        FAULTS[name](args)


if __name__ == "__main__":
    main()
