"""Hostile clients against `nervosum serve`, and what /health/live does meanwhile.

    python benchmarks/slowclients.py                 # examples/iris, default server: limits
    python benchmarks/slowclients.py --slow 500 --probes 200

Two fault runs from issue 20 (item 2), each against a fresh server with the default
limits, while one client probes /health/live every 10 ms:

- one request whose header is 400 MB, sent in 1 MiB chunks as fast as the socket takes
  them (before the limits: liveness 21-26 s, the server 420 MB bigger);
- ``--slow`` connections trickling their request heads a byte at a time.

For each it prints the liveness latency (p50, p99, max over ``--probes`` probes), the
server's peak RSS growth, and what the hostile clients got back (how many bytes the
server took, the status it answered, how long the slow connections were held).
Figures, not pass/fail: the machine is small and shared.
"""

from __future__ import annotations

import argparse
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

import httpx
import psutil

ROOT = Path(__file__).resolve().parents[1]


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@contextmanager
def server(project: Path) -> Iterator[tuple[int, psutil.Process]]:
    """`nervosum serve PROJECT` on a free port, ready; its port and process."""
    port = free_port()
    command = [sys.executable, "-m", "nervosum", "serve", str(project), "--port", str(port)]
    process = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            try:
                if httpx.get(f"http://127.0.0.1:{port}/health/ready").status_code == 200:
                    break
            except httpx.TransportError:
                time.sleep(0.1)
        else:
            raise SystemExit("the server did not become ready")
        yield port, psutil.Process(process.pid)
    finally:
        process.terminate()
        process.wait(30)


class PeakRss(threading.Thread):
    """Samples a process's RSS every 20 ms until stopped; ``growth`` is peak minus start."""

    def __init__(self, process: psutil.Process) -> None:
        super().__init__(daemon=True)
        self.process = process
        self.start_rss = process.memory_info().rss
        self.peak = self.start_rss
        self.running = True

    def run(self) -> None:
        while self.running:
            self.peak = max(self.peak, self.process.memory_info().rss)
            time.sleep(0.02)

    def stop(self) -> int:
        self.running = False
        self.join()
        return self.peak - self.start_rss


def probe(port: int, count: int, interval: float = 0.01) -> list[float]:
    """``count`` GET /health/live on one keep-alive connection, ``interval`` s apart;
    seconds each."""
    latencies = []
    with httpx.Client(base_url=f"http://127.0.0.1:{port}", timeout=60) as client:
        for _ in range(count):
            started = time.perf_counter()
            try:
                status = str(client.get("/health/live").status_code)
            except httpx.TransportError as exc:
                status = type(exc).__name__
            latencies.append(time.perf_counter() - started)
            if status != "200":
                print(f"  a probe failed: {status}")
            time.sleep(interval)
    return latencies


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


def report(name: str, latencies: list[float], growth: int) -> None:
    ms = [1000 * value for value in latencies]
    print(
        f"  /health/live over {len(ms)} probes: p50 {percentile(ms, 0.5):.1f} ms, "
        f"p99 {percentile(ms, 0.99):.1f} ms, max {max(ms):.1f} ms"
    )
    print(f"  server peak RSS growth during {name}: {growth / 2**20:.1f} MiB")


def status_of(answer: bytes) -> str:
    return answer.split(b" ", 2)[1].decode() if answer.startswith(b"HTTP/") else "closed"


@dataclass
class Outcome:
    """What the hostile clients saw."""

    sent: int = 0  # bytes of the huge header the server took
    status: str = ""  # what it answered
    seconds: float = 0.0  # when
    answers: dict[str, int] = field(default_factory=dict)  # slow connections, by answer
    longest: float = 0.0  # the longest a slow connection was held


def huge_header(port: int, total: int, outcome: Outcome) -> None:
    """Send one request with a ``total``-byte header; note what was sent and answered."""
    sent = 0
    with socket.create_connection(("127.0.0.1", port)) as sock:
        started = time.monotonic()
        sock.sendall(b"GET /health/live HTTP/1.1\r\nHost: bench\r\nX-Big: ")
        chunk = b"a" * 2**20
        try:
            while sent < total:
                sock.sendall(chunk)
                sent += len(chunk)
        except OSError:
            pass
        sock.settimeout(10)
        try:
            answer = sock.recv(65536)
        except OSError:
            answer = b""
        outcome.sent, outcome.status = sent, status_of(answer)
        outcome.seconds = time.monotonic() - started


def slow_heads(port: int, count: int, outcome: Outcome) -> None:
    """``count`` connections each sending its head a byte every 0.5 s until refused (or
    for 60 s)."""
    head = b"GET /health/live HTTP/1.1\r\nHost: bench\r\nX-Slow: " + b"a" * 10_000
    opened = time.monotonic()
    socks = [socket.create_connection(("127.0.0.1", port)) for _ in range(count)]
    held: dict[socket.socket, float] = {}
    position = 0
    while time.monotonic() - opened < 60 and len(held) < count:
        for sock in socks:
            if sock in held:
                continue
            try:
                sock.send(head[position : position + 1])
            except OSError:
                held[sock] = time.monotonic() - opened
                sock.settimeout(1)
                try:
                    status = status_of(sock.recv(65536))
                except OSError:
                    status = "closed"
                outcome.answers[status] = outcome.answers.get(status, 0) + 1
        position += 1
        time.sleep(0.5)
    for sock in socks:
        sock.close()
    outcome.answers["never refused"] = count - len(held)
    outcome.longest = max(held.values(), default=0.0)


def fault_run(
    name: str,
    project: Path,
    probes: int,
    interval: float,
    attack: Callable[[int, Outcome], None],
) -> Outcome:
    print(f"{name}:")
    outcome = Outcome()
    with server(project) as (port, process):
        probe(port, 20)  # warm-up
        rss = PeakRss(process)
        rss.start()
        attacker = threading.Thread(target=attack, args=(port, outcome), daemon=True)
        attacker.start()
        time.sleep(0.2)
        latencies = probe(port, probes, interval)
        attacker.join(90)
        report(name, latencies, rss.stop())
    return outcome


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--project", type=Path, default=ROOT / "examples" / "iris")
    parser.add_argument("--probes", type=int, default=200)
    parser.add_argument("--slow", type=int, default=500, help="slow connections")
    parser.add_argument("--header-mb", type=int, default=400)
    args = parser.parse_args()

    print("baseline:")
    with server(args.project) as (port, process):
        probe(port, 20)
        rss = PeakRss(process)
        rss.start()
        report("baseline", probe(port, args.probes), rss.stop())

    big = fault_run(
        f"one {args.header_mb} MB header",
        args.project,
        args.probes,
        0.01,
        lambda port, outcome: huge_header(port, args.header_mb * 2**20, outcome),
    )
    print(
        f"  the client pushed {big.sent / 2**20:.1f} MiB of {args.header_mb} before the "
        f"server cut it; it answered {big.status} after {big.seconds:.2f} s"
    )

    # Probes 60 ms apart span the default 10 s header timeout.
    slow = fault_run(
        f"{args.slow} slow-header connections",
        args.project,
        args.probes,
        0.06,
        lambda port, outcome: slow_heads(port, args.slow, outcome),
    )
    print(f"  answers {slow.answers}; the longest held {slow.longest:.1f} s")


if __name__ == "__main__":
    main()
