"""Run a batch job on Spark with the local engine's chunks, parts and results.

Spark only moves rows; scoring is `score_chunk`, the function the local engine uses, so
both engines give the same outputs and the same rejects. To get there:

* every row gets its true 1-based row number in its file. File splits are numbered by
  one small counting job (rows and first `monotonically_increasing_id` per split), which
  turns the id, not contiguous across splits, into a row number without moving data;
* rows are grouped into the local engine's chunks (``(row - 1) // chunk_size``) by one
  shuffle, so part names and contents match the local engine's and `--resume` works;
* the Python workers get Arrow record batches (`mapInArrow`, not `mapInPandas`: pandas
  would turn a nullable integer column into floats and missing text into NaN, and the
  values would no longer be the ones the local engine validates), build `Chunk` objects,
  score them and write the part files themselves; only one small stats row per part
  comes back to the driver.

Workers load the model once per process from a zip of the project folder that the
driver registers with `SparkContext.addFile`, so the code reaches executors on a cluster
too. Outputs are written by the workers to the output path: on a cluster it must be a
folder every executor mounts.
"""

from __future__ import annotations

import hashlib
import logging
import os
import re
import sys
import tempfile
import time
import warnings
import zipfile
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import asdict, dataclass
from functools import partial
from pathlib import Path
from typing import Any

from nervosum.batch.job import (
    JobSpec,
    PartStats,
    Summary,
    finish_outputs,
    finished_part,
    score_part,
    write_summary,
)
from nervosum.batch.layout import Layout
from nervosum.batch.progress import JobProgress
from nervosum.batch.resume import claim_work
from nervosum.batch.sources import Chunk, InputFile, parse_jsonl_line
from nervosum.config import Project
from nervosum.config.load import COMPILE_ENV
from nervosum.drift.background import attach_background
from nervosum.engine import Engine
from nervosum.errors import BatchAbortedError, NervosumError, RequestError
from nervosum.project import load_config

# Helper columns added to the input rows; never passed to the model.
_SPLIT = "__nervosum_split"
_ID = "__nervosum_id"
_ROW = "__nervosum_row"
_CHUNK = "__nervosum_chunk"
_STATS = "part string, rows_in long, rows_out long, rows_rejected long, resumed boolean"
_PANDAS_WARNING = "PySpark does not yet fully support pandas"
_DEFAULT_CONF = {"spark.ui.enabled": "false", "spark.ui.showConsoleProgress": "false"}
_LOCAL_CONF = {"spark.driver.host": "127.0.0.1", "spark.driver.bindAddress": "127.0.0.1"}
_GLOB_CHARS = re.compile(r"([*?\[\]{}\\])")


@dataclass(frozen=True)
class ShippedProject:
    """The project folder as executors see it: a zip registered with `addFile`."""

    archive: str  # file name, unique per content: the worker's model cache key
    config: str  # the config file's path inside the archive
    only_file: str | None = None  # a model file named as the path: loaded by its name


@dataclass(frozen=True)
class FileTask:
    """What a Python worker needs to score the chunks of one input file."""

    project: ShippedProject
    layout: Layout
    spec: JobSpec
    file_index: int
    source: str
    format: str


# --- session -------------------------------------------------------------------------


def _pyspark_session_class() -> Any:
    try:
        from pyspark.sql import SparkSession
    except ImportError:
        raise RequestError(
            "--engine spark needs pyspark", hint="pip install 'nervosum[spark]'"
        ) from None
    return SparkSession


def _parse_conf(pairs: tuple[str, ...]) -> dict[str, str]:
    conf: dict[str, str] = {}
    for pair in pairs:
        key, sep, value = pair.partition("=")
        if not sep or not key.strip():
            raise RequestError(
                f"--conf {pair!r} is not KEY=VALUE", hint="e.g. --conf spark.executor.memory=2g"
            )
        conf[key.strip()] = value
    return conf


@contextmanager
def _pandas_warning_ignored() -> Iterator[None]:
    """pyspark warns that pandas 3 is not fully supported; this job does not use pandas."""
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", message=_PANDAS_WARNING, category=FutureWarning)
        yield


