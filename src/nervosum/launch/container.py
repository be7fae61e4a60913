"""Run a bundle's image with podman or docker: port published, env and volumes passed."""

from __future__ import annotations

import shutil
import subprocess
import uuid

from nervosum.errors import BuildError
from nervosum.launch.request import RunRequest
from nervosum.registry.store import Entry

ENGINES = ("podman", "docker")


def find_engine() -> str:
    """The first installed container engine, or an error saying what to do instead."""
    for name in ENGINES:
        found = shutil.which(name)
        if found:
            return found
    raise BuildError(
        "no container engine (podman or docker) is installed",
        hint="run the bundle without --image (an isolated virtualenv), or install podman",
    )


def container_command(
    engine: str,
    entry: Entry,
    name: str,
    publish: str,
    request: RunRequest,
) -> list[str]:
    """`ENGINE run --rm --init` for the bundle's image (init reaps and forwards signals);
    ``publish`` (`host:port:port`) is empty for bundles that serve nothing."""
    if not entry.image_ref:
        raise BuildError(
            f"{entry.reference} ({entry.short_id}) has no image",
            hint=f"build one: nervosum build --image {entry.manifest.get('source', 'DIR')}",
        )
    command = [engine, "run", "--rm", "--init", "--name", name]
    if publish:
        command += ["--publish", publish]
    for item in request.env:
        command += ["--env", item]
    for item in request.volumes:
        command += ["--volume", item]
    return [*command, entry.image_ref, *request.arguments]


def container_name(entry: Entry) -> str:
    return f"nervosum-{entry.name}-{uuid.uuid4().hex[:8]}"


def stop_container(engine: str, name: str) -> None:
    """Remove a running container at once (the seed stopped with timeout 0 as well)."""
    subprocess.run([engine, "rm", "--force", name], capture_output=True, check=False)
