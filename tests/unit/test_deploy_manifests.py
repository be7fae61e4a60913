"""Objects rendered for every mode and option: valid Kubernetes (strict, offline), with
the bundle's image, port, probes and resources where they belong and no secret value
anywhere. ``CASES`` is shared with the chart test, which renders the same values
through the Helm templates."""

from __future__ import annotations

import dataclasses
import re
from typing import Any

import kubernetes_validate
import pytest

from nervosum.config.spec import DeploySpec
from nervosum.deploy.manifests import render
from nervosum.deploy.objects import Object
from nervosum.deploy.settings import apply_sets
from nervosum.deploy.values import chart_values, dns_label
from nervosum.deploy.workload import Workload, repo_workload
from nervosum.errors import ConfigError, RequestError
from nervosum.project import load_config
from tests.conftest import ProjectFactory

K8S_VERSION = "1.37.0"
SECRET_LIKE = re.compile(r"(?i)pass|secret|token|usergit")
BUNDLE = "3fa9c1" + "0" * 58

HTTP = Workload(
    mode="http",
    name="Iris_Model",
    image="nervosum/iris_model",
    tag="v0.0.1",
    port=5000,
    grace_period=35,
    bundle=BUNDLE,
    description="iris_model:v0.0.1 (3fa9c1000000)",
)
STREAM = Workload(
    mode="stream",
    name="iris_stream",
    image="nervosum/iris_stream",
    tag="v2",
    port=8081,
    grace_period=65,
    bundle=BUNDLE,
    description="iris_stream:v2",
)
BATCH = Workload(
    mode="batch",
    name="iris_batch",
    image="nervosum/iris_batch",
    tag="latest",
    port=None,
    grace_period=None,
    bundle=BUNDLE,
    description="iris_batch:latest",
)
REPO = Workload(
    mode="repo",
    name="models",
    image=None,
    tag=None,
    port=5000,
    grace_period=35,
    bundle=None,
    description="the model repository https://git.example/team/models.git",
    repo_source="https://git.example/team/models.git",
    repo_secret="models-git",
)
REPO_PUBLIC = Workload(
    mode="repo",
    name="models",
    image="nervosum/iris",
    tag="v0.0.1",
    port=5000,
    grace_period=35,
    bundle=None,
    description="the model repository https://git.example/team/models.git",
    repo_source="https://git.example/team/models.git",
)
IO = ["env.INPUT_PATH=/data/in.csv", "env.OUTPUT_PATH=/data/out/", "claim=scores"]
REPO_IMAGE = ["image.repository=registry.example/ml/nervosum", "image.tag=0.1.0"]

CASES: dict[str, tuple[Workload, list[str]]] = {
    "http-defaults": (HTTP, []),
    "http-grpc": (dataclasses.replace(HTTP, grpc_port=8081, grpcio=True), []),
    "http-replicas": (HTTP, ["replicas=3"]),
    "http-scaled-to-zero": (HTTP, ["replicas=0"]),
    "http-autoscaling": (
        HTTP,
        ["autoscaling.enabled=true", "autoscaling.min_replicas=2", "autoscaling.max_replicas=6"],
    ),
    "http-autoscaling-floor-one": (
        HTTP,
        ["autoscaling.enabled=true", "autoscaling.cpu_percent=60"],
    ),
    "http-nodeport": (
        HTTP,
        ["service.type=NodePort", "service.port=8000", "service.node_port=30000", "port=8000"],
    ),
    "http-loadbalancer": (HTTP, ["service.type=LoadBalancer"]),
    "http-ingress": (
        HTTP,
        [
            "ingress.enabled=true",
            "ingress.host=ml.example.com",
            "ingress.path=/iris(/|$)(.*)",
            "ingress.path_type=ImplementationSpecific",
            "ingress.class_name=nginx",
            "ingress.annotations={nginx.ingress.kubernetes.io/rewrite-target: /$2,"
            ' nginx.ingress.kubernetes.io/use-regex: "true"}',
        ],
    ),
    "http-ingress-any-host": (HTTP, ["ingress.enabled=true"]),
    "http-registry": (
        HTTP,
        [
            "namespace=ml",
            "image.repository=registry.example/ml/iris",
            "image.tag=1.10",
            "image.pull_secret=regcred",
            "image.pull_policy=Always",
        ],
    ),
    "http-env-secrets-args-volume": (
        HTTP,
        [
            "env.LOG_LEVEL=debug",
            "env.THRESHOLD=0.4",
            "secret_env.PGPASSWORD=predlog-db/password",
            "args=[--workers, '2']",
            "claim=predictions",
            "mount_path=/var/log/nervosum",
        ],
    ),
    "http-template-names": (
        HTTP,
        [
            "name=ml-microservice",
            "label=ml-app",
            "container=model",
            "service.name=ml-service",
            "resources.requests.cpu=1",
            "resources.limits.cpu=2",
        ],
    ),
    "http-microservice-template": (
        HTTP,
        [  # the microservice template's config/build.yaml, through the documented mapping
            "name=ml-microservice",
            "label=ml-app",
            "container=ml-container",
            "image.repository=n02291/ml_template_production",
            "image.tag=0.0.1",
            "port=8000",
            "replicas=2",
            "service.name=ml-service",
            "service.type=NodePort",
            "service.port=8000",
            "service.node_port=30000",
        ],
    ),
    "stream-defaults": (STREAM, []),
    "stream-replicas": (STREAM, ["replicas=4"]),
    "stream-autoscaling": (STREAM, ["autoscaling.enabled=true", "autoscaling.max_replicas=8"]),
    "stream-port-args": (STREAM, ["port=9100", "args=[--batch-size, '64']", "namespace=streams"]),
    "batch-job": (BATCH, IO),
    "batch-cronjob": (BATCH, [*IO, "schedule=0 2 * * *"]),
    "batch-args": (BATCH, ["args=[--input, /data/in.csv, --output, /data/out/, --overwrite]"]),
    "repo-secret": (REPO, REPO_IMAGE),
    "repo-public-scaled": (
        REPO_PUBLIC,
        [
            "replicas=2",
            "ingress.enabled=true",
            "args=[--branch, main]",
        ],
    ),
}


