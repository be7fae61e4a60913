"""Authentication on every server, as users run them: `nervosum token create` makes the
keys, and real `serve`, `serve-repo`, `graph serve` and stream worker processes answer
each route class (open, predict, admin) to no key, a wrong key, a predict key and an
admin key, through `Authorization: Bearer` and `X-API-Key`; failures are counted and
rate limited per client address, JWTs are checked against a JWKS file."""

from __future__ import annotations

import json
import os
import ssl
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import httpx
import jwt
import pytest
import trustme
from cryptography.hazmat.primitives.asymmetric import ec

from tests.conftest import (
    EXAMPLES,
    IRIS_SETOSA,
    LiveServer,
    free_port,
    live_server,
    metric_samples,
    nervosum,
    spawned_nervosum,
    spawned_server,
    wait_ready,
)
from tests.integration.model_repos import write_constant
from tests.services.brokers import RedisBroker

AUDIENCE = "iris-api"
FAILURES = "nervosum_auth_failures_total"


@dataclass(frozen=True)
class Keys:
    predict: str
    admin: str
    file: Path
    lines: str


def token_create(scope: str, name: str) -> tuple[str, str]:
    """`nervosum token create`: the key (first line) and the line to add (second)."""
    done = nervosum("token", "create", "--scope", scope, "--name", name, env=dict(os.environ))
    assert done.returncode == 0, done.stderr
    key, line = done.stdout.splitlines()
    assert "add the second line" in done.stderr
    return key, line


@pytest.fixture(scope="module")
def keys(tmp_path_factory: pytest.TempPathFactory) -> Keys:
    return make_keys(tmp_path_factory.mktemp("keys"))


def make_keys(folder: Path) -> Keys:
    """A predict key and an admin key made by `nervosum token create`, their file in
    ``folder``."""
    predict, predict_line = token_create("predict", "web")
    admin, admin_line = token_create("admin", "ops")
    assert predict_line.endswith(" predict web") and admin_line.endswith(" admin ops")
    assert predict not in predict_line  # only the hash is written down
    lines = f"# made by nervosum token create\n{predict_line}\n{admin_line}\n"
    file = folder / "keys.txt"
    file.write_text(lines)
    return Keys(predict, admin, file, lines)


def from_address(address: str, base_url: str) -> httpx.Client:
    """A client whose connections come from ``address`` (any 127.x is loopback), so each
    rate-limit test has its own client address."""
    transport = httpx.HTTPTransport(local_address=address)
    return httpx.Client(base_url=base_url, transport=transport, timeout=30)


def credentials(keys: Keys, who: str) -> dict[str, str]:
    return {
        "none": {},
        "wrong": {"Authorization": "Bearer nvs_not-a-key"},
        "predict": {"Authorization": f"Bearer {keys.predict}"},
        "predict-x": {"X-API-Key": keys.predict},
        "admin": {"X-API-Key": keys.admin},
        "admin-bearer": {"Authorization": f"bearer {keys.admin}"},
    }[who]


# who -> the status for a route that needs open / predict / admin access (before the
# route itself answers: 2xx, or its own 4xx).
EXPECTED = {
    "none": (None, 401, 401),
    "wrong": (None, 401, 401),
    "predict": (None, None, 403),
    "predict-x": (None, None, 403),
    "admin": (None, None, None),
    "admin-bearer": (None, None, None),
}
WHO = sorted(EXPECTED)


def assert_gate(response: httpx.Response, expected: int | None) -> None:
    """``expected`` None: the route answered (not a denial); else that denial, in the one
    error shape with its challenge."""
    if expected is None:
        assert response.status_code not in (401, 403, 429), response.text
        return
    assert response.status_code == expected, response.text
    error = response.json()["error"]
    assert set(error) == {"type", "message", "details"}
    challenge = response.headers["www-authenticate"]
    assert challenge.startswith('Bearer realm="nervosum"')
    if expected == 403:
        assert error["type"] == "forbidden"
        assert challenge.endswith('error="insufficient_scope", scope="admin"')
    else:
        assert error["type"] == "unauthorized"


@pytest.fixture(scope="module")
def jwks(tmp_path_factory: pytest.TempPathFactory) -> tuple[ec.EllipticCurvePrivateKey, Path]:
    signer = ec.generate_private_key(ec.SECP256R1())
    public = json.loads(jwt.algorithms.ECAlgorithm.to_jwk(signer.public_key()))
    path = tmp_path_factory.mktemp("jwks") / "jwks.json"
    path.write_text(json.dumps({"keys": [public | {"kid": "k1", "use": "sig"}]}))
    return signer, path


