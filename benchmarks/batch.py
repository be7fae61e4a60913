"""Batch scoring throughput: nervosum's local and Spark engines against the raw model.

    python benchmarks/batch.py                    # 1M rows, CSV and Parquet, all engines
    python benchmarks/batch.py --rows 200000 --no-spark

The model is a RandomForest (100 trees, random_state=0) fitted on iris and saved with
joblib, served in the artifact form. The ceiling is `model.predict` on the whole
Parquet file as one DataFrame in one process (read time excluded). Each engine is a
`nervosum batch` subprocess with the engine's default chunk size unless --chunk-size is
given. Three rates: "scoring" from the run's summary (reading, validation, scoring,
writing and merging after the model has loaded: the ceiling excludes loading too), "job"
(the same plus the model's load) and "wall", the whole command (interpreter start-up and
imports too), with the peak RSS of its largest process.
A second, 4x larger CSV run with one worker shows whether memory stays bounded. Figures,
not pass/fail: compare rows of one run.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import pandas as pd

FEATURES = ["sepal_length", "sepal_width", "petal_length", "petal_width"]

CONFIG = """\
name: iris_rf
model:
  artifact: model.joblib
  probabilities: false
input_schema:
  - {name: sepal_length, type: float}
  - {name: sepal_width, type: float}
  - {name: petal_length, type: float}
  - {name: petal_width, type: float}
"""


def make_project(folder: Path) -> Path:
    import joblib
    from sklearn.datasets import load_iris
    from sklearn.ensemble import RandomForestClassifier

    iris = load_iris()
    frame = pd.DataFrame(iris.data, columns=FEATURES)
    model = RandomForestClassifier(n_estimators=100, random_state=0).fit(frame, iris.target)
    project = folder / "project"
    project.mkdir()
    joblib.dump(model, project / "model.joblib")
    (project / "nervosum.yaml").write_text(CONFIG)
    return project


def make_inputs(folder: Path, rows: int) -> dict[str, Path]:
    rng = np.random.default_rng(0)
    low = np.array([4.3, 2.0, 1.0, 0.1])
    high = np.array([7.9, 4.4, 6.9, 2.5])
    values = np.round(rng.uniform(low, high, size=(rows, 4)), 1)
    frame = pd.DataFrame(values, columns=FEATURES)
    paths = {"csv": folder / f"rows-{rows}.csv", "parquet": folder / f"rows-{rows}.parquet"}
    frame.to_csv(paths["csv"], index=False)
    frame.to_parquet(paths["parquet"], index=False)
    return paths


def ceiling(project: Path, parquet: Path) -> float:
    """Rows/s of the bare model on the whole frame, in this process."""
    import joblib

    model = joblib.load(project / "model.joblib")
    frame = pd.read_parquet(parquet)
    model.predict(frame.head(1000))
    started = time.perf_counter()
    model.predict(frame)
    return len(frame) / (time.perf_counter() - started)


# Runs a command and prints the peak RSS (KiB) of its largest descendant: one fresh
# process per measurement, since RUSAGE_CHILDREN only ever grows within a process.
PEAK_WRAPPER = (
    "import resource, subprocess, sys; code = subprocess.run(sys.argv[1:]).returncode;"
    " print(resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss, file=sys.stderr);"
    " sys.exit(code)"
)


def engine_run(
    project: Path, source: Path, output: Path, arguments: list[str]
) -> tuple[float, float, float, float]:
    """(scoring seconds, job seconds, wall seconds, peak RSS in MiB of the largest
    process) of one `nervosum batch` run."""
    command = [sys.executable, "-m", "nervosum", "batch", str(project), "-i", str(source)]
    command += ["-o", str(output), "-q", "--overwrite", *arguments]
    started = time.perf_counter()
    result = subprocess.run(
        [sys.executable, "-c", PEAK_WRAPPER, *command], capture_output=True, text=True, check=False
    )
    seconds = time.perf_counter() - started
    if result.returncode != 0:
        raise SystemExit(f"{' '.join(command)} failed:\n{result.stderr}")
    summary = json.loads((output / "_summary.json").read_text())
    job = summary["seconds"]
    peak = int(result.stderr.strip().splitlines()[-1]) / 1024
    return job - summary["load_seconds"], job, seconds, peak


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rows", type=int, default=1_000_000)
    parser.add_argument("--chunk-size", type=int, help="[default: the engine's]")
    parser.add_argument("--no-spark", action="store_true", help="skip the Spark engine")
    options = parser.parse_args()

    with tempfile.TemporaryDirectory(prefix="nervosum-batch-bench-") as scratch:
        folder = Path(scratch)
        project = make_project(folder)
        inputs = make_inputs(folder, options.rows)
        big = make_inputs(folder, options.rows * 4)["csv"]
        best = ceiling(project, inputs["parquet"])
        python = sys.version.split()[0]
        chunks = f"{options.chunk_size:,}" if options.chunk_size else "default"
        print(f"rows: {options.rows:,}; chunk size {chunks}; Python {python}")
        rates = ("scoring", "job", "wall")
        print(
            f"{'engine':<34} {'input':<8}"
            + "".join(f" {name + ' rows/s':>14} {'vs ceiling':>10}" for name in rates)
            + f" {'peak RSS':>9}"
        )
        label = "ceiling: model.predict, one frame"
        print(f"{label:<34} {'parquet':<8} {best:>14,.0f} {'100%':>10}")
        runs: list[tuple[str, str, Path, int, list[str]]] = []
        for fmt in ("csv", "parquet"):
            for workers in (1, 2):
                runs.append(
                    (
                        f"nervosum local, {workers} worker(s)",
                        fmt,
                        inputs[fmt],
                        options.rows,
                        ["-w", str(workers)],
                    )
                )
        if not options.no_spark:
            runs.append(
                (
                    "nervosum spark local[2]",
                    "parquet",
                    inputs["parquet"],
                    options.rows,
                    ["--engine", "spark", "--master", "local[2]"],
                )
            )
        runs.append(
            ("nervosum local, 1 worker, 4x rows", "csv", big, options.rows * 4, ["-w", "1"])
        )
        for label, fmt, source, rows, extra in runs:
            chunked = (
                [*extra, "--chunk-size", str(options.chunk_size)] if options.chunk_size else extra
            )
            *seconds, peak = engine_run(project, source, folder / "out", chunked)
            print(
                f"{label:<34} {fmt:<8}"
                + "".join(f" {rows / s:>14,.0f} {rows / s / best:>10.0%}" for s in seconds)
                + f" {peak:>7.0f} MB"
            )


if __name__ == "__main__":
    main()
