"""A workload and its settings, resolved into one mapping: the Helm chart's values.

Every default is filled in here (the name from the bundle, the image and port the
bundle was built with, autoscaling's floor from ``replicas``), and every combination
Kubernetes would refuse, or that would deploy something that cannot work, is refused
with the setting to change. :func:`nervosum.deploy.manifests.render` and the chart's
templates both read only this mapping, which is why they agree.
"""

from __future__ import annotations

import re
from typing import Any

from nervosum.config.spec import DeploySpec
from nervosum.deploy.workload import Workload
from nervosum.errors import RequestError
from nervosum.repo.cron import CronSchedule

# A CronJob's Jobs append 11 characters to its name, a Job's name a hash of its pod
# template (also 11): within 63 either way.
JOB_NAME_LIMIT = 52
SERVED_MODES = ("http", "repo")  # the modes with a Service (and so an Ingress)
MODE_ENV = ("NERVOSUM_HOST", "NERVOSUM_PORT", "gitPath", "usergit", "gitpassword")


def dns_label(text: str) -> str:
    """``text`` as a Kubernetes object name: lower case, ``-`` for anything else, at
    most 63 characters (``Iris_Batch`` -> ``iris-batch``)."""
    return re.sub(r"[^a-z0-9]+", "-", text.lower()).strip("-")[:63].rstrip("-")


def _name(workload: Workload, settings: DeploySpec) -> str:
    name = settings.name or dns_label(workload.name)
    if not name:
        raise RequestError(
            f"cannot make a Kubernetes name from {workload.name!r}", hint="--set name=NAME"
        )
    if workload.mode == "batch" and len(name) > JOB_NAME_LIMIT:
        kind = "CronJob" if settings.schedule is not None else "Job"
        raise RequestError(
            f"a {kind} name has at most {JOB_NAME_LIMIT} characters; {name!r} has {len(name)}",
            hint="--set name=SHORTER",
        )
    return name


def _image(workload: Workload, settings: DeploySpec) -> dict[str, Any]:
    repository = settings.image.repository or workload.image
    tag = settings.image.tag or workload.tag
    if repository is None or tag is None:
        raise RequestError(
            f"no image is known for {workload.description}",
            hint="--set image.repository=REGISTRY/NAME --set image.tag=TAG, or -n NAME to"
            " run a bundle's image",
        )
    return {**settings.image.model_dump(), "repository": repository, "tag": tag}


def _check_mode(workload: Workload, settings: DeploySpec) -> None:
    mode = workload.mode
    if settings.schedule is not None:
        if mode != "batch":
            raise RequestError(
                f"a schedule runs batch bundles; {workload.description} is {mode}",
                hint="drop --schedule (or deploy.schedule)",
            )
        CronSchedule.parse(settings.schedule)
    if settings.ingress.enabled and mode not in SERVED_MODES:
        raise RequestError(
            f"an ingress routes to a Service, and {mode} bundles have none",
            hint="drop ingress.enabled",
        )
    route = settings.ingress
    if route.enabled and route.path != "/" and not route.annotations:
        raise RequestError(
            f"ingress.path {route.path} would reach the server as {route.path}/predict, and it"
            " serves /predict: the ingress controller must strip the prefix",
            hint="set the controller's rewrite in ingress.annotations, e.g. for ingress-nginx"
            f" --set 'ingress.path={route.path.rstrip('/')}(/|$)(.*)'"
            " --set ingress.path_type=ImplementationSpecific --set 'ingress.annotations="
            "{nginx.ingress.kubernetes.io/rewrite-target: /$2,"
            ' nginx.ingress.kubernetes.io/use-regex: "true"}\'; or keep ingress.path=/',
        )
    if settings.autoscaling.enabled and mode == "batch":
        raise RequestError("autoscaling applies to Deployments, not to batch Jobs")
    if mode == "batch":
        for flag, short, variable in (
            ("--input", "-i", "INPUT_PATH"),
            ("--output", "-o", "OUTPUT_PATH"),
        ):
            given = any(
                arg in (flag, short) or arg.startswith((f"{flag}=", short)) for arg in settings.args
            )
            if not given and variable not in settings.env:
                raise RequestError(
                    f"a batch Job needs {flag}: where the files are in the container",
                    hint=f"--set env.{variable}=/data/... with --set claim=VOLUME_CLAIM,"
                    f" or --set 'args=[{flag}, PATH]'",
                )
    taken = sorted(set(MODE_ENV) & (set(settings.env) | set(settings.secret_env)))
    if taken:
        raise RequestError(
            f"nervosum deploy sets {', '.join(taken)} itself",
            hint="use port for the port, and --repo / --repo-secret for the repository",
        )


def _autoscaling(settings: DeploySpec) -> dict[str, Any]:
    scaling = settings.autoscaling
    low = scaling.min_replicas or max(settings.replicas, 1)
    if scaling.enabled and low > scaling.max_replicas:
        raise RequestError(
            f"autoscaling.max_replicas ({scaling.max_replicas}) is below the minimum ({low})",
            hint="raise autoscaling.max_replicas, or set autoscaling.min_replicas",
        )
    return {**scaling.model_dump(), "min_replicas": low}


def _check_grpc(workload: Workload, settings: DeploySpec) -> None:
    """A bundle's image carries grpcio only when it was built to serve gRPC (an image
    named by the settings alone is the user's to vouch for)."""
    if settings.grpc_port is not None and workload.grpcio is False:
        raise RequestError(
            f"grpc_port: the image of {workload.description} was built without gRPC",
            hint="set server.grpc_port in the bundle's nervosum.yaml and build it again:"
            " its image then carries grpcio",
        )


def chart_values(workload: Workload, settings: DeploySpec) -> dict[str, Any]:
    """The resolved values; :class:`RequestError` (exit 2) names a setting to change."""
    _check_mode(workload, settings)
    _check_grpc(workload, settings)
    name = _name(workload, settings)
    return {
        "name": name,
        "label": settings.label or name,
        "container": settings.container or name,
        "namespace": settings.namespace,
        "replicas": settings.replicas,
        "port": None if workload.mode == "batch" else settings.port or workload.port,
        "grpc_port": settings.grpc_port or workload.grpc_port
        if workload.mode in ("http", "repo")
        else None,
        "image": _image(workload, settings),
        "resources": settings.resources.model_dump(),
        "env": dict(settings.env),
        "secret_env": {key: ref.model_dump() for key, ref in settings.secret_env.items()},
        "args": list(settings.args),
        "claim": settings.claim,
        "mount_path": settings.mount_path,
        "service": {**settings.service.model_dump(), "name": settings.service.name or name},
        "autoscaling": _autoscaling(settings),
        "ingress": settings.ingress.model_dump(),
        "schedule": settings.schedule,
        "workload": {
            "mode": workload.mode,
            "bundle": workload.bundle,
            "grace_period": workload.grace_period,
            "repo": {"source": workload.repo_source, "secret": workload.repo_secret},
        },
    }