def case_values(case: str) -> dict[str, Any]:
    workload, sets = CASES[case]
    return chart_values(workload, apply_sets(workload.settings, sets))


def case_objects(case: str) -> list[Object]:
    return render(case_values(case))


def by_kind(objects: list[Object]) -> dict[str, Object]:
    return {obj["kind"]: obj for obj in objects}


def pod_of(obj: Object) -> Object:
    spec = obj["spec"]
    if obj["kind"] == "CronJob":
        spec = spec["jobTemplate"]["spec"]
    return dict(spec["template"])


def main_container(obj: Object) -> Object:
    return dict(pod_of(obj)["spec"]["containers"][0])


def env_of(obj: Object) -> dict[str, Any]:
    return {
        item["name"]: item.get("value", item.get("valueFrom"))
        for item in main_container(obj).get("env", [])
    }


@pytest.mark.parametrize("case", sorted(CASES))
def test_every_object_is_valid_kubernetes(case: str) -> None:
    for obj in case_objects(case):
        kubernetes_validate.validate(obj, K8S_VERSION, strict=True)


@pytest.mark.parametrize(
    ("case", "kinds"),
    [
        ("http-defaults", ["Deployment", "Service"]),
        ("http-replicas", ["Deployment", "Service", "PodDisruptionBudget"]),
        ("http-scaled-to-zero", ["Deployment", "Service"]),
        (
            "http-autoscaling",
            ["Deployment", "Service", "HorizontalPodAutoscaler", "PodDisruptionBudget"],
        ),
        ("http-autoscaling-floor-one", ["Deployment", "Service", "HorizontalPodAutoscaler"]),
        ("http-ingress", ["Deployment", "Service", "Ingress"]),
        ("stream-defaults", ["Deployment"]),
        ("stream-replicas", ["Deployment", "PodDisruptionBudget"]),
        ("stream-autoscaling", ["Deployment", "HorizontalPodAutoscaler"]),
        ("batch-job", ["Job"]),
        ("batch-cronjob", ["CronJob"]),
        ("repo-secret", ["Deployment", "Service"]),
        ("repo-public-scaled", ["Deployment", "Service", "Ingress", "PodDisruptionBudget"]),
    ],
)
def test_each_mode_renders_its_objects(case: str, kinds: list[str]) -> None:
    assert [obj["kind"] for obj in case_objects(case)] == kinds


