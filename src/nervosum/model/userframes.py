"""Show user exceptions with the user's frames, not nervosum's or uvicorn's.

A data scientist reading a failure wants the line of *their* code that raised; frames of
the server machinery around it are noise (``--debug`` logs the full traceback instead).
"""

from __future__ import annotations

import traceback
from pathlib import Path


def is_inside(path: str | None, folder: Path) -> bool:
    """Whether the file ``path`` lies inside ``folder``."""
    if not path:
        return False
    try:
        Path(path).resolve().relative_to(folder)
    except ValueError:
        return False
    return True


def user_frames(exc: BaseException, project_dir: Path) -> list[traceback.FrameSummary]:
    """The traceback frames of ``exc`` that lie inside the project folder."""
    frames = traceback.extract_tb(exc.__traceback__)
    return [f for f in frames if is_inside(f.filename, project_dir)]


def describe_user_error(exc: BaseException, project_dir: Path) -> str:
    """``ValueError: bad thing (at model/model.py:12)``: one line for messages."""
    frames = user_frames(exc, project_dir) or traceback.extract_tb(exc.__traceback__)[-1:]
    where = ""
    if frames:
        last = frames[-1]
        where = f" (at {last.filename}:{last.lineno})"
    return f"{type(exc).__name__}: {exc}{where}"


def format_user_traceback(exc: BaseException, project_dir: Path, *, full: bool = False) -> str:
    """A traceback cut to the user's frames (all frames when ``full`` or none are the user's)."""
    frames = traceback.extract_tb(exc.__traceback__)
    if not full:
        frames = traceback.StackSummary.from_list(user_frames(exc, project_dir)) or frames
    lines = ["Traceback (most recent call last):\n", *traceback.format_list(frames)]
    lines.extend(traceback.format_exception_only(type(exc), exc))
    return "".join(lines).rstrip()
