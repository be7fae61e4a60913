"""`nervosum batch` with the local engine: formats, casting, rejects, the invariant, resume."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from tests.conftest import EXAMPLES

pytestmark = pytest.mark.slow


def batch(*args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "nervosum", "batch", *args],
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
        env={**os.environ, **(env or {})},
    )


def write_csv(path: Path, rows: list[str]) -> Path:
    path.write_text("\n".join(rows) + "\n")
    return path


def summary_of(path: Path) -> dict[str, object]:
    return dict(json.loads(path.read_text()))


def rejects_of(path: Path) -> list[dict[str, object]]:
    return [json.loads(line) for line in path.read_text().splitlines() if line.strip()]


def test_csv_strings_are_cast_and_bad_rows_rejected_with_reasons(
    tmp_path: Path, doubler: Path
) -> None:
    source = write_csv(
        tmp_path / "in.csv",
        [
            "key,x,n,comment",
            "a,1.5,2,fine",
            "b,abc,1,not a number",
            "c,,1,x missing",
            "d,13,1,the model raises",
            "e,4,,n takes its default",
            "f,2,2.5,n is not an integer",
        ],
    )
    out = tmp_path / "out" / "scores.parquet"
    result = batch(str(doubler), "--input", str(source), "--output", str(out), "-w", "1")
    assert result.returncode == 0, result.stderr
    assert "6 rows in, 2 out, 4 rejected" in result.stdout

    table = pq.read_table(out)
    assert table.column_names == ["key", "y"]
    assert table.schema.field("y").type == pa.float64()
    assert table.to_pylist() == [{"key": "a", "y": 6.0}, {"key": "e", "y": 8.0}]

    rejects = rejects_of(tmp_path / "out" / "scores.rejects.jsonl")
    assert [(r["row"], r["values"]["key"]) for r in rejects] == [  # type: ignore[index]
        (2, "b"),
        (3, "c"),
        (4, "d"),
        (6, "f"),
    ]
    reasons = [str(r["reason"]) for r in rejects]
    assert reasons[0].startswith("x: Input should be a valid number")
    assert reasons[1] == "x: required field is missing"
    assert "the model raised ValueError" in reasons[2]
    assert reasons[3].startswith("n: Input should be a valid integer")
    assert rejects[0]["file"] == str(source)

    summary = summary_of(tmp_path / "out" / "scores.summary.json")
    assert summary["status"] == "ok"
    assert (summary["rows_in"], summary["rows_out"], summary["rows_rejected"]) == (6, 2, 4)
    assert summary["engine"] == "local" and summary["workers"] == 1
    # the model's load is timed apart, so the scoring rate excludes it
    load, seconds = float(summary["load_seconds"]), float(summary["seconds"])  # type: ignore[arg-type]
    assert 0 < load < seconds
    scoring = float(summary["scoring_rows_per_second"])  # type: ignore[arg-type]
    assert scoring == pytest.approx(6 / (seconds - load), rel=0.01)
    assert not (tmp_path / "out" / ".scores.parquet.nervosum").exists()


def test_jsonl_in_csv_out_keeps_columns_and_rejects_unreadable_lines(
    tmp_path: Path, doubler: Path
) -> None:
    source = tmp_path / "in.jsonl"
    source.write_text(
        '{"key": 1, "x": 1, "note": "kept"}\n'
        "{not json\n"
        "\n"
        "[1, 2]\n"
        '{"key": 4, "x": 2.5, "n": 3, "note": "also"}\n'
    )
    out = tmp_path / "scores.csv"
    args = ["--input", str(source), "--output", str(out), "--keep-columns", "note", "-w", "1"]
    result = batch(str(doubler), *args)
    assert result.returncode == 0, result.stderr
    # Arrow writes the CSV: text quoted, floats in their shortest form.
    assert out.read_text().splitlines() == ['"key","note","y"', '1,"kept",2', '4,"also",15']
    rejects = rejects_of(tmp_path / "scores.rejects.jsonl")
    assert [r["row"] for r in rejects] == [2, 3]
    assert str(rejects[0]["reason"]).startswith("not valid JSON")
    assert rejects[0]["values"] == "{not json"
    assert rejects[1]["reason"] == "a line must hold one JSON object"


def test_parquet_in_jsonl_out_with_probabilities(tmp_path: Path) -> None:
    source = tmp_path / "in.parquet"
    rows = {
        "sepal_length": [5.1, 6.7],
        "sepal_width": [3.5, 3.0],
        "petal_length": [1.4, 5.2],
        "petal_width": [0.2, 2.3],
    }
    pq.write_table(pa.table(rows), source)
    out = tmp_path / "scores.jsonl"
    result = batch(str(EXAMPLES / "iris"), "-i", str(source), "-o", str(out), "--proba", "-w", "1")
    assert result.returncode == 0, result.stderr
    records = [json.loads(line) for line in out.read_text().splitlines()]
    assert [r["prediction"] for r in records] == [0, 2]
    assert set(records[0]["probabilities"]) == {"0", "1", "2"}


def test_folder_output_parts_and_workers_agree(tmp_path: Path, doubler: Path) -> None:
    landing = tmp_path / "landing"
    landing.mkdir()
    for index in range(3):
        lines = ["key,x"] + [f"k{index}-{i},{i + index}" for i in range(25)]
        write_csv(landing / f"batch{index}.csv", lines)
    one = tmp_path / "one"
    two = tmp_path / "two"
    common = ["--input", str(landing / "*.csv"), "--chunk-size", "10", "--format", "csv"]
    first = batch(str(doubler), *common, "--output", f"{one}/", "-w", "1")
    second = batch(str(doubler), *common, "--output", str(two), "-w", "2")
    assert first.returncode == 0, first.stderr
    assert second.returncode == 0, second.stderr
    parts = sorted(p.name for p in one.glob("part-*.csv"))
    assert parts == [f"part-{f:05d}-{c:05d}.csv" for f in range(3) for c in range(3)]
    assert [p.name for p in sorted(two.glob("part-*.csv"))] == parts
    for name in parts:
        assert (one / name).read_text() == (two / name).read_text()
    assert summary_of(two / "_summary.json")["rows_in"] == 75
    assert summary_of(two / "_summary.json")["rows_out"] == 72
    assert summary_of(two / "_summary.json")["workers"] == 2
    rejected = rejects_of(one / "_rejects.jsonl")  # x == 13 once per file: the model raises
    assert [(Path(str(r["file"])).name, r["row"]) for r in rejected] == [
        ("batch0.csv", 14),
        ("batch1.csv", 13),
        ("batch2.csv", 12),
    ]
    assert rejects_of(two / "_rejects.jsonl") == [
        {**r, "reason": rejects_of(two / "_rejects.jsonl")[i]["reason"]}
        for i, r in enumerate(rejected)
    ]
    frame = pd.concat(pd.read_csv(one / name) for name in parts)
    assert frame["key"].tolist()[:3] == ["k0-0", "k0-1", "k0-2"]


def test_max_rejects_aborts_with_exit_1(tmp_path: Path, doubler: Path) -> None:
    source = write_csv(tmp_path / "in.csv", ["key,x", *[f"r{i},bad" for i in range(30)]])
    out = tmp_path / "out.csv"
    args = ["--input", str(source), "--output", str(out), "--chunk-size", "10", "-w", "1"]
    result = batch(str(doubler), *args, "--max-rejects", "5")
    assert result.returncode == 1
    assert "more than --max-rejects 5" in result.stderr
    summary = summary_of(tmp_path / "out.summary.json")
    assert summary["status"] == "aborted"
    assert summary["rows_in"] == 10 and summary["rows_rejected"] == 10
    ratio = batch(str(doubler), *args, "--max-rejects", "50%", "--overwrite")
    assert ratio.returncode == 1


def test_usage_errors_exit_2(tmp_path: Path, doubler: Path) -> None:
    source = write_csv(tmp_path / "in.csv", ["key,x", "a,1"])
    out = tmp_path / "out.csv"
    assert batch(str(doubler), "-i", str(source), "-o", str(out)).returncode == 0
    again = batch(str(doubler), "-i", str(source), "-o", str(out))
    assert (
        again.returncode == 2 and "already exists" in again.stderr and "--overwrite" in again.stderr
    )
    missing = batch(str(doubler), "-i", str(tmp_path / "nothing*.csv"), "-o", str(out))
    assert missing.returncode == 2 and "no input files" in missing.stderr
    odd = tmp_path / "in.txt"
    odd.write_text("key,x\n")
    unknown = batch(str(doubler), "-i", str(odd), "-o", str(tmp_path / "o2.csv"))
    assert unknown.returncode == 2 and "--input-format" in unknown.stderr
    bad_ratio = batch(str(doubler), "-i", str(source), "-o", str(out), "--max-rejects", "1.5")
    assert bad_ratio.returncode == 2
    ragged = write_csv(tmp_path / "ragged.csv", ["key,x", "a,1", "b,2,3,4"])
    broken = batch(str(doubler), "-i", str(ragged), "-o", str(tmp_path / "o3.csv"))
    assert broken.returncode == 2 and "is not a well-formed CSV file" in broken.stderr
    assert "Traceback" not in broken.stderr


def test_resume_after_a_kill_gives_the_uninterrupted_output(tmp_path: Path, doubler: Path) -> None:
    source = write_csv(tmp_path / "in.csv", ["key,x", *[f"r{i},{i % 12}" for i in range(200)]])
    full = tmp_path / "full.csv"
    assert (
        batch(str(doubler), "-i", str(source), "-o", str(full), "--chunk-size", "10").returncode
        == 0
    )

    out = tmp_path / "resumed.csv"
    work = tmp_path / ".resumed.csv.nervosum"
    command = [sys.executable, "-m", "nervosum", "batch", str(doubler), "-i", str(source)]
    command += ["-o", str(out), "--chunk-size", "10", "-w", "1", "-q"]
    slow = {**os.environ, "DOUBLER_SLEEP": "0.2"}
    process = subprocess.Popen(
        command, env=slow, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
    )
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline and len(list(work.glob("part-*.json"))) < 4:
        time.sleep(0.05)
    process.send_signal(signal.SIGKILL)
    process.wait()
    done_before = len(list(work.glob("part-*.json")))
    assert 4 <= done_before < 20 and not out.exists()

    resumed = batch(
        str(doubler), "-i", str(source), "-o", str(out), "--chunk-size", "10", "--resume"
    )
    assert resumed.returncode == 0, resumed.stderr
    assert out.read_text() == full.read_text()
    summary = summary_of(tmp_path / "resumed.summary.json")
    assert summary["parts_resumed"] == done_before
    assert (summary["rows_in"], summary["rows_out"]) == (200, 200)


def test_the_summary_tallies_what_was_predicted(tmp_path: Path, doubler: Path) -> None:
    source = write_csv(tmp_path / "in.csv", ["key,x", "a,1", "b,2", "c,13", "d,0.5"])
    out = tmp_path / "out" / "scores.parquet"
    args = ["--input", str(source), "--output", str(out), "-w", "1", "--chunk-size", "2"]
    result = batch(str(doubler), *args)
    assert result.returncode == 0, result.stderr
    predictions = summary_of(tmp_path / "out" / "scores.summary.json")["predictions"]
    assert predictions == {"kind": "values", "count": 3, "sum": 7.0, "mean": 7 / 3,
                           "min": 1.0, "max": 4.0}  # fmt: skip

    iris_out = tmp_path / "iris" / "scores.csv"
    rows = ["sepal_length,sepal_width,petal_length,petal_width", "5.1,3.5,1.4,0.2",
            "6.7,3.0,5.2,2.3", "5.0,3.4,1.5,0.2"]  # fmt: skip
    iris_in = write_csv(tmp_path / "iris.csv", rows)
    result = batch(str(EXAMPLES / "iris"), "-i", str(iris_in), "-o", str(iris_out), "-w", "1")
    assert result.returncode == 0, result.stderr
    summary = summary_of(tmp_path / "iris" / "scores.summary.json")
    assert summary["predictions"] == {"kind": "classes", "counts": {"0": 2, "2": 1}}


def test_explain_adds_contributions_that_add_up_and_rejects_stay_accounted(
    tmp_path: Path,
) -> None:
    import joblib
    from sklearn.datasets import load_iris
    from sklearn.ensemble import RandomForestClassifier

    features, target = load_iris(return_X_y=True, as_frame=True)
    features.columns = ["sl", "sw", "pl", "pw"]
    forest = RandomForestClassifier(n_estimators=10, random_state=0).fit(features, target)
    joblib.dump(forest, tmp_path / "forest.joblib")
    source = write_csv(
        tmp_path / "in.csv", ["sl,sw,pl,pw", "5.1,3.5,1.4,0.2", "x,3,5,2", "6.7,3.0,5.2,2.3"]
    )
    out = tmp_path / "scores.parquet"
    result = batch(
        str(tmp_path / "forest.joblib"), "-i", str(source), "-o", str(out), "--explain", "-w", "1"
    )
    assert result.returncode == 0, result.stderr
    scored = pd.read_parquet(out)
    contributions = [f"contribution_{name}" for name in features.columns]
    assert list(scored.columns) == ["prediction", "base_value", "explained", *contributions]
    rows = pd.DataFrame([[5.1, 3.5, 1.4, 0.2], [6.7, 3.0, 5.2, 2.3]], columns=features.columns)
    probability = forest.predict_proba(rows)
    for index, row in scored.iterrows():
        column = int(row["explained"])
        total = row["base_value"] + row[contributions].sum()
        assert total == pytest.approx(probability[index, column], abs=1e-6)
    (reject,) = rejects_of(tmp_path / "scores.rejects.jsonl")
    assert reject["row"] == 2


def test_explain_refuses_a_model_it_cannot_explain_before_scoring(tmp_path: Path) -> None:
    from tests.integration.test_explain_http import text_model

    folder = text_model(tmp_path / "words")
    source = write_csv(tmp_path / "in.csv", ["word", "hello"])
    out = tmp_path / "scores.csv"
    refused = batch(str(folder), "-i", str(source), "-o", str(out), "--explain", "-w", "1")
    assert refused.returncode == 2, refused.stderr
    assert "explanations need numeric inputs; word is not" in refused.stderr
    assert not out.exists()
    import joblib
    from sklearn.datasets import load_iris
    from sklearn.tree import DecisionTreeClassifier

    features, target = load_iris(return_X_y=True, as_frame=True)
    features.columns = ["sl", "sw", "pl", "pw"]
    joblib.dump(DecisionTreeClassifier().fit(features, target), tmp_path / "tree.joblib")
    clash = batch(
        str(tmp_path / "tree.joblib"),
        "-i",
        str(source),
        "-o",
        str(out),
        "--explain",
        "--keep-columns",
        "base_value",
    )
    assert clash.returncode == 2, clash.stderr
    assert "--explain adds base_value" in clash.stderr
