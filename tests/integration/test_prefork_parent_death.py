"""The prefork supervisor's children die with it, and its signals are handled from the
start (issue 20, item 12).

Before: after kill -9 of the supervisor its workers kept serving and a restart failed
with "Address already in use"; the SIGTERM handler was installed only after the forks.
"""

from __future__ import annotations

import signal
import subprocess
import sys
import textwrap

import pytest

from tests.conftest import PROJECTS, live_server
from tests.integration.processes import (
    children,
    exists,
    kill_quietly,
    port_can_be_bound,
    wait_until,
)

pytestmark = pytest.mark.slow

ECHO = PROJECTS / "batch_echo"


def test_killing_the_supervisor_ends_every_worker_and_frees_the_port() -> None:
    with live_server(ECHO, "-c", "unbatched.yaml", "--workers", "2", "--model-process") as server:
        supervisor = server.process.pid
        workers = children(supervisor)
        assert len(workers) == 2, server.output()
        model_processes: list[int] = []

        def each_worker_has_its_model_process() -> bool:
            model_processes[:] = [pid for worker in workers for pid in children(worker)]
            return len(model_processes) == 2

        wait_until(
            each_worker_has_its_model_process, 10, f"two model processes:\n{server.output()}"
        )
        port = int(server.url.rsplit(":", 1)[1])
        assert not port_can_be_bound(port)
        kill_quietly(supervisor, signal.SIGKILL)
        server.process.wait(timeout=5)
        # Each worker is told with SIGTERM and drains first: under a full suite on two
        # cores its interpreter's exit has taken over 5 s.
        for pid in workers + model_processes:
            wait_until(lambda pid=pid: not exists(pid), 20, f"process {pid} ended")
        wait_until(lambda: port_can_be_bound(port), 5, f"port {port} free again")


SIGNALS_BEFORE_FORKS = """
    import os, signal, sys, time
    from nervosum.serving.prefork import Supervisor

    seen = []
    os.register_at_fork(before=lambda: seen.append(signal.getsignal(signal.SIGTERM)))

    def worker():
        time.sleep(30)  # until the supervisor's SIGTERM (the default action) ends it
        return 0

    def stop_soon(signum, frame):
        os.kill(os.getpid(), signal.SIGTERM)

    signal.signal(signal.SIGALRM, stop_soon)
    signal.setitimer(signal.ITIMER_REAL, 0.5)
    code = Supervisor(worker, 2).run()
    print("default handler at fork:", sum(h is signal.SIG_DFL for h in seen), "of", len(seen))
    sys.exit(code)
"""


def test_the_supervisor_handles_stop_signals_before_its_first_fork() -> None:
    done = subprocess.run(
        [sys.executable, "-c", textwrap.dedent(SIGNALS_BEFORE_FORKS)],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert "default handler at fork: 0 of 2" in done.stdout, done.stdout + done.stderr
    assert done.returncode == 0, done.stderr
