"""Where a challenger comes from: a path when one exists, else a bundle of the registry
(``churn:v2``, ``churn`` for the newest), else a one-line config error with a hint."""

from __future__ import annotations

import json
import textwrap
from pathlib import Path

import pytest

from nervosum.cli.variants import with_variants
from nervosum.config.variants import VariantsSpec
from nervosum.errors import ConfigError
from nervosum.home import Home
from nervosum.project import load_config
from nervosum.registry.store import Entry, Registry
from nervosum.serving.challenger import challenger_project, challenger_source, looks_like_reference

CONFIG = """
name: churn
tag: {tag}
model: {{module: model, class: Model}}
input_schema: [{{name: x, type: float}}]
output_schema: {{name: label, type: str}}
logging: {{sinks: [{{type: jsonl, path: predictions.jsonl}}]}}
"""
MODEL = "class Model:\n    def predict(self, frame):\n        return ['yes'] * len(frame)\n"


def write_project(folder: Path, tag: str, config: str = "nervosum.yaml") -> Path:
    folder.mkdir(parents=True)
    (folder / config).write_text(textwrap.dedent(CONFIG.format(tag=tag)).lstrip())
    (folder / "model.py").write_text(MODEL)
    return folder


def add_bundle(
    registry: Registry, tag: str, created: float, config: str = "nervosum.yaml"
) -> Entry:
    """A bundle as `nervosum build` lays it out: the project under app/, a manifest."""
    bundle_id = f"{tag.encode().hex():0<64}"
    path = registry.home.bundles / bundle_id
    write_project(path / "app", tag, config)
    manifest = {"name": "churn", "tag": tag, "config": config}
    (path / "manifest.json").write_text(json.dumps(manifest))
    entry = Entry(bundle_id, "churn", tag, "http", created, path, None, None, manifest)
    registry.add(entry)
    return entry


@pytest.fixture
def registry(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Registry:
    """churn:v2 and, newer, churn:v3 (built from other.yaml) in a registry of their own."""
    monkeypatch.setenv("NERVOSUM_HOME", str(tmp_path / "home"))
    monkeypatch.delenv("NERVOSUM_CACHE", raising=False)
    registry = Registry(Home.from_env())
    add_bundle(registry, "v2", 100.0)
    add_bundle(registry, "v3", 200.0, config="other.yaml")
    return registry


def issue_of(error: pytest.ExceptionInfo[ConfigError]) -> str:
    (issue,) = error.value.issues
    assert issue.path == "variants.challenger"
    assert error.value.exit_code == 2 and "\n" not in str(error.value)
    return str(error.value)


def test_a_reference_loads_the_bundles_project(registry: Registry, tmp_path: Path) -> None:
    assert load_config(challenger_source("churn:v2", tmp_path, "x")).config.tag == "v2"
    newest = challenger_source("churn", tmp_path, "x")  # a name alone: its newest bundle
    assert newest.name == "other.yaml" and load_config(newest).config.tag == "v3"
    (v2,) = [entry for entry in registry.entries() if entry.tag == "v2"]
    assert load_config(challenger_source(v2.short_id, tmp_path, "x")).config.tag == "v2"


def test_an_existing_path_wins_over_a_bundle_of_that_name(
    registry: Registry, tmp_path: Path
) -> None:
    write_project(tmp_path / "champion" / "churn", "local")
    found = challenger_source("churn", tmp_path / "champion", "x")
    assert found == tmp_path / "champion" / "churn"


def test_an_unknown_reference_is_the_registrys_error_with_close_matches(
    registry: Registry, tmp_path: Path
) -> None:
    with pytest.raises(ConfigError) as tag:
        challenger_source("churn:v9", tmp_path, "v1/nervosum.yaml")
    assert issue_of(tag) == (
        f"v1/nervosum.yaml: variants.challenger: 'churn:v9' is not in the registry at"
        f" {registry.home.root}: no bundle matches name=churn tag=v9 (tags: v2, v3)"
    )
    with pytest.raises(ConfigError) as name:
        challenger_source("chrun", tmp_path, "v1/nervosum.yaml")
    said = issue_of(name)
    assert f"{tmp_path / 'chrun'} does not exist, nor is 'chrun' in the registry" in said
    assert said.endswith("no bundle matches name=chrun (names: churn)")


def test_a_missing_path_is_said_as_such_without_opening_the_registry(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("NERVOSUM_HOME", str(tmp_path / "home"))
    with pytest.raises(ConfigError) as missing:
        challenger_source("../v4", tmp_path / "v1", "v1/nervosum.yaml")
    assert issue_of(missing) == (
        f"v1/nervosum.yaml: variants.challenger: {tmp_path / 'v1' / '../v4'} does not exist"
        f" (a project folder or model file relative to {tmp_path / 'v1'}, or a bundle:"
        " NAME:TAG)"
    )
    assert not (tmp_path / "home").exists()


@pytest.mark.parametrize(
    ("value", "reference"),
    [
        ("churn", True),
        ("churn:v4", True),
        ("churn:v0.0.1", True),
        ("3fa9c1", True),
        ("../churn-v4", False),
        ("models/v4/model.pkl", False),
        ("/srv/churn", False),
        ("churn:", False),
        (":v4", False),
        ("churn:v4:x", False),
    ],
)
def test_what_looks_like_a_reference(value: str, reference: bool) -> None:
    assert looks_like_reference(value) is reference


def test_the_yaml_blocks_reference_loads_without_its_own_logging(
    registry: Registry, tmp_path: Path
) -> None:
    champion = load_config(write_project(tmp_path / "v1", "v1"))
    challenger = challenger_project(champion, VariantsSpec(challenger="churn:v2"))
    assert challenger.config.tag == "v2" and challenger.config.logging is None


def test_the_flag_is_a_path_from_where_the_command_runs_or_a_bundle(
    registry: Registry, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    champion = load_config(write_project(tmp_path / "v1", "v1"))
    write_project(tmp_path / "v4", "v4")
    monkeypatch.chdir(tmp_path)
    by_path = with_variants(champion, "v4", shadow=True, canary=None).config.variants
    assert by_path is not None and by_path.challenger == str(tmp_path / "v4")
    by_reference = with_variants(champion, "churn:v2", shadow=False, canary=0.1).config.variants
    (v2,) = [entry for entry in registry.entries() if entry.tag == "v2"]
    assert by_reference is not None and by_reference.challenger == str(v2.path)
    assert by_reference.mode == "canary"
