"""serve-repo hardening (issue 20): git credentials never shown, the seed's refresh route
POST only, and each model's ``errors.expose_details`` honoured."""

from __future__ import annotations

import base64
import os
import subprocess
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import httpx
import pytest

from nervosum.repo.sources import GitSource, LocalSource
from tests.conftest import free_port, nervosum, spawned_nervosum, wait_ready
from tests.integration.model_repos import Remote, write_constant, write_file
from tests.integration.test_serve_repo import repo_client, seed_post, wait_started

TOKEN = "ghp_s3cr3tT0kenForTests"


class SmartGitServer:
    """A bare repository served by ``git http-backend`` (git's smart HTTP protocol) on
    loopback, answering only requests that carry ``TOKEN`` as HTTP Basic credentials;
    it records every request path."""

    def __init__(self, remote: Remote) -> None:
        self.paths: list[str] = []
        expected = "Basic " + base64.b64encode(f"{TOKEN}:".encode()).decode()
        paths, root = self.paths, str(remote.bare.parent)

        class Handler(BaseHTTPRequestHandler):
            def backend(self) -> None:
                paths.append(self.path)
                if self.headers.get("Authorization") != expected:
                    self.send_response(401)
                    self.send_header("WWW-Authenticate", 'Basic realm="git"')
                    self.send_header("Content-Length", "0")
                    self.end_headers()
                    return
                path, _, query = self.path.partition("?")
                length = int(self.headers.get("Content-Length") or 0)
                env = {
                    **os.environ,
                    "GIT_PROJECT_ROOT": root,
                    "GIT_HTTP_EXPORT_ALL": "1",
                    "REQUEST_METHOD": self.command,
                    "PATH_INFO": path,
                    "QUERY_STRING": query,
                    "CONTENT_TYPE": self.headers.get("Content-Type", ""),
                    "CONTENT_LENGTH": str(length),
                    "HTTP_CONTENT_ENCODING": self.headers.get("Content-Encoding", ""),
                    "GIT_PROTOCOL": self.headers.get("Git-Protocol", ""),
                }
                done = subprocess.run(
                    ["git", "http-backend"],
                    input=self.rfile.read(length),
                    env=env,
                    capture_output=True,
                    check=True,
                )
                head, _, body = done.stdout.partition(b"\r\n\r\n")
                headers = dict(line.split(": ", 1) for line in head.decode().split("\r\n") if line)
                self.send_response(int(headers.pop("Status", "200").split()[0]))
                for name, value in headers.items():
                    self.send_header(name, value)
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            do_GET = do_POST = backend

            def log_message(self, format: str, *args: Any) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()
        self.url = f"http://{TOKEN}@127.0.0.1:{self.server.server_address[1]}/remote.git"

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture
def token_remote(tmp_path: Path) -> Iterator[SmartGitServer]:
    remote = Remote(tmp_path / "git")
    write_constant(remote.work / "alpha", "alpha", 1)
    remote.push("alpha")
    served = SmartGitServer(remote)
    yield served
    served.close()


def test_a_token_in_the_url_reaches_git_as_a_header_and_is_never_shown(
    token_remote: SmartGitServer, tmp_path: Path
) -> None:
    source = GitSource(token_remote.url, tmp_path / "checkouts", branch="main")
    with repo_client(source) as client:
        wait_started(client)
        assert seed_post(client, "alpha", {}).json() == {"alpha": 1, "rows": 1}
        listing = client.get("/models")
        missing = seed_post(client, "alhpa", {})
        native_missing = client.post("/models/alhpa/predict", json={})
        report = client.get("/models_serve/-/refresh")
    assert listing.json()["source"].startswith("http://***@127.0.0.1:")
    for answer in (listing, missing, native_missing, report):
        assert TOKEN not in answer.text
    assert missing.status_code == 404 and "did you mean 'alpha'" in missing.text
    checkout = next((tmp_path / "checkouts").iterdir())
    assert TOKEN not in (checkout / ".git" / "config").read_text()
    assert token_remote.paths and not any(TOKEN in path for path in token_remote.paths)


