"""Run a local batch job: chunks scored by worker processes, in bounded memory.

The parent reads the inputs chunk by chunk and hands each chunk to a worker; at most two
chunks per worker are in flight, so memory stays bounded whatever the input size. Each
worker loads the model once and writes its part (outputs, rejects, stats) itself, so the
parent only counts. Parts finished before an interruption are skipped by `--resume`.
Every row is accounted for: `rows_in = rows_out + rows_rejected`, checked per part and
for the job.
"""

from __future__ import annotations

import json
import multiprocessing
import os
import time
from collections.abc import Iterator
from concurrent.futures import FIRST_COMPLETED, Future, ProcessPoolExecutor, wait
from concurrent.futures.process import BrokenProcessPool
from dataclasses import asdict, dataclass, field
from typing import Any

from nervosum.batch.layout import REJECTS_SUFFIX, Layout
from nervosum.batch.progress import JobProgress
from nervosum.batch.resume import claim_work
from nervosum.batch.score import score_chunk
from nervosum.batch.sinks import merge, write_bytes, write_outputs
from nervosum.batch.sources import Chunk, InputFile, ReadAhead, read_chunks
from nervosum.batch.tally import merge as merge_tallies
from nervosum.batch.tally import tally
from nervosum.config import Project
from nervosum.drift.background import attach_background
from nervosum.engine import Engine
from nervosum.errors import BatchAbortedError, NervosumError
from nervosum.jsonio import dumps
from nervosum.model.compile.threads import onnx_threads


@dataclass(frozen=True)
class JobSpec:
    """What to score and how, independent of where the inputs come from."""

    chunk_size: int = 100_000
    workers: int = 1
    proba: bool = False
    explain: bool = False  # each row's attributions beside its prediction
    keep_columns: tuple[str, ...] = ()
    max_rejects: float | None = None  # a count (>= 1) or a ratio of the rows read (< 1)
    resume: bool = False


@dataclass
class PartStats:
    part: str
    rows_in: int
    rows_out: int
    rows_rejected: int
    predictions: dict[str, Any] = field(default_factory=dict)  # batch/tally.py


@dataclass
class Summary:
    """The job's account: the JSON summary file and the closing line."""

    status: str = "running"
    rows_in: int = 0
    rows_out: int = 0
    rows_rejected: int = 0
    parts: int = 0
    parts_resumed: int = 0
    seconds: float = 0.0
    rows_per_second: float = 0.0
    load_seconds: float = 0.0  # until every worker had its model (reading starts meanwhile)
    scoring_rows_per_second: float = 0.0  # rows over the time after the model loaded
    inputs: list[str] = field(default_factory=list)
    output: str = ""
    rejects: str = ""
    engine: str = "local"
    workers: int = 1
    predictions: dict[str, Any] = field(default_factory=dict)

    def add(self, stats: PartStats) -> None:
        self.rows_in += stats.rows_in
        self.rows_out += stats.rows_out
        self.rows_rejected += stats.rows_rejected
        self.parts += 1

    def too_many_rejects(self, limit: float | None) -> bool:
        if limit is None:
            return False
        if limit >= 1:
            return self.rows_rejected > limit
        return self.rows_in > 0 and self.rows_rejected / self.rows_in > limit


_ENGINE: Engine | None = None


def _load_engine(project: Project, workers: int) -> None:
    """Worker initializer: load the model once per process (the project as the command
    line made it, so its overrides reach every worker)."""
    global _ENGINE  # noqa: PLW0603 - one engine per worker process, by design
    _ENGINE = Engine.load(project, threads=onnx_threads(workers))
    attach_background(_ENGINE)
    _ENGINE.explainer.threads = onnx_threads(workers)


def _ready() -> bool:
    """A no-op task: returns once this worker has loaded its model."""
    return _ENGINE is not None


def _score_part(chunk: Chunk, layout: Layout, spec: JobSpec) -> PartStats:
    """Pool task: score a chunk with this worker's engine."""
    assert _ENGINE is not None
    return score_part(_ENGINE, chunk, layout, spec)


