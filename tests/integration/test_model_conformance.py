"""The conformance corpus of issue 21: every model file of the corpus answers over HTTP,
in batch and in a stream exactly what its own library predicts offline (classes equal,
probabilities within 1e-5 absolute, values within 1e-6 relative), compiled (the default,
``auto``) and with ``--no-compile``; a model whose conversion disagrees falls back, and
``--compile`` then refuses to serve it.

Costs are kept down by serving the whole corpus from one ``serve-repo`` per mode, by
running the batch CLI in this process (``--workers 1``), and by streaming one model per
format.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import uuid
from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager, ExitStack
from functools import partial
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest
import yaml
from click.testing import CliRunner

from nervosum.cli import main
from nervosum.model.files.read import infer_mapping
from tests.conftest import (
    LiveServer,
    free_port,
    metric_samples,
    spawned_nervosum,
    spawned_server,
    wait_ready,
)
from tests.integration.model_corpus import Corpus, Entry, Expected
from tests.services.brokers import Broker, running

pytestmark = pytest.mark.slow  # real brokers and worker processes

MODES = ["auto", "off"]
FLAGS = {"auto": (), "off": ("--no-compile",)}
PROBABILITY = 1e-5  # absolute, model.compile.tolerance.probabilities' default
VALUE = 1e-6  # relative, model.compile.tolerance.values' default
# The original library of each model, by the corpus name's first word after "mlflow_".
LIBRARY = {
    "sk": "scikit-learn ",
    "sklearn": "scikit-learn ",
    "xgb": "xgboost ",
    "xgboost": "xgboost ",
    "lgb": "lightgbm ",
    "lightgbm": "lightgbm ",
    "onnx": "onnxruntime ",
    "pyfunc": "mlflow ",
}
# Served by its own library under compile auto too, and why (the check's first words).
FALLS_BACK = {
    "mlflow_pyfunc": "unsupported: PyFuncModel",
    # float32 sums of LightGBM's leaves: 1.6e-06 relative off on a drawn row near 0
    "lgb_booster_regression": "value differs by",
    # LightGBM compares float64 inputs with float64 thresholds, the graph float32 ones:
    # the check's probes right at the splits find a row between the two
    "lgb_booster_multi": "class differs on reference row",
    "lgb_booster_unnamed": "class differs on reference row",
    "lgb_sklearn_joblib": "class differs on reference row",
    "mlflow_lightgbm": "class differs on reference row",
}
STREAMED = [  # one model per format
    "sk_text_pipeline",
    "xgb_booster_multi",
    "lgb_booster_unnamed",
    "onnx_forest_zipmap",
    "mlflow_sklearn_skops",
]


@pytest.fixture(scope="session")
def corpus(tmp_path_factory: pytest.TempPathFactory) -> list[Entry]:
    return Corpus(tmp_path_factory.mktemp("corpus")).build()


@pytest.fixture(scope="session")
def conformance_env(tmp_path_factory: pytest.TempPathFactory) -> dict[str, str]:
    """A home of the corpus' own, so the first load of each model converts (cache miss)."""
    home = tmp_path_factory.mktemp("conformance-home")
    return {**os.environ, "NERVOSUM_HOME": str(home), "NERVOSUM_CACHE": str(home / "cache")}


def by_name(corpus: list[Entry], name: str) -> Entry:
    return next(entry for entry in corpus if entry.name == name)


def test_the_corpus_covers_every_format_and_kind(corpus: list[Entry]) -> None:
    assert len(corpus) >= 20
    assert {e.format for e in corpus} == {"sklearn", "xgboost", "lightgbm", "onnx", "mlflow"}
    assert len([e for e in corpus if e.format == "mlflow"]) == 6
    kinds = {(e.format, e.expected.classes is None) for e in corpus}
    assert ("sklearn", True) in kinds and ("sklearn", False) in kinds
    binary = [
        e for e in corpus if e.expected.probabilities and len(e.expected.probabilities[0]) == 2
    ]
    multi = [
        e for e in corpus if e.expected.probabilities and len(e.expected.probabilities[0]) == 3
    ]
    assert binary and multi


