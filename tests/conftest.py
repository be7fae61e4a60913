"""Shared fixtures: fixture projects, a project factory, and a real server on a free port."""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import sys
import tempfile
import textwrap
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path

import httpx
import pytest
from prometheus_client.parser import text_string_to_metric_families

from nervosum.build.progress import Progress

ROOT = Path(__file__).resolve().parents[1]
EXAMPLES = ROOT / "examples"
PROJECTS = Path(__file__).resolve().parent / "fixtures" / "projects"

IRIS_SETOSA = {"sepal_length": 5.1, "sepal_width": 3.5, "petal_length": 1.4, "petal_width": 0.2}
IRIS_VIRGINICA = {"sepal_length": 6.7, "sepal_width": 3.0, "petal_length": 5.2, "petal_width": 2.3}


@pytest.hookimpl(trylast=True)
def pytest_configure(config: pytest.Config) -> None:
    """Check ``-m`` before xdist starts its workers: a mistyped marker is then pytest's
    one-line usage error, not an INTERNALERROR from every worker."""
    if config.option.markexpr and not hasattr(config, "workerinput"):
        from _pytest.mark import deselect_by_mark

        deselect_by_mark([], config)


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


class LiveServer:
    """A `nervosum serve` subprocess; `url` is its base address."""

    def __init__(self, process: subprocess.Popen[bytes], url: str, log: Path) -> None:
        self.process = process
        self.url = url
        self.log = log

    def client(self) -> httpx.Client:
        return httpx.Client(base_url=self.url, timeout=30)

    def output(self) -> str:
        """Everything the server printed so far (stdout and stderr)."""
        return self.log.read_text(encoding="utf-8", errors="replace")


@contextmanager
def spawned_server(
    project_dir: Path, *args: str, env: dict[str, str] | None = None, port: int | None = None
) -> Iterator[LiveServer]:
    """Start `nervosum serve DIR ARGS` (no readiness wait); stop it when the block ends."""
    with spawned_nervosum("serve", str(project_dir), *args, env=env, port=port) as server:
        yield server


@contextmanager
def spawned_nervosum(
    *args: str, env: dict[str, str] | None = None, port: int | None = None
) -> Iterator[LiveServer]:
    """Start `nervosum ARGS` that serves on ``port``; stop it (SIGTERM) when the block ends."""
    command = [sys.executable, "-m", "nervosum", *args]
    env = {**(os.environ if env is None else env), "PYTHONUNBUFFERED": "1"}
    # The output goes to a file, not a pipe: a pipe nobody reads fills up and blocks the server.
    log = Path(tempfile.mkstemp(prefix="nervosum-serve-", suffix=".log")[1])
    with log.open("wb") as sink:
        process = subprocess.Popen(command, stdout=sink, stderr=subprocess.STDOUT, env=env)
    try:
        yield LiveServer(process, f"http://127.0.0.1:{port}", log)
    finally:
        if process.poll() is None:
            process.terminate()
            try:
                process.wait(timeout=15)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()
        log.unlink(missing_ok=True)


def wait_ready(server: LiveServer, timeout: float = 60) -> None:
    """Poll /health/ready until 200; fail with the server's output if it exits or hangs."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if server.process.poll() is not None:
            code = server.process.returncode
            raise AssertionError(f"server exited with {code}:\n{server.output()}")
        try:
            if httpx.get(f"{server.url}/health/ready", timeout=1).status_code == 200:
                return
        except httpx.TransportError:
            pass
        time.sleep(0.1)
    raise AssertionError(f"{server.url} did not become ready in time:\n{server.output()}")


@contextmanager
def live_server(project_dir: Path, *extra: str, timeout: float = 60) -> Iterator[LiveServer]:
    """Run `nervosum serve` on a free loopback port, ready, until the block ends."""
    port = free_port()
    with spawned_server(project_dir, "--port", str(port), *extra, port=port) as server:
        wait_ready(server, timeout)
        yield server


@pytest.fixture(scope="session")
def iris_server() -> Iterator[LiveServer]:
    with live_server(EXAMPLES / "iris") as server:
        yield server


MetricSamples = dict[tuple[tuple[str, str], ...], float]


def metric_samples(client: httpx.Client, sample_name: str) -> MetricSamples:
    """Every sample called `sample_name` on the server's /metrics, keyed by sorted labels."""
    response = client.get("/metrics")
    assert response.status_code == 200, response.text
    found: MetricSamples = {}
    for family in text_string_to_metric_families(response.text):
        for sample in family.samples:
            if sample.name == sample_name:
                found[tuple(sorted(sample.labels.items()))] = sample.value
    return found


