"""The crash-loop budget, and the three ways a forked child learns its parent is gone."""

from __future__ import annotations

import subprocess
import sys
import textwrap
import time

import pytest

from nervosum.serving.supervision import RestartBudget


def test_the_budget_allows_limit_deaths_in_the_window_then_refuses() -> None:
    budget = RestartBudget(limit=3, window=60)
    assert [budget.allows() for _ in range(4)] == [True, True, True, False]


def test_deaths_older_than_the_window_are_forgotten() -> None:
    budget = RestartBudget(limit=2, window=0.05)
    assert budget.allows() and budget.allows()
    time.sleep(0.06)
    assert budget.allows()


# A grandchild calls die_with_parent, then its parent exits. This script makes itself
# the orphan's new parent (a child subreaper), so it can wait for it and say how it ended.
ORPHAN = """
    import ctypes, os, signal, sys, time
    from nervosum.serving import supervision

    mode = sys.argv[1]
    if mode == "poll":  # as on an OS without PR_SET_PDEATHSIG
        supervision._set_parent_death_signal = lambda signum: False
        supervision._ORPHAN_POLL_SECONDS = 0.02
    ctypes.CDLL(None).prctl(36, 1, 0, 0, 0)  # PR_SET_CHILD_SUBREAPER
    read, write = os.pipe()
    middle = os.fork()
    if middle == 0:
        parent = os.getpid()
        child = os.fork()
        if child == 0:
            if mode == "race":  # the parent is gone before the child asks to follow it
                while os.getppid() == parent:
                    time.sleep(0.01)
            supervision.die_with_parent(parent, signal.SIGKILL)
            time.sleep(30)
            os._exit(0)
        os.write(write, str(child).encode())
        if mode != "race":
            time.sleep(0.3)  # the child is following this process now
        os._exit(0)
    os.waitpid(middle, 0)
    child = int(os.read(read, 32))
    started = time.monotonic()
    while time.monotonic() - started < 10:
        pid, status = os.waitpid(child, os.WNOHANG)
        if pid:
            print("ended by", signal.Signals(-os.waitstatus_to_exitcode(status)).name)
            break
        time.sleep(0.01)
    else:
        os.kill(child, signal.SIGKILL)
        print("still running")
    print(f"after {time.monotonic() - started:.2f}s")
"""


@pytest.mark.parametrize("mode", ["kernel", "poll", "race"])
def test_a_child_dies_when_its_parent_is_gone(mode: str) -> None:
    done = subprocess.run(
        [sys.executable, "-c", textwrap.dedent(ORPHAN), mode],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert "ended by SIGKILL" in done.stdout, done.stdout + done.stderr
