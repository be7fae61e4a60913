"""Paths a build's user names inside the repository: the listed notebooks, and the file
the training rows are saved to.

The notebooks run in a private copy of the repository, and the build writes and deletes
files at these paths there; an absolute path or one with ``..`` would reach outside the
copy (into the user's checkout, say), so both kinds of name are refused by one rule.
"""

from __future__ import annotations

from pathlib import PurePosixPath, PureWindowsPath

from nervosum.errors import RequestError


def escapes(name: str) -> bool:
    """An absolute path (POSIX or Windows), or one with ``..``: outside the private copy."""
    posix, windows = PurePosixPath(name), PureWindowsPath(name)
    return (
        posix.is_absolute()
        or windows.is_absolute()
        or bool(windows.drive)
        or name.startswith(("/", "\\"))
        or ".." in posix.parts
        or ".." in windows.parts
    )


def check_inside(name: str, what: str, example: str) -> None:
    """A :class:`RequestError` (exit 2) when ``name``, which names ``what``, escapes the
    repository; the hint ends with ``example``, a correct way to name one."""
    if escapes(name):
        raise RequestError(
            f"{what} {name!r} is not a path inside the repository",
            hint="give paths relative to the repository's root, without '..': " + example,
        )