def open_session(master: str = "local[*]", conf: tuple[str, ...] = ()) -> Any:
    """A new (or the default) SparkSession for ``master``, ``conf`` over our defaults.

    Local masters bind to 127.0.0.1 (no network needed); workers run this interpreter,
    which has pyarrow and nervosum, unless PYSPARK_PYTHON says otherwise.
    """
    session_class = _pyspark_session_class()
    settings = dict(_DEFAULT_CONF)
    if master.startswith("local"):
        os.environ.setdefault("SPARK_LOCAL_IP", "127.0.0.1")
        settings.update(_LOCAL_CONF)
    if os.environ.get(COMPILE_ENV):  # --compile / --no-compile, for remote executors too
        settings[f"spark.executorEnv.{COMPILE_ENV}"] = os.environ[COMPILE_ENV]
    settings.update(_parse_conf(conf))
    os.environ.setdefault("PYSPARK_PYTHON", sys.executable)
    logging.getLogger("py4j").setLevel(logging.WARNING)  # a line per closed connection
    builder = session_class.builder.master(master).appName("nervosum batch")
    for key, value in settings.items():
        builder = builder.config(key, value)
    with _pandas_warning_ignored():
        return builder.getOrCreate()


# --- shipping the project --------------------------------------------------------------


def _packed_files(project: Project) -> Iterator[tuple[Path, str]]:
    """(file, name in the zip): the project folder without hidden folders and caches,
    and the config file wherever it is."""
    root = project.project_dir.resolve()
    config = _config_name(project)
    if project.only_file is not None:  # a model file named as the path: just that file
        yield root / project.only_file, project.only_file
        return
    for folder, subfolders, files in os.walk(root):
        subfolders[:] = sorted(
            d for d in subfolders if not d.startswith(".") and d != "__pycache__"
        )
        for name in sorted(files):
            path = Path(folder, name)
            if path.relative_to(root).as_posix() != config:
                yield path, path.relative_to(root).as_posix()
    if project.config_path.is_file():  # none when inferred: the workers infer it again
        yield project.config_path.resolve(), config


def _config_name(project: Project) -> str:
    root, config = project.project_dir.resolve(), project.config_path.resolve()
    if config.is_relative_to(root):
        return config.relative_to(root).as_posix()
    return f".nervosum/{config.name}"


def _pack_project(project: Project) -> Path:
    """Zip the project under a name derived from its content (Spark refuses re-adding a
    name with other content, and the worker cache must see a changed project as new)."""
    folder = Path(tempfile.gettempdir()) / "nervosum-spark"
    folder.mkdir(exist_ok=True)
    handle, partial_name = tempfile.mkstemp(dir=folder, suffix=".tmp")
    os.close(handle)
    partial_path = Path(partial_name)
    try:
        with zipfile.ZipFile(partial_path, "w", zipfile.ZIP_DEFLATED) as archive:
            for path, name in _packed_files(project):
                archive.write(path, name)
        digest = hashlib.sha256(partial_path.read_bytes()).hexdigest()[:20]
        target = folder / f"project-{digest}.zip"
        partial_path.replace(target)
    finally:
        partial_path.unlink(missing_ok=True)
    return target


def _ship_project(context: Any, project: Project) -> ShippedProject:
    archive = _pack_project(project)
    if archive.name not in {Path(uri).name for uri in context.listFiles}:
        context.addFile(str(archive))
    return ShippedProject(archive.name, _config_name(project), project.only_file)


# --- worker side -----------------------------------------------------------------------

_ENGINE: tuple[ShippedProject, Engine] | None = None


def _engine(project: ShippedProject) -> Engine:
    """The model, loaded once per Python worker process (reloaded if the project changed)."""
    global _ENGINE  # noqa: PLW0603 - one engine per worker process, by design
    if _ENGINE is None or _ENGINE[0] != project:
        from pyspark import SparkFiles

        folder = Path(SparkFiles.getRootDirectory()) / f"{project.archive}.{os.getpid()}"
        with zipfile.ZipFile(SparkFiles.get(project.archive)) as archive:
            archive.extractall(folder)
        shipped = folder / project.only_file if project.only_file else folder
        engine = Engine.load(load_config(shipped, project.config))
        attach_background(engine)
        engine.explainer.threads = 1  # Spark runs a task on each core it was given
        _ENGINE = project, engine
    return _ENGINE[1]


def _jsonl_row(row: dict[str, Any]) -> tuple[dict[str, Any] | None, tuple[str, str] | None]:
    """The local JSON Lines rules: a line that is not one JSON object is a reject."""
    text = str(row["value"])
    value, reason = parse_jsonl_line(text.encode())
    return (value, None) if not reason else (None, (text, reason))


