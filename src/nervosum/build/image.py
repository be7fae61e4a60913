"""The image step of `nervosum build`: whether to build one, with what, and recording it."""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass

from nervosum.build.builders import BUILDERS, build_image, find_builder
from nervosum.build.progress import Progress
from nervosum.errors import BuildError
from nervosum.registry.home import Home
from nervosum.registry.store import Entry, Registry


@dataclass(frozen=True)
class ImageRequest:
    """`wanted`: True (must build), False (never), None (when a builder is installed)."""

    wanted: bool | None
    builder: str = "auto"


def image_reference(entry: Entry) -> str:
    """`nervosum/<name>:<tag>`, as the seed named its images."""
    return f"nervosum/{entry.name}:{entry.tag}"


def build_registered_image(
    entry: Entry, request: ImageRequest, *, home: Home, progress: Progress
) -> Entry:
    """Build the image a request asks for and record it; the entry, updated."""
    if request.wanted is False:
        return entry
    builder = find_builder(request.builder)
    if builder is None:
        which = "none of " + ", ".join(BUILDERS) if request.builder == "auto" else request.builder
        message = f"no image built: {which} is installed"
        hint = f"the bundle is ready; build its image elsewhere: docker build {entry.path}"
        if request.wanted:
            raise BuildError(message, hint=hint)
        progress.step(f"{message}; {hint}")
        return entry
    reference = image_reference(entry)
    progress.step(f"building image {reference} with {builder.name}")
    image_id = build_image(builder, entry.path, reference, {"nervosum.id": entry.id}, progress)
    Registry(home).set_image(entry.id, reference, image_id)
    return dataclasses.replace(entry, image_ref=reference, image_id=image_id)
