"""nervosum train rewrites only its marked block of nervosum.yaml; the rest stays the user's."""

from __future__ import annotations

from pathlib import Path

import pytest

from nervosum.errors import RequestError
from nervosum.project import load_config
from nervosum.training import load_features
from nervosum.training.configblock import (
    artifact_path,
    check_artifact_inside,
    check_block,
    write_block,
)

FEATURES = """\
task: classification
target: species
id_field: ID
features:
  - {name: petal_length, type: float, min: 0, description: In cm.}
  - {name: colour, type: str, choices: [red, blue]}
"""

CONFIG = """\
# my own comment, kept
name: flowers   # inline comment, kept
tag: v2
src: .
# >>> nervosum train
model: {artifact: old/place.joblib}
input_schema: [{name: stale, type: int}]
# <<< nervosum train
server: {port: 8088}
"""


@pytest.fixture
def project(tmp_path: Path) -> Path:
    (tmp_path / "features.yaml").write_text(FEATURES, encoding="utf-8")
    (tmp_path / "nervosum.yaml").write_text(CONFIG, encoding="utf-8")
    return tmp_path


def test_the_block_gets_the_features_and_the_rest_is_kept(project: Path) -> None:
    config = project / "nervosum.yaml"
    artifact = project / "model_bin" / "model.joblib"
    write_block(config, load_features(project), artifact, "str")
    text = config.read_text(encoding="utf-8")
    assert text.startswith(CONFIG[: CONFIG.index("# >>>")])
    assert text.endswith(CONFIG[CONFIG.index("# <<<") :])
    artifact.parent.mkdir()
    artifact.touch()
    served = load_config(project).config
    assert served.model is not None and served.model.artifact == "model_bin/model.joblib"
    assert served.id_field == "ID"
    assert [(f.name, f.type) for f in served.input_schema] == [
        ("petal_length", "float"),
        ("colour", "str"),
    ]
    assert served.input_schema[0].min == 0 and served.input_schema[0].description == "In cm."
    assert served.input_schema[1].choices == ("red", "blue")
    assert [(f.name, f.type) for f in served.output_schema] == [("species", "str")]
    assert served.server.port == 8088


def test_writing_twice_gives_the_same_file(project: Path) -> None:
    config = project / "nervosum.yaml"
    features = load_features(project)
    write_block(config, features, project / "m.joblib", "int")
    once = config.read_text(encoding="utf-8")
    write_block(config, features, project / "m.joblib", "int")
    assert config.read_text(encoding="utf-8") == once


def test_without_an_id_field_or_a_type_the_keys_are_left_out(project: Path) -> None:
    (project / "features.yaml").write_text(FEATURES.replace("id_field: ID\n", ""), "utf-8")
    config = project / "nervosum.yaml"
    write_block(config, load_features(project), project / "m.joblib")
    text = config.read_text(encoding="utf-8")
    assert "id_field" not in text and "output_schema" not in text


def test_an_artifact_outside_src_is_written_absolute(project: Path, tmp_path_factory) -> None:
    elsewhere = tmp_path_factory.mktemp("models") / "m.joblib"
    config = project / "nervosum.yaml"
    write_block(config, load_features(project), elsewhere)
    assert f"model: {{artifact: {elsewhere}}}" in config.read_text(encoding="utf-8")


def test_the_default_artifact_is_the_configs_relative_to_src(project: Path) -> None:
    config = project / "nervosum.yaml"
    assert artifact_path(config) == project / "old" / "place.joblib"
    config.write_text(CONFIG.replace("src: .", "src: code"), encoding="utf-8")
    assert artifact_path(config) == project / "code" / "old" / "place.joblib"
    config.write_text(CONFIG.replace("model: {artifact: old/place.joblib}\n", ""), "utf-8")
    assert artifact_path(config) == project / "model_bin" / "model.joblib"


@pytest.mark.parametrize(
    "broken",
    [
        CONFIG.replace("# >>> nervosum train\n", ""),
        CONFIG.replace("# <<< nervosum train\n", ""),
        CONFIG + "# >>> nervosum train\n# <<< nervosum train\n",
        CONFIG.replace("# >>> nervosum train", "#").replace(
            "server:", "# >>> nervosum train\nserver:"
        ),
    ],
)
def test_a_config_without_one_block_is_refused_before_training(project: Path, broken: str) -> None:
    config = project / "nervosum.yaml"
    config.write_text(broken, encoding="utf-8")
    with pytest.raises(RequestError) as caught:
        check_block(config)
    assert "has no block for nervosum train to write" in caught.value.message
    assert caught.value.hint is not None and caught.value.hint.startswith("add the two marker")


def test_a_missing_config_says_how_to_start(tmp_path: Path) -> None:
    with pytest.raises(RequestError) as caught:
        check_block(tmp_path / "nervosum.yaml")
    assert caught.value.hint is not None and "--template training" in caught.value.hint


@pytest.mark.parametrize(
    ("extra", "named"),
    [
        ("id_field: key\n", "id_field (line 10)"),
        ("model:\n  artifact: x.joblib\n", "model (line 10)"),
        (
            "input_schema: []\noutput_schema: []\n",
            "input_schema (line 10), output_schema (line 11)",
        ),
        ("interface: {module: m}\n", "interface (line 10)"),
    ],
)
def test_a_block_key_also_set_outside_the_block_is_refused(
    project: Path, extra: str, named: str
) -> None:
    config = project / "nervosum.yaml"
    config.write_text(CONFIG + extra, encoding="utf-8")
    with pytest.raises(RequestError) as caught:
        check_block(config)
    assert caught.value.message == f"{config} sets {named} outside the block nervosum train writes"
    assert caught.value.hint is not None and "remove" in caught.value.hint


def test_keys_inside_the_block_and_nested_keys_outside_are_fine(project: Path) -> None:
    config = project / "nervosum.yaml"
    config.write_text(CONFIG + "logging:\n  model: kept\n# model: a comment\n", encoding="utf-8")
    check_block(config)


def test_an_artifact_outside_src_is_refused(project: Path, tmp_path_factory) -> None:
    config = project / "nervosum.yaml"
    check_artifact_inside(config, project / "model_bin" / "model.joblib")
    outside = tmp_path_factory.mktemp("elsewhere") / "model.joblib"
    with pytest.raises(RequestError, match="is outside the project's src folder"):
        check_artifact_inside(config, outside)
    with pytest.raises(RequestError, match="is outside the project's src folder"):
        check_artifact_inside(config, project / ".." / "model.joblib")
