"""Batching, backpressure, timeouts, pre-forked workers and graceful shutdown, over real HTTP.

Every server here is a real `nervosum serve` subprocess on a free loopback port. The
fixture model (tests/fixtures/projects/batch_echo) echoes each row's ``x``, so every
answer says which request it belongs to; its config files differ only in how long a
model call takes and in the ``batching:`` block.
"""

from __future__ import annotations

import asyncio
import os
import re
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import httpx
import pytest
from prometheus_client.parser import text_string_to_metric_families

from tests.conftest import (
    PROJECTS,
    LiveServer,
    free_port,
    live_server,
    metric_samples,
    spawned_server,
)

pytestmark = pytest.mark.slow

ECHO = PROJECTS / "batch_echo"
LOADED = re.compile(r"model recorder\.Echo \(([0-9a-f-]{36})\) loaded in")


def answer(x: float, *, proba: bool = True) -> dict[str, Any]:
    """What the echo model answers for one row."""
    out: dict[str, Any] = {"echo": float(x)}
    if proba:
        odd = 1.0 if int(x) % 2 == 1 else 0.0
        out["probabilities"] = {"even": 1.0 - odd, "odd": odd}
    return out


def expected(body: Any) -> Any:
    return [answer(r["x"]) for r in body] if isinstance(body, list) else answer(body["x"])


async def _post_all(url: str, bodies: list[Any], timeout: float = 30) -> list[Any]:
    limits = httpx.Limits(max_connections=len(bodies))
    async with httpx.AsyncClient(base_url=url, timeout=timeout, limits=limits) as client:
        return await asyncio.gather(
            *(client.post("/predict", json=body) for body in bodies), return_exceptions=True
        )


def post_all(url: str, bodies: list[Any], timeout: float = 30) -> list[httpx.Response]:
    """POST every body concurrently; fail on any transport error."""
    results = asyncio.run(_post_all(url, bodies, timeout))
    errors = [r for r in results if isinstance(r, BaseException)]
    assert not errors, f"{len(errors)} requests failed: {errors[:3]!r}"
    return results


def info(server: LiveServer) -> dict[str, Any]:
    """GET /info on a fresh connection (so any worker may answer)."""
    response = httpx.get(f"{server.url}/info", timeout=10)
    assert response.status_code == 200, response.text
    body: dict[str, Any] = response.json()
    return body


def batch_histogram(server: LiveServer) -> dict[str, float]:
    """``count``, ``sum`` and ``le1`` (calls of one row) of nervosum_batch_size."""
    text = httpx.get(f"{server.url}/metrics", timeout=10).text
    found: dict[str, float] = {}
    for family in text_string_to_metric_families(text):
        if family.name != "nervosum_batch_size":
            continue
        for sample in family.samples:
            if sample.name.endswith("_count"):
                found["count"] = sample.value
            elif sample.name.endswith("_sum"):
                found["sum"] = sample.value
            elif sample.name.endswith("_bucket") and sample.labels["le"] == "1.0":
                found["le1"] = sample.value
    assert set(found) == {"count", "sum", "le1"}, text
    return found


def worker_pids_seen(server: LiveServer, want: int, seconds: float = 10) -> dict[int, str]:
    """``{server.pid: model uuid}`` over /info requests on fresh connections, until ``want``
    distinct pids answered or time is up."""
    seen: dict[int, str] = {}

    async def round_of(client_count: int) -> list[httpx.Response]:
        async def one() -> httpx.Response:
            async with httpx.AsyncClient(timeout=10) as client:
                return await client.get(f"{server.url}/info")

        return await asyncio.gather(*(one() for _ in range(client_count)))

    deadline = time.monotonic() + seconds
    for _ in range(50):
        for response in asyncio.run(round_of(32)):
            assert response.status_code == 200, response.text
            body = response.json()
            seen[body["server"]["pid"]] = body["uuid"]
        if len(seen) >= want or time.monotonic() > deadline:
            break
    return seen


def wait_for_output(
    server: LiveServer, pattern: re.Pattern[str], count: int, seconds: float
) -> str:
    deadline = time.monotonic() + seconds
    for _ in range(1000):
        output = server.output()
        if len(pattern.findall(output)) >= count or time.monotonic() > deadline:
            return output
        time.sleep(0.05)
    return server.output()


