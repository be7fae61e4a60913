"""Request limits on a real `nervosum serve` (issue 20, item 2): head and URL size, head and
body read timeouts, keep-alive, the connection cap, and liveness under slow clients.

Before, a 400 MB header was buffered whole (/health/live took 21-26 s, the server grew by
420 MB) and a client trickling its head or body held its connection for as long as it
liked. The clients here speak raw HTTP/1.1 over sockets, so nothing between them and the
server fixes up what they send.
"""

from __future__ import annotations

import json
import socket
import textwrap
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.conftest import (
    EXAMPLES,
    LiveServer,
    free_port,
    live_server,
    spawned_nervosum,
    wait_ready,
)

LIMITS = {
    "max_header_size": 4096,
    "max_url_size": 1024,
    "header_timeout": 1,
    "body_timeout": 1,
    "keep_alive_timeout": 1,
    "max_connections": 8,
}

MODEL = """
    class Doubler:
        def predict(self, frame):
            return (frame["x"] * 2).tolist()
"""


def write_project(folder: Path, server: dict[str, Any]) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "nervosum.yaml").write_text(
        textwrap.dedent(
            f"""\
            name: Doubler
            model: {{module: doubler, class: Doubler}}
            input_schema:
              - {{name: x, type: float}}
            output_schema:
              - {{name: y, type: float}}
            server: {json.dumps(server)}
            """
        )
    )
    (folder / "doubler.py").write_text(textwrap.dedent(MODEL).lstrip())
    return folder


@pytest.fixture(scope="module")
def limited(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LiveServer]:
    project = write_project(tmp_path_factory.mktemp("limits") / "doubler", LIMITS)
    with live_server(project) as server:
        yield server


def address(server: LiveServer) -> tuple[str, int]:
    return "127.0.0.1", int(server.url.rsplit(":", 1)[1])


def read_all(sock: socket.socket, timeout: float = 5) -> bytes:
    """Everything the server sends until it closes (or ``timeout`` passes)."""
    sock.settimeout(timeout)
    received = b""
    try:
        while chunk := sock.recv(65536):
            received += chunk
    except (TimeoutError, ConnectionResetError):
        pass
    return received


def responses(raw: bytes) -> list[tuple[int, dict[str, str], bytes]]:
    """Each (status, headers, body) in ``raw``: responses with a content-length."""
    found = []
    while raw:
        head, _, rest = raw.partition(b"\r\n\r\n")
        lines = head.decode("latin-1").split("\r\n")
        headers = {k.lower(): v.strip() for k, _, v in (line.partition(":") for line in lines[1:])}
        size = int(headers["content-length"])
        found.append((int(lines[0].split()[1]), headers, rest[:size]))
        raw = rest[size:]
    return found


def exchange(server: LiveServer, payload: bytes, timeout: float = 5) -> list[Any]:
    with socket.create_connection(address(server)) as sock:
        sock.sendall(payload)
        return responses(read_all(sock, timeout))


def request(target: str = "/health/live", extra: bytes = b"") -> bytes:
    return b"GET " + target.encode() + b" HTTP/1.1\r\nHost: t\r\n" + extra + b"\r\n"


def assert_refused(answer: tuple[int, dict[str, str], bytes], status: int, limit: str) -> None:
    """``answer`` is ``status`` in the one JSON error shape, naming ``limit``, and closes."""
    got, headers, body = answer
    assert got == status, body
    assert headers["content-type"] == "application/json"
    assert headers["connection"] == "close"
    error = json.loads(body)["error"]
    assert {"type", "message", "details"} <= set(error)
    assert error["type"] == REFUSALS[status]
    assert f"server.{limit}" in error["message"]


REFUSALS = {408: "read_timeout", 414: "url_too_long", 431: "header_too_large"}


def chunked_post(extra: bytes) -> bytes:
    """A chunked POST /predict whose body is one valid record, then ``extra``."""
    body = b'{"x": 1}'
    head = b"POST /predict HTTP/1.1\r\nHost: t\r\nContent-Type: application/json\r\n"
    return head + b"Transfer-Encoding: chunked\r\n\r\n8\r\n" + body + b"\r\n0\r\n" + extra


def test_trailers_over_the_head_limit_get_431(limited: LiveServer) -> None:
    many = b"".join(b"X-T%d: %s\r\n" % (i, b"v" * 100) for i in range(60)) + b"\r\n"
    (answer,) = exchange(limited, chunked_post(many))
    assert_refused(answer, 431, "max_header_size")
    (fine,) = exchange(limited, chunked_post(b"X-T: v\r\n\r\n"))
    assert fine[0] == 200, fine