def score_part(engine: Engine, chunk: Chunk, layout: Layout, spec: JobSpec) -> PartStats:
    """Score a chunk and write its part; the stats file, written last, marks it done.

    Both engines (local workers, Spark's Python workers) write parts through this.
    """
    result = score_chunk(
        engine,
        chunk,
        proba=spec.proba,
        explain=spec.explain,
        keep_columns=spec.keep_columns,
        table=layout.format != "jsonl",
    )
    predicted = tally(result.outputs, engine.handle.output_names[0])
    stats = PartStats(chunk.part, chunk.size, len(result.outputs), len(result.rejects), predicted)
    if stats.rows_in != stats.rows_out + stats.rows_rejected:
        raise AssertionError(f"{chunk.part}: {stats} does not account for every row")
    if len(result.outputs):
        write_outputs(layout.part_output(chunk.part), result.outputs, layout.format)
    if result.rejects:
        write_outputs(layout.part_rejects(chunk.part), result.rejects, "jsonl")
    write_bytes(layout.part_stats(chunk.part), dumps(asdict(stats)))
    return stats


def finished_part(layout: Layout, chunk: Chunk) -> PartStats | None:
    """The stats of a part an earlier run completed (what --resume skips), or None."""
    path = layout.part_stats(chunk.part)
    if not path.is_file():
        return None
    return PartStats(**json.loads(path.read_bytes()))


class _Runner:
    """Score parts in this process (one worker) or in a pool (several)."""

    def __init__(self, project: Project, workers: int) -> None:
        self.pool: ProcessPoolExecutor | None = None
        args = (project, workers)
        if workers == 1:
            _load_engine(*args)
            return
        # forkserver: workers fork from a fresh, thread-free server that has nervosum and
        # its heavy imports preloaded (cheaper than spawn, safer than forking this process).
        methods = multiprocessing.get_all_start_methods()
        context = multiprocessing.get_context("forkserver" if "forkserver" in methods else "spawn")
        if "forkserver" in methods:
            context.set_forkserver_preload(["nervosum.batch.job"])
        self.pool = ProcessPoolExecutor(workers, context, _load_engine, args)
        # Start every worker (and load every model) now: a model that cannot load fails
        # here, before any input is read.
        for future in [self.pool.submit(_ready) for _ in range(workers)]:
            future.result()

    def submit(self, chunk: Chunk, layout: Layout, spec: JobSpec) -> Future[PartStats]:
        if self.pool is not None:
            return self.pool.submit(_score_part, chunk, layout, spec)
        done: Future[PartStats] = Future()
        done.set_result(_score_part(chunk, layout, spec))
        return done

    def close(self, *, cancel: bool) -> None:
        if self.pool is not None:
            self.pool.shutdown(wait=True, cancel_futures=cancel)


def _completed(pending: set[Future[PartStats]], block: bool) -> Iterator[PartStats]:
    if not pending:
        return
    done, _ = wait(pending, timeout=None if block else 0, return_when=FIRST_COMPLETED)
    for future in done:
        pending.discard(future)
        yield future.result()


def finish_outputs(layout: Layout) -> dict[str, Any]:
    """Merge parts into the final files and rejects, drop the work folder; the merged
    tally of what the parts predicted."""
    stats = sorted(layout.work.glob("part-*.json"))
    predicted = merge_tallies([json.loads(p.read_bytes()).get("predictions", {}) for p in stats])
    if layout.single_file:
        merge(layout.output_parts(), layout.target, layout.format)
    rejects = sorted(layout.work.glob(f"part-*{REJECTS_SUFFIX}"))
    layout.rejects.parent.mkdir(parents=True, exist_ok=True)
    merge(rejects, layout.rejects, "jsonl")
    for path in layout.work.iterdir():
        path.unlink()
    layout.work.rmdir()
    return predicted


