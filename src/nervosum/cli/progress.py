"""Build progress on the terminal: steps, a bar for loops, tool output dimmed."""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from typing import TypeVar

from rich.console import Console
from rich.markup import escape
from rich.progress import track

from nervosum.build.progress import Progress

T = TypeVar("T")


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