def test_an_endless_trailer_is_cut_at_the_head_limit(limited: LiveServer) -> None:
    """A trailer line that never ends was not counted (httptools reports a line once it
    ends): 120 MB of one trailer grew the server by 200 MB and stalled its loop."""
    with socket.create_connection(address(limited)) as sock:
        sock.sendall(chunked_post(b"X-T: "))
        sent = 0
        try:
            while sent < 128 * 1024 * 1024:
                sock.sendall(b"v" * 1024)
                sent += 1024
        except (BrokenPipeError, ConnectionResetError):
            pass
        answer = read_all(sock)
    assert sent < 32 * 1024 * 1024, sent  # the limit, plus what the socket buffers held
    assert_refused(responses(answer)[0], 431, "max_header_size")


def test_headers_over_the_limit_get_431(limited: LiveServer) -> None:
    under = exchange(limited, request(extra=b"X-Pad: " + b"a" * 3000 + b"\r\n"))
    assert [status for status, _, _ in under] == [200]
    (over,) = exchange(limited, request(extra=b"X-Pad: " + b"a" * 5000 + b"\r\n"))
    assert_refused(over, 431, "max_header_size")


def test_a_header_without_end_is_cut_at_the_limit(limited: LiveServer) -> None:
    """The 400 MB header of the issue: the server stops reading at the limit and answers,
    so the client cannot push more than the socket buffers hold."""
    sent = 0
    with socket.create_connection(address(limited)) as sock:
        sock.sendall(b"GET /health/live HTTP/1.1\r\nHost: t\r\nX-Big: ")
        chunk = b"a" * 65536
        try:
            while sent < 400 * 1024 * 1024:
                sock.sendall(chunk)
                sent += len(chunk)
        except (BrokenPipeError, ConnectionResetError):
            pass
        answer = responses(read_all(sock))
    assert sent < 32 * 1024 * 1024
    assert_refused(answer[0], 431, "max_header_size")
    assert httpx.get(f"{limited.url}/health/live").status_code == 200


def test_a_url_over_the_limit_gets_414(limited: LiveServer) -> None:
    under = exchange(limited, request("/health/live?q=" + "a" * 900))
    assert [status for status, _, _ in under] == [200]
    (over,) = exchange(limited, request("/health/live?q=" + "a" * 1100))
    assert_refused(over, 414, "max_url_size")


def test_a_half_sent_head_gets_408_within_the_header_timeout(limited: LiveServer) -> None:
    with socket.create_connection(address(limited)) as sock:
        sock.sendall(b"GET /health/live HTTP/1.1\r\nHost: t\r\n")
        started = time.monotonic()
        answer = responses(read_all(sock, timeout=10))
        waited = time.monotonic() - started
    assert_refused(answer[0], 408, "header_timeout")
    assert 0.8 < waited < 3


def test_a_connection_that_sends_nothing_is_closed(limited: LiveServer) -> None:
    with socket.create_connection(address(limited)) as sock:
        started = time.monotonic()
        assert read_all(sock, timeout=10) == b""
        assert time.monotonic() - started < 3


def test_a_trickled_head_is_timed_from_its_first_byte_not_between_bytes(
    limited: LiveServer,
) -> None:
    head = request()
    with socket.create_connection(address(limited)) as sock:
        started = time.monotonic()
        try:
            for byte in head:  # a byte every 0.1 s: never idle for long, always too slow
                sock.sendall(bytes([byte]))
                time.sleep(0.1)
        except (BrokenPipeError, ConnectionResetError):
            pass
        answer = responses(read_all(sock))
        waited = time.monotonic() - started
    assert_refused(answer[0], 408, "header_timeout")
    assert waited < len(head) * 0.1


def test_a_body_trickled_past_the_body_timeout_gets_408(limited: LiveServer) -> None:
    head = (
        b"POST /predict HTTP/1.1\r\nHost: t\r\nContent-Type: application/json\r\n"
        b"Content-Length: 1000\r\n\r\n"
    )
    with socket.create_connection(address(limited)) as sock:
        sock.sendall(head + b'{"x": 1')
        started = time.monotonic()
        try:
            while time.monotonic() - started < 3:
                sock.sendall(b" ")
                time.sleep(0.2)
        except (BrokenPipeError, ConnectionResetError):
            pass
        answer = responses(read_all(sock))
        waited = time.monotonic() - started
    assert_refused(answer[0], 408, "body_timeout")
    assert waited < 2.5


