"""Conversion results kept between loads, keyed by what decides them.

The key is the sha256 of the model file (every file of a folder, with its relative
path), the versions of the libraries that convert, and the graph's input types: a
retrained model, an upgraded converter or a changed schema converts again, and so does
another nervosum (its conversion options may differ). Only the conversion is cached; the
check against the original runs at every load. The cache is a convenience: a folder
that cannot be read or written (a read-only file system) costs a conversion per load,
with one warning, never the load.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import tempfile
from collections.abc import Sequence
from dataclasses import asdict
from pathlib import Path

from nervosum.home import Home
from nervosum.model.compile.convert import InputType, library_version

_LIBRARIES = ("onnx", "skl2onnx", "onnxmltools", "scikit-learn", "xgboost", "lightgbm")

log = logging.getLogger("nervosum.model.compile")


def file_digest(path: Path) -> str:
    """sha256 of a file, or of every file under a folder (names included)."""
    digest = hashlib.sha256()
    files = sorted(p for p in path.rglob("*") if p.is_file()) if path.is_dir() else [path]
    for file in files:
        digest.update(file.relative_to(path).as_posix().encode() if path.is_dir() else b"")
        with file.open("rb") as handle:
            for block in iter(lambda: handle.read(1 << 20), b""):
                digest.update(block)
    return digest.hexdigest()


def cache_key(path: Path, inputs: Sequence[InputType]) -> str:
    """The name a conversion of this file, with these libraries and inputs, is kept under."""
    from nervosum import __version__

    parts = {
        "nervosum": __version__,
        "model": file_digest(path),
        "libraries": {name: library_version(name) for name in _LIBRARIES},
        "inputs": [asdict(i) for i in inputs],
    }
    return hashlib.sha256(json.dumps(parts, sort_keys=True).encode()).hexdigest()


def cache_folder() -> Path:
    """``$NERVOSUM_HOME/cache/onnx`` (under ``$NERVOSUM_CACHE`` when that is set)."""
    return Home.from_env().cache / "onnx"


def load(key: str) -> bytes | None:
    """The cached ONNX model, or None (not cached, or the cache cannot be read)."""
    try:
        return (cache_folder() / f"{key}.onnx").read_bytes()
    except FileNotFoundError:
        return None
    except OSError as exc:
        log.warning("the ONNX cache cannot be read (%s): converting at every load", exc)
        return None


def forget(key: str) -> None:
    """Drop an entry that does not load (a truncated file): the next load converts."""
    try:
        (cache_folder() / f"{key}.onnx").unlink(missing_ok=True)
    except OSError as exc:
        log.warning("the ONNX cache entry %s cannot be removed (%s)", key, exc)


def store(key: str, model: bytes) -> None:
    """Write atomically (a temporary file renamed in place): workers loading at the same
    time never read half a model. A cache that cannot be written is a warning."""
    try:
        folder = cache_folder()
        folder.mkdir(parents=True, exist_ok=True)
        handle, temporary = tempfile.mkstemp(dir=folder, suffix=".tmp")
    except OSError as exc:
        log.warning("the ONNX cache cannot be written (%s): converting at every load", exc)
        return
    try:
        with os.fdopen(handle, "wb") as out:
            out.write(model)
        os.replace(temporary, folder / f"{key}.onnx")
    except BaseException:
        Path(temporary).unlink(missing_ok=True)
        raise
