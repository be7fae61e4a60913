"""Reading a table of rows from a file, whichever of the usual formats it is in: the
references, backgrounds and logs users name are CSV, Parquet or JSON lines."""

from __future__ import annotations

from pathlib import Path

import pandas as pd

__all__ = ["read_table"]


def read_table(path: Path) -> pd.DataFrame:
    """A CSV, Parquet or JSON-lines file (by suffix; anything else is read as CSV)."""
    if path.suffix.lower() == ".parquet":
        return pd.read_parquet(path)
    if path.suffix.lower() in (".jsonl", ".ndjson"):
        return pd.read_json(path, lines=True)
    return pd.read_csv(path)
