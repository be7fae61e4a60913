"""The image step of `nervosum build`: whether to build one, with what, and recording it."""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass

from nervosum.build.builders import build_image, working_builder
from nervosum.build.progress import Progress
from nervosum.errors import BuildError
from nervosum.home import Home
from nervosum.registry.store import Entry, Registry


@dataclass(frozen=True)
class ImageRequest:
    """`wanted`: True (must build), False (never), None (when a builder works here)."""

    wanted: bool | None
    builder: str = "auto"


@dataclass(frozen=True)
class ImageOutcome:
    """The entry (with its image when one was built) and, when an image was not asked
    for and could not be built, the one-line warning saying why and how to build it."""

    entry: Entry
    warning: str | None = None


def image_reference(entry: Entry) -> str:
    """`nervosum/<name>:<tag>`, as the seed named its images."""
    return f"nervosum/{entry.name}:{entry.tag}"


def build_registered_image(
    entry: Entry, request: ImageRequest, *, home: Home, progress: Progress
) -> ImageOutcome:
    """Build the image a request asks for and record it.

    Without a working builder the bundle stays registered: that is an error when the
    image was asked for (`--image`), a warning otherwise, so a machine whose docker
    daemon is stopped still builds bundles.
    """
    if request.wanted is False:
        return ImageOutcome(entry)
    builder, why = working_builder(request.builder)
    if builder is None:
        reference = image_reference(entry)
        command = "docker" if request.builder in ("auto", "buildah") else request.builder
        later = f"{command} build -t {reference} {entry.path}"
        if request.wanted:
            raise BuildError(
                f"no image built: {why}", hint=f"the bundle is registered; build it later: {later}"
            )
        return ImageOutcome(
            entry, f"no image built: {why}; the bundle is registered, build it later: {later}"
        )
    reference = image_reference(entry)
    progress.step(f"building image {reference} with {builder.name}")
    image_id = build_image(builder, entry.path, reference, {"nervosum.id": entry.id}, progress)
    Registry(home).set_image(entry.id, reference, image_id)
    return ImageOutcome(dataclasses.replace(entry, image_ref=reference, image_id=image_id))
