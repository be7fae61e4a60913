"""``nervosum init``: a new project that serves (or trains) as soon as it is created,
CI/CD pipelines for new or existing projects, and (``--detect``) the nervosum.yaml of an
existing folder."""

from __future__ import annotations

import re
from pathlib import Path

import click

from nervosum.cli.output import reports_errors
from nervosum.errors import RequestError

_NAME = re.compile(r"^[A-Za-z][A-Za-z0-9_.-]*$")
_CI_SYSTEMS = ("github", "gitlab", "jenkins")
_SETTINGS = (
    "set REGISTRY, IMAGE_NAME and KUBE_CONTEXT as pipeline variables, and the registry login "
    "and kubeconfig as secrets (the file's header says where)"
)


def _next_step(template: str, target: Path) -> str:
    if template == "training":
        return f"next: cd {target} && nervosum train . && nervosum serve ."
    return f"next: nervosum check {target} && nervosum serve {target}"


@click.command()
@click.argument("name", required=False, metavar="NAME")
@click.option(
    "-d",
    "--directory",
    type=click.Path(file_okay=False),
    help="Where to create the project [default: ./NAME]; without NAME, the project that"
    " gets the pipeline [default: .].",
)
@click.option(
    "--template",
    type=click.Choice(["default", "training"]),
    default="default",
    show_default=True,
    help="default: a model class that serves at once; training: DataLoader, Preprocessor,"
    " train_model and features.yaml for `nervosum train`, with tests and a CI pipeline.",
)
@click.option(
    "--ci",
    type=click.Choice(_CI_SYSTEMS),
    help="Also write a CI/CD pipeline (test, check, build, push, deploy) [default: github"
    " for the training template, none otherwise].",
)
@click.option(
    "--detect",
    type=click.Path(file_okay=False),
    metavar="DIR",
    help="Write the nervosum.yaml inferred for the existing folder DIR (e.g. a module with a"
    " module-level predict(data) and its schema.json); serving DIR works without it.",
)
@click.option("--force", is_flag=True, help="With --detect: replace an existing nervosum.yaml.")
@reports_errors
def init(
    name: str | None,
    directory: str | None,
    template: str,
    ci: str | None,
    detect: str | None,
    force: bool,
) -> None:
    """Create a project, add a CI/CD pipeline, or detect a folder's config.

    A new project serves at once; --detect DIR writes the nervosum.yaml inferred for an
    existing folder.

    Without NAME, --ci writes the pipeline into an existing project (-d DIR, default
    the current folder).

    \b
    Examples:
      nervosum init churn && nervosum check churn && nervosum serve churn
      nervosum init my-model --template training     # then: cd my-model && nervosum train .
      nervosum init --ci gitlab -d churn
      nervosum init --detect 1-python-wrapper        # then: nervosum serve 1-python-wrapper
    """
    from nervosum.scaffold import add_pipeline, create_project

    if detect is not None:
        _write_detected(Path(detect), name, template, ci, force=force)
        return
    if force:
        raise RequestError("--force goes with --detect", hint="nervosum init --detect DIR --force")
    if name is None:
        if ci is None:
            context = click.get_current_context()
            raise click.MissingParameter(ctx=context, param=context.command.params[0])
        if template != "default":
            raise RequestError(
                "--template needs NAME", hint="nervosum init NAME --template training"
            )
        path = add_pipeline(Path(directory or "."), ci)
        click.echo(f"wrote {path}")
        click.echo(f"next: {_SETTINGS}")
        return
    if not _NAME.match(name):
        raise RequestError(
            f"project name {name!r} is not usable",
            hint="start with a letter; use letters, digits, '-', '_' or '.'",
        )
    target = Path(directory or name)
    created = create_project(name, target, template)
    pipeline = ci or ("github" if template == "training" else None)
    if pipeline is not None:
        created.append(add_pipeline(target, pipeline))
    click.echo(f"created {target}/ ({len(created)} files)")
    for path in created:
        click.echo(f"  {path.relative_to(target)}")
    click.echo(_next_step(template, target))


def _write_detected(
    folder: Path, name: str | None, template: str, ci: str | None, *, force: bool
) -> None:
    from nervosum.scaffold import add_pipeline, write_detected

    if name is not None or template != "default":
        raise RequestError(
            "--detect describes an existing folder: it takes no NAME or --template",
            hint="nervosum init --detect DIR",
        )
    path, detected = write_detected(folder, force=force)
    click.echo(f"detected the {detected.kind} form; wrote {path}:")
    for line in path.read_text(encoding="utf-8").splitlines():
        click.echo(f"  {line}")
    if ci is not None:
        click.echo(f"wrote {add_pipeline(folder, ci)}")
    click.echo(f"next: nervosum check {folder} && nervosum serve {folder}")
