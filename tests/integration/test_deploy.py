"""`nervosum deploy` as users run it, on bundles built by `nervosum build`: printed,
written and charted objects, the `deploy:` block, and `--apply` with kubectl missing,
with a cluster that does not answer, and with one that does (a recording kubectl)."""

from __future__ import annotations

import json
import os
import sys
from pathlib import Path
from typing import Any

import kubernetes_validate
import pytest
import yaml

from nervosum.deploy.objects import Object
from tests.conftest import iris_copy, nervosum
from tests.services.helm_subset import Subset, ordered
from tests.unit.test_deploy_manifests import K8S_VERSION, by_kind, env_of, main_container, pod_of
from tests.unit.test_deploy_values_file import PUBLISHED as TEMPLATE_CONFIG
from tests.unit.test_deploy_values_file import uncommented

pytestmark = pytest.mark.slow

UNREACHABLE = (
    "The connection to the server localhost:8080 was refused - did you specify the right host"
    " or port?"
)
DEPLOY_BLOCK = """
deploy:
  namespace: scoring
  replicas: 2
  image: {repository: registry.example/ml/iris-stream, pull_secret: regcred}
  secret_env: {PGPASSWORD: predlog-db/password}
stream:
  source: redis://redis:6379/0/iris-in
  sink: redis://redis:6379/0/iris-out
  port: 9090
  drain_timeout: 60
"""


@pytest.fixture(scope="module")
def registry(tmp_path_factory: pytest.TempPathFactory, bundle_cache: Path) -> dict[str, str]:
    """One registry with an http, a stream (with a deploy: block) and a batch bundle."""
    root = tmp_path_factory.mktemp("deploy")
    env = {
        **os.environ,
        "NERVOSUM_HOME": str(root / "home"),
        "NERVOSUM_CACHE": str(bundle_cache),
        "PYTHONUNBUFFERED": "1",
    }
    stream = iris_copy(root, "iris_stream", mode="stream")
    config = stream / "nervosum.yaml"
    config.write_text(config.read_text(encoding="utf-8") + DEPLOY_BLOCK, encoding="utf-8")
    for project in (iris_copy(root, "iris"), stream, iris_copy(root, "iris_batch", mode="batch")):
        built = nervosum("build", str(project), "--no-image", "-q", env=env)
        assert built.returncode == 0, built.stderr
    return env


def documents(text: str) -> list[Object]:
    return [doc for doc in yaml.safe_load_all(text) if doc is not None]


def bundle_id(env: dict[str, str], name: str) -> str:
    listed = nervosum("ls", "-f", f"name={name}", "--format", "json", env=env)
    return str(json.loads(listed.stdout)[0]["id"])


def fake_kubectl(folder: Path, script: str) -> dict[str, str]:
    """A PATH holding only a `kubectl` that runs ``script`` (Python)."""
    folder.mkdir(parents=True, exist_ok=True)
    kubectl = folder / "kubectl"
    kubectl.write_text(f"#!{sys.executable}\n{script}", encoding="utf-8")
    kubectl.chmod(0o755)
    return {"PATH": str(folder)}


def test_dry_run_prints_valid_objects_of_the_bundle(registry: dict[str, str]) -> None:
    done = nervosum(
        "deploy", "-n", "iris", "-t", "v0.0.1", "--target", "kubernetes", "--dry-run", env=registry
    )
    assert done.returncode == 0, done.stderr
    objects = documents(done.stdout)
    for obj in objects:
        kubernetes_validate.validate(obj, K8S_VERSION, strict=True)
    found = by_kind(objects)
    assert list(found) == ["Deployment", "Service"]
    container = main_container(found["Deployment"])
    assert container["image"] == "nervosum/iris:v0.0.1"
    assert container["ports"][0]["containerPort"] == 5000
    assert container["readinessProbe"]["httpGet"]["path"] == "/health/ready"
    annotations = pod_of(found["Deployment"])["metadata"]["annotations"]
    assert annotations["nervosum/bundle"] == bundle_id(registry, "iris")
    assert "dry run: Deployment/iris, Service/iris for iris:v0.0.1" in done.stderr
    assert "has no image yet" in done.stderr
    # Neither -o nor --apply: the dry run is the default.
    assert nervosum("deploy", "-n", "iris", env=registry).stdout == done.stdout


