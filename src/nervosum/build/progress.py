"""How long-running build steps report progress, without tying the library to a terminal.

The library calls these hooks; the CLI passes a Rich implementation, `--quiet` and
library callers the silent base class.
"""

from __future__ import annotations

import subprocess
from collections.abc import Iterable, Iterator
from typing import TypeVar

T = TypeVar("T")


class Progress:
    """Silent progress: every hook does nothing."""

    def step(self, text: str) -> None:
        """A new step has started."""

    def track(self, items: Iterable[T], description: str, total: int) -> Iterator[T]:
        """Iterate ``items``, showing how far along the loop is."""
        del description, total
        yield from items

    def output(self, line: str) -> None:
        """One line of a tool's own output (pip, the image builder)."""


def stream_command(command: list[str], progress: Progress, keep: int = 12) -> tuple[int, list[str]]:
    """Run ``command``, passing each output line to ``progress``; return its exit code
    and its last ``keep`` lines (for the error message when it fails)."""
    with subprocess.Popen(
        command, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, bufsize=1
    ) as process:
        assert process.stdout is not None
        tail: list[str] = []
        for raw in process.stdout:
            line = raw.rstrip()
            progress.output(line)
            tail = [*tail[-(keep - 1) :], line]
        return process.wait(), tail