@pytest.mark.parametrize("userinfo", [TOKEN, f"bob:{TOKEN}@x", f"bob:{TOKEN}/x"])
def test_the_cli_error_of_a_failed_clone_shows_no_credentials(
    userinfo: str, home_env: dict[str, str]
) -> None:
    url = f"https://{userinfo}@127.0.0.1:{free_port()}/team/models.git"
    failed = nervosum("serve-repo", url, env=home_env)
    assert failed.returncode == 1 and "git ls-remote of https://***@127.0.0.1:" in failed.stderr
    assert TOKEN not in failed.stderr + failed.stdout


def _expose_details_repo(root: Path) -> Path:
    """Two nervosum.yaml models with one schema: ``open`` shows error details (the
    default), ``closed`` sets errors.expose_details: false."""
    for name, exposed in (("open", True), ("closed", False)):
        write_file(root / name / "scorer.py", "def predict(frame):\n    return frame['x'] * 2\n")
        write_file(
            root / name / "nervosum.yaml",
            f"""
            name: {name}
            model: {{module: scorer, function: predict}}
            input_schema:
              - {{name: x, type: float}}
            errors: {{expose_details: {str(exposed).lower()}}}
            """,
        )
    write_constant(root / "etl", "etl", 1)
    return root


def test_each_model_shows_the_error_details_its_config_allows(tmp_path: Path) -> None:
    root = _expose_details_repo(tmp_path / "models_serve")
    with repo_client(LocalSource(root)) as client:
        wait_started(client)
        bad = {"x": "not a number"}
        shown = client.post("/models/open/predict", json=bad)
        hidden = client.post("/models/closed/predict", json=bad)
        hidden_seed = seed_post(client, "closed", bad)
        both = client.post("/models_serve/all?by_model=true", json={"variables": bad})
    assert shown.status_code == 422 and shown.json()["error"]["details"][0]["loc"] == ["x"]
    for answer in (hidden, hidden_seed):
        error = answer.json()["error"]
        assert answer.status_code == 422 and error["details"] == []
        assert "x" not in error["message"] and "server log" in error["message"]
    by_model = both.json()
    assert by_model["open"]["error"]["details"] and by_model["closed"]["error"]["details"] == []


def test_the_seed_refresh_route_takes_post_and_a_get_gets_405(
    tmp_path: Path, home_env: dict[str, str]
) -> None:
    """A GET refreshed the models: any web page (an <img> tag) could fire it."""
    root = tmp_path / "models_serve"
    write_constant(root / "alpha", "alpha", 1)
    port = free_port()
    args = ("serve-repo", str(root), "--port", str(port), "--no-watch")
    with spawned_nervosum(*args, env=home_env, port=port) as server:
        wait_ready(server)
        with httpx.Client(base_url=server.url, timeout=30) as client:
            first = client.get("/models_serve/-/refresh").json()["id"]
            got = client.get("/models_serve/refactor")
            assert client.get("/models_serve/-/refresh").json()["id"] == first
            write_constant(root / "beta", "beta", 2)
            posted = client.post("/models_serve/refactor")
            refreshed = posted.json()["refresh_id"]
    assert got.status_code == 405 and got.headers["allow"] == "POST"
    error = got.json()["error"]
    assert error["type"] == "method_not_allowed" and "POST /models_serve/refactor" in str(error)
    assert posted.status_code == 202 and refreshed != first


def test_deploy_refuses_a_repository_url_with_a_token(home_env: dict[str, str]) -> None:
    """It wrote the token in plain text into the Deployment's env (gitPath)."""
    url = f"https://{TOKEN}@git.example/team/models.git"
    refused = nervosum("deploy", "--repo", url, "--dry-run", env=home_env)
    assert refused.returncode == 2 and refused.stdout == ""
    error, hint = refused.stderr.strip().splitlines()
    assert "https://***@git.example/team/models.git holds credentials" in error
    assert "--repo-secret" in hint and TOKEN not in refused.stderr