ProjectFactory = Callable[..., Path]


@pytest.fixture
def make_project(tmp_path: Path) -> ProjectFactory:
    """Write a project: `make_project(yaml, {"model.py": code, ...})` -> its folder."""

    def make(config: str, files: dict[str, str] | None = None, name: str = "project") -> Path:
        folder = tmp_path / name
        folder.mkdir(parents=True, exist_ok=True)
        (folder / "nervosum.yaml").write_text(textwrap.dedent(config).lstrip())
        for relative, content in (files or {}).items():
            path = folder / relative
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_text(textwrap.dedent(content).lstrip())
        return folder

    return make


@pytest.fixture(scope="session")
def bundle_cache(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("nervosum-cache")


@pytest.fixture
def home_env(tmp_path: Path, bundle_cache: Path) -> dict[str, str]:
    """The environment of a user with an empty registry and a warm cache."""
    return {
        **os.environ,
        "NERVOSUM_HOME": str(tmp_path / "home"),
        "NERVOSUM_CACHE": str(bundle_cache),
        "PYTHONUNBUFFERED": "1",
    }


def nervosum(
    *args: str, env: dict[str, str], cwd: Path | None = None
) -> subprocess.CompletedProcess[str]:
    """Run the `nervosum` CLI to completion; its exit code and output, captured."""
    return subprocess.run(
        [sys.executable, "-m", "nervosum", *args],
        env=env,
        cwd=cwd,
        check=False,
        capture_output=True,
        text=True,
        timeout=600,
    )


def iris_copy(tmp_path: Path, name: str, mode: str = "http", tag: str = "v0.0.1") -> Path:
    """examples/iris under another name, mode or tag (same requirements, same environment)."""
    target = tmp_path / name
    shutil.copytree(EXAMPLES / "iris", target, ignore=shutil.ignore_patterns("__pycache__"))
    config = (target / "nervosum.yaml").read_text()
    config = config.replace("name: Iris", f"name: {name}").replace("mode: http", f"mode: {mode}")
    (target / "nervosum.yaml").write_text(config.replace("tag: v0.0.1", f"tag: {tag}"))
    return target


DOUBLER = """
    name: Doubler
    model: {module: doubler, class: Doubler}
    id_field: key
    input_schema:
      - {name: x, type: float}
      - {name: n, type: int, required: false, default: 1}
    output_schema:
      - {name: y, type: float}
    """

DOUBLER_CODE = """
    import time


    class Doubler:
        def predict(self, frame):
            if (frame["x"] == 13).any():
                raise ValueError("unlucky row")
            time.sleep(float(__import__("os").environ.get("DOUBLER_SLEEP", "0")))
            return (frame["x"] * 2 * frame["n"]).tolist()
    """


@pytest.fixture
def doubler(make_project: ProjectFactory) -> Path:
    """A tiny batch model: y = 2 * x * n; it raises on x == 13 and sleeps DOUBLER_SLEEP s."""
    return make_project(DOUBLER, {"doubler.py": DOUBLER_CODE})


class Recorder(Progress):
    """Progress that keeps what a build reports, to read it back."""

    def __init__(self) -> None:
        self.lines: list[str] = []

    def step(self, text: str) -> None:
        self.lines.append(text)

    def output(self, line: str) -> None:
        self.lines.append(line)
