"""The model in its own process, so HTTP handling and prediction each get a whole GIL.

In one process the event loop and the model thread take turns on one interpreter lock:
a Python-heavy ``predict`` (a scikit-learn forest dispatches every tree from Python)
starves the loop, and the loop's parsing and answering starves the model. With
``server.model_process`` the loaded model is forked into a child that only predicts;
the server process sends it whole batches over a pipe (one round trip per batch, not
per request) and keeps a core for HTTP. Only plain records cross the pipe: errors
travel as :meth:`NervosumError.to_record` dictionaries, never as pickled exceptions.

The child is supervised (issue 20, item 1): a watcher thread reaps it when it dies
(kill -9, the OOM killer), so no zombie stays, and forks a new one from the model the
server process still holds. While it is down the server is not ready and predictions
answer 503 with ``Retry-After``; the batch it was computing fails the same way. A
crash loop (more than ``MAX_RESTARTS`` deaths in ``RESTART_WINDOW`` seconds) gives up
and the server stops with exit code 1. The child dies with the server process.
"""

from __future__ import annotations

import contextlib
import logging
import os
import signal
import threading
from collections.abc import Callable, Sequence
from multiprocessing.connection import Connection, Pipe
from typing import Any

from nervosum.config.types import Record
from nervosum.engine import Engine
from nervosum.errors import NervosumError, NotReadyError, PredictionError, error_from_record
from nervosum.serving.supervision import (
    MAX_RESTARTS,
    RESTART_WINDOW,
    RestartBudget,
    die_with_parent,
)

log = logging.getLogger("nervosum.serving")

_ERROR = "__nervosum_error__"
_FD_DIR = "/proc/self/fd" if os.path.isdir("/proc/self/fd") else "/dev/fd"
_CLOSE_WAIT_SECONDS = 10.0

FileIds = dict[int, tuple[int, int]]


def _encode(answers: list[list[Record] | NervosumError]) -> list[Any]:
    return [{_ERROR: a.to_record()} if isinstance(a, NervosumError) else a for a in answers]


def _decode(payload: list[Any]) -> list[list[Record] | NervosumError]:
    return [
        error_from_record(a[_ERROR]) if isinstance(a, dict) and _ERROR in a else a for a in payload
    ]


def _open_files() -> FileIds:
    """Every open descriptor of this process and the file it refers to."""
    found: FileIds = {}
    for name in os.listdir(_FD_DIR):
        try:
            stat = os.fstat(int(name))
        except OSError:  # the directory listing's own descriptor, closed by now
            continue
        found[int(name)] = (stat.st_dev, stat.st_ino)
    return found


def _close_server_files(kept: FileIds, pipe: int) -> None:
    """In the child: close what the server process opened after the model was loaded.

    A replacement is forked while the server runs; without this it would hold copies of
    client connections (a connection the server closes would never see its FIN) and of
    the event loop's descriptors. What was open before (the model's own files) stays.
    """
    for fd, identity in _open_files().items():
        if fd > 2 and fd != pipe and kept.get(fd) != identity:
            try:
                os.close(fd)
            except OSError:
                continue


