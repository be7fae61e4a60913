"""Run a child process in the foreground: signals passed on, Ctrl-C a clean stop.

Ctrl-C reaches the child directly (same process group); SIGTERM sent to `nervosum run`
is forwarded, so a supervisor stopping `run` stops the model too, and it drains.
"""

from __future__ import annotations

import contextlib
import signal
import subprocess
from collections.abc import Callable
from typing import Any


def run_foreground(
    command: list[str], env: dict[str, str], on_interrupt: Callable[[], None] | None = None
) -> int:
    """Run ``command`` until it exits; its exit code. After Ctrl-C the child's own code
    (a server that drained says 0, an interrupted batch job 130)."""
    child = subprocess.Popen(command, env=env)

    def forward(signum: int, _frame: Any) -> None:
        child.send_signal(signum)

    previous = signal.signal(signal.SIGTERM, forward)
    try:
        return child.wait()
    except KeyboardInterrupt:
        if on_interrupt is not None:
            on_interrupt()
        with contextlib.suppress(subprocess.TimeoutExpired):
            child.wait(timeout=35)
        if child.poll() is None:
            child.kill()
            child.wait()
        return child.returncode if child.returncode >= 0 else 130
    finally:
        signal.signal(signal.SIGTERM, previous)
