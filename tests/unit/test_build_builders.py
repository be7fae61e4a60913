"""Whether an installed image builder can build, asked before building (issue 19): real
builder executables on PATH, here small scripts that answer `info` as docker does."""

from __future__ import annotations

import shutil
import stat
from pathlib import Path

import pytest

from nervosum.build import builders
from nervosum.build.builders import Builder, working_builder

DAEMON_DOWN = (
    "Cannot connect to the Docker daemon at unix:///var/run/docker.sock."
    " Is the docker daemon running?"
)


def fake_builder(folder: Path, name: str, info: str) -> Path:
    """An executable ``name`` whose `info` runs the shell snippet ``info``; every call is
    appended to ``calls.log`` beside it."""
    folder.mkdir(parents=True, exist_ok=True)
    script = folder / name
    script.write_text(
        f'#!/bin/sh\necho "{name} $*" >> "{folder}/calls.log"\n'
        f'if [ "$1" = info ]; then\n{info}\nfi\nexit 3\n'
    )
    script.chmod(script.stat().st_mode | stat.S_IXUSR)
    return script


# What the docker CLI prints when no daemon answers: client facts on stdout, then exit 1.
STOPPED_DAEMON = f'echo "Client:"; echo " Version: 28.2.2"; echo "{DAEMON_DOWN}" >&2; exit 1'


def test_a_docker_cli_without_its_daemon_is_not_a_working_builder(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    fake_builder(tmp_path / "bin", "docker", STOPPED_DAEMON)
    monkeypatch.setenv("PATH", str(tmp_path / "bin"))
    builder, why = working_builder("auto")
    assert builder is None
    assert why == f"docker is installed but cannot build ({DAEMON_DOWN})"
    assert working_builder("docker") == (None, why)
    # Asked once per process, however often the question comes.
    assert (tmp_path / "bin" / "calls.log").read_text() == "docker info\n"


def test_auto_takes_the_first_installed_builder_that_works(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    fake_builder(tmp_path / "bin", "podman", 'echo "Error: no storage" >&2; exit 125')
    docker = fake_builder(tmp_path / "bin", "docker", "exit 0")
    monkeypatch.setenv("PATH", str(tmp_path / "bin"))
    assert working_builder("auto") == (Builder("docker", str(docker)), "")
    builder, why = working_builder("podman")
    assert builder is None and why == "podman is installed but cannot build (Error: no storage)"


def test_a_builder_that_does_not_answer_in_time_is_not_used(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    fake_builder(tmp_path / "bin", "buildah", "exec /bin/sleep 5")
    monkeypatch.setenv("PATH", str(tmp_path / "bin"))
    monkeypatch.setattr(builders, "INFO_TIMEOUT", 0.3)
    builder, why = working_builder("auto")
    assert builder is None
    assert (
        why == "buildah is installed but cannot build ('buildah info' did not answer within 0.3 s)"
    )


def test_nothing_installed_says_so(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PATH", str(tmp_path))
    assert working_builder("auto") == (None, "none of podman, docker, buildah is installed")
    assert working_builder("podman") == (None, "podman is not installed")


@pytest.mark.skipif(
    shutil.which("podman") is None,
    reason="podman is not installed (scripts/setup-system installs it as root)",
)
def test_the_real_podman_works_where_it_is_set_up() -> None:
    builder, why = working_builder("podman")
    assert builder is not None and builder.problem() is None, why