@pytest.fixture(scope="module")
def single() -> Iterator[LiveServer]:
    with live_server(ECHO) as server:
        yield server


@pytest.fixture(scope="module")
def two_workers() -> Iterator[LiveServer]:
    with live_server(ECHO, "--workers", "2") as server:
        yield server


# Batching


def test_concurrent_requests_are_batched_and_each_gets_its_own_answer(
    single: LiveServer,
) -> None:
    assert info(single)["server"]["batching"] is True
    before = batch_histogram(single)
    bodies: list[Any] = [
        [{"x": float(i)}, {"x": float(i + 1000)}] if i % 10 == 0 else {"x": float(i)}
        for i in range(200)
    ]
    responses = post_all(single.url, bodies)
    for body, response in zip(bodies, responses, strict=True):
        assert response.status_code == 200, response.text
        assert response.json() == expected(body)
    after = batch_histogram(single)
    calls = after["count"] - before["count"]
    single_row_calls = after["le1"] - before["le1"]
    assert after["sum"] - before["sum"] == 220  # every row went through the batcher once
    assert 0 < calls < 200
    assert single_row_calls < calls  # at least one model call merged several requests


def test_transform_predict_models_are_not_batched_by_default() -> None:
    with live_server(PROJECTS / "transform") as server:
        assert info(server)["server"]["batching"] is False
        bodies = [{"revenueAmount": float(i * 100)} for i in range(20)]
        responses = post_all(server.url, bodies)
        for body, response in zip(bodies, responses, strict=True):
            assert response.status_code == 200, response.text
            amount = body["revenueAmount"]
            assert response.json() == {"big": int(amount > 500), "amount": amount, "rows": 1}
        assert batch_histogram(server) == {"count": 0, "sum": 0, "le1": 0}


def test_batching_enabled_false_turns_batching_off() -> None:
    with live_server(ECHO, "-c", "unbatched.yaml") as server:
        assert info(server)["server"]["batching"] is False
        bodies = [{"x": float(i)} for i in range(40)]
        responses = post_all(server.url, bodies)
        for body, response in zip(bodies, responses, strict=True):
            assert response.status_code == 200, response.text
            assert response.json() == expected(body)
        assert batch_histogram(server) == {"count": 0, "sum": 0, "le1": 0}


# Backpressure and timeouts


def test_a_full_queue_answers_503_overloaded_with_retry_after() -> None:
    # 0.2 s per model call of at most 2 rows, at most 4 rows waiting
    with live_server(ECHO, "-c", "tiny_queue.yaml") as server:
        bodies = [{"x": float(i)} for i in range(30)]
        started = time.monotonic()
        responses = post_all(server.url, bodies, timeout=15)
        elapsed = time.monotonic() - started
        statuses = [r.status_code for r in responses]
        assert set(statuses) <= {200, 503}, statuses
        ok = [(b, r) for b, r in zip(bodies, responses, strict=True) if r.status_code == 200]
        refused = [r for r in responses if r.status_code == 503]
        assert len(ok) >= 4  # 4 rows always fit in the empty queue
        assert len(refused) >= 1
        for body, response in ok:
            assert response.json() == expected(body)
        for response in refused:
            assert response.headers["retry-after"] == "1"
            error = response.json()["error"]
            assert error["type"] == "overloaded"
            assert error["message"].startswith("the request queue is full (")
        assert elapsed < 10, f"the load took {elapsed:.1f}s: requests hung"
        # the queue drained: the next request is served, and the gauge shows it empty
        with server.client() as client:
            again = client.post("/predict", json={"x": 7})
            queue = metric_samples(client, "nervosum_batch_queue_rows")
        assert again.status_code == 200
        assert again.json() == answer(7)
        assert list(queue.values()) == [0.0]


def test_the_queue_gauge_shows_rows_waiting() -> None:
    # 0.3 s per model call of at most 8 rows: 10 concurrent 1-row requests keep rows waiting
    with live_server(ECHO, "-c", "slow.yaml") as server, server.client() as client:
        bodies = [{"x": float(i)} for i in range(10)]
        with ThreadPoolExecutor(max_workers=10) as pool:
            pending = [pool.submit(client.post, "/predict", json=b) for b in bodies]
            time.sleep(0.15)
            waiting = metric_samples(client, "nervosum_batch_queue_rows")
            assert all(f.result().status_code == 200 for f in pending)
        (queued,) = waiting.values()
        assert queued >= 1
        assert list(metric_samples(client, "nervosum_batch_queue_rows").values()) == [0.0]


