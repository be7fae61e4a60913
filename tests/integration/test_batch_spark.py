"""`run_spark_job`: the same outputs and rejects as the local engine, on one shared session.

Every job runs in-process on one local[2] session (a cold session costs ~15 s, a job
1-3 s). Both engines score the same inputs and their outputs are compared as read back.
"""

from __future__ import annotations

import json
import re
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from nervosum.batch.job import JobSpec, Summary, run_job
from nervosum.batch.layout import Layout, plan_layout
from nervosum.batch.progress import JobProgress
from nervosum.batch.sources import resolve_inputs
from nervosum.batch.spark import open_session, run_spark_job
from nervosum.errors import BatchAbortedError, NervosumError, RequestError
from nervosum.project import load_config
from tests.conftest import DOUBLER, EXAMPLES, ProjectFactory

pytestmark = pytest.mark.slow

ERROR_ID = re.compile(r"error id [0-9a-f]+")


@dataclass
class Run:
    summary: Summary
    layout: Layout


@pytest.fixture(scope="session")
def spark() -> Iterator[Any]:
    """The one session every test here shares (run_spark_job reuses the active session)."""
    conf = ("spark.sql.shuffle.partitions=2", "spark.driver.memory=1g")
    session = open_session("local[2]", conf)
    yield session
    session.stop()


@contextmanager
def small_splits(spark: Any) -> Iterator[None]:
    """Split even small files into several partitions, as big files are on a cluster."""
    key = "spark.sql.files.maxPartitionBytes"
    spark.conf.set(key, "4096")
    try:
        yield
    finally:
        spark.conf.unset(key)


def run(engine: str, project_dir: Path, source: Path, output: Path, spec: JobSpec) -> Run:
    project = load_config(project_dir)
    inputs = resolve_inputs(str(source))
    layout = plan_layout(str(output), None, None)
    layout.prepare(resume=False, overwrite=False)
    if engine == "local":
        summary = run_job(project, inputs, layout, spec, progress=JobProgress())
    else:
        summary = run_spark_job(
            project, inputs, layout, spec, master="local[2]", conf=(), progress=JobProgress()
        )
    return Run(summary, layout)


def both(project_dir: Path, source: Path, tmp_path: Path, output: str, spec: JobSpec) -> Run:
    """Score with both engines; check they agree (outputs, rejects, counts); the Spark run."""
    local = run("local", project_dir, source, tmp_path / "local" / output, spec)
    spark = run("spark", project_dir, source, tmp_path / "spark" / output, spec)
    assert read_back(spark.layout) == read_back(local.layout)
    assert rejects_of(spark.layout) == rejects_of(local.layout)
    counts = ("rows_in", "rows_out", "rows_rejected", "parts", "predictions")
    assert [getattr(spark.summary, c) for c in counts] == [
        getattr(local.summary, c) for c in counts
    ]
    assert spark.summary.rows_in == spark.summary.rows_out + spark.summary.rows_rejected
    assert spark.summary.engine == "spark" and spark.summary.status == "ok"
    assert json.loads(spark.layout.summary.read_text())["engine"] == "spark"
    assert not spark.layout.work.exists()
    return spark


def read_jsonl(path: Path) -> list[dict[str, Any]]:
    return [json.loads(line) for line in path.read_text().splitlines() if line.strip()]


def rejects_of(layout: Layout) -> list[dict[str, Any]]:
    """The rejects, the random error id of a model failure left out."""
    text = ERROR_ID.sub("error id ?", layout.rejects.read_text())
    return [json.loads(line) for line in text.splitlines()]


def read_back(layout: Layout) -> dict[str, bytes]:
    """Output file name -> content (one file, or the part files of a folder)."""
    if layout.single_file:
        return {layout.target.name: layout.target.read_bytes()}
    return {p.name: p.read_bytes() for p in layout.output_parts()}


@pytest.mark.usefixtures("spark")
def test_csv_text_cells_give_the_local_outputs_and_rejects(tmp_path: Path, doubler: Path) -> None:
    source = tmp_path / "in.csv"
    source.write_text(
        "key,x,n,note\n"
        "a,1.5,2,fine\n"
        "b,abc,1,not a number\n"
        "c,,1,x missing\n"
        "d,13,1,the model raises\n"
        'e,4,,"n defaults, and a\nline break"\n'
        "f,2,2.5,n is not an integer\n"
        "\n"
        'g,"3",1,""\n'
        "h,0.5,4,\n"
    )
    spec = JobSpec(chunk_size=3, workers=1, keep_columns=("note",))
    spark = both(doubler, source, tmp_path, "scores.parquet", spec)
    assert pq.read_table(spark.layout.target).to_pylist() == [
        {"note": "fine", "key": "a", "y": 6.0},
        {"note": "n defaults, and a\nline break", "key": "e", "y": 8.0},
        {"note": None, "key": "g", "y": 6.0},
        {"note": None, "key": "h", "y": 4.0},
    ]
    assert [r["row"] for r in read_jsonl(spark.layout.rejects)] == [2, 3, 4, 6]