@pytest.fixture(scope="module")
def server(keys: Keys, jwks: tuple[ec.EllipticCurvePrivateKey, Path]) -> Iterator[LiveServer]:
    """`nervosum serve examples/iris` with the keys file and a JWKS."""
    args = ["--api-keys-file", str(keys.file), "--jwks-file", str(jwks[1])]
    with live_server(EXAMPLES / "iris", *args, "--jwt-audience", AUDIENCE) as started:
        yield started


SERVE_ROUTES = [
    ("GET", "/health/ready", 0),
    ("GET", "/v2/health/live", 0),
    ("GET", "/ping", 0),
    ("POST", "/predict", 1),
    ("GET", "/info", 1),
    ("GET", "/openapi.json", 1),
    ("POST", "/v2/models/Iris/infer", 1),
    ("POST", "/invocations", 1),
    ("GET", "/metrics", 2),
]


@pytest.mark.parametrize("who", WHO)
def test_serve_answers_each_route_class_by_key(server: LiveServer, keys: Keys, who: str) -> None:
    with server.client() as client:
        for method, path, access in SERVE_ROUTES:
            body = {"inputs": []} if "v2" in path else IRIS_SETOSA
            response = client.request(method, path, json=body, headers=credentials(keys, who))
            assert_gate(response, EXPECTED[who][access])
        if who.startswith("predict"):
            answer = client.post("/predict", json=IRIS_SETOSA, headers=credentials(keys, who))
            assert answer.status_code == 200 and answer.json()["prediction"] == 0


def test_a_wrong_key_is_named_invalid_and_never_logged(server: LiveServer, keys: Keys) -> None:
    with server.client() as client:
        response = client.post("/predict", json=IRIS_SETOSA, headers={"X-API-Key": "nvs_guess"})
    assert response.json()["error"]["message"] == "invalid token"
    assert response.headers["www-authenticate"].endswith('error="invalid_token"')
    log = server.output()
    assert "refused an unknown API key from 127.0.0.1 on POST /predict" in log
    assert "nvs_guess" not in log and keys.predict not in log


def test_denials_are_counted_by_reason_and_status(server: LiveServer, keys: Keys) -> None:
    admin = credentials(keys, "admin")
    with server.client() as client:
        client.headers.update(admin)
        before = metric_samples(client, FAILURES)
        client.headers.clear()
        client.get("/info")
        client.get("/info", headers={"X-API-Key": "nvs_wrong"})
        client.get("/metrics", headers=credentials(keys, "predict"))
        client.headers.update(admin)
        after = metric_samples(client, FAILURES)
        requests = metric_samples(client, "nervosum_http_requests_total")
    for reason in ("missing", "invalid_key", "insufficient_scope"):
        key = (("reason", reason),)
        assert after[key] == before.get(key, 0) + 1, reason
    statuses = {dict(labels)["status"] for labels in requests if dict(labels)["route"] == "other"}
    assert {"401", "403"} <= statuses


def test_failed_attempts_are_rate_limited_per_address(server: LiveServer, keys: Keys) -> None:
    with from_address("127.0.0.2", server.url) as attacker:
        for _ in range(10):  # auth.max_failures
            assert attacker.get("/info", headers={"X-API-Key": "nvs_guess"}).status_code == 401
        limited = attacker.get("/info", headers={"X-API-Key": "nvs_guess"})
        assert limited.status_code == 429
        assert 1 <= int(limited.headers["retry-after"]) <= 60
        assert limited.json()["error"]["type"] == "rate_limited"
        # Clients behind one proxy share its address: a valid key still gets in.
        assert attacker.get("/info", headers=credentials(keys, "predict")).status_code == 200
        assert attacker.get("/health/ready").status_code == 200  # probes are never limited
    with server.client() as client:  # another address is not affected
        assert client.get("/info", headers=credentials(keys, "predict")).status_code == 200


