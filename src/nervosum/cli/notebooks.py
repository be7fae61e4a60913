"""``nervosum notebooks build``: stage notebooks in a repository -> a bundle or a folder."""

from __future__ import annotations

import shutil
import tempfile
from pathlib import Path

import click

from nervosum.cli.build import ImageWanted, register_project
from nervosum.cli.options import key_value_pairs
from nervosum.cli.output import reports_errors
from nervosum.errors import RequestError


@click.group(short_help="Run a repository's stage notebooks and serve their pipeline.")
def notebooks() -> None:
    """Notebooks -> service, as nachlass did it: see docs/notebooks.md."""


def _empty_target(output: str) -> Path:
    target = Path(output)
    if target.exists() and (not target.is_dir() or any(target.iterdir())):
        raise RequestError(
            f"{output} already exists and is not an empty folder",
            hint="give a new folder to -o, or remove this one",
        )
    return target


@notebooks.command(short_help="Execute stage notebooks in order; register or write the result.")
@click.argument("location", metavar="REPO_OR_URL")
@click.option(
    "--notebooks",
    "notebook_list",
    envvar="S2I_SOURCE_NOTEBOOK_LIST",
    required=True,
    metavar="NB[,NB...]",
    help="Stage notebooks in order, comma separated [env S2I_SOURCE_NOTEBOOK_LIST].",
)
@click.option(
    "-e",
    "--env",
    multiple=True,
    callback=key_value_pairs,
    metavar="KEY=VALUE",
    help="Environment variable for every notebook's kernel, repeatable.",
)
@click.option("-n", "--name", help="Project and bundle name [default: the repository's name].")
@click.option("-t", "--tag", default="latest", show_default=True, help="Project and bundle tag.")
@click.option(
    "-o",
    "--output",
    type=click.Path(file_okay=False),
    help="Write a servable project folder here instead of registering a bundle.",
)
@click.option("--branch", help="Branch to clone (git URLs) [default: the remote's HEAD].")
@click.option(
    "--image/--no-image",
    default=None,
    help="Also build an OCI image [default: when podman, docker or buildah works here].",
)
@click.option("-q", "--quiet", is_flag=True, help="Print only the bundle id (or the folder).")
@reports_errors
def build(
    location: str,
    notebook_list: str,
    env: tuple[str, ...],
    name: str | None,
    tag: str,
    output: str | None,
    branch: str | None,
    image: bool | None,
    quiet: bool,
) -> None:
    """Execute the stage notebooks of REPO_OR_URL (a folder or a git URL) in order, each
    in a Jupyter kernel with S2I_PIPELINE_STAGE_SAVE_FILE=<basename>.sav, and serve the
    stages they save as one scikit-learn pipeline.

    The result (stages.json, the stages, the executed notebooks, a nervosum.yaml) is
    registered as a bundle, as `nervosum build` does, or written to -o DIR. A notebook
    that raises stops the build (exit 1) with the failing cell; nothing is registered.

    \b
    Examples:
      nervosum notebooks build https://github.com/willb/ml-workflows-notebook \\
          --notebooks 03-feature-engineering-tfidf.ipynb,04-model-logistic-regression.ipynb
      nervosum notebooks build . --notebooks 03-features.ipynb,04-model.ipynb \\
          -e TFIDF_BUCKETS=128 -o served && nervosum serve served
    """
    from nervosum.build.progress import Progress
    from nervosum.cli.progress import TerminalProgress
    from nervosum.notebooks.build import NotebooksBuild, build_notebooks, parse_notebook_list
    from nervosum.notebooks.source import check_name, default_name

    request = NotebooksBuild(
        notebooks=parse_notebook_list(notebook_list),
        variables=dict(pair.split("=", 1) for pair in env),
        name=name or default_name(location),
        tag=tag,
    )
    check_name(request.name, request.tag)
    if output and image:
        raise RequestError(
            "--image builds a registered bundle's image, not a folder's",
            hint="drop -o to register a bundle, or drop --image",
        )
    target = _empty_target(output) if output else None
    progress = Progress() if quiet else TerminalProgress()
    with tempfile.TemporaryDirectory(prefix="nervosum-notebooks-") as work:
        built = build_notebooks(location, request, Path(work), progress=progress, branch=branch)
        if target is None:
            # The project is a private temporary copy: name what it was built from.
            progress.step(f"bundling {request.name}:{request.tag}, built from {built.origin}")
            wanted = ImageWanted(image=image)
            register_project(built.project, wanted, progress=progress, quiet=quiet)
            return
        shutil.copytree(built.project.project_dir, target, dirs_exist_ok=True)
    if quiet:
        click.echo(str(target))
        return
    click.echo(f"wrote {request.name}:{request.tag} to {target}")
    click.echo(f"serve it: nervosum serve {target}")