def test_split_parquet_and_jsonl_keep_types_and_row_numbers(
    spark: Any, tmp_path: Path, doubler: Path
) -> None:
    landing = tmp_path / "landing"
    landing.mkdir()
    numbers = [None if i % 7 == 0 else i % 3 + 1 for i in range(400)]
    table = pa.table({"key": [f"p{i}" for i in range(400)], "x": range(400), "n": numbers})
    pq.write_table(table, landing / "a.parquet", row_group_size=40)
    lines = [json.dumps({"key": f"j{i}", "x": i}) if i % 50 else "[1]" for i in range(300)]
    lines[77], lines[120] = "{not json", "   "
    (landing / "b [1].jsonl").write_text("\n".join(lines) + "\n")
    with small_splits(spark):
        assert spark.read.parquet(str(landing / "a.parquet")).rdd.getNumPartitions() > 1
        result = both(doubler, landing, tmp_path, "out/", JobSpec(chunk_size=64, workers=1))
    assert result.summary.rows_in == 699
    rejected = [(Path(str(r["file"])).suffix, r["row"]) for r in read_jsonl(result.layout.rejects)]
    assert (".jsonl", 78) in rejected and (".jsonl", 250) in rejected
    assert (".parquet", 14) in rejected  # x == 13: the model raises


@pytest.mark.usefixtures("spark")
def test_iris_example_with_probabilities(tmp_path: Path) -> None:
    from sklearn.datasets import load_iris

    rows = load_iris().data
    header = "sepal_length,sepal_width,petal_length,petal_width"
    source = tmp_path / "iris.csv"
    source.write_text("\n".join([header, *(",".join(map(str, r)) for r in rows)]) + "\n")
    spec = JobSpec(chunk_size=40, workers=1, proba=True)
    result = both(EXAMPLES / "iris", source, tmp_path, "scores.csv", spec)
    assert (result.summary.rows_out, result.summary.parts) == (150, 4)
    assert result.layout.target.read_text().splitlines()[0].startswith('"prediction","probability_')


@pytest.mark.usefixtures("spark")
def test_a_model_file_named_as_the_path_scores_on_spark(tmp_path: Path) -> None:
    import joblib
    from sklearn.datasets import load_iris
    from sklearn.ensemble import RandomForestClassifier

    features, target = load_iris(return_X_y=True, as_frame=True)
    features.columns = ["sl", "sw", "pl", "pw"]
    downloads = tmp_path / "downloads"
    downloads.mkdir()
    forest = RandomForestClassifier(n_estimators=10, random_state=0).fit(features, target)
    joblib.dump(forest, downloads / "forest.bin")  # known by its bytes, not its name
    (downloads / "holiday.mov").write_bytes(b"not shipped to the workers")
    source = tmp_path / "rows.csv"
    features.to_csv(source, index=False)
    spec = JobSpec(chunk_size=50, workers=1, proba=False)
    result = both(downloads / "forest.bin", source, tmp_path, "scores.csv", spec)
    lines = result.layout.target.read_text().splitlines()
    assert [int(line.strip('"')) for line in lines[1:]] == forest.predict(features).tolist()
    explained = JobSpec(chunk_size=50, workers=1, explain=True)  # the same on both engines
    result = both(downloads / "forest.bin", source, tmp_path, "explained.jsonl", explained)
    first = read_jsonl(result.layout.target)[0]
    assert {"base_value", "explained", "contribution_sl"} <= set(first)


@pytest.mark.usefixtures("spark")
def test_too_many_rejects_abort_after_the_job_and_resume_reuses_the_parts(
    tmp_path: Path, doubler: Path
) -> None:
    source = tmp_path / "in.csv"
    source.write_text("key,x\n" + "".join(f"r{i},{'bad' if i % 2 else i}\n" for i in range(20)))
    out = tmp_path / "out.csv"
    with pytest.raises(BatchAbortedError, match="10 of 20 rows rejected"):
        run("spark", doubler, source, out, JobSpec(chunk_size=5, max_rejects=0.25))
    summary = json.loads(out.with_name("out.summary.json").read_text())
    assert (summary["status"], summary["rows_rejected"]) == ("aborted", 10)

    project, inputs = load_config(doubler), resolve_inputs(str(source))
    layout = plan_layout(str(out), None, None)
    layout.prepare(resume=True, overwrite=False)
    resumed = run_spark_job(
        project,
        inputs,
        layout,
        JobSpec(chunk_size=5, resume=True),
        master="local[2]",
        conf=(),
        progress=JobProgress(),
    )
    assert (resumed.parts_resumed, resumed.rows_in, resumed.rows_out) == (4, 20, 10)
    assert len(out.read_text().splitlines()) == 11


@pytest.mark.usefixtures("spark")
def test_a_model_that_fails_on_the_workers_is_one_readable_error(
    tmp_path: Path, make_project: ProjectFactory
) -> None:
    broken = make_project(DOUBLER, {"doubler.py": "raise RuntimeError('no weights here')\n"})
    source = tmp_path / "in.csv"
    source.write_text("key,x\na,1\n")
    with pytest.raises(NervosumError, match=r"a Spark task failed: .*no weights here"):
        run("spark", broken, source, tmp_path / "out.csv", JobSpec())


def test_without_pyspark_the_error_says_what_to_install(
    tmp_path: Path, doubler: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    source = tmp_path / "in.csv"
    source.write_text("key,x\na,1\n")
    monkeypatch.setitem(sys.modules, "pyspark.sql", None)
    with pytest.raises(RequestError, match="needs pyspark") as caught:
        run("spark", doubler, source, tmp_path / "out.csv", JobSpec())
    assert caught.value.hint == "pip install 'nervosum[spark]'"


def test_conf_must_be_key_value(tmp_path: Path, doubler: Path) -> None:
    source = tmp_path / "in.csv"
    source.write_text("key,x\na,1\n")
    project, inputs = load_config(doubler), resolve_inputs(str(source))
    layout = plan_layout(str(tmp_path / "out.csv"), None, None)
    with pytest.raises(RequestError, match="not KEY=VALUE"):
        run_spark_job(
            project, inputs, layout, JobSpec(), master="local", conf=("x",), progress=JobProgress()
        )