def test_http_bundle_image_port_probes_resources_and_drain() -> None:
    objects = by_kind(case_objects("http-defaults"))
    deployment, service = objects["Deployment"], objects["Service"]
    assert deployment["metadata"]["name"] == "iris-model"  # a DNS label made of the bundle name
    assert deployment["spec"]["replicas"] == 1
    pod = pod_of(deployment)
    container = main_container(deployment)
    assert container["image"] == "nervosum/iris_model:v0.0.1"
    assert container["ports"] == [{"name": "http", "containerPort": 5000, "protocol": "TCP"}]
    assert container["livenessProbe"]["httpGet"] == {"path": "/health/live", "port": "http"}
    assert container["readinessProbe"]["httpGet"] == {"path": "/health/ready", "port": "http"}
    assert container["resources"] == {
        "requests": {"cpu": "250m", "memory": "512Mi"},
        "limits": {"memory": "1Gi"},
    }
    assert env_of(deployment) == {"NERVOSUM_HOST": "0.0.0.0", "NERVOSUM_PORT": "5000"}
    assert pod["metadata"]["annotations"] == {
        "prometheus.io/scrape": "true",
        "prometheus.io/port": "5000",
        "prometheus.io/path": "/metrics",
        "nervosum/bundle": BUNDLE,
    }
    assert pod["spec"]["terminationGracePeriodSeconds"] == 35
    assert pod["spec"]["securityContext"]["runAsNonRoot"] is True
    assert pod["spec"]["securityContext"]["runAsUser"] == 10001
    assert container["securityContext"]["allowPrivilegeEscalation"] is False
    assert service["spec"]["type"] == "ClusterIP"
    assert service["spec"]["ports"] == [
        {"name": "http", "port": 80, "targetPort": "http", "protocol": "TCP"}
    ]
    assert service["spec"]["selector"] == deployment["spec"]["selector"]["matchLabels"]


def test_the_microservice_template_values_land_where_it_put_them() -> None:
    objects = by_kind(case_objects("http-template-names"))
    deployment, service = objects["Deployment"], objects["Service"]
    assert deployment["metadata"]["name"] == "ml-microservice"
    assert deployment["spec"]["selector"]["matchLabels"] == {"app": "ml-app"}
    assert main_container(deployment)["name"] == "model"
    assert main_container(deployment)["resources"]["requests"]["cpu"] == "1"
    assert main_container(deployment)["resources"]["limits"] == {"memory": "1Gi", "cpu": "2"}
    assert service["metadata"]["name"] == "ml-service"
    nodeport = by_kind(case_objects("http-nodeport"))
    assert main_container(nodeport["Deployment"])["ports"][0]["containerPort"] == 8000
    assert env_of(nodeport["Deployment"])["NERVOSUM_PORT"] == "8000"
    assert nodeport["Service"]["spec"]["type"] == "NodePort"
    assert nodeport["Service"]["spec"]["ports"][0] == {
        "name": "http",
        "port": 8000,
        "targetPort": "http",
        "protocol": "TCP",
        "nodePort": 30000,
    }
    registry = by_kind(case_objects("http-registry"))["Deployment"]
    assert main_container(registry)["image"] == "registry.example/ml/iris:1.10"
    assert main_container(registry)["imagePullPolicy"] == "Always"
    assert pod_of(registry)["spec"]["imagePullSecrets"] == [{"name": "regcred"}]
    assert {obj["metadata"]["namespace"] for obj in case_objects("http-registry")} == {"ml"}


def test_the_microservice_templates_values_give_its_deployment_and_service() -> None:
    """The seed's build.yaml (2 replicas, its image, port 8000, a NodePort Service on
    8000 / 30000) gives the objects its Helm chart meant to make."""
    objects = by_kind(case_objects("http-microservice-template"))
    deployment, service = objects["Deployment"], objects["Service"]
    container = main_container(deployment)
    assert deployment["spec"]["replicas"] == 2
    assert container["image"] == "n02291/ml_template_production:0.0.1"
    assert container["name"] == "ml-container"
    assert container["ports"][0]["containerPort"] == 8000
    assert container["readinessProbe"]["httpGet"]["path"] == "/health/ready"
    assert container["livenessProbe"]["httpGet"]["path"] == "/health/live"
    assert service["metadata"]["name"] == "ml-service"
    assert service["spec"]["type"] == "NodePort"
    (port,) = service["spec"]["ports"]
    assert (port["port"], port["nodePort"]) == (8000, 30000)
    assert service["spec"]["selector"] == deployment["spec"]["selector"]["matchLabels"]
    assert "PodDisruptionBudget" in objects  # two replicas


