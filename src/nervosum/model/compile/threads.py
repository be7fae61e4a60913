"""How many threads ONNX Runtime may use inside one model call.

Each worker process runs its own session, and ONNX Runtime by default starts one
intra-op thread per core in every session: with two workers on two cores that is four
busy threads fighting over two cores, and a small batch pays thread wake-ups it cannot
use. So the cores are shared out: ``cores // workers`` threads per session, at least one.
``NERVOSUM_ONNX_THREADS`` sets the number outright (a machine shared with other work).
"""

from __future__ import annotations

import os


def available_cores() -> int:
    """The cores this process may run on (the container's CPU set, not the host's)."""
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # pragma: no cover - macOS and Windows have no affinity call
        return os.cpu_count() or 1


def serving_threads(processes: int, cores: int | None = None) -> int:
    """Intra-op threads for a model behind an HTTP server: each process keeps a core for
    its event loop (one worker on two cores: one thread), at least one.
    ``NERVOSUM_ONNX_THREADS`` when set."""
    total = available_cores() if cores is None else cores
    return onnx_threads(processes, cores=max(1, total - max(1, processes)))


def onnx_threads(workers: int, cores: int | None = None) -> int:
    """Intra-op threads per ONNX Runtime session: ``NERVOSUM_ONNX_THREADS`` when set,
    else the cores shared out over the workers, at least one."""
    chosen = os.environ.get("NERVOSUM_ONNX_THREADS", "").strip()
    if chosen.isdigit() and int(chosen) >= 1:
        return int(chosen)
    total = available_cores() if cores is None else cores
    return max(1, total // max(1, workers))
