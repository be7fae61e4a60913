"""HTTPS and mutual TLS on every uvicorn server nervosum runs (issue 20): `serve` (one
process, `--workers 2`, `--model-process`), `serve-repo` and `graph serve`, really started
on free loopback ports with a throwaway CA and certificates made by trustme.

With `--ssl-ca-certs` a client without a certificate signed by that CA is refused during
the handshake; with one it is answered. Before, none of the servers took these flags
into account: they served plain HTTP whatever was given.
"""

from __future__ import annotations

import ssl
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest
import trustme

from tests.conftest import EXAMPLES, LiveServer, free_port, nervosum, spawned_nervosum
from tests.integration.test_http_limits import write_project


@dataclass(frozen=True)
class Certificates:
    ca: Path  # the CA's certificate: what clients trust, and what signs client certificates
    cert: Path  # the server's certificate chain, for 127.0.0.1
    key: Path  # its private key
    client: Path  # a client's key and certificate chain, signed by the same CA
    other_key: Path  # a private key that belongs to no certificate here

    def flags(self, *, client_certificates: bool = True) -> list[str]:
        flags = ["--ssl-certfile", str(self.cert), "--ssl-keyfile", str(self.key)]
        return [*flags, "--ssl-ca-certs", str(self.ca)] if client_certificates else flags

    def client_context(self, *, with_certificate: bool) -> ssl.SSLContext:
        context = ssl.create_default_context(cafile=str(self.ca))
        if with_certificate:
            context.load_cert_chain(str(self.client))
        return context


@pytest.fixture(scope="module")
def certificates(tmp_path_factory: pytest.TempPathFactory) -> Certificates:
    return make_certificates(tmp_path_factory.mktemp("tls"))


def make_certificates(folder: Path) -> Certificates:
    """A throwaway CA, a server certificate for 127.0.0.1 and a client's, in ``folder``."""
    ca = trustme.CA()
    server = ca.issue_cert("127.0.0.1", "localhost")
    found = Certificates(
        ca=folder / "ca.pem",
        cert=folder / "cert.pem",
        key=folder / "key.pem",
        client=folder / "client.pem",
        other_key=folder / "other-key.pem",
    )
    ca.cert_pem.write_to_path(str(found.ca))
    found.cert.write_bytes(b"".join(pem.bytes() for pem in server.cert_chain_pems))
    server.private_key_pem.write_to_path(str(found.key))
    ca.issue_cert("client@example.com").private_key_and_cert_chain_pem.write_to_path(
        str(found.client)
    )
    ca.issue_cert("127.0.0.1").private_key_pem.write_to_path(str(found.other_key))
    return found


@pytest.fixture(scope="module")
def doubler(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return write_project(tmp_path_factory.mktemp("tls-project") / "Doubler", {})


def wait_https_ready(server: LiveServer, url: str, context: ssl.SSLContext) -> None:
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        if server.process.poll() is not None:
            raise AssertionError(f"server exited:\n{server.output()}")
        try:
            if httpx.get(f"{url}/health/ready", verify=context, timeout=1).status_code == 200:
                return
        except httpx.TransportError:
            pass
        time.sleep(0.1)
    raise AssertionError(f"{url} did not become ready:\n{server.output()}")


@contextmanager
def https_server(*args: str, certificates: Certificates) -> Iterator[tuple[LiveServer, str]]:
    """``nervosum ARGS`` on a free port with mutual TLS, ready; its https base address."""
    port = free_port()
    command = [*args, "--port", str(port), *certificates.flags()]
    with spawned_nervosum(*command, port=port) as server:
        url = f"https://127.0.0.1:{port}"
        wait_https_ready(server, url, certificates.client_context(with_certificate=True))
        yield server, url


SERVERS = {
    "serve": lambda doubler: ["serve", str(doubler)],
    "serve --workers 2": lambda doubler: ["serve", str(doubler), "--workers", "2"],
    "serve --model-process": lambda doubler: ["serve", str(doubler), "--model-process"],
    "serve-repo": lambda doubler: ["serve-repo", str(doubler.parent), "--no-watch"],
    "graph serve": lambda doubler: ["graph", "serve", str(EXAMPLES / "graph" / "pipeline.yaml")],
}


@pytest.mark.parametrize("command", list(SERVERS))
def test_every_server_speaks_mutual_tls(
    command: str, doubler: Path, certificates: Certificates
) -> None:
    with https_server(*SERVERS[command](doubler), certificates=certificates) as (server, url):
        trusted = certificates.client_context(with_certificate=True)
        assert httpx.get(f"{url}/health/live", verify=trusted).status_code == 200
        anonymous = certificates.client_context(with_certificate=False)
        with pytest.raises(httpx.TransportError):
            httpx.get(f"{url}/health/live", verify=anonymous)
        with pytest.raises(httpx.TransportError):
            httpx.get(url.replace("https://", "http://") + "/health/live")
        assert httpx.get(f"{url}/health/live", verify=trusted).status_code == 200
        assert server.process.poll() is None


def test_https_from_nervosum_yaml_without_client_certificates(
    tmp_path: Path, certificates: Certificates
) -> None:
    project = write_project(
        tmp_path / "Doubler",
        {"ssl_certfile": str(certificates.cert), "ssl_keyfile": str(certificates.key)},
    )
    port = free_port()
    with spawned_nervosum("serve", str(project), "--port", str(port), port=port) as server:
        url = f"https://127.0.0.1:{port}"
        plain = certificates.client_context(with_certificate=False)
        wait_https_ready(server, url, plain)
        response = httpx.post(f"{url}/predict", json={"x": 2}, verify=plain)
        assert response.status_code == 200
        assert response.json()["y"] == 4


def test_a_key_that_is_not_the_certificates_is_one_line_and_exit_2(
    doubler: Path, certificates: Certificates, home_env: dict[str, str]
) -> None:
    """Checked before the model loads and workers fork, not once per worker."""
    result = nervosum(
        "serve",
        str(doubler),
        "--port",
        str(free_port()),
        "--workers",
        "2",
        "--ssl-certfile",
        str(certificates.cert),
        "--ssl-keyfile",
        str(certificates.other_key),
        env=home_env,
    )
    assert result.returncode == 2, result.stderr
    assert f"--ssl-keyfile {certificates.other_key} is not the private key" in result.stderr
    assert "Traceback" not in result.stderr


def test_only_forward_secret_aead_suites_are_offered(
    doubler: Path, certificates: Certificates
) -> None:
    """uvicorn's default cipher list ("TLSv1") took RSA key exchange with CBC-SHA1."""
    with https_server("serve", str(doubler), certificates=certificates) as (_server, url):
        weak = certificates.client_context(with_certificate=True)
        weak.maximum_version = ssl.TLSVersion.TLSv1_2
        weak.set_ciphers("AES128-SHA")
        with pytest.raises(httpx.ConnectError):
            httpx.get(f"{url}/health/live", verify=weak)
        strong = certificates.client_context(with_certificate=True)
        strong.maximum_version = ssl.TLSVersion.TLSv1_2
        assert httpx.get(f"{url}/health/live", verify=strong).status_code == 200
