"""What ``--resume`` checks before it reuses an interrupted run's parts.

A part is one chunk of one input file (``part-FFFFF-CCCCC``), so parts can only be reused
by a run that cuts the same inputs into the same chunks and scores them the same way.
Each run records how it does that (``job.json`` in the work folder) before it scores
anything; a resume whose record differs is refused, naming what changed. Without this a
resume with another ``--chunk-size`` (which also follows ``--keep-columns`` when not
given) counted the old parts as new chunks: 3000 rows in were reported as 4000, status
ok (issue 20).
"""

from __future__ import annotations

import hashlib
import json
from pathlib import Path
from typing import TYPE_CHECKING, Any

from nervosum.batch.layout import Layout
from nervosum.batch.sinks import write_bytes
from nervosum.batch.sources import InputFile
from nervosum.build.ignore import IgnoreRules, bundle_sources
from nervosum.config import Project
from nervosum.errors import RequestError

if TYPE_CHECKING:
    from nervosum.batch.job import JobSpec

RECORD = "job.json"


def _inputs(inputs: list[InputFile]) -> list[dict[str, Any]]:
    """Each input by path, size and modification time: rewriting or appending to a file
    changes its chunks."""
    found = []
    for item in inputs:
        status = item.path.stat()
        found.append(
            {
                "path": str(item.path.resolve()),
                "format": item.format,
                "bytes": status.st_size,
                "mtime_ns": status.st_mtime_ns,
            }
        )
    return found


def _is_output(path: Path, layout: Layout) -> bool:
    """Whether ``path`` is something this job writes (an output inside the project)."""
    written = [layout.target, layout.work, layout.rejects, layout.summary]
    return any(path == p or p in path.parents for p in (w.resolve() for w in written))


def model_digest(project: Project, layout: Layout) -> str:
    """sha256 over the project's files (the ones a bundle holds) by content, so a
    retrained model or edited code is a different model, and a touched file is not."""
    root = project.project_dir.resolve()
    digest = hashlib.sha256()
    files = {root / p for p in bundle_sources(project, IgnoreRules.for_project(root))}
    config = project.config_path.resolve()  # absent when inferred (a model file, a seed)
    for path in sorted({config, *files} if config.is_file() else files):
        if _is_output(path.resolve(), layout):
            continue
        name = path.relative_to(root).as_posix() if root in path.parents else str(path)
        with path.open("rb") as handle:
            content = hashlib.file_digest(handle, "sha256").digest()
        digest.update(name.encode() + b"\0" + content)
    return digest.hexdigest()


def job_record(
    project: Project, inputs: list[InputFile], layout: Layout, spec: JobSpec
) -> dict[str, Any]:
    """How this run cuts and scores its inputs: what a resumed run must repeat."""
    return {
        "chunk_size": spec.chunk_size,
        "keep_columns": list(spec.keep_columns),
        "proba": spec.proba,
        "explain": spec.explain,
        "format": layout.format,
        "inputs": _inputs(inputs),
        "model": model_digest(project, layout),
    }


def _shown(value: Any) -> str:
    if isinstance(value, list):
        return ",".join(map(str, value)) or "(none)"
    return str(value).lower() if isinstance(value, bool) else str(value)


def _changes(before: dict[str, Any], now: dict[str, Any]) -> list[str]:
    """What differs between the interrupted run's record and this run's, in words."""
    changes = []
    for key, flag in (
        ("chunk_size", "--chunk-size"),
        ("keep_columns", "--keep-columns"),
        ("proba", "--proba"),
        ("explain", "--explain"),
        ("format", "--format"),
    ):
        if before.get(key) != now[key]:
            changes.append(f"{flag} {_shown(before.get(key))} then, {_shown(now[key])} now")
    old_inputs = {i["path"]: i for i in before.get("inputs", [])}
    new_inputs = {i["path"]: i for i in now["inputs"]}
    for path in sorted(old_inputs.keys() - new_inputs.keys()):
        changes.append(f"the input {path} is no longer given")
    for path in sorted(new_inputs.keys() - old_inputs.keys()):
        changes.append(f"the input {path} is new")
    for path in sorted(old_inputs.keys() & new_inputs.keys()):
        if old_inputs[path] != new_inputs[path]:
            changes.append(f"the input {path} changed (size or modification time)")
    if old_inputs.keys() == new_inputs.keys() and list(old_inputs) != list(new_inputs):
        changes.append("the inputs are given in another order")
    if before.get("model") != now["model"]:
        changes.append("the model's project files changed")
    return changes


def claim_work(project: Project, inputs: list[InputFile], layout: Layout, spec: JobSpec) -> None:
    """Check a resume against the interrupted run's record (:class:`RequestError` naming
    what changed), then write this run's record before any part is scored."""
    path = layout.work / RECORD
    record = job_record(project, inputs, layout, spec)
    resume = spec.resume
    hint = (
        "rerun without --resume (with --overwrite) to score everything again,"
        " or resume with the interrupted run's options and inputs"
    )
    if resume and path.is_file():
        changes = _changes(json.loads(path.read_bytes()), record)
        if changes:
            raise RequestError(
                f"--resume: {'; '.join(changes)}: the finished parts in {layout.work}"
                " do not fit this run",
                hint=hint,
            )
    elif resume and any(layout.work.glob("part-*.json")):
        raise RequestError(
            f"--resume: {layout.work} holds no record of how its parts were cut"
            " (an older nervosum wrote them), so they cannot be checked against this run",
            hint=hint,
        )
    write_bytes(path, json.dumps(record, indent=2).encode() + b"\n")
