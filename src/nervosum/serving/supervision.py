"""What the server's forked children share: they die with their parent, and a parent
that restarts them gives up on a crash loop.

A worker or model process that outlives its parent keeps the listening socket open
(a restart then fails with "Address already in use") and keeps answering with nobody
supervising it (issue 20, items 1 and 12). On Linux the kernel signals the child when
its parent dies (``PR_SET_PDEATHSIG``); elsewhere a thread polls the parent's pid.
"""

from __future__ import annotations

import ctypes
import os
import signal
import sys
import threading
import time

# Children that die this many times within RESTART_WINDOW seconds mean a broken setup.
MAX_RESTARTS = 5
RESTART_WINDOW = 10.0

_PR_SET_PDEATHSIG = 1  # from <linux/prctl.h>
_ORPHAN_POLL_SECONDS = 1.0


class RestartBudget:
    """Counts deaths in a sliding window: restarting past ``limit`` deaths within
    ``window`` seconds would only repeat the crash, so :meth:`allows` says stop."""

    def __init__(self, limit: int = MAX_RESTARTS, window: float = RESTART_WINDOW) -> None:
        self.limit = limit
        self.window = window
        self._deaths: list[float] = []

    def allows(self) -> bool:
        """Record one death now; False once there were more than ``limit`` in the window."""
        now = time.monotonic()
        self._deaths = [t for t in self._deaths if now - t < self.window] + [now]
        return len(self._deaths) <= self.limit


def die_with_parent(parent: int, signum: signal.Signals) -> None:
    """In a freshly forked child: get ``signum`` when the process ``parent`` is gone.

    Call it first thing after the fork. On Linux the kernel sends the signal when the
    thread that forked exits, so the fork must come from a thread that lives as long
    as its child is wanted. A parent that died between the fork and this call is caught
    by comparing the parent's pid afterwards (the child was then re-parented already).
    """
    if not (sys.platform.startswith("linux") and _set_parent_death_signal(signum)):
        threading.Thread(
            target=_signal_when_orphaned,
            args=(parent, signum),
            name="nervosum-orphan-watch",
            daemon=True,
        ).start()
    if os.getppid() != parent:
        os.kill(os.getpid(), signum)


def _set_parent_death_signal(signum: signal.Signals) -> bool:
    libc = ctypes.CDLL(None, use_errno=True)
    return bool(libc.prctl(_PR_SET_PDEATHSIG, int(signum), 0, 0, 0) == 0)


def _signal_when_orphaned(parent: int, signum: signal.Signals) -> None:
    """Where the kernel cannot signal it: poll until the parent is gone."""
    while os.getppid() == parent:
        time.sleep(_ORPHAN_POLL_SECONDS)
    os.kill(os.getpid(), signum)
