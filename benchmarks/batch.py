"""Batch scoring throughput: nervosum's local and Spark engines against the raw model.

    python benchmarks/batch.py                    # 1M rows, CSV and Parquet, all engines
    python benchmarks/batch.py --rows 200000 --no-spark
    python benchmarks/batch.py --only-profile     # where one worker's time goes (cProfile)

The model is a RandomForest (100 trees, random_state=0) fitted on iris and saved with
joblib, served in the artifact form: compiled to ONNX by default (issue 21), and with
`--no-compile` (scikit-learn). Two ceilings, each on the whole Parquet file in one
process with read time excluded: scikit-learn's `model.predict` on one DataFrame, and
ONNX Runtime's own session (the forest converted by skl2onnx, run on the whole float32
array in one call, with the intra-op threads nervosum gives one batch worker). Each
engine is a `nervosum batch` subprocess with the engine's default chunk size unless
--chunk-size is given. Three rates: "scoring" from the run's summary (reading,
validation, scoring, writing and merging after the model has loaded: the ceiling
excludes loading too), "job" (the same plus the model's load) and "wall", the whole
command (interpreter start-up and imports too), each against the ceiling of the runtime
that served it, with the peak RSS of its largest process.
A second, 4x larger CSV run with one worker shows whether memory stays bounded. Then
issue 21's targets for one worker, CSV in, Parquet out: compiled scoring at >= 3x the
scikit-learn run and >= 70% of ONNX Runtime's own rate (PASS / FAIL for this run; the
machine is shared, compare rows of one run).
"""

from __future__ import annotations

import argparse
import contextlib
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


def onnx_ceiling(project: Path, parquet: Path) -> float:
    """Rows/s of ONNX Runtime alone on the whole array, in this process: the forest
    converted by skl2onnx, labels only (as `probabilities: false` asks), the session set
    up as nervosum sets one batch worker's (sequential, its intra-op threads)."""
    import joblib
    import onnxruntime as ort
    from skl2onnx import convert_sklearn
    from skl2onnx.common.data_types import FloatTensorType

    from nervosum.model.compile.threads import onnx_threads

    model = joblib.load(project / "model.joblib")
    graph = convert_sklearn(
        model,
        initial_types=[("input", FloatTensorType([None, len(FEATURES)]))],
        options={id(model): {"zipmap": False}},
    )
    options = ort.SessionOptions()
    options.execution_mode = ort.ExecutionMode.ORT_SEQUENTIAL
    options.inter_op_num_threads = 1
    options.intra_op_num_threads = onnx_threads(1)
    options.add_session_config_entry("session.intra_op.allow_spinning", "0")
    session = ort.InferenceSession(
        graph.SerializeToString(), options, providers=["CPUExecutionProvider"]
    )
    label = session.get_outputs()[0].name
    array = pd.read_parquet(parquet)[FEATURES].to_numpy(dtype=np.float32)
    session.run([label], {"input": array[:1000]})
    started = time.perf_counter()
    session.run([label], {"input": array})
    return len(array) / (time.perf_counter() - started)


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


# Where one worker's time goes: functions of the job's own thread, by file and name, with
# their cumulative time under cProfile (the read-ahead thread is not profiled: waiting for
# it is what reading costs the job beyond the overlap; reading alone is timed apart).
PHASES = (
    ("load the model", "job.py", "_load_engine"),
    ("wait for the reader (reading not overlapped)", "sources.py", "__next__"),
    ("validate (typed columns)", "columns.py", "typed_frame"),
    ("frame to model array", "handle.py", "frame_inputs"),
    ("predict: whole call", "handle.py", "predict_outputs"),
    ("  of which ONNX Runtime's session.run", "onnxruntime_inference_collection.py", "run"),
    ("  of which rounding to float32 digits", "session.py", "_significant"),
    ("outputs to an Arrow table", "table.py", "outputs_table"),
    ("tally of predictions", "tally.py", "tally"),
    ("write parts (Parquet)", "sinks.py", "write_outputs"),
    ("merge parts", "job.py", "finish_outputs"),
)


