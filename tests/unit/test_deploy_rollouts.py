"""Deploying again and alongside others: Job names from their content, a pause before
SIGTERM, ingress rewrites, shared output folders, secrets in graph steps, settings a
graph does not read."""

from __future__ import annotations

import re
from pathlib import Path

import kubernetes_validate
import pytest
import yaml

from nervosum.config.spec import DeploySpec
from nervosum.deploy import graph_settings, render_graph
from nervosum.deploy.chart import write_chart
from nervosum.deploy.files import write_manifests
from nervosum.deploy.manifests import render
from nervosum.deploy.objects import Object
from nervosum.deploy.settings import apply_sets
from nervosum.deploy.values import chart_values
from nervosum.deploy.workload import Workload, repo_workload
from nervosum.errors import RequestError
from nervosum.graph.load import load_graph
from tests.conftest import EXAMPLES
from tests.services.helm_subset import Subset
from tests.unit.test_deploy_manifests import (
    BATCH,
    HTTP,
    IO,
    K8S_VERSION,
    REPO,
    REPO_IMAGE,
    STREAM,
    by_kind,
    main_container,
    pod_of,
)

PIPELINE = EXAMPLES / "graph" / "pipeline.yaml"
TRANSPORT = "redis://redis:6379/0"
IMAGE = ["image.repository=registry.example/ml/spam", "image.tag=v3"]


def batch_job(*sets: str) -> Object:
    return by_kind(render(chart_values(BATCH, apply_sets(BATCH.settings, [*IO, *sets]))))["Job"]


# 1. Job names follow their pod template (a Job's template is immutable).


def test_a_jobs_name_changes_with_its_pod_template_and_it_is_cleaned_up() -> None:
    first, same, changed = batch_job(), batch_job(), batch_job("image.tag=v0.0.2")
    name = first["metadata"]["name"]
    assert re.fullmatch(r"iris-batch-[0-9a-f]{10}", name)
    assert same["metadata"]["name"] == name
    assert changed["metadata"]["name"] != name
    assert first["spec"]["ttlSecondsAfterFinished"] == 86400
    kubernetes_validate.validate(first, K8S_VERSION, strict=True)


def test_a_long_job_name_stays_a_dns_label() -> None:
    with pytest.raises(RequestError, match="a Job name has at most 52 characters"):
        batch_job(f"name={'b' * 53}")
    name = batch_job(f"name={'b' * 52}")["metadata"]["name"]
    assert len(name) == 63 and re.fullmatch(r"[a-z0-9]([-a-z0-9]*[a-z0-9])?", name)


def test_the_charts_job_is_a_hook_named_like_the_manifests(tmp_path: Path) -> None:
    values = chart_values(BATCH, apply_sets(BATCH.settings, IO))
    write_chart(values, tmp_path, "iris_batch")
    charted = by_kind(Subset(tmp_path).render(values))["Job"]
    assert charted["metadata"]["annotations"] == {
        "helm.sh/hook": "post-install,post-upgrade",
        "helm.sh/hook-delete-policy": "before-hook-creation",
    }
    assert charted["metadata"]["name"] == by_kind(render(values))["Job"]["metadata"]["name"]
    assert charted["spec"]["ttlSecondsAfterFinished"] == 86400


def test_the_graphs_stream_job_is_named_from_its_content() -> None:
    graph = load_graph(PIPELINE)
    job = render_graph(graph, graph_settings(TRANSPORT, IMAGE))[0]
    other = render_graph(graph, graph_settings(TRANSPORT, [*IMAGE, "image.tag=v4"]))[0]
    assert re.fullmatch(r"spam-filter-streams-[0-9a-f]{10}", job["metadata"]["name"])
    assert other["metadata"]["name"] != job["metadata"]["name"]
    assert job["spec"]["ttlSecondsAfterFinished"] == 86400


# 2. A graph step's env goes through the secret-name check.


def graph_with_env(tmp_path: Path, env: str) -> Path:
    text = PIPELINE.read_text(encoding="utf-8")
    text = text.replace("    outputs: [scored]\n", f"    outputs: [scored]\n    env: {env}\n", 1)
    path = tmp_path / "pipeline.yaml"
    path.write_text(text, encoding="utf-8")
    return path


def test_a_steps_secret_looking_env_is_refused(tmp_path: Path) -> None:
    graph = load_graph(graph_with_env(tmp_path, "{DB_PASSWORD: hunter2, LEVEL: info}"))
    with pytest.raises(RequestError, match="step 'score': env DB_PASSWORD") as caught:
        render_graph(graph, graph_settings(TRANSPORT, IMAGE))
    assert caught.value.exit_code == 2
    assert "secret_env.DB_PASSWORD" in str(caught.value.hint)


