"""``nervosum init``: a new project that serves (or trains) as soon as it is created,
CI/CD pipelines for new or existing projects, (``--detect``) the nervosum.yaml of an
existing folder and (``--from``) the nervosum.yaml a model file implies."""

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
@click.option(
    "--from",
    "from_",
    type=click.Path(exists=True),
    metavar="PATH",
    help="Write, beside the model file PATH (a pickle, an XGBoost / LightGBM / ONNX file, an"
    " MLflow model folder), the nervosum.yaml inferred from it; serving PATH works without it.",
)
@click.option(
    "--force", is_flag=True, help="With --detect or --from: replace an existing nervosum.yaml."
)
@reports_errors
def init(
    name: str | None,
    directory: str | None,
    template: str,
    ci: str | None,
    detect: str | None,
    from_: str | None,
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
      nervosum init --from models/forest.joblib      # then: nervosum serve models
    """
    from nervosum.scaffold import add_pipeline, create_project

    if detect is not None and from_ is not None:
        raise RequestError(
            "--detect and --from both describe an existing model: give one",
            hint="nervosum init --from PATH (a model file) or --detect DIR (a project folder)",
        )
    if detect is not None or from_ is not None:
        if name is not None or template != "default":
            raise RequestError(
                "--detect and --from describe an existing model: they take no NAME or --template",
                hint="nervosum init --detect DIR, or nervosum init --from PATH",
            )
        folder = (
            _write_inferred(Path(from_), force)
            if from_
            else _write_detected(Path(detect or "."), force=force)
        )
        if ci is not None:
            click.echo(f"wrote {add_pipeline(folder, ci)}")
        click.echo(f"next: nervosum check {folder} && nervosum serve {folder}")
        return
    if force:
        raise RequestError(
            "--force goes with --detect or --from", hint="nervosum init --detect DIR --force"
        )
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


def _show(path: Path, what: str) -> None:
    click.echo(f"{what}; wrote {path}:")
    for line in path.read_text(encoding="utf-8").splitlines():
        click.echo(f"  {line}")


def _write_detected(folder: Path, *, force: bool) -> Path:
    from nervosum.scaffold import write_detected

    path, detected = write_detected(folder, force=force)
    _show(path, f"detected the {detected.kind} form")
    return folder


def _write_inferred(model: Path, force: bool) -> Path:
    """Write the nervosum.yaml ``model`` implies into its folder (an MLflow folder: into
    it), never over one unless ``force``; then load it as every command will."""
    import yaml

    from nervosum.config import DEFAULT_CONFIG
    from nervosum.model.files.read import infer_mapping
    from nervosum.project import load_config

    folder = model if model.is_dir() else model.parent
    path = folder / DEFAULT_CONFIG
    if path.exists() and not force:
        raise RequestError(
            f"{path} already exists", hint="pass --force to replace it with the inferred one"
        )
    mapping = infer_mapping(model.resolve())
    header = f"# Inferred by `nervosum init --from {model.name}`; edit as needed.\n"
    body = yaml.safe_dump(mapping, sort_keys=False, default_flow_style=None)
    path.write_text(header + body, encoding="utf-8")
    load_config(folder)
    _show(path, f"read {model.name}")
    return folder