def test_autoscaling_owns_the_replica_count() -> None:
    objects = by_kind(case_objects("http-autoscaling"))
    assert "replicas" not in objects["Deployment"]["spec"]
    scaler = objects["HorizontalPodAutoscaler"]["spec"]
    assert scaler["scaleTargetRef"] == {
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "name": "iris-model",
    }
    assert (scaler["minReplicas"], scaler["maxReplicas"]) == (2, 6)
    assert scaler["metrics"][0]["resource"]["target"] == {
        "type": "Utilization",
        "averageUtilization": 80,
    }
    assert objects["PodDisruptionBudget"]["spec"]["maxUnavailable"] == 1


def test_ingress_routes_a_rewritten_regex_path_to_the_service() -> None:
    ingress = by_kind(case_objects("http-ingress"))["Ingress"]
    assert ingress["spec"]["ingressClassName"] == "nginx"
    rule = ingress["spec"]["rules"][0]
    assert rule["host"] == "ml.example.com"
    assert ingress["metadata"]["annotations"] == {
        "nginx.ingress.kubernetes.io/rewrite-target": "/$2",
        "nginx.ingress.kubernetes.io/use-regex": "true",
    }
    assert rule["http"]["paths"] == [
        {
            "path": "/iris(/|$)(.*)",
            "pathType": "ImplementationSpecific",
            "backend": {"service": {"name": "iris-model", "port": {"number": 80}}},
        }
    ]


def test_grpc_gets_a_container_port_a_service_port_and_the_readiness_probe() -> None:
    objects = by_kind(case_objects("http-grpc"))
    container = main_container(objects["Deployment"])
    assert container["ports"] == [
        {"name": "http", "containerPort": 5000, "protocol": "TCP"},
        {"name": "grpc", "containerPort": 8081, "protocol": "TCP"},
    ]
    # Readiness from grpc.health.v1 (every model loaded, the gRPC server up); liveness
    # stays on HTTP, which answers while the model loads.
    assert container["readinessProbe"]["grpc"] == {"port": 8081}
    assert "httpGet" not in container["readinessProbe"]
    assert container["livenessProbe"]["httpGet"] == {"path": "/health/live", "port": "http"}
    assert env_of(objects["Deployment"])["NERVOSUM_GRPC_PORT"] == "8081"
    assert objects["Service"]["spec"]["ports"][1] == {
        "name": "grpc",
        "port": 8081,
        "targetPort": "grpc",
        "protocol": "TCP",
        "appProtocol": "grpc",
    }


def test_the_grpc_port_setting_moves_the_bundles_and_needs_a_grpc_bundle() -> None:
    """``server.grpc_port`` in the bundle's nervosum.yaml turns gRPC on; ``grpc_port``
    moves it, and cannot turn it on for a bundle whose image has no grpcio."""
    workload = dataclasses.replace(HTTP, grpc_port=8081, grpcio=True)
    moved = apply_sets(workload.settings, ["grpc_port=9000"])
    objects = by_kind(render(chart_values(workload, moved)))
    assert main_container(objects["Deployment"])["readinessProbe"]["grpc"] == {"port": 9000}
    plain = by_kind(case_objects("http-defaults"))
    assert [p["name"] for p in plain["Service"]["spec"]["ports"]] == ["http"]
    without = dataclasses.replace(HTTP, grpcio=False)
    with pytest.raises(RequestError, match="built without gRPC") as caught:
        chart_values(without, apply_sets(HTTP.settings, ["grpc_port=9000"]))
    assert "server.grpc_port" in str(caught.value.hint)


@pytest.mark.parametrize(("grpcio", "allowed"), [(False, False), (True, True), (None, True)])
def test_a_repository_serves_grpc_only_from_an_image_that_can(
    grpcio: bool | None, allowed: bool
) -> None:
    """The image of a bundle built without gRPC would crash-loop on NERVOSUM_GRPC_PORT; an
    image named by the settings alone is the user's to vouch for (None: not known)."""
    source = repo_workload("https://git.example/models.git", None, None)
    workload = dataclasses.replace(source, grpcio=grpcio)
    image = ["image.repository=example/nervosum", "image.tag=1"]
    sets = apply_sets(workload.settings, ["grpc_port=8081", *image])
    if allowed:
        assert chart_values(workload, sets)["grpc_port"] == 8081
    else:
        with pytest.raises(RequestError, match="built without gRPC"):
            chart_values(workload, sets)