def _chunk(task: FileTask, index: int, pieces: list[Any]) -> Chunk:
    """The local engine's chunk ``index`` of the file, from its Arrow pieces in row order.

    CSV and Parquet chunks carry a frame, as the local readers make them, so they take
    the column-wise fast path; JSON Lines chunks carry rows.
    """
    import pyarrow as pa

    table = pa.Table.from_batches(pieces)
    first = index * task.spec.chunk_size + 1
    numbers = table.column(_ROW).to_pylist()
    if numbers != list(range(first, first + len(numbers))):
        raise AssertionError(f"{task.source}: chunk {index} does not hold rows {first}...")
    values = table.drop_columns([_ROW, _CHUNK])
    chunk = Chunk(task.file_index, index, task.source, first, [])
    if task.format != "jsonl":
        frame = values.to_pandas()
        if task.format == "csv":  # the local reader's text cells: empty, never null
            frame = frame.fillna("")
        chunk.frame = frame
        return chunk
    for number, row in zip(numbers, values.to_pylist(), strict=True):
        parsed, unreadable = _jsonl_row(row)
        chunk.rows.append(parsed)
        if unreadable is not None:
            chunk.unreadable[number] = unreadable
    return chunk


def _chunks(task: FileTask, batches: Iterator[Any]) -> Iterator[Chunk]:
    """Cut the partition's rows (sorted by row number) into chunks, one at a time."""
    import numpy as np

    pieces: list[Any] = []
    current: int | None = None
    for batch in batches:
        ids = batch.column(_CHUNK).to_numpy()
        start = 0
        for end in [*(np.flatnonzero(np.diff(ids)) + 1).tolist(), len(ids)]:
            if end == start:
                continue
            index = int(ids[start])
            if current is not None and index != current:
                yield _chunk(task, current, pieces)
                pieces = []
            current = index
            pieces.append(batch.slice(start, end - start))
            start = end
    if current is not None:
        yield _chunk(task, current, pieces)


def score_partition(task: FileTask, batches: Iterator[Any]) -> Iterator[Any]:
    """`mapInArrow` function: score this partition's chunks; one stats row per part."""
    import pyarrow as pa

    for chunk in _chunks(task, batches):
        stats = finished_part(task.layout, chunk) if task.spec.resume else None
        resumed = stats is not None
        if stats is None:
            stats = score_part(_engine(task.project), chunk, task.layout, task.spec)
        row = {k: v for k, v in asdict(stats).items() if k != "predictions"}  # in its file
        yield pa.RecordBatch.from_pylist([{**row, "resumed": resumed}])


# --- driver side -----------------------------------------------------------------------


def _spark_path(path: Path) -> str:
    """A local file as Spark reads it: an absolute file: URL, glob characters escaped."""
    return "file://" + _GLOB_CHARS.sub(r"\\\1", str(path.resolve()))


def _read(session: Any, source: InputFile) -> Any:
    """One input file with a split column and an id that follows row order in each split.

    CSV cells stay text (the schema casts them); multiLine keeps quoted line breaks inside
    a row, as pandas does. JSON Lines are text lines, blank ones skipped before numbering.
    """
    from pyspark.sql import functions as F

    path = _spark_path(source.path)
    if source.format == "csv":
        frame = session.read.csv(path, header=True, inferSchema=False, multiLine=True, escape='"')
    elif source.format == "parquet":
        frame = session.read.parquet(path)
    else:
        frame = session.read.text(path)
    frame = frame.select("*", F.col("_metadata.file_block_start").alias(_SPLIT))
    if source.format == "jsonl":
        frame = frame.where(F.col("value").rlike(r"\S"))
    return frame.withColumn(_ID, F.monotonically_increasing_id())


@dataclass(frozen=True)
class FileRows:
    """How one file's row ids become row numbers, and how many rows it has."""

    offsets: dict[int, int]  # split start -> row number - 1 - id, for the split's rows
    rows: int


def _file_rows(frames: list[Any]) -> list[FileRows]:
    """One job counts the rows of every split of every file.

    Ids are consecutive within a split, and splits in file order hold consecutive rows,
    so each split needs one offset; no data moves and no row is read twice in Python.
    """
    from pyspark.sql import functions as F

    counted = [
        frame.groupBy(_SPLIT)
        .agg(F.min(_ID).alias("first_id"), F.count(F.lit(1)).alias("rows"))
        .withColumn("file", F.lit(index))
        for index, frame in enumerate(frames)
    ]
    offsets: list[dict[int, int]] = [{} for _ in frames]
    rows = [0 for _ in frames]
    for split in sorted(_union(counted).collect(), key=_split_order):
        file = split["file"]
        offsets[file][split[_SPLIT]] = rows[file] - split["first_id"]
        rows[file] += split["rows"]
    return [FileRows(*pair) for pair in zip(offsets, rows, strict=True)]


def _union(frames: list[Any]) -> Any:
    union = frames[0]
    for frame in frames[1:]:
        union = union.unionByName(frame)
    return union


