"""The process tree of a real server, read from /proc: who is whose child, who is a zombie."""

from __future__ import annotations

import contextlib
import os
import socket
import time
from collections.abc import Callable
from pathlib import Path

PROC = Path("/proc")


def _stat(pid: int) -> tuple[str, int] | None:
    """``(state, parent pid)`` of a process, or None once it is gone."""
    try:
        fields = (PROC / str(pid) / "stat").read_text().rsplit(")", 1)[1].split()
    except (OSError, IndexError):
        return None
    return fields[0], int(fields[1])


def children(pid: int) -> list[int]:
    """The processes whose parent is ``pid`` (zombies included)."""
    found = []
    for entry in PROC.iterdir():
        if entry.name.isdigit():
            stat = _stat(int(entry.name))
            if stat is not None and stat[1] == pid:
                found.append(int(entry.name))
    return sorted(found)


def is_zombie(pid: int) -> bool:
    stat = _stat(pid)
    return stat is not None and stat[0] == "Z"


def exists(pid: int) -> bool:
    """Alive or a zombie: the pid still names a process."""
    return _stat(pid) is not None


def wait_until(condition: Callable[[], bool], seconds: float, what: str) -> float:
    """Poll ``condition`` every 10 ms; the seconds it took, or fail naming ``what``."""
    started = time.monotonic()
    while not condition():
        if time.monotonic() - started > seconds:
            raise AssertionError(f"not within {seconds:g}s: {what}")
        time.sleep(0.01)
    return time.monotonic() - started


def port_can_be_bound(port: int) -> bool:
    """What a restarted server does first: bind the port (SO_REUSEADDR) and listen."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            sock.bind(("127.0.0.1", port))
            sock.listen(1)
        except OSError:
            return False
    return True


def kill_quietly(pid: int, signum: int) -> None:
    """Signal ``pid`` if it is still there."""
    with contextlib.suppress(ProcessLookupError):
        os.kill(pid, signum)
