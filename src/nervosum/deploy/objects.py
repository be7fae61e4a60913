"""Kubernetes objects as plain dicts, built from explicit arguments.

A bundle's workload (``manifests.py``) and a graph's steps (``graph.py``) are assembled
from these parts, so what matters in production is written once: a non-root user that
matches the bundle image's ``USER 10001``, no service-account token mounted (a model
never talks to the API server), probes by port name, a rolling update that never drops
below the current capacity, and Prometheus scrape annotations on the pod.
"""

from __future__ import annotations

import hashlib
import json
from typing import Any

Object = dict[str, Any]

RUN_AS = 10001  # the bundle image's USER (templates/build/Dockerfile)
PORT_NAME = "http"
GRPC_PORT_NAME = "grpc"
MANAGED_BY = "nervosum"
JOB_TTL = 86400  # seconds a finished Job (and its pod's logs) is kept
HASH_LENGTH = 10  # hex digits of a Job's content hash in its name
# Seconds a served pod sleeps before SIGTERM (preStop) while it leaves the endpoints;
# the chart's templates say 5 too.
PRE_STOP = 5


def labels(name: str, app: str, **extra: str) -> dict[str, str]:
    """The labels every object of a workload carries; ``app`` alone selects its pods."""
    return {
        "app": app,
        "app.kubernetes.io/name": name,
        "app.kubernetes.io/managed-by": MANAGED_BY,
        **extra,
    }


def metadata(name: str, namespace: str | None, object_labels: dict[str, str]) -> Object:
    meta: Object = {"name": name}
    if namespace is not None:
        meta["namespace"] = namespace
    meta["labels"] = object_labels
    return meta


def plain_env(name: str, value: str) -> Object:
    return {"name": name, "value": value}


def secret_env(name: str, secret: str, key: str) -> Object:
    """A variable read from a Secret by the kubelet: the value never enters a manifest."""
    return {"name": name, "valueFrom": {"secretKeyRef": {"name": secret, "key": key}}}


def scrape_annotations(port: int) -> dict[str, str]:
    """What Prometheus' Kubernetes pod discovery reads to scrape ``/metrics``."""
    return {
        "prometheus.io/scrape": "true",
        "prometheus.io/port": str(port),
        "prometheus.io/path": "/metrics",
    }


def container(
    *,
    name: str,
    image: str,
    pull_policy: str,
    command: list[str] | None,
    args: list[str],
    port: int | None,
    env: list[Object],
    resources: Object,
    mount_path: str | None,
    pre_stop: bool = False,
    grpc_port: int | None = None,
) -> Object:
    """One container; with a ``port`` it is probed on ``/health/live`` and
    ``/health/ready`` there (the HTTP server's and the stream side port's routes). With
    a ``grpc_port`` too, readiness is asked of the gRPC health service instead (the
    whole server, every model loaded), so a pod whose gRPC server is down takes no
    traffic; liveness stays on HTTP, which answers while a model loads.

    ``pre_stop``: the kubelet waits :data:`PRE_STOP` seconds before SIGTERM, while the
    pod is taken out of the Service's endpoints, so no request reaches a server that
    stopped accepting (the grace period must include those seconds)."""
    spec: Object = {"name": name, "image": image, "imagePullPolicy": pull_policy}
    if command:
        spec["command"] = command
    if args:
        spec["args"] = args
    if port is not None:
        spec["ports"] = [{"name": PORT_NAME, "containerPort": port, "protocol": "TCP"}]
    if port is not None and grpc_port is not None:
        spec["ports"].append(
            {"name": GRPC_PORT_NAME, "containerPort": grpc_port, "protocol": "TCP"}
        )
    if env:
        spec["env"] = env
    spec["resources"] = resources
    if port is not None:
        spec["livenessProbe"] = _probe({"httpGet": {"path": "/health/live", "port": PORT_NAME}}, 10)
        ready: Object = {"httpGet": {"path": "/health/ready", "port": PORT_NAME}}
        if grpc_port is not None:  # a gRPC probe names its port by number
            ready = {"grpc": {"port": grpc_port}}
        spec["readinessProbe"] = _probe(ready, 5)
    if pre_stop:
        spec["lifecycle"] = {"preStop": {"sleep": {"seconds": PRE_STOP}}}
    if mount_path is not None:
        spec["volumeMounts"] = [{"name": "data", "mountPath": mount_path}]
    spec["securityContext"] = {
        "allowPrivilegeEscalation": False,
        "capabilities": {"drop": ["ALL"]},
    }
    return spec


def _probe(action: Object, period: int) -> Object:
    return {
        **action,
        "periodSeconds": period,
        "timeoutSeconds": 2,
        "failureThreshold": 3,
    }


def pod_template(
    *,
    pod_labels: dict[str, str],
    annotations: dict[str, str],
    main: Object,
    grace_period: int | None,
    pull_secret: str | None,
    claim: str | None,
    restart_policy: str | None = None,
) -> Object:
    spec: Object = {}
    if restart_policy is not None:
        spec["restartPolicy"] = restart_policy
    spec["automountServiceAccountToken"] = False
    if grace_period is not None:
        spec["terminationGracePeriodSeconds"] = grace_period
    spec["securityContext"] = {
        "runAsNonRoot": True,
        "runAsUser": RUN_AS,
        "runAsGroup": RUN_AS,
        "fsGroup": RUN_AS,
        "seccompProfile": {"type": "RuntimeDefault"},
    }
    if pull_secret is not None:
        spec["imagePullSecrets"] = [{"name": pull_secret}]
    spec["containers"] = [main]
    if claim is not None:
        spec["volumes"] = [{"name": "data", "persistentVolumeClaim": {"claimName": claim}}]
    return {"metadata": {"labels": pod_labels, "annotations": annotations}, "spec": spec}


