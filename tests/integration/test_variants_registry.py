"""A challenger named by a registry reference (``churn:v2``), in nervosum.yaml and on the
command line, against a real registry and a real server; and a canary keyed on a
header, over gRPC, reading the call's metadata."""

from __future__ import annotations

import os
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import numpy as np
import pytest

from nervosum.serving.arms import in_canary
from tests.conftest import (
    LiveServer,
    ProjectFactory,
    free_port,
    live_server,
    nervosum,
    spawned_server,
    wait_ready,
)
from tests.integration.test_variants import (
    BELOW_FIVE,
    CONFIG,
    arms_of,
    both_ready,
    challenger,
    champion,
    read_log,
)

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def registry_env(tmp_path_factory: pytest.TempPathFactory, bundle_cache: Path) -> dict[str, str]:
    """A registry holding ``churn:v2`` (answers ``no`` to x=7), built once by `nervosum
    build` for the module's tests."""
    root = tmp_path_factory.mktemp("registry")
    env = {
        **os.environ,
        "NERVOSUM_HOME": str(root / "home"),
        "NERVOSUM_CACHE": str(bundle_cache),
        "PYTHONUNBUFFERED": "1",
    }
    project = root / "churn-v2"
    project.mkdir()
    (project / "nervosum.yaml").write_text(CONFIG.format(tag="v2", more="").lstrip())
    (project / "model.py").write_text(BELOW_FIVE.lstrip())
    built = nervosum("build", str(project), "--no-image", "-q", env=env)
    assert built.returncode == 0, built.stderr
    return env


@contextmanager
def served(project: Path, *flags: str, env: dict[str, str]) -> Iterator[LiveServer]:
    """`nervosum serve` with ``env`` (its registry), ready on a free port."""
    port = free_port()
    with spawned_server(project, "--port", str(port), *flags, env=env, port=port) as server:
        wait_ready(server)
        yield server


@pytest.mark.parametrize(
    ("block", "flags"),
    [
        ("variants: {challenger: churn:v2, mode: canary, share: 1}", ()),
        ("", ("--challenger", "churn", "--canary", "100%")),  # a name alone: its newest
    ],
    ids=["yaml", "flag"],
)
def test_a_registry_reference_serves_that_bundle_as_the_challenger(
    make_project: ProjectFactory,
    tmp_path: Path,
    registry_env: dict[str, str],
    block: str,
    flags: tuple[str, ...],
) -> None:
    project = champion(make_project, tmp_path, block)
    with served(project, *flags, env=registry_env) as server, server.client() as client:
        both_ready(client)
        answer = client.post("/predict", json={"key": "k1", "x": 7})
        report = arms_of(client)["challenger"]
    assert answer.status_code == 200, answer.text
    assert answer.headers["x-nervosum-arm"] == "challenger" and answer.json()["label"] == "no"
    assert report["name"] == "churn" and report["version"] == "v2"
    (record,) = [r for r in read_log(tmp_path) if r["kind"] == "prediction"]
    assert record["arm"] == "challenger" and record["tag"] == "v2"


@pytest.mark.parametrize(
    ("block", "flags", "said"),
    [
        (
            "",
            ("--challenger", "churn:v9", "--shadow"),
            "'churn:v9' is not in the registry at {home}: no bundle matches name=churn"
            " tag=v9 (tags: v2)",
        ),
        (
            'variants: {challenger: "chrun:v2"}',
            (),
            "variants.challenger: 'chrun:v2' is not in the registry at {home}: no bundle"
            " matches name=chrun tag=v2 (names: churn; tags: v2)",
        ),
        ("variants: {challenger: ../v3}", (), "v3 does not exist (a project folder"),
    ],
    ids=["flag", "yaml", "path"],
)
def test_a_challenger_neither_path_nor_bundle_is_exit_2_with_a_hint(
    make_project: ProjectFactory,
    tmp_path: Path,
    registry_env: dict[str, str],
    block: str,
    flags: tuple[str, ...],
    said: str,
) -> None:
    project = champion(make_project, tmp_path, block)
    done = nervosum("serve", str(project), *flags, env=registry_env, cwd=tmp_path)
    assert done.returncode == 2, done.stderr
    assert said.format(home=registry_env["NERVOSUM_HOME"]) in done.stderr
    assert "Traceback" not in done.stderr


def test_a_grpc_canary_keyed_on_a_header_reads_the_calls_metadata(
    make_project: ProjectFactory, tmp_path: Path
) -> None:
    triton = pytest.importorskip("tritonclient.grpc")
    challenger(make_project)
    block = "variants: {challenger: ../v2, mode: canary, share: 30%, key: header:X-User-ID}"
    project = champion(make_project, tmp_path, block)
    users = [f"user-{n}" for n in range(40)]
    grpc_port = free_port()
    with live_server(project, "--grpc-port", str(grpc_port)) as server, server.client() as client:
        both_ready(client)
        tensor = triton.InferInput("x", [1], "FP64")
        tensor.set_data_from_numpy(np.array([7.0]))
        grpc_client = triton.InferenceServerClient(f"127.0.0.1:{grpc_port}")
        answers = {
            (user, turn): grpc_client.infer("churn", [tensor], headers={"x-user-id": user})
            for user in users
            for turn in range(2)  # each user twice: it stays on its arm
        }
        grpc_client.close()
    labels = {key: result.as_numpy("label").tolist() for key, result in answers.items()}
    expected = {user for user in users if in_canary(user, 0.3)}
    assert 0 < len(expected) < len(users)
    for (user, _), label in labels.items():
        assert label == ([b"no"] if user in expected else [b"yes"]), user
