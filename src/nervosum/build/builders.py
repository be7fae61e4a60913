"""OCI image builders: podman, docker or buildah, whichever is installed and works.

All three take the same Dockerfile and write the image id to `--iidfile`, so one
command line per builder is all that differs. podman and buildah default to the OCI
format, which drops HEALTHCHECK, so they are asked for the Docker format.

An installed builder may still be unable to build: the docker CLI without a running
daemon (Docker Desktop stopped) is common. `<builder> info` answers that in well under a
second, so it is asked once per process before a build is tried, rather than letting
the build fail after the bundle is made (issue 19).
"""

from __future__ import annotations

import functools
import shutil
import subprocess
import tempfile
from dataclasses import dataclass
from pathlib import Path

from nervosum.build.progress import Progress, stream_command
from nervosum.errors import BuildError

BUILDERS = ("podman", "docker", "buildah")
# `info` contacts the daemon (docker) or reads the storage (podman, buildah); a builder
# that takes longer than this to say whether it works is treated as not working.
INFO_TIMEOUT = 10.0


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

    def problem(self) -> str | None:
        """Why this builder cannot build right now (its own words), or None if it can."""
        return _info_problem(self.executable)

    def remove_image(self, reference: str) -> None:
        """Delete an image; one that is already gone is not an error."""
        subprocess.run([self.executable, "rmi", reference], capture_output=True, check=False)


@functools.cache
def _info_problem(executable: str) -> str | None:
    """`<executable> info`'s last complaint when it fails; cached for the process."""
    try:
        done = subprocess.run(
            [executable, "info"],
            capture_output=True,
            text=True,
            timeout=INFO_TIMEOUT,
            check=False,
        )
    except subprocess.TimeoutExpired:
        return f"'{Path(executable).name} info' did not answer within {INFO_TIMEOUT:g} s"
    except OSError as exc:
        return f"'{Path(executable).name} info' could not start: {exc.strerror or exc}"
    if done.returncode == 0:
        return None
    lines = [line.strip() for line in (done.stderr or done.stdout).splitlines() if line.strip()]
    return lines[-1] if lines else f"'{Path(executable).name} info' exited {done.returncode}"


def find_builder(preference: str = "auto") -> Builder | None:
    """The builder asked for, or the first installed one for `auto`; None if absent."""
    for name in BUILDERS if preference == "auto" else (preference,):
        executable = shutil.which(name)
        if executable:
            return Builder(name, executable)
    return None


def working_builder(preference: str = "auto") -> tuple[Builder | None, str]:
    """The builder to use and, when there is none, why: not installed, or installed but
    not working (each one's complaint). `auto` takes the first installed one that works."""
    names = BUILDERS if preference == "auto" else (preference,)
    complaints: list[str] = []
    for name in names:
        builder = find_builder(name)
        if builder is None:
            continue
        problem = builder.problem()
        if problem is None:
            return builder, ""
        complaints.append(f"{name} is installed but cannot build ({problem})")
    if complaints:
        return None, "; ".join(complaints)
    if preference == "auto":
        return None, "none of " + ", ".join(BUILDERS) + " is installed"
    return None, f"{preference} is not installed"


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
