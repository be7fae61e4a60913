"""Memory of the serving processes, read from /proc (Linux; elsewhere only this process).

RSS counts pages shared with other processes in full, so it overstates what forked
workers cost; PSS splits each shared page between its users and adds up correctly.
Both are reported so the copy-on-write saving of pre-forked workers is visible.
"""

from __future__ import annotations

import os
import resource
from pathlib import Path

_PROC = Path("/proc")


def _kib_field(path: Path, field: str) -> int | None:
    try:
        for line in path.read_text().splitlines():
            if line.startswith(field + ":"):
                return int(line.split()[1]) * 1024
    except OSError:
        return None
    return None


def process_memory(pid: int) -> dict[str, int | None]:
    """``{"pid", "rss_bytes", "pss_bytes"}`` for one process (None where unknown)."""
    rss = _kib_field(_PROC / str(pid) / "status", "VmRSS")
    if rss is None and pid == os.getpid():
        rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024
    return {
        "pid": pid,
        "rss_bytes": rss,
        "pss_bytes": _kib_field(_PROC / str(pid) / "smaps_rollup", "Pss"),
    }


SUPERVISOR_ENV = "NERVOSUM_SUPERVISOR"


def worker_pids() -> list[int]:
    """All worker processes of this server: the supervisor's children, or just this one."""
    me = os.getpid()
    parent = os.getppid()
    if os.environ.get(SUPERVISOR_ENV) != str(parent):
        return [me]
    pids = []
    for entry in _PROC.iterdir():
        if entry.name.isdigit():
            try:
                stat = (entry / "stat").read_text()
                if int(stat.rsplit(")", 1)[1].split()[1]) == parent:
                    pids.append(int(entry.name))
            except (OSError, ValueError, IndexError):
                continue
    return sorted(pids) or [me]


def workers_memory() -> list[dict[str, int | None]]:
    return [process_memory(pid) for pid in worker_pids()]
