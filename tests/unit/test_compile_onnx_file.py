"""ONNX files served as they are: features from the graph's inputs, classes from its
classifier node, both classifier output styles; and the intra-op threads rule."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from nervosum.errors import ModelDefinitionError
from nervosum.model.compile import onnx_threads, read_onnx_file
from tests.unit.test_compile import iris


def skl2onnx_file(
    model: object, types: list[tuple[str, object]], path: Path, **options: object
) -> Path:
    from skl2onnx import convert_sklearn

    path.write_bytes(
        convert_sklearn(
            model, initial_types=types, options={id(model): options}
        ).SerializeToString()
    )
    return path


@pytest.mark.parametrize("zipmap", [True, False])
def test_a_forest_file_in_either_output_style(zipmap: bool, tmp_path: Path) -> None:
    from skl2onnx.common.data_types import FloatTensorType
    from sklearn.ensemble import RandomForestClassifier

    frame, target = iris()
    names = np.array(["setosa", "versicolor", "virginica"])[target]
    forest = RandomForestClassifier(n_estimators=5, random_state=0).fit(frame.to_numpy(), names)
    path = skl2onnx_file(
        forest, [("input", FloatTensorType([None, 4]))], tmp_path / "f.onnx", zipmap=zipmap
    )
    model_file = read_onnx_file(path, threads=1)
    assert (model_file.format, model_file.named) == ("onnx", False)
    assert [(f.name, f.type) for f in model_file.features or ()] == [
        (f"f{i}", "float") for i in range(4)
    ]
    assert model_file.classes == ("setosa", "versicolor", "virginica")
    assert "f0..f3" in model_file.notes[0]
    runner = model_file.runner
    assert (runner.takes, runner.dtype) == ("array", np.float32)
    labels, probabilities = runner.run(frame.to_numpy(np.float32), True)
    assert labels.tolist() == forest.predict(frame.to_numpy()).tolist()
    assert probabilities is not None and probabilities.shape == (150, 3)
    assert np.abs(probabilities - forest.predict_proba(frame.to_numpy())).max() < 1e-5
    assert runner.run(frame.to_numpy(np.float32)[:2], False)[1] is None


def test_a_per_column_file_names_its_features(tmp_path: Path) -> None:
    from skl2onnx.common.data_types import DoubleTensorType, Int64TensorType, StringTensorType
    from sklearn.compose import ColumnTransformer
    from sklearn.linear_model import LinearRegression
    from sklearn.pipeline import Pipeline
    from sklearn.preprocessing import OneHotEncoder

    frame = pd.DataFrame(
        {"size": [1.0, 2.0, 3.0, 4.0], "rooms": [1, 2, 2, 3], "town": ["a", "b", "a", "b"]}
    )
    columns = ColumnTransformer([("cat", OneHotEncoder(), ["town"])], remainder="passthrough")
    model = Pipeline([("columns", columns), ("linear", LinearRegression())]).fit(
        frame, [10.0, 21.0, 29.0, 42.0]
    )
    types = [
        ("size", DoubleTensorType([None, 1])),
        ("rooms", Int64TensorType([None, 1])),
        ("town", StringTensorType([None, 1])),
    ]
    model_file = read_onnx_file(skl2onnx_file(model, types, tmp_path / "p.onnx"))
    assert [(f.name, f.type) for f in model_file.features or ()] == [
        ("size", "float"),
        ("rooms", "int"),
        ("town", "str"),
    ]
    assert (model_file.named, model_file.classes, model_file.notes) == (True, None, ())
    runner = model_file.runner
    assert runner.takes == "frame" and runner.classes is None
    values, probabilities = runner.run(frame, True)
    assert probabilities is None and values.shape == (4,)
    np.testing.assert_allclose(values, model.predict(frame), rtol=1e-6)


def test_a_file_onnx_cannot_read_is_one_error_naming_it(tmp_path: Path) -> None:
    path = tmp_path / "broken.onnx"
    path.write_bytes(b"\x08\x07not a graph")
    with pytest.raises(
        ModelDefinitionError, match=r"broken\.onnx: not readable as an ONNX model: "
    ) as caught:
        read_onnx_file(path)
    assert caught.value.exit_code == 2 and "\n" not in str(caught.value)


@pytest.mark.parametrize(
    ("workers", "cores", "threads"),
    [(1, 2, 2), (2, 2, 1), (3, 2, 1), (2, 8, 4), (3, 8, 2), (0, 4, 4), (1, 1, 1)],
)
def test_the_cores_are_shared_out_over_the_workers(workers: int, cores: int, threads: int) -> None:
    assert onnx_threads(workers, cores) == threads


def test_the_cores_default_to_this_process_cpu_set() -> None:
    import os

    assert onnx_threads(1) == len(os.sched_getaffinity(0))


@pytest.mark.parametrize(
    ("processes", "cores", "threads"),
    [(1, 2, 1), (2, 2, 1), (1, 4, 3), (2, 8, 3), (4, 8, 1), (8, 2, 1)],
)
def test_a_server_keeps_a_core_per_process_for_its_event_loop(
    processes: int, cores: int, threads: int
) -> None:
    from nervosum.model.compile import serving_threads

    assert serving_threads(processes, cores) == threads


def test_the_environment_sets_the_threads_outright(monkeypatch: pytest.MonkeyPatch) -> None:
    from nervosum.model.compile import serving_threads

    monkeypatch.setenv("NERVOSUM_ONNX_THREADS", "3")
    assert onnx_threads(4, 2) == serving_threads(1, 2) == 3
