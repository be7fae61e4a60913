"""A graph on Kubernetes: one Deployment per step running `graph run --step`, and a Job
running `graph deploy` for the streams; every object valid, nothing secret inlined."""

from __future__ import annotations

import re
import textwrap
from pathlib import Path

import kubernetes_validate
import pytest

from nervosum.deploy import graph_settings, render_graph
from nervosum.deploy.objects import Object
from nervosum.errors import RequestError
from nervosum.graph.load import Graph, load_graph
from tests.conftest import EXAMPLES, ROOT
from tests.unit.test_deploy_manifests import K8S_VERSION, main_container, pod_of

PIPELINE = EXAMPLES / "graph" / "pipeline.yaml"
IGUAZIO = ROOT / "tests/data/seeds/marcelonyc__iguazioig/tests/api_0_2_0/util/inference_graph.yaml"
TRANSPORT = "redis://redis:6379/0"
IMAGE = ["image.repository=registry.example/ml/spam", "image.tag=v3"]


def named(objects: list[Object]) -> dict[str, Object]:
    return {f"{obj['kind']}/{obj['metadata']['name']}": obj for obj in objects}


def scaled_graph(tmp_path: Path) -> Graph:
    """The example graph with a step that may grow and one scaled to zero."""
    text = PIPELINE.read_text(encoding="utf-8")
    text = text.replace(
        "    outputs: [scored]\n",
        "    outputs: [scored]\n    replicas: 2\n    max_replicas: 6\n"
        "    resources: {requests: {cpu: 500m, memory: 1Gi}}\n"
        "    env: {THRESHOLD: '0.3'}\n    image: registry.example/ml/scorer:v7\n",
    )
    text = text.replace("    outputs: [enriched]\n", "    outputs: [enriched]\n    replicas: 0\n")
    path = tmp_path / "pipeline.yaml"
    path.write_text(text, encoding="utf-8")
    return load_graph(path)


def test_one_deployment_per_step_and_a_job_for_the_streams() -> None:
    objects = render_graph(load_graph(PIPELINE), graph_settings(TRANSPORT, IMAGE))
    job_name = objects[0]["metadata"]["name"]
    assert re.fullmatch(r"spam-filter-streams-[0-9a-f]{10}", job_name)
    assert list(named(objects)) == [
        f"Job/{job_name}",
        "Deployment/spam-filter-score",
        "Deployment/spam-filter-enrich",
        "Deployment/spam-filter-join",
    ]
    for obj in objects:
        kubernetes_validate.validate(obj, K8S_VERSION, strict=True)
    job = named(objects)[f"Job/{job_name}"]
    assert main_container(job)["command"] == [
        *("nervosum", "graph", "deploy", "pipeline.yaml", "--transport", TRANSPORT),
    ]
    assert pod_of(job)["spec"]["restartPolicy"] == "Never"
    join = named(objects)["Deployment/spam-filter-join"]
    container = main_container(join)
    assert container["image"] == "registry.example/ml/spam:v3"
    assert container["command"] == [
        *("nervosum", "graph", "run", "pipeline.yaml", "--transport", TRANSPORT),
        *("--step", "join", "--host", "0.0.0.0", "--port", "8081"),
    ]
    assert container["readinessProbe"]["httpGet"] == {"path": "/health/ready", "port": "http"}
    assert container["ports"][0]["containerPort"] == 8081
    assert pod_of(join)["metadata"]["annotations"]["prometheus.io/port"] == "8081"
    assert join["spec"]["replicas"] == 1
    assert join["metadata"]["labels"]["app.kubernetes.io/part-of"] == "spam-filter"
    assert join["metadata"]["labels"]["app.kubernetes.io/component"] == "join"