# 3. A preStop pause, inside the grace period.


@pytest.mark.parametrize(
    ("workload", "sets"), [(HTTP, []), (REPO, REPO_IMAGE)], ids=["http", "repo"]
)
def test_served_pods_pause_before_sigterm(workload: Workload, sets: list[str]) -> None:
    values = chart_values(workload, apply_sets(DeploySpec(), sets))
    deployment = by_kind(render(values))["Deployment"]
    assert main_container(deployment)["lifecycle"] == {"preStop": {"sleep": {"seconds": 5}}}
    kubernetes_validate.validate(deployment, K8S_VERSION, strict=True)


def test_the_grace_period_of_a_served_pod_includes_the_pause() -> None:
    served = repo_workload("https://git.example/team/models.git", None, None)
    assert served.grace_period == 40  # serve's 30 s drain, 5 s to exit, 5 s preStop


def test_graph_steps_pause_before_sigterm_and_stream_workers_do_not() -> None:
    step = render_graph(load_graph(PIPELINE), graph_settings(TRANSPORT, IMAGE))[1]
    assert main_container(step)["lifecycle"] == {"preStop": {"sleep": {"seconds": 5}}}
    assert pod_of(step)["spec"]["terminationGracePeriodSeconds"] == 40
    stream = by_kind(render(chart_values(STREAM, STREAM.settings)))["Deployment"]
    assert "lifecycle" not in main_container(stream)


# 4. A path prefix needs the controller's rewrite.


def test_an_ingress_path_without_a_rewrite_is_refused() -> None:
    sets = ["ingress.enabled=true", "ingress.path=/iris"]
    with pytest.raises(RequestError, match="serves /predict") as caught:
        chart_values(HTTP, apply_sets(HTTP.settings, sets))
    assert "nginx.ingress.kubernetes.io/rewrite-target" in str(caught.value.hint)
    assert "use-regex" in str(caught.value.hint)
    notes = "ingress.annotations={nginx.ingress.kubernetes.io/rewrite-target: /$2}"
    ingress = by_kind(render(chart_values(HTTP, apply_sets(HTTP.settings, [*sets, notes]))))
    assert ingress["Ingress"]["metadata"]["annotations"] == {
        "nginx.ingress.kubernetes.io/rewrite-target": "/$2"
    }


# 5. -o DIR prunes only the same workload's files.


def test_writing_into_a_shared_folder_keeps_other_workloads_files(tmp_path: Path) -> None:
    def objects_of(name: str, *sets: str) -> list[Object]:
        return render(chart_values(HTTP, apply_sets(HTTP.settings, [f"name={name}", *sets])))

    write_manifests(objects_of("iris", "replicas=2"), tmp_path, "iris")
    write_manifests(objects_of("wine"), tmp_path, "wine")
    _, stale = write_manifests(objects_of("iris"), tmp_path, "iris")
    assert [path.name for path in stale] == ["poddisruptionbudget-iris.yaml"]
    assert sorted(path.name for path in tmp_path.iterdir()) == [
        "deployment-iris.yaml",
        "deployment-wine.yaml",
        "service-iris.yaml",
        "service-wine.yaml",
    ]
    assert yaml.safe_load((tmp_path / "service-wine.yaml").read_text())["kind"] == "Service"


# 6. graph deploy refuses settings the graph's objects never read.


@pytest.mark.parametrize(
    ("pair", "instead"),
    [
        ("replicas=3", "`replicas`"),
        ("autoscaling.max_replicas=9", "`max_replicas`"),
        ("service.type=NodePort", "no Service"),
        ("ingress.enabled=true", "no Ingress"),
        ("name=x", "graph's name"),
        ("schedule=@daily", "continuously"),
    ],
)
def test_graph_settings_refuse_what_render_graph_does_not_read(pair: str, instead: str) -> None:
    with pytest.raises(RequestError, match=re.escape(pair.partition("=")[0])) as caught:
        graph_settings(TRANSPORT, [*IMAGE, pair])
    assert instead in str(caught.value.hint)


# 7. Batch input and output by their short flags.


def test_batch_args_may_use_short_flags() -> None:
    values = chart_values(BATCH, apply_sets(DeploySpec(), ["args=[-i, /data/in.csv, -o, /out]"]))
    assert main_container(by_kind(render(values))["Job"])["args"][:2] == ["-i", "/data/in.csv"]