def test_the_deploy_block_and_set_flags(registry: dict[str, str]) -> None:
    done = nervosum("deploy", "-n", "iris_stream", "--set", "replicas=3", env=registry)
    assert done.returncode == 0, done.stderr
    found = by_kind(documents(done.stdout))
    assert list(found) == ["Deployment", "PodDisruptionBudget"]  # a stream worker has no Service
    deployment = found["Deployment"]
    assert deployment["metadata"]["namespace"] == "scoring"
    assert deployment["spec"]["replicas"] == 3  # --set over the file's 2
    container = main_container(deployment)
    assert container["image"] == "registry.example/ml/iris-stream:v0.0.1"
    assert container["args"] == ["--host", "0.0.0.0", "--port", "9090"]
    assert pod_of(deployment)["spec"]["terminationGracePeriodSeconds"] == 65
    assert pod_of(deployment)["spec"]["imagePullSecrets"] == [{"name": "regcred"}]
    assert env_of(deployment) == {
        "PGPASSWORD": {"secretKeyRef": {"name": "predlog-db", "key": "password"}}
    }


def test_output_folder_holds_exactly_what_was_rendered(
    registry: dict[str, str], tmp_path: Path
) -> None:
    folder = tmp_path / "k8s"
    scaled = ("--set", "replicas=3", "--set", "autoscaling.enabled=true")
    done = nervosum("deploy", "-n", "iris", "-o", str(folder), *scaled, env=registry)
    assert done.returncode == 0, done.stderr
    assert done.stdout == ""
    names = sorted(path.name for path in folder.iterdir())
    assert names == [
        "deployment-iris.yaml",
        "horizontalpodautoscaler-iris.yaml",
        "poddisruptionbudget-iris.yaml",
        "service-iris.yaml",
    ]
    mine = folder / "notes.yaml"
    mine.write_text("kept: true\n", encoding="utf-8")
    again = nervosum("deploy", "-n", "iris", "-o", str(folder), env=registry)
    assert again.returncode == 0, again.stderr
    assert sorted(path.name for path in folder.iterdir()) == [
        "deployment-iris.yaml",
        "notes.yaml",
        "service-iris.yaml",
    ]
    assert "removed" in again.stderr and "poddisruptionbudget-iris.yaml" in again.stderr
    written = [yaml.safe_load(path.read_text()) for path in sorted(folder.glob("*-iris.yaml"))]
    printed = documents(nervosum("deploy", "-n", "iris", env=registry).stdout)
    assert ordered(written) == ordered(printed)


def test_helm_chart_renders_what_kubernetes_target_prints(
    registry: dict[str, str], tmp_path: Path
) -> None:
    chart = tmp_path / "charts" / "iris"
    done = nervosum(
        "deploy", "-n", "iris", "-t", "v0.0.1", "--target", "helm", "-o", str(chart), env=registry
    )
    assert done.returncode == 0, done.stderr
    assert "helm upgrade --install iris" in done.stderr
    values: dict[str, Any] = yaml.safe_load((chart / "values.yaml").read_text(encoding="utf-8"))
    printed = documents(nervosum("deploy", "-n", "iris", "-t", "v0.0.1", env=registry).stdout)
    assert ordered(Subset(chart).render(values)) == ordered(printed)


def test_batch_bundles_need_their_files_and_take_a_schedule(registry: dict[str, str]) -> None:
    missing = nervosum("deploy", "-n", "iris_batch", env=registry)
    assert missing.returncode == 2
    assert "error: a batch Job needs --input" in missing.stderr
    assert "hint: --set env.INPUT_PATH=" in missing.stderr
    files = ("--set", "env.INPUT_PATH=/data/in.csv", "--set", "env.OUTPUT_PATH=/data/out/")
    cron = ("--schedule", "0 2 * * *", "--set", "claim=scores", "--set", "args=[--overwrite]")
    done = nervosum("deploy", "-n", "iris_batch", *files, *cron, env=registry)
    assert done.returncode == 0, done.stderr
    (job,) = documents(done.stdout)
    kubernetes_validate.validate(job, K8S_VERSION, strict=True)
    assert job["kind"] == "CronJob" and job["spec"]["schedule"] == "0 2 * * *"
    assert main_container(job)["args"] == ["--overwrite"]


