"""``nervosum monitoring SOURCE``: a Grafana dashboard and Prometheus alert rules for a
project folder, a model file or a registered bundle, served or streamed, or for a model
repository served by serve-repo (docs/monitoring.md)."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

import click

from nervosum.cli.output import reports_errors

if TYPE_CHECKING:
    from nervosum.config import Project
    from nervosum.deploy.watch import Watched

_WHAT = (
    "a project folder (with a nervosum.yaml), a model file, a bundle NAME:TAG,"
    " or a folder of model folders (serve-repo)"
)
# The commands whose /metrics a dashboard reads (deploy/watch.py's SERVER, STREAM, REPO).
_RUNTIMES = ("serve", "stream", "serve-repo")


@click.command(short_help="A Grafana dashboard and Prometheus alert rules for a model.")
@click.argument("source")
@click.option(
    "-o",
    "--output",
    type=click.Path(file_okay=False, path_type=Path),
    default=Path("monitoring"),
    show_default=True,
    help="The folder to write dashboard.json and alerts.rules.yaml into.",
)
@click.option(
    "--for",
    "runtime",
    type=click.Choice(_RUNTIMES),
    help="What runs SOURCE: serve (its HTTP server), stream (a nervosum stream worker's"
    " side port), serve-repo (SOURCE is a folder of model folders) [default: serve-repo"
    " for such a folder, else serve].",
)
@reports_errors
def monitoring(source: str, output: Path, runtime: str | None) -> None:
    """Write a Grafana dashboard (dashboard.json: import it in Grafana) and Prometheus
    alert rules (alerts.rules.yaml: list it under rule_files) for SOURCE, which is a
    project folder, a model file, or a registry bundle (NAME:TAG, NAME or an id prefix).
    The panels and rules follow its nervosum.yaml: drift with monitoring.reference, the
    prediction log with logging:, arms with variants:. With --for stream they watch the
    worker's messages, batches and lag instead of HTTP traffic. A folder of model
    folders gets one dashboard with a model variable and rules that alert per model.

    \b
    Examples:
      nervosum monitoring examples/iris -o monitoring/
      nervosum monitoring iris:v0.0.1
      nervosum monitoring examples/iris --for stream -o monitoring/stream/
      nervosum monitoring models_serve/ -o monitoring/repo/
    """
    from nervosum.deploy.monitoring_files import write_monitoring

    written = write_monitoring(watched_of(source, runtime), output)
    click.echo(f"wrote {', '.join(str(path) for path in written)}")


def watched_of(source: str, runtime: str | None) -> Watched:
    """What ``--for runtime`` watches of ``source``; without it, a model repository when
    the source is one, else the project's HTTP server."""
    from nervosum.deploy.repo_watch import folder_watched, is_repository
    from nervosum.deploy.watch import REPO, SERVER, watched
    from nervosum.errors import RequestError

    repository = is_repository(Path(source))
    if runtime == REPO and not repository:
        raise RequestError(
            f"{source} is not a model repository",
            hint="serve-repo serves a folder whose subfolders each hold a model",
        )
    if repository and runtime in (None, REPO):
        return folder_watched(Path(source))
    return watched(project_of(source), runtime or SERVER)


def project_of(source: str) -> Project:
    """The project of a path when one exists, else of the bundle ``source`` references
    (its folder, whose reference profile gives the dashboard its drift panels). A folder
    that holds no project is one line and a hint, not a config report."""
    from nervosum.errors import ConfigError, RegistryError, RequestError
    from nervosum.home import Home
    from nervosum.project import load_config
    from nervosum.registry.select import resolve_reference
    from nervosum.registry.store import Registry
    from nervosum.serving.challenger import bundle_source, looks_like_reference

    path = Path(source)
    if not path.exists():
        if not looks_like_reference(source):
            raise RequestError(f"{source} does not exist", hint=_WHAT)
        try:
            entry = resolve_reference(Registry(Home.from_env()).entries(), source)
        except RegistryError as exc:  # no such bundle: the user's input, as a bad path is
            raise RequestError(f"{source}: {exc.message}", hint=exc.hint or _WHAT) from None
        path = bundle_source(entry)
    try:
        return load_config(path)
    except ConfigError as exc:
        if len(exc.issues) == 1 and not exc.issues[0].path:  # no file, not a bad field
            raise RequestError(
                f"{source} is not a project: {exc.issues[0].message}", hint=_WHAT
            ) from None
        raise
