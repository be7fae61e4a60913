"""A bundle of a model file carries the library that reads it and, when it compiles, ONNX
Runtime; an MLflow folder's requirements.txt is its list when nervosum.yaml names none."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from nervosum.build.model_needs import model_requirements, model_requirements_file
from nervosum.config import NervosumConfig, Project


def project(folder: Path, model: dict[str, Any]) -> Project:
    config = NervosumConfig.model_validate({"name": "m", "model": model})
    return Project(config, folder, folder / "nervosum.yaml")


def names(found: list[Any]) -> list[str]:
    return [str(requirement.name) for requirement in found]


def test_an_xgboost_file_brings_the_installed_xgboost_its_converter_and_onnx_runtime(
    tmp_path: Path,
) -> None:
    (tmp_path / "model.json").write_text('{"learner": {}}')
    needed = names(model_requirements(project(tmp_path, {"artifact": "model.json"})))
    # Whichever distribution provides the xgboost module here (xgboost or xgboost-cpu).
    assert needed[0].startswith("xgboost")
    assert needed[1:] == ["onnxmltools", "onnxruntime", "skl2onnx"]


def test_compile_off_leaves_onnx_runtime_out_but_an_onnx_file_needs_it(tmp_path: Path) -> None:
    (tmp_path / "model.joblib").write_bytes(b"\x80\x04.")
    off = {"artifact": "model.joblib", "compile": "off"}
    assert names(model_requirements(project(tmp_path, off))) == ["scikit-learn", "joblib"]
    (tmp_path / "model.onnx").write_bytes(b"")
    onnx = {"artifact": "model.onnx", "compile": "off"}
    assert names(model_requirements(project(tmp_path, onnx))) == ["onnxruntime", "skl2onnx"]


def test_a_model_class_needs_nothing_more(tmp_path: Path) -> None:
    assert model_requirements(project(tmp_path, {"module": "model", "class": "M"})) == []


def test_an_mlflow_folder_lists_its_own_requirements(tmp_path: Path) -> None:
    folder = tmp_path / "flow"
    folder.mkdir()
    (folder / "MLmodel").write_text("flavors: {}\n")
    assert model_requirements_file(project(tmp_path, {"artifact": "flow/MLmodel"})) is None
    (folder / "requirements.txt").write_text("mlflow==3.1\nscikit-learn==1.5\n")
    for artifact in ("flow/MLmodel", "flow"):
        found = model_requirements_file(project(tmp_path, {"artifact": artifact}))
        assert found == folder / "requirements.txt"


def test_a_model_file_named_as_the_path_is_bundled_alone(tmp_path: Path) -> None:
    import joblib
    from sklearn.linear_model import LinearRegression

    from nervosum.build.ignore import IgnoreRules, bundle_sources
    from nervosum.project import load_config

    joblib.dump(LinearRegression().fit([[0.0], [1.0]], [0.0, 1.0]), tmp_path / "m.joblib")
    (tmp_path / "holiday.mov").write_bytes(b"not part of the model")
    rules = IgnoreRules.for_project(tmp_path, [])
    alone = load_config(tmp_path / "m.joblib")
    assert bundle_sources(alone, rules) == [Path("m.joblib")]


def test_the_bundle_carries_nervosum_with_the_extras_its_server_needs(tmp_path: Path) -> None:
    """A stream worker's broker clients, a server's grpcio when it serves gRPC."""
    from nervosum.build.bundle import _roots
    from nervosum.requirements import RequirementsFile

    def own(config: dict[str, Any]) -> str:
        model = {"module": "m", "function": "f"}
        validated = NervosumConfig.model_validate({"name": "m", "model": model, **config})
        roots = _roots(Project(validated, tmp_path, tmp_path / "nervosum.yaml"), RequirementsFile())
        return str(roots[0]).split("==")[0]

    assert own({}) == "nervosum"
    assert own({"server": {"grpc_port": 8081}}) == "nervosum[grpc]"
    assert own({"deployment": {"mode": "stream"}}) == "nervosum[stream]"
