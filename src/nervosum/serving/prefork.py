"""Several worker processes sharing one listening socket and, by default, one loaded model.

The model is loaded once in the supervising process and the workers are forked after
it, so they share its memory copy-on-write: two workers cost little more than one
(peers load a copy per worker). ``server.preload: false`` loads in each worker instead,
for models that are not fork-safe (e.g. those holding threads or GPU contexts at load).

The supervisor restarts a worker that dies, forwards SIGTERM / SIGINT to all workers
(each drains its in-flight requests) and exits 0 once they have stopped. Its signal
handlers are in place before the first fork, and the workers die with it: a supervisor
killed with SIGKILL leaves no worker holding the port (issue 20, item 12).
"""

from __future__ import annotations

import functools
import logging
import os
import shutil
import signal
import socket
import sys
import tempfile
import traceback
from collections.abc import Callable
from pathlib import Path
from types import FrameType

from nervosum.config import Project
from nervosum.config.spec import ServerSpec
from nervosum.model.compile.threads import serving_threads
from nervosum.observe.memory import SUPERVISOR_ENV
from nervosum.observe.metrics import process_exited, share_across_processes
from nervosum.serving.challenger import load_models
from nervosum.serving.promotion_state import STATE_ENV
from nervosum.serving.server import ServeOptions, run_server
from nervosum.serving.supervision import (
    MAX_RESTARTS,
    RESTART_WINDOW,
    RestartBudget,
    die_with_parent,
)

log = logging.getLogger("nervosum.serving")

# Libraries whose thread pools (OpenMP, intra-op threads) may deadlock in a forked child.
FORK_RISKY = ("torch", "tensorflow", "lightgbm", "xgboost", "catboost")

_STOPS = (signal.SIGTERM, signal.SIGINT)


def _listen(host: str, port: int) -> socket.socket:
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind((host, port))
    sock.listen(2048)
    sock.set_inheritable(True)
    return sock


class Supervisor:
    """Forks ``workers`` processes running ``target``, restarts the ones that die, and
    stops them all on SIGTERM / SIGINT."""

    def __init__(self, target: Callable[[], int], workers: int) -> None:
        self.target = target
        self.workers = workers
        self.children: set[int] = set()
        self.stopping = False
        self.budget = RestartBudget()

    def _spawn(self) -> None:
        """Fork a worker that dies with the supervisor. Stop signals stay blocked across
        the fork, so a worker never runs the supervisor's handlers: it sets the defaults
        back before it takes any signal."""
        supervisor = os.getpid()
        previous = signal.pthread_sigmask(signal.SIG_BLOCK, _STOPS)
        pid = -1
        try:
            pid = os.fork()
        finally:
            if pid != 0:
                signal.pthread_sigmask(signal.SIG_SETMASK, previous)
        if pid:
            self.children.add(pid)
            return
        code = 1
        try:
            for signum in _STOPS:
                signal.signal(signum, signal.SIG_DFL)
            die_with_parent(supervisor, signal.SIGTERM)  # a worker drains, then exits
            signal.pthread_sigmask(signal.SIG_SETMASK, previous)
            code = self.target()
        except BaseException:
            traceback.print_exc()
        finally:
            os._exit(code)

    def _stop(self, signum: int, frame: FrameType | None) -> None:
        self.stopping = True
        for pid in list(self.children):
            try:
                os.kill(pid, signal.SIGTERM)
            except ProcessLookupError:
                self.children.discard(pid)

    def _should_restart(self, pid: int, code: int) -> int | None:
        """None to restart the worker, else the supervisor's exit code."""
        if code == 2:  # the model cannot load: restarting will not help
            log.error("worker %d could not load the model; stopping", pid)
            return 2
        if not self.budget.allows():
            log.error("workers keep dying (%d in %.0fs); stopping", MAX_RESTARTS, RESTART_WINDOW)
            return 1
        log.warning("worker %d exited with %d; starting a new one", pid, code)
        return None

    def run(self) -> int:
        # Before the first fork: a SIGTERM that arrives while workers start still stops them.
        for signum in _STOPS:
            signal.signal(signum, self._stop)
        for _ in range(self.workers):
            if self.stopping:
                break
            self._spawn()
        status = 0
        while self.children:
            try:
                pid, wait_status = os.wait()
            except ChildProcessError:
                break
            self.children.discard(pid)
            process_exited(pid)
            if self.stopping:
                continue
            verdict = self._should_restart(pid, os.waitstatus_to_exitcode(wait_status))
            if verdict is None:
                self._spawn()
            else:
                status = verdict
                self._stop(signal.SIGTERM, None)
        return status


def serve_prefork(
    project: Project, settings: ServerSpec, options: ServeOptions, workers: int
) -> int:
    """Bind, load the model (unless ``preload`` is off), fork ``workers`` and supervise them."""
    try:
        sock = _listen(settings.host, settings.port)
    except OSError as exc:
        log.error("cannot listen on %s:%d: %s", settings.host, settings.port, exc.strerror)
        return 1
    engine = challenger = None
    if settings.preload:
        log.info("loading the model once, before forking %d workers", workers)
        threads = serving_threads(workers)
        engine, challenger = load_models(project, debug=options.debug, threads=threads)
        risky = [name for name in FORK_RISKY if name in sys.modules]
        if risky:
            log.warning(
                "the model uses %s, whose thread pools may hang in forked workers; "
                "if workers stop answering, serve with --no-preload",
                ", ".join(risky),
            )
    log.info(
        "%d workers serving on %s://%s:%d (model %s)",
        workers,
        "https" if settings.ssl_certfile else "http",
        settings.host,
        settings.port,
        "shared copy-on-write" if engine else "loaded in each worker",
    )
    target = functools.partial(
        run_server,
        project,
        settings,
        options,
        engine=engine,
        challenger=challenger,
        sockets=[sock],
    )
    os.environ[SUPERVISOR_ENV] = str(os.getpid())  # lets workers find each other for /info
    shared = Path(tempfile.mkdtemp(prefix="nervosum-metrics-"))
    share_across_processes(shared)  # /metrics in any worker sums them all
    # Workers follow one another's promotions of a challenger through this file.
    os.environ[STATE_ENV] = str(shared / "promotions.json")
    try:
        return Supervisor(target, workers).run()
    finally:
        sock.close()
        shutil.rmtree(shared, ignore_errors=True)
        os.environ.pop(STATE_ENV, None)
