"""Load a served model over HTTP and print throughput and latency per concurrency level.

    python benchmarks/serve.py [PROJECT_DIR] [--concurrency 1 16 64] [--seconds 10]

Starts `nervosum serve PROJECT_DIR` on a free loopback port, waits until it is ready,
then for each concurrency level keeps that many requests in flight for the given time
and prints successful requests/s, p50 and p99 latency and the error count. Uses wrk when
it is installed (less client overhead on a small machine), else an asyncio client.
This is a measurement, not a test: figures vary with the machine and its load.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import shutil
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import httpx

ROOT = Path(__file__).resolve().parents[1]
BODY = {"sepal_length": 6.7, "sepal_width": 3.0, "petal_length": 5.2, "petal_width": 2.3}


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def start_server(project: Path, port: int, extra: list[str]) -> subprocess.Popen[bytes]:
    command = [sys.executable, "-m", "nervosum", "serve", str(project), "--port", str(port)]
    process = subprocess.Popen(
        [*command, *extra], stdout=subprocess.DEVNULL, stderr=subprocess.STDOUT
    )
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:
        try:
            if httpx.get(f"http://127.0.0.1:{port}/health/ready", timeout=1).status_code == 200:
                return process
        except httpx.TransportError:
            time.sleep(0.2)
    process.kill()
    raise SystemExit("server did not become ready")


async def _worker(client: httpx.AsyncClient, url: str, until: float, latencies: list[float]) -> int:
    errors = 0
    payload = json.dumps(BODY).encode()
    headers = {"content-type": "application/json"}
    while time.perf_counter() < until:
        started = time.perf_counter()
        response = await client.post(url, content=payload, headers=headers)
        if response.status_code == 200:
            latencies.append(time.perf_counter() - started)
        else:
            errors += 1
    return errors


async def run_python_client(url: str, concurrency: int, seconds: float) -> dict[str, float]:
    latencies: list[float] = []
    limits = httpx.Limits(max_connections=concurrency, max_keepalive_connections=concurrency)
    async with httpx.AsyncClient(limits=limits, timeout=60) as client:
        until = time.perf_counter() + seconds
        errors = await asyncio.gather(
            *(_worker(client, url, until, latencies) for _ in range(concurrency))
        )
    return summarise(latencies, sum(errors), seconds)


def summarise(latencies: list[float], errors: int, seconds: float) -> dict[str, float]:
    ordered = sorted(latencies) or [0.0]
    return {
        "rps": len(latencies) / seconds,
        "p50_ms": statistics.median(ordered) * 1000,
        "p99_ms": ordered[min(len(ordered) - 1, int(len(ordered) * 0.99))] * 1000,
        "errors": errors,
    }


def run_wrk(url: str, concurrency: int, seconds: float) -> dict[str, float]:
    with tempfile.NamedTemporaryFile("w", suffix=".lua", delete=False) as script:
        script.write(
            'wrk.method = "POST"\nwrk.headers["content-type"] = "application/json"\n'
            f"wrk.body = '{json.dumps(BODY)}'\n"
        )
    try:
        output = subprocess.run(
            [
                "wrk",
                f"-c{concurrency}",
                "-t1",
                f"-d{int(seconds)}s",
                "--latency",
                "-s",
                script.name,
                url,
            ],
            capture_output=True,
            text=True,
            check=True,
        ).stdout
    finally:
        os.unlink(script.name)
    figures: dict[str, float] = {"errors": 0}
    for line in output.splitlines():
        parts = line.split()
        if line.startswith("Requests/sec:"):
            figures["rps"] = float(parts[1])
        elif parts[:1] in (["50%"], ["99%"]):
            figures[f"p{parts[0][:-1]}_ms"] = _ms(parts[1])
        elif "Non-2xx" in line:
            figures["errors"] = float(parts[-1])
    return figures


def _ms(text: str) -> float:
    for unit, factor in (("us", 0.001), ("ms", 1.0), ("s", 1000.0)):
        if text.endswith(unit):
            return float(text[: -len(unit)]) * factor
    return float(text)


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawTextHelpFormatter
    )
    parser.add_argument("project", nargs="?", default=str(ROOT / "examples" / "iris"))
    parser.add_argument("--concurrency", type=int, nargs="+", default=[1, 16, 64])
    parser.add_argument("--seconds", type=float, default=10.0)
    parser.add_argument("--client", choices=["auto", "wrk", "python"], default="auto")
    parser.add_argument("serve_args", nargs=argparse.REMAINDER, help="extra `nervosum serve` flags")
    args = parser.parse_args()
    client = args.client
    if client == "auto":
        client = "wrk" if shutil.which("wrk") else "python"
    port = free_port()
    server = start_server(Path(args.project), port, args.serve_args)
    url = f"http://127.0.0.1:{port}/predict"
    print(f"nervosum serve {args.project}  client={client}  seconds={args.seconds}")
    print(f"{'concurrency':>11} {'req/s':>9} {'p50 ms':>8} {'p99 ms':>8} {'errors':>7}")
    try:
        for concurrency in args.concurrency:
            if client == "wrk":
                figures = run_wrk(url, concurrency, args.seconds)
            else:
                figures = asyncio.run(run_python_client(url, concurrency, args.seconds))
            print(
                f"{concurrency:>11} {figures.get('rps', 0):>9.1f} {figures.get('p50_ms', 0):>8.1f} "
                f"{figures.get('p99_ms', 0):>8.1f} {int(figures['errors']):>7}"
            )
    finally:
        server.terminate()
        server.wait(timeout=30)


if __name__ == "__main__":
    main()