def test_a_model_slower_than_the_timeout_gets_504() -> None:
    with live_server(ECHO, "-c", "sleepy.yaml", "--timeout", "0.2") as server:
        with server.client() as client:
            started = time.monotonic()
            response = client.post("/predict", json={"x": 1})
            elapsed = time.monotonic() - started
        assert response.status_code == 504, response.text
        error = response.json()["error"]
        assert error["type"] == "timeout"
        assert error["message"].startswith("no answer from the model within 0.2s")
        assert elapsed < 0.9, f"the 504 came after {elapsed:.2f}s, not at the 0.2s timeout"


# Pre-forked workers


def test_two_workers_share_the_load_and_report_their_memory(two_workers: LiveServer) -> None:
    body = info(two_workers)
    workers = body["server"]["workers"]
    assert len(workers) == 2
    pids = {w["pid"] for w in workers}
    assert len(pids) == 2
    assert two_workers.process.pid not in pids  # workers, not the supervisor
    assert body["server"]["pid"] in pids
    for worker in workers:
        assert worker["rss_bytes"] > 0
        assert worker["pss_bytes"] > 0
    seen = worker_pids_seen(two_workers, want=2)
    assert set(seen) == pids, f"answered by {sorted(seen)}, workers {sorted(pids)}"
    assert len(set(seen.values())) == 1  # one model loaded before the fork, shared
    responses = post_all(two_workers.url, [{"x": float(i)} for i in range(40)])
    assert [r.json() for r in responses] == [answer(i) for i in range(40)]


def test_two_preloaded_workers_cost_less_than_one_and_a_half_single_servers(
    single: LiveServer, two_workers: LiveServer
) -> None:
    (alone,) = info(single)["server"]["workers"]
    pair = info(two_workers)["server"]["workers"]
    assert len(pair) == 2
    pair_pss = sum(w["pss_bytes"] for w in pair)
    assert alone["pss_bytes"] > 0
    assert pair_pss < 1.5 * alone["pss_bytes"], (
        f"2 workers: {pair_pss / 2**20:.1f} MiB PSS; 1 worker: {alone['pss_bytes'] / 2**20:.1f} MiB"
    )


def test_a_killed_worker_is_replaced_and_the_server_keeps_answering(
    two_workers: LiveServer,
) -> None:
    first = info(two_workers)
    before = {w["pid"] for w in first["server"]["workers"]}
    assert len(before) == 2
    victim = min(before)
    os.kill(victim, signal.SIGKILL)
    time.sleep(0.1)
    deadline = time.monotonic() + 15
    now: set[int] = set()
    for _ in range(300):
        assert time.monotonic() < deadline, f"no new worker after 15s:\n{two_workers.output()}"
        response = httpx.post(f"{two_workers.url}/predict", json={"x": 5}, timeout=10)
        assert response.status_code == 200, response.text
        assert response.json() == answer(5)
        now = {w["pid"] for w in info(two_workers)["server"]["workers"]}
        if len(now) == 2 and victim not in now:
            break
        time.sleep(0.05)
    assert victim not in now
    assert len(now) == 2, f"workers after the kill: {sorted(now)}"
    assert two_workers.process.poll() is None
    assert f"worker {victim} exited with -9; starting a new one" in two_workers.output()
    seen = worker_pids_seen(two_workers, want=2)
    assert set(seen) == now
    assert set(seen.values()) == {first["uuid"]}  # the new worker got the preloaded model
    responses = post_all(two_workers.url, [{"x": float(i)} for i in range(30)])
    assert [r.json() for r in responses] == [answer(i) for i in range(30)]


def test_workers_auto_starts_one_worker_per_cpu() -> None:
    cpus = os.cpu_count() or 1
    with live_server(ECHO, "--workers", "auto") as server:
        workers = info(server)["server"]["workers"]
        assert len(workers) == cpus
        if cpus > 1:
            assert f"{cpus} workers serving on {server.url}" in server.output()
        with server.client() as client:
            assert client.post("/predict", json={"x": 2}).json() == answer(2)


