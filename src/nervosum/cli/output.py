"""How the CLI reports failure: one line (or one per config problem), a hint, an exit code.

Tracebacks are for ``--debug``; users get what went wrong and what to do.
"""

from __future__ import annotations

import functools
import sys
import traceback
from collections.abc import Callable
from typing import Any, NoReturn, TypeVar

import click

from nervosum.errors import ConfigError, NervosumError

F = TypeVar("F", bound=Callable[..., Any])


def fail(error: NervosumError, *, debug: bool = False) -> NoReturn:
    """Print ``error`` to stderr and exit with its exit code."""
    sys.stdout.flush()  # what the command printed so far comes before the error
    if debug:
        traceback.print_exception(error)
    if isinstance(error, ConfigError):
        count = len(error.issues)
        click.secho(
            f"error: {error.filename} has {count} problem{'s' * (count != 1)}:", err=True, fg="red"
        )
        for issue in error.issues:
            click.echo(f"  {issue.render(error.filename)}", err=True)
    else:
        click.secho(f"error: {error.message}", err=True, fg="red")
        if error.hint:
            click.echo(f"hint: {error.hint}", err=True)
    sys.exit(error.exit_code)


def reports_errors(func: F) -> F:
    """Run a command, turning NervosumError into :func:`fail`."""

    @functools.wraps(func)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        try:
            return func(*args, **kwargs)
        except NervosumError as exc:
            debug = bool(click.get_current_context().find_root().params.get("debug"))
            fail(exc, debug=debug)

    return wrapper  # type: ignore[return-value]
