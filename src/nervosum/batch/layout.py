"""Where a batch job writes: outputs, rejects, summary, and its per-part work files.

`--output out/scores.parquet` (a file name with a known extension) gives one file: parts
are written to a hidden work folder beside it and merged at the end. `--output out/`
(a folder) gives part files `out/part-FFFFF-CCCCC.<ext>` (input file number, chunk
number). Either way each part leaves a small stats file when complete; it is what
`--resume` looks for, and the work folder is removed once the job has finished.
"""

from __future__ import annotations

import shutil
from dataclasses import dataclass
from pathlib import Path

from nervosum.batch.sinks import SUFFIXES
from nervosum.errors import RequestError

_FORMAT_OF_SUFFIX = {suffix: fmt for fmt, suffix in SUFFIXES.items()}
REJECTS_SUFFIX = ".rejects.jsonl"


@dataclass(frozen=True)
class Layout:
    """The paths of one job."""

    target: Path
    single_file: bool
    format: str
    rejects: Path
    summary: Path

    @property
    def work(self) -> Path:
        if self.single_file:
            return self.target.with_name(f".{self.target.name}.nervosum")
        return self.target / "_nervosum"

    def part_output(self, part: str) -> Path:
        folder = self.work if self.single_file else self.target
        return folder / f"{part}{SUFFIXES[self.format]}"

    def part_stats(self, part: str) -> Path:
        return self.work / f"{part}.json"

    def part_rejects(self, part: str) -> Path:
        return self.work / f"{part}{REJECTS_SUFFIX}"

    def output_parts(self) -> list[Path]:
        """The parts' outputs, in order; not their rejects, which share the work folder
        and, for a JSON Lines output, the suffix (they were merged into the output)."""
        folder = self.work if self.single_file else self.target
        found = folder.glob(f"part-*{SUFFIXES[self.format]}")
        return sorted(p for p in found if not p.name.endswith(REJECTS_SUFFIX))

    def exists(self) -> bool:
        return self.target.is_file() or (self.target.is_dir() and any(self.target.iterdir()))

    def prepare(self, *, resume: bool, overwrite: bool) -> None:
        """Create the folders; refuse to mix a new run into old outputs."""
        if self.exists() and not resume:
            if not overwrite:
                raise RequestError(
                    f"{self.target} already exists",
                    hint="add --overwrite to replace it, or --resume to finish an interrupted run",
                )
            if self.target.is_dir():
                shutil.rmtree(self.target)
            else:
                self.target.unlink()
        if not resume:
            shutil.rmtree(self.work, ignore_errors=True)
        self.work.mkdir(parents=True, exist_ok=True)


def plan_layout(output: str, fmt: str | None, rejects: str | None) -> Layout:
    """The layout for ``--output`` / ``--format`` / ``--rejects``."""
    path = Path(output)
    suffix_format = _FORMAT_OF_SUFFIX.get(path.suffix.lower())
    single = suffix_format is not None and not output.endswith("/") and not path.is_dir()
    chosen = fmt or (suffix_format if single else None) or "parquet"
    if single and fmt and fmt != suffix_format:
        raise RequestError(
            f"--format {fmt} does not match the output file {path.name}",
            hint=f"name the file *{SUFFIXES[fmt]}, or drop --format",
        )
    if single:
        stem = path.with_suffix("")
        default_rejects = stem.with_name(f"{stem.name}{REJECTS_SUFFIX}")
        summary = stem.with_name(f"{stem.name}.summary.json")
    else:
        default_rejects = path / "_rejects.jsonl"
        summary = path / "_summary.json"
    return Layout(
        target=path,
        single_file=single,
        format=chosen,
        rejects=Path(rejects) if rejects else default_rejects,
        summary=summary,
    )