def test_jwt_bearer_tokens_are_checked_against_the_jwks(
    server: LiveServer, jwks: tuple[ec.EllipticCurvePrivateKey, Path]
) -> None:
    signer, _ = jwks
    now = time.time()

    def signed(**claims: object) -> str:
        base = {"sub": "svc", "aud": AUDIENCE, "exp": now + 60, "scope": "predict"}
        return jwt.encode(base | claims, signer, algorithm="ES256", headers={"kid": "k1"})

    with from_address("127.0.0.3", server.url) as client:
        good = client.post(
            "/predict", json=IRIS_SETOSA, headers={"Authorization": f"Bearer {signed()}"}
        )
        assert good.status_code == 200
        scoped = client.get("/metrics", headers={"Authorization": f"Bearer {signed()}"})
        assert scoped.status_code == 403
        admin = signed(scope=["predict", "admin"])
        assert (
            client.get("/metrics", headers={"Authorization": f"Bearer {admin}"}).status_code == 200
        )
        bad = {
            "Signature has expired": signed(exp=now - 3600),
            "Audience doesn't match": signed(aud="another"),
            "no key with kid 'k2'": jwt.encode(
                {"aud": AUDIENCE, "exp": now + 60}, signer, "ES256", headers={"kid": "k2"}
            ),
            "The specified alg value is not allowed": jwt.encode(
                {"aud": AUDIENCE, "exp": now + 60}, None, "none", headers={"kid": "k1"}
            ),
        }
        for token in bad.values():
            response = client.get("/info", headers={"Authorization": f"Bearer {token}"})
            assert response.status_code == 401
            assert response.json()["error"]["message"] == "invalid token"
    log = server.output()
    for reason in bad:
        assert f"refused a JWT from 127.0.0.3 on GET /info: {reason}" in log


@pytest.mark.parametrize("workers", ["1", "2"])
def test_a_malformed_keys_file_stops_serve_naming_the_line(
    tmp_path: Path, keys: Keys, workers: str
) -> None:
    broken = tmp_path / "keys.txt"
    broken.write_text(keys.lines + "sha256:123 predict\n")
    port = free_port()
    with spawned_server(
        EXAMPLES / "iris",
        *("--port", str(port), "--workers", workers, "--api-keys-file", str(broken)),
        port=port,
    ) as started:
        assert started.process.wait(timeout=60) == 2
        output = started.output()
    assert f"error: {broken}:4: a malformed line in the API keys" in output
    assert "hint: each line is `sha256:<hex> predict|admin [name]`" in output
    assert "Traceback" not in output


def test_workers_share_the_keys_and_the_env_variable_lets_keys_in(keys: Keys) -> None:
    hashes = [line for line in keys.lines.splitlines() if line.startswith("sha256:")]
    env = {**os.environ, "NERVOSUM_API_KEYS": ", ".join(hashes)}  # a Secret's one value
    port = free_port()
    with spawned_server(
        EXAMPLES / "iris", "--port", str(port), "--workers", "2", env=env, port=port
    ) as started:
        wait_ready(started)
        with started.client() as client:
            for _ in range(4):  # the answers come from both workers
                assert client.get("/info").status_code == 401
                assert client.get("/info", headers=credentials(keys, "predict")).status_code == 200


def repository(root: Path) -> Path:
    folder = root / "models_serve"
    write_constant(folder / "Alpha", "alpha", 1)
    return folder


@pytest.fixture(scope="module")
def repo_server(keys: Keys, tmp_path_factory: pytest.TempPathFactory) -> Iterator[LiveServer]:
    folder = repository(tmp_path_factory.mktemp("repo"))
    port = free_port()
    args = ["serve-repo", str(folder), "--port", str(port), "--api-keys-file", str(keys.file)]
    with spawned_nervosum(*args, port=port) as started:
        wait_ready(started)
        yield started


REPO_ROUTES = [
    ("GET", "/health/live", 0),
    ("POST", "/models_serve/Alpha", 1),
    ("POST", "/models/Alpha/predict", 1),
    ("GET", "/models", 1),
    ("GET", "/models_serve/-/refresh", 1),
    ("POST", "/models_serve/-/refresh", 2),
    ("GET", "/models_serve/refactor", 2),
    ("POST", "/v2/repository/index", 2),
    ("POST", "/v2/repository/models/Alpha/load", 2),
    ("GET", "/metrics", 2),
]


@pytest.mark.parametrize("who", WHO)
def test_serve_repo_answers_each_route_class_by_key(
    repo_server: LiveServer, keys: Keys, who: str
) -> None:
    with repo_server.client() as client:
        for method, path, access in REPO_ROUTES:
            body = {"variables": {}} if method == "POST" else None
            response = client.request(method, path, json=body, headers=credentials(keys, who))
            assert_gate(response, EXPECTED[who][access])


