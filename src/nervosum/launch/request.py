"""What `nervosum run` was asked for besides which bundle."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass


@dataclass(frozen=True)
class RunRequest:
    """What `nervosum run` was asked for besides the bundle."""

    host: str | None = None
    port: int | None = None
    env: Sequence[str] = ()
    volumes: Sequence[str] = ()
    image: bool = False
    arguments: Sequence[str] = ()

    def environment(self) -> dict[str, str]:
        """The `-e KEY=VALUE` pairs as a mapping."""
        return dict(item.split("=", 1) for item in self.env)
