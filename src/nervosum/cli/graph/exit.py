"""How the graph commands that run user code end: without waiting for the threads that
code left behind.

A step class may start threads that are not daemons and never end: iguazioig's converge
example (``stream_converge.py``) starts ten, each waiting on a queue for ever, which on
the vendor's platform lived as long as the function. Python waits for such threads at
exit, so ``graph run --local`` printed its summary and then never ended (issue 19).
Here the command gives them a moment to finish what they hold, names them in a warning
and ends with its own exit code without waiting for them.
"""

from __future__ import annotations

import functools
import logging
import os
import sys
import threading
import time
import traceback
from collections.abc import Callable
from typing import Any, TypeVar

import click

F = TypeVar("F", bound=Callable[..., Any])

GRACE_SECONDS = 1.0  # for queued work (a write the thread already took) to finish


def leftover_threads(grace: float = GRACE_SECONDS) -> list[threading.Thread]:
    """Non-daemon threads other than this one still alive after ``grace`` seconds."""
    deadline = time.monotonic() + grace
    current = threading.current_thread()
    left = [t for t in threading.enumerate() if t is not current and not t.daemon]
    for thread in left:
        thread.join(max(0.0, deadline - time.monotonic()))
    return [t for t in left if t.is_alive()]


def _code(exit: SystemExit) -> int:
    if exit.code is None:
        return 0
    return exit.code if isinstance(exit.code, int) else 1


def _end_if_threads_left(code: int, failure: BaseException | None = None) -> None:
    """End the process now with ``code`` when threads were left; else return."""
    left = leftover_threads()
    if not left:
        return
    if failure is not None:
        traceback.print_exception(failure)
    names = ", ".join(thread.name for thread in left)
    click.secho(
        f"warning: the steps' code left {len(left)} threads running ({names}):"
        " ending without waiting for them",
        err=True,
        fg="yellow",
    )
    sys.stdout.flush()
    sys.stderr.flush()
    logging.shutdown()
    os._exit(code)


def ends_despite_threads(func: F) -> F:
    """Run a command; if the steps' code left threads running, warn naming them and end
    the process with the command's exit code instead of waiting for them."""

    @functools.wraps(func)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        try:
            result = func(*args, **kwargs)
        except SystemExit as exit:
            _end_if_threads_left(_code(exit))
            raise
        except (KeyboardInterrupt, click.Abort):
            _end_if_threads_left(130)  # Ctrl-C: the shell's code, no traceback
            raise
        except BaseException as failure:
            _end_if_threads_left(1, failure)
            raise
        _end_if_threads_left(0)
        return result

    return wrapper  # type: ignore[return-value]
