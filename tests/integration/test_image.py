"""A real OCI image: built with podman from a local base image, run, and answering.

Needs podman and the base image `scripts/setup-system` makes (CI runs it first); where
either is missing the tests skip with that reason.
"""

from __future__ import annotations

import json
import shutil
import subprocess
from pathlib import Path

import pytest

from tests.conftest import IRIS_SETOSA, free_port, iris_copy, nervosum, spawned_nervosum, wait_ready

BASE_IMAGE = "localhost/nervosum-base:bookworm"


def _skip_reason() -> str | None:
    if shutil.which("podman") is None:
        return "podman is not installed (scripts/setup-system installs it as root)"
    found = subprocess.run(["podman", "image", "exists", BASE_IMAGE], check=False)
    if found.returncode != 0:
        return f"the base image {BASE_IMAGE} is missing (scripts/setup-system builds it)"
    return None


pytestmark = [
    pytest.mark.slow,
    pytest.mark.skipif(_skip_reason() is not None, reason=str(_skip_reason())),
]


def podman_inspect(reference: str) -> dict[str, object]:
    result = subprocess.run(
        ["podman", "image", "inspect", reference], capture_output=True, text=True, check=True
    )
    return dict(json.loads(result.stdout)[0])


def test_image_build_inspect_run_rebuild(tmp_path: Path, home_env: dict[str, str]) -> None:
    project = iris_copy(tmp_path, "iris_image", tag="t1")
    build = ("build", str(project), "--image", "--builder", "podman", "--base-image", BASE_IMAGE)
    result = nervosum(*build, env=home_env)
    assert result.returncode == 0, result.stderr
    assert "image nervosum/iris_image:t1" in result.stdout
    [entry] = json.loads(nervosum("ls", "--format", "json", env=home_env).stdout)
    assert entry["image"] == "nervosum/iris_image:t1"

    image = podman_inspect("nervosum/iris_image:t1")
    assert image["Id"] == entry["image_id"].removeprefix("sha256:")
    config = image["Config"]
    assert isinstance(config, dict)
    labels = config["Labels"]
    assert labels["owner"] == "nervosum"
    assert (labels["name"], labels["tag"], labels["mode"]) == ("iris_image", "t1", "http")
    assert labels["nervosum.id"] == entry["id"]
    assert config["User"] == "10001:10001"
    assert "5000/tcp" in config["ExposedPorts"]
    assert "health/ready" in " ".join(image["Healthcheck"]["Test"])  # type: ignore[index]

    port = free_port()
    run = ("run", "--image", "-n", "iris_image", "--port", str(port), "-e", "NERVOSUM_WORKERS=1")
    with spawned_nervosum(*run, env=home_env, port=port) as server:
        wait_ready(server, timeout=120)
        with server.client() as client:
            answer = client.post("/predict", json=IRIS_SETOSA)
            info = client.get("/info").json()
    assert answer.json()["prediction"] == 0
    assert info["name"] == "iris_image"

    # A code change rebuilds only the code layer: the dependency layer comes from cache.
    with (project / "model" / "model.py").open("a") as source:
        source.write("\n# changed\n")
    again = nervosum(*build, env=home_env)
    assert again.returncode == 0, again.stderr
    steps = again.stderr.split("STEP ")
    install = next(step for step in steps if "python3 -m venv" in step)
    assert "Using cache" in install
    app = next(
        step for step in steps if step.startswith(tuple("0123456789")) and "COPY app/" in step
    )
    assert "Using cache" not in app

    removed = nervosum("rm", "--image", "iris_image:t1", env=home_env)
    assert removed.returncode == 0, removed.stderr
    gone = subprocess.run(["podman", "image", "exists", "nervosum/iris_image:t1"], check=False)
    assert gone.returncode == 1
