"""Where nervosum keeps what it builds: `NERVOSUM_HOME` (default `~/.nervosum`).

$NERVOSUM_HOME/
  index.sqlite        the registry index (one row per bundle)
  bundles/<id>/       one folder per bundle, named by its content id
  tmp/                bundles being written (renamed into bundles/ when complete)
  cache/              repacked wheels and run environments ($NERVOSUM_CACHE moves it)
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path


@dataclass(frozen=True)
class Home:
    """The folders of one registry."""

    root: Path
    cache: Path

    @classmethod
    def from_env(cls) -> Home:
        """The registry named by the environment, created on first use."""
        root = Path(os.environ.get("NERVOSUM_HOME") or Path.home() / ".nervosum").expanduser()
        cache = Path(os.environ.get("NERVOSUM_CACHE") or root / "cache").expanduser()
        home = cls(root.resolve(), cache.resolve())
        for folder in (home.bundles, home.tmp, home.cache):
            folder.mkdir(parents=True, exist_ok=True)
        return home

    @property
    def index(self) -> Path:
        return self.root / "index.sqlite"

    @property
    def bundles(self) -> Path:
        return self.root / "bundles"

    @property
    def tmp(self) -> Path:
        return self.root / "tmp"

    @property
    def wheels(self) -> Path:
        return self.cache / "wheels"

    @property
    def envs(self) -> Path:
        return self.cache / "envs"