def deployment(meta: Object, app: str, replicas: int | None, template: Object) -> Object:
    """``replicas`` None leaves the count to an autoscaler (an apply would reset it)."""
    spec: Object = {}
    if replicas is not None:
        spec["replicas"] = replicas
    spec["selector"] = {"matchLabels": {"app": app}}
    spec["strategy"] = {
        "type": "RollingUpdate",
        "rollingUpdate": {"maxSurge": 1, "maxUnavailable": 0},
    }
    spec["template"] = template
    return {"apiVersion": "apps/v1", "kind": "Deployment", "metadata": meta, "spec": spec}


def service(
    meta: Object,
    app: str,
    kind: str,
    port: int,
    *,
    node_port: int | None,
    grpc_port: int | None,
) -> Object:
    """HTTP on ``port``; gRPC on ``grpc_port`` too when given (its ``appProtocol`` tells
    meshes and gateways to route it as gRPC)."""
    entry: Object = {"name": PORT_NAME, "port": port, "targetPort": PORT_NAME, "protocol": "TCP"}
    if node_port is not None:
        entry["nodePort"] = node_port
    ports = [entry]
    if grpc_port is not None:
        ports.append(
            {
                "name": GRPC_PORT_NAME,
                "port": grpc_port,
                "targetPort": GRPC_PORT_NAME,
                "protocol": "TCP",
                "appProtocol": "grpc",
            }
        )
    spec = {"type": kind, "selector": {"app": app}, "ports": ports}
    return {"apiVersion": "v1", "kind": "Service", "metadata": meta, "spec": spec}


def ingress(
    meta: Object,
    host: str | None,
    path: tuple[str, str],
    class_name: str | None,
    backend: tuple[str, int],
) -> Object:
    """``path``: the path and its type (``Prefix``, or ``ImplementationSpecific`` for a
    controller's regex)."""
    service_name, port = backend
    route = {
        "path": path[0],
        "pathType": path[1],
        "backend": {"service": {"name": service_name, "port": {"number": port}}},
    }
    rule: Object = {}
    if host is not None:
        rule["host"] = host
    rule["http"] = {"paths": [route]}
    spec: Object = {}
    if class_name is not None:
        spec["ingressClassName"] = class_name
    spec["rules"] = [rule]
    return {"apiVersion": "networking.k8s.io/v1", "kind": "Ingress", "metadata": meta, "spec": spec}


def autoscaler(meta: Object, target: str, bounds: tuple[int, int], cpu_percent: int) -> Object:
    low, high = bounds
    spec = {
        "scaleTargetRef": {"apiVersion": "apps/v1", "kind": "Deployment", "name": target},
        "minReplicas": low,
        "maxReplicas": high,
        "metrics": [
            {
                "type": "Resource",
                "resource": {
                    "name": "cpu",
                    "target": {"type": "Utilization", "averageUtilization": cpu_percent},
                },
            }
        ],
    }
    return {
        "apiVersion": "autoscaling/v2",
        "kind": "HorizontalPodAutoscaler",
        "metadata": meta,
        "spec": spec,
    }


def disruption_budget(meta: Object, app: str) -> Object:
    """One pod at a time may be evicted (a node drain), so the others keep serving."""
    spec = {"maxUnavailable": 1, "selector": {"matchLabels": {"app": app}}}
    return {
        "apiVersion": "policy/v1",
        "kind": "PodDisruptionBudget",
        "metadata": meta,
        "spec": spec,
    }


def go_json(value: Any) -> str:
    """``value`` as Go's encoding/json (Helm's ``toJson``) writes it: keys sorted, no
    spaces, UTF-8, and ``&``, ``<``, ``>``, U+2028 and U+2029 escaped."""
    text = json.dumps(value, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
    for char, escaped in (("&", "\\u0026"), ("<", "\\u003c"), (">", "\\u003e")):
        text = text.replace(char, escaped)
    return text.replace("\u2028", "\\u2028").replace("\u2029", "\\u2029")


def content_hash(template: Object) -> str:
    """A short hash of a pod template: the chart's ``include "nervosum.pod" . | fromYaml
    | toJson | sha256sum | trunc 10`` gives the same."""
    return hashlib.sha256(go_json(template).encode("utf-8")).hexdigest()[:HASH_LENGTH]


def job_name(base: str, template: Object) -> str:
    """``<base>-<hash of the pod template>``, a DNS label of at most 63 characters.

    A Job's pod template is immutable, so a Job of a changed template is a new Job: its
    name changes with its content, and applying the same template again is unchanged."""
    return f"{base[: 62 - HASH_LENGTH].rstrip('-')}-{content_hash(template)}"


def job(meta: Object, template: Object) -> Object:
    """A Job named from its pod template (:func:`job_name` of ``meta``'s name), removed
    by the cluster :data:`JOB_TTL` seconds after it finished."""
    named = {**meta, "name": job_name(meta["name"], template)}
    return {
        "apiVersion": "batch/v1",
        "kind": "Job",
        "metadata": named,
        "spec": {"ttlSecondsAfterFinished": JOB_TTL, "template": template},
    }


def cron_job(meta: Object, schedule: str, template: Object) -> Object:
    """Runs never overlap: two runs of one batch would write the same output."""
    spec = {
        "schedule": schedule,
        "concurrencyPolicy": "Forbid",
        "jobTemplate": {"spec": {"template": template}},
    }
    return {"apiVersion": "batch/v1", "kind": "CronJob", "metadata": meta, "spec": spec}
