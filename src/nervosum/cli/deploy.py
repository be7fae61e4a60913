"""``nervosum deploy``: Kubernetes objects or a Helm chart for a bundle; applied only when
asked. :func:`delivery_options` and :func:`show` serve ``graph deploy --target kubernetes``
too, so both commands print, write and apply alike."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any

import click

from nervosum.cli.output import reports_errors

if TYPE_CHECKING:
    from nervosum.deploy import Delivered
    from nervosum.deploy.watch import Watched
    from nervosum.deploy.workload import Workload
    from nervosum.registry.select import Filter
    from nervosum.registry.store import Entry


def delivery_options(func: Callable[..., Any]) -> Callable[..., Any]:
    """``--set``, ``-o``, ``--dry-run``, ``--apply`` and ``--context``."""
    options = [
        click.option(
            "--set",
            "sets",
            multiple=True,
            metavar="KEY=VALUE",
            help="A setting (docs/deploy.md), repeatable: replicas=3, service.type=NodePort,"
            " env.LOG_LEVEL=debug.",
        ),
        click.option(
            "-o",
            "--output",
            type=click.Path(file_okay=False, path_type=Path),
            help="Write the manifests (one file per object) into this folder.",
        ),
        click.option(
            "--dry-run",
            is_flag=True,
            help="Print the objects and touch nothing (the default without -o and --apply);"
            " with --apply, stop after the cluster's server-side dry run.",
        ),
        click.option(
            "--apply",
            "apply_",
            is_flag=True,
            help="kubectl apply the objects, after a server-side dry run of all of them.",
        ),
        click.option(
            "--context",
            metavar="NAME",
            help="The kubeconfig context --apply uses [kubectl's current].",
        ),
    ]
    for option in reversed(options):
        func = option(func)
    return func


def show(delivered: Delivered) -> None:
    """The YAML or kubectl's report on stdout, what happened on stderr."""
    if delivered.stdout:
        click.echo(delivered.stdout, nl=not delivered.stdout.endswith("\n"))
    for note in delivered.notes:
        click.echo(note, err=True)


