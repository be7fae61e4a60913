"""features.yaml: what a training project declares, and every problem reported with its line."""

from __future__ import annotations

import textwrap
from pathlib import Path

import pytest

from nervosum.errors import ConfigError
from nervosum.training import load_features

VALID = """\
task: classification
target: species
id_field: ID
features:
  - {name: petal_length, type: float64, min: 0}
  - {name: colour, type: category}
"""


def write(tmp_path: Path, text: str) -> Path:
    (tmp_path / "features.yaml").write_text(textwrap.dedent(text), encoding="utf-8")
    return tmp_path


def problems(tmp_path: Path, text: str) -> list[str]:
    with pytest.raises(ConfigError) as caught:
        load_features(write(tmp_path, text))
    return [issue.render("features.yaml") for issue in caught.value.issues]


def test_a_valid_file_gives_typed_features_in_order(tmp_path: Path) -> None:
    spec = load_features(write(tmp_path, VALID))
    assert spec.task == "classification" and spec.is_classification
    assert spec.target == "species"
    assert spec.id_field == "ID"
    assert spec.names == ["petal_length", "colour"]
    assert [f.type for f in spec.features] == ["float", "str"]  # numpy / pandas spellings
    assert spec.features[0].min == 0


def test_an_empty_id_field_means_none(tmp_path: Path) -> None:
    spec = load_features(write(tmp_path, VALID.replace("id_field: ID", 'id_field: ""')))
    assert spec.id_field is None


def test_every_problem_is_reported_with_its_line(tmp_path: Path) -> None:
    text = """\
    task: clasification
    target: species
    feature:
      - {name: a, type: flot}
    """
    found = problems(tmp_path, text)
    assert "features.yaml:1: task: Input should be 'classification' or 'regression'" in found
    assert "features.yaml:3: feature: unknown key (did you mean 'features'?)" in found
    assert "features.yaml:1: features: required field is missing" in found


def test_a_bad_feature_type_names_its_line_and_a_suggestion(tmp_path: Path) -> None:
    found = problems(tmp_path, VALID.replace("category", "flot"))
    assert len(found) == 1
    assert found[0].startswith("features.yaml:6: features.1.type: unknown type 'flot'")
    assert "did you mean 'float'?" in found[0]


@pytest.mark.parametrize(
    ("change", "message"),
    [
        (("colour", "species"), "target 'species' must not also be a feature"),
        (("id_field: ID", "id_field: colour"), "id_field 'colour' must not be a feature"),
        (("id_field: ID", "id_field: species"), "id_field 'species' must not be a feature"),
        (("colour", "petal_length"), "feature 'petal_length' is listed twice"),
    ],
)
def test_roles_must_stay_apart(tmp_path: Path, change: tuple[str, str], message: str) -> None:
    (found,) = problems(tmp_path, VALID.replace(*change))
    assert message in found


def test_no_features_is_an_error(tmp_path: Path) -> None:
    (found,) = problems(tmp_path, "task: regression\ntarget: y\nfeatures: []\n")
    assert found == "features.yaml:3: features: list at least one feature: the model's inputs"


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("- task\n", "features.yaml:1: the file must be a mapping"),
        ("", "features.yaml:1: the file must be a mapping"),
        ("task: [\n", "features.yaml:2: not valid YAML"),
        (VALID + "target: again\n", "features.yaml:7: target: key appears twice"),
    ],
)
def test_unreadable_files_are_one_located_problem(tmp_path: Path, text: str, message: str) -> None:
    (found,) = problems(tmp_path, text)
    assert found.startswith(message), found


def test_a_missing_file_says_how_to_get_one(tmp_path: Path) -> None:
    with pytest.raises(ConfigError) as caught:
        load_features(tmp_path)
    (issue,) = caught.value.issues
    assert issue.message == "features file not found"
    assert issue.hint is not None and "--template training" in issue.hint
