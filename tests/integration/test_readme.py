"""The README's first-screen commands work as written, on a fresh copy of the repository."""

from __future__ import annotations

import json
import os
import re
import shutil
import signal
import subprocess
import time
from pathlib import Path

import httpx
import pytest

from tests.conftest import ROOT, free_port

README = (ROOT / "README.md").read_text(encoding="utf-8")
FIRST_SCREEN = "\n".join(README.splitlines()[:60])


def code_lines(text: str) -> list[str]:
    blocks = re.findall(r"```(?:bash|sh)?\n(.*?)```", text, flags=re.S)
    return [line for block in blocks for line in block.splitlines() if line.strip()]


def line_with(marker: str) -> str:
    return next(line for line in code_lines(FIRST_SCREEN) if marker in line)


def test_ci_runs_exactly_the_readme_test_command() -> None:
    test_command = line_with("scripts/test").strip()
    ci = (ROOT / ".ci" / "run").read_text(encoding="utf-8")
    assert test_command in ci.splitlines()


def copy_repository(target: Path) -> None:
    listed = subprocess.run(
        ["git", "ls-files", "--cached", "--others", "--exclude-standard"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        check=True,
    ).stdout.splitlines()
    for relative in listed:
        source = ROOT / relative
        if source.is_file():
            destination = target / relative
            destination.parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(source, destination)


@pytest.mark.slow
def test_first_command_installs_and_serves_the_example(tmp_path: Path) -> None:
    command = line_with("nervosum serve")
    curl = line_with("curl")
    body = json.loads(re.search(r"-d '([^']+)'", curl).group(1))  # type: ignore[union-attr]
    expected = json.loads(line_with("# {").lstrip("# "))
    copy = tmp_path / "nervosum"
    copy_repository(copy)
    port = free_port()
    env = {**os.environ, "NERVOSUM_PORT": str(port), "PIP_DISABLE_PIP_VERSION_CHECK": "1"}
    env.pop("VIRTUAL_ENV", None)
    log = (tmp_path / "readme.log").open("w")
    process = subprocess.Popen(
        ["bash", "-c", command],
        cwd=copy,
        env=env,
        stdout=log,
        stderr=subprocess.STDOUT,
        start_new_session=True,
    )
    try:
        deadline = time.monotonic() + 600
        answer = None
        while time.monotonic() < deadline and process.poll() is None:
            try:
                answer = httpx.post(f"http://127.0.0.1:{port}/predict", json=body, timeout=5)
                if answer.status_code == 200:
                    break
            except httpx.TransportError:
                pass
            time.sleep(1)
        output = (tmp_path / "readme.log").read_text()
        assert process.poll() is None, f"the command exited early:\n{output[-3000:]}"
        assert answer is not None
        assert answer.status_code == 200, output[-3000:]
        assert answer.json() == expected
    finally:
        if process.poll() is None:
            os.killpg(process.pid, signal.SIGTERM)
            process.wait(timeout=30)
        log.close()