@click.command(short_help="Kubernetes manifests or a Helm chart for a bundle; --apply to apply.")
@click.option("-n", "--name", help="Bundle name (exact, or a glob such as 'iris*').")
@click.option("-t", "--tag", help="Bundle tag.")
@click.option("--id", "bundle_id", help="Bundle id prefix.")
@click.option(
    "--target",
    type=click.Choice(["kubernetes", "helm"]),
    default="kubernetes",
    show_default=True,
    help="Plain manifests, or a Helm chart (with -o DIR).",
)
@click.option("--schedule", metavar="CRON", help="Batch bundles: a CronJob instead of a Job.")
@click.option(
    "--repo",
    metavar="URL",
    help="Deploy serve-repo over this git repository of models (image: -n NAME's, or image.*).",
)
@click.option(
    "--repo-secret",
    metavar="SECRET",
    help="--repo: a Secret with `username` and `password` keys (a token as the password),"
    " the https credentials.",
)
@click.option(
    "--values",
    "values_file",
    type=click.Path(exists=True, dir_okay=False, path_type=Path),
    help="The microservice template's config.yaml (or config/build.yaml): its deployment"
    " keys as settings, under --set.",
)
@click.option(
    "--monitoring",
    is_flag=True,
    help="Also a PrometheusRule among the objects, and with -o a Grafana dashboard and the"
    " rules file in DIR/monitoring/ (docs/monitoring.md).",
)
@delivery_options
@reports_errors
def deploy(
    name: str | None,
    tag: str | None,
    bundle_id: str | None,
    target: str,
    schedule: str | None,
    repo: str | None,
    repo_secret: str | None,
    values_file: Path | None,
    monitoring: bool,
    sets: tuple[str, ...],
    output: Path | None,
    dry_run: bool,
    apply_: bool,
    context: str | None,
) -> None:
    """Render the Kubernetes objects of the newest bundle matching -n/-t/--id (with no
    flags, the newest bundle): a Deployment, Service, probes, metrics annotations and
    more for http; a Deployment for stream; a Job or CronJob for batch. Settings come
    from the bundle's deploy: block in nervosum.yaml, then --values (the microservice
    template's config.yaml), then --set. Nothing touches a cluster unless --apply is
    given; without -o or --apply the objects are printed.

    \b
    Examples:
      nervosum deploy -n iris -t v0.0.1 --dry-run
      nervosum deploy -n iris -t v0.0.1 -o k8s/ --set replicas=3 --set service.type=NodePort
      nervosum deploy -n iris -t v0.0.1 --target helm -o charts/iris
      nervosum deploy -n iris -t v0.0.1 --apply --context kind-dev
      nervosum deploy -n iris -t v0.0.1 --monitoring -o k8s/
      nervosum deploy -n iris --values config.yaml
      nervosum deploy -n iris_batch --schedule '0 2 * * *' --set claim=scores \\
          --set env.INPUT_PATH=/data/in.csv --set env.OUTPUT_PATH=/data/out/
      nervosum deploy --repo https://git.example/team/models.git --repo-secret models-git -n iris
    """
    from nervosum.deploy import Delivery, deliver
    from nervosum.deploy.alerts import rule_object
    from nervosum.deploy.chart import write_chart
    from nervosum.deploy.manifests import render
    from nervosum.deploy.monitoring_files import (
        SUBFOLDER,
        write_monitored_chart,
        write_monitoring,
    )
    from nervosum.deploy.settings import apply_sets
    from nervosum.deploy.values import chart_values
    from nervosum.deploy.values_file import read_values
    from nervosum.errors import RequestError
    from nervosum.registry.select import Filter

    delivery = Delivery(output=output, apply=apply_, dry_run=dry_run, context=context)
    if repo_secret is not None and repo is None:
        raise RequestError("--repo-secret holds a repository's credentials", hint="add --repo URL")
    if target == "helm" and apply_:
        raise RequestError(
            "--apply applies plain manifests; a chart is installed by helm",
            hint="--target helm -o DIR, then: helm upgrade --install NAME DIR",
        )
    filters = [
        Filter.parse(f"{key}={value}")
        for key, value in (("name", name), ("tag", tag), ("id", bundle_id))
        if value
    ]
    workload, entry = _workload(filters, repo, repo_secret)
    image_ref = entry.image_ref if entry is not None else None
    extra = [f"schedule={schedule}"] if schedule is not None else []
    settings = workload.settings
    if values_file is not None:
        given = read_values(values_file, workload.image)
        settings = given.apply(settings)
        for note in given.notes():
            click.echo(note, err=True)
    values = chart_values(workload, apply_sets(settings, [*sets, *extra]))
    if image_ref is None and values["image"]["repository"] == workload.image:
        click.secho(
            f"warning: {workload.description} has no image yet: build it (nervosum build"
            " --image), push it where the cluster pulls from, and set image.repository",
            err=True,
            fg="yellow",
        )
    watched = _watched(workload, entry) if monitoring else None
    if target == "helm" and output is not None:
        written = write_chart(values, output, workload.description)
        if watched is not None:
            written += write_monitored_chart(watched, values, output)
        click.echo(
            f"wrote a Helm chart for {workload.description} to {output} ({len(written)} files)"
        )
        click.echo(f"install it with: helm upgrade --install {values['name']} {output}", err=True)
        return
    rendered = render(values)
    if watched is not None:
        rendered.append(rule_object(watched, values))
        if output is not None:
            for path in write_monitoring(watched, output / SUBFOLDER):
                click.echo(f"wrote {path}", err=True)
    show(deliver(rendered, delivery, workload.description))


def _workload(
    filters: list[Filter], repo: str | None, repo_secret: str | None
) -> tuple[Workload, Entry | None]:
    """What to deploy, and the registry's bundle it runs (its image reference)."""
    from nervosum.deploy.workload import bundle_workload, repo_workload
    from nervosum.home import Home
    from nervosum.registry.select import select_newest
    from nervosum.registry.store import Registry

    if repo is None:
        entry = select_newest(Registry(Home.from_env()).entries(), filters)
        return bundle_workload(entry), entry
    # Any nervosum image serves a repository: a bundle's when one is named.
    image_from = select_newest(Registry(Home.from_env()).entries(), filters) if filters else None
    workload = repo_workload(repo, repo_secret, image_from)
    return workload, image_from


def _watched(workload: Workload, entry: Entry | None) -> Watched:
    """What ``--monitoring`` watches: a served or streamed model, read from its bundle's
    config, or a repository (its folders are in git, not here: the families every
    model exports)."""
    from nervosum.deploy.repo_watch import repo_watched
    from nervosum.deploy.watch import SERVER, STREAM, watched
    from nervosum.errors import RequestError
    from nervosum.project import load_config
    from nervosum.serving.challenger import bundle_source

    if workload.mode == "repo":
        return repo_watched(workload.name, [])
    if entry is None or workload.mode not in ("http", "stream"):
        raise RequestError(
            f"--monitoring watches a model served over HTTP or a stream worker, not"
            f" {workload.description}",
            hint="deploy an http or stream bundle (-n NAME)",
        )
    runtime = STREAM if workload.mode == "stream" else SERVER
    return watched(load_config(bundle_source(entry)), runtime)
