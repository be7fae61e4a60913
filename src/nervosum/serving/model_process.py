"""The model in its own process, so HTTP handling and prediction each get a whole GIL.

In one process the event loop and the model thread take turns on one interpreter lock:
a Python-heavy ``predict`` (a scikit-learn forest dispatches every tree from Python)
starves the loop, and the loop's parsing and answering starves the model. With
``server.model_process`` the loaded model is forked into a child that only predicts;
the server process sends it whole batches over a pipe (one round trip per batch, not
per request) and keeps a core for HTTP. Only plain records cross the pipe: errors
travel as :meth:`NervosumError.to_record` dictionaries, never as pickled exceptions.
"""

from __future__ import annotations

import logging
import os
import signal
import threading
from collections.abc import Sequence
from multiprocessing.connection import Connection, Pipe
from typing import Any

from nervosum.engine import Engine
from nervosum.errors import NervosumError, PredictionError, error_from_record
from nervosum.schema import Record

log = logging.getLogger("nervosum.serving")

_ERROR = "__nervosum_error__"


def _encode(answers: list[list[Record] | NervosumError]) -> list[Any]:
    return [{_ERROR: a.to_record()} if isinstance(a, NervosumError) else a for a in answers]


def _decode(payload: list[Any]) -> list[list[Record] | NervosumError]:
    return [
        error_from_record(a[_ERROR]) if isinstance(a, dict) and _ERROR in a else a for a in payload
    ]


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


class RemoteEngine(Engine):
    """An :class:`Engine` whose predictions run in a forked model process.

    Schemas, identity and info come from the parent's copy of the loaded model; only
    ``predict_groups`` / ``predict`` cross the pipe. One call at a time (the server's
    single model thread makes the calls), guarded by a lock all the same.
    """

    def __init__(self, engine: Engine) -> None:
        super().__init__(engine.project, engine.handle, debug=engine.debug)
        parent, child = Pipe()
        pid = os.fork()
        if pid == 0:
            parent.close()
            code = 0
            try:
                _serve_forever(engine, child)
            except BaseException:
                code = 1
            finally:
                os._exit(code)
        child.close()
        self.pid = pid
        self._conn = parent
        self._lock = threading.Lock()
        log.info("model process %d started", pid)

    def predict_groups(
        self, groups: Sequence[list[Record]], *, proba: bool = True
    ) -> list[list[Record] | NervosumError]:
        with self._lock:
            try:
                self._conn.send((list(groups), proba))
                return _decode(self._conn.recv())
            except (EOFError, OSError) as exc:
                raise PredictionError(
                    f"the model process {self.pid} is gone ({type(exc).__name__})",
                    error_id="model-process",
                ) from None

    def predict(self, records: list[Record], *, proba: bool = True) -> list[Record]:
        (answer,) = self.predict_groups([records], proba=proba)
        if isinstance(answer, NervosumError):
            raise answer
        return answer

    def close(self) -> None:
        """Stop the model process (closing the pipe ends its loop)."""
        self._conn.close()
        try:
            os.kill(self.pid, signal.SIGTERM)
            os.waitpid(self.pid, 0)
        except (ProcessLookupError, ChildProcessError):
            pass
