"""`pip download`: the one way a build reaches a package index.

pip's own settings apply (`PIP_INDEX_URL`, `PIP_EXTRA_INDEX_URL`, `PIP_FIND_LINKS`,
`PIP_NO_INDEX`, pip.conf), so a build finds packages where `pip install` would.
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

from nervosum.build.progress import Progress, stream_command
from nervosum.errors import BuildError


def _command(dest: Path, arguments: list[str]) -> list[str]:
    command = [sys.executable, "-m", "pip", "download", "--disable-pip-version-check"]
    return [*command, "--only-binary=:all:", "--dest", str(dest), *arguments]


def stream_download(arguments: list[str], dest: Path, progress: Progress) -> tuple[int, list[str]]:
    """Download wheels into ``dest``, streaming pip's output; its exit code and last lines."""
    return stream_command(_command(dest, arguments), progress)


def pip_download(arguments: list[str], dest: Path, progress: Progress, what: str) -> None:
    """Download wheels into ``dest``, streaming pip's output; fail with its last lines."""
    status, tail = stream_download(arguments, dest, progress)
    if status != 0:
        raise BuildError(
            f"pip could not download {what}:\n  " + "\n  ".join(tail),
            hint="install them in this environment first (pip install -r requirements.txt),"
            " or check the index settings pip uses (PIP_INDEX_URL, PIP_FIND_LINKS)",
        )


def try_download(arguments: list[str], dest: Path) -> tuple[bool, str]:
    """Download quietly, as a probe: whether it worked and everything pip said."""
    done = subprocess.run(_command(dest, arguments), capture_output=True, text=True, check=False)
    return done.returncode == 0, done.stdout + done.stderr
