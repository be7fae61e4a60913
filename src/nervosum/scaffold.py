"""Render the project template that ``nervosum init`` creates."""

from __future__ import annotations

from importlib.resources import files
from importlib.resources.abc import Traversable
from pathlib import Path
from string import Template

from nervosum.errors import RequestError

_TEMPLATE = files("nervosum") / "templates" / "init"


def _walk(node: Traversable, prefix: Path) -> list[tuple[Path, Traversable]]:
    found: list[tuple[Path, Traversable]] = []
    for child in sorted(node.iterdir(), key=lambda c: c.name):
        if child.name == "__pycache__":
            continue
        if child.is_dir():
            found.extend(_walk(child, prefix / child.name))
        else:
            found.append((prefix / child.name, child))
    return found


def create_project(name: str, target: Path) -> list[Path]:
    """Write the template into ``target`` (which must be absent or empty); return the files."""
    if target.exists() and (not target.is_dir() or any(target.iterdir())):
        raise RequestError(
            f"{target} already exists and is not empty", hint="choose another name or -d"
        )
    written: list[Path] = []
    for relative, source in _walk(_TEMPLATE, Path()):
        text = Template(source.read_text(encoding="utf-8")).safe_substitute(name=name)
        path = target / relative
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text, encoding="utf-8")
        written.append(path)
    return written
