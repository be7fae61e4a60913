"""OCI image builders: podman, docker or buildah, whichever is installed.

All three take the same Dockerfile and write the image id to `--iidfile`, so one
command line per builder is all that differs. podman and buildah default to the OCI
format, which drops HEALTHCHECK, so they are asked for the Docker format.
"""

from __future__ import annotations

import shutil
import subprocess
import tempfile
from dataclasses import dataclass
from pathlib import Path

from nervosum.build.progress import Progress, stream_command
from nervosum.errors import BuildError

BUILDERS = ("podman", "docker", "buildah")


@dataclass(frozen=True)
class Builder:
    """An installed image builder."""

    name: str
    executable: str

    def command(
        self, context: Path, reference: str, labels: dict[str, str], iidfile: Path
    ) -> list[str]:
        verb = ["bud"] if self.name == "buildah" else ["build"]
        command = [self.executable, *verb, "--tag", reference, "--iidfile", str(iidfile)]
        if self.name != "docker":
            command += ["--format", "docker"]
        for key, value in sorted(labels.items()):
            command += ["--label", f"{key}={value}"]
        return [*command, "--file", str(context / "Dockerfile"), str(context)]

    def remove_image(self, reference: str) -> None:
        """Delete an image; one that is already gone is not an error."""
        subprocess.run([self.executable, "rmi", reference], capture_output=True, check=False)


def find_builder(preference: str = "auto") -> Builder | None:
    """The builder asked for, or the first installed one for `auto`; None if absent."""
    for name in BUILDERS if preference == "auto" else (preference,):
        executable = shutil.which(name)
        if executable:
            return Builder(name, executable)
    return None


def build_image(
    builder: Builder, context: Path, reference: str, labels: dict[str, str], progress: Progress
) -> str:
    """Build ``context`` into ``reference``, streaming the builder's output; return the id."""
    with tempfile.TemporaryDirectory() as scratch:
        iidfile = Path(scratch) / "iid"
        status, tail = stream_command(
            builder.command(context, reference, labels, iidfile), progress
        )
        if status != 0:
            raise BuildError(
                f"{builder.name} could not build the image {reference}:\n  " + "\n  ".join(tail),
                hint=f"the bundle is built; retry by hand: {builder.name} build -t {reference}"
                f" {context}",
            )
        return iidfile.read_text(encoding="utf-8").strip()