# The answers ---------------------------------------------------------------------------------


def assert_answers(entry: Entry, answers: list[dict[str, Any]], where: str) -> None:
    """``answers`` (one record per row: prediction, probabilities) against the original's."""
    expected = entry.expected
    label = f"{entry.name} ({where})"
    assert len(answers) == len(entry.rows), label
    if expected.values is not None:
        np.testing.assert_allclose(
            [float(a["prediction"]) for a in answers], expected.values, rtol=VALUE, atol=1e-9,
            err_msg=label,
        )  # fmt: skip
        return
    assert expected.classes is not None and expected.probabilities is not None
    assert [str(a["prediction"]) for a in answers] == expected.classes, label
    for answer, probabilities in zip(answers, expected.probabilities, strict=True):
        assert "probabilities" in answer, f"{label}: no probabilities in {answer}"
        got = answer["probabilities"]
        assert set(got) == set(probabilities), label
        worst = max(abs(got[c] - p) for c, p in probabilities.items())
        assert worst <= PROBABILITY, f"{label}: {got} vs {probabilities}"


def assert_runtime(entry: Entry, mode: str, runtime: str) -> None:
    """ONNX Runtime under compile auto (unless the model falls back), else its library."""
    if mode == "auto" and entry.name not in FALLS_BACK:
        assert runtime.startswith("onnxruntime "), f"{entry.name}: {runtime}"
    else:
        library = LIBRARY[entry.name.removeprefix("mlflow_").split("_")[0]]
        assert runtime.startswith(library), f"{entry.name}: {runtime}"


def every(checks: list[tuple[str, Callable[[], None]]]) -> None:
    """Run every check and report all that failed, so one model does not hide the rest."""
    failed = []
    for name, check in checks:
        try:
            check()
        except AssertionError as error:
            failed.append(f"{name}: {error}")
    assert not failed, "\n".join(failed)


# HTTP: one serve-repo per mode over the whole corpus -----------------------------------------


def repo_of(corpus: list[Entry], root: Path, mode: str) -> Path:
    """A copy of the corpus' folders: as they are for ``auto`` (a folder holding one model
    file or an MLflow model is a model), with the nervosum.yaml `nervosum init --from`
    writes plus ``model.compile`` for another mode (serve-repo has no --no-compile)."""
    for entry in corpus:
        folder = root / entry.name
        shutil.copytree(entry.path.parent if entry.path.is_file() else entry.path, folder)
        if mode == "auto":
            continue
        mapping = infer_mapping(folder / entry.path.name if entry.path.is_file() else folder)
        mapping["model"]["compile"] = mode
        (folder / "nervosum.yaml").write_text(yaml.safe_dump(mapping), encoding="utf-8")
    return root


@pytest.fixture(scope="module", params=MODES)
def repo_server(
    request: pytest.FixtureRequest,
    corpus: list[Entry],
    conformance_env: dict[str, str],
    tmp_path_factory: pytest.TempPathFactory,
) -> Iterator[tuple[str, LiveServer]]:
    mode = request.param
    root = repo_of(corpus, tmp_path_factory.mktemp(f"repo-{mode}"), mode)
    port = free_port()
    args = ("serve-repo", str(root), "--port", str(port), "--no-watch", "--base-url", "corpus")
    with spawned_nervosum(*args, env=conformance_env, port=port) as server:
        wait_ready(server, timeout=180)
        yield mode, server