def profile(project: Path, source: Path, output: Path, arguments: list[str]) -> None:
    """One worker's job in this process under cProfile, CSV in, Parquet out: seconds per
    phase of the job's thread, then reading the input alone."""
    import cProfile
    import pstats

    from nervosum.batch.job import default_chunk_size
    from nervosum.batch.sources import read_chunks, resolve_inputs
    from nervosum.cli import main as cli

    command = ["batch", str(project), "-i", str(source), "-o", str(output), "-q"]
    command += ["--overwrite", "-w", "1", *arguments]
    profiler = cProfile.Profile()
    started = time.perf_counter()
    with contextlib.suppress(SystemExit):  # the command exits 0 once its summary is out
        profiler.runcall(cli, command, standalone_mode=False)
    total = time.perf_counter() - started
    stats = pstats.Stats(profiler).stats  # type: ignore[attr-defined]
    print(f"\nwhere one worker's time goes ({' '.join(arguments) or 'compiled'}, cProfile):")
    print(f"{'phase':<46} {'seconds':>8} {'share':>6}")
    print(f"{'the whole command, in process':<46} {total:>8.2f} {'100%':>6}")
    for label, file, name in PHASES:
        seconds = sum(
            figures[3]
            for (path, _, function), figures in stats.items()
            if path.endswith(file) and function == name
        )
        print(f"{label:<46} {seconds:>8.2f} {seconds / total:>6.0%}")
    started = time.perf_counter()
    for _ in read_chunks(resolve_inputs(str(source)), default_chunk_size(len(FEATURES))):
        pass
    print(f"{'read the CSV alone (read-ahead thread)':<46} {time.perf_counter() - started:>8.2f}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rows", type=int, default=1_000_000)
    parser.add_argument("--chunk-size", type=int, help="[default: the engine's]")
    parser.add_argument("--no-spark", action="store_true", help="skip the Spark engine")
    parser.add_argument("--no-profile", action="store_true", help="skip the cProfile runs")
    parser.add_argument("--only-profile", action="store_true", help="just the cProfile runs")
    options = parser.parse_args()

    with tempfile.TemporaryDirectory(prefix="nervosum-batch-bench-") as scratch:
        folder = Path(scratch)
        project = make_project(folder)
        inputs = make_inputs(folder, options.rows)
        if options.only_profile:
            for flags in ([], ["--no-compile"]):
                profile(project, inputs["csv"], folder / "profiled", flags)
            return
        big = make_inputs(folder, options.rows * 4)["csv"]
        bests = {
            "off": ceiling(project, inputs["parquet"]),
            "on": onnx_ceiling(project, inputs["parquet"]),
        }
        python = sys.version.split()[0]
        chunks = f"{options.chunk_size:,}" if options.chunk_size else "default"
        print(f"rows: {options.rows:,}; chunk size {chunks}; Python {python}")
        rates = ("scoring", "job", "wall")
        print(
            f"{'engine':<34} {'compile':<7} {'input':<8}"
            + "".join(f" {name + ' rows/s':>14} {'vs ceiling':>10}" for name in rates)
            + f" {'peak RSS':>9}"
        )
        for label, compiled in (
            ("ceiling: model.predict, one frame", "off"),
            ("ceiling: ONNX Runtime, one array", "on"),
        ):
            print(
                f"{label:<34} {compiled:<7} {'parquet':<8} {bests[compiled]:>14,.0f} {'100%':>10}"
            )
        runs: list[tuple[str, str, str, Path, int, list[str]]] = []
        for compiled, flags in (("on", []), ("off", ["--no-compile"])):
            for fmt in ("csv", "parquet"):
                for workers in (1, 2) if compiled == "on" else (1,):
                    runs.append(
                        (
                            f"nervosum local, {workers} worker(s)",
                            compiled,
                            fmt,
                            inputs[fmt],
                            options.rows,
                            ["-w", str(workers), *flags],
                        )
                    )
        if not options.no_spark:
            runs.append(
                (
                    "nervosum spark local[2]",
                    "on",
                    "parquet",
                    inputs["parquet"],
                    options.rows,
                    ["--engine", "spark", "--master", "local[2]"],
                )
            )
        runs.append(
            ("nervosum local, 1 worker, 4x rows", "on", "csv", big, options.rows * 4, ["-w", "1"])
        )
        scoring: dict[tuple[str, str, str], float] = {}
        for label, compiled, fmt, source, rows, extra in runs:
            chunked = (
                [*extra, "--chunk-size", str(options.chunk_size)] if options.chunk_size else extra
            )
            *seconds, peak = engine_run(project, source, folder / "out", chunked)
            scoring.setdefault((label, compiled, fmt), rows / seconds[0])
            best = bests[compiled]
            print(
                f"{label:<34} {compiled:<7} {fmt:<8}"
                + "".join(f" {rows / s:>14,.0f} {rows / s / best:>10.0%}" for s in seconds)
                + f" {peak:>7.0f} MB"
            )
        one = "nervosum local, 1 worker(s)"
        on, off = scoring[(one, "on", "csv")], scoring[(one, "off", "csv")]
        print("\ntargets of issue 21 (one worker, CSV in, Parquet out, scoring rows/s):")
        for target, ratio, needed in (
            ("compiled >= 3x --no-compile (scikit-learn)", on / off, 3.0),
            ("compiled >= 70% of ONNX Runtime's own rows/s", on / bests["on"], 0.7),
        ):
            verdict = "PASS" if ratio >= needed else "FAIL"
            print(f"  {target:<48} {on:,.0f} rows/s: {ratio:.2f}x  {verdict}")
        if not options.no_profile:
            for flags in ([], ["--no-compile"]):
                profile(project, inputs["csv"], folder / "profiled", flags)


if __name__ == "__main__":
    main()