def test_the_graph_file_says_replicas_resources_env_and_image(tmp_path: Path) -> None:
    settings = graph_settings(
        TRANSPORT,
        [*IMAGE, "namespace=graphs", "env.LOG_LEVEL=info", "secret_env.API=scorer-api/token"],
        graph_file="/srv/graph/pipeline.yaml",
    )
    objects = named(render_graph(scaled_graph(tmp_path), settings))
    for obj in objects.values():
        kubernetes_validate.validate(obj, K8S_VERSION, strict=True)
        assert obj["metadata"]["namespace"] == "graphs"
    score = objects["Deployment/spam-filter-score"]
    assert "replicas" not in score["spec"]  # the autoscaler owns the count
    scaler = objects["HorizontalPodAutoscaler/spam-filter-score"]["spec"]
    assert (scaler["minReplicas"], scaler["maxReplicas"]) == (2, 6)
    assert "PodDisruptionBudget/spam-filter-score" in objects
    container = main_container(score)
    assert container["image"] == "registry.example/ml/scorer:v7"
    assert container["resources"] == {"requests": {"cpu": "500m", "memory": "1Gi"}}
    assert container["command"][3] == "/srv/graph/pipeline.yaml"
    assert container["env"] == [
        {"name": "LOG_LEVEL", "value": "info"},
        {"name": "THRESHOLD", "value": "0.3"},
        {"name": "API", "valueFrom": {"secretKeyRef": {"name": "scorer-api", "key": "token"}}},
    ]
    assert objects["Deployment/spam-filter-enrich"]["spec"]["replicas"] == 0
    assert "HorizontalPodAutoscaler/spam-filter-enrich" not in objects


def test_an_iguazioig_graph_deploys_with_its_own_images() -> None:
    objects = render_graph(load_graph(IGUAZIO), graph_settings("nats://nats:4222"))
    for obj in objects:
        kubernetes_validate.validate(obj, K8S_VERSION, strict=True)
    images = {
        main_container(obj)["image"] for obj in objects if obj["kind"] in ("Job", "Deployment")
    }
    assert images == {"python:3.6-jessie"}


def test_a_step_without_an_image_needs_one() -> None:
    with pytest.raises(RequestError, match="has no image"):
        render_graph(load_graph(PIPELINE), graph_settings(TRANSPORT))


def test_a_transport_password_must_come_from_a_secret() -> None:
    with pytest.raises(RequestError, match="holds a password") as caught:
        graph_settings("redis://:hunter2@redis:6379/0")
    assert "hunter2" not in str(caught.value)
    reference = "redis://:$(REDIS_PASSWORD)@redis:6379/0"
    settings = graph_settings(reference, [*IMAGE, "secret_env.REDIS_PASSWORD=redis/password"])
    job = render_graph(load_graph(PIPELINE), settings)[0]
    assert reference in main_container(job)["command"]
    assert main_container(job)["env"] == [
        {
            "name": "REDIS_PASSWORD",
            "valueFrom": {"secretKeyRef": {"name": "redis", "key": "password"}},
        }
    ]


def test_scaling_a_step_needs_a_cpu_request(tmp_path: Path) -> None:
    path = tmp_path / "g.yaml"
    path.write_text(
        textwrap.dedent(
            """
            graph: g
            streams: {a: {}, b: {}}
            steps:
              - {name: s, inputs: [a], outputs: [b], class_module: m, class_name: C,
                 methods: [f], max_replicas: 4, image: img:1,
                 resources: {requests: {memory: 1Gi}}}
            """
        ),
        encoding="utf-8",
    )
    with pytest.raises(RequestError, match="needs a CPU request"):
        render_graph(load_graph(path), graph_settings(TRANSPORT))


def test_steps_whose_names_collide_are_refused(tmp_path: Path) -> None:
    path = tmp_path / "g.yaml"
    path.write_text(
        textwrap.dedent(
            """
            graph: g
            streams: {a: {}, b: {}, c: {}}
            steps:
              - {name: s.1, inputs: [a], outputs: [b], class_module: m, class_name: C, methods: [f]}
              - {name: s_1, inputs: [b], outputs: [c], class_module: m, class_name: C, methods: [f]}
            """
        ),
        encoding="utf-8",
    )
    with pytest.raises(RequestError, match="both become Kubernetes name 'g-s-1'"):
        render_graph(load_graph(path), graph_settings(TRANSPORT, IMAGE))