def test_http_answers_like_the_original(
    repo_server: tuple[str, LiveServer], corpus: list[Entry]
) -> None:
    mode, server = repo_server
    with server.client() as client:
        models = {m["name"]: m for m in client.get("/models").json()["models"]}
        failed = {n: m.get("error") for n, m in models.items() if m["status"] != "ready"}
        assert not failed, failed
        runtimes = {
            dict(labels)["model"]: dict(labels)["runtime"]
            for labels in metric_samples(client, "nervosum_build_info")
        }

        def check(entry: Entry) -> None:
            assert_runtime(entry, mode, runtimes[entry.name])
            route = f"/models/{entry.name}/predict"
            many = client.post(route, json=entry.rows)
            assert many.status_code == 200, many.text
            assert_answers(entry, many.json(), f"HTTP, {mode}, all rows")
            one = client.post(route, json=entry.rows[-1])
            assert one.status_code == 200, one.text
            last = Entry(**{**entry.__dict__, "rows": entry.rows[-1:], "expected": last_of(entry)})
            assert_answers(last, [one.json()], f"HTTP, {mode}, one row")

        every([(entry.name, partial(check, entry)) for entry in corpus])


def last_of(entry: Entry) -> Expected:
    expected = entry.expected
    return Expected(
        classes=expected.classes and expected.classes[-1:],
        probabilities=expected.probabilities and expected.probabilities[-1:],
        values=expected.values and expected.values[-1:],
    )


# Batch: the CLI in this process, one run per model and mode ----------------------------------


@pytest.mark.parametrize("mode", MODES)
def test_batch_answers_like_the_original(
    mode: str,
    corpus: list[Entry],
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    conformance_env: dict[str, str],
) -> None:
    monkeypatch.setenv("NERVOSUM_HOME", conformance_env["NERVOSUM_HOME"])
    monkeypatch.setenv("NERVOSUM_CACHE", conformance_env["NERVOSUM_CACHE"])

    def check(entry: Entry) -> None:
        rows = tmp_path / f"{entry.name}.csv"
        pd.DataFrame(entry.rows).to_csv(rows, index=False)
        out = tmp_path / f"{entry.name}.parquet"
        args = ["batch", str(entry.path), "-i", str(rows), "-o", str(out), "--workers", "1"]
        result = CliRunner().invoke(main, [*args, "--proba", "--quiet", *FLAGS[mode]])
        assert result.exit_code == 0, (result.output, repr(result.exception))
        assert_answers(entry, batch_answers(pd.read_parquet(out)), f"batch, {mode}")

    every([(entry.name, partial(check, entry)) for entry in corpus])


def batch_answers(frame: pd.DataFrame) -> list[dict[str, Any]]:
    """The output file's rows as records like the HTTP answers."""
    columns = [c for c in frame.columns if c.startswith("probability_")]
    answers: list[dict[str, Any]] = []
    for row in frame.to_dict(orient="records"):
        answer: dict[str, Any] = {"prediction": row["prediction"]}
        if columns:
            answer["probabilities"] = {c.removeprefix("probability_"): row[c] for c in columns}
        answers.append(answer)
    return answers


# Streams: Redis, one worker per model, one model per format ----------------------------------


@pytest.fixture(scope="module")
def redis() -> Iterator[Broker]:
    with running("redis") as broker:
        yield broker


def stream_worker(
    path: Path, broker: Broker, tag: str, env: dict[str, str], *flags: str
) -> AbstractContextManager[LiveServer]:
    """A `nervosum stream PATH` worker from ``in-TAG`` to ``out-TAG``, its side port free."""
    port = free_port()
    return spawned_nervosum(
        "stream", str(path),
        "--source", broker.url(f"in-{tag}"), "--sink", broker.url(f"out-{tag}"),
        "--dead-letter", broker.url(f"dlq-{tag}"),
        "--port", str(port), "--max-wait-ms", "20", "--batch-size", "8", "--proba", *flags,
        env=env, port=port,
    )  # fmt: skip