def test_limits_and_timers_start_again_with_each_request_on_a_connection(
    limited: LiveServer,
) -> None:
    """Two 3 KB heads on one connection pass a 4 KB limit, and two heads sent over 0.7 s
    each pass a 1 s header timeout: the limits hold per request, not per connection."""
    padded = request(extra=b"X-Pad: " + b"a" * 3000 + b"\r\n")
    with socket.create_connection(address(limited)) as sock:
        for _ in range(2):
            for piece in (padded[:100], padded[100:]):
                sock.sendall(piece)
                time.sleep(0.35)
        answers = responses(read_all(sock, timeout=5))
    assert [status for status, _, _ in answers] == [200, 200]


def test_pipelined_requests_are_answered_in_order_before_a_refusal(limited: LiveServer) -> None:
    """A head pipelined behind another in one packet is bounded at twice the limit."""
    payload = request() + request(extra=b"X-Pad: " + b"a" * 9000 + b"\r\n")
    first, second = exchange(limited, payload)
    assert first[0] == 200
    assert_refused(second, 431, "max_header_size")


def test_an_idle_keep_alive_connection_is_closed_after_the_keep_alive_timeout(
    limited: LiveServer,
) -> None:
    with socket.create_connection(address(limited)) as sock:
        sock.sendall(request())
        started = time.monotonic()
        answers = responses(read_all(sock, timeout=10))
        waited = time.monotonic() - started
    assert [status for status, _, _ in answers] == [200]
    assert 0.8 < waited < 3  # uvicorn's default would be 5 s


def test_invalid_http_gets_400_in_the_json_error_shape(limited: LiveServer) -> None:
    ((status, headers, body),) = exchange(limited, b"NOT HTTP\r\n\r\n")
    assert status == 400
    assert headers["content-type"] == "application/json"
    assert json.loads(body)["error"]["type"] == "bad_request"


def test_connections_past_the_cap_get_503_in_the_json_error_shape(limited: LiveServer) -> None:
    held = [socket.create_connection(address(limited)) for _ in range(LIMITS["max_connections"])]
    try:
        time.sleep(0.2)
        response = httpx.get(f"{limited.url}/schema")
        # Probes pass the cap: idle sockets must not get a pod restarted.
        live = httpx.get(f"{limited.url}/health/live")
    finally:
        for sock in held:
            sock.close()
    assert live.status_code == 200
    assert response.status_code == 503
    assert response.headers["retry-after"] == "1"
    assert response.headers["connection"] == "close"
    assert response.json()["error"]["type"] == "overloaded"
    assert "server.max_connections" in response.json()["error"]["message"]
    time.sleep(0.2)
    assert httpx.get(f"{limited.url}/health/live").status_code == 200


@pytest.mark.slow
def test_liveness_answers_fast_during_a_slow_header_flood(tmp_path: Path) -> None:
    """300 connections trickling their heads: /health/live keeps answering quickly, and the
    server closes every one of them once the header timeout has passed."""
    project = write_project(tmp_path / "doubler", {"header_timeout": 2})
    with live_server(project) as server:
        flood = [socket.create_connection(address(server)) for _ in range(300)]
        for sock in flood:
            sock.sendall(b"GET /health/live HTTP/1.1\r\nHost: t\r\n")
        latencies = []
        with httpx.Client(base_url=server.url) as client:
            for _ in range(40):
                for sock in flood[:50]:
                    sock.send(b"X")
                started = time.perf_counter()
                assert client.get("/health/live").status_code == 200
                latencies.append(time.perf_counter() - started)
                time.sleep(0.02)
        with ThreadPoolExecutor(16) as pool:
            answers = list(pool.map(lambda sock: read_all(sock, timeout=10), flood))
        for sock in flood:
            sock.close()
    assert max(latencies) < 0.5, sorted(latencies)[-5:]
    assert all(answer.startswith(b"HTTP/1.1 408") for answer in answers)


OTHER_SERVERS = {
    "serve --workers 2": lambda project: ["serve", str(project), "--workers", "2"],
    "serve-repo": lambda project: ["serve-repo", str(project.parent), "--no-watch"],
    "graph serve": lambda project: ["graph", "serve", str(EXAMPLES / "graph" / "pipeline.yaml")],
}


@pytest.mark.parametrize("command", list(OTHER_SERVERS))
def test_every_server_refuses_a_head_over_the_default_limit(command: str, tmp_path: Path) -> None:
    """Prefork workers, serve-repo and graph serve run the same limits (64 KiB by default)."""
    project = write_project(tmp_path / "Doubler", {})
    port = free_port()
    with spawned_nervosum(
        *OTHER_SERVERS[command](project), "--port", str(port), port=port
    ) as server:
        wait_ready(server)
        (over,) = exchange(server, request(extra=b"X-Pad: " + b"a" * 70_000 + b"\r\n"))
        assert_refused(over, 431, "max_header_size")
        assert httpx.get(f"{server.url}/health/live").status_code == 200