def test_stream_worker_has_no_service_and_is_probed_on_its_side_port() -> None:
    deployment = by_kind(case_objects("stream-defaults"))["Deployment"]
    container = main_container(deployment)
    assert container["args"] == ["--host", "0.0.0.0", "--port", "8081"]
    assert container["ports"][0]["containerPort"] == 8081
    assert container["readinessProbe"]["httpGet"]["port"] == "http"
    assert pod_of(deployment)["metadata"]["annotations"]["prometheus.io/port"] == "8081"
    assert pod_of(deployment)["spec"]["terminationGracePeriodSeconds"] == 65
    assert "env" not in container
    other = main_container(by_kind(case_objects("stream-port-args"))["Deployment"])
    assert other["args"] == ["--host", "0.0.0.0", "--port", "9100", "--batch-size", "64"]


def test_batch_job_and_cronjob() -> None:
    job = by_kind(case_objects("batch-job"))["Job"]
    pod = pod_of(job)
    assert pod["spec"]["restartPolicy"] == "Never"
    assert "terminationGracePeriodSeconds" not in pod["spec"]
    container = main_container(job)
    assert "ports" not in container and "livenessProbe" not in container
    assert env_of(job) == {"INPUT_PATH": "/data/in.csv", "OUTPUT_PATH": "/data/out/"}
    assert container["volumeMounts"] == [{"name": "data", "mountPath": "/data"}]
    assert pod["spec"]["volumes"] == [
        {"name": "data", "persistentVolumeClaim": {"claimName": "scores"}}
    ]
    assert pod["metadata"]["annotations"] == {"nervosum/bundle": BUNDLE}
    cron = by_kind(case_objects("batch-cronjob"))["CronJob"]
    assert cron["spec"]["schedule"] == "0 2 * * *"
    assert cron["spec"]["concurrencyPolicy"] == "Forbid"
    assert main_container(cron) == container


def test_repository_mode_takes_git_credentials_from_a_secret() -> None:
    deployment = by_kind(case_objects("repo-secret"))["Deployment"]
    container = main_container(deployment)
    assert container["command"] == ["nervosum", "serve-repo"]
    assert container["image"] == "registry.example/ml/nervosum:0.1.0"
    env = env_of(deployment)
    assert env["gitPath"] == "https://git.example/team/models.git"
    assert env["usergit"] == {"secretKeyRef": {"name": "models-git", "key": "username"}}
    assert env["gitpassword"] == {"secretKeyRef": {"name": "models-git", "key": "password"}}
    public = env_of(by_kind(case_objects("repo-public-scaled"))["Deployment"])
    assert "usergit" not in public and "gitpassword" not in public


def test_secrets_are_referenced_never_written() -> None:
    deployment = by_kind(case_objects("http-env-secrets-args-volume"))["Deployment"]
    env = env_of(deployment)
    assert env["PGPASSWORD"] == {"secretKeyRef": {"name": "predlog-db", "key": "password"}}
    assert env["LOG_LEVEL"] == "debug"
    assert main_container(deployment)["args"] == ["--workers", "2"]
    # Values that look like secrets cannot be given as plain environment variables at all.
    for name in (
        "DB_PASSWORD",
        "gitpassword",
        "HF_TOKEN",
        "OPENAI_API_KEY",
        "AWS_SECRET_ACCESS_KEY",
    ):
        with pytest.raises(ConfigError, match="looks like a secret"):
            apply_sets(DeploySpec(), [f"env.{name}=hunter2"])
    assert apply_sets(DeploySpec(), ["env.TOKENIZER=bert", "env.PARTITION_KEY=id"]).env


@pytest.mark.parametrize("case", sorted(CASES))
def test_credentials_always_come_from_secrets(case: str) -> None:
    for obj in case_objects(case):
        if obj["kind"] in ("Deployment", "Job", "CronJob"):
            for item in main_container(obj).get("env", []):
                if SECRET_LIKE.search(item["name"]):
                    assert "value" not in item, item
                    assert set(item["valueFrom"]["secretKeyRef"]) == {"name", "key"}


@pytest.mark.parametrize(
    "url",
    [
        "https://bot:hunter2@git.example/team/models.git",
        "https://hunter2@git.example/team/models.git",  # a token alone went in plain text
        "https://bot:hunt@er2@git.example/team/models.git",
        "hunter2@git.example/team/models.git",  # the seed's gitPath, without https://
    ],
)
def test_a_repository_url_with_credentials_is_refused(url: str) -> None:
    with pytest.raises(RequestError, match="holds credentials") as caught:
        repo_workload(url, None, None)
    assert "hunter2" not in str(caught.value) and "--repo-secret" in str(caught.value)