@pytest.mark.parametrize("mode", MODES)
def test_streams_answer_like_the_original(
    mode: str, corpus: list[Entry], redis: Broker, conformance_env: dict[str, str]
) -> None:
    entries = [by_name(corpus, name) for name in STREAMED]
    tags = {entry.name: f"{entry.name}-{uuid.uuid4().hex[:6]}" for entry in entries}
    env = {**conformance_env, "PYTHONUNBUFFERED": "1"}
    with ExitStack() as stack:
        workers = [
            stack.enter_context(stream_worker(e.path, redis, tags[e.name], env, *FLAGS[mode]))
            for e in entries
        ]  # started together: their imports overlap
        for worker in workers:
            wait_ready(worker, timeout=120)
        for entry in entries:
            keys = [f"r{i}".encode() for i in range(len(entry.rows))]
            messages = [
                (k, json.dumps(row).encode()) for k, row in zip(keys, entry.rows, strict=True)
            ]
            redis.put(f"in-{tags[entry.name]}", messages)
        for entry in entries:
            out = dict(redis.take_until(f"out-{tags[entry.name]}", len(entry.rows)))
            assert redis.take(f"dlq-{tags[entry.name]}") == [], entry.name
            answers = [json.loads(out[f"r{i}".encode()]) for i in range(len(entry.rows))]
            assert_answers(entry, answers, f"stream, {mode}")


# The fallback: a conversion that disagrees ----------------------------------------------------


@pytest.fixture(scope="module")
def split_booster(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A LightGBM split at 0.10000000005 (float64), and reference rows on either side of
    it: float32 holds neither, so the converted model sends both rows left and the
    original sends 0.1000000001 right."""
    import lightgbm

    folder = tmp_path_factory.mktemp("split-booster")
    rows = [0.1, 0.1000000001]
    params = {"objective": "binary", "verbose": -1, "min_data_in_leaf": 1, "min_data_in_bin": 1}
    data = lightgbm.Dataset(np.array([[x] for x in rows for _ in range(20)]), [0] * 20 + [1] * 20)
    lightgbm.train(params, data, 2).save_model(folder / "model.txt")
    (folder / "reference.csv").write_text(f"f0\n{rows[0]!r}\n{rows[1]!r}\n", encoding="utf-8")
    (folder / "nervosum.yaml").write_text(
        "name: split\n"
        "model: {artifact: model.txt, compile: {reference: reference.csv}}\n"
        "input_schema: [{name: f0, type: float}]\n",
        encoding="utf-8",
    )
    return folder


def test_a_conversion_that_disagrees_serves_the_original_and_says_why(
    split_booster: Path, conformance_env: dict[str, str]
) -> None:
    port = free_port()
    with spawned_server(
        split_booster, "--port", str(port), env=conformance_env, port=port
    ) as server:
        wait_ready(server)
        with server.client() as client:
            info = client.get("/info").json()
            right = client.post("/predict", json={"f0": 0.1000000001})
            left = client.post("/predict", json={"f0": 0.1})
    assert info["runtime"].startswith("lightgbm ")
    assert info["compile"]["runtime"] == info["runtime"]
    assert info["compile"]["reason"] == (
        "class differs on reference row 1 ({'f0': 0.1000000001}): 1 vs 0"
    )
    assert info["compile"]["check"]["classes_equal"] is False
    assert (right.json()["prediction"], left.json()["prediction"]) == (1, 0)


def test_compile_onnx_refuses_a_conversion_that_disagrees(
    split_booster: Path, conformance_env: dict[str, str]
) -> None:
    result = subprocess.run(
        [sys.executable, "-m", "nervosum", "check", str(split_booster), "--compile"],
        env=conformance_env, capture_output=True, text=True, timeout=120, check=False,
    )  # fmt: skip
    assert result.returncode == 2, result.stdout + result.stderr
    lines = [line for line in result.stderr.splitlines() if "class differs" in line]
    assert len(lines) == 1, result.stderr
    assert "reference row 1 ({'f0': 0.1000000001}): 1 vs 0" in lines[0]