def _split_order(split: Any) -> tuple[int, int]:
    return int(split["file"]), int(split[_SPLIT])


def _scored(frame: Any, rows: FileRows, task: FileTask, parallelism: int) -> Any:
    """The file's stats rows: rows numbered, gathered by chunk in row order, scored."""
    from pyspark.sql import functions as F

    pairs = [F.lit(value).cast("long") for item in rows.offsets.items() for value in item]
    number = F.col(_ID) + F.create_map(*pairs)[F.col(_SPLIT)] + 1
    size = task.spec.chunk_size
    numbered = frame.withColumn(_ROW, number).withColumn(_CHUNK, F.expr(f"({_ROW} - 1) div {size}"))
    chunks = -(-rows.rows // size)
    return (
        numbered.drop(_ID, _SPLIT)
        .repartition(max(1, min(parallelism, chunks)), _CHUNK)
        .sortWithinPartitions(_ROW)
        .mapInArrow(partial(score_partition, task), _STATS)
    )


def _task_failure(error: Exception) -> NervosumError:
    """The worker's own last error line instead of a page of Java and Python frames."""
    lines = [line for line in str(error).splitlines() if line.strip()]
    return NervosumError(
        f"a Spark task failed: {lines[-1].strip() if lines else type(error).__name__}",
        hint="the full Python traceback is in the Spark log above (or the executor logs)",
    )


def _score_files(
    session: Any, project: Project, inputs: list[InputFile], layout: Layout, spec: JobSpec
) -> tuple[int, Any]:
    """(rows in the inputs, the not yet collected stats of every part)."""
    shipped = _ship_project(session.sparkContext, project)
    frames = [_read(session, source) for source in inputs]
    files = _file_rows(frames)
    parallelism = int(session.sparkContext.defaultParallelism)
    scored = [
        _scored(
            frame,
            rows,
            FileTask(shipped, layout, spec, i, str(source.path), source.format),
            parallelism,
        )
        for i, (source, frame, rows) in enumerate(zip(inputs, frames, files, strict=True))
        if rows.rows
    ]
    return sum(rows.rows for rows in files), _union(scored) if scored else None


def _collected(stats: Any) -> list[Any]:
    """Run the scoring job: one stats row per part."""
    from pyspark.errors import PythonException

    try:
        return list(stats.collect()) if stats is not None else []
    except PythonException as exc:
        raise _task_failure(exc) from None


def _account(summary: Summary, parts: list[Any], total: int, progress: JobProgress) -> None:
    for part in parts:
        summary.add(
            PartStats(part["part"], part["rows_in"], part["rows_out"], part["rows_rejected"])
        )
        summary.parts_resumed += int(part["resumed"])
        progress.advance(part["rows_in"])
    if summary.rows_in != total:
        raise AssertionError(f"{summary.rows_in} rows scored of {total} read: rows lost")


@contextmanager
def _session(master: str, conf: tuple[str, ...]) -> Iterator[Any]:
    """The active session (tests share one), else one started and stopped for this job."""
    active = _pyspark_session_class().getActiveSession()
    if active is not None:
        yield active
        return
    session = open_session(master, conf)
    try:
        yield session
    finally:
        session.stop()


def run_spark_job(
    project: Project,
    inputs: list[InputFile],
    layout: Layout,
    spec: JobSpec,
    *,
    master: str,
    conf: tuple[str, ...],
    progress: JobProgress,
) -> Summary:
    """Score every input row into ``layout`` on Spark; the summary (also written to disk).

    An active SparkSession is used as it is (``master`` and ``conf`` are then ignored).
    """
    started = time.monotonic()
    _parse_conf(conf)
    claim_work(project, inputs, layout, spec)
    summary = Summary(
        inputs=[str(i.path) for i in inputs],
        output=str(layout.target),
        rejects=str(layout.rejects),
        engine="spark",
    )
    with _pandas_warning_ignored(), _session(master, conf) as session:
        summary.workers = int(session.sparkContext.defaultParallelism)
        total, stats = _score_files(session, project, inputs, layout, spec)
        progress.start(total)
        try:
            _account(summary, _collected(stats), total, progress)
        finally:
            progress.stop()
    if summary.too_many_rejects(spec.max_rejects):
        summary.status = "aborted"
        write_summary(layout, summary, started)
        raise BatchAbortedError(
            f"{summary.rows_rejected} of {summary.rows_in} rows rejected, more than"
            f" --max-rejects {spec.max_rejects:g}",
            hint="look at the rejects parts for the reasons; --resume reuses the scored parts",
        )
    summary.predictions = finish_outputs(layout)
    summary.status = "ok"
    write_summary(layout, summary, started)
    return summary