def test_a_repository_url_without_secrets_is_deployed() -> None:
    assert repo_workload("git.example/team/scoring.git", None, None).name == "scoring"
    assert repo_workload("git@git.example:team/models.git", None, None).name == "models"
    assert repo_workload("ssh://git@git.example/team/models.git", None, None).name == "models"


def test_set_keeps_siblings_and_reads_types() -> None:
    spec = apply_sets(
        DeploySpec(),
        [
            "resources.requests.cpu=1",
            "replicas=3",
            "image.tag=1.10",
            "env.PORT=8080",
            "ingress.host=",
        ],
    )
    assert spec.resources.requests == {"cpu": "1", "memory": "512Mi"}
    assert spec.replicas == 3
    assert spec.image.tag == "1.10"
    assert spec.env == {"PORT": "8080"}
    assert spec.ingress.host is None


def test_set_reports_every_problem_with_a_suggestion() -> None:
    with pytest.raises(ConfigError) as caught:
        apply_sets(
            DeploySpec(), ["service.typ=NodePort", "replicas=many", "service.node_port=30000"]
        )
    rendered = [issue.render("--set") for issue in caught.value.issues]
    assert "--set: service.typ: unknown key (did you mean 'type'?)" in rendered
    assert any(line.startswith("--set: replicas:") for line in rendered)
    with pytest.raises(RequestError, match="not KEY=VALUE"):
        apply_sets(DeploySpec(), ["replicas"])
    with pytest.raises(RequestError, match="replicas is not a mapping"):
        apply_sets(DeploySpec(), ["replicas.count=2"])


@pytest.mark.parametrize(
    ("workload", "sets", "message"),
    [
        (HTTP, ["schedule=@daily"], "a schedule runs batch bundles"),
        (STREAM, ["ingress.enabled=true"], "stream bundles have none"),
        (BATCH, ["env.INPUT_PATH=/in.csv"], "a batch Job needs --output"),
        (BATCH, [*IO, "autoscaling.enabled=true"], "autoscaling applies to Deployments"),
        (BATCH, [*IO, "schedule=0 25 * * *"], "Bad hour"),
        (BATCH, [*IO, "schedule=@daily", f"name={'b' * 53}"], "at most 52 characters"),
        (HTTP, ["env.NERVOSUM_PORT=9000"], "sets NERVOSUM_PORT itself"),
        (HTTP, ["replicas=9", "autoscaling.enabled=true"], r"max_replicas \(5\) is below"),
        (REPO, [], "no image is known"),
        (dataclasses.replace(HTTP, name="___"), [], "cannot make a Kubernetes name"),
    ],
)
def test_settings_that_cannot_work_are_refused(
    workload: Workload, sets: list[str], message: str
) -> None:
    with pytest.raises(RequestError, match=message):
        chart_values(workload, apply_sets(DeploySpec(), sets))


def test_autoscaling_without_a_cpu_request_is_refused() -> None:
    with pytest.raises(ConfigError, match=r"needs resources\.requests\.cpu"):
        apply_sets(DeploySpec(), ["resources.requests={memory: 1Gi}", "autoscaling.enabled=true"])


@pytest.mark.parametrize(
    ("text", "label"),
    [
        ("Iris", "iris"),
        ("iris_batch", "iris-batch"),
        ("-Fraud  Model.v2-", "fraud-model-v2"),
        ("x" * 70, "x" * 63),
    ],
)
def test_names_become_dns_labels(text: str, label: str) -> None:
    assert dns_label(text) == label


def test_a_deploy_block_mistake_is_reported_with_its_line(make_project: ProjectFactory) -> None:
    project = make_project(
        """
        name: m
        model: {module: m, class: M}
        deploy:
          replicas: 2
          service: {type: NodePort, nodeport: 30000}
          env: {DB_PASSWORD: hunter2}
        """,
        {"m.py": "class M:\n    def predict(self, df):\n        return df\n"},
    )
    with pytest.raises(ConfigError) as caught:
        load_config(project)
    rendered = [issue.render("nervosum.yaml") for issue in caught.value.issues]
    assert rendered[0] == (
        "nervosum.yaml:5: deploy.service.nodeport: unknown key (did you mean 'node_port'?)"
    )
    assert rendered[1].startswith("nervosum.yaml:6: deploy.env: DB_PASSWORD looks like a secret")
