"""An inference graph on Kubernetes: one Deployment per step, plus a Job that creates
the graph's streams and consumer groups on the broker.

A step's pod runs ``nervosum graph run GRAPH_FILE --transport URL --step NAME`` (one
consumer-group member; replicas share the group) with its side port probed and
scraped; the Job runs ``nervosum graph deploy GRAPH_FILE --transport URL``, which is
idempotent, so applying again is harmless. What the graph file says of a step
(``replicas``, ``max_replicas``, ``resources``, ``env``, ``image``) is kept; the
settings give what the file does not (the image, resources, Secrets, the namespace).
Every image must hold nervosum, the graph file and the steps' code.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from nervosum.config.spec import DeploySpec, looks_secret
from nervosum.deploy import objects
from nervosum.deploy.objects import Object
from nervosum.deploy.settings import apply_sets
from nervosum.deploy.values import dns_label
from nervosum.deploy.workload import EXIT_MARGIN, SIDE_PORT, has_password
from nervosum.errors import RequestError
from nervosum.graph.load import Graph
from nervosum.graph.spec import Step

DRAIN = 30  # `graph run --drain-timeout`'s default


@dataclass(frozen=True)
class GraphSettings:
    """``transport``: the broker every step uses; ``graph_file``: the graph file's path
    in the image (relative to its working directory; None: the file's name)."""

    transport: str
    deploy: DeploySpec = field(default_factory=DeploySpec)
    graph_file: str | None = None


def graph_settings(
    transport: str, pairs: Sequence[str] = (), graph_file: str | None = None
) -> GraphSettings:
    """Settings from ``graph deploy``'s ``--transport``, ``--set`` pairs and graph path."""
    if has_password(transport):
        raise RequestError(
            "the transport URL holds a password, which would be written into the manifests",
            hint="write $(VARIABLE) in its place and --set secret_env.VARIABLE=SECRET/KEY,"
            " e.g. redis://:$(REDIS_PASSWORD)@redis:6379/0",
        )
    _check_keys(pairs)
    return GraphSettings(transport, apply_sets(DeploySpec(), pairs), graph_file)


# Settings of a bundle's deployment that a graph's objects do not read, and where the
# graph says the same thing instead.
UNREAD = {
    "replicas": "each step's `replicas` in the graph file",
    "name": "the graph's name in the graph file (objects are <graph>-<step>)",
    "label": "nothing: a step's pods are selected by its own name",
    "container": "nothing: a step's container is named after the step",
    "service": "nothing: steps have no Service, nothing connects to them",
    "ingress": "nothing: steps have no Service, so no Ingress",
    "schedule": "nothing: a graph's steps run continuously",
    "autoscaling.enabled": "each step's `max_replicas` in the graph file",
    "autoscaling.min_replicas": "each step's `replicas` in the graph file",
    "autoscaling.max_replicas": "each step's `max_replicas` in the graph file",
}


def _check_keys(pairs: Sequence[str]) -> None:
    for pair in pairs:
        key = pair.partition("=")[0].strip()
        for unread, instead in UNREAD.items():
            if key == unread or key.startswith(f"{unread}."):
                raise RequestError(
                    f"--set {key}: a graph's objects do not read this setting",
                    hint=f"use {instead}",
                )


def render_graph(graph: Graph, settings: GraphSettings) -> list[Object]:
    """The stream set-up Job, then each step's Deployment (and autoscaler, disruption
    budget); :class:`RequestError` when an image or a name cannot be made."""
    slug = dns_label(graph.spec.slug) or "graph"
    path = settings.graph_file or graph.path.name
    names = {step.name: dns_label(f"{slug}-{step.name}") for step in graph.spec.steps}
    _check_names(names)
    _check_env(graph)
    rendered = [_setup_job(graph, settings, slug, path)]
    for step in graph.spec.steps:
        rendered += _step_objects(step, names[step.name], settings, slug, path)
    return rendered


def _check_names(names: dict[str, str]) -> None:
    seen: dict[str, str] = {}
    for step, name in names.items():
        if name in seen:
            raise RequestError(
                f"steps {seen[name]!r} and {step!r} both become Kubernetes name {name!r}",
                hint="rename one of them",
            )
        seen[name] = step


def _check_env(graph: Graph) -> None:
    """A step's ``env:`` is written into the manifests as it is: no secrets there."""
    for step in graph.spec.steps:
        secret = sorted(name for name in step.env if looks_secret(name))
        if secret:
            raise RequestError(
                f"step {step.name!r}: env {', '.join(secret)} looks like a secret, and a step's"
                " env is written into the manifests in plain text",
                hint=f"drop it from the step's env: in the graph file and reference a Secret:"
                f" --set secret_env.{secret[0]}=SECRET/KEY",
            )


def _image(settings: DeploySpec, step_image: str | None, what: str) -> str:
    if step_image:
        return step_image
    repository, tag = settings.image.repository, settings.image.tag
    if repository is None or tag is None:
        raise RequestError(
            f"{what} has no image",
            hint="give the step an `image:` in the graph file, or --set"
            " image.repository=REGISTRY/NAME --set image.tag=TAG for every step",
        )
    return f"{repository}:{tag}"


def _env(settings: DeploySpec, own: dict[str, str]) -> list[Object]:
    plain = {**settings.env, **own}
    refs = settings.secret_env
    return [objects.plain_env(name, plain[name]) for name in sorted(plain)] + [
        objects.secret_env(name, refs[name].secret, refs[name].key) for name in sorted(refs)
    ]


def _setup_job(graph: Graph, settings: GraphSettings, slug: str, path: str) -> Object:
    deploy = settings.deploy
    name = f"{slug}-streams"[:63].rstrip("-")  # the Job's name adds its content hash
    # The settings' image when given (one image for the whole graph), else a step's.
    first_image = next((s.image for s in graph.spec.steps if s.image), None)
    preferred = None if deploy.image.repository else first_image
    main = objects.container(
        name="streams",
        image=_image(deploy, preferred, "the stream set-up Job"),
        pull_policy=deploy.image.pull_policy,
        command=["nervosum", "graph", "deploy", path, "--transport", settings.transport],
        args=[],
        port=None,
        env=_env(deploy, {}),
        resources=deploy.resources.model_dump(),
        mount_path=deploy.mount_path if deploy.claim else None,
    )
    own_labels = objects.labels(
        name, name, **{"app.kubernetes.io/part-of": slug, "app.kubernetes.io/component": "streams"}
    )
    template = objects.pod_template(
        pod_labels=own_labels,
        annotations={},
        main=main,
        grace_period=None,
        pull_secret=deploy.image.pull_secret,
        claim=deploy.claim,
        restart_policy="Never",
    )
    return objects.job(objects.metadata(name, deploy.namespace, own_labels), template)


def _resources(step: Step, deploy: DeploySpec) -> dict[str, Any]:
    if step.resources is not None:
        return step.resources.model_dump(exclude_none=True)
    return deploy.resources.model_dump()


def _step_objects(
    step: Step, name: str, settings: GraphSettings, slug: str, path: str
) -> list[Object]:
    deploy = settings.deploy
    port = deploy.port or SIDE_PORT
    resources = _resources(step, deploy)
    command = ["nervosum", "graph", "run", path, "--transport", settings.transport]
    command += ["--step", step.name, "--host", "0.0.0.0", "--port", str(port)]
    main = objects.container(
        name=dns_label(step.name) or "step",
        image=_image(deploy, step.image, f"step {step.name!r}"),
        pull_policy=deploy.image.pull_policy,
        command=command,
        args=list(deploy.args),
        port=port,
        env=_env(deploy, step.env),
        resources=resources,
        mount_path=deploy.mount_path if deploy.claim else None,
        pre_stop=True,
    )
    own_labels = objects.labels(
        name,
        name,
        **{"app.kubernetes.io/part-of": slug, "app.kubernetes.io/component": dns_label(step.name)},
    )
    template = objects.pod_template(
        pod_labels=own_labels,
        annotations=objects.scrape_annotations(port),
        main=main,
        grace_period=DRAIN + EXIT_MARGIN + objects.PRE_STOP,
        pull_secret=deploy.image.pull_secret,
        claim=deploy.claim,
    )
    meta = objects.metadata(name, deploy.namespace, own_labels)
    # An autoscaler when the file lets the step grow; replicas 0 keeps it scaled to zero.
    ceiling = step.max_replicas if 1 <= step.replicas < (step.max_replicas or 0) else None
    rendered = [
        objects.deployment(meta, name, step.replicas if ceiling is None else None, template)
    ]
    if ceiling is not None:
        if "cpu" not in (resources.get("requests") or {}):
            raise RequestError(
                f"step {step.name!r} scales up to {ceiling} replicas on CPU,"
                " which needs a CPU request",
                hint="add resources: {requests: {cpu: ...}} to the step in the graph file",
            )
        bounds = (step.replicas, ceiling)
        rendered.append(objects.autoscaler(meta, name, bounds, deploy.autoscaling.cpu_percent))
    if step.replicas > 1:
        rendered.append(objects.disruption_budget(meta, name))
    return rendered


def graph_source(graph: Graph) -> str:
    """How messages name the graph."""
    return f"graph {graph.spec.graph!r} ({graph.path.name})"
