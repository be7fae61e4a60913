"""Progress on the terminal: build steps and tool output, and batch jobs' row counts."""

from __future__ import annotations

import logging
import time
from collections.abc import Iterable, Iterator
from typing import TypeVar

from rich.console import Console
from rich.markup import escape
from rich.progress import (
    BarColumn,
    MofNCompleteColumn,
    TaskID,
    TextColumn,
    TimeRemainingColumn,
    track,
)
from rich.progress import Progress as RichProgress

from nervosum.batch.progress import JobProgress
from nervosum.build.progress import Progress

T = TypeVar("T")
log = logging.getLogger("nervosum.batch")


class TerminalProgress(Progress):
    """Progress for a person watching: on stderr, so stdout stays parseable."""

    def __init__(self) -> None:
        self.console = Console(stderr=True, highlight=False)

    def step(self, text: str) -> None:
        self.console.print(f"[bold blue]==>[/] {escape(text)}", soft_wrap=True)

    def track(self, items: Iterable[T], description: str, total: int) -> Iterator[T]:
        yield from track(items, description=f"    {description}", total=total, console=self.console)

    def output(self, line: str) -> None:
        self.console.print(f"    [dim]{escape(line)}[/]", soft_wrap=True)


class TerminalJobProgress(JobProgress):
    """A Rich bar (rows, rows/s, ETA when the total is known) on a terminal; elsewhere a
    log line every ``interval`` seconds, so CI logs and container logs show progress."""

    def __init__(self, interval: float = 10.0) -> None:
        self.console = Console(stderr=True, highlight=False)
        self.interval = interval
        self.done = 0
        self.bar: RichProgress | None = None
        self.task: TaskID | None = None
        self.last = self.started = time.monotonic()

    def start(self, total_rows: int | None) -> None:
        if not self.console.is_terminal:
            return
        self.bar = RichProgress(
            TextColumn("scoring"),
            BarColumn(),
            MofNCompleteColumn(),
            TextColumn("rows"),
            TextColumn("{task.fields[rate]}"),
            TimeRemainingColumn(),
            console=self.console,
        )
        self.task = self.bar.add_task("rows", total=total_rows, rate="")
        self.bar.start()

    def advance(self, rows: int) -> None:
        self.done += rows
        now = time.monotonic()
        rate = f"{self.done / max(now - self.started, 1e-9):,.0f} rows/s"
        if self.bar is not None and self.task is not None:
            self.bar.update(self.task, advance=rows, rate=rate)
        elif now - self.last >= self.interval:
            self.last = now
            log.info("%s rows scored (%s)", f"{self.done:,}", rate)

    def stop(self) -> None:
        if self.bar is not None:
            self.bar.stop()