def _serve_forever(engine: Engine, conn: Connection) -> None:
    """The child: predict every batch that arrives until the parent closes the pipe."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # the parent decides when to stop
    signal.signal(signal.SIGTERM, signal.SIG_DFL)
    while True:
        try:
            groups, proba = conn.recv()
        except (EOFError, OSError):
            return
        try:
            conn.send(_encode(engine.predict_groups(groups, proba=proba)))
        except Exception as exc:  # pickling an exotic output, e.g.: tell the parent, keep serving
            log.exception("the model process could not answer a batch")
            conn.send(
                [{_ERROR: PredictionError(str(exc), error_id="model-process").to_record()}]
                * len(groups)
            )


def _describe(wait_status: int | None) -> str:
    if wait_status is None:
        return "is gone"
    code = os.waitstatus_to_exitcode(wait_status)
    if code < 0:
        return f"was killed by {signal.Signals(-code).name}"
    return f"exited with code {code}"


class RemoteEngine(Engine):
    """An :class:`Engine` whose predictions run in a forked, supervised model process.

    Schemas, identity and info come from the parent's copy of the loaded model; only
    ``predict_groups`` / ``predict`` cross the pipe. One call at a time (the server's
    single model thread makes the calls), guarded by a lock a restart also takes.
    """

    def __init__(self, engine: Engine, *, answer_timeout: float | None = None) -> None:
        super().__init__(engine.project, engine.handle, debug=engine.debug)
        self._model = engine  # kept, to fork a replacement from
        # A model process that hangs (a deadlock, SIGSTOP) would hold the model thread
        # forever while readiness says ready: past this it is killed and replaced.
        self._answer_timeout = answer_timeout
        self._hung_kill = False  # the last death was ours: not a crash, not in the budget
        self._kept_files = _open_files()
        self._lock = threading.Lock()
        self._conn: Connection | None = None
        self._running = False
        self._closing = False
        self._budget = RestartBudget()
        self.pid = 0
        self.lost: NotReadyError | None = None
        self._on_lost: Callable[[NotReadyError], None] | None = None
        self._first_start = threading.Event()
        self._start_error: OSError | None = None
        # Every fork happens on this thread: the kernel signals a child when the thread
        # that forked it ends (PR_SET_PDEATHSIG), and this one lives as long as the engine.
        self._watcher = threading.Thread(
            target=self._supervise, name="nervosum-model-process", daemon=True
        )
        self._watcher.start()
        self._first_start.wait()
        if self._start_error is not None:
            raise self._start_error

    @property
    def running(self) -> bool:
        """Whether a model process is there to answer (the server's readiness)."""
        return self._running

    @property
    def thread_safe(self) -> bool:
        return False  # a call blocks on the pipe, under a lock: never on the event loop

    def when_lost(self, callback: Callable[[NotReadyError], None]) -> None:
        """Call ``callback`` (on the watcher thread) once the engine gives up restarting."""
        self._on_lost = callback
        if self.lost is not None:
            callback(self.lost)

    def require_running(self) -> None:
        """Raise the 503 a request gets while no model process can answer."""
        if self.lost is not None:
            raise self.lost
        if not self._running:
            raise NotReadyError(
                f"model {self.name}: the model process is restarting",
                hint="retry in a moment",
            )

    def _start(self) -> None:
        """Fork a model process (called with the lock held, on the watcher thread)."""
        parent, child = Pipe()
        server = os.getpid()
        try:
            pid = os.fork()
        except OSError:
            parent.close()
            child.close()
            raise
        if pid == 0:
            code = 0
            try:
                die_with_parent(server, signal.SIGKILL)
                parent.close()
                _close_server_files(self._kept_files, child.fileno())
                _serve_forever(self._model, child)
            except BaseException:
                code = 1
            finally:
                os._exit(code)
        child.close()
        self.pid = pid
        self._conn = parent
        self._running = True
        log.info("model process %d started", pid)

    def _supervise(self) -> None:
        """The watcher thread: start the model process, reap it when it dies, start
        another, until the engine closes or the deaths come too fast."""
        while True:
            with self._lock:
                if self._closing:
                    return
                try:
                    self._start()
                except OSError as exc:  # fork failed (out of memory or processes)
                    if not self._first_start.is_set():
                        self._start_error = exc
                        self._first_start.set()
                        return
                    self._give_up(f"the model process could not be restarted: {exc}")
                    return
            self._first_start.set()
            wait_status = self._reap(self.pid)
            self._running = False  # not ready from here until the next one runs
            with self._lock:  # a prediction in flight has failed (EOF) and let go by now
                if self._conn is not None:
                    self._conn.close()
                    self._conn = None
                if self._closing:
                    return
            killed_as_hung, self._hung_kill = self._hung_kill, False
            if not killed_as_hung and not self._budget.allows():
                self._give_up(
                    f"the model process died {MAX_RESTARTS + 1} times within "
                    f"{RESTART_WINDOW:g}s (the last {_describe(wait_status)}); giving up"
                )
                return
            log.warning("model process %d %s; starting a new one", self.pid, _describe(wait_status))

    @staticmethod
    def _reap(pid: int) -> int | None:
        """Wait for the model process to end and collect it, so no zombie stays."""
        try:
            return os.waitpid(pid, 0)[1]
        except ChildProcessError:  # collected by someone else
            return None

    def _give_up(self, reason: str) -> None:
        log.error("%s", reason)
        self.lost = NotReadyError(
            f"model {self.name}: {reason}",
            hint="the log above says why it died; fix the model or give it more memory",
        )
        if self._on_lost is not None:
            self._on_lost(self.lost)

    def predict_groups(
        self, groups: Sequence[list[Record]], *, proba: bool = True
    ) -> list[list[Record] | NervosumError]:
        with self._lock:
            conn = self._conn
            if conn is None or not self._running:
                self.require_running()
                raise NotReadyError(f"model {self.name}: the model process is stopping")
            try:
                conn.send((list(groups), proba))
                if self._answer_timeout is not None and not conn.poll(self._answer_timeout):
                    self._kill_hung(self._answer_timeout)
                return _decode(conn.recv())
            except (EOFError, OSError):
                raise NotReadyError(
                    f"model {self.name}: the model process {self.pid} died while predicting",
                    hint="retry in a moment: it is being restarted",
                ) from None

    def _kill_hung(self, waited: float) -> None:
        """End a model process that did not answer (the watcher replaces it) and fail the
        batch with the 503 a restart gives."""
        log.error(
            "model process %d did not answer within %gs (server.timeout); killing it",
            self.pid,
            waited,
        )
        self._hung_kill = True
        with contextlib.suppress(ProcessLookupError):
            os.kill(self.pid, signal.SIGKILL)
        raise NotReadyError(
            f"model {self.name}: the model process {self.pid} did not answer within"
            f" {waited:g}s and is being restarted",
            hint="retry in a moment; if it keeps happening the model hangs or needs a"
            " longer server.timeout",
        )

    def predict(self, records: list[Record], *, proba: bool = True) -> list[Record]:
        (answer,) = self.predict_groups([records], proba=proba)
        if isinstance(answer, NervosumError):
            raise answer
        return answer

    def close(self) -> None:
        """Stop the model process (closing the pipe ends its loop) and its watcher."""
        with self._lock:
            self._closing = True
            if self._conn is not None:
                self._conn.close()
                self._conn = None
        self._watcher.join(_CLOSE_WAIT_SECONDS)
        if self._watcher.is_alive():  # the model ignores the closed pipe: end it
            with contextlib.suppress(ProcessLookupError):
                os.kill(self.pid, signal.SIGKILL)
            self._watcher.join()