def test_no_preload_loads_the_model_in_each_worker() -> None:
    with live_server(ECHO, "--workers", "2", "--no-preload") as server:
        output = wait_for_output(server, LOADED, 2, seconds=15)
        assert "2 workers serving on" in output
        assert "(model loaded in each worker)" in output
        assert "loading the model once" not in output
        assert len(LOADED.findall(output)) == 2, output
        seen = worker_pids_seen(server, want=2)
        assert len(seen) == 2
        assert set(seen.values()) == set(LOADED.findall(output))  # one model per worker
        responses = post_all(server.url, [{"x": float(i)} for i in range(20)])
        assert [r.json() for r in responses] == [answer(i) for i in range(20)]


@pytest.mark.parametrize("preload", ["--preload", "--no-preload"])
def test_a_model_that_cannot_load_stops_all_workers_with_exit_code_2(preload: str) -> None:
    port = free_port()
    project = PROJECTS / "init_raises"
    with spawned_server(project, "--port", str(port), "--workers", "2", preload, port=port) as s:
        started = time.monotonic()
        try:
            code = s.process.wait(timeout=20)
        except subprocess.TimeoutExpired:
            pytest.fail(f"still running after 20s (restart loop?):\n{s.output()}")
        elapsed = time.monotonic() - started
        output = s.output()
    assert code == 2, output
    assert elapsed < 15
    assert "weights.bin is missing" in output
    assert "starting a new one" not in output
    assert output.count("weights.bin is missing") <= 2  # at most one attempt per worker


@pytest.mark.parametrize("value", ["abc", "0"])
def test_workers_must_be_a_positive_number_or_auto(value: str) -> None:
    result = subprocess.run(
        [sys.executable, "-m", "nervosum", "serve", str(ECHO), "--workers", value],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert result.returncode == 2, result.stderr
    assert f"'{value}' is not a number of workers (use 1, 2, ... or auto)" in result.stderr
    assert "Traceback" not in result.stderr


# Graceful shutdown


async def _load_then_sigterm(
    server: LiveServer, count: int
) -> tuple[list[Any], float, dict[int, float]]:
    """Send ``count`` requests, SIGTERM the server once all were sent, collect the answers."""
    sent = 0
    all_sent = asyncio.Event()
    finished: dict[int, float] = {}

    async def trace(name: str, info: dict[str, Any]) -> None:
        nonlocal sent
        if name == "http11.send_request_body.complete":
            sent += 1
            if sent == count:
                all_sent.set()

    limits = httpx.Limits(max_connections=count)
    async with httpx.AsyncClient(base_url=server.url, timeout=30, limits=limits) as client:

        async def one(i: int) -> httpx.Response:
            response = await client.post(
                "/predict", json={"x": float(i)}, extensions={"trace": trace}
            )
            finished[i] = time.monotonic()
            return response

        tasks = [asyncio.create_task(one(i)) for i in range(count)]
        await asyncio.wait_for(all_sent.wait(), 10)
        await asyncio.sleep(0.2)  # let the server read what was sent
        server.process.send_signal(signal.SIGTERM)
        signalled = time.monotonic()
        results = await asyncio.gather(*tasks, return_exceptions=True)
    return results, signalled, finished


@pytest.mark.parametrize("workers", ["1", "2"])
def test_sigterm_answers_every_request_in_flight_then_exits_0(workers: str) -> None:
    graceful = 10
    # 0.3 s per model call of at most 8 rows: 50 requests take 1-2 s to answer
    args = ("-c", "slow.yaml", "--workers", workers, "--graceful-timeout", str(graceful))
    with live_server(ECHO, *args) as server:
        results, signalled, finished = asyncio.run(_load_then_sigterm(server, 50))
        try:
            code = server.process.wait(timeout=graceful + 5)
        except subprocess.TimeoutExpired:
            pytest.fail(f"the server did not exit after SIGTERM:\n{server.output()}")
        exited = time.monotonic()
        output = server.output()
    errors = [r for r in results if isinstance(r, BaseException)]
    assert not errors, f"{len(errors)} of 50 requests failed: {errors[:3]!r}\n{output}"
    assert [r.status_code for r in results] == [200] * 50
    assert [r.json() for r in results] == [answer(i) for i in range(50)]
    assert sum(t > signalled for t in finished.values()) >= 10  # the load was mid-flight
    assert code == 0, output
    assert exited - signalled < graceful
