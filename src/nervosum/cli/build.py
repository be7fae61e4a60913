"""``nervosum build``: a project -> a registered bundle, and an OCI image when possible."""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

import click

from nervosum.cli.options import model_arguments
from nervosum.cli.output import reports_errors

if TYPE_CHECKING:
    from nervosum.build.progress import Progress
    from nervosum.config import Project


@click.command()
@model_arguments
@click.option(
    "--image/--no-image",
    default=None,
    help="Also build an OCI image [default: when podman, docker or buildah works here].",
)
@click.option(
    "--builder",
    type=click.Choice(["auto", "podman", "docker", "buildah"]),
    default=None,
    help="Image builder [default: build.builder, else the first one installed].",
)
@click.option("--base-image", help="Base image [default: python:X.Y-slim for this Python].")
@click.option(
    "--platform",
    help="Download compiled wheels for this pip platform (e.g. manylinux2014_x86_64)"
    " instead of packing this machine's [default: deployment.platform_tag].",
)
@click.option("-q", "--quiet", is_flag=True, help="Print only the bundle id.")
@reports_errors
def build(
    project_dir: str,
    config: str,
    image: bool | None,
    builder: str | None,
    base_image: str | None,
    platform: str | None,
    quiet: bool,
) -> None:
    """Bundle a project into the local registry (and an image).

    The bundle holds the project, its requirements pinned to the versions installed here
    and their wheels (installing it needs no network), a Dockerfile and a manifest. Its
    id is a hash of that content: building the same project twice gives the same id.
    The registry is $NERVOSUM_HOME (default ~/.nervosum); list it with `nervosum ls`.

    \b
    Examples:
      nervosum build examples/iris
      nervosum build -c other.yaml path/to/project --image --builder podman
    """
    from nervosum.build.progress import Progress
    from nervosum.cli.progress import TerminalProgress
    from nervosum.project import load_config

    progress = Progress() if quiet else TerminalProgress()
    project = load_config(project_dir, config)
    progress.step(f"validated {project.shown}")
    wanted = ImageWanted(image, builder, base_image, platform)
    register_project(project, wanted, progress=progress, quiet=quiet)


@dataclass(frozen=True)
class ImageWanted:
    """The image options of a build; None takes the project's ``build:`` settings."""

    image: bool | None = None
    builder: str | None = None
    base_image: str | None = None
    platform: str | None = None


def register_project(
    project: Project, wanted: ImageWanted, *, progress: Progress, quiet: bool
) -> None:
    """Bundle a validated project into the registry, build its image when wanted, and
    print the outcome (shared by ``build`` and ``notebooks build``)."""
    from nervosum.build.bundle import BuildOptions, build_bundle
    from nervosum.build.image import ImageRequest, build_registered_image
    from nervosum.home import Home

    home = Home.from_env()
    settings = project.config
    options = BuildOptions(
        base_image=wanted.base_image or settings.build.base_image,
        platform=wanted.platform or settings.deployment.platform_tag,
    )
    entry = build_bundle(project, home=home, options=options, progress=progress)
    if not quiet:
        click.echo(f"built {entry.reference} ({entry.short_id}) in {entry.path}")
    request = ImageRequest(
        wanted=wanted.image if wanted.image is not None else settings.build.image,
        builder=wanted.builder or settings.build.builder,
    )
    outcome = build_registered_image(entry, request, home=home, progress=progress)
    entry = outcome.entry
    if outcome.warning:
        click.secho(f"warning: {outcome.warning}", err=True, fg="yellow")
    if quiet:
        click.echo(entry.id)
        return
    if entry.image_ref and entry.image_id:
        click.echo(f"image {entry.image_ref} ({entry.image_id.removeprefix('sha256:')[:12]})")
    click.echo(f"run it: nervosum run -n {entry.name} -t {entry.tag}")
