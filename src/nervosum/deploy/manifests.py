"""The Kubernetes objects of one workload, from the chart's values (``values.py``).

The chart's templates (``deploy/templates``) say the same thing in Helm's language; the
tests render both for every mode and option and require equal objects, so
``nervosum deploy --target kubernetes`` and ``helm template`` of the written chart
never drift apart. Per mode:

- http and repo: a Deployment, a Service, an Ingress and a HorizontalPodAutoscaler when
  enabled, a PodDisruptionBudget when at least two pods run;
- stream: the same without Service and Ingress (replicas share the consumer group);
- batch: a Job, or a CronJob with a schedule.
"""

from __future__ import annotations

from typing import Any

from nervosum.deploy import objects
from nervosum.deploy.objects import Object


def render(values: dict[str, Any]) -> list[Object]:
    """Every object, in the order they are printed and applied."""
    mode = values["workload"]["mode"]
    meta = objects.metadata(values["name"], values["namespace"], _labels(values))
    if mode == "batch":
        template = _pod(values, restart_policy="Never")
        if values["schedule"] is not None:
            return [objects.cron_job(meta, values["schedule"], template)]
        return [objects.job(meta, template)]
    scaling = values["autoscaling"]
    replicas = None if scaling["enabled"] else values["replicas"]
    rendered = [objects.deployment(meta, values["label"], replicas, _pod(values))]
    if mode in ("http", "repo"):
        service = values["service"]
        service_meta = objects.metadata(service["name"], values["namespace"], _labels(values))
        rendered.append(
            objects.service(
                service_meta,
                values["label"],
                service["type"],
                service["port"],
                node_port=service["node_port"],
                grpc_port=values["grpc_port"],
            )
        )
        route = values["ingress"]
        if route["enabled"]:
            backend = (service["name"], service["port"])
            notes = route["annotations"]
            route_meta = {**meta, "annotations": notes} if notes else meta
            rendered.append(
                objects.ingress(
                    route_meta,
                    route["host"],
                    (route["path"], route["path_type"]),
                    route["class_name"],
                    backend,
                )
            )
    if scaling["enabled"]:
        bounds = (scaling["min_replicas"], scaling["max_replicas"])
        rendered.append(objects.autoscaler(meta, values["name"], bounds, scaling["cpu_percent"]))
    fewest = scaling["min_replicas"] if scaling["enabled"] else values["replicas"]
    if fewest > 1:
        rendered.append(objects.disruption_budget(meta, values["label"]))
    return rendered


def _labels(values: dict[str, Any]) -> dict[str, str]:
    return objects.labels(values["name"], values["label"])


def _pod(values: dict[str, Any], restart_policy: str | None = None) -> Object:
    work = values["workload"]
    annotations: dict[str, str] = {}
    if values["port"] is not None:
        annotations.update(objects.scrape_annotations(values["port"]))
    if work["bundle"] is not None:
        annotations["nervosum/bundle"] = work["bundle"]
    image = values["image"]
    main = objects.container(
        name=values["container"],
        image=f"{image['repository']}:{image['tag']}",
        pull_policy=image["pull_policy"],
        command=["nervosum", "serve-repo"] if work["mode"] == "repo" else None,
        args=_args(values),
        port=values["port"],
        env=_env(values),
        resources=values["resources"],
        mount_path=values["mount_path"] if values["claim"] is not None else None,
        pre_stop=work["mode"] in ("http", "repo"),
        grpc_port=values["grpc_port"],
    )
    return objects.pod_template(
        pod_labels=_labels(values),
        annotations=annotations,
        main=main,
        grace_period=work["grace_period"],
        pull_secret=image["pull_secret"],
        claim=values["claim"],
        restart_policy=restart_policy,
    )


def _args(values: dict[str, Any]) -> list[str]:
    """A stream worker's side port is a flag (it binds 127.0.0.1 unless told otherwise,
    where the kubelet's probes cannot reach it); the user's arguments follow."""
    own = []
    if values["workload"]["mode"] == "stream":
        own = ["--host", "0.0.0.0", "--port", str(values["port"])]
    return [*own, *values["args"]]


def _env(values: dict[str, Any]) -> list[Object]:
    """The mode's variables, then the user's (sorted), then those read from Secrets."""
    work = values["workload"]
    env: list[Object] = []
    if work["mode"] in ("http", "repo"):
        env += [
            objects.plain_env("NERVOSUM_HOST", "0.0.0.0"),
            objects.plain_env("NERVOSUM_PORT", str(values["port"])),
        ]
        if values["grpc_port"] is not None:
            env.append(objects.plain_env("NERVOSUM_GRPC_PORT", str(values["grpc_port"])))
    if work["mode"] == "repo":
        repo = work["repo"]
        env.append(objects.plain_env("gitPath", repo["source"]))  # [compat] the seed's names
        if repo["secret"] is not None:
            env += [
                objects.secret_env("usergit", repo["secret"], "username"),
                objects.secret_env("gitpassword", repo["secret"], "password"),
            ]
    env += [objects.plain_env(name, values["env"][name]) for name in sorted(values["env"])]
    secrets = values["secret_env"]
    env += [
        objects.secret_env(name, secrets[name]["secret"], secrets[name]["key"])
        for name in sorted(secrets)
    ]
    return env
