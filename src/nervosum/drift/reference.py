"""Reading a reference table, and finding the one ``monitoring.reference`` names."""

from __future__ import annotations

from pathlib import Path

import pandas as pd

from nervosum.config import Project
from nervosum.errors import ConfigError, ConfigIssue
from nervosum.schema.tables import read_table

# The rows a profile is made from at most: a bigger file is sampled (seeded), since the
# deciles and category shares of 100,000 rows are as good as those of millions.
MAX_ROWS = 100_000


def _issue(project: Project, message: str, hint: str) -> ConfigError:
    filename = project.config_path.name
    return ConfigError(filename, [ConfigIssue("monitoring.reference", message, hint=hint)])


def reference_path(project: Project) -> Path | None:
    """The file ``monitoring.reference`` names (project-relative), None without one; a
    missing file is the exit-2 config error naming the key."""
    name = project.config.monitoring.reference
    if name is None:
        return None
    path = project.project_dir / name
    if not path.is_file():
        raise _issue(
            project,
            f"reference file {name!r} not found in {project.project_dir}",
            "a CSV, Parquet or JSON-lines file of typical inputs, relative to the project",
        )
    return path


def read_reference(project: Project, path: Path) -> pd.DataFrame:
    """The reference's rows (at most :data:`MAX_ROWS`, sampled); unreadable is the same
    config error as a missing file."""
    try:
        frame = read_table(path)
    except Exception as exc:  # pandas raises many kinds for a malformed file
        raise _issue(
            project,
            f"reference file {path.name!r} cannot be read: {exc}",
            "use a .csv, .parquet or .jsonl file",
        ) from None
    if frame.empty:
        raise _issue(project, f"reference file {path.name!r} has no rows", "give typical inputs")
    return bounded(frame)


def bounded(frame: pd.DataFrame) -> pd.DataFrame:
    """At most :data:`MAX_ROWS` rows of ``frame``, a seeded sample (the same rows every
    time, so a rebuilt profile is the same), numbered from 0."""
    if len(frame) > MAX_ROWS:
        frame = frame.sample(MAX_ROWS, random_state=0)
    return frame.reset_index(drop=True)