def test_serve_repo_limits_admin_requests_per_address(repo_server: LiveServer, keys: Keys) -> None:
    admin = credentials(keys, "admin")
    with from_address("127.0.0.4", repo_server.url) as client:
        statuses = [
            client.post("/v2/repository/index", headers=admin).status_code for _ in range(31)
        ]
        assert statuses[:30] == [200] * 30  # server.admin_rate_limit
        assert statuses[30] == 429
        limited = client.post("/v2/repository/index", headers=admin)
        assert int(limited.headers["retry-after"]) >= 1
        assert client.post("/models/Alpha/predict", json={}, headers=admin).status_code != 429


@pytest.fixture(scope="module")
def graph_server(keys: Keys) -> Iterator[LiveServer]:
    """`graph serve` with the key lines in NERVOSUM_API_KEYS (newline-separated)."""
    port = free_port()
    env = {**os.environ, "NERVOSUM_API_KEYS": keys.lines}
    pipeline = str(EXAMPLES / "graph" / "pipeline.yaml")
    with spawned_nervosum(
        "graph", "serve", pipeline, "--port", str(port), env=env, port=port
    ) as started:
        wait_ready(started, timeout=60)
        yield started


GRAPH_ROUTES = [
    ("GET", "/health/ready", 0),
    ("POST", "/predict", 1),
    ("GET", "/graph", 1),
    ("GET", "/metrics", 2),
]


@pytest.mark.parametrize("who", WHO)
def test_graph_serve_answers_each_route_class_by_key(
    graph_server: LiveServer, keys: Keys, who: str
) -> None:
    with graph_server.client() as client:
        for method, path, access in GRAPH_ROUTES:
            body = {"text": "Lunch at noon?"} if method == "POST" else None
            response = client.request(method, path, json=body, headers=credentials(keys, who))
            assert_gate(response, EXPECTED[who][access])


def test_graph_serve_counts_failures(graph_server: LiveServer, keys: Keys) -> None:
    with graph_server.client() as client:
        client.post("/predict", json={}, headers={"X-API-Key": "nvs_wrong"})
        client.headers.update(credentials(keys, "admin"))
        assert metric_samples(client, FAILURES)[(("reason", "invalid_key"),)] >= 1


def test_the_stream_side_port_guards_metrics_and_speaks_tls(
    keys: Keys, doubler: Path, tmp_path: Path
) -> None:
    authority = trustme.CA()
    certificate = authority.issue_cert("127.0.0.1")
    chain, private = tmp_path / "chain.pem", tmp_path / "key.pem"
    certificate.private_key_and_cert_chain_pem.write_to_path(chain)
    certificate.private_key_pem.write_to_path(private)
    ca = tmp_path / "ca.pem"
    authority.cert_pem.write_to_path(ca)
    broker = RedisBroker()
    port = free_port()
    command = [
        sys.executable, "-m", "nervosum", "stream", str(doubler),
        "--source", broker.url("in"), "--sink", broker.url("out"), "--port", str(port),
        "--api-keys-file", str(keys.file),
        "--ssl-certfile", str(chain), "--ssl-keyfile", str(private),
    ]  # fmt: skip
    log = tmp_path / "worker.log"
    with log.open("wb") as sink:
        process = subprocess.Popen(command, stdout=sink, stderr=subprocess.STDOUT)
    try:
        with httpx.Client(
            base_url=f"https://127.0.0.1:{port}",
            verify=ssl.create_default_context(cafile=ca),
            timeout=5,
        ) as client:
            deadline = time.monotonic() + 60
            while True:
                try:
                    if client.get("/health/ready").status_code == 200:
                        break
                except httpx.TransportError:
                    pass
                assert process.poll() is None and time.monotonic() < deadline, log.read_text()
                time.sleep(0.2)
            assert client.get("/health/live").status_code == 200
            for who in WHO:
                response = client.get("/metrics", headers=credentials(keys, who))
                assert_gate(response, EXPECTED[who][2])
            page = client.get("/metrics", headers=credentials(keys, "admin")).text
            assert f'{FAILURES}{{reason="missing"}} 1.0' in page
            assert 'reason="insufficient_scope"} 2.0' in page
        with pytest.raises(httpx.TransportError):
            httpx.get(f"http://127.0.0.1:{port}/health/live", timeout=5)  # TLS only
    finally:
        process.kill()
        process.wait()
        broker.stop()
