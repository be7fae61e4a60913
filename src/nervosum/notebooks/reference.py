"""Live drift's reference for a notebooks build: the rows the notebooks trained on.

What a pipeline trained on is only known inside its notebooks (they read whatever files
they like), so the build asks for it as it asks for each stage: every kernel gets
``NERVOSUM_REFERENCE_FILE``, an absolute path, and a notebook that saves its training
rows there (the pipeline's inputs as clients send them, without the label; CSV, Parquet
or JSON lines by the suffix) gets them profiled into ``reference-profile.json`` beside
``stages.json``, as ``nervosum train`` profiles the rows it loaded. ``-e
NERVOSUM_REFERENCE_FILE=PATH`` (or the build's environment) names another file,
relative to the repository, such as a committed sample of typical inputs; a named file
that is not there once the notebooks ran fails the build (docs/notebooks.md). A default
file the repository holds (left over from running the notebooks locally) is removed
before they run, as a committed stage file is: only rows this build's notebooks saved
are profiled.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

from nervosum.build.progress import Progress
from nervosum.config import Project
from nervosum.drift.profile import PROFILE_FILE
from nervosum.errors import BuildError
from nervosum.notebooks.paths import check_inside
from nervosum.schema.tables import read_table
from nervosum.training.profile import write_training_profile

REFERENCE_VARIABLE = "NERVOSUM_REFERENCE_FILE"
# Where a notebook saves its training rows unless the build names another file.
DEFAULT_REFERENCE = "nervosum-reference.parquet"


def reference_name(variables: Mapping[str, str]) -> str | None:
    """The file the kernels' ``variables`` name for the training rows (None: the
    default); a :class:`RequestError` when it is not inside the repository, checked
    before anything is fetched or run, since the build would write it there."""
    named = variables.get(REFERENCE_VARIABLE) or None
    if named is not None:
        check_inside(named, REFERENCE_VARIABLE, f"-e {REFERENCE_VARIABLE}=data/sample.csv")
    return named


@dataclass(frozen=True)
class ReferenceRows:
    """The file the notebooks may save their training rows to, and how the user named
    it (None: the default, which a notebook may or may not write)."""

    path: Path
    named: str | None

    @classmethod
    def of(cls, root: Path, named: str | None) -> ReferenceRows:
        """The file for a repository copied to ``root``, named by :func:`reference_name`."""
        return cls(root / (named or DEFAULT_REFERENCE), named)

    def remove_stale(self) -> None:
        """Remove the default file from the private copy before the notebooks run: one
        committed or left over from a local run must not pass for rows they saved. A
        named file stays: it may be a committed sample the notebooks do not write."""
        if self.named is None:
            self.path.unlink(missing_ok=True)

    @property
    def variable(self) -> dict[str, str]:
        """The kernels' variable: absolute, so notebooks in any folder write one file."""
        return {REFERENCE_VARIABLE: str(self.path.absolute())}


def profile_reference(rows: ReferenceRows, project: Project, progress: Progress) -> Path | None:
    """Profile the saved rows against the built ``project``'s model into its folder; the
    profile written, or None when no notebook saved any and none were named."""
    name = rows.named or DEFAULT_REFERENCE
    if not rows.path.is_file():
        if rows.named is not None:
            raise BuildError(
                f"{REFERENCE_VARIABLE} names {name}, which is not there once the notebooks ran",
                hint="commit the file, or save the training rows to it in a notebook",
            )
        progress.step(
            f"no notebook saved its training rows to ${REFERENCE_VARIABLE}: no reference"
            " profile for live drift"
        )
        return None
    try:
        frame = read_table(rows.path)
    except Exception as exc:  # pandas raises many kinds for a malformed file
        raise BuildError(
            f"the training rows in {name} cannot be read: {exc}",
            hint="save them with DataFrame.to_parquet, to_csv or to_json(lines=True)",
        ) from None
    if frame.empty:
        raise BuildError(f"the training rows in {name} are none", hint="save the rows trained on")
    written = write_training_profile(project, frame, f"nervosum notebooks build: {name}")
    if written is not None:
        progress.step(f"wrote {PROFILE_FILE} (live drift's reference: {len(frame)} rows of {name})")
    return written