def _rate(rows: int, seconds: float) -> float:
    return round(rows / seconds, 1) if seconds > 0 else 0.0


def write_summary(layout: Layout, summary: Summary, started: float) -> None:
    summary.seconds = round(time.monotonic() - started, 3)
    summary.rows_per_second = _rate(summary.rows_in, summary.seconds)
    summary.scoring_rows_per_second = _rate(summary.rows_in, summary.seconds - summary.load_seconds)
    layout.summary.parent.mkdir(parents=True, exist_ok=True)
    write_bytes(layout.summary, json.dumps(asdict(summary), indent=2).encode() + b"\n")


def _broken() -> NervosumError:
    return NervosumError(
        "a worker process could not load the model or died; its error is printed above",
        hint="run with --workers 1 to see the error in this process",
    )


def run_job(
    project: Project,
    inputs: list[InputFile],
    layout: Layout,
    spec: JobSpec,
    *,
    progress: JobProgress,
    total_rows: int | None = None,
) -> Summary:
    """Score every input row into ``layout``; the summary (also written to disk)."""
    started = time.monotonic()
    claim_work(project, inputs, layout, spec)
    summary = Summary(
        inputs=[str(i.path) for i in inputs],
        output=str(layout.target),
        rejects=str(layout.rejects),
        workers=spec.workers,
    )
    pending: set[Future[PartStats]] = set()
    cancel = True
    chunks = ReadAhead(read_chunks(inputs, spec.chunk_size))  # reads while the model loads
    runner: _Runner | None = None
    try:
        runner = _Runner(project, spec.workers)
        summary.load_seconds = round(time.monotonic() - started, 3)
        progress.start(total_rows)
        for chunk in chunks:
            done = finished_part(layout, chunk) if spec.resume else None
            if done is not None:
                summary.parts_resumed += 1
                finished: list[PartStats] = [done]
            else:
                while len(pending) >= 2 * spec.workers:
                    _account(_completed(pending, True), summary, progress, spec)
                pending.add(runner.submit(chunk, layout, spec))
                finished = list(_completed(pending, False))
            _account(iter(finished), summary, progress, spec)
        while pending:
            _account(_completed(pending, True), summary, progress, spec)
        cancel = False
    except BatchAbortedError:
        summary.status = "aborted"
        write_summary(layout, summary, started)
        raise
    except BrokenProcessPool:
        raise _broken() from None
    finally:
        chunks.close()
        if runner is not None:
            runner.close(cancel=cancel)
        progress.stop()
    summary.predictions = finish_outputs(layout)
    summary.status = "ok"
    write_summary(layout, summary, started)
    return summary


def _account(
    finished: Iterator[PartStats], summary: Summary, progress: JobProgress, spec: JobSpec
) -> None:
    for stats in finished:
        summary.add(stats)
        progress.advance(stats.rows_in)
        if summary.too_many_rejects(spec.max_rejects):
            raise BatchAbortedError(
                f"{summary.rows_rejected} of {summary.rows_in} rows rejected so far, more than"
                f" --max-rejects {spec.max_rejects:g}; stopped",
                hint="look at the rejects parts for the reasons; --resume continues after a fix",
            )


def default_workers() -> int:
    return os.cpu_count() or 1


def default_chunk_size(columns: int) -> int:
    """Rows per chunk for rows of about ``columns`` cells: up to 100,000 rows, so a
    model's fixed cost per call (a forest's per-tree dispatch, a pipeline's checks) is
    paid rarely, but no more than about two million cells, so memory stays bounded
    however wide the rows are."""
    return max(1_000, min(100_000, 2_000_000 // max(columns, 1)))


def describe(summary: Summary) -> str:
    """The closing line."""
    return (
        f"{summary.rows_in} rows in, {summary.rows_out} out, {summary.rows_rejected} rejected"
        f" in {summary.seconds:.1f}s ({summary.rows_per_second:,.0f} rows/s)"
    )