def test_repository_mode_with_credentials_from_a_secret(registry: dict[str, str]) -> None:
    url = "https://git.example/team/models.git"
    done = nervosum(
        "deploy", "--repo", url, "--repo-secret", "models-git", "-n", "iris", env=registry
    )
    assert done.returncode == 0, done.stderr
    deployment = by_kind(documents(done.stdout))["Deployment"]
    assert main_container(deployment)["command"] == ["nervosum", "serve-repo"]
    assert main_container(deployment)["image"] == "nervosum/iris:v0.0.1"
    assert env_of(deployment)["gitPath"] == url
    assert env_of(deployment)["gitpassword"] == {
        "secretKeyRef": {"name": "models-git", "key": "password"}
    }
    leaked = nervosum("deploy", "--repo", "https://bot:hunter2@git.example/m.git", env=registry)
    assert leaked.returncode == 2
    assert "hunter2" not in leaked.stdout + leaked.stderr
    assert "--repo-secret NAME" in leaked.stderr


@pytest.mark.parametrize(
    ("args", "code", "message"),
    [
        (["-n", "irs"], 1, "no bundle matches name=irs"),
        (
            ["-n", "iris", "--set", "service.typ=NodePort"],
            2,
            "service.typ: unknown key (did you mean 'type'?)",
        ),
        (["-n", "iris", "--set", "env.DB_PASSWORD=hunter2"], 2, "looks like a secret"),
        (
            ["-n", "iris", "--context", "kind-dev"],
            2,
            "--context picks the cluster --apply applies to",
        ),
        (["-n", "iris", "--dry-run", "-o", "k8s"], 2, "--dry-run writes nothing"),
        (["-n", "iris", "--target", "helm", "--apply"], 2, "a chart is installed by helm"),
        (["-n", "iris", "--schedule", "@daily"], 2, "a schedule runs batch bundles"),
    ],
)
def test_bad_input_is_one_line_and_a_hint(
    registry: dict[str, str], args: list[str], code: int, message: str
) -> None:
    done = nervosum("deploy", *args, env=registry)
    assert done.returncode == code, done.stderr
    assert message in done.stderr
    assert "Traceback" not in done.stderr


def test_apply_without_kubectl(registry: dict[str, str], tmp_path: Path) -> None:
    empty = tmp_path / "empty-bin"
    empty.mkdir()
    done = nervosum("deploy", "-n", "iris", "--apply", env={**registry, "PATH": str(empty)})
    assert done.returncode == 1
    errors = [line for line in done.stderr.splitlines() if line.startswith("error:")]
    assert errors == [
        "error: kubectl is not installed (it is not on PATH), so --apply cannot reach a cluster"
    ]
    assert "hint: install kubectl" in done.stderr
    assert done.stdout == ""


def test_apply_without_a_reachable_cluster(registry: dict[str, str], tmp_path: Path) -> None:
    path = fake_kubectl(
        tmp_path / "bin", f"import sys\nprint({UNREACHABLE!r}, file=sys.stderr)\nsys.exit(1)\n"
    )
    done = nervosum(
        "deploy", "-n", "iris", "--apply", "--context", "kind-dev", env={**registry, **path}
    )
    assert done.returncode == 1
    assert (
        f"error: no Kubernetes cluster answers for context 'kind-dev': {UNREACHABLE}" in done.stderr
    )
    assert "hint: check `kubectl config get-contexts`" in done.stderr
    assert "Traceback" not in done.stderr


RECORDING_KUBECTL = """
import json, os, sys
args = sys.argv[1:]
stdin = sys.stdin.read() if "-f" in args else ""
with open(os.environ["KUBECTL_LOG"], "a") as log:
    log.write(json.dumps({"args": args, "stdin": stdin}) + "\\n")
if "apply" in args:
    mode = " (server dry run)" if "--dry-run=server" in args else ""
    print("deployment.apps/iris configured" + mode)
    print("service/iris configured" + mode)
"""


def calls(log: Path) -> list[dict[str, Any]]:
    return [json.loads(line) for line in log.read_text(encoding="utf-8").splitlines()]


def test_apply_runs_the_server_side_dry_run_first(registry: dict[str, str], tmp_path: Path) -> None:
    log = tmp_path / "kubectl.log"
    env = {**registry, **fake_kubectl(tmp_path / "bin", RECORDING_KUBECTL), "KUBECTL_LOG": str(log)}
    done = nervosum("deploy", "-n", "iris", "--apply", "--context", "kind-dev", env=env)
    assert done.returncode == 0, done.stderr
    made = calls(log)
    assert [call["args"][2:] for call in made] == [
        ["get", "--raw", "/version"],
        ["apply", "--dry-run=server", "-f", "-"],
        ["apply", "-f", "-"],
    ]
    assert all("--context=kind-dev" in call["args"] for call in made)
    applied = documents(made[2]["stdin"])
    assert applied == documents(nervosum("deploy", "-n", "iris", env=registry).stdout)
    assert "service/iris configured\n" in done.stdout
    assert "applied 2 objects for iris:v0.0.1" in done.stderr

    log.unlink()
    checked = nervosum("deploy", "-n", "iris", "--apply", "--dry-run", env=env)
    assert checked.returncode == 0, checked.stderr
    assert [call["args"][1:] for call in calls(log)][-1] == ["apply", "--dry-run=server", "-f", "-"]
    assert "nothing was applied" in checked.stderr


def test_a_rejected_dry_run_applies_nothing(registry: dict[str, str], tmp_path: Path) -> None:
    refuse = RECORDING_KUBECTL + (
        "if '--dry-run=server' in args:\n"
        "    print('Error from server (Forbidden): apps is forbidden', file=sys.stderr)\n"
        "    sys.exit(1)\n"
    )
    log = tmp_path / "kubectl.log"
    env = {**registry, **fake_kubectl(tmp_path / "bin", refuse), "KUBECTL_LOG": str(log)}
    done = nervosum("deploy", "-n", "iris", "--apply", env=env)
    assert done.returncode == 1
    assert "error: the server-side dry run failed for kubectl's current context" in done.stderr
    assert "hint: nothing was applied" in done.stderr
    assert [call["args"][1] for call in calls(log)] == ["get", "apply"]


def test_values_from_the_microservice_templates_config_yaml(
    registry: dict[str, str], tmp_path: Path
) -> None:
    published = nervosum("deploy", "-n", "iris", "--values", str(TEMPLATE_CONFIG), env=registry)
    assert published.returncode == 0, published.stderr
    assert "note: config.yaml: no deployment key is set" in published.stderr
    assert "ignored, the template's keys for the model and its test request" in published.stderr
    assert published.stdout == nervosum("deploy", "-n", "iris", env=registry).stdout
    configured = tmp_path / "config.yaml"
    configured.write_text(uncommented(TEMPLATE_CONFIG.read_text(encoding="utf-8")))
    done = nervosum(
        "deploy", "-n", "iris", "--values", str(configured), "--set", "replicas=3", env=registry
    )
    assert done.returncode == 0, done.stderr
    assert "note: config.yaml: read deployment_name (name)" in done.stderr
    objects = documents(done.stdout)
    for obj in objects:
        kubernetes_validate.validate(obj, K8S_VERSION, strict=True)
    found = by_kind(objects)
    assert found["Deployment"]["metadata"]["name"] == "ml-microservice"
    assert found["Deployment"]["spec"]["replicas"] == 3  # --set over the file's 2
    assert main_container(found["Deployment"])["image"] == "n02291/ml_template_production_env:0.0.1"
    assert found["Service"]["spec"]["ports"][0]["nodePort"] == 30000
    configured.write_text("deployment_nam: ml\n")
    typo = nervosum("deploy", "-n", "iris", "--values", str(configured), env=registry)
    assert typo.returncode == 2
    assert "config.yaml:1: deployment_nam: unknown key" in typo.stderr
    assert "(did you mean 'deployment_name'?)" in typo.stderr
    assert "Traceback" not in typo.stderr
